"""Derivative rules of ``scan``, ``while`` and ``cond`` (declared in control.py beside this file).

Forward mode: the jvp of a loop is a loop whose carry also holds the tangents (``jvp_full``: one
equation computes both). Reverse mode of ``scan`` (``vjp_fwd``): the body's forward sweep is
traced into the forward loop's body and its backward sweep into a reverse loop's body, with the
second trace opened inside the first, so every forward value the backward reads is *captured*:
those values are the residuals. A residual that is a loop constant, or computed from constants
only (hoisted out of the loop), is passed to the reverse loop as a constant; an ``xs`` slice is
re-read from ``xs``; a carry's start-of-step value is read from a stack of its end-of-step values
at the step before (the user's ``ys`` when one is the carry; control_shift.py), so no sequence is
stacked twice; anything else is stacked per step as an extra output of the forward loop.
``while`` with ``max_iter`` is differentiated as the scan of ``max_iter`` guarded steps it equals;
``cond`` differentiates the taken branch (a ``cond`` over the branches' derivatives).

The graph-building machinery (trace scopes, the autodiff sweeps) is reached through
``primitive.GRAPH_TRANSFORMS``, installed by the tracing layer and the autodiff pass.
"""
from __future__ import annotations

from .. import dtypes
from ..errors import GradientError
from ..interpreter import eval_graph
from ..ir import Graph, Lit, Var
from ..primitive import GRAPH_TRANSFORMS as G
from ..primitive import defjvp, defjvp_full, defvjp, defvjp_fwd, eqn_may_raise
from . import ops
from .control_shift import stacked_source, start_of_step, step_inputs


def _float(aval) -> bool:
    return dtypes.is_float(aval.dtype)


def _array(x):
    """A literal operand as a 0-d value of the trace (rules index and stack operands)."""
    return ops.full((), x.value, x.aval.dtype) if isinstance(x, Lit) else x


def _zeros(aval):
    return ops.full(aval.shape, 0, aval.dtype)


def trace_graph(fn, in_avals, name: str) -> tuple[Graph, list]:
    """Trace ``fn(list of inputs) -> list of outputs`` into a closed graph whose inputs are the
    values it captured from enclosing traces followed by ``in_avals``; returns
    ``(graph, captured values)``."""
    with G.TraceContext(name) as ctx:
        ins = [ctx.new_input(a) for a in in_avals]
        outs = fn(ins)
        graph, captured = ctx.to_graph(list(outs))
    n = len(in_avals)
    inputs = graph.inputs[n:] + graph.inputs[:n]  # captured values act as leading constants
    return Graph(inputs, graph.eqns, graph.outputs), captured


def _bind(prim, args, **params) -> list:
    return list(prim.bind(*args, **params))


def _avals(xs):
    return [ops.aval_of(x) for x in xs]


# --- scan: forward mode ------------------------------------------------------------------------
def _scan_jvp_full(primals, tangents, *, body, num_consts, num_carry, length, reverse,
                   checkpoint):
    nc, nk = num_consts, num_carry
    primals = [_array(p) for p in primals]
    avals = _avals(primals)
    nz = [t is not None and _float(a) for t, a in zip(tangents, avals)]
    for i in range(nc, nc + nk):  # a carry's tangent can become nonzero in any step
        nz[i] = _float(avals[i])
    groups = [range(0, nc), range(nc, nc + nk), range(nc + nk, len(primals))]
    y_float = [_float(a) for a in body.out_avals[nk:]]

    order = []  # new operand order: each group's primals, then its tangents
    for grp in groups:
        order += [(i, False) for i in grp] + [(i, True) for i in grp if nz[i]]
    in_avals = [body.in_avals[i] for i, _ in order]

    def jvp_body(ins):
        ps, ts = [None] * len(primals), [None] * len(primals)
        for (i, is_t), v in zip(order, ins):
            (ts if is_t else ps)[i] = v
        outs, out_ts = G.jvp_inline(body, ps, ts)
        carry_t = [ops.instantiate(out_ts[j], outs[j]) for j in range(nk) if nz[nc + j]]
        ys_t = [ops.instantiate(out_ts[nk + j], outs[nk + j])
                for j in range(len(y_float)) if y_float[j]]
        return outs[:nk] + carry_t + outs[nk:] + ys_t

    new_body, captured = trace_graph(jvp_body, in_avals, "scan jvp body")
    args = list(captured)
    for i, is_t in order:
        args.append(ops.instantiate(tangents[i], primals[i]) if is_t else primals[i])
    n_ct = sum(nz[:nc])
    n_kt = sum(nz[nc:nc + nk])
    res = _bind(scan_p, args, body=new_body, num_consts=len(captured) + nc + n_ct,
                         num_carry=nk + n_kt, length=length, reverse=reverse,
                         checkpoint=checkpoint)
    carry, carry_t = res[:nk], iter(res[nk:nk + n_kt])
    rest = res[nk + n_kt:]
    ny = len(y_float)
    ys, ys_t = rest[:ny], iter(rest[ny:])
    out_ts = [next(carry_t) if nz[nc + j] else None for j in range(nk)]
    out_ts += [next(ys_t) if y_float[j] else None for j in range(ny)]
    return carry + ys, out_ts


def _scan_jvp(primals, tangents, outs, **params):
    return _scan_jvp_full(primals, tangents, **params)[1]


# --- scan: reverse mode ------------------------------------------------------------------------
def _invariant_eqns(graph: Graph, const_inputs, surely_runs: bool) -> list:
    """Equations of ``graph`` whose operands are all loop constants (or computed from them).
    Unless the body ``surely_runs`` (a scan of at least one step), those that may raise are
    left in it: a loop of zero steps must not run them (tests/test_hoist_raising.py)."""
    inv = {id(v) for v in const_inputs}
    out = []
    for e in graph.eqns:
        if all(isinstance(a, Lit) or id(a) in inv for a in e.inputs) and (
                surely_runs or not eqn_may_raise(e)):
            out.append(e)
            inv.update(id(o) for o in e.outputs)
    return out


def _scan_vjp_fwd(primals, *, body, num_consts, num_carry, length, reverse, checkpoint):
    nc, nk = num_consts, num_carry
    primals = [_array(p) for p in primals]
    consts, init, xs = primals[:nc], primals[nc:nc + nk], primals[nc + nk:]
    body = G.unfuse(body)
    if checkpoint == 1 or (checkpoint > 1 and length > checkpoint):  # recompute, don't store
        from .control_remat import scan_vjp_remat, scan_vjp_segments
        if checkpoint == 1:
            return scan_vjp_remat(primals, body=body, num_consts=nc, num_carry=nk,
                                  length=length, reverse=reverse)
        return scan_vjp_segments(primals, body=body, num_consts=nc, num_carry=nk,
                                 length=length, reverse=reverse, checkpoint=checkpoint)
    wrt = [i for i, a in enumerate(body.in_avals) if _float(a)]
    float_outs = [j for j, a in enumerate(body.out_avals) if _float(a)]

    # trace the body's forward sweep (F) and, inside it, its backward sweep (B)
    with G.TraceContext("scan forward body") as F:
        f_ins = [F.new_input(a) for a in body.in_avals]
        env, res = G.forward_sweep(body, f_ins)
        f_outs = [a if isinstance(a, Lit) else env[id(a)] for a in body.outputs]
        with G.TraceContext("scan backward body") as B:
            b_cts = [B.new_input(body.out_avals[j]) for j in float_outs]
            cts = [None] * len(body.outputs)
            for j, c in zip(float_outs, b_cts):
                cts[j] = c
            grads = G.backward_sweep(body, env, res, cts, wrt)
            b_graph, b_captured = B.to_graph(grads)
        # classify each captured value: where the reverse loop gets it from
        f_in_pos = {id(t._var): i for i, t in enumerate(f_ins)}
        kinds = []
        for t in b_captured:
            i = f_in_pos.get(id(t._var)) if getattr(t, "_ctx", None) is F else None
            if getattr(t, "_ctx", None) is not F:
                kinds.append(("outer", t))
            elif i is not None and i < nc:
                kinds.append(("const", i))
            elif i is not None and i >= nc + nk:
                kinds.append(("x", i - nc - nk))
            else:
                kinds.append(("step", t))
        step_tracers = [v for k, v in kinds if k == "step"]
        f_graph, f_captured = F.to_graph(list(f_outs) + step_tracers)
    assert not f_captured, "a scan body captured a value of an enclosing trace"

    # hoist what depends on loop constants only out of the forward loop
    const_vars = f_graph.inputs[:nc]
    hoisted = _invariant_eqns(f_graph, const_vars, surely_runs=length > 0)
    hoisted_ids = {id(e) for e in hoisted}
    kept = [e for e in f_graph.eqns if id(e) not in hoisted_ids]
    defined_by_hoist = {id(o): o for e in hoisted for o in e.outputs}
    used = set()
    for e in kept:
        used.update(id(a) for a in e.inputs if isinstance(a, Var))
    used.update(id(a) for a in f_graph.outputs if isinstance(a, Var))
    hoist_out = [v for i, v in defined_by_hoist.items() if i in used]
    hoist_graph = Graph(tuple(const_vars), tuple(hoisted), tuple(hoist_out))
    hoisted_vals = eval_graph(hoist_graph, consts) if hoist_out else []
    n_f_out = len(f_outs)
    # step residuals that turned out loop-invariant are passed as constants, not stacked
    step_pos = {}
    stacked = []
    for k, (kind, v) in enumerate(kinds):
        if kind == "step":
            atom = f_graph.outputs[n_f_out + len(step_pos)]
            step_pos[k] = atom
    invariant_res = {k: a for k, a in step_pos.items()
                     if isinstance(a, Var) and (id(a) in defined_by_hoist or
                                                any(a is c for c in const_vars))}
    variant = {k: a for k, a in step_pos.items() if k not in invariant_res}
    # a carry's start-of-step value is read shifted from a stack of its end-of-step values: the
    # user's ys when one is that value, else that stack is made (promoted) in its place, where
    # the cheap recomputation below can read it too (tanh's 1 - h**2 from the stacked h)
    shifted, promoted = _shifted_carries(f_graph, nc, nk, n_f_out, variant)
    # residuals the reverse loop can recompute cheaply from what it has anyway are not stacked
    from .control_remat import cheap_residuals
    plan = cheap_residuals(f_graph, kept, nc, nk, n_f_out, hoist_out,
                           {k: a for k, a in variant.items()
                            if k not in shifted and isinstance(a, Var)}, promoted)
    remat_graph, remat_idx, remat_bases = plan if plan else (None, {}, [])
    stacked = promoted + [a for k, a in variant.items()
                          if k not in remat_idx and k not in shifted]
    f_body = Graph(tuple(const_vars) + tuple(hoist_out) + f_graph.inputs[nc:], tuple(kept),
                   tuple(f_graph.outputs[:n_f_out]) + tuple(stacked))
    fwd = _bind(scan_p, list(consts) + list(hoisted_vals) + list(init) + list(xs),
                body=f_body, num_consts=nc + len(hoist_out), num_carry=nk,
                length=length, reverse=reverse, checkpoint=checkpoint)
    ny = len(body.outputs) - nk
    outs, stacked_vals = fwd[:nk + ny], fwd[nk + ny:]
    promoted_vals, stacked_vals = stacked_vals[:len(promoted)], stacked_vals[len(promoted):]
    hoist_val = {id(v): val for v, val in zip(hoist_out, hoisted_vals)}
    const_val = {id(v): c for v, c in zip(const_vars, consts)}

    def backward(out_cts):
        fk = [j for j in float_outs if j < nk]          # float carries
        fy = [j for j in float_outs if j >= nk]          # float ys
        fc = [i for i in wrt if i < nc]                  # float constants
        fx = [i for i in wrt if i >= nc + nk]            # float xs
        ct_carry = [ops.instantiate(out_cts[j], outs[j]) for j in fk]
        ct_ys = [ops.instantiate(out_cts[j], outs[j]) for j in fy]
        # where each captured value comes from, as (operand group, value)
        b_consts, b_xs, slots = [], [], []
        for k, (kind, v) in enumerate(kinds):
            if kind == "outer":
                slots.append(("c", len(b_consts)))
                b_consts.append(v)
            elif kind == "const":
                slots.append(("c", len(b_consts)))
                b_consts.append(consts[v])
            elif kind == "x":
                slots.append(("x", len(b_xs)))
                b_xs.append(xs[v])
            elif k in invariant_res:
                a = invariant_res[k]
                slots.append(("c", len(b_consts)))
                b_consts.append(hoist_val[id(a)] if id(a) in hoist_val else const_val[id(a)])
            elif k in remat_idx:
                slots.append(("r", remat_idx[k]))
            elif k in shifted:  # the carry step k started from: a stack at the step before
                j, (src, key) = shifted[k]
                slots.append(("p", (len(b_consts), len(b_consts) + 1)))
                b_consts += [outs[nk + key] if src == "y" else promoted_vals[key], init[j]]
            else:
                slots.append(("s", None))
        base_slots = []  # the recomputation's inputs: stacked ys and xs per step, constants
        for kind, key in remat_bases:
            if kind in ("y", "x", "e"):
                base_slots.append(("x", len(b_xs)))
                b_xs.append(outs[nk + key] if kind == "y" else xs[key] if kind == "x"
                            else promoted_vals[key])
            else:
                base_slots.append(("c", len(b_consts)))
                b_consts.append(consts[key] if kind == "c" else hoist_val[id(key)])
        step_vals = list(stacked_vals)
        t_slot = len(b_xs)
        if shifted:
            b_xs.extend(step_inputs(length, reverse))
        nbc, nfk, nfc, nfy = len(b_consts), len(fk), len(fc), len(fy)
        n_step = len(step_vals)

        def reverse_body(ins):
            bc = ins[:nbc]
            ck = ins[nbc:nbc + nfk]
            acc = ins[nbc + nfk:nbc + nfk + nfc]
            rest = ins[nbc + nfk + nfc:]
            cy, steps, bx = rest[:nfy], rest[nfy:nfy + n_step], rest[nfy + n_step:]
            steps = iter(steps)
            remat = eval_graph(remat_graph, [bc[i] if g == "c" else bx[i]
                                             for g, i in base_slots]) if remat_graph else []
            captured_vals = []
            for group, idx in slots:
                if group == "p":
                    captured_vals.append(start_of_step(bc[idx[0]], bc[idx[1]], bx[t_slot],
                                                       bx[t_slot + 1]))
                    continue
                captured_vals.append(bc[idx] if group == "c" else bx[idx] if group == "x"
                                     else remat[idx] if group == "r" else next(steps))
            b_ct_in = []
            it_k, it_y = iter(ck), iter(cy)
            for j in float_outs:
                b_ct_in.append(next(it_k) if j < nk else next(it_y))
            g = eval_graph(b_graph, b_ct_in + captured_vals)
            gmap = dict(zip(wrt, g))
            new_ck = [gmap[nc + (j)] for j in fk]
            new_acc = [ops.elementwise("add", a, gmap[i]) for a, i in zip(acc, fc)]
            return new_ck + new_acc + [gmap[i] for i in fx]

        slice_avals = [ops.aval_of(v) for v in b_consts] + [ops.aval_of(c) for c in ct_carry] + \
            [ops.aval_of(consts[i]) for i in fc] + \
            [_slice_aval(v) for v in ct_ys] + [_slice_aval(v) for v in step_vals] + \
            [_slice_aval(v) for v in b_xs]
        rbody, captured = trace_graph(reverse_body, slice_avals, "scan reverse body")
        args = list(captured) + list(b_consts) + ct_carry + \
            [_zeros(ops.aval_of(consts[i])) for i in fc] + ct_ys + step_vals + b_xs
        res = _bind(scan_p, args, body=rbody,
                             num_consts=len(captured) + nbc, num_carry=nfk + nfc,
                             length=length, reverse=not reverse, checkpoint=0)
        ct_init, ct_consts, ct_xs = res[:nfk], res[nfk:nfk + nfc], res[nfk + nfc:]
        in_cts = [None] * len(primals)
        for j, c in zip(fk, ct_init):
            in_cts[nc + j] = c
        for i, c in zip(fc, ct_consts):
            in_cts[i] = c
        for i, c in zip(fx, ct_xs):
            in_cts[i] = c
        return in_cts

    return outs, backward


def _shifted_carries(f_graph: Graph, nc: int, nk: int, n_f_out: int, residuals: dict):
    """Which per-step ``residuals`` ({slot: atom}) of a scan's forward body are a carry's
    start-of-step value, to be read shifted from a stack of its end-of-step values
    (control_shift.py). Returns ``({slot: (carry, (kind, index))}, promoted)``: kind ``"y"``
    the index-th ys is that stack; ``"e"`` the index-th of ``promoted``, end-of-step values
    the forward loop stacks instead of the start-of-step ones (same size, and a base the
    cheap recomputation can read). A carry passed through unchanged is stacked as it is."""
    carry_in = {id(v): j for j, v in enumerate(f_graph.inputs[nc:nc + nk])}
    shifted, promoted = {}, []
    for k, a in residuals.items():
        j = carry_in.get(id(a)) if isinstance(a, Var) else None
        end = f_graph.outputs[j] if j is not None else None
        if end is None or not isinstance(end, Var) or id(end) in carry_in:
            continue
        src = stacked_source(end, f_graph.outputs[nk:n_f_out], promoted)
        if src is None:
            src = ("e", len(promoted))
            promoted.append(end)
        shifted[k] = (j, ("e" if src[0] == "s" else src[0], src[1]))
    return shifted, promoted


def _slice_aval(stacked):
    a = ops.aval_of(stacked)
    return a.update(shape=a.shape[1:])


def _scan_vjp(cts, primals, outs, **params):
    return _scan_vjp_fwd(primals, **params)[1](cts)


# --- while -------------------------------------------------------------------------------------
def _while_jvp_full(primals, tangents, *, cond, body, cond_nconsts, body_nconsts, max_iter):
    ncc, nbc = cond_nconsts, body_nconsts
    primals = [_array(p) for p in primals]
    avals = _avals(primals)
    cc, bc, init = primals[:ncc], primals[ncc:ncc + nbc], primals[ncc + nbc:]
    nk = len(init)
    bc_nz = [tangents[ncc + i] is not None and _float(avals[ncc + i]) for i in range(nbc)]
    k_nz = [_float(a) for a in avals[ncc + nbc:]]
    k_avals = avals[ncc + nbc:]
    kt_avals = [a for a, z in zip(k_avals, k_nz) if z]

    def cond_fn(ins):  # the tangents ride along unread
        return eval_graph(cond, ins[:ncc + nk])

    new_cond, cond_cap = trace_graph(cond_fn, avals[:ncc] + k_avals + kt_avals, "while jvp cond")
    bct_avals = [a for a, z in zip(avals[ncc:ncc + nbc], bc_nz) if z]

    def body_fn(ins):
        b, bt = ins[:nbc], iter(ins[nbc:nbc + len(bct_avals)])
        k = ins[nbc + len(bct_avals):nbc + len(bct_avals) + nk]
        kt = iter(ins[nbc + len(bct_avals) + nk:])
        ps = list(b) + list(k)
        ts = [next(bt) if z else None for z in bc_nz] + [next(kt) if z else None for z in k_nz]
        outs, out_ts = G.jvp_inline(body, ps, ts)
        return outs + [ops.instantiate(t, o) for t, o, z in zip(out_ts, outs, k_nz) if z]

    new_body, body_cap = trace_graph(body_fn, avals[ncc:ncc + nbc] + bct_avals + k_avals +
                                     kt_avals, "while jvp body")
    args = list(cond_cap) + list(cc) + list(body_cap) + list(bc) + \
        [tangents[ncc + i] for i in range(nbc) if bc_nz[i]] + list(init) + \
        [ops.instantiate(tangents[ncc + nbc + j], init[j]) for j in range(nk) if k_nz[j]]
    res = _bind(while_p, args, cond=new_cond, body=new_body,
                         cond_nconsts=len(cond_cap) + ncc,
                         body_nconsts=len(body_cap) + nbc + len(bct_avals), max_iter=max_iter)
    outs, kt = res[:nk], iter(res[nk:])
    return outs, [next(kt) if z else None for z in k_nz]


def _while_jvp(primals, tangents, outs, **params):
    return _while_jvp_full(primals, tangents, **params)[1]


def _while_as_scan(primals, cond, body, cond_nconsts, body_nconsts, max_iter):
    """The scan of ``max_iter`` guarded steps equal to this while loop: the carry gains an
    ``active`` flag; a step runs the body (a ``cond``) only while the flag and the condition
    hold. Returns the scan's operands and parameters."""
    ncc, nbc = cond_nconsts, body_nconsts
    avals = _avals(primals)
    nk = len(primals) - ncc - nbc
    k_avals = avals[ncc + nbc:]
    bool_aval = ops.aval_of(ops.full((), True, dtypes.bool_))

    def identity_branch(ins):
        return list(ins[nbc:])

    def body_branch(ins):
        return eval_graph(body, list(ins))

    skip, _ = trace_graph(identity_branch, avals[ncc:ncc + nbc] + k_avals, "while skip")
    step, _ = trace_graph(body_branch, avals[ncc:ncc + nbc] + k_avals, "while step")

    def scan_body(ins):
        c, b = ins[:ncc], ins[ncc:ncc + nbc]
        k, active = ins[ncc + nbc:ncc + nbc + nk], ins[ncc + nbc + nk]
        go = ops.elementwise("and", active, eval_graph(cond, list(c) + list(k))[0])
        idx = ops.convert(go, dtypes.int32)
        new_k = _bind(cond_p, [idx] + list(b) + list(k), branches=(skip, step))
        return list(new_k) + [go]

    sbody, cap = trace_graph(scan_body, avals[:ncc + nbc] + k_avals + [bool_aval],
                             "while as scan")
    operands = list(cap) + list(primals) + [ops.full((), True, dtypes.bool_)]
    params = dict(body=sbody, num_consts=len(cap) + ncc + nbc, num_carry=nk + 1,
                  length=max_iter, reverse=False, checkpoint=0)
    return operands, params, len(cap)


def _while_vjp_fwd(primals, *, cond, body, cond_nconsts, body_nconsts, max_iter):
    if max_iter is None:
        raise GradientError(
            "reverse-mode differentiation of tg.while_loop needs a bound on its iterations: "
            "pass max_iter=N (the loop then runs at most N times, and its backward pass stores "
            "at most N steps); forward mode (tg.jvp) needs no bound")
    primals = [_array(p) for p in primals]
    operands, params, ncap = _while_as_scan(primals, cond, body, cond_nconsts, body_nconsts,
                                            max_iter)
    outs, backward = _scan_vjp_fwd(operands, **params)
    nk = len(primals) - cond_nconsts - body_nconsts

    def while_backward(cts):
        in_cts = backward(list(cts) + [None])
        return in_cts[ncap:ncap + len(primals)]
    return outs[:nk], while_backward


def _while_vjp(cts, primals, outs, **params):
    return _while_vjp_fwd(primals, **params)[1](cts)


# --- cond --------------------------------------------------------------------------------------
def _cond_jvp_full(primals, tangents, *, branches):
    index, ops_in = _array(primals[0]), [_array(p) for p in primals[1:]]
    t_in = tangents[1:]
    avals = _avals(ops_in)
    nz = [t is not None and _float(a) for t, a in zip(t_in, avals)]
    out_float = [_float(a) for a in branches[0].out_avals]
    t_avals = [a for a, z in zip(avals, nz) if z]

    def branch_jvp(branch):
        def fn(ins):
            ps, ts = ins[:len(ops_in)], iter(ins[len(ops_in):])
            outs, out_ts = G.jvp_inline(branch, list(ps), [next(ts) if z else None for z in nz])
            return outs + [ops.instantiate(t, o) for t, o, f in zip(out_ts, outs, out_float)
                           if f]
        return fn

    new, caps = [], []
    for b in branches:
        g, cap = trace_graph(branch_jvp(b), avals + t_avals, "cond jvp branch")
        new.append(g)
        caps.append(cap)
    new, captured = _share_captured(new, caps)
    args = [index] + captured + ops_in + [t for t, z in zip(t_in, nz) if z]
    res = _bind(cond_p, args, branches=tuple(new))
    n = len(out_float)
    outs, ts = res[:n], iter(res[n:])
    return outs, [next(ts) if f else None for f in out_float]


def _cond_jvp(primals, tangents, outs, **params):
    return _cond_jvp_full(primals, tangents, **params)[1]


def _share_captured(graphs, caps):
    """Branches traced separately capture different values; give every branch all of them
    (leading inputs, unused where a branch did not capture it). Returns (graphs, values)."""
    values, out = [], []
    for cap in caps:
        values.extend(cap)
    for k, (g, cap) in enumerate(zip(graphs, caps)):
        n = len(cap)
        lead = []
        for j, other in enumerate(caps):
            if j == k:
                lead.extend(g.inputs[:n])
            else:
                lead.extend(Var(ops.aval_of(v)) for v in other)
        out.append(Graph(tuple(lead) + g.inputs[n:], g.eqns, g.outputs))
    return out, values


def _cond_vjp(cts, primals, outs, *, branches):
    """The taken branch's vjp: a ``cond`` over each branch's backward (which recomputes that
    branch's forward from the operands)."""
    index, ops_in = _array(primals[0]), [_array(p) for p in primals[1:]]
    avals = _avals(ops_in)
    wrt = [i for i, a in enumerate(avals) if _float(a)]
    out_avals = branches[0].out_avals
    out_float = [j for j, a in enumerate(out_avals) if _float(a)]
    ct_vals = [ops.instantiate(cts[j], outs[j]) for j in out_float]

    def branch_vjp(branch):
        def fn(ins):
            ps, cs = list(ins[:len(ops_in)]), iter(ins[len(ops_in):])
            full = [next(cs) if _float(a) else None for a in out_avals]
            _, g = G.vjp_inline(branch, ps, full, wrt)
            return g
        return fn

    new, caps = [], []
    for b in branches:
        g, cap = trace_graph(branch_vjp(b), avals + [out_avals[j] for j in out_float],
                             "cond vjp branch")
        new.append(g)
        caps.append(cap)
    new, captured = _share_captured(new, caps)
    res = _bind(cond_p, [index] + captured + ops_in + ct_vals, branches=tuple(new))
    in_cts = [None] * len(primals)
    for i, c in zip(wrt, res):
        in_cts[1 + i] = c
    return in_cts


from .control import cond_p, scan_p, while_p  # noqa: E402  (declared first, then the rules)

defjvp_full(scan_p, _scan_jvp_full)
defjvp(scan_p, _scan_jvp)
defvjp_fwd(scan_p, _scan_vjp_fwd)
defvjp(scan_p, _scan_vjp)
defjvp_full(while_p, _while_jvp_full)
defjvp(while_p, _while_jvp)
defvjp_fwd(while_p, _while_vjp_fwd)
defvjp(while_p, _while_vjp)
defjvp_full(cond_p, _cond_jvp_full)
defjvp(cond_p, _cond_jvp)
defvjp(cond_p, _cond_vjp)
