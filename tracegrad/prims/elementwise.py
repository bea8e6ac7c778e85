"""Elementwise primitives from one table: name, NumPy lowering, dtype class, scalar meaning.

Operands of an elementwise primitive have equal shapes and dtypes (scalar literals excepted).
``scalar`` is the primitive's meaning on scalars in sympy syntax; the differentiation pass takes
its partial derivatives from the checked-in table that sympy derived from it.
"""
from __future__ import annotations

import numpy as np

from .. import dtypes
from ..errors import DTypeError
from ..primitive import Primitive, Traits
from . import np_helpers as rt
from .common import aval, check_class, same_dtypes, same_shapes


def T(flags: str, **fields) -> Traits:
    """Traits from space-separated flag words (``out`` = out_capable, ``scalar`` =
    scalar_operand, ``lit`` = literal_fold, ``mask`` = mask_zero_ct, ``piecewise``); an
    unknown word is a KeyError at import, never a silent miss."""
    words = {"out": "out_capable", "scalar": "scalar_operand", "lit": "literal_fold",
             "mask": "mask_zero_ct", "piecewise": "piecewise"}
    return Traits(**{words[w]: True for w in flags.split()}, **fields)


# name: (arity, NumPy callable (the reference implementation; the NumPy backend calls it too,
#        codegen/numpy_lowerings.py), dtype class, scalar meaning or None if nondiff, traits)
# Classes "cnumeric"/"inexact" also take complex: their partials are holomorphic, so the same
# table rules are the complex derivatives (conventions: docs/gradients.md, "Complex numbers").
_TABLE = {
    "neg": (1, np.negative, "cnumeric", "-x",
            T("out lit", cost=1)),
    "add": (2, np.add, "cnumeric", "x + y",
            T("out scalar lit", cost=1)),
    "sub": (2, np.subtract, "cnumeric", "x - y",
            T("out scalar lit", cost=1)),
    "mul": (2, np.multiply, "cnumeric", "x * y",
            T("out scalar lit mask", cost=1)),
    "div": (2, np.true_divide, "inexact", "x / y",
            T("out scalar lit mask", cost=4)),
    "pow": (2, np.power, "cnumeric", "x**y",  # ValueError: an integer to a negative power
            T("out scalar mask piecewise", may_raise="int")),
    "max": (2, np.maximum, "any", "Max(x, y)",
            T("out scalar lit piecewise", cost=1)),
    "min": (2, np.minimum, "any", "Min(x, y)",
            T("out scalar lit piecewise", cost=1)),
    "rem": (2, np.remainder, "numeric", "x - y*floor(x/y)",
            T("out scalar mask piecewise", range="singular")),
    "floor_divide": (2, np.floor_divide, "numeric", None,
                     T("out", range="singular")),
    "abs": (1, np.abs, "cnumeric", "Abs(x)",
            T("out lit piecewise", cost=1)),
    "sign": (1, np.sign, "numeric", None,
             T("out", cost=1)),
    "floor": (1, np.floor, "float", None,
              T("out")),
    "ceil": (1, np.ceil, "float", None,
             T("out")),
    "round": (1, np.rint, "float", None,
              T("out")),
    "exp": (1, np.exp, "inexact", "exp(x)",
            T("out lit mask", range="exploding")),
    "exp2": (1, np.exp2, "inexact", "2**x",
             T("out mask", range="exploding")),
    "log": (1, np.log, "inexact", "log(x)",
            T("out lit mask")),
    "log2": (1, np.log2, "inexact", "log(x)/log(2)",
             T("out mask")),
    "log1p": (1, np.log1p, "inexact", "log(1 + x)",
              T("out mask")),
    "expm1": (1, np.expm1, "inexact", "exp(x) - 1",
              T("out mask", range="exploding")),
    "sqrt": (1, np.sqrt, "inexact", "sqrt(x)",
             T("out lit mask", cost=4)),
    "sin": (1, np.sin, "inexact", "sin(x)",
            T("out", bounds=(-1.0, 1.0))),
    "cos": (1, np.cos, "inexact", "cos(x)",
            T("out", bounds=(-1.0, 1.0))),
    "tan": (1, np.tan, "inexact", "tan(x)",
            T("out mask", range="singular")),
    "tanh": (1, np.tanh, "inexact", "tanh(x)",
             T("out", bounds=(-1.0, 1.0))),
    "sinh": (1, np.sinh, "inexact", "sinh(x)",
             T("out mask", range="exploding")),
    "cosh": (1, np.cosh, "inexact", "cosh(x)",
             T("out mask", range="exploding")),
    "arcsin": (1, np.arcsin, "float", "asin(x)",
               T("out mask", range="singular")),
    "arccos": (1, np.arccos, "float", "acos(x)",
               T("out mask", range="singular")),
    "arctan": (1, np.arctan, "float", "atan(x)",
               T("out")),
    "arcsinh": (1, np.arcsinh, "float", "asinh(x)",
                T("out")),
    "arctanh": (1, np.arctanh, "float", "atanh(x)",
                T("out mask", range="singular")),
    "arccosh": (1, np.arccosh, "float", "acosh(x)",
                T("out mask", range="singular")),
    "atan2": (2, np.arctan2, "float", "atan2(x, y)",
              T("out scalar mask", range="singular")),
    "sigmoid": (1, rt.sigmoid, "float", "1/(1 + exp(-x))",
                T("out", bounds=(0.0, 1.0))),
    "erf": (1, rt.erf, "float", "erf(x)",
            T("out", bounds=(-1.0, 1.0))),
    "softplus": (1, rt.softplus, "float", "log(1 + exp(x))",
                 T("out")),
    # scipy.special's functions (tracegrad/scipy/special.py); SciPy is the reference, C helpers
    # in codegen/c/special.py. polygamma's order n is an integer: its partial in n is 0 (stated)
    "gammaln": (1, rt.gammaln, "float", "loggamma(x)", T("out mask", range="singular")),
    "digamma": (1, rt.digamma, "float", "digamma(x)", T("out mask", range="singular")),
    "polygamma": (2, rt.polygamma, "float", "polygamma(x, y)",
                  T("out scalar mask piecewise", range="singular")),
    "erfc": (1, rt.erfc, "float", "erfc(x)", T("out", bounds=(0.0, 2.0))),
    "erfinv": (1, rt.erfinv, "float", "erfinv(x)", T("out mask", range="singular")),
    "gamma": (1, rt.gamma, "float", "gamma(x)", T("out mask", range="singular")),
    "i0": (1, rt.i0, "float", "besseli(0, x)", T("out", range="exploding")),
    "i1": (1, rt.i1, "float", "besseli(1, x)", T("out", range="exploding")),
    "erfcx": (1, rt.erfcx, "float", "exp(x**2)*erfc(x)", T("out", range="exploding")),
    # Smooth binary functions with their own primitive: written on max/abs/where (as NumPy
    # computes them) their second derivatives were 0 at the ties x == y / |x| == |y|.
    # (Not out_capable yet: memory planning has not covered them; behaviour kept as it was.)
    "logaddexp": (2, np.logaddexp, "float", "log(exp(x) + exp(y))",
                  T("")),
    "logaddexp2": (2, np.logaddexp2, "float",
                   "log(2**x + 2**y)/log(2)",
                   T("")),
    "hypot": (2, np.hypot, "float", "sqrt(x**2 + y**2)",
              T("")),
    "lt": (2, np.less, "any", None,
           T("out scalar lit", cost=1, range="unit")),
    "le": (2, np.less_equal, "any", None,
           T("out scalar lit", cost=1, range="unit")),
    "gt": (2, np.greater, "any", None,
           T("out scalar lit", cost=1, range="unit")),
    "ge": (2, np.greater_equal, "any", None,
           T("out scalar lit", cost=1, range="unit")),
    "eq": (2, np.equal, "anyc", None,
           T("out scalar lit", cost=1, range="unit")),
    "ne": (2, np.not_equal, "anyc", None,
           T("out scalar lit", cost=1, range="unit")),
    "and": (2, np.logical_and, "bool", None,
            T("out scalar lit", cost=1, range="unit")),
    "or": (2, np.logical_or, "bool", None,
           T("out scalar lit", cost=1, range="unit")),
    "xor": (2, np.logical_xor, "bool", None,
            T("out scalar", cost=1, range="unit")),
    "not": (1, np.logical_not, "bool", None,
            T("out lit", cost=1, range="unit")),
}
COMPARISONS = ("lt", "le", "gt", "ge", "eq", "ne")


def _make_rule(name: str, arity: int, klass: str, bool_out: bool):
    def rule(*avals):
        if len(avals) != arity:
            raise TypeError(f"{name} takes {arity} operands, got {len(avals)}")
        shape = same_shapes(name, avals)
        dt = same_dtypes(name, avals)
        check_class(name, dt, klass)
        if name == "abs":  # |z| of a complex value is real (float32 from complex64)
            dt = dtypes.real_dtype(dt)
        return [aval(shape, dtypes.bool_ if bool_out else dt)]
    return rule


ELEMENTWISE: dict[str, Primitive] = {}
for _name, (_arity, _fn, _klass, _scalar, _traits) in _TABLE.items():
    _bool_out = _name in COMPARISONS
    ELEMENTWISE[_name] = Primitive(
        _name, kind="elementwise",
        abstract_eval=_make_rule(_name, _arity, _klass, _bool_out),
        impl=_fn, scalar=_scalar, nondiff=_scalar is None,
        traits=_traits,
        linear_args=(0, 1) if _name in ("add", "sub") else (0,) if _name == "neg" else ())
    globals()[f"{_name}_p"] = ELEMENTWISE[_name]


# --- select and convert: elementwise, but with their own dtype rules ----------------------
def _select_rule(pred, on_true, on_false):
    shape = same_shapes("where", (pred, on_true, on_false))
    if not dtypes.is_bool(pred.dtype):
        raise DTypeError(f"where: the condition must be bool, got {pred.dtype}")
    dt = same_dtypes("where", (on_true, on_false))
    return [aval(shape, dt)]


select_p = Primitive(
    "where", kind="elementwise", abstract_eval=_select_rule, impl=np.where,
    linear_args=(1, 2), doc="where(c, a, b): a where c else b",
    traits=Traits(out_capable=True, scalar_operand=True, range="hull", cost=1))
ELEMENTWISE["where"] = select_p


def _convert_rule(x, *, new_dtype):
    dt = dtypes.canonical(new_dtype)
    if dtypes.is_complex(x.dtype) and not dtypes.is_complex(dt):
        # NumPy's astype drops the imaginary part with a ComplexWarning: say which part
        raise DTypeError(f"convert: {x.dtype} to {dt} would drop the imaginary part; take "
                         "np.real(z) (or np.abs(z)) first")
    return [aval(x.shape, dt)]


def _convert_impl(x, *, new_dtype):
    return np.asarray(x).astype(dtypes.canonical(new_dtype))  # also 'f32', np.float32, ...


convert_p = Primitive(
    "convert", kind="elementwise", abstract_eval=_convert_rule, impl=_convert_impl,
    doc="dtype cast with NumPy's astype semantics (float -> int truncates)",
    traits=Traits(out_capable=True, flops=False, literal_fold=True, range="hull", cost=1))
ELEMENTWISE["convert"] = convert_p


def _identity_rule(x):
    return [x]


stop_gradient_p = Primitive(
    "stop_gradient", kind="elementwise", abstract_eval=_identity_rule, impl=lambda x: x,
    nondiff=True,
    doc="identity whose derivative is zero (tg.stop_gradient, .detach())",
    traits=Traits(view=True, flops=False, ad_only=True, range="hull", cost=1))
ELEMENTWISE["stop_gradient"] = stop_gradient_p


# --- derivative rules --------------------------------------------------------------------------
# (after the declarations: ops binds them; rules call ops.* only when they run)
from ..primitive import defjvp, defvjp  # noqa: E402
from ..thread_local import ThreadLocalList  # noqa: E402
from . import ops, partials  # noqa: E402
from .derivatives_table import PARTIALS  # noqa: E402

# per-partial masking decided by the caller (passes/ranges.py); per thread, as all tracing state
_MASK_FLAGS = ThreadLocalList()


class mask_scope:
    """Within the scope, elementwise vjps mask partial i only if ``flags[i]`` is true."""

    def __init__(self, flags):
        self.flags = flags

    def __enter__(self):
        _MASK_FLAGS.append(self.flags)

    def __exit__(self, *exc):
        _MASK_FLAGS.pop()


def _masked(ct, p, mask=True):
    """ct * p, with 0 where ct == 0 for primitives with ``Traits.mask_zero_ct`` (reverse mode
    only: a mask on a tangent would make the tangent map non-linear, and forward mode needs no
    mask because `where` selects the taken branch's tangent after it is computed)."""
    if isinstance(p, (int, float)):  # a constant partial from the table
        if p == 1:
            return ct
        if p == -1:
            return ops.neg(ct)
        if p == 0:
            return None
    prod = ops.mul(ct, p)
    if mask:
        return ops.select(ops.eq(ct, 0), 0, prod)
    return prod


def _env(primals, outs):
    env = {"out": outs[0]}
    for n, v in zip(("x", "y"), primals):
        env[n] = v
    return env


def _elementwise_rules(prim, exprs):
    """jvp and vjp of an elementwise primitive from its partials (one table drives both)."""
    def partial(i, primals, outs):
        return partials.evaluate(exprs[i], _env(primals, outs), ops.dtype_of(outs[0]))

    def jvp(primals, tangents, outs, **params):
        total = None
        for i, t in enumerate(tangents):
            if t is None:
                continue
            term = _masked(t, partial(i, primals, outs), mask=False)
            if term is None:
                continue
            total = term if total is None else ops.add(total, term)
        return [total]

    def vjp(cts, primals, outs, **params):
        (ct,) = cts
        flags = _MASK_FLAGS[-1] if _MASK_FLAGS else None
        return [None if not ops.is_var(p) else
                _masked(ct, partial(i, primals, outs),
                        mask=prim.traits.mask_zero_ct if flags is None else flags[i])
                for i, p in enumerate(primals)]
    return jvp, vjp


def _complex_abs_rules(jvp, vjp):
    """abs's table rules for real operands; for complex z, d|z| = Re(conj(z) dz) / |z|, so the
    cotangent is ct * conj(z) / |z| (0 at z = 0, as hypot's): docs/gradients.md."""
    def unit_conj(z, out):
        zero = ops.eq(out, 0)
        d = ops.convert(ops.select(zero, 1.0, out), ops.dtype_of(z))
        return zero, ops.div(ops.conj(z), d)

    def cjvp(primals, tangents, outs, **params):
        (z,), (t,) = primals, tangents
        if t is None or not ops.is_complex(z):
            return jvp(primals, tangents, outs, **params)
        zero, u = unit_conj(z, outs[0])
        return [ops.select(zero, 0.0, ops.real(ops.mul(u, t)))]

    def cvjp(cts, primals, outs, **params):
        (z,) = primals
        if not ops.is_complex(z):
            return vjp(cts, primals, outs, **params)
        zero, u = unit_conj(z, outs[0])
        ct = ops.convert(cts[0], ops.dtype_of(z))
        return [ops.select(zero, 0.0, ops.mul(ct, u))]
    return cjvp, cvjp


for _name, _exprs in PARTIALS.items():
    _jvp, _vjp = _elementwise_rules(ELEMENTWISE[_name], _exprs)
    if _name == "abs":
        _jvp, _vjp = _complex_abs_rules(_jvp, _vjp)
    defjvp(ELEMENTWISE[_name], _jvp)
    defvjp(ELEMENTWISE[_name], _vjp)


def _select_jvp(primals, tangents, outs, **params):
    c, a, b = primals
    _, ta, tb = tangents
    if ta is None and tb is None:
        return [None]
    return [ops.select(c, ops.instantiate(ta, outs[0]), ops.instantiate(tb, outs[0]))]


def _select_vjp(cts, primals, outs, **params):
    (ct,) = cts
    c = primals[0]
    zero = ops.zeros_like(ct)
    return [None, ops.select(c, ct, zero), ops.select(c, zero, ct)]


defjvp(select_p, _select_jvp)
defvjp(select_p, _select_vjp)


def _convert_jvp(primals, tangents, outs, *, new_dtype):
    (t,) = tangents
    if t is None or not ops.is_inexact(outs[0]) or not ops.is_inexact(primals[0]):
        return [None]
    return [ops.convert(t, new_dtype)]


def _convert_vjp(cts, primals, outs, *, new_dtype):
    (ct,) = cts
    if not ops.is_inexact(primals[0]) or not ops.is_inexact(outs[0]):
        return [None]
    if ops.is_float(primals[0]) and not ops.is_float(outs[0]):
        from .complex_parts import real_p  # real -> complex: Re(ct * t) = Re(ct) * t
        ct = real_p.bind(ct)
    return [ops.convert(ct, ops.dtype_of(primals[0]))]


defjvp(convert_p, _convert_jvp)
defvjp(convert_p, _convert_vjp)


# --- batching rules (vmap): broadcast shared operands, apply once ------------------------------
from ..primitive import defbatch  # noqa: E402
from .batching import batch_elementwise  # noqa: E402

for _p in ELEMENTWISE.values():
    defbatch(_p, batch_elementwise(_p))
