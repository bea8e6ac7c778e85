"""Code motion never runs an equation that can raise where the user's program would not have run
it: a loop of zero trips, a ``while`` whose condition is false at the start, an untaken branch,
a step past a vmapped example's own end.

The defect: loop-invariant code motion (the tracer recording an operation on values of an
enclosing trace in that trace, passes/hoist.py, the residual hoisting of scan's reverse mode),
constant folding inside bodies, and vmap's forms of ``cond`` (every branch on every example)
and ``while`` (every example's body while any goes) assumed every primitive total. But gathers
and scatters raise IndexError on an index out of range, factorisations raise LinAlgError,
integer ``pow`` with a negative exponent raises ValueError. The mechanism: ``Traits.may_raise``
on each primitive that can raise on some operand values (``primitive.eqn_may_raise`` for an
equation, nested bodies included); such an equation moves only where it surely runs (a
``scan`` of at least one step, a ``while``'s condition) or guarded by the loop's own condition
on its initial carry (tracegrad/loop_guard.py at trace time, passes/hoist_guard.py in the
pipeline), so speed is kept.

The class: every primitive with the trait, from its rows of tests/cases.py, stays in a
zero-trip loop's body and in an untaken branch (checked on the optimised graph, and by running
the program with raising operands where the row can draw them); the registry checks tie the
trait to what declares errors (index operands, LinAlgError messages) and, empirically, the
other primitives' rows run on extreme values without raising. Random programs around such
loops and branches (tests/fuzz_loops.py, ``op_skipped_raise``) close it on the fuzzer's side.
"""
from __future__ import annotations

import numpy as np
import pytest
from c_support import needs_c
from cases import CASES, INDEX_DOMAINS, make_args

import tracegrad as tg
from tracegrad import lax
from tracegrad import numpy as tnp
from tracegrad.ir import subgraphs
from tracegrad.primitive import PRIMITIVES
from tracegrad.prims import linalg_np

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
def test_constant_folding_does_not_raise_for_an_untaken_branch_or_a_zero_trip_loop(backend):
    """constfold evaluated a gather of constants with an index out of range inside the branch:
    a compile-time error for a program that never runs it."""
    bad = np.array([[7]])

    def f(p):
        return tg.cond(p, lambda: tnp.sum(lax.gather(tnp.asarray(X), bad)),
                       lambda: tnp.float64(0.0))
    assert float(_run(f, backend, np.bool_(False))) == 0.0
    with pytest.raises(IndexError):
        _run(f, backend, np.bool_(True))

    def g(n):
        return tg.fori_loop(0, n, lambda i, c: c + tnp.sum(lax.gather(tnp.asarray(X), bad)), 0.0)
    assert float(_run(g, backend, np.int64(0))) == 0.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_nested_loops_of_zero_outer_trips_do_not_run_an_inner_invariant(backend):
    def f(x, k, n):
        def outer(i, c):
            return c + tg.fori_loop(0, 2, lambda j, d: d + x[k], np.zeros(3))
        return tg.fori_loop(0, n, outer, np.zeros(3))
    np.testing.assert_array_equal(_run(f, backend, X, np.int64(7), np.int64(0)), np.zeros(3))


@pytest.mark.parametrize("opt_level", ["O0", "O2"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_gradient_of_a_zero_length_scan_does_not_run_its_invariant_residuals(backend, opt_level):
    """scan's reverse mode hoists what the body computes from constants only out of the forward
    loop (control_rules._invariant_eqns); ``ones_like(c)`` keeps these invariants inside the
    body's trace. At O2 the empty loop is folded away first; at O0 it stays and ran them."""
    def loss(a, x, k):
        def step(c, _):
            one = tnp.ones_like(c)
            kk = k + (0 * one).astype(np.int64)
            return c * tnp.linalg.cholesky(a * one)[0, 0] + tnp.sum(x[kk]) * c, None
        return tg.scan(step, 1.0, None, length=0)[0]
    ga, gx = tg.jit(tg.grad(loss, argnums=(0, 1)), backend=backend,
                    opt_level=opt_level)(NOT_PD, X, np.int64(7))
    np.testing.assert_array_equal(ga, np.zeros((3, 3)))
    np.testing.assert_array_equal(gx, np.zeros((4, 3)))


@pytest.mark.parametrize("backend", BACKENDS)
def test_vmap_of_cond_runs_a_raising_branch_only_for_the_examples_that_take_it(backend):
    def f(x, k):
        return tg.cond(k < 4, lambda x, k: tnp.sum(x[k]), lambda x, k: 0.0 * tnp.sum(x), x, k)
    got = _run(tg.vmap(f, in_axes=(None, 0)), backend, X, np.array([1, 7]))
    np.testing.assert_array_equal(got, [X[1].sum(), 0.0])


def _in_loops(graph, inside=False):
    """(name, first operand's shape) of every equation inside a loop body, at any depth."""
    for e in graph.eqns:
        if inside:
            yield e.prim.name, getattr(e.inputs[0], "aval", None) and e.inputs[0].aval.shape
        loop = e.prim.name in ("scan", "while")
        for _, g in subgraphs(e.params):
            yield from _in_loops(g, inside or loop)


@pytest.mark.parametrize("backend", BACKENDS)
def test_reverse_mode_through_while_takes_a_raising_invariant_once(backend):
    """tracegrad/loop_guard.py: the gather of an outer table by outer indices, kept in a while
    body (it may run zero times), is computed once before the loop under the loop's condition,
    so the gradient's scatter of the whole table runs once, not once per reverse step."""
    E = np.arange(20.0).reshape(10, 2) / 10
    W = np.array([[0.5, 0.1], [-0.2, 0.3]])

    def loss(E, W, idx, n):
        def body(c):
            h, i = c
            return tnp.tanh(W @ h + tnp.sum(E[idx], axis=0)), i + 1
        return tnp.sum(tg.while_loop(lambda c: c[1] < n, body, (np.zeros(2), 0), max_iter=5)[0])

    def ref(E, W, idx, n):
        h = np.zeros(2)
        for _ in range(n):
            h = np.tanh(W @ h + E[idx].sum(0))
        return h.sum()
    g = tg.jit(tg.grad(loss, argnums=(0, 1)), backend=backend)
    idx = np.array([1, 4, 4])
    gE, gW = g(E, W, idx, np.int64(3))
    eps = 1e-6
    for a, grad in ((E, gE), (W, gW)):
        fd = np.zeros_like(a)
        for i in np.ndindex(a.shape):
            d = np.zeros_like(a)
            d[i] = eps
            k = 0 if a is E else 1
            plus, minus = [E, W], [E, W]
            plus[k], minus[k] = a + d, a - d
            fd[i] = (ref(*plus, idx, 3) - ref(*minus, idx, 3)) / (2 * eps)
        np.testing.assert_allclose(grad, fd, rtol=1e-6, atol=1e-8)
    gE0, gW0 = g(E, W, np.array([1, 99]), np.int64(0))  # zero trips: nothing indexes
    np.testing.assert_array_equal(gE0, np.zeros_like(E))
    np.testing.assert_array_equal(gW0, np.zeros_like(W))
    ir = g.lower(E, W, idx, np.int64(3)).ir
    # of the table (the reverse loop gathers the carry's previous value from its own stack)
    assert not {("scatter_add", E.shape), ("gather", E.shape)} & set(_in_loops(ir))


@pytest.mark.parametrize("backend", BACKENDS)
def test_vmap_of_while_never_runs_a_step_past_an_examples_own_end(backend):
    """vmap runs one loop while any example goes; an example that stopped kept its carry (a
    where) but its body still ran on it: x[2 * i] with i = 2 past the first example's end."""
    def f(x, n, s):
        def body(c):
            i, t = c
            return i + 1, t + tnp.sum(x[i * s])
        return tg.while_loop(lambda c: c[0] < n, body, (np.int64(0), 0.0))[1]
    got = _run(tg.vmap(f, in_axes=(None, 0, 0)), backend, X, np.array([2, 4, 0]),
               np.array([2, 1, 9]))
    np.testing.assert_array_equal(got, [X[0].sum() + X[2].sum(), X.sum(), 0.0])
    with pytest.raises(IndexError):  # the error of an example's own step still comes
        _run(tg.vmap(f, in_axes=(None, 0, 0)), backend, X, np.array([3, 1]), np.array([2, 1]))


@pytest.mark.parametrize("backend", BACKENDS)
def test_integer_power_with_a_negative_invariant_exponent_in_a_zero_trip_loop(backend):
    def f(a, e, n):
        return tg.fori_loop(0, n, lambda i, c: c + a ** e, np.zeros(2, np.int64))
    got = _run(f, backend, np.array([2, 3]), np.array([-1, 2]), np.int64(0))
    np.testing.assert_array_equal(got, [0, 0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_invariants_are_still_hoisted_a_raising_one_under_the_loop_condition(backend):
    """Speed is kept: a total invariant (the transpose) leaves a ``while`` body; a raising one
    leaves it as a ``cond`` on the loop's condition at its initial carry (passes/hoist_guard),
    and leaves a ``scan`` of at least one step as it is (it runs on the first step anyway)."""
    def f(w, x, k, n):
        def body(i, c):
            return tnp.tanh(w.T @ c) + x[k]
        return tg.fori_loop(0, n, body, np.zeros(3))
    jf = tg.jit(f, backend=backend)
    low = jf.lower(np.eye(3), X, np.int64(1), np.int64(2))
    (loop,) = [e for e in low.ir.eqns if e.prim.name == "while"]
    names = {e.prim.name for e in loop.params["body"].eqns}
    assert "transpose" not in names and "gather" not in names
    (guard,) = [e for e in low.ir.eqns if e.prim.name == "cond"]
    assert "gather" in {e.prim.name for e in guard.params["branches"][1].eqns}
    w = np.eye(3)
    ref = np.zeros(3)
    for _ in range(2):
        ref = np.tanh(w.T @ ref) + X[1]
    np.testing.assert_allclose(jf(w, X, np.int64(1), np.int64(2)), ref)
    np.testing.assert_array_equal(jf(w, X, np.int64(7), np.int64(0)), np.zeros(3))
    with pytest.raises(IndexError):
        jf(w, X, np.int64(7), np.int64(1))

    def g(w, x, k):
        return tg.fori_loop(0, 5, lambda i, c: tnp.tanh(w.T @ c) + x[k], np.zeros(3))
    low = tg.jit(g).lower(np.eye(3), X, np.int64(1))
    (loop,) = [e for e in low.ir.eqns if e.prim.name == "scan"]
    names = {e.prim.name for e in loop.params["body"].eqns}
    assert "transpose" not in names and "gather" not in names


# --- the class: every primitive that may raise, from its rows of tests/cases.py -----------------
def _poison(case, args):
    """Operands of ``case`` on which its primitive raises, or None where no draw is known to
    (eigh, eig and qr give NaN on a non-finite matrix; an integer square cannot fail)."""
    if any(d in INDEX_DOMAINS for d in case.domain):
        bad = case.__class__(**{**case.__dict__, "domain": tuple(
            "index_oob" if d in INDEX_DOMAINS else d for d in case.domain)})
        return make_args(bad, _shapes(case), args[0].dtype, np.random.default_rng(0))
    a = args[0]
    if case.prim == "cholesky":
        return [-np.eye(a.shape[-1], dtype=a.dtype)] + args[1:]
    if case.prim in ("solve", "triangular_solve"):
        return [np.zeros_like(a)] + args[1:]
    if case.prim == "svd":
        return [np.full_like(a, np.nan)] + args[1:]
    if case.prim == "pow" and case.arity == 2:
        return [np.full_like(a, 2), np.full_like(args[1], -1)]
    return None


def _shapes(case):
    """The row's first shape set whose operands are not empty (an index to put out of range)."""
    return next(s for s in case.shapes if all(int(np.prod(x)) for x in s))


def _dtype(case):
    want = "iu" if PRIMITIVES[case.prim].traits.may_raise == "int" else "f"
    return next((np.dtype(d) for d in case.dtypes if np.dtype(d).kind in want), None)


RAISING_ROWS = [pytest.param(c, id=c.id) for c in CASES
                if PRIMITIVES[c.prim].traits.may_raise and _dtype(c) is not None]
# C compiles each program: one row per primitive there
_FIRST = {}
for _p in RAISING_ROWS:
    _FIRST.setdefault(_p.values[0].prim, _p)
C_ROWS = list(_FIRST.values())


def _scalar(v):
    return tnp.sum(tnp.real(v) if np.dtype(v.dtype).kind == "c" else v).astype(np.float64)


def _forms(case):
    """Programs that must not run ``case.fn`` when the switch ``s`` says so (0 trips, false)."""
    def fori(n, *args):
        return tg.fori_loop(0, n, lambda i, c: c + _scalar(case.fn(*args)), 1.0)

    def while_(n, *args):
        return tg.while_loop(lambda c: c[0] < n, lambda c: (c[0] + 1, c[1] + _scalar(
            case.fn(*args))), (np.int64(0), 1.0))[1]

    def cond(n, *args):
        return tg.cond(n > 0, lambda: _scalar(case.fn(*args)), lambda: tnp.float64(1.0))

    def vmap_cond(n, *args):  # example 0 takes the branch only when n > 0, example 1 never
        per = tg.vmap(lambda m: tg.cond(m > 0, lambda: _scalar(case.fn(*args)),
                                        lambda: tnp.float64(0.5)))
        return tnp.sum(per(tnp.stack([n, n * 0])))
    return {"fori": fori, "while": while_, "cond": cond, "vmap-cond": vmap_cond}


def _top_level_prims(graph) -> set:
    return {e.prim.name for e in graph.eqns}


def _check_row(case, backend):
    shapes = _shapes(case)
    dt = _dtype(case)
    args = make_args(case, shapes, dt, np.random.default_rng(1))
    bad = _poison(case, args)
    for name, form in _forms(case).items():
        jf = tg.jit(form, backend=backend)
        low = jf.lower(np.int64(0), *args)
        if name != "vmap-cond":  # (vmap's per-example form is a scan of one step per example)
            assert case.prim not in _top_level_prims(low.ir), (name, str(low.ir))
        if bad is None:
            continue
        got = jf(np.int64(0), *bad)
        assert float(got) == 1.0, name
        with pytest.raises((IndexError, np.linalg.LinAlgError, ValueError)):
            jf(np.int64(1), *bad)
    if bad is not None:  # constant operands: constant folding must not raise at compile time
        def consts(n):
            return tg.cond(n > 0, lambda: _scalar(case.fn(*[tnp.asarray(b) for b in bad])),
                           lambda: tnp.float64(1.0))
        assert float(tg.jit(consts, backend=backend)(np.int64(0))) == 1.0


@pytest.mark.parametrize("case", RAISING_ROWS)
def test_a_raising_primitive_never_runs_where_the_program_would_not(case):
    _check_row(case, "numpy")


@needs_c
@pytest.mark.parametrize("case", C_ROWS)
def test_a_raising_primitive_never_runs_where_the_program_would_not_on_c(case):
    if case.prim == "pow":
        pytest.skip("C gives 0 for an integer to a negative power where NumPy raises")
    if case.prim == "eig":
        pytest.skip("C refuses eig (complex results)")
    _check_row(case, "c")


# --- the registry: the trait is declared wherever errors are -------------------------------------
def test_primitives_that_declare_errors_set_may_raise():
    """Index operands (IndexError) and a LinAlgError message (linalg_np.MESSAGES) are declared
    errors: their primitive must say it may raise, or code motion would speculate it."""
    for name, p in PRIMITIVES.items():
        if p.traits.index_operands or name in linalg_np.MESSAGES:
            assert p.traits.may_raise is True, name


def test_every_raising_primitive_has_a_row_the_class_test_runs():
    covered = {p.values[0].prim for p in RAISING_ROWS}
    assert covered == {n for n, p in PRIMITIVES.items() if p.traits.may_raise}


def _adversarial(case, shapes, dtype):
    """Extreme operand values for a row: zeros, NaN/inf or the integer extremes of small ranges
    (indices stay in range: only index primitives raise on them, and they have the trait)."""
    base = make_args(case, shapes, dtype, np.random.default_rng(2))
    out = []
    for fill in ("zero", "nan", "inf", "neg"):
        args = []
        for a, d in zip(base, case.domain):
            if d in INDEX_DOMAINS or a.dtype.kind == "b":
                args.append(a)
            elif a.dtype.kind in "fc":
                v = {"zero": 0.0, "nan": np.nan, "inf": np.inf, "neg": -np.inf}[fill]
                args.append(np.full_like(a, v))
            else:
                v = {"zero": 0, "nan": -1, "inf": 1 << 20, "neg": -(1 << 20)}[fill]
                args.append(np.full_like(a, v))
        out.append(args)
    return out


TOTAL_ROWS = [pytest.param(c, id=c.id) for c in CASES
              if not PRIMITIVES[c.prim].traits.may_raise
              and PRIMITIVES[c.prim].kind not in ("control", "custom")]


@pytest.mark.parametrize("case", TOTAL_ROWS)
def test_a_primitive_without_the_trait_does_not_raise_on_extreme_values(case):
    """The converse, empirically: every row of a primitive that does not declare ``may_raise``
    runs on zeros, NaN, infinities and integer extremes without raising (loops and branches
    are judged by their bodies; custom calls by their rules)."""
    import warnings
    for shapes in case.shapes:
        for dt in case.dtypes:
            for args in _adversarial(case, shapes, np.dtype(dt)):
                with warnings.catch_warnings(), np.errstate(all="ignore"):
                    warnings.simplefilter("ignore")
                    case.fn(*args)


# --- the fuzzer: random programs around loops that never run a raising invariant -------------------
def test_random_programs_around_zero_trip_loops_with_out_of_range_invariants():
    """tests/fuzz_programs.py's programs with every loop line drawn by ``op_skipped_raise``
    (a while of zero trips or an untaken cond around ``x[k]``, ``k`` past the end), on the
    interpreter and the NumPy backend at O0 and O2, forward and gradients. With the defect
    simulated (nothing may raise), every drawn program raised."""
    import fuzz_loops
    import fuzz_programs
    from fuzz_check import check_forward, check_gradients
    from hypothesis import HealthCheck, given, settings

    @settings(max_examples=25, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(fuzz_programs.programs(max_steps=4))
    def run(p):
        drawn.append("while_loop(" in p.source or "cond(" in p.source)
        check_forward(p)
        check_gradients(p)

    drawn: list = []
    saved = fuzz_loops.op_loop, list(fuzz_programs._OP_CHOICES)
    fuzz_loops.op_loop = fuzz_loops.op_skipped_raise
    fuzz_programs._OP_CHOICES[:] = ["loop"] * 30 + saved[1]
    try:
        run()
    finally:
        fuzz_loops.op_loop = saved[0]
        fuzz_programs._OP_CHOICES[:] = saved[1]
    assert sum(drawn) >= 10
