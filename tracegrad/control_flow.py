"""Loops and branches users write: ``tg.scan``, ``tg.fori_loop``, ``tg.while_loop``, ``tg.cond``,
``tg.switch`` (also in ``tracegrad.lax``).

Each traces its Python body once into a nested graph (whatever the trip count), on pytrees of
arrays, and binds one ``scan`` / ``while`` / ``cond`` equation (tracegrad/prims/control.py).
Values the body reads from the enclosing function are captured and become the loop's constants.
Called on concrete arrays outside any trace, the same functions evaluate eagerly.
Mistakes (a carry that changes type, a branch returning something else) raise a typed error
naming the user's line here, before the IR verifier would see them.
"""
from __future__ import annotations

import numpy as np

from . import dtypes
from .errors import ArgumentError, ShapeError
from .ir import AVal, Graph
from .prims.control import cond_p, scan_p, while_p
from .pytree import tree_flatten, tree_unflatten
from .source_info import user_src_with_text
from .tracer import TraceContext, Tracer, aval_of


def _as_operand(x):
    """A leaf as an array operand: tracers stay, Python scalars and lists become arrays with
    NumPy's default dtypes (canonicalised: no float16, int8 ...)."""
    if isinstance(x, Tracer):
        return x
    arr = np.asarray(x)
    return arr.astype(dtypes.canonical(arr.dtype, what="loop value"), copy=False)


# The tensor front registers its loops here when it is imported (tracegrad/tensor/control.py;
# this layer may not import it): with a tg.Tensor argument the body sees tensors there, and the
# loop is one recorded tensor operation.
TENSOR_LOOPS: list = []


def _tensor_loops(*trees):
    for loops in TENSOR_LOOPS:
        if loops.has_tensor(*trees):
            return loops
    return None


def _fmt(avals) -> str:
    return "(" + ", ".join(str(a) for a in avals) + ")"


def _trace(fn, in_trees, what: str, src, conditional: bool = False):
    """Trace ``fn(*unflattened inputs)`` with fresh inputs of ``in_trees``' leaves' avals.
    ``in_trees``: list of (treedef, avals). Returns (graph, captured, out treedef); the graph's
    inputs are the captured values followed by the leaves. ``conditional``: the body may not
    run (``TraceContext.conditional``)."""
    with TraceContext(what) as ctx:
        ctx.conditional = conditional
        args = []
        for td, avals in in_trees:
            args.append(tree_unflatten(td, [ctx.new_input(a) for a in avals]))
        out = fn(*args)
        leaves, out_td = tree_flatten(out)
        leaves = [_leaf_out(x, what, src) for x in leaves]
        graph, captured = ctx.to_graph(leaves)
    n = len(graph.inputs) - len(captured)
    inputs = graph.inputs[n:] + graph.inputs[:n]
    return Graph(inputs, graph.eqns, graph.outputs), captured, out_td


def _leaf_out(x, what, src):
    if isinstance(x, Tracer):
        return x
    try:
        return _as_operand(x)
    except Exception:
        raise ArgumentError(f"{what} returned {type(x).__name__} {x!r}, not an array",
                            src=src) from None


def _check_carry(what, init_td, init_avals, out_td, out_avals, src):
    if out_td != init_td:
        raise ShapeError(f"{what} must return a carry of the same structure as its initial "
                         f"value: got {out_td}, expected {init_td}", src=src)
    if list(out_avals) != list(init_avals):
        bad = [f"leaf {i}: starts as {a} but the body returns {b}"
               for i, (a, b) in enumerate(zip(init_avals, out_avals)) if a != b]
        raise ShapeError(f"{what} must keep the carry's shapes and dtypes ({'; '.join(bad)}); "
                         "cast in the body (x.astype(...)) or start from the type the body "
                         "returns", src=src)


def scan(f, init, xs=None, length=None, reverse=False, checkpoint=None):
    """``carry, ys = scan(f, init, xs)`` with ``f(carry, x) -> (carry, y)``, as ``jax.lax.scan``:
    ``x`` runs over the leading axis of ``xs`` (a pytree, or None with ``length``), the ``y``s
    are stacked along a new leading axis; ``reverse=True`` walks the steps backwards.
    ``checkpoint=k``: reverse mode stores every k-th carry and recomputes the steps in between
    (memory O(T/k + k) carries instead of O(T))."""
    if (tc := _tensor_loops(init, xs)) is not None:
        return tc.scan(f, init, xs, length, reverse, checkpoint)
    src = user_src_with_text(2)
    init_leaves, init_td = tree_flatten(init)
    init_leaves = [_as_operand(x) for x in init_leaves]
    x_leaves, x_td = tree_flatten(xs)
    x_leaves = [_as_operand(x) for x in x_leaves]
    lengths = {aval_of(x).shape[0] if aval_of(x).ndim else None for x in x_leaves}
    if None in lengths:
        raise ShapeError("scan: every leaf of xs needs a leading axis to scan over; got a "
                         "0-d value", src=src)
    if length is not None:
        lengths.add(int(length))
    if len(lengths) != 1:
        raise ShapeError(f"scan: xs leaves and length disagree on the number of steps: "
                         f"{sorted(lengths)}" if lengths else
                         "scan: pass xs or length=N (nothing says how many steps)", src=src)
    n = lengths.pop()
    if checkpoint is not None and (not isinstance(checkpoint, int) or checkpoint < 1):
        raise ArgumentError(f"scan: checkpoint must be a positive int, got {checkpoint!r}",
                            src=src)
    init_avals = [aval_of(x) for x in init_leaves]
    slice_avals = [AVal(aval_of(x).shape[1:], aval_of(x).dtype) for x in x_leaves]

    def body(carry, x):
        out = f(carry, x)
        if not (isinstance(out, tuple) and len(out) == 2):
            raise ArgumentError("the scan body must return a pair (new_carry, y); return "
                                "(carry, None) when there is no per-step output", src=src)
        return out

    graph, captured, out_td = _trace(body, [(init_td, init_avals), (x_td, slice_avals)],
                                     "scan body", src, conditional=n == 0)
    # out_td describes (carry, y): split the flat outputs
    carry_td, y_td = out_td.children if hasattr(out_td, "children") else (None, None)
    nk = len(init_leaves)
    _check_carry("the scan body", init_td, init_avals, carry_td,
                 graph.out_avals[:nk], src)
    outs = scan_p.bind(*captured, *init_leaves, *x_leaves, body=graph,
                       num_consts=len(captured), num_carry=nk, length=n,
                       reverse=bool(reverse), checkpoint=int(checkpoint or 0))
    return tree_unflatten(carry_td, outs[:nk]), tree_unflatten(y_td, outs[nk:])


def fori_loop(lower, upper, body_fun, init_val):
    """``for i in range(lower, upper): val = body_fun(i, val)``; returns ``val``. With Python-int
    bounds this is a scan (differentiable in reverse mode); with traced bounds a while loop."""
    if (tc := _tensor_loops(lower, upper, init_val)) is not None:
        return tc.fori_loop(lower, upper, body_fun, init_val)
    static = all(isinstance(b, (int, np.integer)) and not isinstance(b, bool)
                 for b in (lower, upper))
    if static:
        lo, hi = int(lower), int(upper)

        def step(carry, _):
            i, val = carry
            return (i + np.int32(1), body_fun(i, val)), None
        (_, val), _ = scan(step, (np.int32(lo), init_val), None, length=max(hi - lo, 0))
        return val

    def cond_fn(carry):
        return carry[0] < carry[1]

    def body_fn(carry):
        i, hi, val = carry
        return i + 1, hi, body_fun(i, val)
    lo = _as_operand(lower)
    hi = _as_operand(upper)
    dt = np.result_type(aval_of(lo).dtype, aval_of(hi).dtype)
    from .numpy import asarray
    _, _, val = while_loop(cond_fn, body_fn, (asarray(lo, dtype=dt), asarray(hi, dtype=dt),
                                              init_val))
    return val


def while_loop(cond_fun, body_fun, init_val, max_iter=None):
    """``while cond_fun(val): val = body_fun(val)``; returns ``val``. ``max_iter``: run at most
    that many iterations; with it the loop is differentiable in reverse mode (the backward pass
    stores at most ``max_iter`` steps); forward mode needs no bound."""
    if (tc := _tensor_loops(init_val)) is not None:
        return tc.while_loop(cond_fun, body_fun, init_val, max_iter)
    src = user_src_with_text(2)
    if max_iter is not None and (not isinstance(max_iter, (int, np.integer)) or max_iter < 0):
        raise ArgumentError(f"while_loop: max_iter must be a non-negative int, got {max_iter!r}",
                            src=src)
    leaves, td = tree_flatten(init_val)
    leaves = [_as_operand(x) for x in leaves]
    avals = [aval_of(x) for x in leaves]
    cgraph, ccap, c_td = _trace(cond_fun, [(td, avals)], "while_loop condition", src,
                                conditional=max_iter == 0)
    if cgraph.out_avals != [AVal((), dtypes.bool_)]:
        raise ShapeError("the while_loop condition must return one boolean scalar, returned "
                         f"{_fmt(cgraph.out_avals)}", src=src)
    bgraph, bcap, b_td = _trace(body_fun, [(td, avals)], "while_loop body", src,
                                conditional=True)
    _check_carry("the while_loop body", td, avals, b_td, bgraph.out_avals, src)
    from .loop_guard import guard_invariants  # raising invariants: once, if the loop runs
    bgraph, bcap = guard_invariants(cgraph, ccap, bgraph, bcap, leaves, max_iter, cond)
    outs = while_p.bind(*ccap, *bcap, *leaves, cond=cgraph, body=bgraph,
                        cond_nconsts=len(ccap), body_nconsts=len(bcap),
                        max_iter=None if max_iter is None else int(max_iter))
    return tree_unflatten(td, outs)


def switch(index, branches, *operands):
    """``branches[index](*operands)`` with a traced ``index`` (clamped into range, as
    ``jax.lax.switch``); every branch must return the same structure, shapes and dtypes.
    Only the taken branch runs; gradients flow through it."""
    if (tc := _tensor_loops(index, operands)) is not None:
        return tc.switch(index, branches, *operands)
    src = user_src_with_text(2)
    branches = list(branches)
    if not branches:
        raise ArgumentError("switch needs at least one branch", src=src)
    if not isinstance(index, Tracer):
        k = int(np.clip(int(np.asarray(index)), 0, len(branches) - 1))
        return branches[k](*operands)
    return _branches(index, branches, operands, src)


def cond(pred, true_fun, false_fun, *operands):
    """``true_fun(*operands) if pred else false_fun(*operands)`` with a traced ``pred`` (a
    boolean scalar); only the taken branch runs, gradients flow through it."""
    if (tc := _tensor_loops(pred, operands)) is not None:
        return tc.cond(pred, true_fun, false_fun, *operands)
    src = user_src_with_text(2)
    if not isinstance(pred, Tracer):
        return true_fun(*operands) if bool(np.asarray(pred)) else false_fun(*operands)
    if pred.aval.shape != ():
        raise ShapeError(f"cond: the predicate must be a scalar, got {pred.aval}; for "
                         "elementwise choices use np.where", src=src)
    from .numpy import not_equal
    index = not_equal(pred, 0) if pred.aval.dtype != dtypes.bool_ else pred
    return _branches(index, [false_fun, true_fun], operands, src)


def _branches(index, branches, operands, src):
    from .numpy import asarray, clip
    if index.aval.shape != ():
        raise ShapeError(f"switch: the index must be a scalar, got {index.aval}", src=src)
    index = clip(asarray(index).astype(np.int32), 0, len(branches) - 1) \
        if index.aval.dtype != dtypes.bool_ else asarray(index).astype(np.int32)
    leaves, td = tree_flatten(tuple(operands))
    leaves = [_as_operand(x) for x in leaves]
    avals = [aval_of(x) for x in leaves]
    graphs, caps, out_tds = [], [], []
    for k, b in enumerate(branches):
        g, cap, otd = _trace(lambda ops, b=b: b(*ops), [(td, avals)], f"branch {k}", src,
                             conditional=True)
        graphs.append(g)
        caps.append(cap)
        out_tds.append(otd)
    for k in range(1, len(graphs)):
        if out_tds[k] != out_tds[0] or graphs[k].out_avals != graphs[0].out_avals:
            raise ShapeError(
                f"every branch must return the same structure, shapes and dtypes: branch 0 "
                f"returns {out_tds[0]} {_fmt(graphs[0].out_avals)}, branch {k} returns "
                f"{out_tds[k]} {_fmt(graphs[k].out_avals)}", src=src)
    from .prims.control_rules import _share_captured
    graphs, captured = _share_captured(graphs, caps)
    outs = cond_p.bind(index, *captured, *leaves, branches=tuple(graphs))
    return tree_unflatten(out_tds[0], outs)


def checkpoint(f):
    """``tg.checkpoint(f)``: ``f`` with its intermediates recomputed in the backward pass instead
    of stored (as ``jax.checkpoint``): reverse mode keeps only ``f``'s inputs. Implemented as a
    one-step ``scan(..., checkpoint=1)``, whose reverse loop re-runs the step's forward from
    its own inputs, so no pass can merge the recomputation back into the forward."""
    import functools

    @functools.wraps(f)
    def recomputed(*args):
        if (tc := _tensor_loops(args)) is not None:
            return tc.checkpoint_call(f, args)
        src = user_src_with_text(2)
        leaves, td = tree_flatten(args)
        leaves = [_as_operand(x) for x in leaves]
        avals = [aval_of(x) for x in leaves]
        graph, captured, out_td = _trace(lambda a: f(*a), [(td, avals)],
                                         f"tg.checkpoint({getattr(f, '__name__', 'f')})", src)
        outs = scan_p.bind(*captured, *leaves, body=graph,
                           num_consts=len(captured) + len(leaves), num_carry=0, length=1,
                           reverse=False, checkpoint=1)
        from .numpy import reshape
        return tree_unflatten(out_td, [reshape(o, aval_of(o).shape[1:]) for o in outs])
    return recomputed


__all__ = ["checkpoint", "scan", "fori_loop", "while_loop", "cond", "switch"]
