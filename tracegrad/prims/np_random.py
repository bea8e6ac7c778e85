"""Threefry-2x32 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011;
Random123's 20-round variant) in NumPy: the reference of the ``random_bits`` primitive and
what generated NumPy code calls (``rt.threefry_bits``). The C backend computes the same words
(codegen/c/random.py); tests/test_random.py checks both against Random123's known answers.

Invariant: the words are a pure function of the key's low 32 bits per word and the element
index, so every backend, every call and every pass (CSE, DCE) sees the same bits.
"""
from __future__ import annotations

import numpy as np

# Random123's rotation constants for 2x32 and the key-schedule parity constant
ROTATIONS = (13, 15, 26, 6, 17, 29, 16, 24)
PARITY = 0x1BD11BDA
ROUNDS = 20
MASK32 = 0xFFFFFFFF


def threefry2x32(k0, k1, c0, c1):
    """The two output words for key ``(k0, k1)`` and counter ``(c0, c1)`` (uint32 arrays of
    one shape; arithmetic wraps modulo 2**32 as the cipher wants)."""
    k0, k1, c0, c1 = (np.asarray(a, np.uint32) for a in (k0, k1, c0, c1))
    ks = (k0, k1, k0 ^ k1 ^ np.uint32(PARITY))
    x0, x1 = c0 + ks[0], c1 + ks[1]
    for r in range(ROUNDS):
        x0 = x0 + x1
        rot = ROTATIONS[r % 8]
        x1 = (x1 << np.uint32(rot)) | (x1 >> np.uint32(32 - rot))
        x1 = x1 ^ x0
        if r % 4 == 3:  # key injection after every four rounds
            i = r // 4 + 1
            x0 = x0 + ks[i % 3]
            x1 = x1 + ks[(i + 1) % 3] + np.uint32(i)
    return x0, x1


def threefry_bits(key, shape) -> np.ndarray:
    """``prod(shape)`` 32-bit words (int64 values in [0, 2**32)) for ``key`` (two integers;
    their low 32 bits are the cipher key): block ``j`` encrypts the counter ``(j mod 2**32,
    j >> 32)`` and gives words ``2j`` and ``2j + 1``."""
    shape = tuple(int(d) for d in shape)
    n = int(np.prod(shape, dtype=np.int64))
    k = np.asarray(key).astype(np.int64) & MASK32
    blocks = np.arange((n + 1) // 2, dtype=np.int64)
    # shape-(1,) keys: array arithmetic wraps silently (NumPy scalars would warn on overflow)
    k0 = np.full(1, k[0], np.uint32)
    k1 = np.full(1, k[1], np.uint32)
    y0, y1 = threefry2x32(k0, k1, (blocks & MASK32).astype(np.uint32),
                          (blocks >> 32).astype(np.uint32))
    words = np.empty(2 * len(blocks), np.int64)
    words[0::2] = y0
    words[1::2] = y1
    return words[:n].reshape(shape)
