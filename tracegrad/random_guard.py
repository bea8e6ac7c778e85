"""Refuse the ``np.random`` draws made while this thread traces a function that tracegrad
cannot trace (issue 11, item 8): their numbers would be frozen into the compiled program and
repeat on every call. The samplers tracegrad does trace are wrapped by random_numpy.py (which
``install`` sets up too); this guard catches every other path into a NumPy bit generator.

Mechanism: every NumPy random draw, through ``RandomState``, ``Generator`` or the ``np.random``
module functions, holds its bit generator's ``lock`` for the draw (NumPy's Cython code runs
``with self.lock``). A bit generator makes that lock by calling the name ``RLock`` of
``numpy.random.bit_generator`` when it is created; ``install`` points that name at
``GuardedRLock``, whose ``__enter__`` raises ``TracedRandomError`` when the current thread
has an active trace, and otherwise is ``threading.RLock``. The check is per thread
(other threads drawing eagerly are untouched), needs no patch to restore, and costs one
thread-local lookup per draw. The global ``RandomState`` behind ``np.random.rand`` & co. was
made before this module loaded: ``install`` gives it a guarded bit generator of the same kind
and state, so its sequence continues unchanged. Limitation: a ``RandomState`` or
``Generator`` created before ``import tracegrad`` keeps an unguarded lock and NumPy's own
(untraced) methods.
"""
from __future__ import annotations

import _thread
import contextlib

import numpy as np
from numpy.random import bit_generator as _bit_generator_module

from .errors import TracedRandomError
from .random_host import CAPTURING
from .source_info import user_src_with_text
from .thread_local import ThreadLocalList
from .tracer import is_tracing

_ALLOWED = ThreadLocalList()  # non-empty: this thread's draws are deliberate (draws_allowed)


@contextlib.contextmanager
def draws_allowed():
    """Let this thread draw while tracing: a generator made inside the traced function is
    read once for its (per-call constant) key (random_host.next_key)."""
    _ALLOWED.append(True)
    try:
        yield
    finally:
        _ALLOWED.pop()


class GuardedRLock(_thread.RLock):
    """``threading.RLock`` (its C type, subclassed so releasing stays C code) that refuses to
    be taken by a thread that is tracing."""

    __slots__ = ()

    def __enter__(self, _acquire=_thread.RLock.acquire):
        # tracing, or a tg.compile step being captured (its top is None while a draw the
        # capture handles runs: tensor/drawn.py)
        cap = CAPTURING.items
        if (is_tracing() or (cap and cap[-1] is not None)) and not _ALLOWED:
            _refuse()
        return _acquire(self)

    def acquire(self, blocking: bool = True, timeout: float = -1,
                _acquire=_thread.RLock.acquire):
        cap = CAPTURING.items
        if (is_tracing() or (cap and cap[-1] is not None)) and not _ALLOWED:
            _refuse()
        return _acquire(self, blocking, timeout)


def _refuse():
    if not is_tracing():  # a tg.compile step being captured (tensor/drawn.py)
        raise TracedRandomError(
            "a random draw from np.random that a tg.compile step cannot redraw at each replay "
            "(np.random.seed or set_state inside the step, a RandomState/Generator made before "
            "`import tracegrad` or NumPy's own class, a library's sampler such as SciPy's "
            "rvs): its numbers would be frozen into the compiled program. Seed before calling "
            "the step; draw with tg.randn/tg.rand, np.random.* or a generator made by "
            "np.random.default_rng after `import tracegrad`; or draw outside the step and pass "
            "the noise in as an argument", src=user_src_with_text(3))
    raise TracedRandomError(
        "a random draw from np.random that tracegrad cannot trace (a sampler it does not "
        "support, np.random.seed, or a RandomState/Generator made before `import tracegrad`) "
        "while tracing: its numbers would be computed once, frozen into the compiled program "
        "and repeated on every call. Draw the noise outside and pass it as an argument: "
        "def f(w, noise): ...; f(w, rng.standard_normal(3)), or use tg.random with an "
        "explicit key (docs/random.md)",
        src=user_src_with_text(3))


def install() -> None:
    """Make new bit generators use ``GuardedRLock``, guard the global ``RandomState``, and
    wrap the samplers tracegrad traces (random_numpy.install)."""
    from . import random_numpy
    random_numpy.install()
    if _bit_generator_module.RLock is GuardedRLock:
        return
    _bit_generator_module.RLock = GuardedRLock
    rs = np.random.mtrand._rand
    old = rs._bit_generator
    if isinstance(old.lock, GuardedRLock):
        return
    state = rs.get_state(legacy=False)  # includes the cached Gaussian of legacy draws
    new = type(old)()
    np.random.set_bit_generator(new)
    rs.set_state(state)
