"""Code motion never runs an equation that can raise where the user's program would not have run
it: a loop of zero trips, a ``while`` whose condition is false at the start, an untaken branch.

The defect: loop-invariant code motion (the tracer recording an operation on values of an
enclosing trace in that trace, passes/hoist.py, the residual hoisting of scan's reverse mode)
and vmap's select-both-branches form of ``cond`` assumed every primitive total. But gathers and
scatters raise IndexError on an index out of range, factorisations raise LinAlgError, integer
``pow`` with a negative exponent raises ValueError: a loop that NumPy would never have entered
raised. The mechanism: ``Traits.may_raise`` on each primitive that can raise on some operand
values (``primitive.eqn_may_raise`` for an equation, nested bodies included); code motion moves
such an equation only where it is sure to run anyway (a ``scan`` of at least one step, a
``while``'s condition, which runs at least once).

The class: every primitive with the trait, from its rows of tests/cases.py, stays in a
zero-trip loop's body and in an untaken branch (checked on the optimised graph, and by running
the program with raising operands where the row can draw them), and the registry check below
ties the trait to what declares errors (index operands, LinAlgError messages).
"""
from __future__ import annotations

import numpy as np
import pytest
from c_support import needs_c

import tracegrad as tg
from tracegrad import numpy as tnp

BACKENDS = ["numpy", pytest.param("c", marks=needs_c)]
X = np.arange(12.0).reshape(4, 3)
NOT_PD = -np.eye(3)                 # cholesky of it raises LinAlgError
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def _run(fn, backend, *args):
    return tg.jit(fn, backend=backend)(*args)


# --- regressions: each raised before the fix ---------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_fori_of_zero_trips_does_not_run_an_out_of_range_invariant_gather(backend):
    def f(x, k, n):
        return tg.fori_loop(0, n, lambda i, c: c + x[k], np.zeros(3))
    # NumPy: ``for i in range(0): c = c + x[7]`` never indexes
    np.testing.assert_array_equal(_run(f, backend, X, np.int64(7), np.int64(0)), np.zeros(3))
    # with trips, the index still raises, as NumPy's loop would on its first step
    with pytest.raises(IndexError):
        _run(f, backend, X, np.int64(7), np.int64(2))
    np.testing.assert_array_equal(_run(f, backend, X, np.int64(1), np.int64(2)), 2 * X[1])


@pytest.mark.parametrize("backend", BACKENDS)
def test_while_false_at_start_does_not_run_a_failing_invariant_cholesky(backend):
    def f(a, c0):
        return tg.while_loop(lambda c: c < 0.0,
                             lambda c: c + tnp.linalg.cholesky(a)[0, 0], c0)
    assert float(_run(f, backend, NOT_PD, np.float64(1.0))) == 1.0
    with pytest.raises(np.linalg.LinAlgError):
        _run(f, backend, NOT_PD, np.float64(-1.0))


@pytest.mark.parametrize("backend", BACKENDS)
def test_untaken_branch_closing_over_an_out_of_range_index_does_not_raise(backend):
    def f(x, k, p):
        return tg.cond(p, lambda: tnp.sum(x[k]), lambda: tnp.sum(x))
    assert float(_run(f, backend, X, np.int64(7), np.bool_(False))) == X.sum()
    with pytest.raises(IndexError):
        _run(f, backend, X, np.int64(7), np.bool_(True))


@pytest.mark.parametrize("backend", BACKENDS)
def test_nested_loops_of_zero_outer_trips_do_not_run_an_inner_invariant(backend):
    def f(x, k, n):
        def outer(i, c):
            return c + tg.fori_loop(0, 2, lambda j, d: d + x[k], np.zeros(3))
        return tg.fori_loop(0, n, outer, np.zeros(3))
    np.testing.assert_array_equal(_run(f, backend, X, np.int64(7), np.int64(0)), np.zeros(3))


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradient_of_a_zero_length_scan_does_not_run_its_invariant_residuals(backend):
    def loss(a, x, k):
        def step(c, _):
            return c * tnp.linalg.cholesky(a)[0, 0] + tnp.sum(x[k]) * c, None
        return tg.scan(step, 1.0, None, length=0)[0]
    ga, gx = _run(tg.grad(loss, argnums=(0, 1)), backend, NOT_PD, X, np.int64(7))
    np.testing.assert_array_equal(ga, np.zeros((3, 3)))
    np.testing.assert_array_equal(gx, np.zeros((4, 3)))


@pytest.mark.parametrize("backend", BACKENDS)
def test_vmap_of_cond_runs_a_raising_branch_only_for_the_examples_that_take_it(backend):
    def f(x, k):
        return tg.cond(k < 4, lambda x, k: tnp.sum(x[k]), lambda x, k: 0.0 * tnp.sum(x), x, k)
    got = _run(tg.vmap(f, in_axes=(None, 0)), backend, X, np.array([1, 7]))
    np.testing.assert_array_equal(got, [X[1].sum(), 0.0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_integer_power_with_a_negative_invariant_exponent_in_a_zero_trip_loop(backend):
    def f(a, e, n):
        return tg.fori_loop(0, n, lambda i, c: c + a ** e, np.zeros(2, np.int64))
    got = _run(f, backend, np.array([2, 3]), np.array([-1, 2]), np.int64(0))
    np.testing.assert_array_equal(got, [0, 0])


def test_invariants_that_cannot_raise_are_still_hoisted():
    """Speed is kept: a total invariant (the transpose) leaves a ``while`` body, and a raising
    one leaves a ``scan`` of at least one step (it runs on the first step anyway)."""
    def f(w, x, k, n):
        def body(i, c):
            return tnp.tanh(w.T @ c) + x[k]
        return tg.fori_loop(0, n, body, np.zeros(3))
    low = tg.jit(f).lower(np.eye(3), X, np.int64(1), np.int64(2))
    (loop,) = [e for e in low.ir.eqns if e.prim.name == "while"]
    names = {e.prim.name for e in loop.params["body"].eqns}
    assert "transpose" not in names and "gather" in names

    def g(w, x, k):
        return tg.fori_loop(0, 5, lambda i, c: tnp.tanh(w.T @ c) + x[k], np.zeros(3))
    low = tg.jit(g).lower(np.eye(3), X, np.int64(1))
    (loop,) = [e for e in low.ir.eqns if e.prim.name == "scan"]
    names = {e.prim.name for e in loop.params["body"].eqns}
    assert "transpose" not in names and "gather" not in names
