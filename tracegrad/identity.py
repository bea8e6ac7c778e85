"""Identity of constant values: one total, sign-aware, NaN-reflexive key for literals, equation
parameters and static arguments, used by every pass and cache that merges "equal" constants.

Python's ``==`` is the wrong equality for that: ``0.0 == -0.0`` (the sign of zero, and through
division the sign of infinity, would be lost), ``nan != nan`` (a NaN would never equal itself,
so a cache keyed on it misses on every call) and ``1 == 1.0 == True`` (types would merge).
Invariant: two values with equal ``value_key`` give bit-identical results in every program.
"""
from __future__ import annotations

import struct

import numpy as np


def float_bits(v: float) -> int:
    """The IEEE-754 binary64 bit pattern of ``v`` (sign, exponent, payload: all of it)."""
    return struct.unpack("<Q", struct.pack("<d", v))[0]


def _plain(t, base) -> bool:
    """``t`` is ``base`` or a subclass that keeps ``base``'s equality (a namedtuple, an
    IntEnum): only then do we know what its ``==`` means and may refine it."""
    return t.__eq__ is base.__eq__ and t.__hash__ is base.__hash__


def value_key(v):
    """A hashable key equal for two values exactly when they are interchangeable constants.

    Numbers compare by type and bit pattern (``-0.0`` differs from ``0.0``; a NaN equals a NaN
    of the same bits; ``1``, ``1.0`` and ``True`` differ). Tuples, frozensets and slices are
    keyed element by element. NumPy scalars and arrays compare by dtype, shape and bytes.
    Anything else keeps its own ``==``/``hash`` (we cannot know what its equality means); it
    raises ``TypeError`` when unhashable, as ``hash`` does.
    """
    t = type(v)
    if t is float:  # the common case first
        return ("f", float_bits(v))
    if t is int or t is bool or t is str or v is None:
        return (t, v)
    if isinstance(v, np.generic):  # before float: np.float64 is a float subclass
        return ("np", v.dtype.str, v.tobytes())
    if isinstance(v, np.ndarray):
        return ("nd", v.dtype.str, v.shape, np.ascontiguousarray(v).tobytes())
    if isinstance(v, float) and _plain(t, float):
        return ("f", t, float_bits(v))
    if t is complex:
        return ("c", float_bits(v.real), float_bits(v.imag))
    if isinstance(v, tuple) and _plain(t, tuple):  # tuples, namedtuples (the type counts)
        return ("t", t, tuple(value_key(x) for x in v))
    if t is frozenset:
        return ("fs", frozenset(value_key(x) for x in v))
    if t is slice:
        return ("s", value_key(v.start), value_key(v.stop), value_key(v.step))
    hash(v)  # unhashable: TypeError, as a dict lookup would raise
    return ("o", t, v)


def same_value(a, b) -> bool:
    """``a`` and ``b`` are interchangeable constants (``value_key(a) == value_key(b)``)."""
    return value_key(a) == value_key(b)
