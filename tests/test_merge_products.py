"""merge-products (passes/merge_products.py): products sharing a large operand become one product
over the stacked small operands (``A @ x`` and ``A @ v`` read ``A`` once), and the C backend
multiplies the stacked rows in one pass over ``A`` (codegen/c/multi_gemv.py).

Checked: the merged program gives the unmerged one's results on both backends (the NumPy
backend runs the pass when asked for it; it is in the C pipeline only), the HVP it speeds up
agrees with finite differences of the gradient, the W6 HVP's program has one product of ``A``
with the stacked ``[x; v]``, loop bodies merge too, and the cases that must not merge do not:
dependent products, other contracted axes, a small shared operand."""
from __future__ import annotations

import numpy as np
import pytest

import tracegrad as tg
from tracegrad.interpreter import eval_graph
from tracegrad.passes.registry import PIPELINES, run_pipeline

from c_support import needs_c

RNG = np.random.default_rng(7)
MERGED = [p for p in PIPELINES["O2-c"] if p not in ("fuse-all", "fuse-rows")]
UNMERGED = [p for p in MERGED if p != "merge-products"]


def _w6(a, x):
    return np.sum(np.log(1 + np.exp(a @ x)))


def _hvp(a, x, v):
    return tg.hvp(lambda y: _w6(a, y), (x,), (v,))


def _dots(graph):
    return [e for e in graph.eqns if e.prim.name == "dot_general"]


def _reads(e, var):
    return any(a is var for a in e.inputs)


# (name, function, argument shapes): each has products sharing one large operand
CASES = {
    # forward-over-reverse: A @ x and A @ v (dot form), then A.T @ u alone
    "hvp": (_hvp, [(203, 150), (150,), (150,)]),
    # two transposed products u @ A, w @ A (axpy form: A contracted along its rows)
    "vecs_times_A": (lambda a, u, w: (u @ a, w @ a), [(180, 130), (180,), (180,)]),
    # columns: A @ B1 (3 columns) and A @ B2 (2): stacked rows need a transpose, results too
    "few_columns": (lambda a, b1, b2: (a @ b1, np.tanh(a @ b2)), [(150, 140), (140, 3), (140, 2)]),
    # three vectors, one result read between the products (moved after the merged one)
    "three": (lambda a, x, v, w: (np.sin(a @ x) + 1.0, a @ v, a @ w),
              [(170, 120), (120,), (120,), (120,)]),
    # small rows on the right: A @ C.T with C's rows contracted (the N-small kernel path)
    "rhs_rows": (lambda a, c, d: (np.einsum("mk,nk->mn", a, c), np.einsum("mk,nk->mn", a, d)),
                 [(160, 130), (2, 130), (3, 130)]),
}


def _args(shapes, dtype):
    return [RNG.standard_normal(s).astype(dtype) for s in shapes]


def _graph(fn, args):
    return tg.make_ir(fn, stage="traced")(*args)


def _flat(outs):
    return [np.asarray(o) for o in (outs if isinstance(outs, (tuple, list)) else [outs])]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", sorted(CASES))
def test_merging_happens_and_keeps_results_on_the_numpy_backend(case, dtype):
    fn, shapes = CASES[case]
    args = _args(shapes, dtype)
    g = _graph(fn, args)
    merged, _ = run_pipeline(g, MERGED, check=True)
    plain, _ = run_pipeline(g, UNMERGED, check=True)
    assert len(_dots(merged)) < len(_dots(plain)), str(merged)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    for got, want in zip(eval_graph(merged, args), eval_graph(plain, args)):
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)
    # the NumPy backend's generated program, given the pass in its pipeline
    jitted = tg.jit(fn, backend="numpy", opt_level=MERGED)
    for got, want in zip(_flat(jitted(*args)), eval_graph(plain, args)):
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


@needs_c
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", sorted(CASES))
def test_merged_products_on_c_equal_the_unmerged_program(case, dtype):
    fn, shapes = CASES[case]
    args = _args(shapes, dtype)
    low = tg.jit(fn, backend="c").lower(*args)
    assert "merge-products" in low.stats["pass_seconds"]
    want = eval_graph(run_pipeline(_graph(fn, args), UNMERGED)[0], args)
    tol = 1e-4 if dtype == np.float32 else 1e-10
    for got, ref in zip(_flat(low.executable(*args)), want):
        np.testing.assert_allclose(got, ref, rtol=tol, atol=tol)


@needs_c
def test_the_merged_hvp_matches_finite_differences_of_the_gradient():
    a, x, v = _args([(203, 150), (150,), (150,)], np.float64)
    a /= np.sqrt(150)
    hv = tg.jit(_hvp, backend="c")(a, x, v)
    grad = tg.jit(tg.grad(_w6, argnums=1), backend="c")
    eps = 1e-5
    fd = (grad(a, x + eps * v) - grad(a, x - eps * v)) / (2 * eps)
    np.testing.assert_allclose(hv, fd, rtol=1e-6, atol=1e-8)


@needs_c
def test_w6_hvp_program_reads_a_once_for_x_and_v():
    """The W6 HVP on C: two products of A (was three): A with the stacked [x; v] (a [2, n]
    concatenation), and A.T times the elementwise result."""
    a, x, v = _args([(1000, 1000), (1000,), (1000,)], np.float32)
    a /= np.float32(np.sqrt(1000))  # W6's scaling (benchmarks/workloads.py)
    # without onepass-products, which then makes both products one kernel reading A once
    # (tests/test_onepass_products.py)
    low = tg.jit(_hvp, backend="c", opt_level=[p for p in PIPELINES["O2-c"]
                                               if p != "onepass-products"]).lower(a, x, v)
    A = low.ir.inputs[0]
    dots = [e for e in _dots(low.ir) if _reads(e, A)]
    assert len(dots) == 2, str(low.ir)
    stacked = [e.inputs[0].aval.shape for e in dots]
    assert (2, 1000) in stacked
    ref = eval_graph(run_pipeline(_graph(_hvp, [a, x, v]), UNMERGED)[0], [a, x, v])[0]
    # float32 sums of 1000 terms in another order: close relative to the largest entry
    np.testing.assert_allclose(low.executable(a, x, v)[0], ref, rtol=0,
                               atol=1e-5 * np.abs(ref).max())


def test_products_in_a_loop_body_merge():
    def f(a, h0, xs):
        def step(h, xt):
            return np.tanh(a @ h) + a @ xt, None
        return tg.scan(step, h0, xs)[0]

    args = _args([(130, 130), (130,), (5, 130)], np.float64)
    g = _graph(f, args)
    merged, _ = run_pipeline(g, MERGED, check=True)
    (loop,) = [e for e in merged.eqns if e.prim.kind == "control"]
    body = loop.params["body"]
    assert len(_dots(body)) == 1 and _dots(body)[0].inputs[0].aval.shape == (2, 130), str(body)
    want = eval_graph(run_pipeline(g, UNMERGED)[0], args)
    np.testing.assert_allclose(eval_graph(merged, args)[0], want[0], rtol=1e-10, atol=1e-10)


# --- cases that must not merge -----------------------------------------------------------------
NOT_MERGED = {
    # A @ x feeds the other product: they cannot run as one
    "dependent": (lambda a, x: a @ np.tanh(a @ x), [(130, 130), (130,)]),
    # A contracted over its columns in one, its rows in the other
    "other_axes": (lambda a, x, v: (a @ x, v @ a), [(130, 130), (130,), (130,)]),
    # a short, wide A: its bytes do not pay for the stacking copies
    "small_shared": (lambda a, x, v: (a @ x, a @ v), [(2, 50), (50,), (50,)]),
    # one product only, read twice
    "single": (lambda a, x: np.sin(a @ x) + np.cos(a @ x), [(130, 130), (130,)]),
}


@pytest.mark.parametrize("case", sorted(NOT_MERGED))
def test_products_that_must_not_merge_are_left_alone(case):
    fn, shapes = NOT_MERGED[case]
    args = _args(shapes, np.float64)
    g = _graph(fn, args)
    plain, _ = run_pipeline(g, UNMERGED, check=True)
    merged, _ = run_pipeline(plain, ["merge-products"], check=True)
    assert merged is plain, str(merged)


def test_a_dependent_product_stays_out_while_independent_ones_merge():
    """A @ x and A @ v merge; A @ (A @ x) depends on the first and stays a product of its own,
    placed after the merged one."""
    def fn(a, x, v):
        return a @ np.sin(a @ x), a @ v

    args = _args([(130, 130), (130,), (130,)], np.float64)
    g = _graph(fn, args)
    plain, _ = run_pipeline(g, UNMERGED, check=True)
    merged, _ = run_pipeline(plain, ["merge-products"], check=True)
    assert len(_dots(merged)) == 2 and len(_dots(plain)) == 3
    for got, want in zip(eval_graph(merged, args), eval_graph(plain, args)):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


def test_opt_level_accepts_a_list_of_pass_names():
    """jit's documented ``opt_level`` of pass names: a list raised TypeError (unhashable, looked
    up in the pipeline table) where a tuple worked."""
    x = np.linspace(0.0, 1.0, 5)
    for level in (["lower", "dce"], ("lower", "dce")):
        np.testing.assert_allclose(tg.jit(np.sin, backend="numpy", opt_level=level)(x), np.sin(x))


# --- the C kernel of a few rows times a large matrix (codegen/c/multi_gemv.py) ------------------
# every layout it takes: the few rows on the left or the right, the matrix contracted along its
# rows (dot form) or its columns (axpy form); with a batch axis; row counts with a tail block
@needs_c
@pytest.mark.parametrize("n", [2, 3, 8])
@pytest.mark.parametrize("spec", ["nk,mk->nm", "nk,km->nm", "mk,nk->mn", "km,nk->mn",
                                  "bnk,bmk->bnm", "bmk,bnk->bmn"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_few_rows_times_a_large_matrix_on_c(spec, n, dtype):
    sizes = {"n": n, "m": 1031, "k": 37, "b": 2}   # m * k above the kernel's minimum
    ins = spec.split("->")[0].split(",")
    args = [RNG.standard_normal([sizes[c] for c in s]).astype(dtype) for s in ins]
    low = tg.jit(lambda p, q: np.einsum(spec, p, q), backend="c").lower(*args)
    assert "matrix read once" in low.executable.source
    want = np.einsum(spec, *[a.astype(np.float64) for a in args])
    tol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(low.executable(*args)[0], want, rtol=tol, atol=tol)


@needs_c
@pytest.mark.parametrize("fn", [lambda a, x: x @ a.T, lambda a, x: (a @ x.T).T,
                                lambda a, x: np.einsum("nk,mk->nm", x, a.T.T)],
                         ids=["x_at", "a_xt_t", "einsum_double_t"])
def test_a_transposed_operand_is_read_in_place_not_copied(fn):
    """X @ A.T copied A transposed (simplify folded a transpose of a product's result, not of its
    operand): 0.64 ms on C for a 1000x1000 float32 A, where the product takes 0.05. The
    transpose now folds into the contracted axes (tests/rule_cases.py has its near-misses)."""
    a, x = _args([(300, 200), (2, 200)], np.float32)
    low = tg.jit(fn, backend="c").lower(a, x)
    assert not any(e.prim.name == "transpose" for e in low.ir.eqns), str(low.ir)
    np.testing.assert_allclose(low.executable(a, x)[0], x @ a.T, rtol=1e-4, atol=1e-4)


# --- the class: random groups of products sharing one matrix ------------------------------------
_FORMS = {"Ax": lambda a, s: a @ s, "AX": lambda a, s: a @ s, "xA": lambda a, s: s @ a,
          "XA": lambda a, s: s @ a, "XAt": lambda a, s: s @ a.T, "Atx": lambda a, s: a.T @ s}


def _random_program(rng):
    """A function of (A, *inputs) making 2-5 products with A in random layouts (A @ x, A @ X,
    x @ A, X @ A, X @ A.T, A.T @ x), whose small operands are fresh inputs or functions of an
    earlier product's result (dependent products), and its input shapes."""
    m, k = (int(s) for s in rng.integers(20, 70, 2))
    shapes, plan = [(m, k)], []
    for _ in range(int(rng.integers(2, 6))):
        form = str(rng.choice(sorted(_FORMS)))
        cols = int(rng.integers(1, 4))
        dep = plan and rng.random() < 0.3
        plan.append((form, cols, len(shapes), bool(dep)))
        contract = k if form in ("Ax", "AX", "XAt") else m
        shapes.append((contract, cols) if form == "AX" else
                      (cols, contract) if form in ("XA", "XAt") else (contract,))

    def fn(a, *ins):
        outs = []
        for form, cols, i, dep in plan:
            s = ins[i - 1]
            if dep:  # a function of an earlier result, fitted to this operand's shape
                prev = np.ravel(outs[-1])
                s = s + np.sum(np.sin(prev))
            outs.append(_FORMS[form](a, s))
        return tuple(outs)
    return fn, shapes


@pytest.mark.parametrize("seed", range(40))
def test_random_groups_of_products_merge_to_the_same_results(seed):
    rng = np.random.default_rng(seed)
    fn, shapes = _random_program(rng)
    args = [rng.standard_normal(s) for s in shapes]
    g = _graph(fn, args)
    plain, _ = run_pipeline(g, UNMERGED, check=True)
    merged, _ = run_pipeline(plain, ["merge-products", "dce"], check=True)
    assert len(_dots(merged)) <= len(_dots(plain))
    for got, want in zip(eval_graph(merged, args), eval_graph(plain, args)):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
    want = [np.asarray(w) for w in fn(*args)]
    for got, ref in zip(eval_graph(merged, args), want):
        np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-10)


@needs_c
@pytest.mark.parametrize("seed", range(8))
def test_random_groups_of_products_on_c(seed):
    rng = np.random.default_rng(seed)
    fn, shapes = _random_program(rng)
    # A's sides (and the operands' contracted sides) 4x longer: above the C kernel's minimum
    # size; the 1-3 columns stay
    args = [rng.standard_normal(tuple(d * 4 if d > 3 else d for d in s)) for s in shapes]
    low = tg.jit(fn, backend="c").lower(*args)
    for got, ref in zip(_flat(low.executable(*args)), fn(*args)):
        np.testing.assert_allclose(got, ref, rtol=1e-9, atol=1e-9)


@needs_c
@pytest.mark.parametrize("spec", ["nk,mk->nm", "nk,km->nm"], ids=["dot_form", "axpy_form"])
def test_the_few_rows_kernel_gives_the_same_bits_on_any_team(spec, monkeypatch):
    """Each output row (dot form) or column chunk (axpy form) is summed by one thread, so the
    bits do not depend on the team: 1, 2 and 3 threads, with 1 or unlimited CPUs free."""
    from tracegrad.codegen.c import threads as c_threads
    ins = spec.split("->")[0].split(",")
    sizes = {"n": 3, "m": 3000, "k": 300}
    args = [RNG.standard_normal([sizes[c] for c in s]).astype(np.float32) for s in ins]
    exe = tg.jit(lambda p, q: np.einsum(spec, p, q), backend="c").lower(*args).executable
    assert "matrix read once" in exe.source
    exe._adapt = True  # follow the free-CPU word even where the environment fixed a count
    monkeypatch.setattr(c_threads, "refresh", lambda now=None: None)
    saved, outs = c_threads.SHARED[0], []
    try:
        for threads in (1, 2, 3):
            exe.set_threads(threads)
            for free in (1, 1 << 20):
                c_threads.SHARED[0] = free
                outs.append(exe(*args)[0])
    finally:
        c_threads.SHARED[0] = saved
    for o in outs[1:]:
        np.testing.assert_array_equal(o, outs[0])
    np.testing.assert_allclose(outs[0], np.einsum(spec, *args), rtol=1e-4, atol=1e-4)


def test_products_beyond_a_full_group_form_a_group_of_their_own():
    """Ten vectors times A: eight stacked rows (MAX_ROWS) in one product, the other two in a
    second: two products where there were ten."""
    from tracegrad.passes.merge_products import MAX_ROWS
    assert MAX_ROWS == 8

    def fn(a, *vs):
        return tuple(a @ v for v in vs)

    args = _args([(200, 90)] + [(90,)] * 10, np.float64)
    plain, _ = run_pipeline(_graph(fn, args), UNMERGED, check=True)
    merged, _ = run_pipeline(plain, ["merge-products"], check=True)
    assert sorted(e.inputs[0].aval.shape[0] for e in _dots(merged)) == [2, 8], str(merged)
    for got, want in zip(eval_graph(merged, args), eval_graph(plain, args)):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)


@needs_c
def test_products_in_a_loop_body_merge_on_c():
    """A scan body's A @ h and A @ x_t: one product in the body, the few-rows kernel emitted
    among the body's kernels, the loop's result as NumPy's."""
    def f(a, h0, xs):
        def step(h, xt):
            return np.tanh(a @ h) * 0.5 + a @ xt, None
        return tg.scan(step, h0, xs)[0]

    a, h0, xs = _args([(200, 200), (200,), (5, 200)], np.float64)
    a /= 15
    low = tg.jit(f, backend="c").lower(a, h0, xs)
    assert "matrix read once" in low.executable.source
    want = h0
    for t in range(5):
        want = np.tanh(a @ want) * 0.5 + a @ xs[t]
    np.testing.assert_allclose(low.executable(a, h0, xs)[0], want, rtol=1e-12, atol=1e-12)


def test_merging_starts_where_the_few_rows_kernel_does():
    """Below multi_gemv's size C would multiply a merged group with a gemm call that packs the
    shared matrix (each product alone is a gemv), so the pass leaves such groups alone: the
    W6 HVP at 12x12 keeps three gemv calls (tests/test_hvp_cost.py)."""
    from tracegrad.codegen.c import multi_gemv
    from tracegrad.passes import merge_products
    assert merge_products.MIN_SHARED_ELEMENTS == multi_gemv.MIN_MATRIX_ELEMENTS
