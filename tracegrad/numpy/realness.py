"""np.angle, np.real_if_close, np.iscomplex and np.isreal: on complex arrays from their parts,
on real arrays the answers NumPy gives for a real input, with NumPy's dtypes.
"""
from __future__ import annotations

from .. import dtypes as _dt
from .. import lax
from ..errors import UnsupportedOperationError
from ..source_info import user_src_with_text
from .registry import _public
from .promotion import _as_array, _dtype, _shape


@_public
def angle(z, deg=False):
    """The argument of a real number: 0 for x >= +0, pi for x < 0 and -0.0, NaN for NaN (NumPy
    computes arctan2(0, x)). Piecewise constant, so its gradient is zero everywhere."""
    z = _as_array(z)
    if _dt.is_complex(_dtype(z)):  # arctan2(Im z, Re z), as NumPy: smooth off the origin
        out = arctan2(lax.imag(z), lax.real(z))
        return rad2deg(out) if deg else out
    dt = _dt.float_result(_dtype(z))
    x = astype(z, dt)
    out = lax.stop_gradient(arctan2(zeros_like(x), x))
    return rad2deg(out) if deg else out


@_public
def real_if_close(a, tol=100):
    """A real array is returned unchanged; a complex one is not (whether NumPy drops the
    imaginary part depends on the values, so the result's dtype would not be known when
    tracing: a typed error asks for np.real)."""
    a = _as_array(a)
    if _dt.is_complex(_dtype(a)):
        raise UnsupportedOperationError(
            "np.real_if_close of a traced complex array: its result dtype depends on the values "
            "(real when every imaginary part is negligible); take np.real(a) explicitly",
            src=user_src_with_text(3))
    return a[...]


@_public
def iscomplex(x):
    """A nonzero imaginary part (False for every element of a real array)."""
    x = _as_array(x)
    if _dt.is_complex(_dtype(x)):
        return not_equal(lax.imag(x), 0)
    return zeros(_shape(x), dtype=_dt.bool_)


@_public
def isreal(x):
    """A zero imaginary part (True for every element of a real array)."""
    x = _as_array(x)
    if _dt.is_complex(_dtype(x)):
        return equal(lax.imag(x), 0)
    return ones(_shape(x), dtype=_dt.bool_)


__all__ = ["angle", "iscomplex", "isreal", "real_if_close"]

# The families call one another: siblings are imported after the definitions.
from .arithmetic import equal, not_equal  # noqa: E402
from .creation import astype, ones, zeros, zeros_like  # noqa: E402
from .transcendental import arctan2, rad2deg  # noqa: E402
