"""``tg.Tensor``: the PyTorch-style front. Operations record a lazy DAG of traced operations;
values and gradients are computed by compiled programs built from that DAG.

Invariants: a leaf holds a concrete NumPy array (``_value``) and no node; every other tensor is
one output of a ``Node`` (a cached ``_Op`` graph applied to input refs). A program is cached by
the DAG's *structure* (op ids, wiring, input avals), never by values, so a training loop builds
and compiles its programs once. Leaves are only mutated through ``_before_mutation``, which first
computes every still-lazy tensor the user holds, so a later read never sees a newer parameter.
"""
from __future__ import annotations

import functools
import itertools
import math
import weakref

import numpy as np

from . import dtypes
from . import numpy as tnp
from .errors import ArgumentError, DTypeError, GradientError, ShapeError, TracegradError
from .identity import value_key
from .source_info import names_caller
from .ir import AVal
from .pytree import tree_flatten, tree_unflatten
from .tracer import TraceContext, Tracer

# --- global state ----------------------------------------------------------------------------
_GRAD_ENABLED = [True]          # a list so context managers can save and restore it cheaply
_CAPTURE: list = []             # the active tg.compile capture (compile_step.Capture), if any


class IdWeakSet:
    """A set of objects held weakly and compared by identity (``weakref.WeakSet`` compares with
    ``==``, which is elementwise on tensors)."""

    __slots__ = ("_refs",)

    def __init__(self):
        self._refs: dict = {}

    def add(self, obj) -> None:
        k = id(obj)
        if k not in self._refs:
            refs = self._refs
            self._refs[k] = weakref.ref(obj, lambda _r, k=k: refs.pop(k, None))

    def discard(self, obj) -> None:
        self._refs.pop(id(obj), None)

    def clear(self) -> None:
        self._refs.clear()

    def __contains__(self, obj) -> bool:
        return id(obj) in self._refs

    def __len__(self) -> int:
        return len(self._refs)

    def __iter__(self):
        for r in list(self._refs.values()):
            obj = r()
            if obj is not None:
                yield obj


_PENDING = IdWeakSet()          # lazy tensors the user still holds (values not computed yet)
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

    __slots__ = ("_exe", "graph", "id", "name", "out_avals", "out_tree")
    _ids = itertools.count()

    def __init__(self, graph, out_tree, name):
        self.graph = graph
        self.out_tree = out_tree
        self.out_avals = [a.aval for a in graph.outputs]
        self.id = next(_Op._ids)
        self.name = name
        self._exe = None

    def run(self, args):
        if self._exe is None:
            self._exe = _compile_graph(self.graph, self.name)
        return self._exe(*args)


_OP_CACHE: dict = {}       # (function key, arg tree, leaf specs) -> _Op
_PROGRAMS: dict = {}       # structural DAG key -> _Op (forward, backward or flush program)


def _compile_graph(graph, name):
    from .api import compile_traced
    from .staging import Traced
    _, in_tree = tree_flatten([0] * len(graph.inputs))
    _, out_tree = tree_flatten([0] * len(graph.outputs))
    lowered = compile_traced(Traced(graph, [], out_tree, in_tree), backend="auto", name=name)
    return lowered.executable


class Node:
    """An applied ``_Op``: inputs are refs (a leaf ``Tensor`` or a ``(Node, output index)``)."""

    __slots__ = ("__weakref__", "depth", "freed", "inputs", "op", "requires_grad", "values")

    def __init__(self, op, inputs, requires_grad, depth):
        self.op = op
        self.inputs = inputs
        self.values = [None] * len(op.out_avals)
        self.requires_grad = requires_grad
        self.freed = False
        self.depth = depth


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


def _apply(fn, args, kwargs=None, key=None, name=None):
    """Record ``fn(*args, **kwargs)`` (written on tracegrad.numpy) as one lazy tensor operation.

    Tensor and array leaves of the arguments become inputs; every other leaf is a static part
    of the operation, traced once per distinct signature and cached.
    """
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
    outs = _node_outputs(op, tuple(refs), requires and _GRAD_ENABLED[0], depth + 1)
    if depth + 1 > _MAX_LAZY_DEPTH and cap is None:
        _materialize(outs)  # keep programs bounded for long chains computed step by step
    if op.out_tree is None:
        return outs[0]
    return tree_unflatten(op.out_tree, outs)


def _node_outputs(op, refs, requires, depth=1) -> list:
    """Apply ``op`` to ``refs``: a new node and one lazy tensor per output."""
    node = Node(op, refs, requires, depth)
    outs = []
    any_rg = False
    for j, av in enumerate(op.out_avals):
        t = Tensor.__new__(Tensor)
        t._value = None
        t._node = node
        t._index = j
        t._rg = rg = requires and dtypes.is_float(av.dtype)
        any_rg = any_rg or rg
        t._grad = None
        t._grad_of = None
        t._serial = 0
        outs.append(t)
        _PENDING.add(t)
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
                from .ir import make_lit
                atoms.append(make_lit(a.item(), dtypes.canonical(a.dtype)) if a.ndim == 0
                             else a)
            else:
                raise TracegradError(f"{name} returned a {type(o).__name__}; tensor operations "
                                     "must return arrays (or tuples of arrays)")
        graph, captured = ctx.to_graph(atoms)
    if captured:
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
            return _apply(fn, args, kwargs or None, name=name)
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


# --- the DAG behind a set of outputs -----------------------------------------------------------
class _Walk:
    """The nodes behind some outputs in topological order, the inputs they read (leaves, and
    computed values cut from the DAG) and the structural key of it all."""

    __slots__ = ("codes", "in_pos", "inputs", "nodes", "pos", "probes")

    def __init__(self, roots, grad_mode: bool, probes=()):
        self.nodes: list = []
        self.pos: dict = {}
        self.inputs: list = []
        self.in_pos: dict = {}
        self.codes: list = []
        self.probes = probes
        for node in roots:
            if id(node) not in self.pos:
                self._visit(node, grad_mode)

    def _input(self, ref, key):
        k = self.in_pos.get(key)
        if k is None:
            k = self.in_pos[key] = len(self.inputs)
            self.inputs.append(ref)
        return k

    def ref_code(self, ref) -> int:
        """Leaves and cut values are inputs (codes >= 0); node outputs are negative."""
        if type(ref) is tuple:
            node, j = ref
            p = self.pos.get(id(node))
            if p is not None:
                return -1 - (p * 1024 + j)
            return self.in_pos[(id(node), j)]
        return self.in_pos[id(ref)]

    def _visit(self, root, grad_mode):
        pos, stack = self.pos, [[root, 0]]
        if grad_mode and root.requires_grad and root.freed:
            _freed_error()
        while stack:
            top = stack[-1]
            node, i = top
            if i < len(node.inputs):
                top[1] = i + 1
                ref = node.inputs[i]
                if type(ref) is tuple:
                    child, j = ref
                    if id(child) in pos:
                        continue
                    if child.values[j] is not None and not (grad_mode and child.requires_grad):
                        self._input(ref, (id(child), j))  # already computed: read, not redo
                        continue
                    if grad_mode and child.requires_grad and child.freed:
                        _freed_error()
                    stack.append([child, 0])
                else:
                    self._input(ref, id(ref))
            else:
                stack.pop()
                pos[id(node)] = len(self.nodes)
                self.nodes.append(node)
                self.codes.append((node.op.id, tuple(self.ref_code(r) for r in node.inputs)))

    def input_values(self):
        vals = []
        for r in self.inputs:
            if type(r) is tuple:
                vals.append(r[0].values[r[1]])
            else:
                vals.append(r._value)
        return vals

    def input_avals(self):
        out = []
        for r in self.inputs:
            if type(r) is tuple:
                out.append(r[0].op.out_avals[r[1]])
            else:
                out.append(AVal(r._value.shape, r._value.dtype))
        return out

    def key(self):
        specs = []
        for r in self.inputs:
            if type(r) is tuple:
                av = r[0].op.out_avals[r[1]]
                specs.append((av.shape, av.dtype))
            else:
                specs.append((r._value.shape, r._value.dtype))
        return (tuple(self.codes), tuple(specs))

    def build(self, ins, probe_vals=None):
        """Re-emit the DAG into the active trace on input tracers ``ins``; returns a function
        mapping a ref code to its traced value. ``probe_vals[(pos, j)]`` is added to a node
        output (a zero input whose gradient is that output's gradient)."""
        from .interpreter import eval_graph
        env = []

        def resolve(code):
            if code >= 0:
                return ins[code]
            p, j = divmod(-1 - code, 1024)
            return env[p][j]

        for p, (node, (_, codes)) in enumerate(zip(self.nodes, self.codes)):
            outs = eval_graph(node.op.graph, [resolve(c) for c in codes])
            if probe_vals:
                outs = [tnp.add(o, probe_vals[(p, j)]) if (p, j) in probe_vals else o
                        for j, o in enumerate(outs)]
            env.append(outs)
        return resolve


def _freed_error():
    raise GradientError(
        "Trying to backward through the graph a second time: the first backward() freed it. "
        "Call backward(retain_graph=True) the first time if you need to backward through the "
        "same graph again (or recompute the forward pass)")


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
    raise TracegradError(
        f"{what} needs a concrete value, but inside tg.compile tensors are symbolic while the "
        "step is captured (the captured program is replayed without running Python). Return "
        "the tensor from the step function and read it outside (e.g. loss.item() on the "
        "returned loss)")


def _materialize(tensors) -> None:
    """Compute the values of lazy ``tensors`` with one compiled program (cached by structure)."""
    todo = [t for t in tensors if t._node is not None and t._node.values[t._index] is None]
    if not todo:
        return
    if _CAPTURE:
        _no_values_in_capture("reading a tensor's value")
    walk = _Walk([t._node for t in todo], grad_mode=False)
    out_codes = tuple(walk.ref_code((t._node, t._index)) for t in todo)
    key = ("fwd", walk.key(), out_codes)
    op = _program(key, lambda: _forward_op(walk, out_codes), "tensor_forward")
    vals = op.run(walk.input_values())
    for t, v in zip(todo, vals):
        t._node.values[t._index] = v
        _PENDING.discard(t)


def _before_mutation() -> None:
    """Leaves are about to change in place: compute every lazy tensor the user still holds,
    so it keeps the value it had when it was created (as PyTorch's eager values do)."""
    if _PENDING and not _CAPTURE:
        pending = [t for t in list(_PENDING) if t._node.values[t._index] is None]
        _PENDING.clear()
        _materialize(pending)


def _value_of(t: Tensor) -> np.ndarray:
    node = t._node
    if node is None:
        return t._value
    v = node.values[t._index]
    if v is None:
        _materialize([t])
        v = node.values[t._index]
    return v


# --- grad mode -----------------------------------------------------------------------------
class _GradMode:
    """Context manager and decorator setting whether new operations record gradients."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self._saved: list = []

    def __enter__(self):
        self._saved.append(_GRAD_ENABLED[0])
        _GRAD_ENABLED[0] = self.enabled
        return self

    def __exit__(self, *exc):
        _GRAD_ENABLED[0] = self._saved.pop()

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with _GradMode(self.enabled):
                return fn(*args, **kwargs)
        return wrapper


class no_grad(_GradMode):
    """``with tg.no_grad():`` operations record no gradient (results do not require grad).
    Also a decorator, with or without parentheses."""

    def __new__(cls, fn=None):
        if fn is not None:  # @tg.no_grad without parentheses
            return _GradMode(False)(fn)
        return super().__new__(cls)

    def __init__(self, fn=None):
        super().__init__(False)


class enable_grad(_GradMode):
    """``with tg.enable_grad():`` re-enables gradient recording inside ``no_grad``."""

    def __init__(self):
        super().__init__(True)


class set_grad_enabled(_GradMode):
    """``tg.set_grad_enabled(flag)``: takes effect at once; as a context manager it restores the
    previous mode on exit."""

    def __init__(self, mode: bool):
        super().__init__(bool(mode))
        self._prev = _GRAD_ENABLED[0]
        _GRAD_ENABLED[0] = bool(mode)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _GRAD_ENABLED[0] = self._prev


def is_grad_enabled() -> bool:
    return _GRAD_ENABLED[0]


# --- the tensor --------------------------------------------------------------------------------
def _canon_dtype(dtype):
    if dtype is None:
        return None
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise DTypeError(f"dtype={dtype!r} is not a dtype; use tg.float32, tg.float64, "
                         "tg.int32, tg.int64 or tg.bool_ (or their NumPy names)") from None
    return dtypes.canonical(dt, what="dtype")


def _to_array(data, dtype=None, copy=True) -> np.ndarray:
    """PyTorch's conversion rules: Python floats become float32, ints int64; NumPy arrays keep
    their dtype (narrowed to the dtypes tracegrad supports)."""
    if isinstance(data, Tensor):
        data = _value_of(data)
    dt = _canon_dtype(dtype)
    if isinstance(data, (np.ndarray, np.generic)):
        arr = np.array(data, dtype=dt, copy=copy) if (copy or dt is not None) else data
    else:
        try:
            arr = np.array(_tensor_free(data), dtype=dt)
        except ValueError as e:  # a ragged nested list, or a string that is not a number
            raise ShapeError(f"tensor data cannot be made an array ({e}); nested lists must "
                             "be rectangular, with numbers as elements") from None
        if dt is None and arr.dtype == np.float64:
            arr = arr.astype(np.float32)
    if arr.dtype not in dtypes.SHORT_NAMES:
        arr = arr.astype(dtypes.canonical(arr.dtype, what="tensor data"))
    return arr


def _tensor_free(data):
    if isinstance(data, (list, tuple)):
        return [_tensor_free(d) for d in data]
    if isinstance(data, Tensor):
        return _value_of(data)
    return data


class _MaxResult(tuple):
    """``(values, indices)`` of ``Tensor.max(dim)``, as PyTorch returns it."""

    @property
    def values(self):
        return self[0]

    @property
    def indices(self):
        return self[1]


class GradFn:
    """What ``tensor.grad_fn`` shows: the operation that produced a tensor."""

    __slots__ = ("node",)

    def __init__(self, node):
        self.node = node

    def name(self) -> str:
        n = self.node.op.name
        return f"{n[:1].upper()}{n[1:]}Backward"

    def __repr__(self) -> str:
        return f"<{self.name()}>"


def _dim(dim, axis):
    return axis if dim is None else dim


class Tensor:
    """A PyTorch-style array: ``requires_grad``, ``backward()``, ``.grad``; NumPy operators and
    ``np.*`` functions work on it. Non-leaf tensors are lazy until their value is needed."""

    __slots__ = (
        "__weakref__",
        "_grad",
        "_grad_of",
        "_index",
        "_node",
        "_rg",
        "_serial",
        "_value",
    )
    __array_priority__ = 1000
    _tg_tensor = True

    def __init__(self, data, requires_grad: bool = False, dtype=None):
        if not isinstance(requires_grad, (bool, np.bool_)):
            raise ArgumentError(f"requires_grad must be True or False, got {requires_grad!r}")
        arr = _to_array(data, dtype)
        if requires_grad and not dtypes.is_float(arr.dtype):
            raise GradientError(f"only tensors of floating point dtype can require gradients; "
                                f"this one is {arr.dtype}")
        self._value = arr
        self._node = None
        self._index = 0
        self._rg = bool(requires_grad)
        self._grad = None
        self._grad_of = None
        self._serial = next(_serial)

    @classmethod
    def _leaf(cls, arr, requires_grad=False) -> Tensor:
        t = cls.__new__(cls)
        t._value = arr
        t._node = None
        t._index = 0
        t._rg = requires_grad
        t._grad = None
        t._grad_of = None
        t._serial = next(_serial)
        return t

    # --- autograd attributes -------------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        return self._rg

    @requires_grad.setter
    def requires_grad(self, flag: bool) -> None:
        self.requires_grad_(flag)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set ``requires_grad`` of a leaf in place; returns self."""
        if self._node is not None:
            if requires_grad:
                return self  # already part of a graph; PyTorch also allows this on non-leaves
            raise GradientError(
                "you can only change requires_grad of leaf tensors; use .detach() to get a "
                "tensor that is cut from the graph")
        if requires_grad and not dtypes.is_float(self._value.dtype):
            raise GradientError(f"only tensors of floating point dtype can require gradients; "
                                f"this one is {self._value.dtype}")
        if bool(requires_grad) != self._rg:
            bump_state_version()
        self._rg = bool(requires_grad)
        return self

    @property
    def is_leaf(self) -> bool:
        return self._node is None or not self._node.requires_grad

    @property
    def grad_fn(self):
        return GradFn(self._node) if self._node is not None and self._node.requires_grad \
            else None

    @property
    def grad(self):
        if _CAPTURE:
            _CAPTURE[-1].read_grad(self)  # a compiled step depends on whether it was set
        return self._grad

    @grad.setter
    def grad(self, value) -> None:
        if value is not None and not isinstance(value, Tensor):
            value = Tensor._leaf(_to_array(value, self.dtype))
        if value is not None and value.shape != self.shape:
            raise ShapeError(f"assigned grad has shape {value.shape}, but the tensor has shape "
                             f"{self.shape}")
        cap = _capture()
        if cap is not None:
            cap.touch_grad(self)
        if value is not None:
            value._grad_of = self
        self._grad = value

    @names_caller
    def backward(self, gradient=None, retain_graph=None, create_graph: bool = False,
                 inputs=None) -> None:
        """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf with requires_grad."""
        from .tensor_autograd import run_backward
        run_backward([self], [gradient], retain_graph, create_graph, inputs)

    def retain_grad(self) -> None:
        """Also fill ``.grad`` of this non-leaf tensor on backward."""
        if self._node is not None:
            from .tensor_autograd import retain
            retain(self)

    def detach(self) -> Tensor:
        """The same values, cut from the graph (``requires_grad=False``); shares memory with a
        computed value, as in PyTorch."""
        node = self._node
        if _CAPTURE:
            return self._symbolic_detach()
        if node is None:
            return Tensor._leaf(self._value, False)
        v = node.values[self._index]
        return Tensor._leaf(v, False) if v is not None else self._symbolic_detach()

    def _symbolic_detach(self):
        with no_grad():
            return _apply(_stop_gradient, (self,), name="detach")

    def detach_(self) -> Tensor:
        if self._node is not None:
            raise GradientError("detach_() works on leaves here; use y = y.detach()")
        self.requires_grad_(False)
        return self

    # --- values ------------------------------------------------------------------------------
    @property
    def data(self) -> np.ndarray:
        """A leaf's NumPy array (writable in place); a computed tensor's values."""
        if self._node is None:
            _before_mutation()  # the caller may write into it
            return self._value
        return _value_of(self)

    @data.setter
    def data(self, value) -> None:
        if self._node is not None:
            raise GradientError("only a leaf tensor's .data can be assigned")
        arr = _to_array(value, None, copy=False)
        _before_mutation()
        if arr.shape != self._value.shape or arr.dtype != self._value.dtype:
            bump_state_version()
        self._value = arr

    def numpy(self) -> np.ndarray:
        """The values as a NumPy array (a leaf's own array, as in PyTorch)."""
        if self._node is None:
            _before_mutation()
            return self._value
        return _value_of(self)

    @names_caller
    def item(self):
        v = _value_of(self)
        if v.size != 1:
            raise ShapeError(f"item() needs a tensor with one element, this one has shape "
                             f"{v.shape}")
        return v.item()

    def tolist(self):
        return _value_of(self).tolist()

    def __array__(self, dtype=None, copy=None):
        v = _value_of(self)
        if dtype is not None and v.dtype != dtype:
            return v.astype(dtype)
        return np.array(v, copy=True) if copy else v

    # --- static attributes --------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        if self._node is None:
            return self._value.shape
        return self._node.op.out_avals[self._index].shape

    @property
    def dtype(self) -> np.dtype:
        if self._node is None:
            return self._value.dtype
        return self._node.op.out_avals[self._index].dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def dim(self) -> int:
        return len(self.shape)

    def size(self, dim=None):
        """PyTorch's ``size()``: the shape, or one extent."""
        return self.shape if dim is None else self.shape[dim]

    def numel(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def device(self) -> str:
        return "cpu"

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        if not self.shape:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    def __hash__(self):
        return id(self)

    def __repr__(self) -> str:
        node = self._node
        if _CAPTURE and node is not None and node.values[self._index] is None:
            body = f"<symbolic {AVal(self.shape, self.dtype)}>"
        else:
            body = np.array2string(_value_of(self), separator=", ", prefix="tensor(")
        extra = ""
        if self.dtype not in (np.float32, np.int64, np.bool_):
            extra += f", dtype={self.dtype}"
        if self.grad_fn is not None:
            extra += f", grad_fn={self.grad_fn!r}"
        elif self._rg:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    def __format__(self, spec: str) -> str:
        if spec and self.numel() == 1:
            return format(self.item(), spec)
        return format(repr(self), spec)

    def __bool__(self) -> bool:
        v = _value_of(self)
        if v.size != 1:
            raise ValueError(f"the truth value of a tensor with {v.size} elements is ambiguous; "
                             "use .any() or .all()")
        return bool(v)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if not dtypes.is_int(self.dtype) or self.numel() != 1:
            raise TypeError("only one-element integer tensors can be used as an index")
        return int(self.item())

    def __reduce__(self):
        # pickling / deepcopy keep a leaf's value and flag; computed tensors are stored detached
        return (_rebuild, (type(self), np.array(_value_of(self)), self._rg))

    def __deepcopy__(self, memo):
        t = _rebuild(type(self), np.array(_value_of(self), copy=True), self._rg)
        memo[id(self)] = t
        return t

    # --- NumPy protocols ---------------------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        out = kwargs.pop("out", None)
        if out is not None:
            out = out[0] if isinstance(out, tuple) and len(out) == 1 else out
            if not isinstance(out, Tensor):
                return NotImplemented
            res = _apply(_call_ufunc, (ufunc, method, inputs), kwargs or None,
                         name=ufunc.__name__)
            out._inplace_assign(res)
            return out
        return _apply(_call_ufunc, (ufunc, method, inputs), kwargs or None, name=ufunc.__name__)

    def __array_function__(self, func, types, args, kwargs):
        meta = _META_FUNCS.get(func)
        if meta is not None:
            return meta(*args, **kwargs)
        return _apply(_call_function, (func, args), kwargs or None,
                      name=getattr(func, "__name__", "function"))

    # --- in-place updates ---------------------------------------------------------------
    def _check_inplace(self):
        if self._node is not None:
            raise GradientError(
                "in-place operations on computed (non-leaf) tensors are not supported; write "
                "y = y + 1 instead of y += 1 (a new tensor)")
        if self._rg and _GRAD_ENABLED[0]:
            raise GradientError(
                "a leaf tensor that requires grad is being used in an in-place operation; "
                "update parameters inside `with tg.no_grad():` (or through an optimizer)")

    def _inplace_assign(self, value) -> None:
        """Write ``value`` (tensor or array) into this leaf, broadcasting like NumPy."""
        self._check_inplace()
        if not isinstance(value, Tensor):
            value = _apply(_as_dtype, (np.asarray(value), self._value.dtype), name="copy")
        cap = _capture()
        if cap is not None:
            val = _apply(_assign_like, (self, value), name="assign")
            cap.replace(self, val)
            return
        v = _value_of(value)
        _before_mutation()
        np.copyto(self._value, np.broadcast_to(v, self._value.shape), casting="unsafe")

    def _inplace(self, fn, other):
        if self._node is not None:
            return fn(self, other)  # Python rebinds the name: y += 1 makes a new tensor
        self._check_inplace()
        cap = _capture()
        src = cap.current(self) if cap is not None else self
        self._inplace_assign(fn(src, other))
        return self

    def __iadd__(self, o):
        return self._inplace(tnp_add, o)

    def __isub__(self, o):
        return self._inplace(tnp_sub, o)

    def __imul__(self, o):
        return self._inplace(tnp_mul, o)

    def __itruediv__(self, o):
        return self._inplace(tnp_div, o)

    def zero_(self) -> Tensor:
        return self.fill_(0)

    def fill_(self, value) -> Tensor:
        if self._node is not None:
            raise GradientError("fill_()/zero_() work on leaf tensors (such as .grad)")
        cap = _capture()
        if cap is not None:
            cap.replace(self, _apply(_full_like, (self, value), name="fill"))
            return self
        _before_mutation()
        self._value[...] = value
        return self

    def copy_(self, src) -> Tensor:
        self._inplace_assign(src)
        return self

    def add_(self, other, alpha=1):
        return self._inplace(tnp_add, other * alpha if alpha != 1 else other)

    def sub_(self, other, alpha=1):
        return self._inplace(tnp_sub, other * alpha if alpha != 1 else other)

    def mul_(self, other):
        return self._inplace(tnp_mul, other)

    def div_(self, other):
        return self._inplace(tnp_div, other)

    def __setitem__(self, idx, value):
        if self._node is not None:
            raise GradientError("item assignment works on leaf tensors; build computed tensors "
                                "with np.where or np.concatenate")
        self._check_inplace()
        cap = _capture()
        if cap is not None:
            cap.replace(self, _apply(_set_item, (cap.current(self), idx, value), name="setitem"))
            return
        v = _value_of(value) if isinstance(value, Tensor) else value
        _before_mutation()
        self._value[idx] = v

    # --- conversions ---------------------------------------------------------------------
    def clone(self) -> Tensor:
        return _apply(_identity_copy, (self,), name="clone")

    def astype(self, dtype) -> Tensor:
        return _apply(_as_dtype, (self, np.dtype(dtype)), name="astype")

    def to(self, *args, **kwargs) -> Tensor:
        """``to(dtype)``; devices other than "cpu" are not available."""
        dtype = kwargs.get("dtype")
        for a in args + tuple(v for k, v in kwargs.items() if k == "device"):
            if isinstance(a, str) and a != "cpu":
                raise TracegradError(f"tracegrad runs on the CPU; device {a!r} is not available")
            if not isinstance(a, str) and a is not None:
                dtype = a
        return self if dtype is None or np.dtype(dtype) == self.dtype else self.astype(dtype)

    def cpu(self) -> Tensor:
        return self

    def float(self) -> Tensor:
        return self.to(np.float32)

    def double(self) -> Tensor:
        return self.to(np.float64)

    def long(self) -> Tensor:
        return self.to(np.int64)

    def int(self) -> Tensor:
        return self.to(np.int32)

    def bool(self) -> Tensor:
        return self.to(np.bool_)

    def type(self, dtype=None):
        return str(self.dtype) if dtype is None else self.to(dtype)

    # --- shape ------------------------------------------------------------------------
    def reshape(self, *shape) -> Tensor:
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return _apply(tnp.reshape, (self, tuple(shape)))

    view = reshape

    def view_as(self, other) -> Tensor:
        return self.reshape(other.shape)

    def flatten(self, start_dim=0, end_dim=-1) -> Tensor:
        s = self.shape
        if not s:
            return self.reshape(1)
        a, b = start_dim % len(s), end_dim % len(s)
        n = 1
        for d in s[a:b + 1]:
            n *= d
        return self.reshape(s[:a] + (n,) + s[b + 1:])

    def squeeze(self, dim=None) -> Tensor:
        if dim is not None and self.shape[dim] != 1:
            return self  # PyTorch leaves a non-unit dimension alone
        return _apply(tnp.squeeze, (self, dim))

    def unsqueeze(self, dim) -> Tensor:
        return _apply(tnp.expand_dims, (self, dim if dim >= 0 else dim + self.ndim + 1))

    def permute(self, *dims) -> Tensor:
        if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
            dims = tuple(dims[0])
        return _apply(tnp.transpose, (self, tuple(dims)))

    def transpose(self, dim0=None, dim1=None) -> Tensor:
        if dim0 is None:
            return _apply(tnp.transpose, (self,))
        return _apply(tnp.swapaxes, (self, dim0, dim1))

    def t(self) -> Tensor:
        return _apply(tnp.transpose, (self,))

    @property
    def T(self) -> Tensor:
        return _apply(tnp.transpose, (self,))

    @property
    def mT(self) -> Tensor:
        return _apply(tnp.swapaxes, (self, -1, -2))

    def expand(self, *shape) -> Tensor:
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        shape = tuple(s if n != -1 else o for n, s, o in
                      zip(shape, shape, (None,) * (len(shape) - self.ndim) + self.shape))
        return _apply(tnp.broadcast_to, (self, shape))

    def __getitem__(self, idx) -> Tensor:
        return _apply(_getitem, (self, idx), name="getitem")

    # --- reductions (PyTorch names: dim/keepdim; NumPy's axis/keepdims also work) -------------
    def sum(self, dim=None, keepdim=False, *, axis=None, keepdims=None, dtype=None):
        return _apply(tnp.sum, (self, _dim(dim, axis), dtype, None, keepdims or keepdim))

    def mean(self, dim=None, keepdim=False, *, axis=None, keepdims=None, dtype=None):
        return _apply(tnp.mean, (self, _dim(dim, axis), dtype, None, keepdims or keepdim))

    def prod(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        return _apply(tnp.prod, (self, _dim(dim, axis), None, None, keepdims or keepdim))

    def var(self, dim=None, unbiased=True, keepdim=False, *, axis=None, ddof=None,
            keepdims=None, correction=None):
        if ddof is None:
            ddof = correction if correction is not None else int(bool(unbiased))
        return _apply(tnp.var, (self, _dim(dim, axis)), {"ddof": ddof,
                                                         "keepdims": keepdims or keepdim})

    def std(self, dim=None, unbiased=True, keepdim=False, *, axis=None, ddof=None,
            keepdims=None, correction=None):
        if ddof is None:
            ddof = correction if correction is not None else int(bool(unbiased))
        return _apply(tnp.std, (self, _dim(dim, axis)), {"ddof": ddof,
                                                         "keepdims": keepdims or keepdim})

    def _extremum(self, fn, argfn, dim, keepdim, axis, keepdims):
        if dim is not None:  # PyTorch: max(dim) gives (values, indices)
            return _MaxResult((_apply(fn, (self, dim, None, keepdim)),
                               _apply(argfn, (self, dim, None, keepdim))))
        return _apply(fn, (self, axis, None, bool(keepdims)))

    def max(self, dim=None, keepdim=False, *, axis=None, keepdims=False):
        return self._extremum(tnp.max, tnp.argmax, dim, keepdim, axis, keepdims)

    def min(self, dim=None, keepdim=False, *, axis=None, keepdims=False):
        return self._extremum(tnp.min, tnp.argmin, dim, keepdim, axis, keepdims)

    amax = max
    amin = min

    def argmax(self, dim=None, keepdim=False, *, axis=None, keepdims=False):
        return _apply(tnp.argmax, (self, _dim(dim, axis), None, keepdim or keepdims))

    def argmin(self, dim=None, keepdim=False, *, axis=None, keepdims=False):
        return _apply(tnp.argmin, (self, _dim(dim, axis), None, keepdim or keepdims))

    def any(self, dim=None, keepdim=False, *, axis=None, keepdims=False):
        return _apply(tnp.any, (self, _dim(dim, axis), None, keepdim or keepdims))

    def all(self, dim=None, keepdim=False, *, axis=None, keepdims=False):
        return _apply(tnp.all, (self, _dim(dim, axis), None, keepdim or keepdims))

    def cumsum(self, dim=None, *, axis=None):
        return _apply(tnp.cumsum, (self, _dim(dim, axis)))

    def norm(self, p=2, dim=None, keepdim=False):
        return _apply(_norm, (self, p, dim, keepdim), name="norm")

    # --- elementwise methods ---------------------------------------------------------------
    def exp(self):
        return _apply(tnp.exp, (self,))

    def log(self):
        return _apply(tnp.log, (self,))

    def log1p(self):
        return _apply(tnp.log1p, (self,))

    def sqrt(self):
        return _apply(tnp.sqrt, (self,))

    def rsqrt(self):
        return 1.0 / self.sqrt()

    def sin(self):
        return _apply(tnp.sin, (self,))

    def cos(self):
        return _apply(tnp.cos, (self,))

    def tanh(self):
        return _apply(tnp.tanh, (self,))

    def sigmoid(self):
        return _apply(tnp.sigmoid, (self,))

    def relu(self):
        return _apply(_relu, (self,), name="relu")

    def abs(self):
        return _apply(tnp.abs, (self,))

    def sign(self):
        return _apply(tnp.sign, (self,))

    def square(self):
        return _apply(tnp.square, (self,))

    def neg(self):
        return _apply(tnp.negative, (self,))

    def pow(self, e):
        return _apply(tnp.power, (self, e))

    def clamp(self, min=None, max=None):
        return _apply(tnp.clip, (self, min, max))

    clip = clamp

    def softmax(self, dim=-1):
        from .nn.functional import softmax
        return softmax(self, dim)

    def log_softmax(self, dim=-1):
        from .nn.functional import log_softmax
        return log_softmax(self, dim)

    def matmul(self, o):
        return _apply(tnp.matmul, (self, o))

    mm = matmul

    def dot(self, o):
        return _apply(tnp.dot, (self, o))

    def eq(self, o):
        return _apply(tnp.equal, (self, o))

    # --- operators ----------------------------------------------------------------------
    def __neg__(self):
        return _apply(tnp.negative, (self,))

    def __pos__(self):
        return self

    def __abs__(self):
        return _apply(tnp.abs, (self,))

    def __invert__(self):
        return _apply(tnp.invert, (self,))

    def __add__(self, o):
        return _apply(tnp.add, (self, o))

    def __radd__(self, o):
        return _apply(tnp.add, (o, self))

    def __sub__(self, o):
        return _apply(tnp.subtract, (self, o))

    def __rsub__(self, o):
        return _apply(tnp.subtract, (o, self))

    def __mul__(self, o):
        return _apply(tnp.multiply, (self, o))

    def __rmul__(self, o):
        return _apply(tnp.multiply, (o, self))

    def __truediv__(self, o):
        return _apply(tnp.true_divide, (self, o))

    def __rtruediv__(self, o):
        return _apply(tnp.true_divide, (o, self))

    def __floordiv__(self, o):
        return _apply(tnp.floor_divide, (self, o))

    def __rfloordiv__(self, o):
        return _apply(tnp.floor_divide, (o, self))

    def __mod__(self, o):
        return _apply(tnp.remainder, (self, o))

    def __rmod__(self, o):
        return _apply(tnp.remainder, (o, self))

    def __pow__(self, o):
        return _apply(tnp.power, (self, o))

    def __rpow__(self, o):
        return _apply(tnp.power, (o, self))

    def __matmul__(self, o):
        return _apply(tnp.matmul, (self, o))

    def __rmatmul__(self, o):
        return _apply(tnp.matmul, (o, self))

    def __lt__(self, o):
        return _apply(tnp.less, (self, o))

    def __le__(self, o):
        return _apply(tnp.less_equal, (self, o))

    def __gt__(self, o):
        return _apply(tnp.greater, (self, o))

    def __ge__(self, o):
        return _apply(tnp.greater_equal, (self, o))

    def __eq__(self, o):
        return _apply(tnp.equal, (self, o))

    def __ne__(self, o):
        return _apply(tnp.not_equal, (self, o))

    def __and__(self, o):
        return _apply(tnp.bitwise_and, (self, o))

    def __rand__(self, o):
        return _apply(tnp.bitwise_and, (o, self))

    def __or__(self, o):
        return _apply(tnp.bitwise_or, (self, o))

    def __ror__(self, o):
        return _apply(tnp.bitwise_or, (o, self))

    def __xor__(self, o):
        return _apply(tnp.bitwise_xor, (self, o))


def _rebuild(cls, value, requires_grad):
    t = cls._leaf(value, requires_grad)
    return t


# --- small operation bodies (module-level so they are stable cache keys) ----------------------
def _call_ufunc(ufunc, method, inputs, **kwargs):
    return tnp._dispatch_ufunc(ufunc, method, inputs, kwargs)


def _call_function(func, args, **kwargs):
    return tnp._dispatch_function(func, args, kwargs)


def _getitem(x, idx):
    return tnp._getitem(x, idx)


def _stop_gradient(x):
    from .lax import stop_gradient
    return stop_gradient(x)


def _identity_copy(x):
    return tnp.copy(x)  # a program output never aliases an input, so this is a fresh array


def _as_dtype(x, dtype):
    return tnp.astype(x, dtype)


def _assign_like(target, value):
    return tnp.astype(tnp.broadcast_to(value, target.shape), target.dtype)


def zero_grad_of(t) -> None:
    """``t.grad`` zeroed in place (a differentiable gradient is replaced by zeros)."""
    g = t.grad
    if g is None:
        return
    if g._node is None:
        g.zero_()
    else:
        t.grad = Tensor._leaf(np.zeros(g.shape, g.dtype))


def _full_like(x, value):
    return tnp.full_like(x, value)


def _set_item(x, idx, value):
    """``x[idx] = value`` as a functional update (static index): gather the new values into
    place and select them where the index writes."""
    size = x.size
    pos = np.arange(size).reshape(x.shape)[idx]
    sel = np.asarray(pos).reshape(-1)
    mask = np.zeros(size, bool)
    mask[sel] = True
    src = np.zeros(size, np.int64)
    src[sel] = np.arange(sel.size)
    v = tnp.reshape(tnp.broadcast_to(tnp.astype(tnp.asarray(value), x.dtype), np.shape(pos)),
                    (-1,))
    full = tnp.reshape(tnp.take(v, src), x.shape)
    return tnp.where(mask.reshape(x.shape), full, x)


def _relu(x):
    # where(x > 0, x, 0): the gradient at exactly 0 is 0 (PyTorch's convention)
    return tnp.where(x > 0, x, 0)


def _norm(x, p, dim, keepdim):
    if p == 2:
        return tnp.sqrt(tnp.sum(x * x, axis=dim, keepdims=keepdim))
    if p == 1:
        return tnp.sum(tnp.abs(x), axis=dim, keepdims=keepdim)
    return tnp.power(tnp.sum(tnp.power(tnp.abs(x), p), axis=dim, keepdims=keepdim), 1.0 / p)


def tnp_add(a, b):
    return a + b


def tnp_sub(a, b):
    return a - b


def tnp_mul(a, b):
    return a * b


def tnp_div(a, b):
    return a / b


def _shape_of(a):
    return tuple(a.shape)


_META_FUNCS = {
    np.shape: _shape_of,
    np.ndim: lambda a: len(a.shape),
    np.size: lambda a, axis=None: (a.numel() if axis is None else a.shape[axis]),
    np.result_type: lambda *xs: np.result_type(*[x.dtype if isinstance(x, Tensor) else x
                                                 for x in xs]),
}


# --- creation ------------------------------------------------------------------------------
_RNG = [np.random.default_rng(0)]  # the default generator (PyTorch's is seeded too)


def manual_seed(seed: int) -> None:
    """Seed the default generator used by ``randn``/``rand``, layer initialisation and dropout."""
    _RNG[0] = np.random.default_rng(seed)


def default_generator() -> np.random.Generator:
    return _RNG[0]


@names_caller
def tensor(data, dtype=None, requires_grad: bool = False) -> Tensor:
    """A new leaf tensor holding a copy of ``data`` (Python floats become float32)."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


@names_caller
def as_tensor(data, dtype=None) -> Tensor:
    """Like ``tensor`` but shares ``data``'s memory when it is already a suitable array."""
    if isinstance(data, Tensor) and (dtype is None or np.dtype(dtype) == data.dtype):
        return data
    return Tensor._leaf(_to_array(data, dtype, copy=False))


@names_caller
def from_numpy(arr: np.ndarray) -> Tensor:
    """A leaf sharing ``arr``'s memory (writes to either are seen by both)."""
    if not isinstance(arr, np.ndarray):
        raise TracegradError(f"from_numpy expects an ndarray, got {type(arr).__name__}")
    return Tensor._leaf(_to_array(arr, None, copy=False))


def _shape_args(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def _make(arr, requires_grad):
    t = Tensor._leaf(arr, False)
    return t.requires_grad_(requires_grad) if requires_grad else t


def zeros(*shape, dtype=np.float32, requires_grad=False) -> Tensor:
    return _make(np.zeros(_shape_args(shape), dtype=_canon_dtype(dtype)), requires_grad)


def ones(*shape, dtype=np.float32, requires_grad=False) -> Tensor:
    return _make(np.ones(_shape_args(shape), dtype=_canon_dtype(dtype)), requires_grad)


def full(shape, fill_value, dtype=np.float32, requires_grad=False) -> Tensor:
    return _make(np.full(tuple(shape), fill_value, dtype=_canon_dtype(dtype)), requires_grad)


def zeros_like(t, dtype=None, requires_grad=False) -> Tensor:
    return zeros(*np.shape(t), dtype=dtype or t.dtype, requires_grad=requires_grad)


def ones_like(t, dtype=None, requires_grad=False) -> Tensor:
    return ones(*np.shape(t), dtype=dtype or t.dtype, requires_grad=requires_grad)


def randn(*shape, dtype=np.float32, requires_grad=False, generator=None) -> Tensor:
    g = generator or _RNG[0]
    return _make(g.standard_normal(_shape_args(shape)).astype(_canon_dtype(dtype)),
                 requires_grad)


def rand(*shape, dtype=np.float32, requires_grad=False, generator=None) -> Tensor:
    g = generator or _RNG[0]
    return _make(g.random(_shape_args(shape)).astype(_canon_dtype(dtype)), requires_grad)


def arange(*args, dtype=None, requires_grad=False) -> Tensor:
    arr = np.arange(*args)
    if dtype is None and arr.dtype == np.float64:
        arr = arr.astype(np.float32)
    return _make(arr.astype(_canon_dtype(dtype)) if dtype else arr, requires_grad)


def dynamic_leaf(make) -> Tensor:
    """A leaf holding ``make()``; inside ``tg.compile`` it is drawn anew by ``make`` on every
    replay (dropout masks, hyper-parameters read at call time)."""
    t = Tensor._leaf(make())
    cap = _capture()
    if cap is not None:
        cap.providers[id(t)] = (t, make)
    return t


def is_tensor(x) -> bool:
    return isinstance(x, Tensor)


float32, float64, int32, int64 = (np.dtype(n) for n in ("float32", "float64", "int32", "int64"))
bool_ = np.dtype(bool)
