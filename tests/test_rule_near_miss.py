"""Rule near-misses: a pattern rule (stabilize, simplify) must fire only where every piece it
matches lines up (reduction axes, broadcast dimensions, shapes, dtypes, the very same operand).

Two parts: the programs of issue 11 (softmax and a hand-shifted logsumexp written with a
broadcast along the other axis of a square array) forward on both backends at every level and
their gradients; and a table over every rule of both passes (tests/rule_cases.py), each with a
program where it fires and near-misses where it must not, checked on the rewritten IR and on
values. A rule added without a row in that table fails ``test_every_rule_has_near_misses``.
"""
from __future__ import annotations

import numpy as np
import pytest
from rule_cases import CASES, run_case, rule_tables

import tracegrad as tg
from tracegrad.testing import check_grads


# --- issue 11 item 1: the reported programs ----------------------------------------------------
def softmax_sum_broadcast_other_axis(x):
    # np.sum(..., axis=1) has shape (3,); NumPy broadcasts it along axis 0, not back along 1
    return np.exp(x) / np.sum(np.exp(x), axis=1)


def logsumexp_shift_other_axis(x):
    m = x.max(1)   # (3,), broadcast in x - m along axis 0: not the shift of a logsumexp
    return np.log(np.sum(np.exp(x - m), 1)) + m


def log_softmax_sum_broadcast_other_axis(x):
    return np.log(np.exp(x) / np.sum(np.exp(x), axis=0))


def shifted_log_softmax_other_axis(x):
    z = x - x.max(1)
    return z - np.log(np.sum(np.exp(z), 1))


REPORTED = [softmax_sum_broadcast_other_axis, logsumexp_shift_other_axis,
            log_softmax_sum_broadcast_other_axis, shifted_log_softmax_other_axis]


def _x():
    return np.random.default_rng(11).normal(size=(3, 3)) * 2.0


@pytest.mark.parametrize("backend", ["numpy", "c"])
@pytest.mark.parametrize("level", ["O0", "O1", "O2"])
@pytest.mark.parametrize("fn", REPORTED, ids=[f.__name__ for f in REPORTED])
def test_reported_forward(fn, level, backend):
    x = _x()
    try:
        got = tg.jit(fn, backend=backend, opt_level=level)(x)
    except tg.CompileError:
        pytest.skip("no working C compiler here")
    np.testing.assert_allclose(got, fn(x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("fn", REPORTED, ids=[f.__name__ for f in REPORTED])
def test_reported_gradient(fn):
    w = np.arange(1.0, 10.0).reshape(3, 3)
    check_grads(lambda x: np.sum(fn(x) * w), (_x(),))


# --- every rule: fires where it should, not on near-misses -------------------------------------
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_rule_case(case):
    run_case(case)


@pytest.mark.parametrize("module", ["simplify", "stabilize"])
def test_every_rule_has_near_misses(module):
    """Each rule needs one row where it fires and at least one near-miss where it must not."""
    docs = rule_tables()[module]
    fires = {c.rule for c in CASES if c.module == module and c.fires}
    misses = {c.rule for c in CASES if c.module == module and not c.fires}
    assert docs <= fires, f"rules without a firing case: {sorted(docs - fires)}"
    assert docs <= misses, f"rules without a near-miss case: {sorted(docs - misses)}"
    assert {c.rule for c in CASES if c.module == module} <= docs, "cases for unknown rules"


def test_engine_refuses_a_replacement_of_another_dtype():
    """The engine checks every replacement's shape and dtype, literals included (a literal
    used to be checked for shape only)."""
    from tracegrad.ir import make_lit
    from tracegrad.passes.rewrite import Rule, rewrite_once
    from tracegrad.printing import parse_graph
    g = parse_graph("{ lambda a:f64[] .\n  let b:f64[] = sin a\n  in ( b ) }")
    bad = {"sin": [Rule(lambda e, b: [make_lit(0.0, np.float32)], "sin -> a float32 zero")]}
    with pytest.raises(AssertionError, match="changed the type"):
        rewrite_once(g, bad)
    ok = {"sin": [Rule(lambda e, b: [make_lit(0.0, np.float64)], "sin -> a float64 zero")]}
    assert str(rewrite_once(g, ok)[0]).endswith("in ( 0.0:f64 ) }")
