"""NumPy's rearranging helpers written on the existing families (issue 17 item 4): append,
vsplit/hsplit/dsplit, row_stack (with NumPy's keywords), rot90, rollaxis. Each is a
composition of slices, transposes, flips and concatenations, so gradients come for free.
"""
from __future__ import annotations

from ..errors import ShapeError
from ..source_info import user_src_with_text
from .registry import _public
from .arguments import _norm_axis, _static_int
from .promotion import _as_array, _as_operand, _shape


@_public
def append(arr, values, axis=None):
    """np.append: ``arr`` and ``values`` flattened and joined, or joined along ``axis``."""
    arr, values = _as_array(arr), _as_array(values)
    if axis is None:
        return concatenate([ravel(arr), ravel(values)], axis=0)
    return concatenate([arr, values], axis=axis)


def _split_along(name, ary, indices_or_sections, axis, min_ndim):
    a = _as_operand(ary)
    if len(_shape(a)) < min_ndim:
        raise ShapeError(f"np.{name} only works on arrays of {min_ndim} or more dimensions "
                         f"(got shape {_shape(a)})", src=user_src_with_text(4))
    return split(a, indices_or_sections, axis)


@_public
def vsplit(ary, indices_or_sections):
    return _split_along("vsplit", ary, indices_or_sections, 0, 2)


@_public
def hsplit(ary, indices_or_sections):
    a = _as_operand(ary)
    nd = len(_shape(a))
    if nd == 0:
        raise ShapeError("np.hsplit only works on arrays of 1 or more dimensions",
                         src=user_src_with_text(3))
    return split(a, indices_or_sections, 1 if nd > 1 else 0)


@_public
def dsplit(ary, indices_or_sections):
    return _split_along("dsplit", ary, indices_or_sections, 2, 3)


@_public
def row_stack(tup, *, dtype=None, casting="same_kind"):
    """np.row_stack (NumPy's deprecated alias of vstack) with vstack's ``dtype``/``casting``."""
    return vstack(tup, dtype=dtype, casting=casting)


@_public
def rot90(m, k=1, axes=(0, 1)):
    """np.rot90: k quarter turns in the plane of ``axes``, from the first axis to the second."""
    m = _as_array(m)
    nd = len(_shape(m))
    axes = tuple(axes)
    if len(axes) != 2:
        raise ShapeError("len(axes) must be 2.", src=user_src_with_text(3))
    if nd < 2:
        raise ShapeError(f"np.rot90 needs an array of 2 or more dimensions (got shape "
                         f"{_shape(m)})", src=user_src_with_text(3))
    a0, a1 = (_norm_axis(a, nd, "axes") for a in axes)
    if a0 == a1:
        raise ShapeError("Axes must be different.", src=user_src_with_text(3))
    k = _static_int(k, "k of np.rot90") % 4
    if k == 0:
        return m[...]
    if k == 2:
        return flip(flip(m, a0), a1)
    perm = list(range(nd))
    perm[a0], perm[a1] = perm[a1], perm[a0]
    # one turn flips the second axis then swaps the two; three turns swap then flip it
    return transpose(flip(m, a1), perm) if k == 1 else flip(transpose(m, perm), a1)


@_public
def rollaxis(a, axis, start=0):
    """np.rollaxis: move ``axis`` to sit before position ``start`` (NumPy's index rules)."""
    a = _as_array(a)
    n = len(_shape(a))
    axis = _norm_axis(axis, n)
    start = _static_int(start, "start of np.rollaxis")
    if start < 0:
        start += n
    if not 0 <= start < n + 1:
        raise ShapeError(f"'start' arg requires {-n} <= start < {n + 1}, but {start} was passed "
                         "in", src=user_src_with_text(3))
    if axis < start:
        start -= 1  # the axis' own removal shifts the later positions left
    if axis == start:
        return a[...]
    perm = [i for i in range(n) if i != axis]
    perm.insert(start, axis)
    return transpose(a, perm)


__all__ = ["append", "dsplit", "hsplit", "rollaxis", "rot90", "row_stack", "vsplit"]

# The families call one another: siblings are imported after the definitions.
from .manipulation import (concatenate, flip, ravel, split, transpose,  # noqa: E402
                           vstack)
