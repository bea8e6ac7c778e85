"""Issue 11, items 2-5 and 8: constants keep their identity (the sign of zero, NaN), static
arguments are keyed by a total equality, Python ints that do not fit overflow as in NumPy,
ndarray subclasses with other operator meanings are refused, and random draws are not frozen."""
from __future__ import annotations

import math

import numpy as np
import pytest

import tracegrad as tg
from tracegrad.identity import same_value, value_key
from tracegrad.interpreter import eval_graph
from tracegrad.ir import AVal, Eqn, Graph, Var, make_lit
from tracegrad.passes.registry import PIPELINES, run_pipeline

NAN_NEG = -float("nan")  # a NaN with the sign bit set: a different bit pattern from nan
SPECIALS = [0.0, -0.0, math.inf, -math.inf, math.nan, NAN_NEG, 1.0, -1.0, 0.5, 2.0]


def bit_equal(a, b) -> bool:
    """Same values, the same sign of zero and infinity, NaN where the other has NaN."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if a.dtype.kind != "f":
        return bool(np.array_equal(a, b))
    nan = np.isnan(a)
    return bool(np.array_equal(nan, np.isnan(b)) and np.array_equal(a[~nan], b[~nan]) and
                np.array_equal(np.signbit(a[~nan]), np.signbit(b[~nan])))


# --- item 2: literal identity -----------------------------------------------------------------
def test_value_key_is_sign_aware_nan_reflexive_and_type_exact():
    assert not same_value(0.0, -0.0)
    assert same_value(math.nan, float("nan"))  # two NaN objects of the same bits
    assert not same_value(math.nan, NAN_NEG)
    assert not same_value(1, 1.0) and not same_value(1, True) and not same_value(1.0, True)
    assert not same_value(np.float64(0.0), np.float64(-0.0))
    assert same_value(np.float64("nan"), np.float64("nan"))
    assert not same_value(np.float64(1.0), 1.0) and not same_value(np.float32(1), np.float64(1))
    assert not same_value((0.0, (1, -0.0)), (0.0, (1, 0.0)))
    assert same_value((math.nan, (1, float("nan"))), (float("nan"), (1, math.nan)))
    assert not same_value(complex(0.0, 0.0), complex(0.0, -0.0))
    assert not same_value(frozenset([0.0]), frozenset([-0.0]))
    assert not same_value(slice(0.0, None), slice(-0.0, None))
    hash(value_key((math.nan, -0.0, "a", None, np.float32(2))))
    with pytest.raises(TypeError):
        value_key([1, 2])


def test_lit_key_includes_sign_and_dtype():
    f64, f32 = np.dtype("float64"), np.dtype("float32")
    assert make_lit(0.0, f64).key != make_lit(-0.0, f64).key
    assert make_lit(0.0, f64).key != make_lit(0.0, f32).key
    assert make_lit(math.nan, f64).key == make_lit(float("nan"), f64).key


def test_cse_keeps_zero_signs_mul():
    x = np.array([1.0, -1.0])
    for backend in ("numpy", "c"):
        f = tg.jit(lambda a: (1 / (a * 0.0), 1 / (a * -0.0)), backend=backend)
        with np.errstate(divide="ignore"):
            got, want = f(x), (1 / (x * 0.0), 1 / (x * -0.0))
        for g, w in zip(got, want):
            assert bit_equal(g, w), (backend, got, want)


def test_cse_keeps_zero_signs_pad_and_where():
    z = np.array([0.0, -0.0, 1.0])
    progs = [lambda a: (np.pad(a, 1, constant_values=0.0), np.pad(a, 1, constant_values=-0.0)),
             lambda a: (np.where(a > 5, a, 0.0), np.where(a > 5, a, -0.0)),
             lambda a: (np.where(a > 5, 0.0, a), np.where(a > 5, -0.0, a))]
    for backend in ("numpy", "c"):
        for p in progs:
            got, want = tg.jit(p, backend=backend)(z), p(z)
            for g, w in zip(got, want):
                assert bit_equal(g, w), (backend, got, want)


def test_cse_merges_equal_nan_literals():
    """NaN literals of one bit pattern are one constant (reflexive), so CSE still merges."""
    a = Var(AVal((3,), np.dtype("float64")))
    from tracegrad.prims import ELEMENTWISE
    mul = ELEMENTWISE["mul"]
    o1, o2 = Var(a.aval), Var(a.aval)
    g = Graph((a,), (Eqn(mul, (a, make_lit(math.nan, a.aval.dtype)), {}, (o1,)),
                     Eqn(mul, (a, make_lit(float("nan"), a.aval.dtype)), {}, (o2,))), (o1, o2))
    out, _ = run_pipeline(g, ["cse"], check=True)
    assert len(out.eqns) == 1
    g2 = Graph((a,), (Eqn(mul, (a, make_lit(0.0, a.aval.dtype)), {}, (o1,)),
                      Eqn(mul, (a, make_lit(-0.0, a.aval.dtype)), {}, (o2,))), (o1, o2))
    assert len(run_pipeline(g2, ["cse"], check=True)[0].eqns) == 2


def test_simplify_matches_literals_by_identity():
    """``x - 0 -> x`` is exact for +0.0 only: ``-0.0 - -0.0`` is +0.0 in IEEE arithmetic."""
    x = np.array([-0.0, 0.0, 1.0])
    for fn in (lambda a: a - (-0.0), lambda a: a - 0.0, lambda a: -0.0 - a, lambda a: a * 1.0,
               lambda a: a * -1.0, lambda a: a / 1.0, lambda a: a ** 1.0):
        assert bit_equal(tg.jit(fn, backend="numpy")(x), fn(x))


def test_tensor_front_keys_static_scalars_by_identity():
    t = tg.tensor(np.array([1.0, -1.0]))
    with np.errstate(divide="ignore"):
        a, b = (1 / (t * 0.0)).numpy(), (1 / (t * -0.0)).numpy()
    assert bit_equal(a, [np.inf, -np.inf]) and bit_equal(b, [-np.inf, np.inf])
    p0 = np.pad(t, 1, constant_values=0.0).numpy()
    p1 = np.pad(t, 1, constant_values=-0.0).numpy()
    assert not np.signbit(p0[0]) and np.signbit(p1[0])


# Every operand position a scalar literal can take, for the pair property below.
LITERAL_USES = {
    "a*c": lambda a, c: a * c, "c*a": lambda a, c: c * a, "a+c": lambda a, c: a + c,
    "a-c": lambda a, c: a - c, "c-a": lambda a, c: c - a, "a/c": lambda a, c: a / c,
    "c/a": lambda a, c: c / a, "a**c": lambda a, c: a ** c,
    "maximum": lambda a, c: np.maximum(a, c), "minimum": lambda a, c: np.minimum(a, c),
    "where_t": lambda a, c: np.where(a > 0, c, a), "where_f": lambda a, c: np.where(a > 0, a, c),
    "pad": lambda a, c: np.pad(a, 1, constant_values=c),
    "full": lambda a, c: np.full_like(a, c) + a * 0.0,
    "1/(a*c)": lambda a, c: 1.0 / (a * c),
}
X = np.array([1.0, -1.0, 0.0, -0.0, np.inf, -np.inf, np.nan, 2.5])


def _prefixes():
    out = []
    for name in ("O1", "O2", "O2-c"):  # O2-c: the C backend's (fuse-all)
        names = PIPELINES[name]
        out += [names[:k] for k in range(1, len(names) + 1)]
    return out


@pytest.mark.parametrize("use", sorted(LITERAL_USES))
def test_every_pass_keeps_each_literals_bits(use):
    """Closes the class: a program computing one expression with each special literal (both
    zeros, both infinities, NaNs of two bit patterns, ...) as separate outputs gives, after every
    prefix of every pipeline, what the same pipeline gives for each literal alone. A pass or
    cache that merges literals by ``==`` (or that makes a NaN differ from itself) fails."""
    fn = LITERAL_USES[use]
    for dt in (np.float64, np.float32):
        x = X.astype(dt)
        pair = tg.make_ir(lambda a: tuple(fn(a, c) for c in SPECIALS), stage="traced")(x)
        singles = [tg.make_ir(lambda a, c=c: fn(a, c), stage="traced")(x) for c in SPECIALS]
        for names in _prefixes():
            with np.errstate(all="ignore"):
                got = eval_graph(run_pipeline(pair, names, check=True)[0], [x])
                for c, g1, o in zip(SPECIALS, singles, got):
                    (want,) = eval_graph(run_pipeline(g1, names, check=True)[0], [x])
                    assert bit_equal(o, want), (use, dt, names, c, o, want)
        with np.errstate(all="ignore"):  # and the generated NumPy code, whole pipeline
            got = tg.jit(lambda a: tuple(fn(a, c) for c in SPECIALS), backend="numpy")(x)
            for c, o in zip(SPECIALS, got):
                want = tg.jit(lambda a, c=c: fn(a, c), backend="numpy")(x)
                assert bit_equal(o, want), (use, dt, c, o, want)


@pytest.mark.parametrize("use", ["a*c", "1/(a*c)", "pad", "where_t", "where_f", "maximum"])
def test_c_backend_keeps_each_literals_bits(use):
    """The same property through the C emitter (literal printing, fused kernels), against
    NumPy itself, for uses where no simplify rule is documented as inexact."""
    fn = LITERAL_USES[use]
    x64, x32 = X, X.astype(np.float32)

    def prog(a, b):
        return tuple(fn(a, c) for c in SPECIALS) + tuple(fn(b, c) for c in SPECIALS)
    with np.errstate(all="ignore"):
        got = tg.jit(prog, backend="c")(x64, x32)
        want = prog(x64, x32)
    for c, g, w in zip(SPECIALS * 2, got, want):
        assert bit_equal(g, w), (use, c, g, w)


# --- item 3: static arguments are keyed by a total, sign-aware equality -----------------------
def _scale(x, s):
    return 1.0 / (x * np.asarray(s, dtype=np.float64).reshape(-1)[0])


STATIC_PAIRS = [  # pairs that == merges (or never matches) but that are different programs
    (0.0, -0.0), ((0.0,), (-0.0,)), (((1, 0.0),), ((1, -0.0),)),
    (np.float64(0.0), np.float64(-0.0)), (np.float32(0.0), np.float32(-0.0)),
    (complex(0.0, 0.0), complex(-0.0, 0.0)),
]


def test_static_negative_zero_does_not_reuse_the_program_for_zero():
    x = np.array([1.0, -1.0])
    f = tg.jit(lambda a, s: 1.0 / (a * s), static_argnums=1, backend="numpy")
    with np.errstate(divide="ignore"):
        assert bit_equal(f(x, 0.0), [np.inf, -np.inf])
        assert bit_equal(f(x, -0.0), [-np.inf, np.inf])
    assert f.cache_info().misses == 2
    assert f.cache_info().miss_reasons[1] == "static argument 1 changed: 0.0 -> -0.0"


def test_static_nan_compiles_once():
    x = np.array([1.0, 2.0])
    f = tg.jit(lambda a, s: a + s, static_argnums=1, backend="numpy")
    for _ in range(100):
        assert np.isnan(f(x, float("nan"))).all()  # a new NaN object on every call
    assert f.cache_info().misses == 1 and f.cache_info().hits == 99


@pytest.mark.parametrize("how", ["positional", "keyword"])
def test_every_static_keying_place_is_total_and_sign_aware(how):
    """Closes the class: each way a static reaches the cache key (positional, by keyword),
    and each kind of static value (a float, a tuple of them, nested tuples, NumPy scalars,
    complex), compiles apart for values == merges and once for NaNs of one bit pattern."""
    def body(a, s=1.0):
        flat = np.ravel(np.asarray(s, dtype=complex).real) if not isinstance(s, tuple) else \
            np.asarray([v for t in s for v in (t if isinstance(t, tuple) else (t,))], float)
        return 1.0 / (a * float(flat[-1]))

    x = np.array([1.0])
    for left, right in STATIC_PAIRS:
        f = tg.jit(body, static_argnums=1, backend="numpy")

        def call(v):
            return f(x, s=v) if how == "keyword" else f(x, v)
        with np.errstate(divide="ignore"):
            a, b = call(left), call(right)
            assert bit_equal(a, body(x, left)) and bit_equal(b, body(x, right)), (left, right)
            call(left), call(right)
        assert f.cache_info().misses == 2, (left, right, f.cache_info())
        for nan in (float("nan"), (1, float("nan")), np.float64("nan")):
            call(nan if not isinstance(nan, float) else float("nan"))
            call(np.float64("nan") if isinstance(nan, np.float64) else
                 (1, float("nan")) if isinstance(nan, tuple) else float("nan"))
        assert f.cache_info().misses == 5, f.cache_info()


def test_static_types_are_part_of_the_key_inside_tuples():
    f = tg.jit(lambda a, s: a * s[0], static_argnums=1, backend="numpy")
    x = np.array([3], np.int32)
    assert f(x, (2,)).dtype == np.int32
    assert f(x, (2.0,)).dtype == np.float64  # (2,) == (2.0,) but the programs differ


# --- item 4: Python ints that do not fit the integer dtype they meet --------------------------
from tracegrad.errors import DTypeError, IntegerOverflowError  # noqa: E402

INT_OPS = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "*": lambda a, b: a * b,
    "//": lambda a, b: a // b, "%": lambda a, b: a % b, "**": lambda a, b: a ** b,
    "/": lambda a, b: a / b, "maximum": np.maximum, "minimum": np.minimum,
    "<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b, "==": lambda a, b: a == b, "!=": lambda a, b: a != b,
    "where": lambda a, b: np.where(a > 3, a, b) if isinstance(b, int) or
    getattr(b, "_weak", False) else np.where(b > 3, b, a),
}
INT_VALUES = [7, 2 ** 31 - 1, 2 ** 31, -(2 ** 31) - 1, 2 ** 40, -(2 ** 40), 2 ** 63 - 1, 2 ** 63,
              -(2 ** 63) - 1, 2 ** 64]


def test_int32_plus_huge_python_int_raises_on_both_backends():
    x = np.array([1, 2], np.int32)
    for backend in ("numpy", "c"):
        with pytest.raises(IntegerOverflowError) as info:
            tg.jit(lambda a: a + 2 ** 40, backend=backend)(x)  # the line named
        assert isinstance(info.value, OverflowError)
        assert "a + 2 ** 40" in str(info.value) and "out of bounds for int32" in str(info.value)
        f = tg.jit(lambda a, n: a + n, backend=backend)
        assert f(x, 5).tolist() == [6, 7]
        with pytest.raises(OverflowError, match="out of bounds for int32"):
            f(x, 2 ** 40)  # a Python-int argument: what NumPy raises too
        assert f(x, 5).tolist() == [6, 7] and f(x.astype(np.int64), 2 ** 40).tolist() == \
            [2 ** 40 + 1, 2 ** 40 + 2]


def test_python_ints_computed_from_arguments_are_checked_on_each_call():
    """``x + n * 4``: the Python int n * 4 depends on the call, so the compiled program checks
    it on every call (one compile), where a wrapped value would have been used."""
    x = np.array([1, 2], np.int32)
    for backend in ("numpy", "c"):
        f = tg.jit(lambda a, n: a + n * 4, backend=backend)
        assert f(x, 3).tolist() == [13, 14]
        with pytest.raises(IntegerOverflowError, match="2147483648.*int32") as info:
            f(x, 2 ** 29)
        assert "a + n * 4" in str(info.value)
        assert f(x, -5).tolist() == [-19, -18] and f.cache_info().misses == 1
        g = tg.jit(lambda a, n, m: a * (n * m), backend=backend)  # beyond int64 too
        with pytest.raises(IntegerOverflowError, match="int64"):
            g(x.astype(np.int64), 2 ** 40, 2 ** 40)
        h = tg.jit(lambda a, n: a + (n - 2 ** 40 + 1), backend=backend)  # wide in, fits out
        assert h(x, 2 ** 40).tolist() == [2, 3]


def test_comparisons_with_out_of_range_ints_are_exact_as_in_numpy():
    x = np.array([1, -3, 2 ** 31 - 1], np.int32)
    for backend in ("numpy", "c"):
        f = tg.jit(lambda a, n: (a < 2 ** 40, 2 ** 40 > a, a == -(2 ** 70), a >= n),
                   backend=backend)
        got = f(x, 2 ** 40)
        want = (x < 2 ** 40, 2 ** 40 > x, x == -(2 ** 70), x >= 2 ** 40)
        for g, w in zip(got, want):
            assert g.tolist() == w.tolist()


def _numpy_outcome(fn, x, v, left):
    try:
        with np.errstate(all="ignore"):
            return "ok", (fn(v, x) if left else fn(x, v))
    except OverflowError:
        return "overflow", None
    except (ValueError, ZeroDivisionError) as exc:  # ints to negative powers
        return type(exc).__name__, None


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
@pytest.mark.parametrize("op", sorted(INT_OPS))
def test_every_int_dtype_and_operator_overflows_as_numpy(dtype, op):
    """Closes the class: each operator x each supported integer dtype x ints at and beyond the
    dtype's bounds, as a literal on either side and as a Python-int argument: tracegrad raises
    IntegerOverflowError exactly where NumPy 2 raises OverflowError, and otherwise gives
    NumPy's result. (np.where is the one deliberate difference: NumPy wraps the value
    silently; tracegrad raises.)"""
    fn = INT_OPS[op]
    x = np.array([1, -3, 7], dtype)
    for v in INT_VALUES:
        for left in (False, True):
            kind, want = _numpy_outcome(fn, x, v, left)
            if op == "where" and not (-(2 ** 63) <= v < 2 ** 63 and
                                      np.iinfo(dtype).min <= v <= np.iinfo(dtype).max):
                kind = "overflow"  # NumPy wraps (e.g. 2**40 -> 0 in int32): refuse instead
            calls = [tg.jit(lambda a, v=v: fn(v, a) if left else fn(a, v), backend="numpy")]
            if -(2 ** 63) <= v < 2 ** 63:  # as a Python-int argument, and computed from one
                # (n * k, compiled by a first call with other values, then called with v)
                g = tg.jit(lambda a, n: fn(n, a) if left else fn(a, n), backend="numpy")
                calls.append(lambda a, g=g, v=v: g(a, v))
                h = tg.jit(lambda a, n, k: fn(n * k, a) if left else fn(a, n * k),
                           backend="numpy")
                calls.append(lambda a, h=h, v=v: (h(np.ones_like(a), 1, 3), h(a, v, 1))[1])
            for call in calls:
                if kind == "overflow" and op == "**" and v < 0 and not left:
                    # NumPy converts the exponent first; tracegrad checks its sign first
                    with pytest.raises((IntegerOverflowError, tg.ArgumentError)):
                        call(x)
                elif kind == "overflow":
                    with pytest.raises(IntegerOverflowError):
                        with np.errstate(all="ignore"):
                            call(x)
                elif kind == "ok":
                    with np.errstate(all="ignore"):
                        got = call(x)
                    assert got.dtype == want.dtype and np.array_equal(got, want), \
                        (op, dtype, v, left, got, want)
                else:
                    with pytest.raises(Exception):
                        call(x)


def test_integer_bitwise_operators_are_refused():
    """(&, |, ^ on integers have no primitive: a typed error, so nothing can wrap there.)"""
    for op in (lambda a: a & 2 ** 40, lambda a: a | 3, lambda a: a ^ 3):
        with pytest.raises(tg.UnsupportedOperationError):
            tg.jit(op, backend="numpy")(np.array([1, 2], np.int32))


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.uint16, np.uint32, np.uint64])
def test_narrow_and_unsigned_ints_are_refused_not_wrapped(dtype):
    """tracegrad traces int32/int64 only: arrays of other integer dtypes are refused with a
    DTypeError (as arguments and closed over), so no negative or large int can wrap in them."""
    x = np.array([1, 2, 3], dtype)
    for v in (-1, 300, 2 ** 40):
        with pytest.raises(DTypeError):
            tg.jit(lambda a, v=v: a + v, backend="numpy")(x)
        with pytest.raises(DTypeError):
            tg.jit(lambda a, v=v: (a + x) + v, backend="numpy")(np.ones(3, np.int32))


def test_verify_refuses_out_of_range_int_literals():
    a = Var(AVal((2,), np.dtype("int32")))
    from tracegrad.ir import Lit, verify
    from tracegrad.prims import ELEMENTWISE
    o = Var(a.aval)
    g = Graph((a,), (Eqn(ELEMENTWISE["add"], (a, Lit(2 ** 40, AVal((), np.dtype("int32")))),
                         {}, (o,)),), (o,))
    with pytest.raises(tg.IRError, match="literal"):
        verify(g)


# --- item 5: ndarray subclasses whose operators mean something else --------------------------
from tracegrad.errors import ArraySubclassError  # noqa: E402


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")
def test_matrix_product_semantics_are_not_lost():
    a, b = np.matrix([[1.0, 2.0], [3.0, 4.0]]), np.matrix([[0.0, 1.0], [1.0, 0.0]])
    for backend in ("numpy", "c"):
        with pytest.raises(ArraySubclassError, match=r"\ba\b.*numpy\.matrix.*a @ b") as info:
            tg.jit(lambda a, b: a * b, backend=backend)(a, b)
        assert isinstance(info.value, TypeError)
    with pytest.raises(ArraySubclassError, match="closed-over") as info:
        tg.jit(lambda x: a * x, backend="numpy")(np.ones((2, 2)))  # matrix.__mul__ defers
    assert "a * x" in str(info.value)  # the user's line
    assert np.array_equal(tg.jit(lambda a, b: a @ b, backend="numpy")(np.asarray(a),
                                                                         np.asarray(b)), a * b)


def test_masked_array_is_refused():
    m = np.ma.masked_array([1.0, 2.0, 3.0], mask=[0, 1, 0])
    with pytest.raises(ArraySubclassError, match="filled"):
        tg.jit(lambda x: x.sum(), backend="numpy")(m)
    with pytest.raises(ArraySubclassError):
        tg.grad(lambda w: np.sum(w * m))(np.ones(3))


class _Tagged(np.ndarray):
    """A metadata-only subclass (the NumPy docs' InfoArray): ndarray's meaning, kept."""

    def __array_finalize__(self, obj):
        self.info = getattr(obj, "info", None)


class _Doubling(np.ndarray):
    def __mul__(self, other):
        return np.multiply(np.asarray(self), other) * 2


class _Ufunc(np.ndarray):
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return NotImplemented


def _all_numpy_subclasses():
    import numpy.ma  # noqa: F401  (register the subclasses NumPy ships)
    import numpy.rec  # noqa: F401
    seen, todo = [], list(np.ndarray.__subclasses__())
    while todo:
        t = todo.pop()
        if t not in seen and t.__module__.startswith("numpy"):
            seen.append(t)
            todo += t.__subclasses__()
    return seen


SUBCLASS_OPS = {
    "a*b": lambda a, b: a * b, "a+b": lambda a, b: a + b, "a**2": lambda a, b: a ** 2,
    "a@b": lambda a, b: a @ b, "sum": lambda a, b: a.sum(), "mean0": lambda a, b: a.mean(0),
    "a[0]": lambda a, b: a[0], "T": lambda a, b: a.T, "ravel": lambda a, b: a.ravel(),
    "np.sum": lambda a, b: np.sum(a * b), "exp": lambda a, b: np.exp(a),
}


@pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")
@pytest.mark.parametrize("cls", _all_numpy_subclasses() + [_Tagged, _Doubling, _Ufunc],
                         ids=lambda c: c.__name__)
def test_every_ndarray_subclass_is_refused_or_keeps_its_answer(cls):
    """Closes the class: every ndarray subclass NumPy ships (found by introspection) and three
    user-defined ones, as an argument and closed over, under each operation: tracegrad
    either refuses it with ArraySubclassError, or returns exactly what NumPy computes on it.
    (The rule, tracegrad/subclasses.py: refused when it redefines a value-deciding member
    of ndarray.)"""
    try:
        a = np.arange(1.0, 5.0).reshape(2, 2).view(cls)
        b = (np.arange(4.0).reshape(2, 2) + 0.5).view(cls)
    except Exception:
        pytest.skip(f"{cls.__name__} cannot be made from a float array")
    if np.asarray(a).dtype != np.float64:
        pytest.skip(f"{cls.__name__} is not a float array")
    for name, op in SUBCLASS_OPS.items():
        try:
            want = np.asarray(op(a, b))
        except Exception:
            continue  # NumPy itself refuses the operation on this subclass
        # (closed over, the subclass's own operator runs first: np.ma's converts the traced
        # operand with np.asarray, which raises TracerArrayConversionError; still no answer)
        for call, refusals in (
                (lambda: tg.jit(op, backend="numpy")(a, b), ArraySubclassError),
                (lambda: tg.jit(lambda x: op(a + x, b), backend="numpy")(np.zeros((2, 2))),
                 (ArraySubclassError, tg.TracerArrayConversionError))):
            try:
                got = call()
            except refusals:
                continue
            assert np.array_equal(np.asarray(got), want) and np.shape(got) == want.shape, \
                (cls.__name__, name, got, want)
    if cls in (_Tagged, np.memmap):
        assert np.array_equal(tg.jit(lambda x: x * 2, backend="numpy")(a), np.asarray(a) * 2)
    if cls in (np.matrix, np.ma.MaskedArray, _Doubling, _Ufunc):
        with pytest.raises(ArraySubclassError):
            tg.jit(lambda x: x * 2, backend="numpy")(a)


# --- item 8: random draws while tracing ------------------------------------------------------
import threading  # noqa: E402

from tracegrad.errors import TracedRandomError  # noqa: E402

# arguments for one valid draw of each sampler (module functions, RandomState, Generator)
DRAW_ARGS = {
    "beta": (1.0, 2.0), "binomial": (3, 0.5), "bytes": (2,), "chisquare": (2.0,),
    "choice": (5,), "dirichlet": ([1.0, 1.0],), "exponential": (), "f": (2.0, 3.0),
    "gamma": (2.0,), "geometric": (0.5,), "gumbel": (), "hypergeometric": (3, 3, 2),
    "integers": (5,), "laplace": (), "logistic": (), "lognormal": (), "logseries": (0.5,),
    "multinomial": (3, [0.5, 0.5]), "multivariate_hypergeometric": ([2, 2], 2),
    "multivariate_normal": ([0.0, 0.0], np.eye(2)), "negative_binomial": (2, 0.5),
    "noncentral_chisquare": (2.0, 1.0), "noncentral_f": (2.0, 3.0, 1.0), "normal": (),
    "pareto": (2.0,), "permutation": (4,), "permuted": (np.arange(4),), "poisson": (),
    "power": (2.0,), "rand": (3,), "randint": (5,), "randn": (3,), "random": (),
    "random_integers": (3,), "random_sample": (), "ranf": (), "sample": (), "rayleigh": (),
    "shuffle": (np.arange(4),), "standard_cauchy": (), "standard_exponential": (),
    "standard_gamma": (2.0,), "standard_normal": (), "standard_t": (3.0,), "tomaxint": (),
    "triangular": (0.0, 0.5, 1.0), "uniform": (), "vonmises": (0.0, 1.0), "wald": (1.0, 1.0),
    "weibull": (2.0,), "zipf": (2.0,),
}
NOT_DRAWS = {"seed", "get_state", "set_state", "spawn", "default_rng", "get_bit_generator",
             "set_bit_generator"}


def _entry_points():
    """Every public sampler of np.random, RandomState and Generator, found by introspection."""
    rs, gen = np.random.RandomState(0), np.random.default_rng(0)
    out = []
    for owner, obj in (("np.random", np.random), ("RandomState", rs), ("Generator", gen)):
        for name in sorted(dir(obj)):
            attr = getattr(obj, name)
            if name.startswith("_") or isinstance(attr, type) or not callable(attr) or \
                    name in NOT_DRAWS:
                continue
            if owner == "np.random" and not (getattr(attr, "__self__", None) is
                                             np.random.mtrand._rand or name in ("ranf", "sample")):
                continue
            out.append((owner, name, attr))
    return out


def test_frozen_randomstate_draw_raises():
    """A generator of NumPy's own class (made before ``import tracegrad``: its methods are not
    wrapped) cannot give fresh draws inside a trace: the guard refuses it."""
    rs = np.random.mtrand.RandomState(0)  # NumPy's class, as if made before the import
    g = tg.grad(lambda w: np.sum(w * rs.randn(3)))
    with pytest.raises(TracedRandomError) as info:
        g(np.ones(3))
    msg = str(info.value)
    assert "lambda w: np.sum(w * rs.randn(3))" in msg and "argument" in msg
    assert isinstance(info.value, tg.UnsupportedOperationError)
    # the fix: the noise as an argument, fresh on every call
    g2 = tg.grad(lambda w, noise: np.sum(w * noise))
    a, b = g2(np.ones(3), rs.randn(3)), g2(np.ones(3), rs.randn(3))
    assert not np.array_equal(a, b)
    rs.randn(3)  # eager draws still work after the failed trace


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # random_integers
@pytest.mark.parametrize("owner,name,fn", _entry_points(), ids=lambda x: x if isinstance(x, str)
                         else "")
def test_every_np_random_entry_point_traces_or_raises_while_tracing(owner, name, fn):
    """Closes the class: each sampler NumPy has (module functions, RandomState and Generator
    methods, listed by introspection, so a new NumPy sampler shows up here) either draws
    fresh numbers at each call of the compiled function (the samplers tracegrad traces,
    random_numpy.py) or raises TracedRandomError naming it, never a frozen draw; outside a
    trace it draws normally."""
    from tracegrad.random_numpy import GENERATOR, RANDOM_STATE
    import tracegrad.numpy as tnp
    assert name in DRAW_ARGS, f"{owner}.{name}: add its arguments to DRAW_ARGS"
    args = DRAW_ARGS[name]
    fn(*[a.copy() if isinstance(a, np.ndarray) else a for a in args])  # eager: fine
    f = tg.jit(lambda w: w * 0 + np.sum(np.asarray(fn(*args), dtype=float)), backend="numpy")
    traced = (GENERATOR if owner == "Generator" else RANDOM_STATE).get(name)
    if traced is None or name == "shuffle":  # shuffle is in place: refused on immutable arrays
        with pytest.raises(tg.UnsupportedOperationError, match=name):
            f(np.ones(2))
        return
    # fresh at each call (a permutation's sum is fixed: compare the draws themselves)
    g = tg.jit(lambda w: w * 0 + tnp.ravel(fn(*args))[:1] * 1.0, backend="numpy")
    draws = {float(g(np.ones(1))[0]) for _ in range(12)}
    assert len(draws) > 1, f"{owner}.{name} gave the same number at every call"


def test_random_guard_is_per_thread_and_leaves_closed_over_draws_alone():
    rs = np.random.RandomState(1)
    noise = rs.randn(3)  # drawn outside: a deliberate constant
    assert np.allclose(tg.jit(lambda w: w * noise, backend="numpy")(np.ones(3)), noise)
    inside, done, errors = threading.Event(), threading.Event(), []

    def tracer_thread():
        def f(w):
            inside.set()
            done.wait(10)  # hold the trace open while the other thread draws
            return w * 2
        try:
            tg.jit(f, backend="numpy")(np.ones(2))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    t = threading.Thread(target=tracer_thread)
    t.start()
    assert inside.wait(10)
    try:
        draws = [rs.randn(2), np.random.randn(2), np.random.default_rng().normal()]  # eager
    finally:
        done.set()
        t.join(10)
    assert not errors and len(draws) == 3


def test_global_random_state_sequence_is_unchanged_by_import():
    import subprocess
    import sys
    code = ("import numpy as np; np.random.seed(3); np.random.randn(); {imp}"
            "print(np.random.randn(4).tolist(), np.random.randint(100))")
    outs = [subprocess.run([sys.executable, "-c", code.format(imp=imp)], capture_output=True,
                           text=True, check=True).stdout for imp in ("", "import tracegrad; ")]
    assert outs[0] == outs[1]
