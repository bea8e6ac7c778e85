"""Scalar C expressions of the elementwise primitives (one element of a loop body), per dtype.

Semantics follow NumPy: ``maximum``/``minimum`` propagate NaN, ``remainder`` and
``floor_divide`` are floored (NumPy's divmod), ``round`` is rint (half to even), comparisons
give 0/1 bytes. Transcendentals call libm's functions, which GCC vectorises through libmvec
when they are declared ``simd`` (see ``SIMD_FUNCS``); no -ffast-math is involved.
"""
from __future__ import annotations

import math

import numpy as np

from tracegrad.ir import Lit
from tracegrad.primitive import PRIMITIVES, Primitive

CTYPE = {"float32": "float", "float64": "double", "int32": "int32_t", "int64": "int64_t",
         "bool": "uint8_t"}

# libm names of the float64 functions; float32 adds the "f" suffix
_UNARY_MATH = {"exp": "exp", "exp2": "exp2", "log": "log", "log2": "log2", "log1p": "log1p",
               "expm1": "expm1", "sqrt": "sqrt", "sin": "sin", "cos": "cos", "tan": "tan",
               "tanh": "tanh", "sinh": "sinh", "cosh": "cosh", "arcsin": "asin",
               "arccos": "acos", "arctan": "atan", "arcsinh": "asinh", "arctanh": "atanh",
               "arccosh": "acosh", "erf": "erf", "floor": "floor", "ceil": "ceil",
               "round": "rint"}
# functions glibc's libmvec provides vector variants of (glibc 2.35+)
SIMD_FUNCS = {"exp", "exp2", "log", "log2", "log1p", "expm1", "sin", "cos", "tan", "tanh",
              "sinh", "cosh", "asin", "acos", "atan", "asinh", "atanh", "acosh", "erf", "pow",
              "atan2"}


# Scalar C lowerings registered by primitive object, for primitives declared outside the
# built-in table below (the C half of issue 12 moves the built-ins into such a registry too).
SCALAR_LOWERINGS: dict[Primitive, object] = {}


def register_scalar_lowering(prim: Primitive, expr) -> None:
    """Register ``expr(args, dtype) -> str``: the C expression of one element of ``prim`` from
    its operands' C expressions ``args`` (``dtype``: the operands' dtype name, ``float64``)."""
    if not isinstance(prim, Primitive):
        raise TypeError(f"C lowerings are keyed by a Primitive, got {prim!r}")
    if prim in SCALAR_LOWERINGS:
        raise ValueError(f"primitive {prim.name!r} already has a C lowering")
    SCALAR_LOWERINGS[prim] = expr


def unregister_scalar_lowering(prim: Primitive) -> None:
    """Remove a C lowering (for primitives declared only for a test's duration)."""
    SCALAR_LOWERINGS.pop(prim, None)


def ctype(dtype) -> str:
    return CTYPE[str(np.dtype(dtype))]


def c_literal(lit: Lit) -> str:
    dt = str(lit.aval.dtype)
    v = lit.value
    if dt in ("float32", "float64"):
        if math.isnan(v):
            return "NAN" if dt == "float32" else "((double)NAN)"
        if math.isinf(v):
            return ("INFINITY" if v > 0 else "-INFINITY") if dt == "float32" else \
                ("((double)INFINITY)" if v > 0 else "(-(double)INFINITY)")
        text = repr(float(v))
        return f"{text}f" if dt == "float32" else text
    if dt == "bool":
        return "1" if v else "0"
    if dt == "int64":
        return f"INT64_C({int(v)})"
    return f"((int32_t){int(v)})"


def math_fn(name: str, dtype) -> str:
    """C name to call for libm's ``name`` at ``dtype`` (float variants end in f).

    Vectorisable functions are called through ``tg_`` aliases declared with an asm label
    (``math_decls``): GCC then does not see e.g. sinf and cosf of one argument as builtins and
    cannot merge them into a scalar sincosf call, which would stop the loop from using the
    libmvec vector variants (measured: W1's gradient kernel 150 ms -> 10 ms)."""
    libm = name + ("f" if str(np.dtype(dtype)) == "float32" else "")
    return f"tg_{libm}" if name in SIMD_FUNCS else libm


def math_decls(dtypes_used: set[str], simd: bool) -> str:
    """Declarations of the ``tg_`` aliases for every vectorisable libm function at the float
    dtypes in use; ``simd`` adds the libmvec vector-variant attribute (only when libmvec is
    there to link against)."""
    # a call to a function nothing declared (a math function at a dtype whose declarations
    # were left out) is an error at compile time, not an int-returning guess or a load failure
    out = ['#pragma GCC diagnostic error "-Wimplicit-function-declaration"']
    attr = '__attribute__((const, simd("notinbranch")))' if simd else "__attribute__((const))"
    for dt in sorted(d for d in dtypes_used if d in ("float32", "float64")):
        t = CTYPE[dt]
        sfx = "f" if dt == "float32" else ""
        for fn in sorted(SIMD_FUNCS):
            args = ", ".join([t] * (2 if fn in ("pow", "atan2") else 1))
            out.append(f"{t} tg_{fn}{sfx}({args}) __asm__(\"{fn}{sfx}\") {attr};")
    return "\n".join(out)


def scalar_expr(prim: str, args: list[str], in_dtype, out_dtype, params: dict,
                uniform: list | None = None) -> str:
    """C expression computing one element of ``prim`` from operand expressions ``args``.

    ``uniform`` says per operand whether it is the same for every element of the loop: the
    ``Lit`` when it is a literal, ``True`` when it is a runtime scalar, ``None`` when it varies
    (NumPy's ``power`` takes other paths for a uniform exponent; see ``_float_pow``)."""
    dt = str(np.dtype(in_dtype))
    is_float = dt in ("float32", "float64")
    f = (lambda n: math_fn(n, dt))
    a = args
    if prim in _UNARY_MATH:
        return f"{f(_UNARY_MATH[prim])}({a[0]})"
    simple = {"neg": f"(-{a[0]})" if len(a) == 1 else None,
              "add": f"({a[0]} + {a[1]})" if len(a) == 2 else None,
              "sub": f"({a[0]} - {a[1]})" if len(a) == 2 else None,
              "mul": f"({a[0]} * {a[1]})" if len(a) == 2 else None,
              "div": f"({a[0]} / {a[1]})" if len(a) == 2 else None}
    if prim in simple:
        if dt == "bool" and prim in ("add", "mul"):
            return f"({a[0]} {'|' if prim == 'add' else '&'} {a[1]})"
        if dt in _UNSIGNED and prim != "div":
            return _wrapping(prim, a, dt)
        return simple[prim]
    if prim == "pow":
        if not is_float:
            return f"tg_ipow_{dt}({a[0]}, {a[1]})"
        return _float_pow(a, dt, (uniform or [None, None])[1])
    if prim == "max":
        return (f"tg_max_{dt}({a[0]}, {a[1]})")
    if prim == "min":
        return (f"tg_min_{dt}({a[0]}, {a[1]})")
    if prim == "rem":
        return f"tg_rem_{dt}({a[0]}, {a[1]})"
    if prim == "floor_divide":
        return f"tg_floordiv_{dt}({a[0]}, {a[1]})"
    if prim == "abs":
        if is_float:
            return f"{f('fabs')}({a[0]})"
        return f"({a[0]} < 0 ? {_wrapping('neg', a, dt)} : {a[0]})"
    if prim == "sign":
        if is_float:
            return f"({a[0]} > 0 ? 1 : ({a[0]} < 0 ? -1 : {a[0]}))"
        return f"(({a[0]} > 0) - ({a[0]} < 0))"
    if prim == "atan2":
        return f"{f('atan2')}({a[0]}, {a[1]})"
    if prim == "sigmoid":
        return f"tg_sigmoid_{dt}({a[0]})"
    if prim == "hypot":
        return f"{f('hypot')}({a[0]}, {a[1]})"  # NumPy's npy_hypot is libm's hypot
    if prim in ("logaddexp", "logaddexp2"):
        return f"tg_{prim}_{dt}({a[0]}, {a[1]})"
    if prim == "softplus":
        return f"tg_softplus_{dt}({a[0]})"
    cmp = {"lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "==", "ne": "!="}
    if prim in cmp:
        return f"(uint8_t)({a[0]} {cmp[prim]} {a[1]})"
    if prim == "and":
        return f"({a[0]} & {a[1]})"
    if prim == "or":
        return f"({a[0]} | {a[1]})"
    if prim == "xor":
        return f"({a[0]} ^ {a[1]})"
    if prim == "not":
        return f"(uint8_t)(!{a[0]})"
    if prim == "where":
        return f"({a[0]} ? {a[1]} : {a[2]})"
    if prim == "convert":
        to = str(np.dtype(params["new_dtype"]))
        if to == "bool":
            return f"(uint8_t)({a[0]} != 0)"
        return f"({CTYPE[to]})({a[0]})"
    if prim == "stop_gradient":
        return a[0]
    registered = SCALAR_LOWERINGS.get(PRIMITIVES.get(prim))
    if registered is not None:
        return registered(a, dt)
    raise NotImplementedError(f"no C lowering for elementwise primitive {prim}")


# NumPy's float power loop checks an exponent that is the same for every element (a scalar,
# or a stride-0 broadcast) for 0.5, 2 and -1 and computes sqrt(x), x * x and 1 / x instead:
# sqrt(-0.0) is -0.0 and sqrt(-inf) NaN where pow gives +0.0 and +inf, and the three are exact
# where pow may be an ulp off. A literal exponent is decided here, a runtime scalar in the loop
# (tg_upow_*, whose test on the loop-invariant exponent GCC hoists out of the loop).
_POW_FAST = {0.5: "{sqrt}({x})", 2.0: "({x} * {x})", -1.0: "(({t})1 / {x})"}


def _float_pow(a: list[str], dt: str, exponent) -> str:
    if isinstance(exponent, Lit):
        form = _POW_FAST.get(float(exponent.value))
        if form is not None:
            return form.format(x=a[0], t=CTYPE[dt], sqrt=math_fn("sqrt", dt))
        return f"{math_fn('pow', dt)}({a[0]}, {a[1]})"
    if exponent is True:
        return f"tg_upow_{dt}({a[0]}, {a[1]})"
    return f"{math_fn('pow', dt)}({a[0]}, {a[1]})"


# Integer arithmetic wraps in NumPy, but signed overflow is undefined behaviour in C (an
# optimiser may assume it never happens), so int + - * and negation are computed in the
# unsigned type of the same width, which wraps by definition, and converted back (GCC defines
# that conversion as modulo 2**n: NumPy's result).
_UNSIGNED = {"int32": "uint32_t", "int64": "uint64_t"}


def _wrapping(prim: str, a: list[str], dt: str) -> str:
    u, t = _UNSIGNED[dt], CTYPE[dt]
    if prim == "neg":
        return f"(({t})(({u})0 - ({u}){a[0]}))"
    op = {"add": "+", "sub": "-", "mul": "*"}[prim]
    return f"(({t})(({u}){a[0]} {op} ({u}){a[1]}))"


def helpers_source(dtypes_used: set[str]) -> str:
    """Static inline helpers for the primitives that are more than one C operator."""
    out = []
    for dt in sorted(dtypes_used):
        t, u = CTYPE[dt], _UNSIGNED.get(dt)
        if dt in ("float32", "float64"):
            sfx = "f" if dt == "float32" else ""
            out.append(f"""
static inline {t} tg_max_{dt}({t} x, {t} y) {{ return (x > y || x != x) ? x : y; }}
static inline {t} tg_min_{dt}({t} x, {t} y) {{ return (x < y || x != x) ? x : y; }}
static inline {t} tg_sigmoid_{dt}({t} x) {{
    /* exp of a non-positive number never overflows; both branches are exact */
    {t} e = tg_exp{sfx}(-fabs{sfx}(x)); {t} r = 1 / (1 + e); return x >= 0 ? r : e * r; }}
static inline {t} tg_softplus_{dt}({t} x) {{
    return (x > 0 ? x : 0) + tg_log1p{sfx}(tg_exp{sfx}(-fabs{sfx}(x))); }}
static inline {t} tg_logaddexp_{dt}({t} x, {t} y) {{
    /* NumPy's npy_logaddexp: x == y (equal infinities too) gives x + log 2; NaN passes */
    {t} d = x - y;
    if (x == y) return x + ({t})0.693147180559945309417232121458176568;
    if (d > 0) return x + tg_log1p{sfx}(tg_exp{sfx}(-d));
    if (d <= 0) return y + tg_log1p{sfx}(tg_exp{sfx}(d));
    return d; }}
static inline {t} tg_logaddexp2_{dt}({t} x, {t} y) {{
    /* NumPy's npy_logaddexp2 (log2(1 + z) as log1p(z) * log2(e)) */
    const {t} log2e = ({t})1.442695040888963407359924681001892137;
    {t} d = x - y;
    if (x == y) return x + 1;
    if (d > 0) return x + log2e * tg_log1p{sfx}(tg_exp2{sfx}(-d));
    if (d <= 0) return y + log2e * tg_log1p{sfx}(tg_exp2{sfx}(d));
    return d; }}
static inline {t} tg_upow_{dt}({t} x, {t} y) {{
    /* pow with a loop-invariant exponent, as NumPy computes it (see _float_pow) */
    return y == 0.5{sfx} ? sqrt{sfx}(x) : (y == 2 ? x * x : (y == -1 ? 1 / x
                                                             : tg_pow{sfx}(x, y))); }}
static inline {t} tg_rem_{dt}({t} a, {t} b) {{
    /* NumPy's floored remainder (npy_divmod) */
    {t} mod = fmod{sfx}(a, b);
    if (!b) return mod;
    if (mod) {{ if ((b < 0) != (mod < 0)) mod += b; }} else mod = copysign{sfx}(0, b);
    return mod; }}
static inline {t} tg_floordiv_{dt}({t} a, {t} b) {{
    {t} mod = fmod{sfx}(a, b), div, fl;
    if (!b) return a / b;
    div = (a - mod) / b;
    if (mod) {{ if ((b < 0) != (mod < 0)) div -= 1; }}
    if (div) {{ fl = floor{sfx}(div); if (div - fl > 0.5{sfx}) fl += 1; }}
    else fl = copysign{sfx}(0, a / b);
    return fl; }}""")
        elif dt in ("int32", "int64"):
            out.append(f"""
static inline {t} tg_max_{dt}({t} x, {t} y) {{ return x > y ? x : y; }}
static inline {t} tg_min_{dt}({t} x, {t} y) {{ return x < y ? x : y; }}
static inline {t} tg_rem_{dt}({t} a, {t} b) {{
    /* b == -1: the remainder is 0, and MIN % -1 would trap (SIGFPE) on x86 */
    if (!b || b == -1) return 0; {t} r = a % b; if (r && ((r < 0) != (b < 0))) r += b;
    return r; }}
static inline {t} tg_floordiv_{dt}({t} a, {t} b) {{
    /* b == -1: -a, wrapping at MIN as NumPy does (MIN / -1 would trap on x86) */
    if (!b) return 0; if (b == -1) return ({t})(({u})0 - ({u})a);
    {t} q = a / b; if ((a % b) && ((a < 0) != (b < 0))) q -= 1; return q; }}
static inline {t} tg_ipow_{dt}({t} b, {t} e) {{
    {u} r = 1, p = ({u})b;  /* modular products wrap as NumPy's do */
    if (e < 0) return b == 1 ? 1 : (b == -1 ? (e & 1 ? -1 : 1) : 0);
    while (e) {{ if (e & 1) r *= p; p *= p; e >>= 1; }} return ({t})r; }}""")
        else:
            out.append("""
static inline uint8_t tg_max_bool(uint8_t x, uint8_t y) { return x | y; }
static inline uint8_t tg_min_bool(uint8_t x, uint8_t y) { return x & y; }""")
    return "\n".join(out)
