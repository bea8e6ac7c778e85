"""Reverse mode of ``scan`` that recomputes instead of storing (``scan(..., checkpoint=k)``,
``tg.checkpoint``).

``checkpoint=1``: the forward loop stacks only each step's input carry; the reverse loop's body
re-runs the step's forward from that carry (traced from its *own* inputs, so nothing it computes
can be shared with the forward loop) and pulls the cotangents back through it. Memory: T carries.

``checkpoint=k > 1``: the T steps are split into T // k segments of k steps and a tail of
T % k steps. The segments run as an outer scan with ``checkpoint=1`` whose step is an inner scan
of k steps (stored residuals): the outer loop keeps T / k segment-start carries, and the
backward of one segment recomputes its k steps with their residuals, which live only while that
segment is differentiated. Memory O(T / k + k) carries (k = sqrt(T): 2 sqrt(T)).
"""
from __future__ import annotations

from ..ir import Graph, Lit, Var
from ..primitive import GRAPH_TRANSFORMS as G
from . import ops
from .control_shift import stacked_source, start_of_step, step_inputs


def scan_vjp_remat(primals, *, body, num_consts, num_carry, length, reverse):
    """``vjp_fwd`` of a scan that stores each step's input carry and recomputes the step."""
    from .control import scan_p
    from .control_rules import _bind, _float, _slice_aval, _zeros, trace_graph
    nc, nk = num_consts, num_carry
    consts, xs = primals[:nc], primals[nc + nk:]
    ins = body.in_avals
    wrt = [i for i, a in enumerate(ins) if _float(a)]
    float_outs = [j for j, a in enumerate(body.out_avals) if _float(a)]
    # forward: the body, also emitting its input carry as a per-step output, unless the carry's
    # end-of-step value is a ys already (then step t's carry is that ys shifted: control_shift)
    ys_outs = body.outputs[nk:]
    source = [stacked_source(body.outputs[j], ys_outs, ()) for j in range(nk)]
    own = [j for j in range(nk) if source[j] is None]
    stacking = Graph(body.inputs, body.eqns,
                     tuple(body.outputs) + tuple(body.inputs[nc + j] for j in own))
    fwd = _bind(scan_p, list(primals), body=stacking, num_consts=nc, num_carry=nk,
                length=length, reverse=reverse, checkpoint=1)
    ny = len(body.outputs) - nk
    outs, own_stacks = fwd[:nk + ny], iter(fwd[nk + ny:])
    # per carry: (stack of its own start values) or (stack of end values, init) read shifted
    carries = [(next(own_stacks), None) if source[j] is None else
               (outs[nk + source[j][1]], primals[nc + j]) for j in range(nk)]
    shifted = any(src is not None for src in source)

    def backward(out_cts):
        fk = [j for j in float_outs if j < nk]
        fy = [j for j in float_outs if j >= nk]
        fc = [i for i in wrt if i < nc]
        fx = [i for i in wrt if i >= nc + nk]
        ct_carry = [ops.instantiate(out_cts[j], outs[j]) for j in fk]
        ct_ys = [ops.instantiate(out_cts[j], outs[j]) for j in fy]
        nx = len(xs)

        # shifted carries: the end-of-step stack and the init as constants, plus step indices
        shift_consts = [v for stack, init in carries if init is not None for v in (stack, init)]
        own_xs = [stack for stack, init in carries if init is None]
        ns = len(shift_consts)

        def reverse_body(r):
            c, sc = r[:nc], iter(r[nc:nc + ns])
            r = r[:nc] + r[nc + ns:]
            ck, acc = r[nc:nc + len(fk)], r[nc + len(fk):nc + len(fk) + len(fc)]
            rest = r[nc + len(fk) + len(fc):]
            cy, own_k = rest[:len(fy)], iter(rest[len(fy):len(fy) + len(own_xs)])
            x = rest[len(fy) + len(own_xs):len(fy) + len(own_xs) + nx]
            t = rest[-2:] if shifted else None
            k = [next(own_k) if init is None else start_of_step(next(sc), next(sc), *t)
                 for _, init in carries]
            cts = [None] * len(body.outputs)
            for j, v in zip(fk, ck):
                cts[j] = v
            for j, v in zip(fy, cy):
                cts[j] = v
            # traced from this body's own inputs: the recomputation stays in the reverse loop
            _, g = G.vjp_inline(body, list(c) + list(k) + list(x), cts, wrt)
            gmap = dict(zip(wrt, g))
            return [gmap[nc + j] for j in fk] + \
                [ops.elementwise("add", a, gmap[i]) for a, i in zip(acc, fc)] + \
                [gmap[i] for i in fx]

        t_xs = step_inputs(length, reverse) if shifted else []
        avals = ins[:nc] + [ops.aval_of(v) for v in shift_consts] + \
            [body.out_avals[j] for j in fk] + [ins[i] for i in fc] + \
            [_slice_aval(v) for v in ct_ys] + [_slice_aval(v) for v in own_xs] + \
            ins[nc + nk:nc + nk + nx] + [_slice_aval(v) for v in t_xs]
        rbody, captured = trace_graph(reverse_body, avals, "scan recompute body")
        args = list(captured) + list(consts) + shift_consts + ct_carry + \
            [_zeros(ops.aval_of(consts[i])) for i in fc] + ct_ys + own_xs + list(xs) + t_xs
        res = _bind(scan_p, args, body=rbody, num_consts=len(captured) + nc + ns,
                    num_carry=len(fk) + len(fc), length=length, reverse=not reverse,
                    checkpoint=0)
        in_cts = [None] * len(primals)
        for j, c in zip(fk, res[:len(fk)]):
            in_cts[nc + j] = c
        for i, c in zip(fc, res[len(fk):len(fk) + len(fc)]):
            in_cts[i] = c
        for i, c in zip(fx, res[len(fk) + len(fc):]):
            in_cts[i] = c
        return in_cts

    return outs, backward


def scan_vjp_segments(primals, *, body, num_consts, num_carry, length, reverse, checkpoint):
    """``vjp_fwd`` of a scan checkpointed every ``checkpoint`` steps (see the module doc):
    the scan is rewritten as segments (an outer ``checkpoint=1`` scan of inner scans) plus a
    tail, and that rewrite is differentiated by the ordinary sweeps."""
    from .control import scan_p
    from .control_rules import _bind, _float, trace_graph
    nc, nk = num_consts, num_carry
    k = checkpoint
    nseg, tail = divmod(length, k)
    in_avals = [ops.aval_of(p) for p in primals]
    ny = len(body.outputs) - nk

    def split(xs, lo, hi):
        return [ops.slice(x, (lo,) + (0,) * (ops.aval_of(x).ndim - 1),
                          (hi,) + ops.aval_of(x).shape[1:]) for x in xs]

    def rewritten(ins):
        consts, carry, xs = ins[:nc], ins[nc:nc + nk], ins[nc + nk:]
        main = [ops.reshape(x, (nseg, k) + ops.aval_of(x).shape[1:])
                for x in split(xs, 0, nseg * k)]
        rest = split(xs, nseg * k, length)

        def run_tail(carry):
            if not tail:
                return carry, [ops.full((0,) + a.shape, 0, a.dtype)
                               for a in body.out_avals[nk:]]
            r = _bind(scan_p, list(consts) + list(carry) + rest, body=body, num_consts=nc,
                      num_carry=nk, length=tail, reverse=reverse, checkpoint=0)
            return r[:nk], r[nk:]

        def segment(seg_ins):  # (consts, carry, k-step xs) -> (carry, k-step ys)
            return _bind(scan_p, list(seg_ins), body=body, num_consts=nc, num_carry=nk,
                         length=k, reverse=reverse, checkpoint=0)

        seg_body, cap = trace_graph(segment, in_avals[:nc + nk] +
                                    [ops.aval_of(x).update(shape=ops.aval_of(x).shape[1:])
                                     for x in main], "checkpointed segment")
        # reverse order runs the tail (the last steps) first
        if reverse:
            carry, tail_ys = run_tail(carry)
        seg = _bind(scan_p, list(cap) + list(consts) + list(carry) + main, body=seg_body,
                    num_consts=len(cap) + nc, num_carry=nk, length=nseg, reverse=reverse,
                    checkpoint=1)
        carry, seg_ys = seg[:nk], seg[nk:]
        if not reverse:
            carry, tail_ys = run_tail(carry)
        ys = [ops.concatenate([ops.reshape(y, (nseg * k,) + ops.aval_of(y).shape[2:]), t], 0)
              if tail else ops.reshape(y, (nseg * k,) + ops.aval_of(y).shape[2:])
              for y, t in zip(seg_ys, tail_ys)]
        return list(carry) + ys

    graph, captured = trace_graph(rewritten, in_avals, "checkpointed scan")
    assert not captured
    env, res = G.forward_sweep(graph, list(primals))
    outs = [a if isinstance(a, Lit) else env[id(a)] for a in graph.outputs]
    wrt = [i for i, a in enumerate(in_avals) if _float(a)]

    def backward(out_cts):
        cts = [c if c is None or _float(a) else None
               for c, a in zip(out_cts, graph.out_avals)]
        grads = G.backward_sweep(graph, env, res, cts, wrt)
        in_cts = [None] * len(primals)
        for i, g in zip(wrt, grads):
            in_cts[i] = g
        return in_cts

    assert len(outs) == nk + ny
    return outs, backward


def cheap_residuals(f_graph: Graph, kept, nc: int, nk: int, n_f_out: int, hoist_out,
                    candidates: dict, promoted=(), max_depth: int = 4):
    """Which per-step residuals of a scan's forward body (``candidates``: {slot: var}) the
    reverse loop can recompute cheaply instead of the forward loop stacking them: a short chain
    of elementwise equations from values the reverse loop has anyway (the body's own ``y``
    outputs, stacked regardless; loop constants; ``xs``; hoisted invariants). A tanh RNN then
    stacks ``h`` once (as its output) instead of also ``1 - h**2``.

    Returns ``(graph, index, bases)`` or None: ``graph`` maps the base values to the recomputed
    residuals, ``index[slot]`` is a residual's output position, ``bases`` the ``(kind, key)``
    of each input: ``("y", j)`` the j-th stacked y, ``("c", i)`` constant i, ``("x", i)`` xs i,
    ``("h", var)`` a hoisted value, ``("e", i)`` the i-th of ``promoted`` (carry values the
    forward loop stacks per step for control_shift.py)."""
    y_index: dict = {}
    for j, a in enumerate(f_graph.outputs[nk:n_f_out]):
        if isinstance(a, Var):
            y_index.setdefault(id(a), j)
    const_ids = {id(v): i for i, v in enumerate(f_graph.inputs[:nc])}
    x_ids = {id(v): i for i, v in enumerate(f_graph.inputs[nc + nk:])}
    hoist_ids = {id(v) for v in hoist_out}
    promoted_ids = {id(v): i for i, v in enumerate(promoted)}
    define = {id(o): e for e in kept for o in e.outputs}

    def base(v):
        if id(v) in y_index:
            return ("y", y_index[id(v)])
        if id(v) in const_ids:
            return ("c", const_ids[id(v)])
        if id(v) in x_ids:
            return ("x", x_ids[id(v)])
        if id(v) in hoist_ids:
            return ("h", v)
        if id(v) in promoted_ids:
            return ("e", promoted_ids[id(v)])
        return None

    memo: dict = {}

    def cheap(v, depth) -> bool:
        if base(v) is not None:
            return True
        if id(v) in memo:
            return memo[id(v)]
        e = define.get(id(v))
        ok = (e is not None and depth < max_depth and e.prim.kind == "elementwise"
              and not e.prim.multiple_results
              and all(isinstance(a, Lit) or cheap(a, depth + 1) for a in e.inputs))
        memo[id(v)] = ok
        return ok

    chosen = {k: v for k, v in candidates.items() if cheap(v, 0)}
    if not chosen:
        return None
    bases, base_vars, chain = [], [], {}
    seen_base: set = set()

    def collect(v):
        b = base(v)
        if b is not None:
            if id(v) not in seen_base:
                seen_base.add(id(v))
                bases.append(b)
                base_vars.append(v)
            return
        e = define[id(v)]
        if id(e) in chain:
            return
        for a in e.inputs:
            if isinstance(a, Var):
                collect(a)
        chain[id(e)] = e
    for v in chosen.values():
        collect(v)
    order = {id(e): i for i, e in enumerate(kept)}
    eqns = sorted(chain.values(), key=lambda e: order[id(e)])
    outs = list(dict.fromkeys(chosen.values()))  # distinct residual vars
    pos = {id(v): i for i, v in enumerate(outs)}
    graph = Graph(tuple(base_vars), tuple(eqns), tuple(outs))
    return graph, {k: pos[id(v)] for k, v in chosen.items()}, bases
