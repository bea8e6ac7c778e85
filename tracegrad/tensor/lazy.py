"""The lazy tensor graph: recorded operations (``_Op``), applied ``Node``s, the program caches and
evaluation. Invariant: programs are cached by the DAG's structure, never by values, and leaves
change only after ``_before_mutation`` has computed every lazy tensor the user still holds."""
from __future__ import annotations

import functools
import itertools
import math
from weakref import ref as _weakref

import numpy as np

from .. import dtypes
from ..errors import TracegradError, UnsupportedOperationError
from ..identity import value_key
from ..ir import AVal
from ..pytree import tree_flatten, tree_unflatten
from ..tracer import TraceContext, Tracer
from .grad_mode import _GRAD_ENABLED
from .pending import IdWeakSet, PendingList  # noqa: F401  (IdWeakSet: this package's interface)
from .tape import TAPE
from .walk import _freed_error, _Walk  # noqa: F401  (_freed_error: this package's interface)

# --- global state ----------------------------------------------------------------------------
_CAPTURE: list = []             # the active tg.compile capture (compile_step.Capture), if any
_PENDING = PendingList()        # lazy tensors the user still holds (values not computed yet)
_WRITES: dict = {}              # id(leaf) -> (leaf, lazy value): deferred in-place writes
_serial = itertools.count(1)    # creation order of leaves (a capture knows what it created)
_MAX_LAZY_DEPTH = 256           # longer unevaluated chains are computed eagerly (bounded programs)
_STATE_VERSION = [0]            # bumped by train()/eval(), requires_grad_ ...: tg.compile guards


def bump_state_version() -> None:
    """Something a compiled step may have baked in changed (module mode, requires_grad)."""
    _STATE_VERSION[0] += 1


def _capture():
    return _CAPTURE[-1] if _CAPTURE else None


# --- recorded operations -----------------------------------------------------------------------
class _Op:
    """One traced operation: a graph for one function and argument signature, plus its compiled
    executable (built on first eager run). ``id`` is a small int used in structural keys."""

    __slots__ = ("_exe", "float_out", "graph", "id", "name", "out_avals", "out_tree", "single")
    _ids = itertools.count()

    def __init__(self, graph, out_tree, name):
        self.graph = graph
        self.out_tree = out_tree
        self.out_avals = [a.aval for a in graph.outputs]
        # one array out (apply_op's inlined case), and whether it can carry a gradient
        self.single = out_tree is None and len(self.out_avals) == 1
        self.float_out = self.single and dtypes.is_float(self.out_avals[0].dtype)
        self.id = next(_Op._ids)
        self.name = name
        self._exe = None

    def run(self, args):
        # the program computes values: nodes taped so far may be among them (tape.py)
        TAPE.reset()
        if self._exe is None:
            self._exe = _compile_graph(self.graph, self.name)
        return self._exe(*args)


_OP_CACHE: dict = {}       # (function key, arg tree, leaf specs) -> _Op
_FAST_OPS: dict = {}       # apply_op's flat signature (fn, shape, dtype | type, value, ...) -> _Op
_PROGRAMS: dict = {}       # structural DAG key -> _Op (forward, backward or flush program)


def _compile_graph(graph, name):
    from ..api import compile_traced
    from ..staging import Traced
    _, in_tree = tree_flatten([0] * len(graph.inputs))
    _, out_tree = tree_flatten([0] * len(graph.outputs))
    lowered = compile_traced(Traced(graph, [], out_tree, in_tree), backend="auto", name=name)
    return lowered.executable


_node_serial = itertools.count()  # Node.serial: creation order (walk.py sorts by it)
_new_node = object.__new__  # (bound once: Node and Tensor define no __new__)


class Node:
    """An applied ``_Op``: inputs are refs (a leaf ``Tensor`` or a ``(Node, output index)``)."""

    __slots__ = ("__weakref__", "depth", "freed", "inputs", "op", "requires_grad", "serial",
                 "tpos", "values")

    def __init__(self, op, inputs, requires_grad, depth):
        self.serial = next(_node_serial)  # creation order: a topological order of the DAG
        self.op = op
        self.inputs = inputs
        self.values = [None] * len(op.out_avals)
        self.requires_grad = requires_grad
        self.freed = False
        self.depth = depth
        self.tpos = -1  # position on the tape (tape.py), if recorded there


def _skey(x):
    """A hashable, type-exact key for a static (non-array) operation argument."""
    t = type(x)
    if t is float:
        return (float, x) if x != 0.0 and not math.isnan(x) else (float, repr(x))  # nan, -0.0
    if t is int or t is bool:
        return (t, x)
    if t is slice:
        return (slice, _skey(x.start), _skey(x.stop), _skey(x.step))
    if x is None or x is Ellipsis or t is str:
        return x
    # tuples (of floats: -0.0, nan), NumPy scalars...: keyed by type and bits, see identity.py;
    # raises TypeError for an unhashable static argument: the op is not cached
    return value_key(x)


def _leaf_for_array(x) -> Tensor:
    """A NumPy operand becomes a constant leaf. It is copied when writable, because the value
    is read when the lazy program runs, and the caller may reuse its buffer before then."""
    arr = np.asarray(x)
    if arr.dtype not in dtypes.SHORT_NAMES:
        arr = arr.astype(dtypes.canonical(arr.dtype, what="array operand"))
    elif arr.flags.writeable:
        arr = arr.copy()
    return Tensor._leaf(arr, False)


def apply_op(fn, args, kwargs=None, key=None, name=None):
    """Record ``fn(*args, **kwargs)`` (written on tracegrad.numpy) as one lazy tensor operation
    and return its result: a ``Tensor``, or the pytree of tensors ``fn`` returns.

    Tensor and array leaves of the arguments become inputs; every other leaf is a static part
    of the operation, traced once per distinct signature and cached under ``key`` (default
    ``fn`` itself, so ``fn`` must be a stable module-level function, or pass a stable ``key``).
    ``name`` names the operation in ``grad_fn`` and in generated code. This is how the tensor
    front (methods, ``nn.functional``, optimizers, custom functions) adds operations.
    """
    fkey = None
    if not kwargs and not _CAPTURE:
        # the fast path of every operator: tensors and Python scalars, keyed without a pytree
        # walk; its own cache maps that key to the operation the general path traced
        refs = []
        sig = [key or fn]
        requires = False
        depth = 0
        # the node's tape code (tape.Tape.record, inlined for inputs the tape has seen; None
        # leaves it to record()); code[0] becomes the op's id
        tape = TAPE
        code = [0] if tape.ok else None
        for x in args:
            if isinstance(x, Tensor):
                node = x._node
                if node is None and _WRITES and id(x) in _WRITES:
                    x = _WRITES[id(x)][1]  # a leaf written in place: its new (lazy) value
                    node = x._node
                if node is None:
                    v = x._value
                    refs.append(x)
                    sig.append(v.shape)
                    sig.append(v.dtype)
                    if code is not None:
                        c = tape.in_pos.get(id(x))
                        if c is None:
                            code = None
                        else:
                            code.append(c)
                else:
                    j = x._index
                    refs.append((node, j))
                    av = node.op.out_avals[j]
                    sig.append(av.shape)
                    sig.append(av.dtype)
                    if node.values[j] is None:
                        if node.depth > depth:
                            depth = node.depth
                        if code is not None:
                            c = node.tpos - tape.base
                            if c < 0:
                                code = None
                            else:
                                code.append(-1 - (c * 1024 + j))
                    elif code is not None:
                        c = tape.in_pos.get((id(node), j))
                        if c is None:
                            code = None
                        else:
                            code.append(c)
                if x._rg:
                    requires = True
                continue
            t = type(x)
            if t is float:  # as _skey: -0.0 and nan are keyed by their text
                sig.append(float)
                sig.append(x if x != 0.0 and x == x else repr(x))  # noqa: PLR0124
            elif t is int or t is bool:
                sig.append(t)
                sig.append(x)
            elif x is None:
                sig.append(None)
                sig.append(None)
            else:
                break
        else:
            fkey = tuple(sig)
            op = _FAST_OPS.get(fkey)
            if op is not None:
                depth += 1
                if op.single and depth <= _MAX_LAZY_DEPTH:  # _apply, inlined: one output
                    # Node(op, refs, False, depth), inlined: type.__call__ into __init__
                    # cost ~0.25 us of an operation's ~1.3 (test_tensor_tape checks the two
                    # set the same slots)
                    node = _new_node(Node)
                    node.serial = next(_node_serial)
                    node.op = op
                    node.inputs = tuple(refs)
                    node.values = [None]
                    node.requires_grad = node.freed = False
                    node.depth = depth
                    node.tpos = -1
                    if code is not None:  # tape.push, inlined
                        code[0] = op.id
                        tnodes = tape.nodes
                        node.tpos = tape.base + len(tnodes)
                        tnodes.append(node)
                        tape.codes.append(tuple(code))
                        if len(tnodes) > tape.limit:
                            tape.breaks()
                    elif tape.ok:
                        tape.record(node)
                    t = _new_node(Tensor)  # (object.__new__: Tensor defines no __new__)
                    t._value = None
                    t._node = node
                    t._index = 0
                    t._rg = node.requires_grad = requires and op.float_out and \
                        _GRAD_ENABLED[0]
                    t._grad = None
                    t._grad_of = None
                    t._serial = 0
                    pend = _PENDING._refs
                    pend.append(_weakref(t))
                    if len(pend) > _PENDING._limit:
                        _PENDING._compact()
                    return t
                return _apply(op, tuple(refs), requires and _GRAD_ENABLED[0], depth, None)
    if kwargs or not all(type(a) in _FLAT_TYPES or isinstance(a, Tensor) for a in args):
        leaves, tree = tree_flatten((args, kwargs) if kwargs else args)
    else:  # operators: a flat tuple of tensors and numbers (no pytree walk needed)
        leaves, tree = list(args), _flat_tree(len(args))
    cap = _CAPTURE[-1] if _CAPTURE else None
    refs, spec = [], []
    requires = False
    depth = 0
    for i, x in enumerate(leaves):
        if isinstance(x, Tensor):
            if cap is not None:
                x = cap.current(x)
            elif _WRITES and x._node is None and id(x) in _WRITES:
                x = _WRITES[id(x)][1]
            node = x._node
            if node is None:
                v = x._value
                refs.append(x)
                spec.append((v.shape, v.dtype))
            else:
                refs.append((node, x._index))
                av = node.op.out_avals[x._index]
                spec.append((av.shape, av.dtype))
                if node.values[x._index] is None and node.depth > depth:
                    depth = node.depth
            requires = requires or x._rg
        elif isinstance(x, (np.ndarray, np.generic)):
            t = _leaf_for_array(x)
            if cap is not None and t._value is not x and isinstance(x, np.ndarray) and \
                    hasattr(cap, "add_array"):
                cap.add_array(t, x)  # tg.compile reads the caller's array at each replay
            leaves[i] = t
            refs.append(t)
            spec.append((t._value.shape, t._value.dtype))
        else:
            spec.append(None)
    try:
        ckey = (key or fn, tree, tuple(s if s is not None else ("s", _skey(x))
                                       for s, x in zip(spec, leaves)))
        op = _OP_CACHE.get(ckey)
    except TypeError:  # an unhashable static argument: trace this call without caching
        ckey, op = None, None
    if op is None:
        op = _trace_op(fn, leaves, tree, spec, bool(kwargs), name)
        if ckey is not None:
            _remember(_OP_CACHE, ckey, op)
    if fkey is not None:
        _remember(_FAST_OPS, fkey, op)
    return _apply(op, tuple(refs), requires and _GRAD_ENABLED[0], depth + 1, cap)


def _apply(op, refs, requires, depth, cap):
    """A new node applying ``op`` to ``refs``; returns its output tensor(s)."""
    avals = op.out_avals
    if op.out_tree is None and len(avals) == 1:
        node = Node(op, refs, False, depth)
        _tape(node)
        t = _new_lazy(node, 0, requires and avals[0].dtype.kind == "f")
        node.requires_grad = t._rg
        if depth > _MAX_LAZY_DEPTH and cap is None:
            _materialize((t,))  # keep programs bounded for long chains computed step by step
        return t
    outs = _node_outputs(op, refs, requires, depth)
    if depth > _MAX_LAZY_DEPTH and cap is None:
        _materialize(outs)
    if op.out_tree is None:
        return outs[0]
    return tree_unflatten(op.out_tree, outs)


def _tape(node) -> None:
    """Record ``node`` on the tape; a node made while a step or loop body is captured breaks
    it (placeholders and captured values are the walk's business)."""
    if TAPE.ok:
        if _CAPTURE:
            TAPE.breaks()
        else:
            TAPE.record(node)


def _new_lazy(node, j, rg) -> Tensor:
    """Output ``j`` of ``node`` as a (pending) lazy tensor."""
    t = Tensor.__new__(Tensor)
    t._value = None
    t._node = node
    t._index = j
    t._rg = rg
    t._grad = None
    t._grad_of = None
    t._serial = 0
    _PENDING.add(t)
    return t


def _node_outputs(op, refs, requires, depth=1) -> list:
    """Apply ``op`` to ``refs``: a new node and one lazy tensor per output."""
    node = Node(op, refs, requires, depth)
    _tape(node)
    outs = []
    any_rg = False
    for j, av in enumerate(op.out_avals):
        rg = requires and dtypes.is_float(av.dtype)
        any_rg = any_rg or rg
        outs.append(_new_lazy(node, j, rg))
    node.requires_grad = any_rg
    return outs


_FLAT_TYPES = frozenset({int, float, bool, np.ndarray})
_FLAT_TREES: dict = {}


def _flat_tree(n: int):
    tree = _FLAT_TREES.get(n)
    if tree is None:
        tree = _FLAT_TREES[n] = tree_flatten((0,) * n)[1]
    return tree


def _trace_op(fn, leaves, tree, spec, has_kwargs, name):
    name = name or getattr(fn, "__name__", "op")
    with TraceContext(name) as ctx:
        full = [ctx.new_input(AVal(*s)) if s is not None else x for s, x in zip(spec, leaves)]
        built = tree_unflatten(tree, full)
        out = fn(*built[0], **built[1]) if has_kwargs else fn(*built)
        out_leaves, out_tree = tree_flatten(out)
        atoms = []
        for o in out_leaves:
            if isinstance(o, Tracer):
                atoms.append(o)
            elif isinstance(o, (bool, int, float, np.ndarray, np.generic)):
                a = np.asarray(o)
                if a.dtype == np.float64 and isinstance(o, float):
                    a = a.astype(np.float32)  # a Python float result: PyTorch's default dtype
                from ..ir import make_lit
                atoms.append(make_lit(a.item(), dtypes.canonical(a.dtype)) if a.ndim == 0
                             else a)
            else:
                raise TracegradError(f"{name} returned a {type(o).__name__}; tensor operations "
                                     "must return arrays (or tuples of arrays)")
        graph, captured = ctx.to_graph(atoms)
    if captured:
        if any(isinstance(x, Tracer) for x in leaves):  # tensors met tracers: say what to do
            raise UnsupportedOperationError(
                f"{name}: a tg.Tensor met a traced array (inside tg.jit/tg.grad, or in a "
                "tg.scan/while_loop/cond body started on NumPy arrays). To loop over tensors, "
                "pass the loop's init/xs as tensors (tg.as_tensor(x)): the body then sees "
                "tensors and gradients reach the parameters it uses. In tg.jit/tg.grad "
                "functions pass arrays (t.detach().numpy()) as arguments instead")
        raise TracegradError(f"{name} closes over a value traced elsewhere; pass it as an "
                             "argument")
    return _Op(graph, None if out_tree.kind == "leaf" else out_tree, name)


def tensor_op(fn=None, *, name=None):
    """Decorator: ``fn`` written on ``tracegrad.numpy`` becomes one recorded operation when any
    argument is a ``Tensor``; on arrays and tracers it runs unchanged."""
    if fn is None:
        return lambda f: tensor_op(f, name=name)

    @functools.wraps(fn)
    def op(*args, **kwargs):
        if _has_tensor(args) or (kwargs and _has_tensor(kwargs.values())):
            return apply_op(fn, args, kwargs or None, name=name)
        return fn(*args, **kwargs)
    op.__wrapped_impl__ = fn
    return op


def _has_tensor(xs) -> bool:
    for x in xs:
        if isinstance(x, Tensor):
            return True
        if isinstance(x, (tuple, list)) and _has_tensor(x):
            return True
    return False


_CACHE_LIMIT = 2048  # programs and ops kept per cache (oldest dropped first)


def _remember(cache: dict, key, value) -> None:
    """Insert into a bounded cache: loops whose structure keeps changing (growing sequences)
    must not keep every program alive."""
    if len(cache) >= _CACHE_LIMIT:
        del cache[next(iter(cache))]
    cache[key] = value


def _program(key, build, name):
    op = _PROGRAMS.get(key)
    if op is None:
        op = build()
        op.name = name
        _remember(_PROGRAMS, key, op)
    return op


def _forward_op(walk: _Walk, out_codes, name="tensor_forward"):
    with TraceContext(name) as ctx:
        ins = [ctx.new_input(av) for av in walk.input_avals()]
        resolve = walk.build(ins)
        graph, _ = ctx.to_graph([resolve(c) for c in out_codes])
    return _Op(graph, None, name)


# --- evaluation ------------------------------------------------------------------------------
def _no_values_in_capture(what: str):
    hint = getattr(_CAPTURE[-1], "no_values_hint", None) if _CAPTURE else None
    if hint is not None:  # a loop body being recorded (tensor/control.py) says why
        raise TracegradError(f"{what} needs a concrete value, but {hint}")
    raise TracegradError(
        f"{what} needs a concrete value, but inside tg.compile tensors are symbolic while the "
        "step is captured (the captured program is replayed without running Python). Return "
        "the tensor from the step function and read it outside (e.g. loss.item() on the "
        "returned loss)")


def _materialize(tensors) -> None:
    """Compute the values of lazy ``tensors`` with one compiled program (cached by structure).
    Pending tensors whose operations that program runs anyway come out of it too (a later
    program would otherwise compute them again: ``y_pred`` behind ``loss.item()``); with
    deferred writes, every pending tensor does, and the writes are applied (``flush``)."""
    if _WRITES and not _CAPTURE:
        flush(tensors)
    else:
        _compute(tensors)


def defer_write(leaf, value) -> None:
    """``leaf``'s array becomes ``value`` (a lazy tensor of its shape and dtype that does not
    require grad) at the next ``flush``, so that the write shares the program that computes
    the next value read (a training loop of in-place updates runs one program per step, not
    one per update). Operations recorded from now on read ``value`` in the leaf's place;
    those recorded before read the old array, which ``flush`` overwrites only after they ran.
    The tensor front defers only writes to leaves whose array nobody else holds (``_private``:
    not shared by ``numpy()``, ``.data``, ``detach()``, ``from_numpy``, ...)."""
    _WRITES[id(leaf)] = (leaf, value)


def flush(tensors=()) -> None:
    """Compute ``tensors``, every pending lazy tensor and the deferred writes' values in one
    program, then write those values into their leaves. If the program fails, no leaf is
    written and the writes stay deferred (a later read raises again, never a stale value)."""
    writes = list(_WRITES.values())
    _compute(list(tensors) + _PENDING.take() + [v for _, v in writes])
    _WRITES.clear()
    for leaf, v in writes:
        # (defer_write's value has the leaf's shape and dtype: a plain copy, a third of
        # np.copyto's cost with casting= on a 0-d parameter)
        leaf._value[...] = v._node.values[v._index]


def _compute(tensors) -> None:
    todo, seen = [], set()  # each tensor once: a write's value is also pending, say
    for t in tensors:
        node = t._node
        if node is not None and node.values[t._index] is None and id(t) not in seen:
            seen.add(id(t))
            todo.append(t)
    if not todo:
        return
    if _CAPTURE:
        _no_values_in_capture("reading a tensor's value")
    # operations recorded since the last program: their codes are the key, no walk (tape.py)
    plan = TAPE.plan(todo, seen, _PENDING) if TAPE.ok else None
    if plan is not None:
        key, out_codes = plan
        op = _PROGRAMS.get(key)
        if op is None:
            walk = _Walk.from_tape(TAPE)
            op = _program(key, lambda: _forward_op(walk, out_codes), "tensor_forward")
        vals = op.run(TAPE.input_values())  # (resets the tape)
    else:
        walk = _Walk([t._node for t in todo], grad_mode=False)
        pos = walk.pos
        if len(pos) > 1 and _PENDING:
            todo += [t for t in _PENDING if id(t._node) in pos and id(t) not in seen]
        # every node of todo is in the walk (roots, or reached): its code is its position
        out_codes = tuple([-1 - (pos[id(t._node)] * 1024 + t._index) for t in todo])
        key = ("fwd", walk.key(), out_codes)
        op = _PROGRAMS.get(key)
        if op is None:
            op = _program(key, lambda: _forward_op(walk, out_codes), "tensor_forward")
        vals = op.run(walk.input_values())
    for t, v in zip(todo, vals):
        node = t._node  # store_value, inlined
        nv = node.values
        nv[t._index] = v
        if not node.requires_grad and (len(nv) == 1 or all(x is not None for x in nv)):
            node.inputs = ()


def store_value(t, v) -> None:
    """``t``'s computed value. A node all of whose values are computed and that does not require
    grad is never walked again (walks cut at computed values), so it lets go of its inputs:
    otherwise a loop of deferred updates chains each iteration's nodes (and values) to the
    previous one's, and memory grows with the iteration count."""
    node = t._node
    vals = node.values
    vals[t._index] = v
    if not node.requires_grad and (len(vals) == 1 or all(x is not None for x in vals)):
        node.inputs = ()


def _before_mutation() -> None:
    """Leaves are about to change in place: compute every lazy tensor the user still holds,
    so it keeps the value it had when it was created (as PyTorch's eager values do)."""
    if _CAPTURE:
        return
    if _WRITES:
        flush()
    elif _PENDING:
        _compute(_PENDING.take())


def _value_of(t: Tensor) -> np.ndarray:
    node = t._node
    if node is None:
        if _WRITES and id(t) in _WRITES:
            flush()
        return t._value
    v = node.values[t._index]
    if v is None:
        _materialize([t])
        v = node.values[t._index]
    return v


# ``Tensor`` is defined on top of this module (core.py imports apply_op, Node, ...): imported
# last, once every name above exists, so both modules see each other complete.
from .core import Tensor  # noqa: E402
