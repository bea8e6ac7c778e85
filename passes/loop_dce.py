"""Dead code in loops and branches: given which outputs of a ``scan`` / ``while`` / ``cond``
equation are used, drop the others with everything only they needed: unused ``ys``, carries
that no used output (nor the ``while`` condition) depends on, constants and ``xs`` the body no
longer reads, and dead equations inside the bodies (``dce`` run on each, so nested loops are
pruned the same way). The layouts are those of tracegrad/prims/control.py.

``prune(eqn, live)`` returns the smaller equation (same outer Vars for the kept outputs), or
``None`` when no output is used: loops are pure (no effects), so an unused loop disappears.
(A ``while`` without ``max_iter`` that would never stop disappears too: its non-termination
was not an observable result.) The equation is returned as it is, params dict included, when
nothing can go.
"""
from __future__ import annotations

from tracegrad.ir import Eqn, Graph, Var
from tracegrad.prims import cond_p, scan_p, while_p


def _used_inputs(graph: Graph) -> set[int]:
    """Positions of ``graph``'s inputs read by its equations or returned."""
    read = {id(a) for e in graph.eqns for a in e.inputs if isinstance(a, Var)}
    read |= {id(a) for a in graph.outputs if isinstance(a, Var)}
    return {i for i, v in enumerate(graph.inputs) if id(v) in read}


def _restrict(graph: Graph, keep_in, keep_out, dce) -> Graph:
    """``graph`` with only the inputs at ``keep_in`` and outputs at ``keep_out`` (positions,
    in order), dead equations dropped; the same object when everything is kept."""
    if len(keep_in) == len(graph.inputs) and len(keep_out) == len(graph.outputs):
        return dce(graph)
    g = Graph(tuple(graph.inputs[i] for i in keep_in), graph.eqns,
              tuple(graph.outputs[i] for i in keep_out), graph.meta)
    return dce(g)


def _live_carries(body: Graph, nc: int, nk: int, live_out: set[int], dce,
                  extra: set[int] = frozenset()) -> tuple[set[int], Graph]:
    """Carries (positions 0..nk-1) to keep: those whose final value is used (``live_out``
    holds body output positions), those ``extra`` names (read by a while condition), and every
    carry a kept body output reads, to a fixed point. Returns them and the body pruned to the
    live outputs (all inputs still present)."""
    carries = {i for i in live_out if i < nk} | set(extra)
    while True:
        outs = sorted(carries | {i for i in live_out if i >= nk})
        pruned = _restrict(body, range(len(body.inputs)), outs, dce)
        used = _used_inputs(pruned)
        more = {i - nc for i in used if nc <= i < nc + nk} - carries
        if not more:
            return carries, pruned
        carries |= more


def _prune_scan(e: Eqn, live: set[int], dce) -> Eqn | None:
    p = e.params
    body, nc, nk = p["body"], p["num_consts"], p["num_carry"]
    carries, pruned = _live_carries(body, nc, nk, live, dce)
    ys = sorted(j for j in live if j >= nk)
    keep_out = sorted(carries) + ys
    used = _used_inputs(pruned)
    consts = [i for i in range(nc) if i in used]
    xs = [i for i in range(nc + nk, len(body.inputs)) if i in used]
    keep_in = consts + [nc + k for k in sorted(carries)] + xs
    if not keep_out:
        return None
    if len(keep_in) == len(body.inputs) and len(keep_out) == len(body.outputs):
        new_body = dce(body)
        if new_body is body:
            return e
        return e.replace(params={**p, "body": new_body})
    new_body = _restrict(body, keep_in, keep_out, dce)
    params = {**p, "body": new_body, "num_consts": len(consts), "num_carry": len(carries)}
    return Eqn(e.prim, tuple(e.inputs[i] for i in keep_in), params,
               tuple(e.outputs[i] for i in keep_out), e.src)


def _prune_while(e: Eqn, live: set[int], dce) -> Eqn | None:
    p = e.params
    cond, body = p["cond"], p["body"]
    ncc, nbc = p["cond_nconsts"], p["body_nconsts"]
    nk = len(e.outputs)
    if not live:
        return None
    cond = dce(cond)
    cond_reads = {i - ncc for i in _used_inputs(cond) if i >= ncc}
    # the body pruned to the kept carries' outputs (all of them: dce(body) when every one stays)
    carries, new_body = _live_carries(body, nbc, nk, set(live), dce, cond_reads)
    if len(carries) == nk and set(range(ncc)) <= _used_inputs(cond) and \
            set(range(nbc)) <= _used_inputs(new_body):
        # every carry and constant stays (constants go unread once hoist moves out what read
        # them): only dead code inside the graphs can go
        if new_body is body and cond is p["cond"]:
            return e
        return e.replace(params={**p, "cond": cond, "body": new_body})
    ks = sorted(carries)
    new_cond = _restrict(cond, range(ncc + nk), [0], dce)
    cused, bused = _used_inputs(new_cond), _used_inputs(new_body)
    cc = [i for i in range(ncc) if i in cused]
    bc = [i for i in range(nbc) if i in bused]
    new_cond = _restrict(new_cond, cc + [ncc + k for k in ks], [0], dce)
    new_body = _restrict(new_body, bc + [nbc + k for k in ks], range(len(ks)), dce)
    params = {**p, "cond": new_cond, "body": new_body, "cond_nconsts": len(cc),
              "body_nconsts": len(bc)}
    inputs = ([e.inputs[i] for i in cc] + [e.inputs[ncc + i] for i in bc] +
              [e.inputs[ncc + nbc + k] for k in ks])
    return Eqn(e.prim, tuple(inputs), params, tuple(e.outputs[k] for k in ks), e.src)


def _prune_cond(e: Eqn, live: set[int], dce) -> Eqn | None:
    if not live:
        return None
    branches = e.params["branches"]
    outs = sorted(live)
    pruned = [_restrict(b, range(len(b.inputs)), outs, dce) for b in branches]
    used = set().union(*(_used_inputs(b) for b in pruned))
    keep_in = sorted(used)
    if len(outs) == len(e.outputs) and len(keep_in) == len(e.inputs) - 1:
        if all(a is b for a, b in zip(pruned, branches)):
            return e
        return e.replace(params={**e.params, "branches": tuple(pruned)})
    new = tuple(_restrict(b, keep_in, range(len(outs)), dce) for b in pruned)
    return Eqn(e.prim, (e.inputs[0],) + tuple(e.inputs[1 + i] for i in keep_in),
               {**e.params, "branches": new}, tuple(e.outputs[i] for i in outs), e.src)


PRUNERS = {scan_p: _prune_scan, while_p: _prune_while, cond_p: _prune_cond}


def prune(e: Eqn, live: set[int], dce) -> Eqn | None:
    """``e`` (a control equation) keeping the outputs at positions ``live``; ``dce`` is the
    dead-code pass run on the bodies. A control primitive without a pruner is kept whole."""
    fn = PRUNERS.get(e.prim)
    if fn is None:
        return e if live else None
    return fn(e, live, dce)
