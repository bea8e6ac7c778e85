"""The near-linear fusion pass (passes/fuse.py with passes/fuse_legality.py) makes exactly the
decisions of the networkx version it replaced (frozen in tests/fuse_reference.py): the printed
graphs after fusion are identical on the corpus (forward and gradient), on random fuzz
programs, and on random dataflow graphs drawn to stress legality (fan-out through matrix
products and reductions that leave a would-be kernel and come back into it)."""
from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import tracegrad as tg
from tracegrad.passes.registry import run_pipeline

import fuse_reference
from fuzz_programs import programs
from programs import PROGRAMS

BEFORE_FUSE = ["stabilize", "lower", "simplify", "constfold", "cse", "dce"]


def _same_fusion(graph):
    from tracegrad.passes.bodies import in_bodies
    from tracegrad.passes.fuse import fuse
    g, _ = run_pipeline(graph, BEFORE_FUSE)
    # fuse works inside loop bodies too: compare the decisions made in every body
    new, old = fuse(g, force=True), in_bodies(fuse_reference.fuse)(g, force=True)
    assert str(new) == str(old)
    return new


@pytest.mark.parametrize("prog", PROGRAMS, ids=lambda p: p.name)
def test_corpus_fusion_matches_reference(prog):
    args = prog.make_args(np.random.default_rng(0))
    _same_fusion(tg.make_ir(prog.fn, stage="traced")(*args))
    _same_fusion(tg.make_ir(prog.fn, grad=True, stage="grad")(*args))


@settings(max_examples=150, derandomize=True, database=None, deadline=None,
          suppress_health_check=list(HealthCheck))
@given(programs(max_steps=16))
def test_fuzz_program_fusion_matches_reference(p):
    args = p.make_args()
    try:
        graph = tg.make_ir(p.function(), stage="traced")(*args)
    except tg.TracegradError:
        return  # programs the tracer rejects are test_fuzz's business
    _same_fusion(graph)


def _random_dataflow(seed: int, n: int):
    """Source of a function over (4, 5) and (5,) arrays mixing elementwise ops (fusable),
    reductions (epilogues), matrix products and transposes (kernel boundaries), each reading
    random earlier values so paths leave and re-enter candidate kernels."""
    r = random.Random(seed)
    mats, vecs = ["a0", "a1"], ["a2"]
    lines = []
    for k in range(n):
        v = f"v{k}"
        op = r.random()
        x, y = r.choice(mats), r.choice(mats[-6:])
        if op < 0.45:
            f = r.choice(["{x} + {y}", "{x} * {y}", "np.tanh({x})", "{x} - 0.5 * {y}",
                          "np.sin({x}) * {y}"])
            lines.append(f"{v} = " + f.format(x=x, y=y))
            mats.append(v)
        elif op < 0.6:
            lines.append(f"{v} = {x} * {r.choice(vecs)}")  # a broadcast feeding a kernel
            mats.append(v)
        elif op < 0.72:
            lines.append(f"{v} = np.sum({x}, axis=0)")
            vecs.append(v)
        elif op < 0.84:
            lines.append(f"{v} = np.tanh({x} @ np.ones((5, 5)) * 0.1)")
            mats.append(v)
        elif op < 0.92:
            lines.append(f"{v} = ({x}.T @ np.ones((4, 4)) * 0.1).T")
            mats.append(v)
        else:
            lines.append(f"{v} = {r.choice(vecs)} + np.max({x}, axis=0)")
            vecs.append(v)
    outs = r.sample(mats, min(3, len(mats))) + [vecs[-1]]
    body = "".join(f"    {ln}\n" for ln in lines)
    return f"def prog(a0, a1, a2):\n{body}    return ({', '.join(outs)},)\n"


@pytest.mark.parametrize("seed", range(40))
def test_random_dataflow_fusion_matches_reference(seed):
    ns = {"np": np}
    exec(_random_dataflow(seed, 12 + seed), ns)  # noqa: S102
    rng = np.random.default_rng(seed)
    args = (rng.standard_normal((4, 5)), rng.standard_normal((4, 5)), rng.standard_normal(5))
    _same_fusion(tg.make_ir(ns["prog"], stage="traced")(*args))
    if seed % 4 == 0:
        def loss(a0, a1, a2):
            return sum(np.sum(o) for o in ns["prog"](a0, a1, a2))
        _same_fusion(tg.make_ir(loss, grad=True, stage="grad")(*args))


@pytest.mark.parametrize("seed", range(6))
def test_quotient_stays_topologically_ordered(seed, monkeypatch):
    """The invariant legality rests on: after every contraction, positions are distinct and
    increase along every edge of the graph of kernels (checked on larger random graphs, whose
    contractions reorder ancestors and descendants)."""
    from tracegrad.passes import fuse_legality
    contract = fuse_legality.Quotient.contract
    calls = []

    def checked(self, a, b):
        r = contract(self, a, b)
        reps = {self.find(x) for x in self.parent}
        assert len({self.pos[x] for x in reps}) == len(reps)
        for x in reps:
            for y in map(self.find, self.succ[x]):
                assert y == x or self.pos[x] < self.pos[y]
        calls.append(r)
        return r
    monkeypatch.setattr(fuse_legality.Quotient, "contract", checked)
    ns = {"np": np}
    exec(_random_dataflow(1000 + seed, 60), ns)  # noqa: S102
    rng = np.random.default_rng(seed)
    args = (rng.standard_normal((4, 5)), rng.standard_normal((4, 5)), rng.standard_normal(5))

    def loss(a0, a1, a2):
        return sum(np.sum(o) for o in ns["prog"](a0, a1, a2))
    _same_fusion(tg.make_ir(loss, grad=True, stage="grad")(*args))
    assert any(r is None for r in calls) and any(r is not None for r in calls)
