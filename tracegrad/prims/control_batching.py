"""Batching rules (vmap) of ``scan``, ``while`` and ``cond`` (declared in control.py).

``scan``: the body is batched (the carry always carries the examples); a batched ``xs`` has
its example axis moved behind the step axis and back for the ``ys``.
``while``: every example runs in the same loop, which continues while *any* example's condition
holds; an example whose condition fails keeps its carry (a ``where``), so each example sees
exactly its own iterations (``max_iter`` still caps each).
``cond`` with a shared index: one ``cond`` over batched branches. With an index per example:
when the branches are small and hold no loops nor anything that can raise, every branch runs
on all examples and a ``where`` picks each example's result (visible in the dump as ``where``);
otherwise a ``scan`` over the examples runs each one's branch alone (visible as a ``scan``), so
a branch that is expensive, would not terminate, or would raise on another example's values
(an index out of range for it) is never run needlessly.
"""
from __future__ import annotations

from .. import dtypes
from ..primitive import GRAPH_TRANSFORMS as G, defbatch, eqn_may_raise
from . import ops
from .batching import batch_by_loop, with_batch

# a batched index runs every branch on all examples when they hold at most this many equations
# (and no loops): cheaper than a loop over the examples, and never runs anything unbounded
SELECT_BRANCHES_MAX_EQNS = 64


def _swap01(x):
    nd = len(ops.shape_of(x))
    return ops.transpose(x, (1, 0) + tuple(range(2, nd)))


def _batch_scan(args, batched, size, *, body, num_consts, num_carry, length, reverse,
                checkpoint):
    from .control import scan_p
    nc, nk = num_consts, num_carry
    flags = list(batched[:nc]) + [True] * nk + list(batched[nc + nk:])
    new_body = G.batch_graph(body, flags, size)  # every output batched
    consts = list(args[:nc])
    carry = [with_batch(a, b, size) for a, b in zip(args[nc:nc + nk], batched[nc:nc + nk])]
    # a batched xs is (examples, steps, ...): the loop walks the steps, so swap the two
    xs = [_swap01(a) if b else a for a, b in zip(args[nc + nk:], batched[nc + nk:])]
    # the body's x inputs are batched only where xs was; G.batch_graph saw that in ``flags``
    outs = scan_p.bind(*consts, *carry, *xs, body=new_body, num_consts=nc, num_carry=nk,
                       length=length, reverse=reverse, checkpoint=checkpoint)
    return list(outs[:nk]) + [_swap01(y) for y in outs[nk:]]


def _any(pred):
    """True when any example's predicate holds (a bool[] scalar of a bool[B] vector)."""
    as_int = ops.convert(pred, dtypes.int32)
    return ops.elementwise("gt", ops.reduce_max(as_int, (0,)), 0)


def _keep_where(pred, new, old):
    shape = ops.shape_of(new)
    mask = ops.broadcast_in_dim(pred, shape, (0,)) if len(shape) > 1 else pred
    return ops.select(mask, new, old)


def _batch_while(args, batched, size, *, cond, body, cond_nconsts, body_nconsts, max_iter):
    from .control import while_p
    from .control_rules import trace_graph
    ncc, nbc = cond_nconsts, body_nconsts
    cc, bc = list(args[:ncc]), list(args[ncc:ncc + nbc])
    cc_b, bc_b = list(batched[:ncc]), list(batched[ncc:ncc + nbc])
    carry = [with_batch(a, b, size) for a, b in zip(args[ncc + nbc:], batched[ncc + nbc:])]
    nk = len(carry)
    cond_b = G.batch_graph(cond, cc_b + [True] * nk, size)
    body_b = G.batch_graph(body, bc_b + [True] * nk, size)
    c_avals = [ops.aval_of(a) for a in cc] + [ops.aval_of(a) for a in carry]

    def any_cond(ins):
        from ..interpreter import eval_graph
        return [_any(eval_graph(cond_b, list(ins))[0])]

    raising = any(eqn_may_raise(e) for e in body.eqns)

    def guarded_body(ins):
        from ..interpreter import eval_graph
        c, b, k = ins[:ncc], ins[ncc:ncc + nbc], ins[ncc + nbc:]
        go = eval_graph(cond_b, list(c) + list(k))[0]
        b_in, k_in = list(b), list(k)
        if raising:  # never past an example's own end: its next step could raise there
            b_in = _going_values(go, b_in, bc_b)
            k_in = _going_values(go, k_in, [True] * nk)
        new = eval_graph(body_b, b_in + k_in)
        return [_keep_where(go, n, o) for n, o in zip(new, k)]

    new_cond, cap_c = trace_graph(any_cond, c_avals, "vmap while condition")
    new_body, cap_b = trace_graph(guarded_body, c_avals[:ncc] + [ops.aval_of(a) for a in bc] +
                                  c_avals[ncc:], "vmap while body")
    return list(while_p.bind(*cap_c, *cc, *cap_b, *cc, *bc, *carry, cond=new_cond,
                             body=new_body, cond_nconsts=len(cap_c) + ncc,
                             body_nconsts=len(cap_b) + ncc + nbc, max_iter=max_iter))


def _going_values(go, values, flags):
    """``values`` (batched where ``flags``) with each finished example's entries replaced by
    those of the first example still going: a body that may raise (an index out of range once
    an example is past its end) then runs only steps some example really takes, all examples
    at once; the finished ones' results are dropped by ``_keep_where``."""
    first = ops.reshape(ops.argmax(ops.convert(go, dtypes.int32), 0), (1,))  # one that goes
    out = []
    for v, batched in zip(values, flags):
        if batched:
            shape = ops.shape_of(v)
            row = ops.broadcast_in_dim(ops.gather(v, first), shape, tuple(range(1, len(shape))))
            v = _keep_where(go, v, row)
        out.append(v)
    return out


def _small_and_loop_free(branches) -> bool:
    """Whether every branch may run on every example: small, no loops, and nothing that can
    raise on another example's values (an index out of range for it: eqn_may_raise)."""
    total = 0
    for g in branches:
        for e in g.eqns:
            if e.prim.kind in ("control", "custom") or eqn_may_raise(e):
                return False
        total += len(g.eqns)
    return total <= SELECT_BRANCHES_MAX_EQNS


def _batch_cond(args, batched, size, *, branches):
    from .control import cond_p
    index, ops_in, flags = args[0], list(args[1:]), list(batched[1:])
    if not batched[0]:
        new = tuple(G.batch_graph(b, flags, size) for b in branches)
        return list(cond_p.bind(index, *ops_in, branches=new))
    if not _small_and_loop_free(branches):
        return batch_by_loop(cond_p)(args, batched, size, branches=branches)
    from ..interpreter import eval_graph
    results = [eval_graph(G.batch_graph(b, flags, size), ops_in) for b in branches]
    out = results[-1]
    for k in range(len(branches) - 2, -1, -1):  # index clamped: <= 0 is branch 0
        pick = ops.elementwise("le" if k == 0 else "eq", index, k)
        out = [_keep_where(pick, r, o) for r, o in zip(results[k], out)]
    return out


from .control import cond_p, scan_p, while_p  # noqa: E402  (declared first, then the rules)

defbatch(scan_p, _batch_scan)
defbatch(while_p, _batch_while)
defbatch(cond_p, _batch_cond)
