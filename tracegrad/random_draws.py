"""Distributions built from the ``random_bits`` primitive's 32-bit words on an explicit key
(the functions ``tg.random`` exports; np.random calls inside traced code come here through
random_numpy.py). Written with NumPy operators, so one definition runs eagerly on an array key
and traces on a traced one.

Invariants: a float64 uniform carries 53 random bits (two words), a float32 one 23; the
open-interval uniforms used under logarithms never reach 0 or 1, so every draw is finite; a
draw is a pure function of its key (equal keys, equal numbers, on every backend).
"""
from __future__ import annotations

import numpy as np

from . import dtypes
from .errors import ArgumentError
from .prims.random import random_bits_p
from .tracer import Tracer, bind

MASK32 = 0xFFFFFFFF
_GOLDEN = 0x9E3779B9  # fold_in's offset of the first key word (keeps fold_in(k, 0) off split(k))


# --- keys -----------------------------------------------------------------------------------
def key(seed) -> np.ndarray:
    """A key (int64 array of shape (2,), each word in [0, 2**32)) from an integer seed: its
    high and low 32 bits (a traced seed too, so a compiled key equals the eager one)."""
    if isinstance(seed, Tracer):
        if seed.shape != () or not dtypes.is_int(seed.dtype):
            raise ArgumentError(f"tg.random.key needs one integer seed, got a traced "
                                f"{seed.dtype}{list(seed.shape)}")
        s = seed.astype(np.int64)
        hi, lo = (s // 2 ** 32) % 2 ** 32, s % 2 ** 32  # floored: the words of s mod 2**64
        return hi * np.array([1, 0], np.int64) + lo * np.array([0, 1], np.int64)
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise ArgumentError(f"tg.random.key needs an integer seed, got {seed!r}")
    s = int(seed) & ((1 << 64) - 1)
    return np.array([s >> 32, s & MASK32], dtype=np.int64)


def check_key(k, what: str = "key"):
    """``k`` as an operand of ``random_bits``: shape (2,), an integer dtype."""
    if not isinstance(k, Tracer):
        k = np.asarray(k)
        if k.shape != (2,) or k.dtype.kind not in "iu":
            raise ArgumentError(f"{what} must be an integer array of shape (2,) (made by "
                                f"tg.random.key(seed)), got {k.dtype}{list(k.shape)}")
        k = k.astype(np.int64)
    return k


def bits(k, shape) -> np.ndarray:
    """``prod(shape)`` 32-bit words (int64 in [0, 2**32)) of the counter-based generator."""
    return bind(random_bits_p, check_key(k), shape=_shape(shape))


def split(k, num: int = 2):
    """``num`` new keys (shape ``(num, 2)``), independent of each other and of ``k``'s draws."""
    return bits(k, (int(num), 2))


def fold_in(k, data):
    """A new key from ``k`` and an integer (Python or traced; its low 32 bits count)."""
    k = check_key(k)
    if isinstance(data, Tracer):
        mixed = k + np.array([_GOLDEN, 0], np.int64) + \
            data.astype(np.int64) * np.array([0, 1], np.int64)
    else:
        mixed = k + np.array([_GOLDEN, int(data) & MASK32], np.int64)
    return bits(mixed, (2,))


def _shape(shape) -> tuple[int, ...]:
    if shape is None:
        return ()
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    try:
        out = tuple(int(d) for d in shape)
    except TypeError:
        raise ArgumentError(f"a random draw's shape must be ints, got {shape!r}") from None
    if any(d < 0 for d in out):
        raise ArgumentError(f"a random draw's shape has a negative size: {out}")
    return out


def _float(dtype) -> np.dtype:
    dt = dtypes.canonical(dtype, what="a random draw")
    if not dtypes.is_float(dt):
        raise ArgumentError(f"this random draw gives floats; dtype={dt} is not one")
    return dt


# --- uniforms ---------------------------------------------------------------------------------
def _mantissas(k, shape, dt, per: int = 1):
    """``per`` integers per element, uniform on [0, 2**53) (float64) or [0, 2**23) (float32),
    shape ``shape + (per,)`` (exact in the float type)."""
    if dt == dtypes.float64:
        w = bits(k, shape + (per, 2))
        # 27 high bits of one word and 26 of the other: 53 bits, all exact in int64 and double
        return (w[..., 0] // 32) * 2 ** 26 + w[..., 1] // 64
    return bits(k, shape + (per,)) // 512


def _scale(dt) -> float:
    return 2.0 ** -53 if dt == dtypes.float64 else 2.0 ** -23


def _unit(m, dt, open_: bool):
    """Mantissas as floats in [0, 1) (``open_``: in (0, 1), centred in their cells)."""
    f = m.astype(dt)
    if open_:
        f = f + dt.type(0.5)
    return f * dt.type(_scale(dt))


def uniform(k, shape=(), dtype=np.float64, minval=0.0, maxval=1.0):
    """Uniform on [minval, maxval)."""
    dt = _float(dtype)
    u = _unit(_mantissas(k, _shape(shape), dt)[..., 0], dt, False)
    if isinstance(minval, (int, float)) and isinstance(maxval, (int, float)):
        if (minval, maxval) == (0.0, 1.0):
            return u
        return dt.type(minval) + dt.type(maxval - minval) * u
    return minval + (maxval - minval) * u


def uniform_open(k, shape=(), dtype=np.float64):
    """Uniform on the open interval (0, 1): never 0 or 1, so logarithms stay finite."""
    dt = _float(dtype)
    return _unit(_mantissas(k, _shape(shape), dt)[..., 0], dt, True)


# --- continuous distributions ------------------------------------------------------------------
def normal(k, shape=(), dtype=np.float64):
    """Standard normal by Box-Muller: sqrt(-2 log u1) cos(2 pi u2), u1 in (0, 1)."""
    dt = _float(dtype)
    m = _mantissas(k, _shape(shape), dt, per=2)
    u1 = _unit(m[..., 0], dt, True)
    u2 = _unit(m[..., 1], dt, False)
    return np.sqrt(dt.type(-2.0) * np.log(u1)) * np.cos(dt.type(2 * np.pi) * u2)


def exponential(k, shape=(), dtype=np.float64):
    """Standard exponential: -log(u), u in (0, 1)."""
    return -np.log(uniform_open(k, shape, dtype))


def gumbel(k, shape=(), dtype=np.float64):
    """Standard Gumbel: -log(-log(u)), u in (0, 1)."""
    return -np.log(-np.log(uniform_open(k, shape, dtype)))


# --- discrete distributions --------------------------------------------------------------------
def bernoulli(k, p=0.5, shape=None):
    """True with probability ``p`` (shape: ``shape``, or ``p``'s)."""
    shape = np.shape(p) if shape is None else _shape(shape)
    return uniform(k, shape) < p


def binomial(k, n, p, shape=None, dtype=np.int64):
    """Successes in ``n`` trials of probability ``p``: the count of ``n`` Bernoulli draws, so
    ``n`` must be a Python int (it sets the work: n uniforms per element)."""
    if isinstance(n, Tracer) or isinstance(n, np.ndarray) and n.ndim > 0 or \
            not isinstance(n, (int, np.integer)) or isinstance(n, bool):
        raise ArgumentError("binomial: n must be one Python int inside a traced function (the "
                            f"draw counts n Bernoulli trials), got {n!r}")
    n = int(n)
    if n < 0:
        raise ArgumentError(f"binomial: n must be >= 0, got {n}")
    shape = np.shape(p) if shape is None else _shape(shape)
    u = uniform(k, shape + (n,))
    hits = u < np.expand_dims(p, -1) if np.ndim(p) else u < p
    return np.sum(hits.astype(dtypes.canonical(dtype)), axis=-1)


def integers(k, minval, maxval=None, shape=(), dtype=np.int64):
    """Integers uniform on [minval, maxval) (``maxval`` None: [0, minval)), from 53-bit
    uniforms: the bias is below (maxval - minval) / 2**53."""
    if maxval is None:
        minval, maxval = 0, minval
    dt = dtypes.canonical(dtype, what="integers")
    if not dtypes.is_int(dt):
        raise ArgumentError(f"integers: dtype must be an integer type, got {dt}")
    if not isinstance(minval, Tracer) and not isinstance(maxval, Tracer) and \
            np.any(np.asarray(maxval) <= np.asarray(minval)):
        raise ArgumentError(f"integers: low >= high ({minval} >= {maxval})")
    if not isinstance(minval, Tracer) and not isinstance(maxval, Tracer) and \
            np.any(np.asarray(maxval, np.float64) - np.asarray(minval, np.float64) > 2.0 ** 53):
        raise ArgumentError(f"integers: the range [{minval}, {maxval}) is wider than 2**53, "
                            "more than a 53-bit uniform can reach evenly")
    u = uniform(k, _shape(shape))
    span = maxval - minval
    # floor(u * span) < span for every 53-bit u < 1 and span < 2**53
    return (np.floor(u * span) + minval).astype(dt)


# --- orderings -------------------------------------------------------------------------------
def _ranks(k, n: int):
    """A uniformly random permutation of range(n): the ranks of n random 53-bit integers
    (ties, of probability ~ n**2 / 2**54, broken by position, so it is always a permutation).
    O(n**2) comparisons: sizes up to a few thousand."""
    v = _mantissas(k, (n,), dtypes.float64)[..., 0]
    pos = np.arange(n)
    before = (v[None, :] < v[:, None]) | ((v[None, :] == v[:, None]) &
                                          (pos[None, :] < pos[:, None]))
    return np.sum(before.astype(np.int64), axis=1)


def _static_n(x, what: str) -> int:
    if isinstance(x, Tracer) and x.ndim == 0:
        raise ArgumentError(f"{what}: the size must be a Python int inside a traced function "
                            "(the result's shape depends on it)")
    return int(x)


def permutation(k, x, axis: int = 0):
    """A shuffled copy of ``x`` along ``axis`` (an int ``x``: a permutation of range(x))."""
    if np.ndim(x) == 0:
        return _ranks(k, _static_n(x, "permutation"))
    ax = axis % np.ndim(x)
    perm = _ranks(k, np.shape(x)[ax])
    return np.take(x, perm, axis=ax)


def shuffle(k, x, axis: int = 0):
    """``permutation(k, x, axis)``: a shuffled copy (traced arrays are immutable)."""
    return permutation(k, x, axis)


def choice(k, a, shape=(), replace: bool = True, p=None, axis: int = 0):
    """Elements of ``a`` (an int: of range(a)) along ``axis``: with replacement by inverse
    CDF; without, the first entries of a random permutation, or with ``p`` the Gumbel top-k
    (Vieira 2014), which draws without replacement in proportion to ``p``."""
    shape = _shape(shape)
    if np.ndim(a) == 0:
        n, pool = _static_n(a, "choice"), None
    else:
        n, pool = np.shape(a)[axis], a
    count = int(np.prod(shape, dtype=np.int64))
    if n == 0 and count:
        raise ArgumentError("choice: cannot take a sample from an empty population")
    if replace:
        if p is None:
            idx = integers(k, 0, n, shape)
        else:
            cdf = np.cumsum(p)
            u = uniform(k, shape) * cdf[-1]
            idx = np.minimum(np.sum((cdf <= u[..., None]).astype(np.int64), axis=-1), n - 1)
    else:
        if count > n:
            raise ArgumentError(f"choice: cannot take {count} samples from {n} without "
                                "replacement")
        if p is None:
            idx = _ranks(k, n)[:count]
        else:
            score = np.log(p) + gumbel(k, (n,))
            pos = np.arange(n)
            # rank by descending score; the element of rank r is sum_i i [rank_i == r]
            rank = np.sum(((score[None, :] > score[:, None]) |
                           ((score[None, :] == score[:, None]) &
                            (pos[None, :] < pos[:, None]))).astype(np.int64), axis=1)
            r = np.arange(count)
            idx = np.sum(pos[:, None] * (rank[:, None] == r[None, :]).astype(np.int64), axis=0)
        idx = idx.reshape(shape)
    if pool is None:
        return idx
    return np.take(pool, idx, axis=axis)
