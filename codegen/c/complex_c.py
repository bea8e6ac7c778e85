"""Complex values on the C backend: interleaved C99 ``double _Complex`` / ``float _Complex``
buffers (NumPy's own layout, so arguments need no conversion; measured faster than split
real/imag buffers, see ``unsupported``), and the scalar C of every elementwise primitive
NumPy defines on complex operands.

``lowerings.scalar_expr`` sends an equation here when its operands (or a ``convert``'s
result) are complex. Each form follows NumPy's loop, not C99's operator, where they differ:

- ``*`` and ``/``: C99's operators go through libgcc's ``__muldc3``/``__divdc3``, which
  recover infinities from NaN results (Annex G: (inf+inf j) * 1 is an infinity) and scale;
  NumPy multiplies by the textbook formula (that product is nan+nan j) and divides by Smith's
  algorithm with its own zero-divisor branch. Written out here, they give NumPy's values.
- ``exp``, ``log``, ``sqrt``, the trigonometric and hyperbolic functions: NumPy calls the C
  library's ``cexp``, ``clog``, ``csqrt``, ... (its npy_c* wrappers), so glibc's functions
  give the same branch cuts, signed zeros and inf/nan components.
- ``log1p``, ``expm1``, ``exp2``, ``log2``: NumPy's own formulas (funcs.inc.src nc_*).
- ``abs``: NumPy's SIMD loop, larger * sqrt(fma(r, r, 1)) (glibc's hypot is an ulp off it in
  a third of random cases).

- ``pow``: NumPy's npy_cpow (zero exponent or base, integral exponents below 100 by repeated
  squaring with its product, else the C library's ``cpow``).
"""
from __future__ import annotations

import math

import numpy as np

from tracegrad.prims import ELEMENTWISE as E
from tracegrad.prims import convert_p, select_p, stop_gradient_p
from tracegrad.prims.complex_parts import conj_p, imag_p, real_p

CTYPES = {"complex64": "float _Complex", "complex128": "double _Complex"}
PART = {"complex64": "float", "complex128": "double"}   # the type of one component
_SFX = {"complex64": "f", "complex128": ""}               # libm/complex.h name suffix


def is_complex(dt) -> bool:
    return str(np.dtype(dt)) in CTYPES


def literal(value, dt: str) -> str:
    """``CMPLX(re, im)``: keeps signed zeros, infinities and NaN in either part (``re + im*I``
    would compute 0 * I and lose them)."""
    part = PART[dt]

    def one(x: float) -> str:
        if math.isnan(x):
            return f"(({part})NAN)"
        if math.isinf(x):
            return f"(({part})INFINITY)" if x > 0 else f"(-({part})INFINITY)"
        return repr(float(x)) + ("f" if part == "float" else "")
    v = complex(value)
    return f"CMPLX{_SFX[dt].upper()}({one(v.real)}, {one(v.imag)})"


def _fn(stem):
    """A call of ``stem`` + dtype suffix: complex.h functions and this module's helpers."""
    return lambda a, dt, el: f"{stem}{_SFX[dt]}({', '.join(a)})"


def _helper(stem):
    return lambda a, dt, el: f"tg_{stem}_{dt}({', '.join(a)})"


def _convert(a, dt, el):
    to = str(np.dtype(el.params["new_dtype"]))
    if to in CTYPES:  # real or complex -> complex: C's conversion (imag +0 from a real)
        return f"(({CTYPES[to]})({a[0]}))"
    if to == "bool":
        return f"(uint8_t)({a[0]} != 0)"
    from .lowerings import CTYPE
    return f"(({CTYPE[to]})creal{_SFX[dt]}({a[0]}))"   # NumPy drops the imaginary part


# primitive -> scalar(a, dt, el), dt the complex operand dtype (for convert: its source)
SCALAR = {
    E["neg"]: lambda a, dt, el: f"(-{a[0]})",
    E["add"]: lambda a, dt, el: f"({a[0]} + {a[1]})",
    E["sub"]: lambda a, dt, el: f"({a[0]} - {a[1]})",
    E["mul"]: _helper("cmul"),
    E["div"]: _helper("cdiv"),
    E["eq"]: lambda a, dt, el: f"(uint8_t)({a[0]} == {a[1]})",
    E["ne"]: lambda a, dt, el: f"(uint8_t)({a[0]} != {a[1]})",
    E["abs"]: _helper("cabs"), E["pow"]: _helper("cpow"),
    E["exp"]: _fn("cexp"), E["log"]: _fn("clog"), E["sqrt"]: _fn("csqrt"),
    E["sin"]: _fn("csin"), E["cos"]: _fn("ccos"), E["tan"]: _fn("ctan"),
    E["sinh"]: _fn("csinh"), E["cosh"]: _fn("ccosh"), E["tanh"]: _fn("ctanh"),
    E["log1p"]: _helper("clog1p"), E["expm1"]: _helper("cexpm1"),
    E["exp2"]: _helper("cexp2"), E["log2"]: _helper("clog2"),
    real_p: _fn("creal"), imag_p: _fn("cimag"), conj_p: _fn("conj"),
    select_p: lambda a, dt, el: f"({a[0]} ? {a[1]} : {a[2]})",
    stop_gradient_p: lambda a, dt, el: a[0],
    convert_p: _convert,
}


def scalar(prim, args: list[str], dt: str, el) -> str:
    fn = SCALAR.get(prim)
    if fn is None:  # unsupported.first_complex keeps such programs away from the emitter
        raise AssertionError(f"internal: {prim.name} of a {dt} operand reached the C emitter")
    return fn(args, dt, el)


def helpers_source(dtypes_used: set[str]) -> str:
    """``<complex.h>`` and NumPy's forms of * / abs log1p expm1 exp2 log2, per complex dtype."""
    used = sorted(d for d in dtypes_used if d in CTYPES)
    if not used:
        return ""
    out = ["#include <complex.h>", "#undef I  /* generated names never mean the imaginary unit */"]
    for dt in used:
        c, t, s = CTYPES[dt], PART[dt], _SFX[dt]
        mk = f"CMPLX{s.upper()}"
        out.append(f"""
static inline {c} tg_cmul_{dt}({c} a, {c} b) {{
    /* NumPy's product: no Annex G recovery of infinities (libgcc's __mul{'s' if s else 'd'}c3) */
    {t} ar = creal{s}(a), ai = cimag{s}(a), br = creal{s}(b), bi = cimag{s}(b);
    return {mk}(ar * br - ai * bi, ar * bi + ai * br); }}
static inline {c} tg_cdiv_{dt}({c} a, {c} b) {{
    /* NumPy's quotient: Smith's algorithm; a zero divisor gives inf/nan parts */
    {t} ar = creal{s}(a), ai = cimag{s}(a), br = creal{s}(b), bi = cimag{s}(b);
    {t} abr = fabs{s}(br), abi = fabs{s}(bi);
    if (abr >= abi) {{
        if (abr == 0 && abi == 0) return {mk}(ar / abr, ai / abr);
        {t} rat = bi / br, scl = ({t})1 / (br + bi * rat);
        return {mk}((ar + ai * rat) * scl, (ai - ar * rat) * scl);
    }}
    {t} rat = br / bi, scl = ({t})1 / (bi + br * rat);
    return {mk}((ar * rat + ai) * scl, (ai * rat - ar) * scl); }}
static inline {c} tg_cpow_{dt}({c} a, {c} b) {{
    /* NumPy's npy_cpow: b == 0 gives 1, a == 0 gives 0 or nan, an integral real exponent
       below 100 in magnitude is repeated squaring with NumPy's product (and 1 / that for a
       negative one), the rest the C library's cpow */
    {t} ar = creal{s}(a), ai = cimag{s}(a), br = creal{s}(b), bi = cimag{s}(b);
    if (br == 0 && bi == 0) return {mk}(1, 0);
    if (ar == 0 && ai == 0) return br > 0 ? {mk}(0, 0) : {mk}(({t})NAN, ({t})NAN);
    if (bi == 0 && br > -100 && br < 100 && (int64_t)br == br) {{
        int64_t n = (int64_t)br, mask = 1;
        if (n == 1) return a;
        if (n == 2) return tg_cmul_{dt}(a, a);
        if (n == 3) return tg_cmul_{dt}(a, tg_cmul_{dt}(a, a));
        if (n < 0) n = -n;
        {c} acc = {mk}(1, 0), p = a;
        for (;;) {{
            if (n & mask) acc = tg_cmul_{dt}(acc, p);
            mask <<= 1;
            if (n < mask) break;
            p = tg_cmul_{dt}(p, p);
        }}
        return br < 0 ? tg_cdiv_{dt}({mk}(1, 0), acc) : acc;
    }}
    return cpow{s}(a, b); }}
static inline {t} tg_cabs_{dt}({c} z) {{
    /* NumPy's complex absolute loop: larger * sqrt(fma(r, r, 1)), r = smaller / larger */
    {t} x = fabs{s}(creal{s}(z)), y = fabs{s}(cimag{s}(z));
    if (isinf(x) || isinf(y)) return ({t})INFINITY;
    if (isnan(x) || isnan(y)) return ({t})NAN;
    {t} big = x > y ? x : y, small = x > y ? y : x;
    if (big == 0) return 0;
    {t} r = small / big;
    return big * sqrt{s}(fma{s}(r, r, ({t})1)); }}
static inline {c} tg_clog1p_{dt}({c} z) {{
    /* NumPy's nc_log1p: log|1 + z| + i arg(1 + z) */
    {t} re = creal{s}(z) + 1, im = cimag{s}(z);
    return {mk}(log{s}(hypot{s}(re, im)), atan2{s}(im, re)); }}
static inline {c} tg_cexpm1_{dt}({c} z) {{
    /* NumPy's nc_expm1 */
    {t} x = creal{s}(z), y = cimag{s}(z), h = sin{s}(y / 2);
    return {mk}(expm1{s}(x) * cos{s}(y) - 2 * h * h, exp{s}(x) * sin{s}(y)); }}
static inline {c} tg_cexp2_{dt}({c} z) {{
    /* NumPy's nc_exp2: exp(z * ln 2), both parts scaled */
    const {t} ln2 = ({t})0.693147180559945309417232121458176568;
    return cexp{s}({mk}(creal{s}(z) * ln2, cimag{s}(z) * ln2)); }}
static inline {c} tg_clog2_{dt}({c} z) {{
    /* NumPy's nc_log2: log(z), both parts times log2(e) */
    const {t} log2e = ({t})1.442695040888963407359924681001892137;
    {c} l = clog{s}(z);
    return {mk}(creal{s}(l) * log2e, cimag{s}(l) * log2e); }}""")
    return "\n".join(out)
