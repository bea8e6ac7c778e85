"""The regularised incomplete gamma and beta functions as elementwise primitives:
``gammainc(a, x)`` = P(a, x), ``gammaincc(a, x)`` = Q(a, x) = 1 - P, ``betainc(a, b, x)`` =
I_x(a, b), with SciPy's argument order and values (NaN outside the domain).

Derivatives in x are exact (the integrands): dP/dx = x^(a-1) e^-x / Gamma(a), dI/dx =
x^(a-1) (1-x)^(b-1) / B(a, b), built from exp/log/gammaln so they differentiate again.
Derivatives in the shape parameters a, b need series in digamma-weighted terms that tracegrad
does not evaluate accurately (yet): differentiating through one is a GradientError naming the
parameter, never a zero or approximate gradient. Each mode refuses only where that derivative
would be used: forward mode when the parameter carries a tangent, reverse mode when it depends
on a differentiated input (prims/active.py); constants and stop_gradient'ed values are fine.

Evaluation: SciPy on the NumPy backend (special_np.py), C helpers in
codegen/c/special_incomplete.py. Not declared in the partials table: that table's rules carry
no typed refusal and its expression language has two operands.
"""
from __future__ import annotations

from ..errors import GradientError
from ..primitive import Primitive, Traits, defbatch, defjvp, defvjp
from . import special_np
from .active import is_active
from .batching import batch_elementwise
from .common import aval, check_class, same_dtypes, same_shapes


def _rule(name, arity):
    def rule(*avals):
        if len(avals) != arity:
            raise TypeError(f"{name} takes {arity} operands, got {len(avals)}")
        shape = same_shapes(name, avals)
        dt = same_dtypes(name, avals)
        check_class(name, dt, "float")
        return [aval(shape, dt)]
    return rule


def _prim(name, arity, impl, doc):
    return Primitive(name, kind="elementwise", abstract_eval=_rule(name, arity), impl=impl,
                     traits=Traits(out_capable=True, scalar_operand=True), doc=doc)


gammainc_p = _prim("gammainc", 2, special_np.gammainc,
                   "regularised lower incomplete gamma P(a, x) (scipy.special.gammainc)")
gammaincc_p = _prim("gammaincc", 2, special_np.gammaincc,
                    "regularised upper incomplete gamma Q(a, x) (scipy.special.gammaincc)")
betainc_p = _prim("betainc", 3, special_np.betainc,
                  "regularised incomplete beta I_x(a, b) (scipy.special.betainc)")
INCOMPLETE = (gammainc_p, gammaincc_p, betainc_p)


# --- derivative rules -----------------------------------------------------------------------
from . import ops  # noqa: E402  (binds the primitives above; rules call it when they run)

_PARAMS = {"gammainc": ("a",), "gammaincc": ("a",), "betainc": ("a", "b")}


def _refuse(prim, i):
    what = _PARAMS[prim.name][i]
    raise GradientError(
        f"scipy.special.{prim.name}: the derivative in its shape parameter {what!r} is not "
        "supported (only the derivative in x is); pass a constant there (a literal, a concrete "
        f"array, or tg.stop_gradient({what}) if you do not need its gradient)")


def _safe_log(x, ok):
    return ops.log(ops.select(ok, x, 1.0))


def _full(v, like):
    return ops.full(ops.shape_of(like), v, ops.dtype_of(like))


def _pow0(p, like):
    """0^(p - 1): 1 at p == 1, inf below, 0 above."""
    return ops.select(ops.eq(p, 1.0), _full(1.0, like),
                      ops.select(ops.lt(p, 1.0), _full(float("inf"), like), _full(0.0, like)))


def _dgamma_dx(a, x):
    """x^(a-1) e^-x / Gamma(a), with x^(a-1) at x == 0 as its limit (1 for a == 1, 0 above,
    inf below) and 0 for x < 0 (outside the domain P is NaN anyway)."""
    pos = ops.gt(x, 0)
    inner = ops.exp(ops.sub(ops.sub(ops.mul(ops.sub(a, 1.0), _safe_log(x, pos)),
                                    ops.select(pos, x, 0.0)), ops.gammaln(a)))
    return ops.select(pos, inner, ops.select(ops.eq(x, 0), _pow0(a, x), _full(0.0, x)))


def _dbeta_dx(a, b, x):
    """x^(a-1) (1-x)^(b-1) / B(a, b) inside (0, 1); its limits at the ends (powers of 0 as
    in _dgamma_dx) and 0 outside [0, 1]."""
    inside = ops.logical_and(ops.gt(x, 0), ops.lt(x, 1))
    xs = ops.select(inside, x, 0.5)
    lbeta = ops.sub(ops.add(ops.gammaln(a), ops.gammaln(b)), ops.gammaln(ops.add(a, b)))
    val = ops.exp(ops.sub(ops.add(ops.mul(ops.sub(a, 1.0), ops.log(xs)),
                                  ops.mul(ops.sub(b, 1.0), ops.log1p(ops.neg(xs)))), lbeta))

    def end(p):  # p^(.-1) / B at the end where the other factor is 1
        return ops.mul(_pow0(p, x), ops.exp(ops.neg(lbeta)))
    edge = ops.select(ops.eq(x, 0), end(a),
                      ops.select(ops.eq(x, 1), end(b), _full(0.0, x)))
    return ops.select(inside, val, edge)


def _dx(prim, primals):
    x = primals[-1]
    # literal parameters as arrays of x's shape, so every select below has one shape
    primals = [p if ops.is_var(p) else _full(p.value, x) for p in primals]
    if prim is betainc_p:
        return _dbeta_dx(*primals)
    d = _dgamma_dx(*primals)
    return ops.neg(d) if prim is gammaincc_p else d


def _rules(prim):
    nparam = len(_PARAMS[prim.name])

    def jvp(primals, tangents, outs, **params):
        for i in range(nparam):
            if tangents[i] is not None:
                _refuse(prim, i)
        t = tangents[nparam]
        return [None if t is None else ops.mul(t, _dx(prim, primals))]

    def vjp(cts, primals, outs, **params):
        for i in range(nparam):
            if ops.is_var(primals[i]) and is_active(i):
                _refuse(prim, i)
        x = primals[nparam]
        ct = None if not (ops.is_var(x) and is_active(nparam)) else ops.mul(cts[0], _dx(prim, primals))
        return [None] * nparam + [ct]
    jvp.__name__, vjp.__name__ = f"{prim.name}_jvp", f"{prim.name}_vjp"
    return jvp, vjp


for _p in INCOMPLETE:
    _j, _v = _rules(_p)
    defjvp(_p, _j)
    defvjp(_p, _v)
    defbatch(_p, batch_elementwise(_p))


def gammainc(a, x):
    """P(a, x) of equal-shape float operands (Python scalars become literals)."""
    return gammainc_p.bind(*ops._operands((a, x)))


def gammaincc(a, x):
    """Q(a, x) = 1 - P(a, x) of equal-shape float operands."""
    return gammaincc_p.bind(*ops._operands((a, x)))


def betainc(a, b, x):
    """I_x(a, b) of equal-shape float operands."""
    return betainc_p.bind(*ops._operands((a, b, x)))
