"""Differentiation as graph passes: forward mode (``jvp_graph``) and reverse mode (``vjp_graph``).

Both walk a finished graph and re-emit it into a new trace, expanding each equation's derivative
rule (declared beside each primitive, read from ``tracegrad.primitive.JVP_RULES``/``VJP_RULES``,
keyed by the primitive object) in terms of ordinary primitives, so the result is an
ordinary graph: it can be printed, optimised, compiled and differentiated again (any order).
``None`` is a symbolic zero throughout; cotangents flow only into float variables.
"""
from __future__ import annotations

from tracegrad import dtypes, lax
from tracegrad.errors import GradientError
from tracegrad.ir import Graph, Lit, Var
from tracegrad.primitive import (JVP_FULL_RULES, JVP_RULES, VJP_FWD_RULES, VJP_RULES,
                                 install_graph_transforms)
from tracegrad.prims.active import active_scope
from tracegrad.prims.elementwise import mask_scope
from tracegrad.prims.ops import instantiate

from .inline import unfuse
from tracegrad.tracer import ThreadLocalList, TraceContext, active_traces, bind, src_scope


# --- provenance: which equations compute derivatives (read by `tracegrad dump`) ---------------
# Dumps draw derivative equations distinctly. While a ``record_derivatives()`` scope is open,
# each equation the passes below emit is noted as "derivative" or "primal" (the function's own
# values, re-emitted), by the identity of its ``params`` dict: passes that move, rewrite the
# operands of, or fuse an equation carry that dict over, so the note survives the pipeline
# without a field on ``Eqn``. With no scope open this costs one list check.
DERIVATIVE_EQNS = "derivative_eqns"  # graph.meta key: {id(params): (params, kind)}
_RECORDERS = ThreadLocalList()  # open record_derivatives scopes of this thread


class record_derivatives:
    """``with record_derivatives() as rec: trace(...)``; then ``rec.mark(graph)`` returns the
    graph with ``meta[DERIVATIVE_EQNS]`` set (see ``provenance``)."""

    def __enter__(self) -> record_derivatives:
        self.notes: dict[int, tuple] = {}  # the params dicts are kept, so ids stay unique
        _RECORDERS.append(self.notes)
        return self

    def __exit__(self, *exc) -> None:
        _RECORDERS.remove(self.notes)

    def mark(self, graph: Graph) -> Graph:
        return Graph(graph.inputs, graph.eqns, graph.outputs,
                     {**graph.meta, DERIVATIVE_EQNS: dict(self.notes)})


def provenance(eqn, notes: dict | None = None) -> str | None:
    """"derivative", "primal" or None (not emitted by these passes: a later pass made it).
    ``notes``: a graph's ``meta[DERIVATIVE_EQNS]``; by default the open recorders."""
    for rec in ([notes] if notes is not None else _RECORDERS):
        hit = rec.get(id(eqn.params))
        if hit is not None:
            return hit[1]
    return None


class derivative_region:
    """Every equation emitted inside the scope, into any active trace, is noted as ``kind``
    ("derivative" wins over "primal" when scopes nest)."""

    def __init__(self, kind: str = "derivative"):
        self.kind = kind

    def __enter__(self) -> derivative_region:
        self.starts = [(ctx, len(ctx.eqns)) for ctx in active_traces()] if _RECORDERS else []
        return self

    def __exit__(self, *exc) -> None:
        for ctx, n in self.starts:
            for e in ctx.eqns[n:]:
                for rec in _RECORDERS:
                    if self.kind == "derivative" or id(e.params) not in rec:
                        rec[id(e.params)] = (e.params, self.kind)


def _rebind(eqn, vals):
    """Re-emit ``eqn`` on ``vals``, noting it as primal, or as derivative if it was one (the
    first derivative inside ``grad(grad(f))`` or ``hessian``)."""
    if _RECORDERS:
        with derivative_region(provenance(eqn) or "primal"):
            return bind(eqn.prim, *vals, **eqn.params)
    return bind(eqn.prim, *vals, **eqn.params)


def _is_float_atom(a) -> bool:
    # float or complex: the values that carry tangents (complex: docs/gradients.md)
    return dtypes.is_inexact(a.aval.dtype)


def _accumulate(env: dict, v, ct):
    if ct is None or not isinstance(v, Var) or not _is_float_atom(v):
        return
    prev = env.get(id(v))
    env[id(v)] = ct if prev is None else lax.add(prev, ct)


def _read(env, a):
    return a if isinstance(a, Lit) else env[id(a)]


# --- custom-rule calls ------------------------------------------------------------------------
def _inline(graph: Graph, args) -> list:
    from tracegrad.interpreter import eval_graph
    return eval_graph(graph, list(args))


def _custom_vjp_forward(eqn, vals):
    """Run a custom_vjp_call's forward graph inline; return (outputs, residuals)."""
    outs = _inline(eqn.params["fwd"], vals)
    k = len(outs) - eqn.params["num_res"]
    return outs[:k], outs[k:]


def _custom_vjp_backward(eqn, residuals, cts):
    outs = [o for o in eqn.outputs]
    cts = [instantiate(c, _zero_like_var(o)) if c is None else c for c, o in zip(cts, outs)]
    return _inline(eqn.params["bwd"], list(residuals) + cts)


def _zero_like_var(v):
    return lax.full(v.aval.shape, 0, v.aval.dtype)


def _transpose_linear(fn, t_avals, cts):
    """The transpose of the linear map ``fn`` (tangents -> output tangents) applied to ``cts``.

    Used for forward mode through custom_vjp (transpose of the user's backward) and reverse mode
    through custom_jvp (transpose of the user's tangent map); exact because fn is linear.
    """
    with derivative_region(), TraceContext("transpose") as ctx:
        ts = [ctx.new_input(av) for av in t_avals]
        outs = fn(ts)
        graph, captured = ctx.to_graph(outs)
    n = len(t_avals)
    with derivative_region():
        zeros = [lax.full(av.shape, 0, av.dtype) for av in t_avals]
        _, in_cts = vjp_inline(graph, zeros + captured, list(cts), wrt=list(range(n)))
    return in_cts


def _custom_jvp_rule(eqn, primals, tangents):
    ps = [_lit_array(p) if isinstance(p, Lit) else p for p in primals]
    ts = [instantiate(t, p) for t, p in zip(tangents, ps)]
    return eqn.params["rule"](ps, ts)


def _lit_array(lit: Lit):
    return lax.full((), lit.value, lit.aval.dtype)


# --- forward mode ------------------------------------------------------------------------------
def jvp_inline(graph: Graph, primals: list, tangents: list) -> tuple[list, list]:
    """Evaluate ``graph`` and its tangent in the current trace; tangents may be None (zero)."""
    graph = unfuse(graph)
    env: dict = {}
    tan: dict = {}
    for v, p, t in zip(graph.inputs, primals, tangents):
        env[id(v)] = p
        if t is not None and _is_float_atom(v):
            tan[id(v)] = t
    for eqn in graph.eqns:
        vals = [_read(env, a) for a in eqn.inputs]
        ts = [None if isinstance(a, Lit) else tan.get(id(a)) for a in eqn.inputs]
        with src_scope(eqn.src):
            if eqn.prim.name == "custom_jvp_call":
                with derivative_region():
                    outs, out_ts = _custom_jvp_rule(eqn, vals, ts) if any(
                        t is not None for t in ts) else (_inline(eqn.params["fun"], vals), None)
            elif eqn.prim.name == "custom_vjp_call":
                outs, residuals = _custom_vjp_forward(eqn, vals)
                out_ts = None
                if any(t is not None for t in ts):
                    float_ins = [i for i, a in enumerate(eqn.inputs) if _is_float_atom(a)]

                    def backward(cts, residuals=residuals, eqn=eqn):
                        return _custom_vjp_backward(eqn, residuals, cts)[:len(eqn.inputs)]
                    # forward mode through a custom backward: J t = transpose(J^T)(t)
                    in_ts = [instantiate(ts[i], vals[i] if not isinstance(vals[i], Lit)
                                         else _lit_array(vals[i])) for i in float_ins]
                    out_avals = [o.aval for o in eqn.outputs]

                    def bwd_of(cts_list, float_ins=float_ins, backward=backward):
                        res = backward(cts_list)
                        return [instantiate(res[i], _zero_like_var(eqn.inputs[i]))
                                for i in float_ins]
                    out_ts = _transpose_linear(bwd_of, out_avals, in_ts)
            elif eqn.prim in JVP_FULL_RULES and any(t is not None for t in ts):
                # a loop or branch: one new equation carries the primal and its tangent
                with derivative_region():
                    outs, out_ts = JVP_FULL_RULES[eqn.prim](vals, ts, **eqn.params)
            else:
                outs = _rebind(eqn, vals)
                if not eqn.prim.multiple_results:
                    outs = [outs]
                out_ts = None
                if any(t is not None for t in ts) and not eqn.prim.nondiff:
                    with derivative_region():
                        out_ts = JVP_RULES[eqn.prim](vals, ts, outs, **eqn.params)
        for v, o in zip(eqn.outputs, outs):
            env[id(v)] = o
        if out_ts is not None:
            for v, t in zip(eqn.outputs, out_ts):
                if t is not None and _is_float_atom(v):
                    tan[id(v)] = t
    out_vals = [_read(env, a) for a in graph.outputs]
    out_tans = [None if isinstance(a, Lit) else tan.get(id(a)) for a in graph.outputs]
    return out_vals, out_tans


# --- reverse mode ------------------------------------------------------------------------------
def vjp_inline(graph: Graph, primals: list, out_cts: list, wrt: list[int]
               ) -> tuple[list, list]:
    """Evaluate ``graph`` forward, then pull ``out_cts`` back; returns (outputs, cts of ``wrt``).

    Cotangents of inputs that receive none are materialised zeros.
    """
    graph = unfuse(graph)
    env, residuals = forward_sweep(graph, primals)
    grads = backward_sweep(graph, env, residuals, out_cts, wrt)
    return [_read(env, a) for a in graph.outputs], grads


def forward_sweep(graph: Graph, primals: list) -> tuple[dict, dict]:
    """Re-emit the forward equations; returns the value of every variable and the residuals of
    custom-rule calls, so several backward sweeps (a reverse-mode Jacobian) share one forward."""
    env: dict = {}
    for v, p in zip(graph.inputs, primals):
        env[id(v)] = p
    residuals: dict = {}
    assert not any(e.prim.name == "fused" for e in graph.eqns), "unfuse before forward_sweep"
    for eqn in graph.eqns:
        vals = [_read(env, a) for a in eqn.inputs]
        with src_scope(eqn.src):
            if eqn.prim.name == "custom_vjp_call":
                outs, res = _custom_vjp_forward(eqn, vals)
                residuals[id(eqn)] = res
            elif eqn.prim in VJP_FWD_RULES:  # a loop: its forward keeps what its backward needs
                outs, residuals[id(eqn)] = VJP_FWD_RULES[eqn.prim](vals, **eqn.params)
            else:
                outs = _rebind(eqn, vals)
                if not eqn.prim.multiple_results:
                    outs = [outs]
        for v, o in zip(eqn.outputs, outs):
            env[id(v)] = o
    return env, residuals


def backward_sweep(graph: Graph, env: dict, residuals: dict, out_cts: list, wrt: list[int]
                   ) -> list:
    """Pull ``out_cts`` back through ``graph`` (forward values in ``env``); cts of ``wrt``."""
    with derivative_region():
        return _backward_sweep(graph, env, residuals, out_cts, wrt)


def _backward_sweep(graph, env, residuals, out_cts, wrt):
    from . import ranges
    facts = ranges.analyze(graph)
    # variables that depend on a differentiated input: only their cotangents are used
    # (a rule may refuse a derivative it cannot give only where it would be: prims/active.py)
    active = {id(graph.inputs[i]) for i in wrt}
    for eqn in graph.eqns:
        if not eqn.prim.nondiff and any(isinstance(a, Var) and id(a) in active
                                        for a in eqn.inputs):
            active.update(id(o) for o in eqn.outputs)
    ct_env: dict = {}
    for a, ct in zip(graph.outputs, out_cts):
        _accumulate(ct_env, a, ct)
    for eqn in reversed(graph.eqns):
        cts = [ct_env.pop(id(o), None) for o in eqn.outputs]
        if all(c is None for c in cts) or eqn.prim.nondiff:
            continue
        act = [isinstance(a, Var) and id(a) in active for a in eqn.inputs]
        if not any(act):
            continue  # no cotangent of its inputs reaches a differentiated input
        vals = [_read(env, a) for a in eqn.inputs]
        outs = [env[id(o)] for o in eqn.outputs]
        with src_scope(eqn.src), active_scope(act):
            if eqn.prim.name == "custom_vjp_call":
                in_cts = _custom_vjp_backward(eqn, residuals[id(eqn)], cts)
            elif id(eqn) in residuals and eqn.prim in VJP_FWD_RULES:
                in_cts = residuals[id(eqn)](cts)
            elif eqn.prim.name == "custom_jvp_call":
                in_cts = _custom_jvp_transpose(eqn, vals, cts)
            elif eqn.prim.kind == "elementwise":
                flags = [ranges.partial_may_be_nonfinite(eqn, i, facts)
                         for i in range(len(eqn.inputs))]
                with mask_scope(flags):
                    in_cts = VJP_RULES[eqn.prim](cts, vals, outs, **eqn.params)
            else:
                in_cts = VJP_RULES[eqn.prim](cts, vals, outs, **eqn.params)
            for a, c in zip(eqn.inputs, in_cts):  # a fan-out's `add` gets the user's line too
                _accumulate(ct_env, a, c)
    grads = []
    for i in wrt:
        v = graph.inputs[i]
        ct = ct_env.get(id(v))
        grads.append(ct if ct is not None else lax.full(v.aval.shape, 0, v.aval.dtype))
    return grads


def _custom_jvp_transpose(eqn, vals, cts):
    """Reverse mode through custom_jvp: transpose the user's tangent map at these primals."""
    float_ins = [i for i, a in enumerate(eqn.inputs) if _is_float_atom(a)]
    t_avals = [eqn.inputs[i].aval for i in float_ins]
    out_cts = [instantiate(c, _zero_like_var(o)) for c, o in zip(cts, eqn.outputs)]

    def tangent_map(ts):
        full = [None] * len(vals)
        for i, t in zip(float_ins, ts):
            full[i] = t
        _, out_ts = _custom_jvp_rule(eqn, vals, full)
        return out_ts
    in_cts = _transpose_linear(tangent_map, t_avals, out_cts)
    result = [None] * len(vals)
    for i, c in zip(float_ins, in_cts):
        result[i] = c
    return result


# --- the passes: graph -> graph ----------------------------------------------------------------
def vjp_graph(graph: Graph, wrt: list[int]) -> Graph:
    """``(inputs..., output cts...) -> (outputs..., cts of inputs[wrt])``."""
    for i in wrt:
        if not _is_float_atom(graph.inputs[i]):
            raise GradientError(f"cannot differentiate with respect to input {i} of dtype "
                                f"{graph.inputs[i].aval.dtype}; gradients need float inputs")
    with TraceContext("vjp") as ctx:
        ins = [ctx.new_input(v.aval) for v in graph.inputs]
        cts = [ctx.new_input(a.aval) if _is_float_atom(a) else None for a in graph.outputs]
        outs, grads = vjp_inline(graph, ins, cts, wrt)
        result, _ = ctx.to_graph(list(outs) + list(grads), {"grad_outputs": len(grads)})
    return result


def jvp_graph(graph: Graph, wrt: list[int]) -> Graph:
    """``(inputs..., tangents of inputs[wrt]...) -> (outputs..., output tangents...)``."""
    with TraceContext("jvp") as ctx:
        ins = [ctx.new_input(v.aval) for v in graph.inputs]
        tans = [None] * len(ins)
        for i in wrt:
            tans[i] = ctx.new_input(graph.inputs[i].aval)
        outs, out_ts = jvp_inline(graph, ins, tans)
        out_ts = [t if t is not None else lax.full(a.aval.shape, 0, a.aval.dtype)
                  for t, a in zip(out_ts, graph.outputs)]
        result, _ = ctx.to_graph(list(outs) + out_ts)
    return result


def linearize_inline(graph: Graph, primals: list, wrt: list[int]) -> tuple[list, Graph, list]:
    """Evaluate ``graph`` in the current trace and return its tangent map as a separate graph.

    Returns ``(outputs, tangent_graph, captured)``: ``tangent_graph`` takes the tangents of
    ``inputs[wrt]`` followed by ``captured`` (primal values of the current trace it reads) and
    returns the output tangents. Evaluating it once per basis vector gives a Jacobian without
    recomputing the primal (forward-mode Jacobians, and their transposes for reverse mode).
    """
    with TraceContext("linearize") as ctx:
        ts = [ctx.new_input(graph.inputs[i].aval) for i in wrt]
        tans = [None] * len(primals)
        for i, t in zip(wrt, ts):
            tans[i] = t
        outs, out_ts = jvp_inline(graph, primals, tans)
        out_ts = [t if t is not None else lax.full(a.aval.shape, 0, a.aval.dtype)
                  for t, a in zip(out_ts, graph.outputs)]
        tgraph, captured = ctx.to_graph(out_ts)
    # Equations that read only primal values landed in the caller's trace (bind records into
    # the innermost trace among the operands), so the primal is computed once, there; the
    # tangent graph captures the primal values it reads.
    return outs, tgraph, captured


# the rules of loops and branches (tracegrad/prims/control_rules.py) differentiate their bodies
install_graph_transforms(jvp_inline=jvp_inline, vjp_inline=vjp_inline,
                         forward_sweep=forward_sweep, backward_sweep=backward_sweep,
                         unfuse=unfuse)
