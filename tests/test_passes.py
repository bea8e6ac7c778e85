"""The pass manager and the meaning of every pass: each pipeline, each pass alone, on the whole
program corpus (forward and gradient graphs) gives what the unoptimised graph gives, and the
IR verifies after every pass. Stabilised programs stay finite and correct at extremes."""
from __future__ import annotations

import io
import warnings

import numpy as np
import pytest

import tracegrad as tg
from tracegrad.errors import TracegradError
from tracegrad.interpreter import eval_graph
from tracegrad.passes import registry
from tracegrad.passes.registry import (PASSES, PIPELINES, DumpInstrument, Instrument,
                                       TimingInstrument, run_pipeline)
from tracegrad.pytree import tree_flatten

from programs import PROGRAMS

registry._load_passes()
GRAPH_PASSES = sorted(PASSES)


@pytest.fixture(autouse=True)
def _fuse_and_plan_small_programs(monkeypatch):
    """The corpus programs are small; make fuse and memplan act on them anyway."""
    from tracegrad.passes import fuse
    monkeypatch.setattr(fuse, "SMALL_PROGRAM_BYTES", 0)


def _graphs(prog):
    args = prog.make_args(np.random.default_rng(0))
    flat = tree_flatten((args, {}))[0]
    fwd = tg.make_ir(prog.fn, stage="traced")(*args)
    grad = tg.make_ir(prog.fn, grad=True, stage="grad")(*args)
    return flat, [("forward", fwd), ("gradient", grad)]


def _eval(graph, flat):
    with np.errstate(all="ignore"):
        return [np.asarray(o) for o in eval_graph(graph, list(flat), check=True)]


def _configs():
    out = [("O0", "O0"), ("O1", "O1"), ("O2", "O2")]
    for p in GRAPH_PASSES:
        out.append((f"only-{p}", ["lower", p] if p != "lower" else ["lower"]))
    return out


@pytest.mark.parametrize("prog", PROGRAMS, ids=[p.name for p in PROGRAMS])
@pytest.mark.parametrize("name,pipeline", _configs(), ids=[c[0] for c in _configs()])
def test_passes_preserve_meaning(prog, name, pipeline):
    flat, graphs = _graphs(prog)
    for kind, g in graphs:
        ref = _eval(registry.PASSES["lower"].fn(g), flat)
        out, _ = run_pipeline(g, pipeline, check=True)
        got = _eval(out, flat)
        for r, o in zip(ref, got):
            np.testing.assert_allclose(o, r, rtol=1e-12, atol=1e-14,
                                       err_msg=f"{prog.name} {kind} graph after {name}")


def test_o2_shrinks_gradient_graphs():
    counts = {}
    for prog in PROGRAMS:
        _, graphs = _graphs(prog)
        g = graphs[1][1]
        opt, _ = run_pipeline(g, "O2", check=True)
        counts[prog.name] = (len(g.eqns), len(opt.eqns))
        assert len(opt.eqns) <= len(g.eqns)
    assert sum(b for _, b in counts.values()) < sum(a for a, _ in counts.values())


def test_pipelines_are_known_passes():
    for name, names in PIPELINES.items():
        for p in names:
            assert p in PASSES, (name, p)
    for p in PASSES.values():
        assert p.doc


def test_disable_and_stop_after():
    g = tg.make_ir(lambda x: np.sum(np.log(1 + x) * 1.0), stage="traced")(np.ones(3))
    _, rec = run_pipeline(g, "O2", disable=("stabilize",))
    assert "stabilize" in rec.skipped and "stabilize" not in [n for n, _ in rec.stages]
    _, rec = run_pipeline(g, "O2", stop_after="lower")
    assert [n for n, _ in rec.stages][-1] == "lower"
    with pytest.raises(TracegradError, match="unknown pass"):
        run_pipeline(g, ["nope"])
    with pytest.raises(TracegradError, match="not in the pipeline"):
        run_pipeline(g, "O0", stop_after="cse")


def test_dump_instruments():
    g = tg.make_ir(lambda x: np.sum(x * 1.0), stage="traced")(np.ones(3))
    for mode, needle in (("before", "before simplify"), ("after", "after simplify"),
                         ("diff", "--- before simplify")):
        buf = io.StringIO()
        run_pipeline(g, "O1", instruments=[DumpInstrument(mode, buf)])
        assert needle in buf.getvalue(), mode
    t = TimingInstrument()
    run_pipeline(g, "O1", instruments=[t])
    assert set(t.seconds) == set(PIPELINES["O1"])


def test_verify_names_the_broken_pass():
    from tracegrad.ir import Graph

    def broken(graph):  # drops the equations but keeps the outputs: use before definition
        return Graph(graph.inputs, (), graph.outputs)
    registry.PASSES["_broken"] = registry.PassInfo("_broken", broken, "test only")
    try:
        g = tg.make_ir(lambda x: np.sin(x), stage="traced")(np.ones(2))
        with pytest.raises(TracegradError, match="pass '_broken' produced an invalid graph"):
            run_pipeline(g, ["_broken"], check=True)
    finally:
        del registry.PASSES["_broken"]


def test_env_variables_control_jit(monkeypatch):
    monkeypatch.setenv("TRACEGRAD_DISABLE_PASSES", "stabilize")
    f = tg.jit(lambda x: np.log(np.sum(np.exp(x))))
    assert "reduce_max" not in str(f.lower(np.ones(3)).ir)
    monkeypatch.setenv("TRACEGRAD_DISABLE_PASSES", "")
    g = tg.jit(lambda x: np.log(np.sum(np.exp(x))))
    assert "reduce_max" in str(g.lower(np.ones(3)).ir)


def test_jit_opt_level_and_stats():
    f = tg.jit(lambda x: np.sum(x * 1.0 + 0.0), opt_level="O0")
    lo = f.lower(np.ones(3))
    assert "mul" in str(lo.ir)
    f2 = tg.jit(lambda x: np.sum(x * 1.0 + 0.0), opt_level="O2")
    assert "mul" not in str(f2.lower(np.ones(3)).ir)
    assert set(lo.stats["eqns"]) >= {"traced", "final"}


# --- stabilisation at the extremes ---------------------------------------------------------------
def _lse(x):
    return np.log(np.sum(np.exp(x)))


def _log_sigmoid(x):
    return np.sum(np.log(1 / (1 + np.exp(-x))))


def _log_softmax(x):
    return np.sum(np.log(np.exp(x) / np.sum(np.exp(x))) * np.arange(3))


def _softmax(x):
    return np.sum(np.exp(x) / np.sum(np.exp(x)) * np.arange(3))


def _softplus(x):
    return np.sum(np.log(1 + np.exp(x)))


def _expm1(x):
    return np.sum(np.exp(x) - 1)


def _exact(fn, x):
    """The exact value and gradient, computed in float64 with the stable formulas."""
    x = np.asarray(x, np.float64)
    m = np.max(x)
    lse = m + np.log(np.sum(np.exp(x - m)))
    sm = np.exp(x - lse)
    softplus = np.logaddexp(0, x)
    sig = np.exp(-np.logaddexp(0, -x))
    return {
        _lse: (lse, sm),
        _log_sigmoid: (-np.sum(np.logaddexp(0, -x)), 1 - sig),
        _log_softmax: (np.sum((x - lse) * np.arange(3)), np.arange(3) - 3 * sm),
        _softmax: (np.sum(sm * np.arange(3)), sm * (np.arange(3) - np.sum(sm * np.arange(3)))),
        _softplus: (np.sum(softplus), sig),
        _expm1: (np.sum(np.expm1(x)), np.exp(x)),
    }[fn]


@pytest.mark.parametrize("dtype,big", [(np.float32, 80.0), (np.float64, 700.0)],
                         ids=["f32", "f64"])
@pytest.mark.parametrize("fn", [_lse, _log_sigmoid, _log_softmax, _softmax, _softplus],
                         ids=["logsumexp", "log_sigmoid", "log_softmax", "softmax", "softplus"])
def test_stable_at_extremes(fn, dtype, big):
    x = np.array([big, -big, 0.0], dtype=dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow anywhere
        value, grad = tg.value_and_grad(fn)(x)
        jit_value = tg.jit(fn)(x)
    ev, eg = _exact(fn, x)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    assert np.isfinite(value) and np.all(np.isfinite(grad))
    np.testing.assert_allclose(value, ev, rtol=rtol)
    np.testing.assert_allclose(jit_value, ev, rtol=rtol)
    np.testing.assert_allclose(grad, eg, rtol=rtol, atol=1e-30)


def test_expm1_and_log1p_precision():
    x = np.array([1e-10, -1e-12])
    np.testing.assert_allclose(tg.jit(_expm1)(x), np.sum(np.expm1(x)), rtol=1e-15)
    np.testing.assert_allclose(tg.jit(lambda v: np.sum(np.log(1 + v)))(x),
                               np.sum(np.log1p(x)), rtol=1e-15)


class _Count(Instrument):
    def __init__(self):
        self.n = 0

    def after(self, name, before, after, seconds):
        self.n += 1


def test_custom_instrument():
    c = _Count()
    g = tg.make_ir(lambda x: np.sin(x), stage="traced")(np.ones(2))
    run_pipeline(g, "O1", instruments=[c])
    assert c.n == len(PIPELINES["O1"])


# --- fusion and memory planning ---------------------------------------------------------------
@pytest.mark.parametrize("prog", PROGRAMS, ids=[p.name for p in PROGRAMS])
def test_memplan_never_shares_live_buffers(prog):
    from tracegrad.passes.memplan import check_plan
    flat, graphs = _graphs(prog)
    for kind, g in graphs:
        opt, rec = run_pipeline(g, "O2", check=True)
        plan = rec.analyses["memplan"]
        check_plan(opt, plan)  # independent checker: no two live values in one slot
        assert plan.peak_bytes <= plan.total_intermediate_bytes


def test_memplan_is_an_analysis_and_nothing_travels_in_graph_meta():
    """The NumPy memory plan used to ride to the emitter in ``graph.meta["memplan"]`` (and
    donate_argnums to the pass in ``meta["donate"]``). The plan is now the memplan stage's
    result in ``PipelineRecord.analyses``; every stage's graph carries only the derivative
    provenance marks the printer and dump read."""
    from tracegrad.passes.autodiff import DERIVATIVE_EQNS
    for prog in PROGRAMS:
        for kind, g in _graphs(prog)[1]:
            out, rec = run_pipeline(g, "O2")
            assert rec.analyses["memplan"] is not None, (prog.name, kind)
            assert rec.stages[-1] == ("memplan", rec.stages[-2][1])  # the graph goes on as is
            for name, stage in rec.stages:
                assert set(stage.meta) <= {DERIVATIVE_EQNS}, (prog.name, kind, name)


def test_codegen_reads_nothing_from_graph_meta():
    """Code generation gets what passes computed as arguments (the memory plan), never through
    ``Graph.meta``: no module under codegen/ reads a ``.meta`` attribute."""
    import ast
    import pathlib

    import tracegrad.codegen as codegen
    root = pathlib.Path(codegen.__file__).parent
    readers = [f"{path.relative_to(root)}:{node.lineno}" for path in sorted(root.rglob("*.py"))
               for node in ast.walk(ast.parse(path.read_text()))
               if isinstance(node, ast.Attribute) and node.attr == "meta"]
    assert not readers, readers


def test_checker_catches_overlap():
    from tracegrad.passes.memplan import check_plan
    prog = PROGRAMS[0]
    _, graphs = _graphs(prog)
    opt, rec = run_pipeline(graphs[1][1], "O2")
    plan = rec.analyses["memplan"]
    overlapping = [(x, y) for x in plan.buffers for y in plan.buffers
                   if x is not y and x.first < y.first < x.last and x.nbytes == y.nbytes]
    x, y = overlapping[0]
    y.slot = x.slot
    with pytest.raises(AssertionError, match="live together"):
        check_plan(opt, plan)


@pytest.mark.parametrize("prog", PROGRAMS, ids=[p.name for p in PROGRAMS])
def test_planned_numpy_code_matches_eager(prog):
    args = prog.make_args(np.random.default_rng(4))
    f = tg.jit(tg.value_and_grad(prog.fn))
    lowered = f.lower(*args)
    assert lowered.executable.plan is not None and "_V[" in lowered.source
    for _ in range(2):  # the second call reuses the arena
        value, grads = f(*args)
        np.testing.assert_allclose(value, prog.fn(*args), rtol=1e-12)
    ref_value, ref_grads = tg.jit(tg.value_and_grad(prog.fn), opt_level="O1")(*args)
    for a, b in zip(tree_flatten(grads)[0], tree_flatten(ref_grads)[0]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


def test_w1_gradient_is_one_kernel():
    f = lambda x, y: np.sum(np.tanh(x * y + np.sin(x)) * np.exp(-y * y))  # noqa: E731
    lo = tg.jit(tg.value_and_grad(f, argnums=(0, 1))).lower(np.ones(8), np.ones(8))
    assert lo.stats["kernels"] == 1
    assert [e.prim.name for e in lo.ir.eqns] == ["fused"]


def test_donated_argument_storage_is_reused_and_results_are_right():
    """jit(donate_argnums=...) lets the memory plan write intermediates into a donated input
    (the NumPy backend); the result is unchanged and the planned peak drops."""
    def f(x, y):
        a = np.exp(x) * 2.0
        b = np.sin(a) + y
        return np.sum(np.tanh(b) * b)
    x = np.linspace(-1, 1, 50_000)
    y = np.linspace(0, 1, 50_000)
    want = f(x, y)
    plain = tg.jit(f, backend="numpy")
    donated = tg.jit(f, backend="numpy", donate_argnums=(0,))
    lo_plain, lo_don = plain.lower(x, y), donated.lower(x, y)
    plan = lo_don.executable.plan
    assert plan.donated_slots, "the plan should back a slot with the donated input"
    assert lo_don.stats["peak_bytes"] < lo_plain.stats["peak_bytes"]
    assert "out=a)" in lo_don.source  # an intermediate written into the donated input a
    x_copy = x.copy()
    np.testing.assert_allclose(donated(x_copy, y), want, rtol=1e-12)
    assert not np.array_equal(x_copy, x)  # the donated buffer was used
    ro = x.copy()
    ro.flags.writeable = False  # cannot be written: the executable works on a copy
    np.testing.assert_allclose(donated(ro, y), want, rtol=1e-12)
    np.testing.assert_array_equal(ro, x)
    with pytest.raises(TracegradError, match="both static and donated"):
        tg.jit(lambda a, n: a * n, static_argnums=1, donate_argnums=1)(x, 2)
