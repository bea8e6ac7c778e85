"""NumPy reference numerics of the convolution and sort primitives (the interpreter's ``impl``
and, re-exported through ``np_helpers``, the NumPy backend's generated code): plain NumPy only.

``conv_general`` keeps the primitive's exact meaning, negative padding (a crop) and input
dilation included, because the gradient rules produce both.
"""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def conv_out_size(size: int, k: int, stride: int, lo: int, hi: int, ld: int, rd: int) -> int:
    """Output length of one spatial axis: windows of the dilated kernel over the dilated,
    padded input, every ``stride``-th one (0 when no window fits)."""
    span = ((size - 1) * ld + 1 if size else 0) + lo + hi
    k_eff = (k - 1) * rd + 1
    return (span - k_eff) // stride + 1 if span >= k_eff else 0


def _dilate_and_pad(x, padding, lhs_dilation):
    """Spatial axes 2..: insert ``d - 1`` zeros between elements, then pad (lo, hi) each end;
    a negative pad crops."""
    nd = x.ndim - 2
    if any(d != 1 for d in lhs_dilation):
        shape = x.shape[:2] + tuple((s - 1) * d + 1 if s else 0
                                    for s, d in zip(x.shape[2:], lhs_dilation))
        xd = np.zeros(shape, x.dtype)
        xd[(slice(None), slice(None)) + tuple(slice(None, None, d) for d in lhs_dilation)] = x
        x = xd
    grow = [(0, 0), (0, 0)] + [(max(lo, 0), max(hi, 0)) for lo, hi in padding]
    if any(g != (0, 0) for g in grow):
        x = np.pad(x, grow)
    crop = (slice(None), slice(None)) + tuple(
        slice(-min(lo, 0), x.shape[2 + i] + min(hi, 0)) for i, (lo, hi) in enumerate(padding))
    return x[crop] if nd else x


def conv_general(x, w, window_strides, padding, lhs_dilation, rhs_dilation,
                 feature_group_count):
    """Cross-correlation ``out[n, o, p] = sum_{c, k} xd[n, g*Cg + c, p*s + k*rd] w[o, c, k]``
    over any number of spatial axes, with ``xd`` the dilated, padded input and ``g`` the
    group of out channel ``o``. x (N, C, *S), w (O, C/G, *K) -> (N, O, *P)."""
    x, w = np.asarray(x), np.asarray(w)
    nd = x.ndim - 2
    n, c = x.shape[:2]
    o = w.shape[0]
    kern = w.shape[2:]
    g = feature_group_count
    outs = tuple(conv_out_size(x.shape[2 + i], kern[i], window_strides[i], *padding[i],
                               lhs_dilation[i], rhs_dilation[i]) for i in range(nd))
    result = np.zeros((n, o) + outs, dtype=x.dtype)
    if result.size == 0 or c == 0:
        return result
    xp = _dilate_and_pad(x, padding, lhs_dilation)
    k_eff = tuple((k - 1) * d + 1 for k, d in zip(kern, rhs_dilation))
    axes = tuple(range(2, 2 + nd))
    win = sliding_window_view(xp, k_eff, axis=axes)            # (N, C, *span, *k_eff)
    win = win[(slice(None), slice(None))
              + tuple(slice(0, (p - 1) * s + 1, s) for p, s in zip(outs, window_strides))
              + tuple(slice(None, None, d) for d in rhs_dilation)]  # (N, C, *P, *K)
    cg, og = c // g, o // g
    contract_w = (1,) + tuple(range(2, 2 + nd))
    contract_x = (1,) + tuple(range(2 + nd, 2 + 2 * nd))
    for gi in range(g):  # (N, *P, Og) per group, one tensordot (a BLAS product) each
        part = np.tensordot(win[:, gi * cg:(gi + 1) * cg], w[gi * og:(gi + 1) * og],
                            axes=(contract_x, contract_w))
        result[:, gi * og:(gi + 1) * og] = np.moveaxis(part, -1, 1)
    return result


def argsort_stable(x, axis):
    """Stable ascending order along ``axis``, NaN last (NumPy's order; ties keep their
    positions, which is one of the answers NumPy's default quicksort may give)."""
    return np.argsort(x, axis=axis, kind="stable").astype(np.int64)
