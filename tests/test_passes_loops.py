"""Passes inside loop bodies and branches (issue 14 item 3): every graph pass reaches nested
graphs through passes/bodies.py; DCE drops unused loop outputs, carries, constants and whole
loops; ``hoist`` moves loop invariants out; CSE keys loops by their bodies; constfold never
evaluates a loop. Each transformation is checked against the graph before it on the reference
interpreter, and whole pipelines are checked on the loop rows of tests/cases.py and on
gradients of loops."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import tracegrad as tg
from tracegrad import numpy as tnp
from tracegrad.interpreter import eval_graph
from tracegrad.ir import AVal, Graph, Lit, Var, subgraphs, verify
from tracegrad.passes import registry
from tracegrad.passes.bodies import graph_key
from tracegrad.passes.registry import PASSES, run_pipeline
from tracegrad.prims import scan_p

from cases import CASES, make_args
from fuzz_programs import programs
from programs import PROGRAMS

registry._load_passes()
RNG = np.random.default_rng(0)


def _ir(fn, *args, stage="traced"):
    return tg.make_ir(fn, stage=stage)(*args)


def _run(graph, args):
    with np.errstate(all="ignore"):
        return [np.asarray(o) for o in eval_graph(graph, list(args), check=True)]


def _same(graph, new, args, rtol=1e-12):
    verify(new)
    for a, b in zip(_run(graph, args), _run(new, args)):
        np.testing.assert_allclose(b, a, rtol=rtol, atol=1e-13)


def _loops(graph, name=None):
    return [e for e in graph.eqns if e.prim.kind == "control" and
            (name is None or e.prim.name == name)]


def _body(graph, name="scan", key="body"):
    (e,) = _loops(graph, name)
    return e.params[key]


def _prims(graph):
    return [e.prim.name for e in graph.eqns]


def _pass(name):
    return PASSES[name].fn


# --- each pass inside a body -------------------------------------------------------------------
def _rnn_like(h0, xs):
    def step(h, x):
        a = tnp.sin(x) * 1.0          # simplify: x * 1 -> x
        b = tnp.sin(x) * 1.0          # cse: the same as a
        h = tnp.tanh(h * 0.5 + a + b)
        return h, tnp.log(1.0 + h * h)  # stabilize: log(1 + x) -> log1p
    return tg.scan(step, h0, xs)


def test_simplify_cse_stabilize_inside_scan_body():
    args = [RNG.normal(size=3), RNG.normal(size=(5, 3))]
    g = _ir(_rnn_like, *args)
    assert "mul" in _prims(_body(g)) and _prims(_body(g)).count("sin") == 2
    s = _pass("simplify")(g)
    assert _prims(_body(s)).count("mul") == _prims(_body(g)).count("mul") - 2  # both * 1.0
    _same(g, s, args)
    c = _pass("cse")(s)
    assert _prims(_body(c)).count("sin") == 1
    _same(g, c, args)
    st = _pass("stabilize")(c)
    assert "log1p" in _prims(_body(st)) and "log" not in _prims(_body(st))
    _same(g, st, args)


def test_constfold_folds_inside_bodies_but_never_a_loop():
    def f(h0):
        def step(h, _):
            k = tnp.exp(tnp.asarray(np.arange(3.0)))   # constant: folds inside the body
            return h + k, None
        init = tnp.exp(tnp.asarray(np.ones(3)))                # traced, folds to a constant
        return tg.scan(step, init, None, length=4)[0] + h0
    args = [RNG.normal(size=3)]
    g = _ir(f, *args)
    assert "exp" in _prims(_body(g))
    out = _pass("constfold")(g)
    assert "exp" not in _prims(_body(out))
    # every operand of the scan is a constant now: still a loop (Traits.foldable=False)
    assert _loops(out, "scan")
    _same(g, out, args)


def test_lower_inlines_custom_calls_and_drops_stop_gradient_inside_bodies():
    @tg.custom_jvp
    def softclip(x):
        return tnp.tanh(x)

    @softclip.defjvp
    def _(primals, tangents):
        (x,), (t,) = primals, tangents
        y = tnp.tanh(x)
        return y, t * (1 - y * y)

    def f(h0, xs):
        def step(h, x):
            return softclip(h + tg.stop_gradient(x)), None
        return tg.scan(step, h0, xs)[0]
    args = [RNG.normal(size=3), RNG.normal(size=(4, 3))]
    g = _ir(f, *args)
    kinds = {e.prim.kind for e in _body(g).eqns}
    assert "custom" in kinds
    out = _pass("lower")(g)
    assert not {e.prim.kind for e in _body(out).eqns} & {"custom"}
    assert not any(e.prim.traits.ad_only for e in _body(out).eqns)
    _same(g, out, args)


def test_lower_reaches_loops_that_come_out_of_custom_calls():
    @tg.custom_jvp
    def run(x):
        return tg.scan(lambda h, t: (tnp.sin(h) + tg.stop_gradient(t), None), x,
                       tnp.stack([x, x * 2.0]))[0]

    @run.defjvp
    def _(primals, tangents):
        return run(primals[0]), tangents[0]

    args = [RNG.normal(size=3)]
    g = _ir(lambda x: run(x) * 2.0, *args)
    out = _pass("lower")(g)
    assert not any(e.prim.kind == "custom" for e in out.eqns)
    assert not any(e.prim.traits.ad_only for e in _body(out).eqns)
    _same(g, out, args)


def test_every_pass_acts_in_a_body_as_on_the_graph_itself():
    """The class: each registered graph pass, run on a corpus program wrapped as the body of a
    one-step scan, leaves the body it would make of the program alone (structurally equal)."""
    from tracegrad.passes import fuse
    from tracegrad.passes.cse import _param_key
    lower = _pass("lower")
    checked = 0
    for prog in PROGRAMS:
        g = lower(tg.make_ir(prog.fn, stage="traced")(*prog.make_args(np.random.default_rng(0))))
        xs = tuple(Var(AVal((1,) + v.aval.shape, v.aval.dtype)) for v in g.inputs)
        outs = scan_p.abstract_eval([x.aval for x in xs], body=g, num_consts=0, num_carry=0,
                                    length=1, reverse=False, checkpoint=0)
        eqn = g.eqns[0].replace(prim=scan_p, inputs=xs, outputs=tuple(Var(a) for a in outs),
                                params=dict(body=g, num_consts=0, num_carry=0, length=1,
                                            reverse=False, checkpoint=0))
        wrapped = Graph(xs, (eqn,), eqn.outputs)
        for name, info in sorted(PASSES.items()):
            if info.analysis:
                continue
            for small in (False, True):
                old = fuse.SMALL_PROGRAM_BYTES
                fuse.SMALL_PROGRAM_BYTES = 0 if small else old
                try:
                    alone, inside = info.fn(g), info.fn(wrapped)
                finally:
                    fuse.SMALL_PROGRAM_BYTES = old
                verify(inside)
                body = _body(inside) if _loops(inside) else None
                assert body is not None, (prog.name, name)
                assert graph_key(body, _param_key) == graph_key(alone, _param_key), \
                    (prog.name, name)
                checked += 1
    assert checked >= 2 * len(PROGRAMS) * 8


# --- CSE keys loops by their bodies ---------------------------------------------------------------
def test_cse_merges_equal_loops_and_keeps_different_ones():
    def f(h0, xs):
        def s1(h, x):
            return tnp.sin(h) + x, None

        def s2(h, x):
            return tnp.cos(h) + x, None
        a = tg.scan(s1, h0, xs)[0]
        b = tg.scan(s1, h0, xs)[0]      # the same loop, traced twice: merges
        c = tg.scan(s2, h0, xs)[0]      # another body: stays
        d = tg.cond(h0.sum() > 0, lambda v: v * 2.0, lambda v: v - 1.0, h0)
        e = tg.cond(h0.sum() > 0, lambda v: v * 2.0, lambda v: v + 1.0, h0)
        return a + b + c + d + e
    args = [RNG.normal(size=3), RNG.normal(size=(4, 3))]
    g = _ir(f, *args)
    assert len(_loops(g, "scan")) == 3 and len(_loops(g, "cond")) == 2
    out = _pass("cse")(g)
    assert len(_loops(out, "scan")) == 2 and len(_loops(out, "cond")) == 2
    _same(g, out, args)


def test_graph_key_tells_literals_apart_by_bits():
    from tracegrad.passes.cse import _param_key

    def body(c):
        def f(h0, xs):
            return tg.scan(lambda h, x: (h * c + x, None), h0, xs)[0]
        return _body(_ir(f, np.ones(2), np.ones((3, 2))))
    assert graph_key(body(0.0), _param_key) != graph_key(body(-0.0), _param_key)
    assert graph_key(body(0.5), _param_key) == graph_key(body(0.5), _param_key)
    hash(graph_key(body(float("nan")), _param_key))


# --- DCE ---------------------------------------------------------------------------------------
def _three_carries(h0, xs, w):
    def step(c, x):
        a, b, n = c
        a2 = tnp.tanh(a + x)            # used (final value returned)
        b2 = b * 0.9 + a                # unused, and no kept value reads it: goes
        n2 = n + tnp.sum(w)             # unused counter reading a constant: goes with w
        return (a2, b2, n2), (a2 * 2.0, b2 + x)   # ys[1] unused: goes
    (a, b, n), (y0, y1) = tg.scan(step, (h0, h0, 0.0), xs)
    return a, y0


def test_dce_drops_unused_ys_carries_and_constants():
    args = [RNG.normal(size=3), RNG.normal(size=(4, 3)), RNG.normal(size=(2,))]
    g = _ir(_three_carries, *args)
    (e,) = _loops(g)
    assert e.params["num_carry"] == 3 and len(e.outputs) == 5 and e.params["num_consts"] == 1
    out = _pass("dce")(g)
    (e2,) = _loops(out)
    assert e2.params["num_carry"] == 1 and len(e2.outputs) == 2
    assert e2.params["num_consts"] == 0
    assert "reduce_sum" not in _prims(e2.params["body"])
    _same(g, out, args)


def test_dce_keeps_an_unused_carry_a_used_one_reads():
    def f(h0, xs):
        def step(c, x):
            a, b = c
            return (tnp.sin(b) + x, b * 0.5 + x), None   # a's update reads b
        return tg.scan(step, (h0, h0), xs)[0][0]
    args = [RNG.normal(size=3), RNG.normal(size=(4, 3))]
    g = _ir(f, *args)
    out = _pass("dce")(g)
    assert _loops(out)[0].params["num_carry"] == 2
    _same(g, out, args)


def test_dce_removes_a_loop_whose_outputs_are_unused():
    def f(h0, xs):
        tg.scan(lambda h, x: (tnp.sin(h) + x, h), h0, xs)
        tg.while_loop(lambda c: c[1] < 3, lambda c: (c[0] * 2.0, c[1] + 1), (h0, 0))
        tg.cond(h0.sum() > 0, tnp.sin, tnp.cos, h0)
        return h0 * 2.0
    args = [RNG.normal(size=3), RNG.normal(size=(4, 3))]
    g = _ir(f, *args)
    assert len(_loops(g)) == 3
    out = _pass("dce")(g)
    assert not _loops(out)
    _same(g, out, args)


def test_dce_while_keeps_what_the_condition_reads():
    def f(x):
        def body(c):
            v, i, junk = c
            return v * 0.5 + tnp.sin(v), i + 1, junk * v
        return tg.while_loop(lambda c: c[1] < 4, body, (x, 0, x))[0]
    args = [RNG.normal(size=3)]
    g = _ir(f, *args)
    out = _pass("dce")(g)
    (e,) = _loops(out)
    assert len(e.outputs) == 2   # v and the counter the condition reads; junk goes
    _same(g, out, args)


def test_dce_cond_prunes_outputs_and_operands():
    def f(p, x, y):
        a, b = tg.cond(p.sum() > 0, lambda x, y: (tnp.sin(x), tnp.exp(y)),
                       lambda x, y: (tnp.cos(x), y * 2.0), x, y)
        return a
    args = [RNG.normal(size=2), RNG.normal(size=3), RNG.normal(size=4)]
    g = _ir(f, *args)
    out = _pass("dce")(g)
    (e,) = _loops(out)
    assert len(e.outputs) == 1 and len(e.inputs) == 2   # index and x
    for b in e.params["branches"]:
        assert len(b.inputs) == 1 and len(b.eqns) == 1
    _same(g, out, args)


def test_dce_keeps_params_when_nothing_changes():
    """Provenance notes are keyed on id(params): a pass that changes nothing in a body keeps
    the equation's params dict (and the graph itself)."""
    args = [RNG.normal(size=3), RNG.normal(size=(4, 3))]
    g = _ir(lambda h0, xs: tg.scan(lambda h, x: (tnp.sin(h) + x, None), h0, xs)[0], *args)
    for name in ("dce", "cse", "simplify", "constfold", "stabilize", "hoist", "lower",
                 "merge-products", "onepass-products"):
        out = _pass(name)(g)
        assert out is g, name


# --- loop-invariant code motion --------------------------------------------------------------
# The tracer already emits operations on captured values only outside the body; invariants
# inside a body read something the body made itself (ones_like(h) below), or come from rewrites
def _rnn_w(W, h0, xs):
    def step(h, x):
        M = W * tnp.ones_like(h)[:, None]     # invariant, but traced inside the body
        h = tnp.tanh(h @ M.T + x)
        return h, h * h
    return tg.scan(step, h0, xs)


def test_hoist_moves_an_invariant_transpose_out_of_the_body():
    args = [RNG.normal(size=(3, 3)), RNG.normal(size=3), RNG.normal(size=(5, 3))]
    g = _ir(_rnn_w, *args)
    assert "transpose" in _prims(_body(g)) and "transpose" not in _prims(g)
    out = _pass("hoist")(g)
    assert "transpose" not in _prims(_body(out)) and "transpose" in _prims(out)
    assert "mul" in _prims(out)     # W * ones, with a copy of the ones it reads
    _same(g, out, args)
    # the original constant W and the body's ones are dead now: dce drops them
    cleaned = _pass("dce")(out)
    (e,) = _loops(cleaned)
    assert e.params["num_consts"] == 1 and "broadcast_in_dim" not in _prims(e.params["body"])
    _same(g, cleaned, args)


@pytest.mark.parametrize("trips", [0, 3])
def test_hoist_out_of_while_including_zero_trip(trips):
    def f(W, x):
        def body(c):
            v, i = c
            return tnp.tanh(W.T @ v + tnp.sum(tnp.exp(W))), i + 1
        return tg.while_loop(lambda c: c[1] < trips + tnp.sum(W * 0.0).astype(np.int32),
                             body, (x, np.int32(0)))[0]
    args = [RNG.normal(size=(3, 3)), RNG.normal(size=3)]
    g = _ir(f, *args)
    out = _pass("hoist")(g)
    names = _prims(_body(out, "while"))
    assert "transpose" not in names and "exp" not in names
    assert "mul" not in _prims(_body(out, "while", "cond"))
    _same(g, out, args)


def test_hoist_climbs_out_of_nested_loops():
    def f(W, h0, xs):
        def outer(h, x):
            def inner(g, _):
                return tnp.tanh(g @ W.T) + x, None
            return tg.scan(inner, h, None, length=2)[0], None
        return tg.scan(outer, h0, xs)[0]
    args = [RNG.normal(size=(3, 3)), RNG.normal(size=3), RNG.normal(size=(4, 3))]
    g = _ir(f, *args)
    out = _pass("hoist")(g)
    assert "transpose" in _prims(out)
    inner = _body(_body(out))
    assert "transpose" not in _prims(inner) and "transpose" not in _prims(_body(out))
    _same(g, out, args)


def test_hoist_leaves_branches_and_sources_alone():
    def f(W, x):
        def step(h, _):
            return h + tnp.ones(3), None    # a broadcast of a literal: no variable operand
        h = tg.scan(step, x, None, length=2)[0]
        return tg.cond(x.sum() > 0, lambda v: W.T @ v, lambda v: v, h)
    args = [RNG.normal(size=(3, 3)), RNG.normal(size=3)]
    g = _ir(f, *args)
    out = _pass("hoist")(g)
    assert out is g


# --- fusion inside bodies ------------------------------------------------------------------------
def _fusable(h0, xs):
    def step(h, x):
        u = tnp.exp(h * 0.5) + tnp.sin(x) * 2.0 - h
        return tnp.tanh(u), tnp.sum(u * u)
    return tg.scan(step, h0, xs)


def test_fuse_all_fuses_inside_bodies_and_numpy_runs_them():
    args = [RNG.normal(size=16), RNG.normal(size=(6, 16))]
    g = _ir(_fusable, *args)
    out, _ = run_pipeline(g, "O1-c", check=True)
    assert "fused" in _prims(_body(out))
    _same(g, out, args)
    f = tg.jit(_fusable, backend="numpy", opt_level="O2")
    ref = tg.jit(_fusable, backend="numpy", opt_level="O0")(*args)
    from tracegrad.passes import fuse
    old, fuse.SMALL_PROGRAM_BYTES = fuse.SMALL_PROGRAM_BYTES, 0
    try:
        got = f(*args)
        low = f.lower(*args)
    finally:
        fuse.SMALL_PROGRAM_BYTES = old
    assert "fused" in _prims(_body(low.ir))
    for a, b in zip(got, ref):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def _c_has_loops() -> bool:
    try:
        from tracegrad.codegen.c.lowerings import lowering
        lowering(scan_p)
        return True
    except Exception:
        return False


@pytest.mark.skipif(not _c_has_loops(), reason="the C lowering of loops has not landed yet")
def test_c_backend_runs_fused_bodies():
    args = [RNG.normal(size=16), RNG.normal(size=(6, 16))]
    ref = _fusable(*args)  # eager
    f = tg.jit(_fusable, backend="c")
    low = f.lower(*args)
    assert "fused" in _prims(_body(low.ir))
    for a, b in zip(f(*args), ref):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def _passthrough_y(W, h0, xs):
    def step(h, x):
        M = W * tnp.ones_like(h)[:, None]   # hoisted: the body then returns a constant input
        h2 = tnp.tanh(h @ M + x)
        return h2, (M, h2)
    return tg.scan(step, h0, xs)


def _passthrough_carry(W, h0):
    def step(c, _):
        h, _m = c
        return (tnp.sin(h), W * tnp.ones_like(h)[:, None] + 1.0), None
    return tg.scan(step, (h0, W), None, length=3)[0]


@pytest.mark.parametrize("fn", [_passthrough_y, _passthrough_carry])
def test_backends_run_bodies_returning_hoisted_constants(fn):
    W, h0, xs = RNG.normal(size=(3, 3)), RNG.normal(size=3), RNG.normal(size=(4, 3))
    args = (W, h0, xs) if fn is _passthrough_y else (W, h0)
    g = _ir(fn, *args)
    out = _pass("hoist")(g)
    body = _body(out)
    assert any(o is v for o in body.outputs for v in body.inputs[:_loops(out)[0].params[
        "num_consts"]])
    ref = [np.asarray(a) for a in tg.pytree.tree_flatten(fn(*args))[0]]  # eager
    for backend in ["numpy"] + (["c"] if _c_has_loops() else []):
        got = tg.pytree.tree_flatten(tg.jit(fn, backend=backend)(*args))[0]
        for a, b in zip(ref, got):
            np.testing.assert_allclose(b, a, rtol=1e-13, err_msg=backend)


# --- whole pipelines on the loop rows and on gradients of loops --------------------------------
PIPES = ["O0", "O1", "O2", "O0-c", "O1-c", "O2-c"]
CONTROL = [c for c in CASES if c.prim in ("scan", "while", "cond")]


def _grad_graph(case, args):
    def loss(*a):
        outs = case.fn(*a)
        return sum(tnp.sum(tnp.sin(o)) for o in (outs if isinstance(outs, tuple) else (outs,)))
    return tg.make_ir(loss, grad=True, stage="grad")(*args)


def _reads(graph) -> set:
    return ({id(a) for e in graph.eqns for a in e.inputs} | {id(a) for a in graph.outputs})


def _leftovers(graph) -> list:
    """What O1/O2 should have removed, at any depth: loops with no used output, a cond with a
    literal index, loops that cannot run, unused ys,
    unused carries nothing reads, constants and xs a body does not read, and loop invariants
    (a body equation whose variable operands are all loop constants)."""
    found = []
    used = _reads(graph)

    def invariants(body, nconsts, what):
        consts = {id(v) for v in body.inputs[:nconsts]}
        for be in body.eqns:
            vs = [a for a in be.inputs if isinstance(a, Var)]
            if vs and all(id(a) in consts for a in vs):
                found.append((what, "invariant", be.prim.name))
        for i in range(nconsts):
            if id(body.inputs[i]) not in _reads(body):
                found.append((what, "unused constant", i))

    for e in graph.eqns:
        if e.prim.kind != "control":
            continue
        p = e.params
        if not any(id(o) in used for o in e.outputs):
            found.append((e.prim.name, "unused loop"))
        if (e.prim.name == "cond" and isinstance(e.inputs[0], Lit)) or \
                p.get("length") == 0 or p.get("max_iter", 1) == 0:
            found.append((e.prim.name, "decided"))
        if e.prim.name == "scan":
            body, nc, nk = p["body"], p["num_consts"], p["num_carry"]
            for j, o in enumerate(e.outputs):
                if id(o) not in used and (j >= nk or id(body.inputs[nc + j]) not in _reads(body)):
                    found.append(("scan", "unused output", j))
            for i in range(nc + nk, len(body.inputs)):
                if id(body.inputs[i]) not in _reads(body):
                    found.append(("scan", "unused xs", i))
            invariants(body, nc, "scan")
        elif e.prim.name == "while":
            cond, body = p["cond"], p["body"]
            ncc, nbc = p["cond_nconsts"], p["body_nconsts"]
            for k, o in enumerate(e.outputs):
                if id(o) not in used and id(cond.inputs[ncc + k]) not in _reads(cond) and \
                        id(body.inputs[nbc + k]) not in _reads(body):
                    found.append(("while", "unused carry", k))
            invariants(cond, ncc, "while cond")
            invariants(body, nbc, "while body")
        for _, g in subgraphs(p):
            found += _leftovers(g)
    return found


@pytest.mark.parametrize("case", CONTROL, ids=[c.id for c in CONTROL])
def test_pipelines_agree_on_loop_programs_and_their_gradients(case):
    from tracegrad.passes import fuse
    for shapes in case.shapes:
        args = make_args(case, shapes, np.float64, np.random.default_rng(1))
        graphs = [_ir(case.fn, *args)]
        if case.differentiable and any(np.asarray(a).size for a in args):
            graphs.append(_grad_graph(case, args))
        for g in graphs:
            ref = _run(g, args)
            for pipe in PIPES:
                for small in (False, True):
                    old = fuse.SMALL_PROGRAM_BYTES
                    fuse.SMALL_PROGRAM_BYTES = 0 if small else old
                    try:
                        out, _ = run_pipeline(g, pipe, check=True)
                    finally:
                        fuse.SMALL_PROGRAM_BYTES = old
                    for a, b in zip(ref, _run(out, args)):
                        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-14,
                                                   err_msg=f"{case.id} {shapes} {pipe}")
                    if pipe[:2] in ("O1", "O2"):
                        assert not _leftovers(out), (case.id, pipe, _leftovers(out))


@settings(max_examples=400, derandomize=True, database=None, deadline=None,
          suppress_health_check=list(HealthCheck))
@given(programs(max_steps=16))
def test_random_programs_with_loops_lose_dead_parts_and_invariants(p):
    """The class, on the fuzzer's programs (loops, branches, nested bodies): O1 and O2 keep
    every value and leave no unused loop output, carry, constant or invariant, forward and
    gradient."""
    if not any(k in line for line in p.lines for k in ("scan(", "while_loop(", "cond(")):
        return
    args = p.make_args()
    try:
        graphs = [tg.make_ir(p.function(), stage="traced")(*args)]
    except tg.TracegradError:
        return
    try:
        graphs.append(tg.make_ir(p.function(), grad=True, stage="grad")(*args))
    except tg.TracegradError:
        pass  # not differentiable (integer outputs, while without max_iter ...)
    for g in graphs:
        ref = _run(g, args)
        for pipe in ("O1", "O2-c"):
            out, _ = run_pipeline(g, pipe, check=True)
            for a, b in zip(ref, _run(out, args)):
                np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12, equal_nan=True)
            assert not _leftovers(out), (p.lines, pipe, _leftovers(out))


def test_o2_shrinks_a_scan_gradient():
    """Gradient graphs of an RNN: O2 removes the unused residual outputs, duplicate body work
    and the invariant transpose, and the jitted gradient matches the unoptimised one."""
    from tracegrad.passes.bodies import nested_eqn_count

    def loss(W, h0, xs):
        return tnp.sum(_rnn_w(W, h0, xs)[1])
    args = [RNG.normal(size=(4, 4)) * 0.5, RNG.normal(size=4), RNG.normal(size=(6, 4))]
    g = tg.make_ir(loss, grad=True, stage="grad")(*args)
    out, _ = run_pipeline(g, "O2", check=True)
    assert nested_eqn_count(out) < nested_eqn_count(g)
    assert _leftovers(g) and not _leftovers(out)   # unused residuals before, none after
    for e in _loops(out, "scan"):
        assert "transpose" not in _prims(e.params["body"]) or \
            e.params["body"].eqns[-1].prim.name == "transpose"
    _same(g, out, args)
    runs = [("numpy", f"O{level}") for level in (0, 1, 2)]
    if _c_has_loops():
        runs.append(("c", "O2"))   # O2-c: fusion inside the bodies, C loops around them
    for backend, level in runs:
        got = tg.jit(tg.grad(loss), backend=backend, opt_level=level)(*args)
        np.testing.assert_allclose(got, _run(g, args)[-1], rtol=1e-12, err_msg=backend)


def test_pipelines_keep_checkpointing():
    """CSE keys loops by structure: it must not merge a checkpointed scan's recomputation back
    into the forward loop, nor may DCE make the forward loop store more per step."""
    def loss(w, h0, xs, k):
        def step(h, x):
            h = tnp.tanh(h @ w + x)
            return h, tnp.sum(h * h)
        h, ys = tg.scan(step, h0, xs, checkpoint=k)
        return tnp.sum(h) + tnp.sum(ys)

    def stored(graph):  # per-step values the forward loops stack, in elements
        return sum(o.aval.size for e in _loops(graph, "scan") if not e.params["reverse"]
                   for o in e.outputs[e.params["num_carry"]:])
    args = [np.eye(4) * 0.5, np.zeros((1, 4)), RNG.normal(size=(100, 1, 4))]
    for k in (None, 10):
        g = tg.make_ir(lambda w, h0, xs: tg.grad(loss)(w, h0, xs, k), stage="traced")(*args)
        for pipe in ("O1", "O2", "O2-c"):
            out, _ = run_pipeline(g, pipe, check=True)
            assert stored(out) <= stored(g), (k, pipe)
            _same(g, out, args)
            if k:   # 10 segment starts (the per-step ys are unused by the gradient: gone)
                assert stored(out) <= 4 * 10, (pipe, stored(out))


def test_constfold_inlines_a_decided_branch_and_drops_loops_that_cannot_run():
    def f(x):
        pick = tnp.sum(tnp.asarray(np.ones(3))) > 0.0       # constant once folded: true
        a = tg.cond(pick, lambda v: tnp.sin(v) * tnp.exp(tnp.asarray(np.zeros(3))),
                    lambda v: tnp.cos(v), x)
        h, ys = tg.scan(lambda h, t: (h + t, h * t), x, tnp.zeros((0, 3)) + x[None] * 0)
        w = tg.while_loop(lambda c: c[0].sum() < 9.0, lambda c: (c[0] + 1.0,), (x,),
                          max_iter=0)[0]
        return a, h, ys, w
    args = [RNG.normal(size=3)]
    g = _ir(f, *args)
    assert {e.prim.name for e in _loops(g)} == {"cond", "scan", "while"}
    out = _pass("constfold")(g)
    assert not _loops(out)
    assert "exp" not in _prims(out) and "sin" in _prims(out)   # the branch's constants folded
    _same(g, out, args)
    out2, _ = run_pipeline(g, "O2", check=True)
    assert not _loops(out2)
    _same(g, out2, args)


def test_map_bodies_refuses_a_pass_that_changes_a_body_signature():
    from tracegrad.errors import IRError
    from tracegrad.passes.bodies import map_bodies
    args = [RNG.normal(size=3), RNG.normal(size=(4, 3))]
    g = _ir(lambda h0, xs: tg.scan(lambda h, x: (tnp.sin(h) + x, h), h0, xs), *args)

    def drop_last_output(body):
        return Graph(body.inputs, body.eqns, body.outputs[:-1])
    with pytest.raises(IRError, match="drop_last_output changed a loop body's signature"):
        map_bodies(g, drop_last_output)
    assert map_bodies(g, lambda b: b) is g
