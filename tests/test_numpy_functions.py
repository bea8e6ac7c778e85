"""Plain NumPy traced by ``tracegrad.jit`` (and the ``tracegrad.numpy`` namespace) agrees with
NumPy eager: same dtype, same shape, values within rtol 1e-12 in float64.

Every case is ``fn(m, *args)`` where ``m`` is ``numpy`` or ``tracegrad.numpy``; it runs as NumPy
eager (the reference), as plain ``np.*`` inside ``jit``, as ``tnp.*`` inside ``jit``, and as
``tnp.*`` eagerly on concrete arrays.
"""
from __future__ import annotations

import collections
import warnings

import numpy as np
import pytest

import tracegrad as tg
import tracegrad.numpy as tnp

Case = collections.namedtuple("Case", "id fn args")
MODES = ("np-jit", "tnp-jit", "tnp-eager")

rng = np.random.default_rng(1234)


def normal(*shape):
    return rng.standard_normal(shape)


def uniform(lo, hi, *shape):
    return rng.uniform(lo, hi, shape)


def ints(lo, hi, *shape, dtype=np.int64):
    return rng.integers(lo, hi, shape).astype(dtype)


def bools(*shape):
    return rng.random(shape) < 0.5


def assert_same(got, want, rtol=1e-12):
    """Same pytree structure, dtype, shape; floats within ``rtol``, everything else exact."""
    if isinstance(want, (tuple, list)):
        assert isinstance(got, (tuple, list)), f"expected a sequence, got {type(got).__name__}"
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert_same(g, w, rtol)
        return
    want = np.asarray(want)
    got = np.asarray(got)
    assert got.dtype == want.dtype, f"dtype {got.dtype} != NumPy's {want.dtype}"
    assert got.shape == want.shape, f"shape {got.shape} != NumPy's {want.shape}"
    if want.dtype.kind == "f":
        np.testing.assert_allclose(got, want, rtol=rtol, atol=0, equal_nan=True)
    else:
        np.testing.assert_array_equal(got, want)


def call(case: Case, mode: str):
    """The case's result in ``mode`` (see MODES)."""
    if mode == "tnp-eager":
        return case.fn(tnp, *case.args)
    m = np if mode == "np-jit" else tnp
    return tg.jit(lambda *a: case.fn(m, *a), backend="numpy")(*case.args)


def run(case: Case, mode: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NumPy's own warnings (log(0), ...)
        want = case.fn(np, *case.args)
        got = call(case, mode)
    assert_same(got, want)


def params(cases):
    return [pytest.param(c, mode, id=f"{c.id}-{mode}") for c in cases for mode in MODES]


# --- elementwise ufuncs ---------------------------------------------------------------------
# name -> a generator of argument values inside the ufunc's domain
DOMAIN = {
    "log": lambda *s: uniform(0.1, 4, *s), "log2": lambda *s: uniform(0.1, 4, *s),
    "log10": lambda *s: uniform(0.1, 4, *s), "sqrt": lambda *s: uniform(0.0, 4, *s),
    "log1p": lambda *s: uniform(-0.9, 4, *s), "reciprocal": lambda *s: uniform(0.5, 3, *s),
    "arcsin": lambda *s: uniform(-0.99, 0.99, *s), "arccos": lambda *s: uniform(-0.99, 0.99, *s),
    "arctanh": lambda *s: uniform(-0.99, 0.99, *s), "arccosh": lambda *s: uniform(1.0, 5, *s),
    "tan": lambda *s: uniform(-1.4, 1.4, *s),
}
UNARY = ["negative", "abs", "absolute", "sign", "floor", "ceil", "rint", "round", "trunc", "exp",
         "exp2", "log", "log2", "log10", "log1p", "expm1", "sqrt", "square", "cbrt", "reciprocal",
         "sin", "cos", "tan", "tanh", "sinh", "cosh", "arcsin", "arccos", "arctan", "arcsinh",
         "arctanh", "arccosh", "deg2rad", "rad2deg", "isnan", "isinf", "isfinite", "logical_not",
         "positive", "fabs", "degrees", "radians"]
BINARY = ["add", "subtract", "multiply", "divide", "true_divide", "floor_divide", "remainder",
          "mod", "power", "maximum", "minimum", "arctan2", "hypot", "logaddexp", "logaddexp2",
          "less", "less_equal", "greater", "greater_equal", "equal", "not_equal", "logical_and",
          "logical_or", "logical_xor", "fmax", "fmin", "heaviside"]


def _unary_gen(name):
    gen = DOMAIN.get(name, lambda *s: normal(*s) * 3)
    return gen


def _binary_gens(name):
    if name in ("divide", "true_divide", "floor_divide", "remainder", "mod"):
        def divisor(*s):
            return uniform(0.5, 3, *s) * rng.choice([-1, 1], s)
        return (lambda *s: normal(*s) * 5), divisor
    if name == "power":
        return (lambda *s: uniform(0.1, 3, *s)), (lambda *s: normal(*s) * 2)
    if name.startswith(("less", "greater", "equal", "not_equal")):
        # small integers stored as floats, so equality actually happens
        def small(*s):
            return ints(-2, 3, *s).astype(float)
        return small, small
    return (lambda *s: normal(*s) * 3), (lambda *s: normal(*s) * 3)


def _unary_cases():
    out = []
    for name in UNARY:
        g = _unary_gen(name)
        fn = (lambda n: lambda m, x: getattr(m, n)(x))(name)
        out += [Case(f"{name}-2d", fn, (g(3, 4),)),
                Case(f"{name}-0d", fn, (np.asarray(g(1)[0]),)),
                Case(f"{name}-size0", fn, (g(0, 3),)),
                Case(f"{name}-size1", fn, (g(1, 1, 2),))]
    # special values through every function that is defined on them
    special = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1.5, -2.5, 0.5, -0.5, 2.5])
    for name in ["negative", "abs", "sign", "floor", "ceil", "rint", "round", "trunc", "isnan",
                 "isinf", "isfinite", "exp", "square", "cbrt", "tanh", "arctan"]:
        fn = (lambda n: lambda m, x: getattr(m, n)(x))(name)
        out.append(Case(f"{name}-special", fn, (special,)))
    return out


def _binary_cases():
    out = []
    for name in BINARY:
        ga, gb = _binary_gens(name)
        fn = (lambda n: lambda m, x, y: getattr(m, n)(x, y))(name)
        if name.startswith("logical"):
            out += [Case(f"{name}-bool", fn, (bools(3, 4), bools(3, 4))),
                    Case(f"{name}-float", fn, (ints(-1, 2, 3, 4).astype(float), normal(4))),
                    Case(f"{name}-scalar", fn, (bools(3), True))]
            continue
        a, b = ga(3, 4), gb(3, 4)
        sa, sb = float(ga(1)[0]), float(gb(1)[0])
        out += [Case(f"{name}-same", fn, (a, b)),
                Case(f"{name}-row", fn, (a, gb(4))),
                Case(f"{name}-col", fn, (ga(3, 1), gb(1, 4))),
                Case(f"{name}-3d", fn, (ga(2, 1, 4), gb(3, 1))),
                Case(f"{name}-pyscalar-arg", fn, (a, sb)),
                Case(f"{name}-pyscalar-first", fn, (sa, b)),
                Case(f"{name}-0d", fn, (np.asarray(sa), np.asarray(sb))),
                Case(f"{name}-size0", fn, (ga(0, 4), gb(4))),
                Case(f"{name}-size1", fn, (ga(1, 1), gb(1,)))]
        const = (lambda n, s: lambda m, x: getattr(m, n)(x, s))(name, sb)
        out.append(Case(f"{name}-const-scalar", const, (a,)))
    return out


@pytest.mark.parametrize("case,mode", params(_unary_cases()))
def test_unary_ufunc(case, mode):
    run(case, mode)


@pytest.mark.parametrize("case,mode", params(_binary_cases()))
def test_binary_ufunc(case, mode):
    run(case, mode)


SPECIAL_PAIRS = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1.0, -1.0, 2.0])
_A, _B = np.meshgrid(SPECIAL_PAIRS, SPECIAL_PAIRS)


@pytest.mark.parametrize("case,mode", params([
    Case(f"{n}-special", (lambda n: lambda m, x, y: getattr(m, n)(x, y))(n), (_A, _B))
    for n in ["add", "multiply", "divide", "maximum", "minimum", "arctan2", "hypot", "logaddexp",
              "logaddexp2", "equal", "less", "floor_divide", "remainder", "power"]]))
def test_binary_ufunc_special_values(case, mode):
    run(case, mode)


def _f32_cases():
    out = []
    for name in UNARY:
        g = _unary_gen(name)
        fn = (lambda n: lambda m, x: getattr(m, n)(x))(name)
        out.append(Case(f"{name}-f32", fn, (g(3, 4).astype(np.float32),)))
    for name in BINARY:
        ga, gb = _binary_gens(name)
        fn = (lambda n: lambda m, x, y: getattr(m, n)(x, y))(name)
        a, b = ga(3, 4).astype(np.float32), gb(3, 4).astype(np.float32)
        out += [Case(f"{name}-f32-f32", fn, (a, b)),
                Case(f"{name}-f32-pyfloat", fn, (a, float(gb(1)[0]))),
                Case(f"{name}-f32-f64", fn, (a, gb(3, 4)))]
    return out


@pytest.mark.parametrize("case,mode", params(_f32_cases()))
def test_float32_ufuncs(case, mode):
    """float32 stays float32 (NEP 50: Python scalars are weak); values to float32 precision."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        want = np.asarray(case.fn(np, *case.args))
        got = np.asarray(call(case, mode))
    assert got.dtype == want.dtype and got.shape == want.shape
    if want.dtype == np.float32:
        np.testing.assert_allclose(got, want, rtol=2e-6, atol=1e-6, equal_nan=True)
    elif want.dtype.kind == "f":
        np.testing.assert_allclose(got, want, rtol=1e-12, equal_nan=True)
    else:
        np.testing.assert_array_equal(got, want)


# --- integer and bool operands --------------------------------------------------------------
I32 = ints(-5, 6, 3, 4, dtype=np.int32)
I64 = ints(-5, 6, 3, 4)
POS64 = ints(1, 6, 3, 4)
B = bools(3, 4)
F32 = normal(3, 4).astype(np.float32)


def _int_cases():
    out = []
    un = ["negative", "abs", "sign", "floor", "ceil", "trunc", "rint", "round", "square", "exp",
          "sqrt", "sin", "isnan", "isinf", "isfinite", "logical_not", "deg2rad", "cbrt"]
    for name in un:
        fn = (lambda n: lambda m, x: getattr(m, n)(x))(name)
        arg = np.abs(I64) if name == "sqrt" else I64
        out += [Case(f"{name}-i64", fn, (arg,)), Case(f"{name}-i32", fn, (arg.astype(np.int32),))]
    for name in ["abs", "floor", "ceil", "trunc", "isnan", "isfinite", "logical_not"]:
        out.append(Case(f"{name}-bool", (lambda n: lambda m, x: getattr(m, n)(x))(name), (B,)))
    out.append(Case("reciprocal-i64", lambda m, x: m.reciprocal(x), (ints(1, 4, 6) *
                                                                     rng.choice([-1, 1], 6),)))
    for name in ["add", "subtract", "multiply", "divide", "floor_divide", "remainder", "maximum",
                 "minimum", "less", "equal", "arctan2", "hypot", "power"]:
        fn = (lambda n: lambda m, x, y: getattr(m, n)(x, y))(name)
        y = POS64 if name in ("divide", "floor_divide", "remainder", "power") else I64
        x = np.abs(I64) if name == "power" else I64
        out += [Case(f"{name}-i64-i64", fn, (x, y)),
                Case(f"{name}-i32-i64", fn, (x.astype(np.int32), y)),
                Case(f"{name}-i32-i32", fn, (x.astype(np.int32), y.astype(np.int32))),
                Case(f"{name}-i32-f64", fn, (x.astype(np.int32), uniform(0.5, 2, 3, 4))),
                Case(f"{name}-i64-pyint", fn, (x, 2)),
                Case(f"{name}-i32-pyfloat", fn, (x.astype(np.int32), 1.5))]
    for name in ["add", "multiply", "maximum", "minimum", "equal", "logical_and", "logical_xor"]:
        fn = (lambda n: lambda m, x, y: getattr(m, n)(x, y))(name)
        out += [Case(f"{name}-bool-bool", fn, (B, bools(3, 4))),
                Case(f"{name}-bool-i32", fn, (B, I32)),
                Case(f"{name}-bool-pyint", fn, (B, 3))]
    return out


@pytest.mark.parametrize("case,mode", params(_int_cases()))
def test_integer_and_bool_operands(case, mode):
    run(case, mode)


# --- where and clip -------------------------------------------------------------------------
X = normal(3, 4)
Y = normal(3, 4)
X3 = normal(2, 3, 4)
EMPTY = normal(0, 3)

WHERE_CLIP = [
    Case("where-arrays", lambda m, c, x, y: m.where(c, x, y), (B, X, Y)),
    Case("where-broadcast", lambda m, c, x, y: m.where(c, x, y), (bools(3, 1), X, normal(4))),
    Case("where-scalars", lambda m, c: m.where(c, 1.0, -1.0), (B,)),
    Case("where-int-scalars", lambda m, c: m.where(c, 1, 0), (B,)),
    Case("where-mixed", lambda m, c, x: m.where(c, x, 0), (B, I32)),
    Case("where-mixed-float", lambda m, c, x: m.where(c, x, 1.5), (B, I32)),
    Case("where-cond-expr", lambda m, x: m.where(x > 0, x, 0.0), (X,)),
    Case("where-float-cond", lambda m, c, x: m.where(c, x, 2.0),
         (ints(0, 2, 3, 4).astype(float), X)),
    Case("where-0d", lambda m, c, x, y: m.where(c, x, y), (np.asarray(True), 1.5, X)),
    Case("where-size0", lambda m, c, x: m.where(c, x, 0.0), (bools(0, 3), EMPTY)),
    Case("clip-both", lambda m, x: m.clip(x, -0.5, 0.5), (X,)),
    Case("clip-min-none", lambda m, x: m.clip(x, None, 0.5), (X,)),
    Case("clip-max-none", lambda m, x: m.clip(x, -0.5, None), (X,)),
    Case("clip-arrays", lambda m, x, lo, hi: m.clip(x, lo, hi),
         (X, normal(4) - 1, normal(3, 1) + 1)),
    Case("clip-int", lambda m, x: m.clip(x, -2, 3), (I32,)),
    Case("clip-int-float-bounds", lambda m, x: m.clip(x, 1.5, 3), (I64,)),
    Case("clip-traced-bounds", lambda m, x, lo: m.clip(x, lo, 1.0), (X, -0.25)),
    Case("clip-size0", lambda m, x: m.clip(x, 0, 1), (EMPTY,)),
    Case("clip-min-kw", lambda m, x: m.clip(x, min=0.0), (X,)),
    Case("clip-max-kw", lambda m, x: m.clip(x, max=0.0), (X,)),
    Case("where-pybool-cond", lambda m, x, y: m.where(True, x, y), (X, Y)),
    Case("where-0d-cond-scalars", lambda m, c: m.where(c, 2.0, 3), (np.asarray(False),)),
]


MORE_ELEMENTWISE = [
    Case("round-decimals", lambda m, x: m.round(x, 2), (X * 100,)),
    Case("round-neg-decimals", lambda m, x: m.round(x, -1), (X * 100,)),
    Case("round-half-even", lambda m, x: m.round(x), (np.array([0.5, 1.5, 2.5, -0.5, -1.5]),)),
    Case("round-int", lambda m, x: m.round(x), (I32,)),
    Case("round-int-neg-decimals", lambda m, x: m.round(x, -1), (I64 * 7,)),
    Case("around", lambda m, x: m.around(x, 1), (X * 10,)),
    Case("fix", lambda m, x: m.fix(x), (X * 3,)),
    Case("divmod", lambda m, x, y: m.divmod(x, y), (X * 5, uniform(0.5, 2, 3, 4))),
    Case("divmod-int", lambda m, x: m.divmod(x, 3), (I64,)),
    Case("fmax-nan", lambda m, x, y: m.fmax(x, y), (_A, _B)),
    Case("fmin-nan", lambda m, x, y: m.fmin(x, y), (_A, _B)),
    Case("fmax-int", lambda m, x, y: m.fmax(x, y), (I32, I64)),
    Case("heaviside", lambda m, x: m.heaviside(x, 0.5), (np.array([-1.0, 0.0, 2.0]),)),
    Case("ufunc-dtype", lambda m, x: m.divide(x, 3, dtype=np.float32), (I32,)),
    Case("sign-int", lambda m, x: m.sign(x), (I64,)),
]


@pytest.mark.parametrize("case,mode", params(MORE_ELEMENTWISE))
def test_more_elementwise(case, mode):
    run(case, mode)


UFUNC_METHODS = [
    Case("add-reduce", lambda m, x: np.add.reduce(x), (X3,)),
    Case("add-reduce-axis", lambda m, x: np.add.reduce(x, axis=-1, keepdims=True), (X3,)),
    Case("add-reduce-none", lambda m, x: np.add.reduce(x, axis=None), (X3,)),
    Case("add-reduce-dtype", lambda m, x: np.add.reduce(x, dtype=np.float32), (I32,)),
    Case("multiply-reduce", lambda m, x: np.multiply.reduce(x, axis=1), (X3,)),
    Case("maximum-reduce", lambda m, x: np.maximum.reduce(x, axis=(0, 2)), (X3,)),
    Case("minimum-reduce", lambda m, x: np.minimum.reduce(x), (X3,)),
    Case("logical_and-reduce", lambda m, x: np.logical_and.reduce(x > -1, axis=1), (X3,)),
    Case("logical_or-reduce", lambda m, x: np.logical_or.reduce(x > 1), (X3,)),
    Case("add-accumulate", lambda m, x: np.add.accumulate(x), (X3,)),
    Case("add-accumulate-axis", lambda m, x: np.add.accumulate(x, axis=2), (X3,)),
    Case("multiply-outer", lambda m, a, b: np.multiply.outer(a, b), (normal(3), normal(2, 2))),
    Case("subtract-outer", lambda m, a, b: np.subtract.outer(a, b), (normal(3), normal(4))),
    Case("less-outer", lambda m, a, b: np.less.outer(a, b), (normal(3), normal(4))),
]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in UFUNC_METHODS])
def test_ufunc_methods(case):
    run(case, "np-jit")


REDUCTION_EXTRAS = [
    Case("sum-initial", lambda m, x: m.sum(x, axis=0, initial=10.0), (X,)),
    Case("prod-initial", lambda m, x: m.prod(x, axis=1, initial=2.0), (X,)),
    Case("max-initial", lambda m, x: m.max(x, axis=0, initial=0.5), (X,)),
    Case("min-initial-empty", lambda m, x: m.min(x, axis=0, initial=3.0), (EMPTY,)),
    Case("max-initial-empty-keepdims", lambda m, x: m.max(x, axis=0, keepdims=True, initial=-1.0),
         (EMPTY,)),
    Case("any-empty-keepdims", lambda m, x: m.any(x, axis=0, keepdims=True), (EMPTY,)),
    Case("all-empty-all", lambda m, x: m.all(x), (EMPTY,)),
    Case("mean-int-dtype", lambda m, x: m.mean(x, axis=0, dtype=np.int32), (I32 * 3,)),
    Case("mean-f32-dtype", lambda m, x: m.mean(x, dtype=np.float64), (F32,)),
    Case("mean-keepdims-tuple", lambda m, x: m.mean(x, axis=(0, 2), keepdims=True), (X3,)),
    Case("var-keepdims", lambda m, x: m.var(x, axis=1, keepdims=True, ddof=1), (X3,)),
    Case("std-f32", lambda m, x: m.std(x.astype(np.float32), axis=0).astype(np.float64), (X,)),
]


@pytest.mark.parametrize("case,mode", params(REDUCTION_EXTRAS))
def test_reduction_extras(case, mode):
    if case.id == "std-f32":
        want = case.fn(np, *case.args)
        got = call(case, mode)
        np.testing.assert_allclose(got, want, rtol=1e-6)
        return
    run(case, mode)


@pytest.mark.parametrize("case,mode", params(WHERE_CLIP))
def test_where_clip(case, mode):
    run(case, mode)


# --- reductions -----------------------------------------------------------------------------
def _reduction_cases():
    out = []
    forms = [("all", {}), ("axis0", {"axis": 0}), ("axis1", {"axis": 1}),
             ("axis-neg", {"axis": -1}), ("axis-tuple", {"axis": (0, 2)}),
             ("axis-tuple-neg", {"axis": (-1, 0)}), ("keepdims", {"axis": 1, "keepdims": True}),
             ("keepdims-all", {"keepdims": True}),
             ("keepdims-tuple", {"axis": (0, 2), "keepdims": True})]
    data = {"f64": X3, "i32": ints(-4, 5, 2, 3, 4, dtype=np.int32), "bool": bools(2, 3, 4)}
    for name in ["sum", "mean", "max", "min", "prod", "var", "std", "any", "all"]:
        for fid, kw in forms:
            fn = (lambda n, k: lambda m, x: getattr(m, n)(x, **k))(name, kw)
            out.append(Case(f"{name}-{fid}", fn, (data["f64"],)))
        for dname in ("i32", "bool"):
            if dname == "bool" and name in ("var", "std"):
                continue
            fn = (lambda n: lambda m, x: getattr(m, n)(x, axis=1))(name)
            out.append(Case(f"{name}-{dname}", fn, (data[dname],)))
        fn = (lambda n: lambda m, x: getattr(m, n)(x))(name)
        out += [Case(f"{name}-0d", fn, (np.asarray(1.5),)),
                Case(f"{name}-size1", (lambda n: lambda m, x: getattr(m, n)(x, axis=0))(name),
                     (normal(1, 3),))]
        if name not in ("max", "min"):
            out.append(Case(f"{name}-size0-axis0",
                            (lambda n: lambda m, x: getattr(m, n)(x, axis=0))(name), (EMPTY,)))
            out.append(Case(f"{name}-size0-axis1",
                            (lambda n: lambda m, x: getattr(m, n)(x, axis=1))(name), (EMPTY,)))
        else:
            out.append(Case(f"{name}-size0-axis1",
                            (lambda n: lambda m, x: getattr(m, n)(x, axis=1))(name), (EMPTY,)))
    for name in ["var", "std"]:
        for ddof in (1, 2):
            fn = (lambda n, d: lambda m, x: getattr(m, n)(x, axis=-1, ddof=d))(name, ddof)
            out.append(Case(f"{name}-ddof{ddof}", fn, (X3,)))
        out.append(Case(f"{name}-ddof-all", (lambda n: lambda m, x: getattr(m, n)(x, ddof=1))(name),
                        (X3,)))
    for name in ["sum", "mean", "prod"]:
        fn = (lambda n: lambda m, x: getattr(m, n)(x, axis=0, dtype=np.float64))(name)
        out.append(Case(f"{name}-dtype", fn, (data["i32"],)))
    for name in ["argmax", "argmin"]:
        for fid, kw in [("all", {}), ("axis0", {"axis": 0}), ("axis-neg", {"axis": -1}),
                        ("keepdims", {"axis": 1, "keepdims": True}),
                        ("keepdims-all", {"keepdims": True})]:
            fn = (lambda n, k: lambda m, x: getattr(m, n)(x, **k))(name, kw)
            out.append(Case(f"{name}-{fid}", fn, (X3,)))
        fn = (lambda n: lambda m, x: getattr(m, n)(x, axis=1))(name)
        out += [Case(f"{name}-ties", fn, (ints(0, 2, 3, 5).astype(float),)),
                Case(f"{name}-i32", fn, (data["i32"],)),
                Case(f"{name}-bool", fn, (data["bool"],)),
                Case(f"{name}-nan", fn, (np.array([[1.0, np.nan, 3.0], [np.nan, 2.0, 0.0]]),)),
                Case(f"{name}-0d", lambda m, x, n=name: getattr(m, n)(x), (np.asarray(2.0),))]
    for fid, kw in [("none", {}), ("axis0", {"axis": 0}), ("axis1", {"axis": 1}),
                    ("axis-neg", {"axis": -1})]:
        fn = (lambda k: lambda m, x: m.cumsum(x, **k))(kw)
        out.append(Case(f"cumsum-{fid}", fn, (X3,)))
    out += [Case("cumsum-i32", lambda m, x: m.cumsum(x, axis=0), (data["i32"],)),
            Case("cumsum-bool", lambda m, x: m.cumsum(x), (data["bool"],)),
            Case("cumsum-size0", lambda m, x: m.cumsum(x, axis=0), (EMPTY,)),
            Case("cumsum-0d", lambda m, x: m.cumsum(x), (np.asarray(2.0),)),
            Case("max-nan", lambda m, x: m.max(x, axis=1),
                 (np.array([[1.0, np.nan], [2.0, 3.0]]),)),
            Case("min-nan", lambda m, x: m.min(x), (np.array([[1.0, np.nan], [2.0, 3.0]]),)),
            Case("sum-f32", lambda m, x: m.sum(x, axis=0), (F32,)),
            Case("mean-f32", lambda m, x: m.mean(x), (F32,))]
    return out


@pytest.mark.parametrize("case,mode", params(_reduction_cases()))
def test_reductions(case, mode):
    if case.id in ("sum-f32", "mean-f32"):
        want = case.fn(np, *case.args)
        got = call(case, mode)
        assert got.dtype == want.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=1e-6)
        return
    run(case, mode)


# --- linear algebra -------------------------------------------------------------------------
def P(*shape):
    """Positive data, so sums of products never cancel (rtol stays meaningful)."""
    return uniform(0.5, 1.5, *shape)


LINALG = [
    Case("matmul-2d", lambda m, a, b: m.matmul(a, b), (P(3, 4), P(4, 5))),
    Case("matmul-1d-2d", lambda m, a, b: m.matmul(a, b), (P(4), P(4, 5))),
    Case("matmul-2d-1d", lambda m, a, b: m.matmul(a, b), (P(3, 4), P(4))),
    Case("matmul-1d-1d", lambda m, a, b: m.matmul(a, b), (P(4), P(4))),
    Case("matmul-batched", lambda m, a, b: m.matmul(a, b), (P(2, 3, 4), P(2, 4, 5))),
    Case("matmul-batch-bcast", lambda m, a, b: m.matmul(a, b), (P(2, 1, 3, 4), P(5, 4, 2))),
    Case("matmul-3d-1d", lambda m, a, b: m.matmul(a, b), (P(2, 3, 4), P(4))),
    Case("matmul-1d-3d", lambda m, a, b: m.matmul(a, b), (P(3), P(2, 3, 4))),
    Case("matmul-int", lambda m, a, b: m.matmul(a, b), (I32, ints(-3, 3, 4, 2, dtype=np.int32))),
    Case("matmul-mixed", lambda m, a, b: m.matmul(a, b), (I32, P(4, 2))),
    Case("matmul-bool", lambda m, a, b: m.matmul(a, b), (B, bools(4, 2))),
    Case("matmul-size0", lambda m, a, b: m.matmul(a, b), (P(0, 3), P(3, 2))),
    Case("matmul-k0", lambda m, a, b: m.matmul(a, b), (P(2, 0), P(0, 3))),
    Case("dot-2d", lambda m, a, b: m.dot(a, b), (P(3, 4), P(4, 5))),
    Case("dot-1d", lambda m, a, b: m.dot(a, b), (P(4), P(4))),
    Case("dot-2d-1d", lambda m, a, b: m.dot(a, b), (P(3, 4), P(4))),
    Case("dot-1d-2d", lambda m, a, b: m.dot(a, b), (P(3), P(3, 4))),
    Case("dot-nd", lambda m, a, b: m.dot(a, b), (P(2, 3, 4), P(5, 4, 2))),
    Case("dot-scalar", lambda m, a: m.dot(a, 2.0), (P(3, 4),)),
    Case("dot-0d", lambda m, a, b: m.dot(a, b), (np.asarray(3.0), P(3))),
    Case("tensordot-2", lambda m, a, b: m.tensordot(a, b), (P(2, 3, 4), P(3, 4, 5))),
    Case("tensordot-1", lambda m, a, b: m.tensordot(a, b, axes=1), (P(2, 3), P(3, 4))),
    Case("tensordot-0", lambda m, a, b: m.tensordot(a, b, axes=0), (P(2, 3), P(4))),
    Case("tensordot-pairs", lambda m, a, b: m.tensordot(a, b, axes=([1, 0], [0, 1])),
         (P(3, 4, 5), P(4, 3, 2))),
    Case("tensordot-int-pairs", lambda m, a, b: m.tensordot(a, b, axes=(1, 0)), (P(2, 3), P(3, 4))),
    Case("tensordot-neg", lambda m, a, b: m.tensordot(a, b, axes=([-1], [0])), (P(2, 3), P(3, 4))),
    Case("outer", lambda m, a, b: m.outer(a, b), (P(3), P(4))),
    Case("outer-2d", lambda m, a, b: m.outer(a, b), (P(2, 2), P(3))),
    Case("outer-int", lambda m, a, b: m.outer(a, b), (I32[0], I64[1])),
    Case("inner-1d", lambda m, a, b: m.inner(a, b), (P(4), P(4))),
    Case("inner-nd", lambda m, a, b: m.inner(a, b), (P(2, 3, 4), P(5, 4))),
    Case("inner-scalar", lambda m, a: m.inner(a, 2.0), (P(3),)),
    Case("vdot", lambda m, a, b: m.vdot(a, b), (P(2, 3), P(3, 2))),
    Case("vdot-1d", lambda m, a, b: m.vdot(a, b), (P(5), P(5))),
    Case("trace", lambda m, a: m.trace(a), (P(4, 4),)),
    Case("trace-rect", lambda m, a: m.trace(a), (P(3, 5),)),
    Case("trace-offset", lambda m, a: m.trace(a, 1), (P(4, 4),)),
    Case("trace-neg-offset", lambda m, a: m.trace(a, -2), (P(4, 3),)),
    Case("trace-3d", lambda m, a: m.trace(a, 0, 1, 2), (P(2, 3, 3),)),
    Case("trace-int", lambda m, a: m.trace(a), (ints(0, 5, 3, 3, dtype=np.int32),)),
    Case("vecdot", lambda m, a, b: m.vecdot(a, b), (P(2, 3, 4), P(3, 4))),
    Case("vecdot-bcast", lambda m, a, b: m.vecdot(a, b), (P(2, 1, 4), P(3, 4))),
    Case("matvec", lambda m, a, b: m.matvec(a, b), (P(2, 3, 4), P(4))),
    Case("vecmat", lambda m, a, b: m.vecmat(a, b), (P(3), P(2, 3, 4))),
    Case("diag-1d", lambda m, v: m.diag(v), (P(3),)),
    Case("diag-1d-k", lambda m, v: m.diag(v, 1), (P(3),)),
    Case("diag-1d-negk", lambda m, v: m.diag(v, -2), (P(3),)),
    Case("diag-2d", lambda m, a: m.diag(a), (P(3, 4),)),
    Case("diag-2d-k", lambda m, a: m.diag(a, 1), (P(3, 4),)),
    Case("diag-2d-negk", lambda m, a: m.diag(a, -1), (P(3, 4),)),
    Case("diag-2d-far", lambda m, a: m.diag(a, 7), (P(3, 4),)),
    Case("diagonal", lambda m, a: m.diagonal(a), (P(3, 4),)),
    Case("diagonal-offset", lambda m, a: m.diagonal(a, 2), (P(3, 4),)),
    Case("diagonal-3d", lambda m, a: m.diagonal(a, 0, 0, 2), (P(3, 2, 4),)),
    Case("diagonal-3d-neg", lambda m, a: m.diagonal(a, -1, -1, 0), (P(3, 2, 4),)),
]


@pytest.mark.parametrize("case,mode", params(LINALG))
def test_linear_algebra(case, mode):
    run(case, mode)


EINSUM = [
    Case("matmul", lambda m, a, b: m.einsum("ij,jk->ik", a, b), (P(3, 4), P(4, 5))),
    Case("batched", lambda m, a, b: m.einsum("bij,bjk->bik", a, b), (P(2, 3, 4), P(2, 4, 5))),
    Case("trace", lambda m, a: m.einsum("ii", a), (P(4, 4),)),
    Case("diagonal", lambda m, a: m.einsum("ii->i", a), (P(4, 4),)),
    Case("outer", lambda m, a, b: m.einsum("i,j->ij", a, b), (P(3), P(4))),
    Case("sum", lambda m, a: m.einsum("ij->", a), (P(3, 4),)),
    Case("row-sum", lambda m, a: m.einsum("ij->i", a), (P(3, 4),)),
    Case("transpose", lambda m, a: m.einsum("ij->ji", a), (P(3, 4),)),
    Case("implicit-matmul", lambda m, a, b: m.einsum("ij,jk", a, b), (P(3, 4), P(4, 5))),
    Case("implicit-transpose", lambda m, a: m.einsum("ji", a), (P(3, 4),)),
    Case("implicit-dot", lambda m, a, b: m.einsum("i,i", a, b), (P(4), P(4))),
    Case("ellipsis", lambda m, a, b: m.einsum("...ij,...jk->...ik", a, b),
         (P(2, 3, 4), P(2, 4, 5))),
    Case("ellipsis-bcast", lambda m, a, b: m.einsum("...ij,...jk->...ik", a, b),
         (P(2, 3, 4), P(4, 5))),
    Case("ellipsis-implicit", lambda m, a: m.einsum("...ij", a), (P(2, 3, 4),)),
    Case("ellipsis-sum", lambda m, a: m.einsum("i...->...", a), (P(2, 3, 4),)),
    Case("three-operands", lambda m, a, b, c: m.einsum("ij,jk,kl->il", a, b, c),
         (P(2, 3), P(3, 4), P(4, 5))),
    Case("three-shared", lambda m, a, b, c: m.einsum("i,i,i->", a, b, c), (P(4), P(4), P(4))),
    Case("three-bilinear", lambda m, a, w, b: m.einsum("bi,oij,bj->bo", a, w, b),
         (P(2, 3), P(5, 3, 4), P(2, 4))),
    Case("hadamard", lambda m, a, b: m.einsum("ij,ij->ij", a, b), (P(3, 4), P(3, 4))),
    Case("batch-diag", lambda m, a: m.einsum("bii->bi", a), (P(2, 3, 3),)),
    Case("lonely-label", lambda m, a, b: m.einsum("ij,k->i", a, b), (P(3, 4), P(5))),
    Case("spaces", lambda m, a, b: m.einsum("ij, jk -> ik", a, b), (P(3, 4), P(4, 5))),
    Case("int", lambda m, a, b: m.einsum("ij,jk->ik", a, b), (I32, ints(0, 3, 4, 2))),
    Case("mixed", lambda m, a, b: m.einsum("ij,j->i", a, b), (I32, P(4))),
    Case("scalar-operand", lambda m, a, s: m.einsum("ij,->ij", a, s), (P(3, 4), np.asarray(2.0))),
    Case("size1-bcast", lambda m, a, b: m.einsum("ij,ij->i", a, b), (P(3, 4), P(1, 4))),
    Case("uppercase-with-ellipsis", lambda m, a, b: m.einsum("...A,AB->...B", a, b),
         (P(5, 2), P(2, 3))),
    Case("implicit-mixed-case", lambda m, a, b: m.einsum("bA,cb", a, b), (P(3, 2), P(4, 3))),
    Case("sublists", lambda m, a, b: m.einsum(a, [0, 1], b, [1, 2], [0, 2]), (P(2, 3), P(3, 4))),
    Case("sublists-implicit", lambda m, a, b: m.einsum(a, [30, 1], b, [1, 2]),
         (P(2, 3), P(3, 4))),
    Case("sublists-ellipsis", lambda m, a, b: m.einsum(a, [Ellipsis, 1], b, [1, 2]),
         (P(5, 2, 3), P(3, 4))),
    Case("bool", lambda m, a, b: m.einsum("ij,jk->ik", a, b), (B, bools(4, 2))),
]


@pytest.mark.parametrize("case,mode", params(EINSUM))
def test_einsum(case, mode):
    run(case, mode)


@pytest.mark.parametrize("fn", [lambda m, a, b: m.einsum("ij,jk", a, b),
                                lambda m, a, b: m.matmul(a, b),
                                lambda m, a, b: m.tensordot(a, b, 1),
                                lambda m, a, b: m.dot(a, b)],
                         ids=["einsum", "matmul", "tensordot", "dot"])
def test_float32_contractions_stay_float32(fn):
    a, b = P(3, 4).astype(np.float32), P(4, 2).astype(np.float32)
    want = fn(np, a, b)
    for m in (np, tnp):
        got = tg.jit(lambda x, y: fn(m, x, y), backend="numpy")(a, b)
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=1e-6)


# --- shape manipulation ---------------------------------------------------------------------
SHAPES = [
    Case("transpose", lambda m, a: m.transpose(a), (X3,)),
    Case("transpose-axes", lambda m, a: m.transpose(a, (1, 0, 2)), (X3,)),
    Case("transpose-neg-axes", lambda m, a: m.transpose(a, (-1, 0, 1)), (X3,)),
    Case("transpose-1d", lambda m, a: m.transpose(a), (normal(3),)),
    Case("transpose-0d", lambda m, a: m.transpose(a), (np.asarray(1.0),)),
    Case("reshape-tuple", lambda m, a: m.reshape(a, (4, 6)), (X3,)),
    Case("reshape-minus1", lambda m, a: m.reshape(a, (-1, 4)), (X3,)),
    Case("reshape-int", lambda m, a: m.reshape(a, 24), (X3,)),
    Case("reshape-flat", lambda m, a: m.reshape(a, -1), (X3,)),
    Case("reshape-0d", lambda m, a: m.reshape(a, ()), (normal(1),)),
    Case("reshape-size0", lambda m, a: m.reshape(a, (3, 0)), (EMPTY,)),
    Case("reshape-size0-minus1", lambda m, a: m.reshape(a, (-1, 3)), (EMPTY,)),
    Case("ravel", lambda m, a: m.ravel(a), (X3,)),
    Case("expand_dims-0", lambda m, a: m.expand_dims(a, 0), (X,)),
    Case("expand_dims-neg", lambda m, a: m.expand_dims(a, -1), (X,)),
    Case("expand_dims-mid", lambda m, a: m.expand_dims(a, 1), (X,)),
    Case("expand_dims-tuple", lambda m, a: m.expand_dims(a, (0, 3)), (X,)),
    Case("expand_dims-tuple-neg", lambda m, a: m.expand_dims(a, (-1, 0)), (X,)),
    Case("squeeze-all", lambda m, a: m.squeeze(a), (normal(1, 3, 1, 2),)),
    Case("squeeze-axis", lambda m, a: m.squeeze(a, 2), (normal(1, 3, 1, 2),)),
    Case("squeeze-neg-tuple", lambda m, a: m.squeeze(a, (-2, 0)), (normal(1, 3, 1, 2),)),
    Case("squeeze-to-0d", lambda m, a: m.squeeze(a), (normal(1, 1),)),
    Case("broadcast_to", lambda m, a: m.broadcast_to(a, (2, 3, 4)), (normal(3, 1),)),
    Case("broadcast_to-same", lambda m, a: m.broadcast_to(a, (3, 4)), (X,)),
    Case("broadcast_to-0d", lambda m, a: m.broadcast_to(a, (2, 2)), (np.asarray(3.0),)),
    Case("broadcast_to-int", lambda m, a: m.broadcast_to(a, 5), (normal(1),)),
    Case("broadcast_to-size0", lambda m, a: m.broadcast_to(a, (0, 3)), (normal(3),)),
    Case("atleast_1d-0d", lambda m, a: m.atleast_1d(a), (np.asarray(2.0),)),
    Case("atleast_1d-2d", lambda m, a: m.atleast_1d(a), (X,)),
    Case("atleast_1d-many", lambda m, a, b: m.atleast_1d(a, b), (np.asarray(2.0), X)),
    Case("atleast_2d-0d", lambda m, a: m.atleast_2d(a), (np.asarray(2.0),)),
    Case("atleast_2d-1d", lambda m, a: m.atleast_2d(a), (normal(3),)),
    Case("atleast_2d-3d", lambda m, a: m.atleast_2d(a), (X3,)),
    Case("atleast_3d-0d", lambda m, a: m.atleast_3d(a), (np.asarray(2.0),)),
    Case("atleast_3d-1d", lambda m, a: m.atleast_3d(a), (normal(3),)),
    Case("atleast_3d-2d", lambda m, a: m.atleast_3d(a), (X,)),
    Case("atleast_3d-many", lambda m, a, b: m.atleast_3d(a, b), (normal(3), X3)),
    Case("concatenate-0", lambda m, a, b: m.concatenate([a, b]), (X, normal(2, 4))),
    Case("concatenate-1", lambda m, a, b: m.concatenate((a, b), axis=1), (X, normal(3, 2))),
    Case("concatenate-neg", lambda m, a, b: m.concatenate([a, b], axis=-1), (X, normal(3, 2))),
    Case("concatenate-none", lambda m, a, b: m.concatenate([a, b], axis=None), (X, normal(5))),
    Case("concatenate-three", lambda m, a, b, c: m.concatenate([a, b, c]), (X, X, Y)),
    Case("concatenate-mixed", lambda m, a, b: m.concatenate([a, b]), (I32, X)),
    Case("concatenate-empty", lambda m, a, b: m.concatenate([a, b]), (normal(0, 4), X)),
    Case("concatenate-one", lambda m, a: m.concatenate([a]), (X,)),
    Case("stack-0", lambda m, a, b: m.stack([a, b]), (X, Y)),
    Case("stack-1", lambda m, a, b: m.stack([a, b], axis=1), (X, Y)),
    Case("stack-neg", lambda m, a, b: m.stack((a, b), axis=-1), (X, Y)),
    Case("stack-0d", lambda m, a, b: m.stack([a, b]), (np.asarray(1.0), np.asarray(2.0))),
    Case("stack-pyscalar", lambda m, a, b: m.stack([a, b]), (1.5, np.asarray(2.0))),
    Case("hstack-1d", lambda m, a, b: m.hstack([a, b]), (normal(3), normal(2))),
    Case("hstack-2d", lambda m, a, b: m.hstack((a, b)), (X, normal(3, 2))),
    Case("hstack-0d", lambda m, a, b: m.hstack([a, b]), (np.asarray(1.0), normal(2))),
    Case("vstack-1d", lambda m, a, b: m.vstack([a, b]), (normal(3), normal(3))),
    Case("vstack-2d", lambda m, a, b: m.vstack((a, b)), (X, normal(2, 4))),
    Case("vstack-mixed", lambda m, a, b: m.vstack([a, b]), (normal(4), X)),
    Case("flip-none", lambda m, a: m.flip(a), (X3,)),
    Case("flip-axis", lambda m, a: m.flip(a, 1), (X3,)),
    Case("flip-neg", lambda m, a: m.flip(a, -1), (X3,)),
    Case("flip-tuple", lambda m, a: m.flip(a, (0, 2)), (X3,)),
    Case("flip-0d", lambda m, a: m.flip(a), (np.asarray(1.0),)),
    Case("swapaxes", lambda m, a: m.swapaxes(a, 0, 2), (X3,)),
    Case("swapaxes-neg", lambda m, a: m.swapaxes(a, -1, 1), (X3,)),
    Case("swapaxes-same", lambda m, a: m.swapaxes(a, 1, 1), (X3,)),
    Case("moveaxis", lambda m, a: m.moveaxis(a, 0, -1), (X3,)),
    Case("moveaxis-back", lambda m, a: m.moveaxis(a, -1, 0), (X3,)),
    Case("moveaxis-lists", lambda m, a: m.moveaxis(a, [0, 1], [-1, -2]), (X3,)),
    Case("moveaxis-lists2", lambda m, a: m.moveaxis(a, [2, 0], [0, 1]), (normal(2, 3, 4, 5),)),
    Case("tile-int", lambda m, a: m.tile(a, 2), (X,)),
    Case("tile-tuple", lambda m, a: m.tile(a, (2, 3)), (X,)),
    Case("tile-more-reps", lambda m, a: m.tile(a, (2, 1, 2)), (normal(3),)),
    Case("tile-fewer-reps", lambda m, a: m.tile(a, (2,)), (X3,)),
    Case("tile-0d", lambda m, a: m.tile(a, 3), (np.asarray(2.0),)),
    Case("tile-zero", lambda m, a: m.tile(a, (0, 2)), (X,)),
    Case("repeat-flat", lambda m, a: m.repeat(a, 2), (X,)),
    Case("repeat-axis", lambda m, a: m.repeat(a, 3, axis=1), (X,)),
    Case("repeat-neg-axis", lambda m, a: m.repeat(a, 2, axis=-3), (X3,)),
    Case("repeat-zero", lambda m, a: m.repeat(a, 0, axis=0), (X,)),
    Case("repeat-0d", lambda m, a: m.repeat(a, 3), (np.asarray(2.0),)),
    Case("repeat-list", lambda m, a: m.repeat(a, [1, 0, 2], axis=0), (X,)),
    Case("repeat-array", lambda m, a: m.repeat(a, np.array([2, 1, 1, 0])), (normal(4),)),
]


@pytest.mark.parametrize("case,mode", params(SHAPES))
def test_shape_functions(case, mode):
    run(case, mode)


# --- take, take_along_axis, *_like ----------------------------------------------------------
IDX = np.array([2, 0, -1, 1])
TAKE = [
    Case("take-flat", lambda m, a: m.take(a, IDX), (X,)),
    Case("take-axis0", lambda m, a: m.take(a, [2, 0, 0], axis=0), (X,)),
    Case("take-axis1", lambda m, a: m.take(a, IDX, axis=1), (X,)),
    Case("take-neg-axis", lambda m, a: m.take(a, np.array([[0, 1], [3, 3]]), axis=-1), (X3,)),
    Case("take-scalar", lambda m, a: m.take(a, 5), (X,)),
    Case("take-scalar-axis", lambda m, a: m.take(a, -1, axis=1), (X,)),
    Case("take-traced", lambda m, a, i: m.take(a, i, axis=0), (X, np.array([1, -1, 0]))),
    Case("take-traced-flat", lambda m, a, i: m.take(a, i), (X, np.array([[11, 0], [5, -12]]))),
    Case("take-empty-idx", lambda m, a: m.take(a, np.array([], dtype=np.int64), axis=1), (X,)),
    Case("take-i32-idx", lambda m, a, i: m.take(a, i, axis=1), (X, np.array([3, 0], np.int32))),
    Case("take_along_axis-1", lambda m, a: m.take_along_axis(a, np.argsort(X, axis=1), axis=1),
         (X,)),
    Case("take_along_axis-0", lambda m, a: m.take_along_axis(a, np.argsort(X, axis=0), axis=0),
         (X,)),
    Case("take_along_axis-neg", lambda m, a, i: m.take_along_axis(a, i, axis=-1),
         (X3, ints(-4, 4, 2, 3, 2))),
    Case("take_along_axis-bcast", lambda m, a, i: m.take_along_axis(a, i, axis=1),
         (X3, ints(0, 3, 1, 5, 1))),
    Case("take_along_axis-none", lambda m, a, i: m.take_along_axis(a, i, axis=None),
         (X, ints(0, 12, 5))),
    Case("take_along_axis-argmax", lambda m, a: m.take_along_axis(
        a, m.expand_dims(m.argmax(a, axis=1), 1), axis=1), (X,)),
    Case("zeros_like", lambda m, a: m.zeros_like(a), (X,)),
    Case("zeros_like-int", lambda m, a: m.zeros_like(a), (I32,)),
    Case("zeros_like-dtype", lambda m, a: m.zeros_like(a, dtype=np.int32), (X,)),
    Case("zeros_like-0d", lambda m, a: m.zeros_like(a), (np.asarray(1.0),)),
    Case("ones_like", lambda m, a: m.ones_like(a), (X3,)),
    Case("ones_like-bool", lambda m, a: m.ones_like(a), (B,)),
    Case("ones_like-dtype", lambda m, a: m.ones_like(a, dtype=bool), (X,)),
    Case("ones_like-pyscalar", lambda m, a: m.ones_like(a), (2.5,)),
    Case("full_like", lambda m, a: m.full_like(a, 3.25), (X,)),
    Case("full_like-int-trunc", lambda m, a: m.full_like(a, 3.75), (I32,)),
    Case("full_like-dtype", lambda m, a: m.full_like(a, 2, dtype=np.float32), (I64,)),
    Case("full_like-nan", lambda m, a: m.full_like(a, np.nan), (X,)),
    Case("full_like-traced-fill", lambda m, a, v: m.full_like(a, v), (X, np.asarray(0.5))),
    Case("full_like-size0", lambda m, a: m.full_like(a, 1.0), (EMPTY,)),
    Case("zeros_like-shape", lambda m, a: m.zeros_like(a, shape=(2, 5)), (X,)),
]


@pytest.mark.parametrize("case,mode", params(TAKE))
def test_take_and_like(case, mode):
    run(case, mode)


# --- operators, methods and attributes ------------------------------------------------------
P23 = P(2, 3)
OPERATORS = [
    Case("add", lambda m, a, b: a + b, (X, Y)),
    Case("radd", lambda m, a: 2.0 + a, (X,)),
    Case("sub", lambda m, a, b: a - b, (X, normal(4))),
    Case("rsub", lambda m, a: 1 - a, (X,)),
    Case("mul", lambda m, a, b: a * b, (X, Y)),
    Case("rmul", lambda m, a: 3 * a, (I32,)),
    Case("div", lambda m, a, b: a / b, (X, uniform(0.5, 2, 3, 4))),
    Case("rdiv", lambda m, a: 1.0 / a, (uniform(0.5, 2, 3, 4),)),
    Case("div-int", lambda m, a, b: a / b, (I32, POS64)),
    Case("floordiv", lambda m, a, b: a // b, (X * 5, uniform(0.5, 2, 3, 4))),
    Case("rfloordiv", lambda m, a: 7 // a, (POS64,)),
    Case("mod", lambda m, a, b: a % b, (X * 5, uniform(0.5, 2, 3, 4))),
    Case("rmod", lambda m, a: 7.5 % a, (uniform(0.5, 2, 3, 4),)),
    Case("mod-int-neg", lambda m, a: a % -3, (I64,)),
    Case("pow", lambda m, a: a ** 2, (X,)),
    Case("pow-float", lambda m, a, b: a ** b, (uniform(0.5, 2, 3, 4), Y)),
    Case("rpow", lambda m, a: 2.0 ** a, (X,)),
    Case("pow-int", lambda m, a: a ** 3, (I32,)),
    Case("pow-half", lambda m, a: a ** 0.5, (uniform(0, 2, 3, 4),)),
    Case("matmul", lambda m, a, b: a @ b, (P(3, 4), P(4, 2))),
    Case("rmatmul-const", lambda m, a: P23 @ a, (P(3, 4),)),
    Case("lt", lambda m, a, b: a < b, (X, Y)),
    Case("le", lambda m, a: a <= 0.0, (X,)),
    Case("gt", lambda m, a: 0 > a, (X,)),
    Case("ge", lambda m, a, b: a >= b, (I32, I64)),
    Case("eq", lambda m, a, b: a == b, (I32, I64)),
    Case("ne", lambda m, a: a != 1, (I32,)),
    Case("neg", lambda m, a: -a, (X,)),
    Case("pos", lambda m, a: +a, (X,)),
    Case("abs", lambda m, a: abs(a), (X,)),
    Case("abs-int", lambda m, a: abs(a), (I32,)),
    Case("and", lambda m, a, b: (a > 0) & (b > 0), (X, Y)),
    Case("or", lambda m, a, b: (a > 0) | (b > 0), (X, Y)),
    Case("xor", lambda m, a, b: (a > 0) ^ (b > 0), (X, Y)),
    Case("invert", lambda m, a: ~(a > 0), (X,)),
    Case("and-const-mask", lambda m, a: (a > 0) & B, (X,)),
    Case("rand-const-mask", lambda m, a: B & (a > 0), (X,)),
    Case("mask-arith", lambda m, a: a * (a > 0), (X,)),
    Case("chain", lambda m, a, b: (a * b + a / (1 + b * b) - 3) ** 2 @ b.T, (X, Y)),
    Case("ndarray-lhs", lambda m, a: X + a * Y, (X,)),
    Case("np-scalar-lhs", lambda m, a: np.float64(2.0) * a, (X,)),
    Case("np-f32-scalar", lambda m, a: a * np.float32(2.0), (X,)),
]

METHODS = [
    Case("T", lambda m, a: a.T, (X3,)),
    Case("T-1d", lambda m, a: a.T, (normal(3),)),
    Case("shape", lambda m, a: a.reshape(a.shape[0] * a.shape[1], -1) + a.ndim, (X3,)),
    Case("size-len", lambda m, a: a * (a.size + len(a)), (X,)),
    Case("dtype", lambda m, a: a.astype(a.dtype) + 1, (I32,)),
    Case("reshape-args", lambda m, a: a.reshape(4, 6), (X3,)),
    Case("reshape-tuple", lambda m, a: a.reshape((6, -1)), (X3,)),
    Case("reshape-list", lambda m, a: a.reshape([2, 12]), (X3,)),
    Case("sum", lambda m, a: a.sum(), (X3,)),
    Case("sum-axis", lambda m, a: a.sum(axis=1, keepdims=True), (X3,)),
    Case("sum-pos-axis", lambda m, a: a.sum(-1), (X3,)),
    Case("sum-tuple", lambda m, a: a.sum((0, 2)), (X3,)),
    Case("mean", lambda m, a: a.mean(0), (X3,)),
    Case("mean-int", lambda m, a: a.mean(), (I32,)),
    Case("max", lambda m, a: a.max(axis=-1), (X3,)),
    Case("min", lambda m, a: a.min(), (X3,)),
    Case("min-keepdims", lambda m, a: a.min(1, keepdims=True), (X3,)),
    Case("prod", lambda m, a: a.prod(1), (X3,)),
    Case("var-std", lambda m, a: a.var(0) + a.std(1, ddof=1).sum(), (X,)),
    Case("argmax", lambda m, a: a.argmax(1), (X3,)),
    Case("argmin", lambda m, a: a.argmin(), (X3,)),
    Case("any-all", lambda m, a: (a > 0).any(0) & (a < 2).all(0), (X,)),
    Case("cumsum", lambda m, a: a.cumsum(1), (X,)),
    Case("astype-f32", lambda m, a: a.astype(np.float32), (X,)),
    Case("astype-int", lambda m, a: a.astype(np.int32), (X * 10,)),
    Case("astype-bool", lambda m, a: a.astype(bool), (ints(-1, 2, 3, 4).astype(float),)),
    Case("astype-str", lambda m, a: a.astype("float64"), (I32,)),
    Case("transpose", lambda m, a: a.transpose(), (X3,)),
    Case("transpose-args", lambda m, a: a.transpose(1, 2, 0), (X3,)),
    Case("transpose-tuple", lambda m, a: a.transpose((2, 0, 1)), (X3,)),
    Case("flatten", lambda m, a: a.flatten(), (X3,)),
    Case("ravel", lambda m, a: a.ravel(), (X3,)),
    Case("squeeze", lambda m, a: a.squeeze(), (normal(1, 3, 1),)),
    Case("squeeze-axis", lambda m, a: a.squeeze(0), (normal(1, 3, 1),)),
    Case("clip", lambda m, a: a.clip(-0.5, 0.5), (X,)),
    Case("clip-kw", lambda m, a: a.clip(max=0.5), (X,)),
    Case("dot", lambda m, a, b: a.dot(b), (P(3, 4), P(4))),
    Case("swapaxes", lambda m, a: a.swapaxes(0, 1), (X3,)),
    Case("copy", lambda m, a: a.copy() * 2, (X,)),
    Case("iter", lambda m, a: sum(row * i for i, row in enumerate(a)), (X,)),
    Case("round", lambda m, a: a.round(2), (X * 10,)),
    Case("take", lambda m, a: a.take([0, -1], axis=1), (X,)),
    Case("take-mode-wrap", lambda m, a: a.take([5, -7], mode="wrap"), (X,)),
    Case("take-mode-clip", lambda m, a: a.take(np.array([[5, -7]]), axis=1, mode="clip"), (X,)),
    Case("repeat", lambda m, a: a.repeat(2, axis=0), (X,)),
    Case("diagonal", lambda m, a: a.diagonal(1), (X,)),
    Case("trace", lambda m, a: a.trace(), (X,)),
    Case("mT", lambda m, a: a.mT, (X3,)),
    Case("transpose-none", lambda m, a: a.transpose(None), (X3,)),
    Case("real-conj", lambda m, a: a.real + a.conj(), (X,)),
    Case("sum-initial", lambda m, a: a.sum(0, initial=1.0), (X,)),
    Case("divmod", lambda m, a: divmod(a, 0.75), (X,)),
    Case("nbytes", lambda m, a: a * a.nbytes + a.itemsize, (X,)),
]


@pytest.mark.parametrize("case,mode", params(OPERATORS))
def test_operators(case, mode):
    run(case, mode)


@pytest.mark.parametrize("case,mode", params(METHODS))
def test_methods_and_attributes(case, mode):
    run(case, mode)


# --- indexing -------------------------------------------------------------------------------
X4 = normal(3, 4, 5, 6)
XI = normal(3, 4, 5)
ROWS = np.array([2, 0, -1])
INDEXING = [
    Case("int", lambda m, a: a[1], (XI,)),
    Case("neg-int", lambda m, a: a[-1], (XI,)),
    Case("two-ints", lambda m, a: a[1, -2], (XI,)),
    Case("all-ints", lambda m, a: a[1, 2, 3], (XI,)),
    Case("slice", lambda m, a: a[1:], (XI,)),
    Case("slice-stop", lambda m, a: a[:, :2], (XI,)),
    Case("slice-step", lambda m, a: a[:, ::2], (XI,)),
    Case("slice-step3", lambda m, a: a[..., 1::3], (XI,)),
    Case("neg-step", lambda m, a: a[::-1], (XI,)),
    Case("neg-step2", lambda m, a: a[:, ::-2], (XI,)),
    Case("neg-step-bounds", lambda m, a: a[..., 3:0:-2], (XI,)),
    Case("neg-step-neg-bounds", lambda m, a: a[..., -1:-4:-1], (XI,)),
    Case("neg-start", lambda m, a: a[-2:], (XI,)),
    Case("empty-slice", lambda m, a: a[2:1], (XI,)),
    Case("empty-neg-step", lambda m, a: a[:, 0:2:-1], (XI,)),
    Case("out-of-range-slice", lambda m, a: a[1:100], (XI,)),
    Case("big-step", lambda m, a: a[:, ::10], (XI,)),
    Case("none", lambda m, a: a[None], (X,)),
    Case("none-mid", lambda m, a: a[:, None, :], (X,)),
    Case("none-end", lambda m, a: a[..., None], (X,)),
    Case("none-int", lambda m, a: a[None, 1, None], (X,)),
    Case("ellipsis", lambda m, a: a[..., 0], (XI,)),
    Case("ellipsis-mid", lambda m, a: a[0, ..., 1], (XI,)),
    Case("ellipsis-only", lambda m, a: a[...], (XI,)),
    Case("ellipsis-none", lambda m, a: a[..., None, 1:], (XI,)),
    Case("0d-ellipsis", lambda m, a: a[...], (np.asarray(2.0),)),
    Case("0d-none", lambda m, a: a[None], (np.asarray(2.0),)),
    Case("empty-tuple", lambda m, a: a[()], (X,)),
    Case("np-int", lambda m, a: a[np.int64(1), np.int32(-1)], (XI,)),
    Case("int-array", lambda m, a: a[ROWS], (XI,)),
    Case("int-array-2d", lambda m, a: a[np.array([[0, 1], [2, 2]])], (XI,)),
    Case("list", lambda m, a: a[[0, 2, 1]], (XI,)),
    Case("list-neg", lambda m, a: a[[-1, 0]], (XI,)),
    Case("array-axis1", lambda m, a: a[:, ROWS], (XI,)),
    Case("array-last-axis", lambda m, a: a[..., ROWS], (XI,)),
    Case("two-arrays", lambda m, a: a[ROWS, ROWS + 1], (XI,)),
    Case("two-arrays-bcast", lambda m, a: a[ROWS[:, None], np.array([0, 3])], (XI,)),
    Case("adjacent-mid", lambda m, a: a[:, ROWS, np.array([0, 1, 4])], (X4,)),
    Case("adjacent-after-slice", lambda m, a: a[1:, ROWS, np.array([0, 1, 4]), ::2], (X4,)),
    Case("non-adjacent", lambda m, a: a[ROWS, :, np.array([0, 1, 4])], (X4,)),
    Case("non-adjacent-slice-between", lambda m, a: a[:, ROWS, 1:3, np.array([0, 1, 4])], (X4,)),
    Case("int-and-array", lambda m, a: a[1, :, ROWS], (XI,)),
    Case("array-and-int-adjacent", lambda m, a: a[:, ROWS, 2], (XI,)),
    Case("int-array-slice-step", lambda m, a: a[ROWS, ::-2], (XI,)),
    Case("array-then-ellipsis", lambda m, a: a[ROWS, ...], (XI,)),
    Case("array-neg-step-adjacent", lambda m, a: a[::-1, np.array([0, 3]), 1:], (XI,)),
    Case("empty-array", lambda m, a: a[np.array([], dtype=np.int64)], (XI,)),
    Case("array-0d", lambda m, a: a[np.array(1)], (XI,)),
    Case("array-and-none", lambda m, a: a[None, ROWS], (XI,)),
    Case("array-none-after", lambda m, a: a[ROWS, None], (XI,)),
    Case("arrays-none-between", lambda m, a: a[ROWS, None, ROWS], (XI,)),
    Case("bool-mask", lambda m, a: a[np.array([True, False, True])], (XI,)),
    Case("bool-mask-axis", lambda m, a: a[:, np.array([True, False, True, True])], (XI,)),
    Case("bool-mask-list", lambda m, a: a[[True, False, True]], (X,)),
    Case("bool-mask-2d", lambda m, a: a[np.array([[True, False, True, True]] * 3)], (X,)),
    Case("bool-mask-full", lambda m, a: a[B], (X,)),
    Case("bool-mask-with-array", lambda m, a: a[np.array([True, False, True]), np.array([0, 3])],
         (X,)),
    Case("bool-scalar-true", lambda m, a: a[True], (X,)),
    Case("traced-int", lambda m, a, i: a[i], (XI, np.asarray(1))),
    Case("traced-neg-int", lambda m, a, i: a[:, i], (XI, np.asarray(-1))),
    Case("traced-pyint", lambda m, a, i: a[i], (XI, 2)),
    Case("traced-array", lambda m, a, i: a[i], (XI, np.array([1, -2, 0]))),
    Case("traced-array-i32", lambda m, a, i: a[:, i], (XI, np.array([[1, -2], [0, 2]], np.int32))),
    Case("traced-two-arrays", lambda m, a, i, j: a[i, :, j],
         (XI, np.array([1, 0]), np.array([3, -4]))),
    Case("traced-mixed", lambda m, a, i: a[i, ROWS[:2]], (XI, np.array([[1], [0]]))),
    Case("traced-computed", lambda m, a: a[m.argmax(a[:, 0, 0])], (XI,)),
    Case("gather-argmax", lambda m, a: a[np.arange(3), m.argmax(a, axis=1)], (X,)),
    Case("int-idx-int-data", lambda m, a: a[ROWS, 1], (I32,)),
    Case("int-idx-bool-data", lambda m, a: a[[0, 2]], (B,)),
]


@pytest.mark.parametrize("case,mode", params(INDEXING))
def test_indexing(case, mode):
    run(case, mode)


def _random_index(r, shape):
    """A random NumPy index for ``shape``: ints, slices (any step), None, Ellipsis, integer
    arrays and lists, 2-d integer arrays, boolean masks."""
    items, axis, have_ellipsis = [], 0, False
    for _ in range(r.randint(1, 4)):
        if axis >= len(shape):
            break
        d, k = shape[axis], r.random()
        if k < 0.2:
            it = r.randrange(-d, d)
        elif k < 0.45:
            def bound():
                return r.choice([None, r.randrange(-d - 1, d + 2)])
            it = slice(bound(), bound(), r.choice([None, 1, 2, -1, -2, 3]))
        elif k < 0.55:
            it = None
        elif k < 0.62 and not have_ellipsis:
            it, have_ellipsis = Ellipsis, True
        elif k < 0.8:
            it = np.array([r.randrange(-d, d) for _ in range(r.randint(0, 3))], dtype=np.int64)
        elif k < 0.87:
            it = [r.randrange(-d, d) for _ in range(r.randint(1, 3))]
        elif k < 0.93:
            it = np.array([[r.randrange(-d, d)] * 2] * 2)
        else:
            it = np.array([r.random() < 0.5 for _ in range(d)])
        items.append(it)
        axis = len(shape) if it is Ellipsis else axis + (it is not None)
    return tuple(items)


@pytest.mark.parametrize("chunk", range(6))
def test_random_indices_match_numpy(chunk):
    """Seeded random indices, static and with the integer parts traced, against NumPy."""
    import random
    checked = 0
    for seed in range(chunk * 50, chunk * 50 + 50):
        r = random.Random(seed)
        idx = _random_index(r, XI.shape)
        try:
            want = XI[idx]
        except IndexError:
            continue
        got = tg.jit(lambda x: x[idx], backend="numpy")(XI)
        assert_same(got, want)
        traced = [k for k, it in enumerate(idx)
                  if type(it) is int or (isinstance(it, np.ndarray) and it.dtype != bool)]
        if traced:
            def f(x, *vals):
                items = list(idx)
                for k, v in zip(traced, vals):
                    items[k] = v
                return x[tuple(items)]
            vals = [np.asarray(idx[k]) for k in traced]
            assert_same(tg.jit(f, backend="numpy")(XI, *vals), want)
        checked += 1
    assert checked > 25


# --- promotion (NEP 50) and dtypes ----------------------------------------------------------
PROMOTION = [
    Case("f32-times-pyfloat", lambda m, a: a * 2.0, (F32,)),
    Case("f32-plus-pyint", lambda m, a: a + 3, (F32,)),
    Case("f32-plus-f64", lambda m, a, b: a + b, (F32, X)),
    Case("f32-plus-i32", lambda m, a, b: a + b, (F32, I32)),
    Case("f32-plus-i64", lambda m, a, b: a + b, (F32, I64)),
    Case("f32-exp", lambda m, a: m.exp(a), (F32,)),
    Case("f32-mean", lambda m, a: m.mean(a, axis=0), (F32,)),
    Case("f32-pyscalar-arg", lambda m, a, s: a * s, (F32, 0.5)),
    Case("f32-pyint-arg", lambda m, a, s: a - s, (F32, 3)),
    Case("i32-plus-pyfloat", lambda m, a: a + 1.5, (I32,)),
    Case("i32-plus-pyint", lambda m, a: a + 7, (I32,)),
    Case("i32-plus-pyint-arg", lambda m, a, s: a + s, (I32, 7)),
    Case("i32-plus-pyfloat-arg", lambda m, a, s: a * s, (I32, 1.5)),
    Case("i32-plus-i64", lambda m, a, b: a + b, (I32, I64)),
    Case("int-div-int", lambda m, a, b: a / b, (I64, POS64)),
    Case("i32-div-i32", lambda m, a, b: a / b, (I32, POS64.astype(np.int32))),
    Case("int-div-pyint", lambda m, a: a / 2, (I32,)),
    Case("bool-plus-bool", lambda m, a, b: a + b, (B, bools(3, 4))),
    Case("bool-times-bool", lambda m, a, b: a * b, (B, bools(3, 4))),
    Case("bool-plus-pyint", lambda m, a: a + 1, (B,)),
    Case("bool-plus-pyfloat", lambda m, a: a + 0.5, (B,)),
    Case("bool-sum", lambda m, a: m.sum(a), (B,)),
    Case("bool-mean", lambda m, a: m.mean(a, axis=1), (B,)),
    Case("pybool-arg", lambda m, a, s: a * s, (X, True)),
    Case("pyscalars-only", lambda m, a, b: m.maximum(a, b) * 2, (1.5, 2)),
    Case("pyfloat-arg-alone", lambda m, s: m.exp(s), (0.5,)),
    Case("pyint-arg-alone", lambda m, s: m.exp(s), (2,)),
    Case("pyint-arg-returned", lambda m, s: s * 3, (2,)),
    Case("weak-arith-stays-weak", lambda m, a, s: a * (s * 2), (F32, 0.5)),
    Case("weak-int-arith", lambda m, a, s: a + (s + 1) * 2 - s // 2, (I32, 3)),
    Case("weak-neg-abs-pow", lambda m, a, s: a * (-s) + abs(s) + s ** 2, (F32, -0.5)),
    Case("weak-two-args", lambda m, a, s, t: a * (s / t) + (s % t), (F32, 3, 2)),
    Case("weak-compare", lambda m, a, s: a * (s > 0), (I32, 0.5)),
    Case("weak-through-np-is-strong", lambda m, a, s: a * m.exp(s), (F32, 0.5)),
    Case("0d-f32-array-times-f64", lambda m, s, b: s * b, (np.asarray(2.0, np.float32), X)),
    Case("np-f32-scalar-arg", lambda m, s, b: s * b, (np.float32(2.0), X)),
    Case("i64-scalar-arg-times-f32", lambda m, s, b: s * b, (np.int64(3), F32)),
    Case("where-f32-pyfloat", lambda m, c, a: m.where(c, a, 0.5), (B, F32)),
    Case("clip-f32", lambda m, a: m.clip(a, 0.0, 1.0), (F32,)),
    Case("concat-f32-i32", lambda m, a, b: m.concatenate([a, b]), (F32, I32)),
    Case("closure-array", lambda m, a: a * X + Y, (X,)),
    Case("closure-f32-array", lambda m, a: a * F32, (X,)),
    Case("closure-int-array", lambda m, a: a + I32, (F32,)),
    Case("closure-0d-array", lambda m, a: a * np.asarray(2.0), (F32,)),
    Case("closure-list", lambda m, a: a * m.asarray([1.0, 2.0, 3.0, 4.0]), (X,)),
    Case("astype-roundtrip", lambda m, a: a.astype(np.float32).astype(np.float64), (X,)),
    Case("float-to-int-trunc", lambda m, a: a.astype(np.int64), (X * 10,)),
    Case("int-to-bool", lambda m, a: a.astype(bool), (I32,)),
    Case("constant-output", lambda m, a: (a, np.arange(3.0)), (X,)),
]


@pytest.mark.parametrize("case,mode", params(PROMOTION))
def test_promotion(case, mode):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        want = case.fn(np, *case.args)
        got = call(case, mode)
    if isinstance(want, tuple):
        for g, w in zip(got, want):
            assert_same(g, w)
        return
    want = np.asarray(want)
    assert np.asarray(got).dtype == want.dtype, f"dtype {np.asarray(got).dtype} != {want.dtype}"
    rtol = 1e-6 if want.dtype == np.float32 else 1e-12
    assert_same(got, want, rtol=rtol)


NANS = np.array([[1.0, np.nan, 3.0], [np.nan, np.nan, np.nan], [-2.0, 5.0, np.nan]])
EXTRAS = [
    Case("arange", lambda m, x: x * m.arange(4), (X,)),
    Case("arange-float", lambda m, x: x + m.arange(0.5, 2.5, 0.5), (X,)),
    Case("linspace", lambda m, x: x * m.linspace(0, 1, 4), (X,)),
    Case("linspace-traced", lambda m, a, b: m.linspace(a, b, 5), (np.asarray(1.0), 3.0)),
    Case("linspace-traced-vec", lambda m, a: m.linspace(a, a * 2, 4, axis=1), (normal(3),)),
    Case("linspace-traced-noend", lambda m, a: m.linspace(0.0, a, 4, endpoint=False),
         (np.asarray(2.0),)),
    Case("eye", lambda m, x: x @ m.eye(4), (X,)),
    Case("tri", lambda m, x: x * m.tri(3, 4, 1), (X,)),
    Case("isclose", lambda m, a, b: m.isclose(a, b), (X, X + 1e-9 * rng.choice([0, 1e3], (3, 4)))),
    Case("isclose-special", lambda m, a, b: m.isclose(a, b), (_A, _B)),
    Case("isclose-equal-nan", lambda m, a, b: m.isclose(a, b, equal_nan=True), (_A, _B)),
    Case("isclose-int", lambda m, a: m.isclose(a, 2), (I32,)),
    Case("allclose", lambda m, a, b: m.where(m.allclose(a, b), 1.0, 0.0), (X, X + 1e-12)),
    Case("allclose-not", lambda m, a, b: m.where(m.allclose(a, b), 1.0, 0.0), (X, X + 1e-3)),
    Case("float_power", lambda m, a: m.float_power(a, 2), (I32,)),
    Case("float_power-f32", lambda m, a, b: m.float_power(a, b),
         (uniform(0.5, 2, 3).astype(np.float32), normal(3))),
    Case("nan_to_num", lambda m, a: m.nan_to_num(a), (SPECIAL_PAIRS,)),
    Case("nan_to_num-args", lambda m, a: m.nan_to_num(a, nan=-1.0, posinf=9.0, neginf=-9.0),
         (SPECIAL_PAIRS,)),
    Case("nan_to_num-int", lambda m, a: m.nan_to_num(a), (I32,)),
    Case("sinc", lambda m, a: m.sinc(a), (np.array([0.0, 0.5, -1.5, 2.0, 1e-30]),)),
    Case("ptp", lambda m, a: m.ptp(a, axis=1), (X,)),
    Case("count_nonzero", lambda m, a: m.count_nonzero(a), (I32,)),
    Case("count_nonzero-axis", lambda m, a: m.count_nonzero(a > 0, axis=0), (X,)),
    Case("average", lambda m, a: m.average(a, axis=0), (X,)),
    Case("average-weights", lambda m, a, w: m.average(a, axis=1, weights=w), (X, P(4))),
    Case("average-weights-full", lambda m, a, w: m.average(a, weights=w), (X, P(3, 4))),
    Case("average-returned", lambda m, a, w: m.average(a, 0, w, returned=True), (X, P(3))),
    Case("nansum", lambda m, a: m.nansum(a, axis=0), (NANS,)),
    Case("nanprod", lambda m, a: m.nanprod(a), (NANS,)),
    Case("nanmax", lambda m, a: m.nanmax(a, axis=1), (NANS,)),
    Case("nanmin", lambda m, a: m.nanmin(a, axis=0, keepdims=True), (NANS,)),
    Case("nanmean", lambda m, a: m.nanmean(a[[0, 2]], axis=1), (NANS,)),
    Case("nanmean-int", lambda m, a: m.nanmean(a), (I32,)),
    Case("diff", lambda m, a: m.diff(a), (X,)),
    Case("diff-n2-axis0", lambda m, a: m.diff(a, n=2, axis=0), (X,)),
    Case("diff-bool", lambda m, a: m.diff(a), (B,)),
    Case("diff-prepend", lambda m, a: m.diff(a, prepend=0.0, append=a[:, :1]), (X,)),
    Case("pad-int", lambda m, a: m.pad(a, 1), (X,)),
    Case("pad-pairs", lambda m, a: m.pad(a, ((1, 0), (2, 3)), constant_values=-1.5), (X,)),
    Case("pad-pair", lambda m, a: m.pad(a, (0, 2)), (I32,)),
    Case("pad-edge", lambda m, a: m.pad(a, ((1, 2), (0, 1)), mode="edge"), (X,)),
    Case("pad-wrap", lambda m, a: m.pad(a, 2, mode="wrap"), (X,)),
    Case("triu", lambda m, a: m.triu(a), (X,)),
    Case("triu-k", lambda m, a: m.triu(a, -1), (X3,)),
    Case("tril", lambda m, a: m.tril(a, 1), (X,)),
    Case("tril-int", lambda m, a: m.tril(a), (I32,)),
    Case("roll", lambda m, a: m.roll(a, 2), (X,)),
    Case("roll-axis", lambda m, a: m.roll(a, -1, axis=1), (X,)),
    Case("roll-multi", lambda m, a: m.roll(a, (1, 2), axis=(0, 1)), (X,)),
    Case("split", lambda m, a: m.split(a, 2, axis=1), (X,)),
    Case("split-indices", lambda m, a: m.split(a, [1, 3], axis=1), (X,)),
    Case("array_split", lambda m, a: m.array_split(a, 3, axis=1), (X,)),
    Case("column_stack", lambda m, a, b: m.column_stack([a, b]), (normal(3), X)),
    Case("dstack", lambda m, a, b: m.dstack([a, b]), (X, Y)),
    Case("meshgrid", lambda m, a, b: m.meshgrid(a, b), (normal(3), normal(4))),
    Case("meshgrid-ij-sparse", lambda m, a, b: m.meshgrid(a, b, indexing="ij", sparse=True),
         (normal(3), normal(4))),
    Case("norm", lambda m, a: m.linalg.norm(a), (X,)),
    Case("norm-axis", lambda m, a: m.linalg.norm(a, axis=1), (X,)),
    Case("norm-ord1", lambda m, a: m.linalg.norm(a, ord=1, axis=0), (X,)),
    Case("norm-inf", lambda m, a: m.linalg.norm(a, ord=np.inf, axis=-1, keepdims=True), (X,)),
    Case("norm-ord3", lambda m, a: m.linalg.norm(a, ord=3, axis=1), (X,)),
    Case("norm-fro", lambda m, a: m.linalg.norm(a, "fro"), (X,)),
    Case("norm-matrix-1", lambda m, a: m.linalg.norm(a, 1), (X,)),
    Case("norm-matrix-inf", lambda m, a: m.linalg.norm(a, np.inf, axis=(1, 2)), (X3,)),
    Case("norm-int", lambda m, a: m.linalg.norm(a), (I32,)),
    Case("result_type", lambda m, a: a.astype(m.result_type(a, np.float32)), (I32,)),
    Case("conj", lambda m, a: m.conj(a) * m.conjugate(a), (X,)),
    Case("compress", lambda m, a: m.compress([True, False, True], a, axis=0), (X,)),
    Case("compress-flat", lambda m, a: m.compress(np.arange(12) % 5 == 0, a), (X,)),
    Case("compress-short", lambda m, a: m.compress([False, True], a, axis=1), (X,)),
    Case("extract", lambda m, a: m.extract(X > 0, a), (Y,)),
    Case("select", lambda m, a: m.select([a < -0.5, a > 0.5], [a * 2, a - 1], default=0.0), (X,)),
    Case("select-int-default", lambda m, a: m.select([a > 0], [a], 7), (I32,)),
    Case("select-scalar-choices", lambda m, a: m.select([a < 0, a > 1], [-1, 1]), (X,)),
    Case("real-imag", lambda m, a: m.real(a) + m.imag(a), (F32,)),
    Case("iscomplexobj", lambda m, a: a * m.iscomplexobj(a) + m.isrealobj(a), (X,)),
    # issue 17 item 4 (gradients and the C backend: tests/test_array_building.py)
    Case("append", lambda m, a, b: m.append(a, b), (X, normal(5))),
    Case("append-axis", lambda m, a: m.append(a, a[:1], axis=0), (X,)),
    Case("vsplit", lambda m, a: m.vsplit(a, [1]), (X,)),
    Case("hsplit", lambda m, a: m.hsplit(a, 2), (X,)),
    Case("dsplit", lambda m, a: m.dsplit(a, [1, 3]), (X3,)),
    Case("row_stack-dtype", lambda m, a, b: m.vstack([a, b], dtype=np.float32), (X, Y)),
    Case("rot90", lambda m, a: m.rot90(a, 3, axes=(2, 0)), (X3,)),
    Case("rollaxis", lambda m, a: m.rollaxis(a, 2, 1), (X3,)),
    Case("gradient", lambda m, a: m.gradient(a, 0.5, np.array([0., 1., 3., 3.5]),
                                             edge_order=2), (X,)),
    Case("gradient-axis", lambda m, a: m.gradient(a, axis=-1), (X3,)),
    Case("cross", lambda m, a, b: m.cross(a, b, axisa=0, axisb=1, axisc=0),
         (normal(3, 4), normal(4, 3))),
    Case("angle", lambda m, a: m.angle(a, deg=True), (X,)),
    Case("real_if_close", lambda m, a: m.real_if_close(a), (F32,)),
    Case("iscomplex-isreal", lambda m, a: (m.iscomplex(a), m.isreal(a)), (I32,)),
]


@pytest.mark.parametrize("case,mode", params(EXTRAS))
def test_more_numpy_functions(case, mode):
    run(case, mode)


SCALAR_ONLY = [Case(n, f, ()) for n, f in [
    ("sum", lambda m: m.sum(3.0)), ("prod", lambda m: m.prod(2)), ("mean", lambda m: m.mean(2)),
    ("var", lambda m: m.var(2.0)), ("max", lambda m: m.max(2.0)), ("any", lambda m: m.any(3)),
    ("all", lambda m: m.all(0.0)), ("argmax", lambda m: m.argmax(3.0)),
    ("cumsum", lambda m: m.cumsum(2)), ("transpose", lambda m: m.transpose(2.0)),
    ("squeeze", lambda m: m.squeeze(2.0)), ("flip", lambda m: m.flip(1.0)),
    ("tile", lambda m: m.tile(2.0, 3)), ("repeat", lambda m: m.repeat(2, 3)),
    ("atleast_2d", lambda m: m.atleast_2d(2)), ("broadcast_to", lambda m: m.broadcast_to(2.0, 2)),
    ("where", lambda m: m.where(True, 1, 2.0)), ("logical_and", lambda m: m.logical_and(2, 0.0)),
    ("logical_not", lambda m: m.logical_not(2)), ("isnan", lambda m: m.isnan(2.0)),
    ("rint-int", lambda m: m.rint(2)), ("round", lambda m: m.round(2.567, 2)),
    ("reciprocal", lambda m: m.reciprocal(2.0)), ("hypot", lambda m: m.hypot(3, 4)),
    ("fmax", lambda m: m.fmax(1.0, np.nan)), ("zeros_like", lambda m: m.zeros_like(2.0)),
    ("stack", lambda m: m.stack([1.0, 2.0])), ("dot", lambda m: m.dot(2.0, 3.0)),
    ("einsum", lambda m: m.einsum(",->", 2.0, 3.0)), ("power", lambda m: m.power(2, 3)),
    ("true_divide", lambda m: m.true_divide(1, 2)), ("remainder", lambda m: m.remainder(-7, 2)),
    ("positive", lambda m: m.positive(2.0)), ("divmod", lambda m: m.divmod(7, 2)),
    ("heaviside", lambda m: m.heaviside(0.0, 0.5)), ("trace", lambda m: m.trace([[1, 2], [3, 4]])),
    ("norm", lambda m: m.linalg.norm([3.0, 4.0])), ("matmul", lambda m: m.matmul([1, 2], [3, 4])),
]]


@pytest.mark.parametrize("case,mode", params(SCALAR_ONLY))
def test_python_scalar_and_list_inputs(case, mode):
    """tracegrad.numpy functions take Python numbers and lists as NumPy's do."""
    run(case, mode)


def test_closed_over_array_becomes_constant():
    const = normal(3, 4)
    f = tg.jit(lambda a: a * const, backend="numpy")
    ir = f.lower(X).ir
    assert [e.prim.name for e in ir.eqns].count("constant") == 1
    assert_same(f(X), X * const)


def test_closed_over_array_used_twice_is_one_constant():
    const = normal(3, 4)
    ir = tg.make_ir(lambda a: a * const + const, stage="traced")(X)
    assert [e.prim.name for e in ir.eqns].count("constant") == 1


def test_numpy_table_indexed_by_traced_index():
    """NumPy's own indexing cannot take traced indices; tnp.asarray makes the table traced."""
    table = normal(10, 2)
    f = tg.jit(lambda i: tnp.asarray(table)[i] * 2, backend="numpy")
    i = np.array([3, -1, 0])
    assert_same(f(i), table[i] * 2)
    g = tg.jit(lambda i: tnp.take(table, i, axis=0), backend="numpy")
    assert_same(g(i), table[i])


@pytest.mark.parametrize("bad", [-5, -4, 3, 7], ids=lambda b: f"index{b}")
def test_traced_out_of_range_index_raises_when_run(bad):
    """NumPy raises for x[-5] on 3 elements; a traced index must not wrap twice into range."""
    f = tg.jit(lambda x, i: x[i] * 2, backend="numpy")
    x = np.arange(3.0)
    assert_same(f(x, np.array([-3, -1, 2])), x[[-3, -1, 2]] * 2)
    with pytest.raises(IndexError):
        f(x, np.array([0, bad]))
    with pytest.raises(IndexError):
        tg.jit(lambda x, i: tnp.take_along_axis(x, i, axis=0), backend="numpy")(x, np.array([bad]))


def test_builtin_round_of_tracer():
    got = tg.jit(lambda a: round(a), backend="numpy")(X * 10)
    assert_same(got, np.round(X * 10))


def test_tracer_hasattr_and_unsupported_methods():
    seen = {}

    def f(x):
        seen["hasattr"] = (hasattr(x, "sort"), hasattr(x, "shape"), hasattr(x, "bogus"))
        return x

    tg.jit(f, backend="numpy")(X)
    assert seen["hasattr"] == (False, True, False)
    with pytest.raises(tg.UnsupportedOperationError, match="ndarray.sort"):
        tg.jit(lambda x: x.sort(), backend="numpy")(X)
    with pytest.raises(AttributeError, match="bogus"):
        tg.jit(lambda x: x.bogus, backend="numpy")(X)


def test_tnp_eager_on_concrete_arrays():
    """Without a trace, tracegrad.numpy computes eagerly and returns NumPy arrays."""
    assert_same(tnp.sum(tnp.tanh(X) * 2.0, axis=0), np.sum(np.tanh(X) * 2.0, axis=0))
    assert_same(tnp.einsum("ij,kj->ik", X, Y), np.einsum("ij,kj->ik", X, Y))
    assert_same(tnp.where(X > 0, X, 0.0), np.where(X > 0, X, 0.0))
    assert_same(tnp.reshape(X3, (4, -1)), np.reshape(X3, (4, -1)))
