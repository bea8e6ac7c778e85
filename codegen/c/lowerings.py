"""C lowerings, registered by primitive object: the C backend's half of "a primitive declares
in one place". An elementwise primitive lowers to a scalar C expression (one element of a loop
body), a reduction to the accumulator of a kernel epilogue, anything else to an emitter function.

Semantics follow NumPy: ``maximum``/``minimum`` propagate NaN, ``remainder`` and
``floor_divide`` are floored (NumPy's divmod), ``round`` is rint (half to even), comparisons
give 0/1 bytes. Transcendentals call libm's functions, which GCC vectorises through libmvec
when they are declared ``simd`` (see ``libm``); no -ffast-math is involved.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from tracegrad.errors import TracegradError
from tracegrad.ir import Lit
from tracegrad.primitive import Primitive
from tracegrad.prims import (ELEMENTWISE, broadcast_in_dim_p, convert_p, custom_jvp_call_p,
                             custom_vjp_call_p, fused_p, reduce_max_p, reduce_min_p,
                             reduce_prod_p, reduce_sum_p, reshape_p, select_p, stop_gradient_p)

CTYPE = {"float32": "float", "float64": "double", "int32": "int32_t", "int64": "int64_t",
         "bool": "uint8_t", "complex64": "float _Complex", "complex128": "double _Complex"}


# --- the registry ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Element:
    """What a scalar lowering may ask of its equation besides the operands and their dtype."""
    params: dict
    out_dtype: str
    uniform: list  # per operand: its Lit, True (a runtime scalar), or None (varies per element)
    flag: str | None = None  # an equation of DOMAIN_CHECKS: the C ``int*`` its check sets


@dataclass(frozen=True)
class Reduction:
    """A reduction as a kernel epilogue: ``init(isfloat, dtype)`` the identity, ``combine`` the
    C statement folding ``{x}`` into ``acc``, ``merge`` folding a thread's ``parts[t]`` into
    ``a``, ``simd`` the OpenMP reduction operator, ``widen`` accumulates in double/int64,
    ``nan`` (max/min) propagates a NaN the comparisons would skip."""
    init: Callable[[bool, object], str]
    combine: str
    merge: str
    simd: str
    widen: bool = False
    nan: bool = False


@dataclass(frozen=True)
class CLowering:
    """One primitive's C lowering; exactly one part is set (``kernel`` marks loop nests that
    the kernel emitter builds itself: broadcasts and fusion's kernels)."""
    scalar: Callable[[list, str, Element], str] | None = None
    reduction: Reduction | None = None
    emit: Callable | None = None   # emit(emitter, eqn): statements and kernels of the equation
    view: bool = False             # same buffer read in the same order (contiguous reshape)
    kernel: bool = False

    @property
    def is_kernel(self) -> bool:
        """Emitted as a loop nest by the kernel emitter (kernels.py)."""
        return self.scalar is not None or self.reduction is not None or self.kernel


LOWERINGS: dict[Primitive, CLowering] = {}


def register_lowering(prim: Primitive, scalar=None, *, reduction: Reduction | None = None,
                      emit=None, view: bool = False, kernel: bool = False) -> CLowering:
    """Register ``prim``'s C lowering. For an elementwise primitive, ``scalar(a, dt, el)`` is
    the C expression of one element from its operands' C expressions ``a`` (``dt``: the
    operands' dtype name, e.g. ``float64``; ``el``: an ``Element``)."""
    if not isinstance(prim, Primitive):
        raise TypeError(f"C lowerings are keyed by a Primitive, got {prim!r}")
    if prim in LOWERINGS:
        raise ValueError(f"primitive {prim.name!r} already has a C lowering")
    low = CLowering(scalar, reduction, emit, view, kernel)
    if sum(x is not None and x is not False for x in low.__dict__.values()) != 1:
        raise ValueError(f"{prim.name}: give exactly one of scalar, reduction, emit, view, kernel")
    LOWERINGS[prim] = low
    return low


def unregister_lowering(prim: Primitive) -> None:
    """Remove a C lowering (for primitives declared only for a test's duration)."""
    LOWERINGS.pop(prim, None)


def lowering(prim: Primitive) -> CLowering:
    """``prim``'s C lowering; a TracegradError naming it when it has none."""
    if prim not in LOWERINGS:
        from . import blas, conv, copies, emit, sort  # noqa: F401  (each registers its emitters)
        from . import random_bits  # noqa: F401  (Threefry-2x32 for random_bits)
        from . import lapack  # noqa: F401  (factorisations and solves through LAPACK)
        from . import loops  # noqa: F401  (scan, while and cond as C loops over body functions)
        from . import complex_parts  # noqa: F401  (real/imag/conj of real operands)
        from . import fft  # noqa: F401  (refused: FFT programs hold complex values)
    low = LOWERINGS.get(prim)
    if low is None:
        raise TracegradError(f"primitive {prim.name!r} has no C lowering: register one in "
                             f"codegen/c/ (register_lowering), or use backend='numpy'")
    return low


def ctype(dtype) -> str:
    return CTYPE[str(np.dtype(dtype))]


def c_literal(lit: Lit) -> str:
    dt = str(lit.aval.dtype)
    v = lit.value
    if dt in _complex.CTYPES:
        return _complex.literal(v, dt)
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


# --- libm -----------------------------------------------------------------------------------
# libm functions the lowerings call, by their float64 name (float32 adds the "f" suffix) ->
# argument count, for those glibc's libmvec has vector variants of (glibc 2.35+): filled by
# ``_vector_libm`` below, beside the lowerings that call them
_VECTOR_LIBM: dict[str, int] = {}


def _vector_libm(name: str, arity: int = 1) -> str:
    _VECTOR_LIBM[name] = arity
    return name


def math_fn(name: str, dtype) -> str:
    """C name to call for libm's ``name`` at ``dtype`` (float variants end in f).

    Vectorisable functions are called through ``tg_`` aliases declared with an asm label
    (``math_decls``): GCC then does not see e.g. sinf and cosf of one argument as builtins and
    cannot merge them into a scalar sincosf call, which would stop the loop from using the
    libmvec vector variants (measured: W1's gradient kernel 150 ms -> 10 ms)."""
    libm = name + ("f" if str(np.dtype(dtype)) == "float32" else "")
    return f"tg_{libm}" if name in _VECTOR_LIBM else libm


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
        for fn in sorted(_VECTOR_LIBM):
            args = ", ".join([t] * _VECTOR_LIBM[fn])
            out.append(f"{t} tg_{fn}{sfx}({args}) __asm__(\"{fn}{sfx}\") {attr};")
    return "\n".join(out)


def scalar_expr(prim: Primitive, args: list[str], in_dtype, out_dtype, params: dict,
                uniform: list | None = None, flag: str | None = None) -> str:
    """C expression computing one element of ``prim`` from operand expressions ``args``.

    ``uniform`` says per operand whether it is the same for every element of the loop: the
    ``Lit`` when it is a literal, ``True`` when it is a runtime scalar, ``None`` when it varies
    (NumPy's ``power`` takes other paths for a uniform exponent; see ``_float_pow``). ``flag``
    is the ``int*`` an equation that ``checks_domain`` sets when an operand is outside its
    domain (the kernel declares it and reports the site: codegen/c/bounds.py)."""
    low = lowering(prim)
    if low.scalar is None:
        raise TracegradError(f"primitive {prim.name!r} has no scalar C lowering")
    el = Element(params, str(np.dtype(out_dtype)), list(uniform or [None] * len(args)), flag)
    if _complex.is_complex(in_dtype) or (prim is convert_p and _complex.is_complex(out_dtype)):
        return _complex.scalar(prim, list(args), str(np.dtype(in_dtype)), el)
    return low.scalar(list(args), str(np.dtype(in_dtype)), el)


# --- the elementwise primitives -------------------------------------------------------------
E = ELEMENTWISE
_FLOATS = ("float32", "float64")


def _call(fn: str, vector: bool = True, arity: int = 1):
    """A libm call (``vector``: libmvec has it)."""
    if vector:
        _vector_libm(fn, arity)
    return lambda a, dt, el: f"{math_fn(fn, dt)}({', '.join(a[:arity])})"


for _prim, _fn in ((E["exp"], "exp"), (E["exp2"], "exp2"), (E["log"], "log"),
                   (E["log2"], "log2"), (E["log1p"], "log1p"), (E["expm1"], "expm1"),
                   (E["sin"], "sin"), (E["cos"], "cos"), (E["tan"], "tan"),
                   (E["tanh"], "tanh"), (E["sinh"], "sinh"), (E["cosh"], "cosh"),
                   (E["arcsin"], "asin"), (E["arccos"], "acos"), (E["arctan"], "atan"),
                   (E["arcsinh"], "asinh"), (E["arctanh"], "atanh"),
                   (E["arccosh"], "acosh"), (E["erf"], "erf")):
    register_lowering(_prim, _call(_fn))
for _prim, _fn in ((E["sqrt"], "sqrt"), (E["floor"], "floor"), (E["ceil"], "ceil"),
                   (E["round"], "rint")):
    register_lowering(_prim, _call(_fn, vector=False))
register_lowering(E["atan2"], _call("atan2", arity=2))
register_lowering(E["hypot"], _call("hypot", vector=False, arity=2))  # NumPy's npy_hypot
_vector_libm("pow", 2)  # called by the pow lowering (and tg_upow_*)


def _arith(op: str, on_bool: str | None = None):
    """``a op b`` (or ``op a``); bool + and * are | and &; int + - * and negation wrap."""
    def lower(a, dt, el):
        if dt == "bool" and on_bool:
            return f"({a[0]} {on_bool} {a[1]})"
        if dt in _UNSIGNED and op != "/":
            return _wrapping(op, a, dt)
        return f"(-{a[0]})" if len(a) == 1 else f"({a[0]} {op} {a[1]})"
    return lower


register_lowering(E["neg"], _arith("-"))
register_lowering(E["add"], _arith("+", "|"))
register_lowering(E["sub"], _arith("-"))
register_lowering(E["mul"], _arith("*", "&"))
register_lowering(E["div"], _arith("/"))


def _helper(stem: str):
    """A call of a static inline helper of ``helpers_source``, one per dtype."""
    return lambda a, dt, el: f"tg_{stem}_{dt}({', '.join(a)})"


for _prim, _stem in ((E["max"], "max"), (E["min"], "min"), (E["rem"], "rem"),
                     (E["floor_divide"], "floordiv"), (E["sigmoid"], "sigmoid"),
                     (E["logaddexp"], "logaddexp"), (E["logaddexp2"], "logaddexp2"),
                     (E["softplus"], "softplus")):
    register_lowering(_prim, _helper(_stem))


def _pow(a, dt, el):
    if dt not in _FLOATS:
        if el.flag is None:
            raise TracegradError("internal: an integer pow lowered without its domain flag "
                                 "(kernels pass bounds.DomainFlags.flag(e) to scalar_expr)")
        return f"tg_ipow_{dt}({a[0]}, {a[1]}, {el.flag})"
    return _float_pow(a, dt, el.uniform[1])


# Elementwise primitives NumPy raises for at some operand values (ValueError), by the operand
# dtypes that can: the C kernel computing one passes a flag its lowering sets, and raises the
# NumPy backend's DomainError after the loop (bounds.DomainFlags; prims/np_domain.py). Integer
# floor_divide/remainder by 0 and conversions of NaN to int only warn in NumPy: not here.
DOMAIN_CHECKS = {E["pow"]: ("int32", "int64")}  # any negative exponent element, any base


def checks_domain(e) -> bool:
    """Whether equation ``e`` (elementwise) may raise for its operands' values in C."""
    dts = DOMAIN_CHECKS.get(e.prim)
    return dts is not None and str(e.inputs[0].aval.dtype) in dts


def _abs(a, dt, el):
    if dt in _FLOATS:
        return f"{math_fn('fabs', dt)}({a[0]})"
    return f"({a[0]} < 0 ? {_wrapping('-', a, dt)} : {a[0]})"


def _sign(a, dt, el):
    if dt in _FLOATS:
        return f"({a[0]} > 0 ? 1 : ({a[0]} < 0 ? -1 : {a[0]}))"
    return f"(({a[0]} > 0) - ({a[0]} < 0))"


def _convert(a, dt, el):
    to = str(np.dtype(el.params["new_dtype"]))
    if to == "bool":
        return f"(uint8_t)({a[0]} != 0)"
    return f"({CTYPE[to]})({a[0]})"


register_lowering(E["pow"], _pow)
register_lowering(E["abs"], _abs)
register_lowering(E["sign"], _sign)
for _prim, _op in ((E["lt"], "<"), (E["le"], "<="), (E["gt"], ">"), (E["ge"], ">="),
                   (E["eq"], "=="), (E["ne"], "!=")):
    register_lowering(_prim, lambda a, dt, el, op=_op: f"(uint8_t)({a[0]} {op} {a[1]})")
for _prim, _op in ((E["and"], "&"), (E["or"], "|"), (E["xor"], "^")):
    register_lowering(_prim, lambda a, dt, el, op=_op: f"({a[0]} {op} {a[1]})")
register_lowering(E["not"], lambda a, dt, el: f"(uint8_t)(!{a[0]})")
register_lowering(select_p, lambda a, dt, el: f"({a[0]} ? {a[1]} : {a[2]})")
register_lowering(convert_p, _convert)
register_lowering(stop_gradient_p, lambda a, dt, el: a[0])


# --- reductions (kernel epilogues), views and the kernel emitter's own loop nests -------------
def _extreme(low: bool):
    """The identity of max (``low``: the lowest value) or min: an infinity, or an int limit."""
    def init(isfloat, dt):
        if isfloat:
            return "-INFINITY" if low else "INFINITY"
        limits = {"int32": ("INT32_MIN", "INT32_MAX"), "int64": ("INT64_MIN", "INT64_MAX"),
                  "bool": ("0", "1")}[str(np.dtype(dt))]
        return limits[0 if low else 1]
    return init


register_lowering(reduce_sum_p, reduction=Reduction(
    lambda isfloat, dt: "0", "acc += {x};", "a += parts[t];", "+", widen=True))
register_lowering(reduce_prod_p, reduction=Reduction(
    lambda isfloat, dt: "1", "acc *= {x};", "a *= parts[t];", "*", widen=True))
register_lowering(reduce_max_p, reduction=Reduction(
    _extreme(True), "acc = {x} > acc ? {x} : acc;", "a = parts[t] > a ? parts[t] : a;", "max",
    nan=True))
register_lowering(reduce_min_p, reduction=Reduction(
    _extreme(False), "acc = {x} < acc ? {x} : acc;", "a = parts[t] < a ? parts[t] : a;", "min",
    nan=True))
register_lowering(reshape_p, view=True)            # contiguous buffers: the same pointer
register_lowering(broadcast_in_dim_p, kernel=True)  # an index map inside a loop nest
register_lowering(fused_p, kernel=True)             # fusion's kernels: one loop nest each


def _not_lowered(em, e):
    raise TracegradError(f"internal: {e.prim.name} reached the C backend (custom rules are "
                         f"inlined when the function is traced)")


register_lowering(custom_vjp_call_p, emit=_not_lowered)
register_lowering(custom_jvp_call_p, emit=_not_lowered)


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


def _wrapping(op: str, a: list[str], dt: str) -> str:
    u, t = _UNSIGNED[dt], CTYPE[dt]
    if len(a) == 1:  # negation
        return f"(({t})(({u})0 - ({u}){a[0]}))"
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
static inline {t} tg_ipow_{dt}({t} b, {t} e, int* bad) {{
    {u} r = 1, p = ({u})b;  /* modular products wrap as NumPy's do */
    /* NumPy raises for any negative exponent: flag it (the kernel raises after its loop; any
       thread of its team may store the same 1); a literal exponent folds the test away */
    if (e < 0) {{ __atomic_store_n(bad, 1, __ATOMIC_RELAXED); return 0; }}
    while (e) {{ if (e & 1) r *= p; p *= p; e >>= 1; }} return ({t})r; }}""")
        elif dt == "bool":
            out.append("""
static inline uint8_t tg_max_bool(uint8_t x, uint8_t y) { return x | y; }
static inline uint8_t tg_min_bool(uint8_t x, uint8_t y) { return x & y; }""")
    out.append(_special.helpers_source(dtypes_used))
    out.append(_complex.helpers_source(dtypes_used))
    return "\n".join(out)


from . import special as _special  # noqa: E402  (registers the special functions' C)
from . import complex_c as _complex  # noqa: E402  (complex operands' scalar C)
