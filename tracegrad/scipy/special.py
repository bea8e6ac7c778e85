"""tracegrad's ``scipy.special``: the functions traced code calls, on concrete arrays too.

Elementwise functions with a primitive of their own (gammaln, digamma, polygamma, erf, erfc,
erfinv, gamma, i0, i1, expit) bind it; the others are compositions of existing primitives,
written as SciPy defines them (xlogy(0, y) = 0, logsumexp's ``b``/``return_sign``, softmax's
default ``axis=None``). Integer and bool inputs compute in float64, as SciPy's ufuncs do.
SciPy's own functions reach these through tracegrad/numpy/dispatch.py (ufuncs) and routing.py
(functions that call np.asarray).
"""
from __future__ import annotations

import math

import numpy as _np

from .. import lax
from .. import numpy as tnp
from ..numpy.promotion import _float_elementwise
from .routing import implements


def _unary(name: str, prim: str, doc: str):
    def fn(x):
        return _float_elementwise(prim, x)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc
    return implements(f"scipy.special.{name}")(fn)


gammaln = _unary("gammaln", "gammaln", "log |Gamma(x)|")
digamma = _unary("digamma", "digamma", "psi(x), the derivative of log Gamma")
psi = _unary("psi", "digamma", "psi(x) (scipy.special.psi is digamma)")
erf = _unary("erf", "erf", "the error function")
erfc = _unary("erfc", "erfc", "1 - erf(x), accurate in the tails")
erfinv = _unary("erfinv", "erfinv", "the inverse of erf on (-1, 1)")
gamma = _unary("gamma", "gamma", "Gamma(x)")
i0 = _unary("i0", "i0", "modified Bessel function of the first kind, order 0")
i1 = _unary("i1", "i1", "modified Bessel function of the first kind, order 1")
expit = _unary("expit", "sigmoid", "1 / (1 + exp(-x))")
erfcx = _unary("erfcx", "erfcx", "exp(x**2) erfc(x), finite where erfc underflows")

_SQRT1_2 = math.sqrt(0.5)


@implements("scipy.special.ndtr")
def ndtr(x):
    """The standard normal cdf, erfc(-x / sqrt 2) / 2 (accurate in the lower tail)."""
    return tnp.multiply(0.5, erfc(tnp.multiply(_float(x), -_SQRT1_2)))


@implements("scipy.special.log_ndtr")
def log_ndtr(x):
    """log Phi(x), accurate in both tails: log(erfcx(-x/sqrt 2) / 2) - x**2/2 below -1 (where
    Phi underflows, e.g. -804.6 at x = -40, not -inf), log1p(-Phi(-x)) above."""
    x = _float(x)
    below = tnp.less(x, -1.0)
    # each branch sees only its own inputs (the other's are replaced by -1), so neither
    # computes log(0) or an overflow that the where then discards: no warnings, no NaN
    # reaching the gradient through the untaken branch
    xl = tnp.where(below, x, -1.0)
    xh = tnp.where(below, -1.0, x)
    low = tnp.subtract(tnp.log(tnp.multiply(0.5, erfcx(tnp.multiply(xl, -_SQRT1_2)))),
                       tnp.multiply(0.5, tnp.square(xl)))
    high = tnp.log1p(tnp.negative(ndtr(tnp.negative(xh))))
    return tnp.where(below, low, high)


@implements("scipy.special.polygamma")
def polygamma(n, x):
    """psi^(n)(x), the n-th derivative of digamma (n a non-negative integer). In float64 for
    every input dtype, as SciPy's (a Python function mixing float64 scalars) computes it."""
    return _float_elementwise("polygamma", tnp.astype(tnp.asarray(n), _np.float64),
                              tnp.astype(tnp.asarray(x), _np.float64))


@implements("scipy.special.logit")
def logit(p):
    """log(p / (1 - p)), as log(p) - log1p(-p) (exact near 0, no division)."""
    p = _float(p)
    return tnp.subtract(tnp.log(p), tnp.log1p(tnp.negative(p)))


def _float(x):
    x = tnp.asarray(x)
    return x if _np.dtype(x.dtype).kind == "f" else tnp.astype(x, _np.float64)


def _xlog(x, y, log, pole):
    """x * log(y) with SciPy's 0 where x == 0 (y not NaN), written as x * L where L is log(y)
    except 0 where x == 0 and log(y) is not finite (y <= ``pole`` or y == inf): the value is
    SciPy's everywhere, and the derivative in x stays log(y) at x == 0 (a where around the
    product would make it 0 there). Those y are replaced by 1 before the log, so no log(0)
    is computed only to be discarded (no warning, no NaN through the untaken branch)."""
    x, y = _float(x), _float(y)
    drop = tnp.logical_and(tnp.equal(x, 0), tnp.logical_or(tnp.less_equal(y, pole),
                                                           tnp.equal(y, _np.inf)))
    return tnp.multiply(x, log(tnp.where(drop, 1.0 if log is tnp.log else 0.0, y)))


@implements("scipy.special.xlogy")
def xlogy(x, y):
    """x * log(y), 0 where x == 0 (y not NaN)."""
    return _xlog(x, y, tnp.log, 0.0)


@implements("scipy.special.xlog1py")
def xlog1py(x, y):
    """x * log1p(y), 0 where x == 0 (y not NaN)."""
    return _xlog(x, y, tnp.log1p, -1.0)


@implements("scipy.special.betaln")
def betaln(a, b):
    """log |B(a, b)| = gammaln(a) + gammaln(b) - gammaln(a + b). (SciPy switches to an
    asymptotic form for very large arguments; this sum loses ~log10(gammaln(a + b)) digits
    there, e.g. 1e-6 relative at a = 1e10, b = 1.)"""
    a, b = _float(a), _float(b)
    return tnp.subtract(tnp.add(gammaln(a), gammaln(b)), gammaln(tnp.add(a, b)))


def _axes(axis, ndim):
    if axis is None:
        return tuple(range(ndim))
    axes = axis if isinstance(axis, tuple) else (axis,)
    return tuple(int(a) % ndim if ndim else int(a) for a in axes)


@implements("scipy.special.logsumexp")
def logsumexp(a, axis=None, b=None, keepdims=False, return_sign=False):
    """log(sum(b * exp(a))) along ``axis`` (all axes by default), SciPy's signature.

    The shift by the maximum is a constant of differentiation (stop_gradient), so the
    gradient is the softmax, exactly. ``b == 0`` entries are dropped (a there may be inf);
    with ``return_sign`` the result is (log|s|, sign s), else a negative sum gives NaN.
    """
    a = _float(a)
    if b is not None:
        b = tnp.asarray(b)
        a, b = tnp.broadcast_arrays(a, b)
        a = tnp.where(tnp.equal(b, 0), -_np.inf, a)
    axes = _axes(axis, tnp.ndim(a))
    m = lax.stop_gradient(tnp.max(a, axis=axes, keepdims=True))
    m = tnp.where(tnp.isfinite(m), m, 0.0)  # all -inf (or an inf): no shift
    e = tnp.exp(tnp.subtract(a, m))
    if b is not None:
        e = tnp.multiply(e, b)
    s = tnp.sum(e, axis=axes, keepdims=True)
    sign = None
    if return_sign:
        sign = tnp.sign(s)
        s = tnp.abs(s)
    out = tnp.add(tnp.log(s), m)
    if not keepdims:
        out = tnp.squeeze(out, axis=axes)
        sign = None if sign is None else tnp.squeeze(sign, axis=axes)
    return (out, sign) if return_sign else out


@implements("scipy.special.log_softmax")
def log_softmax(x, axis=None):
    """x - logsumexp(x, axis, keepdims=True) (SciPy's default: over all axes)."""
    x = _float(x)
    return tnp.subtract(x, logsumexp(x, axis=axis, keepdims=True))


@implements("scipy.special.softmax")
def softmax(x, axis=None):
    """exp(log_softmax(x, axis)) (SciPy's default: over all axes)."""
    return tnp.exp(log_softmax(x, axis=axis))


LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)


def _incomplete(name, prim, nargs, doc):
    """SciPy's incomplete gamma/beta: operands promoted and broadcast to one float dtype
    (float64 for integer inputs, as SciPy's ufunc loops), then the primitive."""
    from ..numpy.promotion import _prepare
    from ..prims import special_incomplete

    def fn(*args):
        if len(args) != nargs:
            raise TypeError(f"scipy.special.{name} takes {nargs} arguments, got {len(args)}")
        xs = [_float(a) for a in args]
        ys, _ = _prepare(xs, _np.result_type(*[_np.dtype(x.dtype) for x in xs]))
        return getattr(special_incomplete, prim)(*ys)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = doc
    return implements(f"scipy.special.{name}")(fn)


gammainc = _incomplete("gammainc", "gammainc", 2, "regularised lower incomplete gamma P(a, x); "
                       "the derivative in a is unsupported (a GradientError names it)")
gammaincc = _incomplete("gammaincc", "gammaincc", 2, "regularised upper incomplete gamma "
                        "Q(a, x) = 1 - P(a, x); derivative in x only")
betainc = _incomplete("betainc", "betainc", 3, "regularised incomplete beta I_x(a, b); "
                      "derivative in x only")
