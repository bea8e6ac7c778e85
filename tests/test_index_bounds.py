"""Indices out of range raise IndexError on every backend, as NumPy does (never clamp, never wrap
twice): gather (x[i], np.take, take_along_axis, fancy indexing), scatter_add (x.at[i].add, the
gradient of a gather), inside loops too. The C backend clamped them silently (the reported
defect); the NumPy backend raised NumPy's IndexError naming neither the line nor the fix.

The class: every primitive whose shape rule takes an integer operand that indexes another
operand declares it in ``Traits.index_operands`` (checked against the shape rules), and each
row of tests/cases.py for such a primitive is run with an out-of-range entry drawn
(``index_oob``) through eager NumPy, the NumPy backend and C, which must all raise IndexError,
the two backends naming the same value and axis size.
"""
from __future__ import annotations

import re
import sys

import numpy as np
import pytest

import tracegrad as tg
from c_support import needs_c
from cases import CASES, INDEX_DOMAINS, make_args, shapes_id
from tracegrad import lax
from tracegrad.errors import DTypeError, TracedIndexError
from tracegrad.primitive import PRIMITIVES

BACKENDS = ["numpy", pytest.param("c", marks=needs_c)]
HERE = __file__.rsplit("/", 1)[-1]

X = np.arange(12.0).reshape(4, 3)


def _line_of(fn) -> int:
    return fn.__code__.co_firstlineno


# each: a function of (x, i...) whose one line indexes, and index arguments out of range
def _getitem(x, i):
    return x[i]


def _take_axis1(x, i):
    return np.take(x, i, axis=1)


def _take_along(x, i):
    return np.take_along_axis(x, i, axis=1)


def _fancy2(x, i, j):
    return x[i, j]


def _at_add(x, i):
    return x.at[i].add(1.0)


def _scatter(x, i):
    return lax.scatter_add(x, i, np.ones((i.shape[0], 3)))


def _grad_of_gather(x, i):
    return tg.grad(lambda x: np.sum(x[i] ** 2))(x)


CASES_OOB = [
    ("beyond-end", _getitem, (np.array([1, 7]),), 7, 4),
    ("negative-beyond-minus-n", _getitem, (np.array([-5]),), -5, 4),
    ("take-axis1", _take_axis1, (np.array([0, 3]),), 3, 3),
    ("take-along-axis", _take_along, (np.array([[0], [1], [-4], [2]]),), -4, 3),
    ("fancy-two-arrays", _fancy2, (np.array([0, 4]), np.array([0, 1])), 4, 4),
    ("at-add", _at_add, (np.array([9]),), 9, 4),
    ("scatter-add", _scatter, (np.array([[1], [-6]]),), -6, 4),
    ("gradient-of-gather", _grad_of_gather, (np.array([2, 4]),), 4, 4),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name,fn,idx,value,size", CASES_OOB, ids=[c[0] for c in CASES_OOB])
def test_out_of_range_index_raises_like_numpy(backend, name, fn, idx, value, size):
    with pytest.raises(TracedIndexError) as info:
        tg.jit(fn, backend=backend)(X, *idx)
    msg = str(info.value)
    assert isinstance(info.value, IndexError)
    assert f"index {value} is out of bounds for an axis with size {size}" in msg, msg
    assert f"valid indices are {-size} to {size - 1}" in msg, msg  # the fix
    # the user's line: the function's body (one line after its def)
    assert re.search(rf"{HERE}:{_line_of(fn) + 1}\b", msg), msg


@pytest.mark.parametrize("backend", BACKENDS)
def test_in_range_indices_still_wrap_as_numpy(backend):
    """The check must not refuse what NumPy accepts: -n and n - 1, on every path."""
    i = np.array([-4, 3, 0, -1])
    np.testing.assert_array_equal(tg.jit(_getitem, backend=backend)(X, i), X[i])
    j = np.array([-3, 2])
    np.testing.assert_array_equal(tg.jit(_take_axis1, backend=backend)(X, j), np.take(X, j, 1))
    g = tg.jit(_grad_of_gather, backend=backend)(X, i)
    ref = np.zeros_like(X)
    np.add.at(ref, i, 2 * X[i])
    np.testing.assert_allclose(g, ref)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_failed_call_leaves_the_next_call_right(backend):
    """The C record of the bad index is per call: a good call after a bad one returns."""
    f = tg.jit(_getitem, backend=backend)
    with pytest.raises(IndexError):
        f(X, np.array([4]))
    np.testing.assert_array_equal(f(X, np.array([3])), X[[3]])


def _scan_gather(x, idx):
    def step(c, i):
        return c + x[i], x[i]
    return lax.scan(step, np.zeros(3), idx)


def _while_gather(x, i0):
    # walks i up while x[i, 0] is small: NumPy runs off the end into IndexError; a clamped
    # (or zeroed) read of row 4 would loop for ever
    def cond(c):
        return c[1][0] < 100.0

    def body(c):
        i = c[0] + 1
        return i, x[i]
    return lax.while_loop(cond, body, (i0, x[i0]))


@pytest.mark.parametrize("backend", BACKENDS)
def test_out_of_range_inside_loops_raises(backend):
    with pytest.raises(TracedIndexError, match="index 5 is out of bounds"):
        tg.jit(_scan_gather, backend=backend)(X, np.array([0, 5, 1]))
    with pytest.raises(TracedIndexError, match="index 4 is out of bounds"):
        tg.jit(_while_gather, backend=backend)(X, np.array(0))
    # and in range, the scan's stacked ys (ys[t] written at t in [0, T)) are NumPy's
    c, ys = tg.jit(_scan_gather, backend=backend)(X, np.array([0, 3, 1]))
    np.testing.assert_array_equal(ys, X[[0, 3, 1]])
    np.testing.assert_array_equal(c, X[[0, 3, 1]].sum(0))


@pytest.mark.parametrize("backend", BACKENDS)
def test_switch_index_clamps_on_every_backend(backend):
    """``lax.switch``'s branch index is not a NumPy index: it clamps, as JAX documents, and
    both backends agree (the C switch and loop_runtime.run_cond)."""
    f = tg.jit(lambda k, x: lax.switch(k, [lambda x: x + 1.0, lambda x: x * 3.0], x),
               backend=backend)
    assert f(np.array(-3, np.int32), np.array(2.0)) == 3.0
    assert f(np.array(7, np.int32), np.array(2.0)) == 6.0


# --- the class: every primitive with index operands ------------------------------------------
def _integer_only_operands() -> set:
    """(primitive, position) of operands a shape rule refuses as floats while the case table
    gives them a fixed integer dtype: operands that index (found from the rules, not names)."""
    found = set()
    for case in CASES:
        for i, fixed in enumerate(case.arg_dtypes):
            if fixed is None or np.dtype(fixed).kind not in "iu":
                continue
            shape_set = case.shapes[0]
            args = make_args(case, shape_set, "float64", np.random.default_rng(0))
            args[i] = np.zeros(args[i].shape, np.float64)
            try:
                tg.jit(case.fn, backend="numpy").lower(*args)
            except DTypeError:
                found.add((case.prim, i))
    return found


def test_index_operands_are_declared():
    declared = {(name, i) for name, p in PRIMITIVES.items() for i in p.traits.index_operands}
    assert declared, "no primitive declares index operands"
    assert _integer_only_operands() == declared
    # and every declared operand is drawn from an index domain in the case table
    drawn = {(c.prim, i) for c in CASES for i, d in enumerate(c.domain) if d in INDEX_DOMAINS}
    assert drawn == declared


def _oob_params():
    out = []
    for case in CASES:
        pos = PRIMITIVES[case.prim].traits.index_operands
        if not pos:
            continue
        dtype = "float64" if "float64" in case.dtypes else case.dtypes[0]
        for shape_set in case.shapes:
            if all(int(np.prod(shape_set[i][:-1])) for i in pos):  # rows to put out of range
                out.append(pytest.param(case, shape_set, dtype,
                                        id=f"{case.id}-{shapes_id(shape_set)}"))
    return out


def _raised(fn, args):
    try:
        fn(*args)
    except IndexError as exc:
        return exc
    return None


@needs_c
@pytest.mark.parametrize("case,shape_set,dtype", _oob_params())
def test_every_index_primitive_raises_out_of_range_on_every_backend(case, shape_set, dtype):
    pos = PRIMITIVES[case.prim].traits.index_operands
    domain = tuple("index_oob" if i in pos else d for i, d in enumerate(case.domain))
    oob = type(case)(**{**case.__dict__, "domain": domain})
    for seed in range(3):
        args = make_args(oob, shape_set, dtype, np.random.default_rng(seed))
        eager = _raised(case.numpy_ref, args)
        assert eager is not None, f"NumPy accepted {args}"
        errs = [_raised(tg.jit(case.fn, backend=b), args) for b in ("numpy", "c")]
        assert all(isinstance(e, TracedIndexError) for e in errs), errs
        heads = [str(e).split(" (")[0] for e in errs]
        assert heads[0] == heads[1], heads
        bad = re.match(r"index (-?\d+) is out of bounds for an axis with size (\d+)", heads[0])
        v, n = int(bad.group(1)), int(bad.group(2))
        assert not -n <= v < n, heads[0]
        assert str(v) in str(eager), (eager, heads[0])  # NumPy names the same value


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))


# --- the audit: gathers tracegrad makes itself stay in range by construction ------------------
def _internal_gathers(a, v, w):
    """Every front-end function that builds a gather from indices it computes: sort (argsort +
    take_along_axis), searchsorted (midpoints, both sides, values beyond both ends and NaN),
    median/quantile, a sorter, and random.choice with and without replacement and with p."""
    key = tg.random.PRNGKey(3)
    return (np.sort(a), np.take_along_axis(a, np.argsort(a), 0),
            np.searchsorted(np.sort(a), v), np.searchsorted(np.sort(a), v, side="right"),
            np.searchsorted(a, v, sorter=np.argsort(a)),
            np.median(a), np.quantile(a, np.array([0.0, 0.3, 1.0])),
            tg.random.choice(key, a, (7,)), tg.random.choice(key, a, (3,), replace=False),
            tg.random.choice(key, a, (4,), p=w))


@pytest.mark.parametrize("n", [1, 2, 5, 8])
def test_internal_gathers_never_go_out_of_range(n):
    """These passed on C only because out-of-range indices clamped, if they ever made one: now
    one would raise. NumPy backend and C must agree on each (the same draws, same key)."""
    rng = np.random.default_rng(n)
    a = rng.standard_normal(n)
    v = np.concatenate([a, [a.min() - 1, a.max() + 1, np.nan, np.inf, -np.inf]])
    w = np.abs(rng.standard_normal(n)) + 0.1
    w /= w.sum()
    if n < 3:  # choice without replacement of 3 needs 3 elements: only the rest
        def fn(a, v, w):
            return _internal_gathers(np.concatenate([a, a, a]), v, np.concatenate([w, w, w]) / 3)
    else:
        fn = _internal_gathers
    ref = tg.jit(fn, backend="numpy")(a, v, w)
    if not _has_c():
        pytest.skip("no C compiler")
    got = tg.jit(fn, backend="c")(a, v, w)
    for r, g in zip(ref, got):
        np.testing.assert_allclose(g, r, rtol=1e-12)


def _has_c() -> bool:
    from c_support import c_available
    return c_available()


@needs_c
def test_a_parallel_gather_names_the_first_bad_index(monkeypatch):
    """A gather big enough for a thread team: rows are checked on every thread, the first bad
    index in row order is named (not whichever thread saw one first)."""
    monkeypatch.setenv("TRACEGRAD_NUM_THREADS", "2")
    x = np.arange(1 << 18, dtype=np.float64)
    i = np.arange(1 << 18)[::-1].copy()
    i[-5], i[7] = -(1 << 18) - 3, 1 << 18
    f = tg.jit(_getitem, backend="c")
    assert "TG_PARALLEL_FOR_N" in f.lower(x, i).executable.source
    with pytest.raises(TracedIndexError, match=rf"index {1 << 18} is out of bounds"):
        f(x, i)
    i[7] = 0
    with pytest.raises(TracedIndexError, match=rf"index {-(1 << 18) - 3} is out of bounds"):
        f(x, i)
    i[-5] = -1
    np.testing.assert_array_equal(f(x, i), x[i])


# --- per-module site lists in loop bodies (found auditing the scan/while paths above) ---------
def _chol_steps(a, i):
    def step(c, m):
        return c, np.linalg.cholesky(m)[i]
    return lax.scan(step, np.zeros(()), a)


@needs_c
def test_loop_bodies_share_the_modules_site_lists():
    """A body's index checks and LAPACK calls are numbered in the module's lists: a cholesky
    inside a scan called a helper the module never defined (a compile error), and its failure
    site was lost. Both checks in one body: each raises its own error."""
    good = np.stack([np.eye(2), 4 * np.eye(2)])
    f = tg.jit(_chol_steps, backend="c")
    _, ys = f(good, np.array([1]))
    np.testing.assert_array_equal(ys, np.linalg.cholesky(good)[:, [1]])
    with pytest.raises(tg.LinAlgError, match="cholesky"):
        f(np.stack([np.eye(2), -np.eye(2)]), np.array([1]))
    with pytest.raises(TracedIndexError, match="index 2 is out of bounds"):
        f(good, np.array([2]))


def _loss(x, i):
    return np.sum(x[i] ** 2)


def test_eager_transforms_raise_index_error_naming_the_line():
    """Without jit: tg.grad runs its graph through the interpreter, tg.vmap binds the batched
    gather eagerly; both raise the IndexError (vmap wrapped it in a BatchingError, a
    ValueError), naming the line of the indexing."""
    with pytest.raises(TracedIndexError, match=rf"index 5 .*\n.*{HERE}:{_line_of(_loss) + 1}"):
        tg.grad(_loss)(X, np.array([5]))
    with pytest.raises(TracedIndexError, match=rf"index 5 .* size 3 .*\n.*{HERE}:"
                                               rf"{_line_of(_getitem) + 1}"):
        tg.vmap(_getitem)(X, np.array([0, 1, 5, 2]))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("mode", ["clip", "wrap", "raise"])
def test_take_modes_follow_numpy(backend, mode):
    """np.take's clip and wrap modes map indices into range before the gather: they never
    raise; mode='raise' (the default) does, as NumPy's."""
    x, i = np.arange(4.0), np.array([-7, 5, 2, -1])
    f = tg.jit(lambda x, i: np.take(x, i, mode=mode), backend=backend)
    if mode == "raise":
        with pytest.raises(IndexError, match="index -7 is out of bounds"):
            f(x, i)
    else:
        np.testing.assert_array_equal(f(x, i), np.take(x, i, mode=mode))


def _two_gathers(x, i, j):
    a = x[i]
    b = x[j]
    return a + b


@pytest.mark.parametrize("backend", BACKENDS)
def test_equal_gathers_at_two_lines_name_their_own_line(backend):
    """On C the two gathers are one kernel text (dedupe.py defines it once; the site is a
    parameter of the call): the error still names the line of the gather that failed."""
    f = tg.jit(_two_gathers, backend=backend)
    line = _line_of(_two_gathers)
    with pytest.raises(TracedIndexError, match=rf"index 9 .*\n.*{HERE}:{line + 2}\b"):
        f(X, np.array([0, 1]), np.array([2, 9]))
    with pytest.raises(TracedIndexError, match=rf"index -9 .*\n.*{HERE}:{line + 1}\b"):
        f(X, np.array([-9, 1]), np.array([2, 9]))
    if backend == "c":
        src = f.lower(X, np.array([0, 1]), np.array([2, 3])).executable.source
        assert src.count("tg_ix_fail(site") == 1, "the two gathers' kernels were not merged"


# --- a fuzzer strategy: random indexing programs with indices drawn across the bounds ---------
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_FORMS = ("getitem", "axis1", "take", "along", "two", "at_add", "grad")


@st.composite
def _index_programs(draw):
    """(form, x, index arrays): x of 1-3 axes of 0..4 elements, indices drawn from
    [-n - 2, n + 1] so about a third of the programs hold one out of range."""
    form = draw(st.sampled_from(_FORMS))
    ndim = draw(st.integers(2 if form in ("axis1", "two") else 1, 3))
    shape = tuple(draw(st.lists(st.integers(0, 4), min_size=ndim, max_size=ndim)))
    seed = draw(st.integers(0, 2 ** 16))
    rng = np.random.default_rng(seed)
    dt = draw(st.sampled_from([np.int32, np.int64]))
    m = draw(st.integers(0, 4))

    def idx(n, ishape):
        return rng.integers(-n - 2, n + 2, ishape).astype(dt)
    x = rng.standard_normal(shape)
    if form == "along":
        ax = draw(st.integers(0, ndim - 1))
        ishape = shape[:ax] + (m,) + shape[ax + 1:]
        return form, ax, x, (idx(shape[ax], ishape),)
    if form == "take":
        ax = draw(st.integers(0, ndim - 1))
        return form, ax, x, (idx(shape[ax], (m,)),)
    if form == "axis1":
        return form, 1, x, (idx(shape[1], (m,)),)
    if form == "two":
        return form, 0, x, (idx(shape[0], (m,)), idx(shape[1], (m,)))
    return form, 0, x, (idx(shape[0], (m,)),)


def _program(form, ax):
    if form in ("getitem", "at_add", "grad"):
        return {"getitem": lambda x, i: x[i], "at_add": lambda x, i: x.at[i].add(1.0),
                "grad": lambda x, i: tg.grad(lambda x: np.sum(x[i] ** 2))(x)}[form]
    if form == "axis1":
        return lambda x, i: x[:, i]
    if form == "two":
        return lambda x, i, j: x[i, j]
    if form == "take":
        return lambda x, i: np.take(x, i, axis=ax)
    return lambda x, i: np.take_along_axis(x, i, axis=ax)


def _numpy_reference(form, ax, x, idx):
    if form == "at_add":
        out = x.copy()
        np.add.at(out, idx[0], 1.0)
        return out
    if form == "grad":
        out = np.zeros_like(x)
        np.add.at(out, idx[0], 2 * x[idx[0]])
        return out
    return _program(form, ax)(x, *idx)


def _outcome(fn, *args):
    try:
        return "ok", np.asarray(fn(*args))
    except IndexError as exc:
        return "IndexError", str(exc).split("\n")[0]


@needs_c
@settings(max_examples=25, derandomize=True, database=None, deadline=None,
          suppress_health_check=list(HealthCheck))
@given(_index_programs())
def test_fuzz_indexing_across_the_bounds(prog):
    """Eager NumPy, the NumPy backend and C agree: all raise IndexError (the two backends
    naming the same index) or all return the same values."""
    form, ax, x, idx = prog
    ref = _outcome(_numpy_reference, form, ax, x, idx)
    got = [_outcome(tg.jit(_program(form, ax), backend=b), x, *idx) for b in ("numpy", "c")]
    for kind, value in got:
        assert kind == ref[0], (form, ax, x.shape, idx, ref, got)
        if kind == "ok":
            np.testing.assert_allclose(value, ref[1], rtol=1e-12, atol=1e-12)
    if ref[0] == "IndexError":
        assert got[0][1] == got[1][1], got
