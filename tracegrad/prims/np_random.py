"""Threefry-2x32 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011;
Random123's 20-round variant) in NumPy: the reference of the ``random_bits`` primitive and
what generated NumPy code calls (``rt.threefry_bits``). The C backend computes the same words
(codegen/c/random.py); tests/test_random.py checks both against Random123's known answers.

Invariant: the words are a pure function of the key's low 32 bits per word and the element
index, so every backend, every call and every pass (CSE, DCE) sees the same bits.
"""
from __future__ import annotations

import math

import numpy as np

# Random123's rotation constants for 2x32 and the key-schedule parity constant
ROTATIONS = (13, 15, 26, 6, 17, 29, 16, 24)
PARITY = 0x1BD11BDA
ROUNDS = 20
MASK32 = 0xFFFFFFFF


def threefry2x32(k0, k1, c0, c1):
    """The two output words for key ``(k0, k1)`` and counter ``(c0, c1)`` (uint32 arrays that
    broadcast together; arithmetic wraps modulo 2**32 as the cipher wants). In-place ufuncs:
    a temporary per operation would double the time of a large draw."""
    k0, k1, c0, c1 = (np.asarray(a, np.uint32) for a in (k0, k1, c0, c1))
    ks = (k0, k1, k0 ^ k1 ^ np.uint32(PARITY))
    x0, x1 = np.add(c0, ks[0]), np.add(c1, ks[1])
    x0, x1 = np.broadcast_arrays(x0, x1)
    x0, x1 = x0.copy(), x1.copy()
    t = np.empty_like(x1)
    for r in range(ROUNDS):
        rot = ROTATIONS[r % 8]
        np.add(x0, x1, out=x0)
        np.left_shift(x1, np.uint32(rot), out=t)
        np.right_shift(x1, np.uint32(32 - rot), out=x1)
        np.bitwise_or(x1, t, out=x1)
        np.bitwise_xor(x1, x0, out=x1)
        if r % 4 == 3:  # key injection after every four rounds
            i = r // 4 + 1
            np.add(x0, ks[i % 3], out=x0)
            np.add(x1, ks[(i + 1) % 3] + np.uint32(i), out=x1)
    return x0, x1


def _unrolled_source() -> str:
    """Source of ``_threefry_py``: the rounds written out (a loop costs ~4x as much here)."""
    lines = ["def _threefry_py(k0, k1, c0, c1):",
             f"    k2 = k0 ^ k1 ^ {PARITY}",
             f"    x0 = (c0 + k0) & {MASK32}; x1 = (c1 + k1) & {MASK32}"]
    for r in range(ROUNDS):
        rot = ROTATIONS[r % 8]
        lines.append(f"    x0 = (x0 + x1) & {MASK32}; "
                     f"x1 = (((x1 << {rot}) | (x1 >> {32 - rot})) & {MASK32}) ^ x0")
        if r % 4 == 3:
            i = r // 4 + 1
            lines.append(f"    x0 = (x0 + k{i % 3}) & {MASK32}; "
                         f"x1 = (x1 + k{(i + 1) % 3} + {i}) & {MASK32}")
    lines.append("    return x0, x1")
    return "\n".join(lines) + "\n"


# ``_threefry_py(k0, k1, c0, c1)``: one block in Python ints, for the small draws a traced
# program makes per call (a key fold, a few numbers), where ~100 ufunc calls on tiny arrays
# cost ~30x more than this straight-line code
_namespace: dict = {}
exec(compile(_unrolled_source(), "<threefry2x32 unrolled>", "exec"), _namespace)  # noqa: S102
_threefry_py = _namespace["_threefry_py"]


SMALL_BLOCKS = 24  # up to this many blocks, Python ints are faster than NumPy arrays


def threefry_bits(key, shape) -> np.ndarray:
    """``prod(shape)`` 32-bit words (int64 values in [0, 2**32)) for ``key`` (two integers;
    their low 32 bits are the cipher key): block ``j`` encrypts the counter ``(j mod 2**32,
    j >> 32)`` and gives words ``2j`` and ``2j + 1``. A batch of keys ``(..., 2)`` gives one
    such draw per key, shape ``key.shape[:-1] + shape``."""
    key = np.asarray(key)
    shape = tuple(int(d) for d in shape)
    if key.ndim > 1:
        draws = [_one_key(k, shape) for k in key.reshape(-1, 2)]
        return np.array(draws, np.int64).reshape(key.shape[:-1] + shape)
    return _one_key(key, shape)


def _one_key(key, shape) -> np.ndarray:
    n = math.prod(shape)
    k0, k1 = (int(v) & MASK32 for v in key.tolist())
    nblocks = (n + 1) // 2
    if nblocks <= SMALL_BLOCKS:
        words = [w for j in range(nblocks) for w in _threefry_py(k0, k1, j, 0)]
        return np.array(words[:n], np.int64).reshape(shape)
    blocks = np.arange(nblocks, dtype=np.int64)
    # shape-(1,) keys: array arithmetic wraps silently (NumPy scalars would warn on overflow)
    y0, y1 = threefry2x32(np.full(1, k0, np.uint32), np.full(1, k1, np.uint32),
                          (blocks & MASK32).astype(np.uint32),
                          (blocks >> 32).astype(np.uint32))
    words = np.empty(2 * len(blocks), np.int64)
    words[0::2] = y0
    words[1::2] = y1
    return words[:n].reshape(shape)
