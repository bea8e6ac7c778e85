"""Memory planning by linear scan (passes/memplan.py ``_color``): every plan passes the
independent checker, uses no more slots per size class than values are ever live at once
(interval graphs need no more: a wasteful allocator fails here), and a value whose in-place
partner dies where it is defined gets that partner's slot."""
from __future__ import annotations

import numpy as np
import pytest

import tracegrad as tg
from tracegrad.passes.memplan import analyse, check_plan
from tracegrad.passes.registry import run_pipeline

from programs import PROGRAMS
from test_pass_equivalence import _random_dataflow

TO_FUSE = ["stabilize", "lower", "simplify", "constfold", "cse", "dce", "fuse"]


def _fused(graph, monkeypatch):
    from tracegrad.passes import fuse
    monkeypatch.setattr(fuse, "SMALL_PROGRAM_BYTES", 0)
    return run_pipeline(graph, TO_FUSE)[0]


def _check_minimal(plan):
    check_plan(None, plan)
    by_size: dict[int, list] = {}
    for b in plan.buffers:
        by_size.setdefault(b.nbytes, []).append(b)
    for nbytes, group in by_size.items():
        slots = {b.slot for b in group}
        assert all(plan.slot_bytes[s] == nbytes for s in slots)
        live_at_once = max(sum(b.first <= p <= b.last for b in group)
                           for p in {b.first for b in group})
        assert len(slots) <= live_at_once, (nbytes, len(slots), live_at_once)
    # every in-place candidate is taken (greedy colouring of an interference graph missed
    # some: tests/golden/dump_loss_grad_all.txt's kernel1/b did not overwrite c)
    for b in plan.buffers:
        partner = plan.inplace_candidates.get(b.name)
        if partner is not None:
            assert b.inplace_of == partner, (b.name, partner, plan.table())


def _graphs(seed):
    ns = {"np": np}
    exec(_random_dataflow(seed, 30), ns)  # noqa: S102
    rng = np.random.default_rng(seed)
    args = (rng.standard_normal((4, 5)), rng.standard_normal((4, 5)), rng.standard_normal(5))

    def loss(a0, a1, a2):
        return sum(np.sum(o) for o in ns["prog"](a0, a1, a2))
    return [tg.make_ir(ns["prog"], stage="traced")(*args),
            tg.make_ir(loss, grad=True, stage="grad")(*args)]


@pytest.mark.parametrize("seed", range(12))
def test_random_plans_are_valid_and_minimal(seed, monkeypatch):
    for g in _graphs(seed):
        g = _fused(g, monkeypatch)
        for flat in (True, False):
            _check_minimal(analyse(g, flatten_kernels=flat))


@pytest.mark.parametrize("prog", PROGRAMS, ids=lambda p: p.name)
def test_corpus_plans_are_valid_and_minimal(prog, monkeypatch):
    args = prog.make_args(np.random.default_rng(0))
    for g in (tg.make_ir(prog.fn, stage="traced")(*args),
              tg.make_ir(prog.fn, grad=True, stage="grad")(*args)):
        _check_minimal(analyse(_fused(g, monkeypatch)))


def test_inplace_partner_passes_its_slot_on():
    """exp(x) dies in sin(exp(x)): the sine overwrites it (a chain of n elementwise ops
    needs one slot, each result written over its operand)."""
    def f(x):
        return np.sum(np.sin(np.cos(np.tanh(np.exp(x)))) * x)
    g = run_pipeline(tg.make_ir(f, stage="traced")(np.ones((8, 8))), TO_FUSE[:-1])[0]
    plan = analyse(g)
    inplace = [b for b in plan.buffers if b.inplace_of]
    assert len(inplace) >= 3, plan.table()
    assert len({b.slot for b in plan.buffers}) == 1, plan.table()
