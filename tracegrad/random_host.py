"""Host generators feeding traced draws: a draw from ``np.random`` (or a ``RandomState`` /
``Generator``) inside a traced function reads a hidden key input of the compiled program, and
the executable fills that input at each call with two fresh words drawn from the same host
generator, advancing it. So ``np.random.seed(0)`` makes a program reproducible and two calls
differ, as in eager NumPy (the numbers themselves are the Threefry stream, not NumPy's).

Invariant: the hidden inputs follow the argument leaves, one per host generator in the order
the trace first drew from it; ``Traced.host_random`` lists those generators in that order.
"""
from __future__ import annotations

import contextlib

import numpy as np

from . import dtypes
from .errors import TracedRandomError
from .ir import AVal
from .source_info import user_src_with_text
from .thread_local import ThreadLocalList
from .tracer import active_traces

_BaseGenerator = np.random._generator.Generator
_BaseRandomState = np.random.mtrand.RandomState

# A tg.compile capture (or a tensor loop body being recorded) in this thread, innermost last;
# ``None`` on top while a draw the capture already handles runs (tensor/drawn.py). The np.random
# wrappers (random_numpy.py) and the bit-generator lock (random_guard.py) read it: a draw
# during a capture must be redrawn at each replay, never frozen into the program.
CAPTURING = ThreadLocalList()


_CAPTURE_HANDLER: list = []  # the tensor front's handler of such draws (tensor/drawn.py)


def capturing():
    """The capture a host draw made now belongs to, or None."""
    items = CAPTURING.items
    return items[-1] if items else None


def on_captured_draw(handler) -> None:
    """Register ``handler(gen, what, call, args, kwargs)``: the front above this layer that
    turns a draw made during a capture into one every replay makes again."""
    _CAPTURE_HANDLER[:] = [handler]


def captured_draw(gen, what: str, call, args, kwargs):
    """``call(*args, **kwargs)``, a sampler of host generator ``gen``, made during a capture."""
    return _CAPTURE_HANDLER[0](gen, what, call, args, kwargs)


class HostRandom:
    """One top-level trace's host-random state (``TraceContext.host_random``, set by
    ``staging.trace``): the generators read (with their key tracers) and the draws so far."""

    def __init__(self):
        self.sources: list = []     # (generator, key tracer): hidden inputs, in order
        self.constant: dict = {}    # id(generator) -> (generator, key): made inside the trace
        self.count = 0              # draws so far: draw i uses fold_in(key, i)

    def generators(self) -> tuple:
        return tuple(g for g, _ in self.sources)


def next_key(gen, what: str):
    """The key of the next draw from host generator ``gen`` inside the current trace."""
    from .random_draws import fold_in
    traces = active_traces()
    root = traces[0]
    host = getattr(root, "host_random", None)
    if host is None:
        raise TracedRandomError(
            f"{what} inside a function traced by the PyTorch-style front or a tg.Function "
            "body: there the draw cannot read a fresh key at each call. Draw outside and pass "
            "the noise in, or use tg.random with an explicit key (tg.random.normal(key, shape))",
            src=user_src_with_text(4))
    if getattr(gen, "_tg_made_in_trace", False):
        # made inside the traced function: each call would make it afresh from the same seed,
        # so its numbers are the same at every call: a constant key, drawn from it now
        hit = host.constant.get(id(gen))
        if hit is None:
            from .random_guard import draws_allowed
            with draws_allowed():
                hit = (gen, host_key(gen))
            host.constant[id(gen)] = hit
        base = hit[1]
    else:
        for g, t in host.sources:
            if g is gen:
                base = t
                break
        else:
            base = root.new_input(AVal((2,), dtypes.int64))
            host.sources.append((gen, base))
    i = host.count
    host.count += 1
    return fold_in(base, i)


def host_key(gen) -> np.ndarray:
    """Two words from host generator ``gen`` (a ``RandomState`` or a ``Generator``), advancing
    it: the key of one call."""
    # NumPy's own methods (np.random's names are the tracing subclasses: random_numpy.py)
    if isinstance(gen, _BaseGenerator):
        return _BaseGenerator.integers(gen, 0, 1 << 32, size=2, dtype=np.int64)
    return _BaseRandomState.randint(gen, 0, 1 << 32, size=2, dtype=np.int64)


# tg.vjp runs its forward and its pullback as two programs: the pullback must see the noise
# the forward drew, so vjp records the forward's keys and replays them (see ``keys_for``)
_RECORD = ThreadLocalList()
_REPLAY = ThreadLocalList()


@contextlib.contextmanager
def recording():
    """Collects the keys every keyed call inside draws (a list, in call order)."""
    keys: list = []
    _RECORD.append(keys)
    try:
        yield keys
    finally:
        _RECORD.pop()


@contextlib.contextmanager
def replaying(keys: list):
    """Calls inside use ``keys`` (recorded by ``recording``) instead of fresh ones."""
    _REPLAY.append(list(keys))
    try:
        yield
    finally:
        _REPLAY.pop()


def keys_for(sources: tuple) -> list:
    """The hidden key inputs of one call: fresh words from each source (or replayed ones)."""
    if _REPLAY.items and _REPLAY[-1]:
        keys = _REPLAY[-1].pop(0)
        if len(keys) == len(sources):
            return keys
    keys = [host_key(g) for g in sources]
    if _RECORD.items:
        _RECORD[-1].append(keys)
    return keys


class HostKeyed:
    """An executable whose program reads hidden key inputs: each call appends fresh keys
    drawn from the host generators. Everything else is the wrapped executable's."""

    def __init__(self, executable, sources: tuple):
        self._executable = executable
        self.host_sources = sources

    def __call__(self, *args):
        return self._executable(*args, *keys_for(self.host_sources))

    def __getattr__(self, name):
        return getattr(self._executable, name)


def with_host_keys(executable, sources: tuple):
    return HostKeyed(executable, sources) if sources else executable
