"""``tracegrad.numpy``: NumPy's names, written on the primitives, with NumPy 2 broadcasting and
promotion. Plain ``np.*`` calls on traced arrays land here through ``__array_ufunc__`` and
``__array_function__``; on concrete arrays the same functions run eagerly.

The package holds one module per family: ``registry``, ``arguments`` and ``promotion`` are the
foundation every family imports first; ``arithmetic``, ``transcendental``, ``predicates``,
``creation``, ``manipulation``, ``reductions``, ``contraction``, ``matrix`` and ``gather`` hold
NumPy's functions; ``dispatch`` maps NumPy's protocols onto them. The families call one another,
so each imports its siblings at its end; ``registry`` is imported first, so the foundation is
defined before any family runs. The public names, and the private ones other modules use, are
re-exported here as from the former single module.
"""
from __future__ import annotations

import numpy as _np

from .registry import _PUBLIC
from .promotion import _as_operand, _prepare_no_broadcast
from .arithmetic import (abs, absolute, add, around, bitwise_and, bitwise_not, bitwise_or,
                         bitwise_xor, ceil, divide, divmod, equal, fabs, fix, floor, floor_divide,
                         fmax, fmin, greater, greater_equal, invert, less, less_equal, logical_and,
                         logical_not, logical_or, logical_xor, maximum, minimum, mod, multiply,
                         negative, not_equal, positive, power, remainder, rint, round, sign,
                         subtract, true_divide, trunc)
from .transcendental import (acos, acosh, arccos, arccosh, arcsin, arcsinh, arctan, arctan2,
                             arctanh, asin, asinh, atan, atan2, atanh, cbrt, cos, cosh, deg2rad,
                             degrees, erf, exp, exp2, expm1, float_power, hypot, log, log10, log1p,
                             log2, logaddexp, logaddexp2, rad2deg, radians, reciprocal, sigmoid,
                             sin, sinc, sinh, sqrt, square, tan, tanh)
from .predicates import (allclose, clip, conj, conjugate, heaviside, imag, isclose, iscomplexobj,
                         isfinite, isinf, isnan, isrealobj, nan_to_num, real, select, where)
from .creation import (arange, array, asarray, astype, copy, empty_like, eye, full, full_like,
                       linspace, ndim, ones, ones_like, result_type, shape, size, tri, zeros,
                       zeros_like)
from .manipulation import (array_split, atleast_1d, atleast_2d, atleast_3d, broadcast_arrays,
                           broadcast_to, column_stack, concat, concatenate, diff, dstack,
                           expand_dims, flip, fliplr, flipud, hstack, meshgrid, moveaxis, pad,
                           permute_dims, ravel, repeat, reshape, roll, split, squeeze, stack,
                           swapaxes, tile, transpose, vstack)
from .reductions import (all, amax, amin, any, any_zero, argmax, argmin, average, count_nonzero,
                         cumsum, max, mean, min, nanmax, nanmean, nanmin, nanprod, nansum, prod,
                         ptp, std, sum, var)
from .contraction import dot, einsum, inner, matmul, matvec, outer, tensordot, vdot, vecdot, vecmat
from .matrix import diag, diagonal, trace, tril, triu
from . import linalg  # noqa: F401  (np.linalg on traced arrays)
from . import fft  # noqa: F401  (np.fft on traced arrays)
from .linalg import kron
from .scipy_linalg import install_scipy_linalg
from .gather import at, compress, extract, _getitem, take, take_along_axis
from .sorting import (argpartition, argsort, cumprod, median, nanmedian, nanpercentile,  # noqa
                      nanquantile, partition, percentile, quantile, searchsorted, sort, unique)
from .signal import convolve, correlate, install_scipy_signal
from .rearranging import append, dsplit, hsplit, rollaxis, rot90, row_stack, vsplit  # noqa
from .calculus import cross, gradient  # noqa: F401
from .realness import angle, iscomplex, isreal, real_if_close  # noqa: F401
from . import inplace, intercept  # noqa: F401  (x[i] = v; np.array of traced values)
from .dispatch import _dispatch_function, _dispatch_ufunc

install_scipy_linalg()  # scipy.linalg's functions route traced arguments here

install_scipy_signal()  # scipy.signal's convolutions route traced arguments here

pi, e, inf, nan, newaxis = _np.pi, _np.e, _np.inf, _np.nan, None
float32, float64, int32, int64, bool_ = _np.float32, _np.float64, _np.int32, _np.int64, _np.bool_
ndarray = _np.ndarray
