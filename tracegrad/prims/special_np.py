"""Reference implementations of the special-function primitives (gammaln, digamma, polygamma,
erfc, erfinv, gamma, i0, i1): SciPy's ufuncs, imported on first use so ``import tracegrad``
stays light. The NumPy backend calls these too (re-exported by np_helpers as ``rt.<name>``).

Each keeps its input's float dtype (SciPy's ``polygamma`` is a Python function that computes in
float64; it is cast back) and accepts ``out=`` as the generated NumPy code passes it.
"""
from __future__ import annotations

import numpy as np

_SC = None


def _sc():
    global _SC
    if _SC is None:
        import scipy.special as sc
        _SC = sc
    return _SC


def gammaln(x, out=None):
    """log |Gamma(x)| (SciPy's gammaln: +inf at the poles 0, -1, -2, ...)."""
    return _sc().gammaln(x, out=out)


def digamma(x, out=None):
    """psi(x) = d/dx log Gamma(x)."""
    return _sc().psi(x, out=out)


def polygamma(n, x, out=None):
    """psi^(n)(x) for integer-valued n >= 0 (NaN for other n, as SciPy's polygamma gives)."""
    # a Python or NumPy scalar order (a literal) takes x's dtype, as a weak literal does
    dt = np.result_type(*[a.dtype for a in (n, x) if isinstance(a, np.ndarray)
                          and a.dtype.kind == "f"] or [np.float64])
    n = np.asarray(n)
    x = np.asarray(x)
    n64 = n.astype(np.float64)
    with np.errstate(invalid="ignore"):
        # SciPy: n == 0 is digamma, else (-1)**(n+1) n! zeta(n+1, x)
        res = np.where(n64 == 0, _sc().psi(x.astype(np.float64)),
                       (-1.0) ** (n64 + 1) * _sc().gamma(n64 + 1)
                       * _sc().zeta(n64 + 1, x.astype(np.float64)))
    res = np.where((n64 < 0) | (n64 != np.floor(n64)), np.nan, res).astype(dt)
    if out is not None:
        np.copyto(out, res)
        return out
    return res


def erfc(x, out=None):
    """1 - erf(x), accurate where erf(x) is near 1."""
    return _sc().erfc(x, out=out)


def erfinv(x, out=None):
    """The inverse of erf on (-1, 1); +-inf at +-1, NaN outside."""
    return _sc().erfinv(x, out=out)


def gamma(x, out=None):
    """Gamma(x) (SciPy's gamma: inf at 0 and the negative integers)."""
    return _sc().gamma(x, out=out)


def i0(x, out=None):
    """Modified Bessel function of the first kind, order 0."""
    return _sc().i0(x, out=out)


def i1(x, out=None):
    """Modified Bessel function of the first kind, order 1."""
    return _sc().i1(x, out=out)


def erfcx(x, out=None):
    """exp(x**2) erfc(x), the scaled complementary error function: finite where erfc
    underflows (log Phi(z) of a very negative z is log(erfcx(-z/sqrt 2)/2) - z**2/2)."""
    return _sc().erfcx(x, out=out)


def gammainc(a, x, out=None):
    """Regularised lower incomplete gamma P(a, x) (NaN for a < 0 or x < 0, as SciPy)."""
    return _sc().gammainc(a, x, out=out)


def gammaincc(a, x, out=None):
    """Regularised upper incomplete gamma Q(a, x) = 1 - P(a, x), accurate where P is near 1."""
    return _sc().gammaincc(a, x, out=out)


def betainc(a, b, x, out=None):
    """Regularised incomplete beta I_x(a, b) (NaN outside a, b >= 0, 0 <= x <= 1)."""
    return _sc().betainc(a, b, x, out=out)
