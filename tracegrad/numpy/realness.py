"""np.angle, np.real_if_close, np.iscomplex and np.isreal on real arrays (every traced array is
real until complex dtypes land): the answers NumPy gives for a real input, with NumPy's dtypes.
"""
from __future__ import annotations

from .. import dtypes as _dt
from .. import lax
from .registry import _public
from .promotion import _as_array, _dtype, _shape


@_public
def angle(z, deg=False):
    """The argument of a real number: 0 for x >= +0, pi for x < 0 and -0.0, NaN for NaN (NumPy
    computes arctan2(0, x)). Piecewise constant, so its gradient is zero everywhere."""
    z = _as_array(z)
    dt = _dt.float_result(_dtype(z))
    x = astype(z, dt)
    out = lax.stop_gradient(arctan2(zeros_like(x), x))
    return rad2deg(out) if deg else out


@_public
def real_if_close(a, tol=100):
    """A real array is returned unchanged (NumPy only drops a negligible imaginary part)."""
    return _as_array(a)[...]


@_public
def iscomplex(x):
    """False for every element of a real array (NumPy tests for a nonzero imaginary part)."""
    return zeros(_shape(_as_array(x)), dtype=_dt.bool_)


@_public
def isreal(x):
    """True for every element of a real array."""
    return ones(_shape(_as_array(x)), dtype=_dt.bool_)


__all__ = ["angle", "iscomplex", "isreal", "real_if_close"]

# The families call one another: siblings are imported after the definitions.
from .creation import astype, ones, zeros, zeros_like  # noqa: E402
from .transcendental import arctan2, rad2deg  # noqa: E402
