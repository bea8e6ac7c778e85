"""Index bounds of ``gather`` and ``scatter_add`` on the NumPy side (the reference ``impl`` and
``rt.gather``/``rt.scatter_add`` in generated NumPy code).

The primitives' contract is NumPy's: an index ``v`` into an axis of size ``n`` is valid when
``-n <= v < n`` (negative values count from the end); anything else raises ``IndexError``, never
wraps a second time or clamps. NumPy itself raises, but names neither the user's line nor the
fix, and for a ``take`` along axis 1 it names the axis of the transposed operand the gather
sees. So the check is made here, first bad value in row-major order of the index array, with
the same message as the C backend (codegen/c/bounds.py): both backends report the same value.
"""
from __future__ import annotations

import numpy as np

from ..errors import TracedIndexError
from .np_source import generated_line_src

# what the user wrote that became each primitive (the message names it)
_WHAT = {"gather": "a gather: x[i], np.take, np.take_along_axis, a sort",
         "scatter_add": "a scatter: x.at[i], or the gradient of x[i]"}


def index_error(name: str, value: int, size: int, src: str | None = None) -> TracedIndexError:
    """The error for ``value`` indexing an axis of ``size`` in primitive ``name``."""
    what = _WHAT.get(name, name)
    if size == 0:
        fix = "the axis is empty, so no index is valid: check the array's size first"
    else:
        fix = (f"valid indices are {-size} to {size - 1}; clip them (np.clip(i, 0, {size - 1})) "
               f"or wrap them (i % {size}) if that is what is meant, or fix how they are computed")
    return TracedIndexError(f"index {value} is out of bounds for an axis with size {size} "
                            f"({what}); {fix}", src=src)


def first_out_of_range(shape, indices):
    """``(value, size)`` of the first index of ``indices`` (``(..., k)``: component ``j``
    indexes axis ``j`` of ``shape``) outside ``[-size, size)``, in row-major order; or None."""
    indices = np.asarray(indices)
    k = indices.shape[-1]
    if indices.size == 0:
        return None
    dims = np.asarray(shape[:k], dtype=np.int64)
    bad = (indices < -dims) | (indices >= dims)
    if not bad.any():
        return None
    flat = int(np.flatnonzero(bad)[0])
    return int(indices.reshape(-1)[flat]), int(dims[flat % k])


def check_in_range(name: str, shape, indices) -> None:
    """Raise ``TracedIndexError`` if an index of ``indices`` is outside its axis of ``shape``."""
    bad = first_out_of_range(shape, indices)
    if bad is not None:
        raise index_error(name, *bad, src=generated_line_src(__file__))


