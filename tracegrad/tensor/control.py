"""Loops and branches on tensors: ``tg.scan``, ``fori_loop``, ``while_loop``, ``cond``,
``switch`` and ``checkpoint`` called with ``tg.Tensor`` values (tracegrad/control_flow.py sends
them here) record ONE lazy operation that runs the loop, so ``backward()`` and ``tg.compile``
differentiate and compile it as a real loop, whatever the trip count.

How a body is seen: the user's Python body runs once per call on *placeholder tensors* (leaves
with the carry's / slice's shape and dtype), under a ``_BodyCapture`` that keeps every tensor
symbolic, so torch-style code (``h @ W``, ``tg.tanh(h)``, ``.sum(dim=1)``, ``np.tanh``) works
inside it. What it records is cut from the lazy DAG (``_Body``): nodes that depend on a
placeholder are the body; every other tensor it reads (a parameter it closes over such as
``self.W_hh``, a lazy tensor computed before the loop, a constant) becomes an explicit operand
of the loop operation, so gradients reach closed-over parameters exactly as they reach
arguments. The loop operation's function re-emits the recorded nodes on the loop's traced
values and calls the array-level primitive; it is traced once per body *structure* (operation
ids and wiring), so a training loop compiles its program once.
"""
from __future__ import annotations

import sys

import numpy as np

from .. import control_flow as cf
from .. import dtypes
from ..errors import ArgumentError, ShapeError, UnsupportedOperationError
from ..interpreter import eval_graph
from ..ir import AVal
from ..pytree import tree_flatten, tree_unflatten
from ..source_info import user_src_with_text
from ..tracer import TraceContext
from . import lazy as L
from .core import Tensor, _to_array
from .grad_mode import _GRAD_ENABLED
from .walk import CUT_OPS


def has_tensor(*trees) -> bool:
    """Whether any leaf of ``trees`` is a ``tg.Tensor`` (the dispatch test of control_flow)."""
    for tree in trees:
        if isinstance(tree, Tensor):
            return True
        if isinstance(tree, (tuple, list, dict)):
            leaves, _ = tree_flatten(tree)
            if any(isinstance(x, Tensor) for x in leaves):
                return True
    return False


def _as_tensor(x) -> Tensor:
    if isinstance(x, Tensor):
        return x
    if isinstance(x, (np.ndarray, np.generic)):
        return L._leaf_for_array(x)
    return Tensor._leaf(_to_array(x))  # Python numbers: PyTorch's dtypes (float32, int64)


class _BodyCapture:
    """Active while a loop body is recorded: tensors stay symbolic (no value can be read, no
    program runs), leaves cannot be written, and an enclosing ``tg.compile`` capture still sees
    the leaves the body reads (``current``) and the random draws it makes (``providers``)."""

    no_values_hint = (
        "inside a tg.scan / fori_loop / while_loop / cond body tensors are symbolic (the body "
        "is recorded once and runs as a loop inside the compiled program). Branch on values "
        "with tg.where(c, a, b) or tg.cond(pred, true_fn, false_fn, *operands), and return "
        "what you want to read from the loop (as part of the carry or the per-step outputs)")

    def __init__(self, outer, what, src):
        self.outer = outer
        self.what, self.src = what, src
        self.providers = outer.providers if outer is not None else {}

    def current(self, t):
        return self.outer.current(t) if self.outer is not None else t

    def replace(self, leaf, value):
        raise UnsupportedOperationError(
            f"an in-place update of a tensor inside the {self.what} (an optimizer step, x += "
            "..., x.copy_(...), x[i] = ...) is not supported: a loop body is a pure function. "
            "Return the new value in the carry and assign it after the loop", src=self.src)

    def read_grad(self, p):
        if self.outer is not None:
            self.outer.read_grad(p)

    def touch_grad(self, p):
        raise UnsupportedOperationError(
            f"backward() or setting .grad inside the {self.what} is not supported; call "
            "backward() on a result of the loop (gradients flow through it), or use "
            "tg.autograd.grad(..., create_graph=True) inside the body", src=self.src)


_PLACEHOLDER_OPS: dict = {}


def _placeholder(aval, grad) -> Tensor:
    """A lazy tensor standing for a loop value while the body is recorded: the output of a node
    with no inputs that is never computed, so reading its value (``.item()``, ``.numpy()``,
    ``np.asarray``, ``if``) raises instead of seeing made-up numbers, and ``h += x`` rebinds
    ``h`` as it does for any computed tensor."""
    op = _PLACEHOLDER_OPS.get(aval)
    if op is None:
        with TraceContext("loop value") as ctx:
            graph, _ = ctx.to_graph([ctx.new_input(AVal(*aval))])
        op = _PLACEHOLDER_OPS[aval] = L._Op(graph, None, "loop value")
        CUT_OPS.add(op.id)  # read as an input by any program built inside the body
    rg = grad and dtypes.is_float(aval[1])
    return L._new_lazy(L.Node(op, (), rg, 1), 0, rg)


class _Body:
    """A function of tensors recorded once on placeholders.

    ``nodes``/``codes``: the recorded nodes in topological order and where each input comes
    from (``("p", k)`` placeholder k, ``("c", k)`` const k, ``("n", pos, j)`` output j of
    recorded node pos); ``outs``: the output codes; ``out_td``: the output's tree;
    ``consts``: the tensors the body reads from outside (operands of the loop operation);
    ``key``: the structure, which is all the re-emitted graph depends on."""

    def __init__(self, fn, in_trees, what, src, check_out=None):
        self.what, self.src = what, src
        ph_ids, args = {}, []
        grad = _GRAD_ENABLED[0]
        for td, avals in in_trees:
            leaves = []
            for aval in avals:
                t = _placeholder(aval, grad)
                ph_ids[id(t._node)] = len(ph_ids)
                leaves.append(t)
            args.append(tree_unflatten(td, leaves))
        self.placeholders = args  # kept alive: the ids above stay theirs
        cap = _BodyCapture(L._capture(), what, src)
        L._CAPTURE.append(cap)
        try:
            out = fn(*args)
            if check_out is not None:
                check_out(out)
        finally:
            L._CAPTURE.pop()
        leaves, self.out_td = tree_flatten(out)
        for x in leaves:
            if not isinstance(x, (Tensor, np.ndarray, np.generic, bool, int, float)):
                raise ArgumentError(f"the {what} returned {type(x).__name__} {x!r}, not a "
                                    "tensor", src=src)
        self._cut([_as_tensor(x) for x in leaves], ph_ids)

    def _cut(self, outs, ph_ids):
        internal = self._internal_nodes(outs, ph_ids)
        pos = {id(n): p for p, n in enumerate(internal)}
        consts, const_pos = [], {}

        def code(ref):
            if type(ref) is tuple:
                node, j = ref
                if id(node) in ph_ids:
                    return ("p", ph_ids[id(node)])
                p = pos.get(id(node))
                if p is not None:
                    return ("n", p, j)
                k = (id(node), j)
                if k not in const_pos:
                    const_pos[k] = len(consts)
                    av = node.op.out_avals[j]
                    consts.append(L._new_lazy(node, j, node.requires_grad
                                              and dtypes.is_float(av.dtype)))
                return ("c", const_pos[k])
            k = id(ref)
            if k not in const_pos:
                const_pos[k] = len(consts)
                consts.append(ref)
            return ("c", const_pos[k])

        self.nodes = internal
        self.codes = [tuple(code(r) for r in n.inputs) for n in internal]
        self.outs = tuple(code(t if t._node is None else (t._node, t._index)) for t in outs)
        self.consts = tuple(consts)
        self.key = (tuple((n.op.id, c) for n, c in zip(internal, self.codes)), self.outs,
                    self.out_td)

    @staticmethod
    def _internal_nodes(outs, ph_ids):
        """The nodes behind ``outs`` that depend on a placeholder, in topological order. Nodes
        that do not (computed before the loop, or from parameters only) stay outside: their
        values are operands of the loop. Each node is visited once."""
        dep: dict = dict.fromkeys(ph_ids, True)  # placeholder nodes: depended on, not recorded
        order: list = []
        stack = [t._node for t in outs if t._node is not None]
        while stack:
            node = stack[-1]
            if id(node) in dep:
                stack.pop()
                continue
            todo = [r[0] for r in node.inputs if type(r) is tuple and id(r[0]) not in dep
                    and r[0].values[r[1]] is None]
            if todo:
                stack.extend(todo)
                continue
            stack.pop()
            d = any(type(r) is tuple and dep.get(id(r[0])) and r[0].values[r[1]] is None
                    for r in node.inputs)
            dep[id(node)] = d
            if d:
                order.append(node)
        return order

    def replay(self, ph_vals, const_vals) -> list:
        """Re-emit the recorded nodes on traced values; returns the output leaves."""
        env: list = []

        def get(c):
            if c[0] == "p":
                return ph_vals[c[1]]
            if c[0] == "c":
                return const_vals[c[1]]
            return env[c[1]][c[2]]
        for node, codes in zip(self.nodes, self.codes):
            env.append(eval_graph(node.op.graph, [get(c) for c in codes]))
        return [get(c) for c in self.outs]

    def as_array_fn(self, const_vals, n_trees):
        """The body as a function of traced pytrees (what the array-level primitive traces)."""
        def fn(*trees):
            flat = []
            for t in trees[:n_trees]:
                flat += tree_flatten(t)[0]
            return tree_unflatten(self.out_td, self.replay(flat, const_vals))
        return fn


def _avals(leaves):
    return [(tuple(t.shape), np.dtype(t.dtype)) for t in leaves]


def _loop_op(name, key, bodies, operands, build):
    """One lazy operation: ``build(const values per body, *operand values)`` runs the
    array-level loop on traced values; cached under the bodies' structure."""
    consts = tuple(b.consts for b in bodies)
    key = ("tg." + name, key, tuple(b.key for b in bodies))
    return L.apply_op(build, (consts, *operands), key=key, name=name)


def scan(f, init, xs=None, length=None, reverse=False, checkpoint=None):
    """``tg.scan`` on tensors: ``f(carry, x) -> (carry, y)`` sees tensors."""
    src = user_src_with_text(2)
    init_leaves, init_td = tree_flatten(init)
    init_leaves = [_as_tensor(x) for x in init_leaves]
    x_leaves, x_td = tree_flatten(xs)
    x_leaves = [_as_tensor(x) for x in x_leaves]
    if any(t.ndim == 0 for t in x_leaves):
        raise ShapeError("scan: every leaf of xs needs a leading axis to scan over; got a 0-d "
                         "tensor", src=src)
    lengths = {t.shape[0] for t in x_leaves} | ({int(length)} if length is not None else set())
    if len(lengths) != 1:
        raise ShapeError(f"scan: xs leaves and length disagree on the number of steps: "
                         f"{sorted(lengths)}" if lengths else
                         "scan: pass xs or length=N (nothing says how many steps)", src=src)
    n = lengths.pop()
    slice_avals = [(tuple(t.shape[1:]), np.dtype(t.dtype)) for t in x_leaves]

    def check(out):
        if not (isinstance(out, tuple) and len(out) == 2):
            raise ArgumentError("the scan body must return a pair (new_carry, y); return "
                                "(carry, None) when there is no per-step output", src=src)
    body = _Body(f, [(init_td, _avals(init_leaves)), (x_td, slice_avals)], "scan body", src,
                 check)

    def build(consts, init_vals, x_vals):
        return cf.scan(body.as_array_fn(consts[0], 2), tree_unflatten(init_td, list(init_vals)),
                       tree_unflatten(x_td, list(x_vals)), length=n, reverse=reverse,
                       checkpoint=checkpoint)
    key = (init_td, x_td, n, bool(reverse), checkpoint)
    return _loop_op("scan", key, [body], (tuple(init_leaves), tuple(x_leaves)), build)


def fori_loop(lower, upper, body_fun, init_val):
    """``tg.fori_loop`` on tensors: ``body_fun(i, val)`` sees ``i`` as an int tensor."""
    src = user_src_with_text(2)
    leaves, td = tree_flatten(init_val)
    leaves = [_as_tensor(x) for x in leaves]
    static = all(isinstance(b, (int, np.integer)) and not isinstance(b, bool)
                 for b in (lower, upper))
    if static:
        bounds, i_dt = (), np.dtype(np.int32)
    else:
        bounds = (_as_tensor(lower), _as_tensor(upper))
        i_dt = np.result_type(bounds[0].dtype, bounds[1].dtype)
    body = _Body(body_fun, [(tree_flatten(0)[1], [((), i_dt)]), (td, _avals(leaves))],
                 "fori_loop body", src)

    def build(consts, vals, bvals):
        lo, hi = (lower, upper) if static else bvals
        return cf.fori_loop(lo, hi, body.as_array_fn(consts[0], 2),
                            tree_unflatten(td, list(vals)))
    key = (td, (int(lower), int(upper)) if static else None)
    return _loop_op("fori_loop", key, [body], (tuple(leaves), bounds), build)


def while_loop(cond_fun, body_fun, init_val, max_iter=None):
    """``tg.while_loop`` on tensors: ``cond_fun(val)`` returns a bool scalar tensor."""
    src = user_src_with_text(2)
    leaves, td = tree_flatten(init_val)
    leaves = [_as_tensor(x) for x in leaves]
    avals = _avals(leaves)
    cbody = _Body(cond_fun, [(td, avals)], "while_loop condition", src)
    bbody = _Body(body_fun, [(td, avals)], "while_loop body", src)

    def build(consts, vals):
        return cf.while_loop(cbody.as_array_fn(consts[0], 1), bbody.as_array_fn(consts[1], 1),
                             tree_unflatten(td, list(vals)), max_iter=max_iter)
    return _loop_op("while_loop", (td, max_iter), [cbody, bbody], (tuple(leaves),), build)


def switch(index, branches, *operands):
    """``tg.switch`` on tensors: only the taken branch runs (in the compiled program)."""
    src = user_src_with_text(2)
    branches = list(branches)
    if not branches:
        raise ArgumentError("switch needs at least one branch", src=src)
    if not isinstance(index, Tensor):
        k = int(np.clip(int(np.asarray(index)), 0, len(branches) - 1))
        return branches[k](*operands)
    return _branches("switch", index, branches, operands, src)


def cond(pred, true_fun, false_fun, *operands):
    """``tg.cond`` on tensors: a tensor ``pred`` chooses inside the compiled program."""
    src = user_src_with_text(2)
    if not isinstance(pred, Tensor):
        return true_fun(*operands) if bool(np.asarray(pred)) else false_fun(*operands)
    if pred.shape != ():
        raise ShapeError(f"cond: the predicate must be a scalar, got shape {pred.shape}; for "
                         "elementwise choices use tg.where", src=src)
    return _branches("cond", pred, [true_fun, false_fun], operands, src)


def _branches(name, index, branches, operands, src):
    leaves, td = tree_flatten(tuple(operands))
    leaves = [_as_tensor(x) for x in leaves]
    avals = _avals(leaves)
    bodies = [_Body(lambda ops, b=b: b(*ops), [(td, avals)], f"{name} branch {k}", src)
              for k, b in enumerate(branches)]

    def build(consts, idx, vals):
        fns = [b.as_array_fn(c, 1) for b, c in zip(bodies, consts)]
        ops = tree_unflatten(td, list(vals))
        if name == "cond":
            return cf.cond(idx, lambda *o: fns[0](o), lambda *o: fns[1](o), *ops)
        return cf.switch(idx, [lambda *o, g=g: g(o) for g in fns], *ops)
    return _loop_op(name, (td, len(branches)), bodies, (index, tuple(leaves)), build)


def checkpoint_call(f, args):
    """``tg.checkpoint(f)(*args)`` on tensors: ``f``'s intermediates are recomputed in the
    backward pass (one operation, as the array version)."""
    src = user_src_with_text(3)
    leaves, td = tree_flatten(tuple(args))
    leaves = [_as_tensor(x) for x in leaves]
    body = _Body(lambda a: f(*a), [(td, _avals(leaves))],
                 f"tg.checkpoint({getattr(f, '__name__', 'f')})", src)

    def build(consts, vals):
        g = body.as_array_fn(consts[0], 1)
        return cf.checkpoint(lambda *a: g(a))(*tree_unflatten(td, list(vals)))
    return _loop_op("checkpoint", td, [body], (tuple(leaves),), build)


__all__ = ["checkpoint_call", "cond", "fori_loop", "has_tensor", "scan", "switch",
           "while_loop"]

cf.TENSOR_LOOPS.append(sys.modules[__name__])  # tg.scan & co send tensor arguments here
