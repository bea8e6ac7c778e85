"""``random_bits``: the one random primitive. A counter-based generator (Threefry-2x32, see
np_random.py) maps a key to ``prod(shape)`` 32-bit words, so a draw is a pure function of its
key: every backend gives the same bits, CSE may merge equal draws and DCE may drop unused ones.

Distributions are built from these words by ordinary primitives (tracegrad/random_draws.py);
the words carry no derivative (``nondiff``), while a reparameterised draw such as
``mu + sigma * z`` is differentiable in ``mu`` and ``sigma`` through its arithmetic.
"""
from __future__ import annotations

from .. import dtypes
from ..errors import DTypeError, ShapeError
from ..primitive import Primitive, Traits, defbatch
from .common import aval
from .np_random import threefry_bits


def _random_bits_rule(key, *, shape):
    if key.ndim < 1 or key.shape[-1] != 2:
        raise ShapeError(f"random_bits: a key has shape (2,) (a batch of keys: (..., 2)), got "
                         f"{key.shape} (make one with tg.random.key(seed))")
    if not dtypes.is_int(key.dtype):
        raise DTypeError(f"random_bits: the key must be int32 or int64, got {key.dtype}")
    if any(int(d) < 0 for d in shape):
        raise ShapeError(f"random_bits: negative size in {tuple(shape)}")
    return [aval(tuple(key.shape[:-1]) + tuple(shape), dtypes.int64)]


random_bits_p = Primitive(
    "random_bits", kind="source", abstract_eval=_random_bits_rule,
    impl=lambda key, *, shape: threefry_bits(key, shape),
    nondiff=True,
    doc="random_bits[shape] key: 32-bit words (int64 in [0, 2**32)) of Threefry-2x32 on key "
        "(a batch of keys (..., 2): one draw of shape per key)",
    # never folded: a constant key would only turn into a large constant array
    traits=Traits(foldable=False))


def _batch(args, batched, size, *, shape):
    # vmap over keys (tg.vmap(f)(tg.random.split(key, n))): the batch of keys leads the key
    return random_bits_p.bind(args[0], shape=shape)


defbatch(random_bits_p, _batch)
