"""NumPy lowering of ``random_bits`` (tracegrad/prims/random.py): a call of the reference
Threefry-2x32 (``rt.threefry_bits``), so the NumPy backend's bits are the interpreter's."""
from __future__ import annotations

from tracegrad.prims.random import random_bits_p

from .numpy_lowerings import register_lowering

register_lowering(random_bits_p, lambda ins, out_avals, shape:
                  f"rt.threefry_bits({ins[0]}, {tuple(int(d) for d in shape)!r})")
