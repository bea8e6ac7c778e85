"""NumPy helpers shared by the reference interpreter and the generated NumPy code (imported as ``rt``).

Only operations that are not one NumPy call live here; each keeps NumPy's dtype of its inputs.
"""
from __future__ import annotations

import math

import numpy as np

from .loop_runtime import run_cond, run_scan, run_while  # noqa: F401  (loops, branches)

from .np_random import threefry_bits  # noqa: F401  (random_bits)

from .np_signal import argsort_stable, conv_general  # noqa: F401  (conv, argsort)

from .np_bounds import check_in_range  # noqa: E402  (gather/scatter_add index bounds)

from .np_select import select, select_into  # noqa: F401  (where, branch-free)

from .np_domain import int_power  # noqa: E402,F401  (integer pow: DomainError)

_erf = None


def erf(x, out=None):
    """Error function via SciPy's ufunc (imported on first use, so ``import tracegrad`` stays light)."""
    global _erf
    if _erf is None:
        from scipy.special import erf as scipy_erf
        _erf = scipy_erf
    return _erf(x, out=out)


def sigmoid(x, out=None):
    """1 / (1 + exp(-x)) without overflow: exp(-log(1 + exp(-x))), exact at both tails.
    With ``out`` every step writes into it (``out`` may be ``x`` itself)."""
    if out is None:
        return np.exp(-np.logaddexp(0, -x))
    np.negative(x, out=out)
    np.logaddexp(0, out, out=out)
    np.negative(out, out=out)
    return np.exp(out, out=out)


def softplus(x, out=None):
    """log(1 + exp(x)) without overflow: NumPy's logaddexp(0, x) is exact at both tails."""
    return np.logaddexp(0, x, out=out)


def broadcast_in_dim(x, shape, broadcast_dimensions):
    """Place x's axes at ``broadcast_dimensions`` of ``shape`` and broadcast the rest: a
    read-only view, as ``np.broadcast_to`` makes. For a C-contiguous array (what the generated
    code's values are) the view is made directly from strides (0.2 us; ``np.broadcast_to``
    takes 5-7 us of argument handling, and W2's program makes eleven)."""
    if type(x) is not np.ndarray:
        x = np.asarray(x)  # 0-d values arrive as NumPy scalars
    if x.flags.c_contiguous and x.size and 0 not in shape and \
            list(broadcast_dimensions) == sorted(set(broadcast_dimensions)):
        strides = [0] * len(shape)
        for src_axis, dst_axis in enumerate(broadcast_dimensions):
            n = x.shape[src_axis]
            if n != shape[dst_axis] and n != 1:
                break  # not broadcastable: np.broadcast_to below raises NumPy's error
            if n != 1:
                strides[dst_axis] = x.strides[src_axis]
        else:
            view = np.ndarray(shape, x.dtype, x, 0, tuple(strides))
            view.flags.writeable = False
            return view
    expanded = [1] * len(shape)
    for src_axis, dst_axis in enumerate(broadcast_dimensions):
        expanded[dst_axis] = np.shape(x)[src_axis]
    return np.broadcast_to(np.reshape(x, expanded), shape)


def slice_(x, start_indices, limit_indices, strides):
    idx = tuple(slice(s, e, st) for s, e, st in zip(start_indices, limit_indices, strides))
    return x[idx]


def pad(x, padding_value, low, high, interior):
    """Pad with ``low``/``high`` elements at each end and ``interior`` between elements."""
    x = np.asarray(x)
    shape = tuple(lo + hi + (d + (d - 1) * it if d else 0)
                  for d, lo, hi, it in zip(x.shape, low, high, interior))
    out = np.full(shape, padding_value, dtype=x.dtype)
    idx = tuple(slice(lo, lo + (d - 1) * (it + 1) + 1 if d else lo, it + 1)
                for d, lo, it in zip(x.shape, low, interior))
    out[idx] = x
    return out


def _index_tuple(indices):
    k = indices.shape[-1]
    return tuple(indices[..., i] for i in range(k))


def gather(x, indices):
    """``out[b..., rest] = x[idx[b..., 0], ..., idx[b..., k-1], rest]``; negative indices wrap,
    others out of range raise TracedIndexError naming the user's line (np_bounds.py)."""
    check_in_range("gather", np.shape(x), indices)
    return x[_index_tuple(indices)]


def scatter_add(x, indices, updates):
    """A copy of ``x`` with ``updates`` added at ``indices`` (duplicates accumulate)."""
    check_in_range("scatter_add", np.shape(x), indices)
    out = np.array(x, copy=True)
    np.add.at(out, _index_tuple(indices), updates)
    return out


def iota(shape, dimension, dtype):
    """An array of ``shape`` whose values count along ``dimension``."""
    ar = np.arange(shape[dimension], dtype=dtype)
    view = [1] * len(shape)
    view[dimension] = shape[dimension]
    return np.broadcast_to(ar.reshape(view), shape)


def cumsum(x, axis, reverse):
    if reverse:
        return np.flip(np.cumsum(np.flip(x, axis), axis=axis, dtype=x.dtype), axis)
    return np.cumsum(x, axis=axis, dtype=x.dtype)


def dot_general(a, b, dimension_numbers, out=None):
    """Contract ``a`` and ``b``: output axes are batch, then a's free axes, then b's free axes.
    With ``out`` (C-contiguous, the result's shape and dtype) the product is written there."""
    (lc, rc), (lb, rb) = dimension_numbers
    a_free = [i for i in range(np.ndim(a)) if i not in lc and i not in lb]
    b_free = [i for i in range(np.ndim(b)) if i not in rc and i not in rb]
    at = np.transpose(a, tuple(lb) + tuple(a_free) + tuple(lc))
    bt = np.transpose(b, tuple(rb) + tuple(rc) + tuple(b_free))
    nb = len(lb)
    batch = at.shape[:nb]
    m_shape, k_shape = at.shape[nb:nb + len(a_free)], at.shape[nb + len(a_free):]
    n_shape = bt.shape[nb + len(rc):]
    # math.prod: np.prod of a shape tuple is a 3-4 us reduction, three per product
    m, k, n = math.prod(m_shape), math.prod(k_shape), math.prod(n_shape)
    if out is not None:  # the (batch, m, n) product has out's layout: write through a view
        np.matmul(at.reshape(batch + (m, k)), bt.reshape(batch + (k, n)),
                  out=out.reshape(batch + (m, n)))
        return out
    result = np.matmul(at.reshape(batch + (m, k)), bt.reshape(batch + (k, n)))
    shape = batch + m_shape + n_shape
    # one free axis each side (every 2-D product) is already that shape: return the array
    # itself, not a reshaped view of it (a returned view is checked against every input and
    # output for shared memory before the caller gets it)
    return result if result.shape == shape else result.reshape(shape)


# the special functions' SciPy implementations, called as rt.<name> by generated NumPy code
from .special_np import (digamma, erfc, erfcx, erfinv, gamma, gammaln, i0,  # noqa: E402,F401
                         i1, polygamma)
from .special_np import betainc, gammainc, gammaincc  # noqa: E402,F401  (incomplete gamma/beta)


from . import linalg_np as linalg  # noqa: E402  (rt.linalg.<fn>: the linalg primitives)


from .complex_np import imag, real  # noqa: E402,F401  (rt.real, rt.imag: new arrays)
