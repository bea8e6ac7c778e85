"""Grad mode of the tensor front: ``no_grad``, ``enable_grad``, ``set_grad_enabled``,
``is_grad_enabled``. Invariant: one process-wide flag (``_GRAD_ENABLED[0]``), read when an
operation is recorded; every context manager restores the value it found on exit."""
from __future__ import annotations

import functools

_GRAD_ENABLED = [True]          # a list so context managers can save and restore it cheaply


class _GradMode:
    """Context manager and decorator setting whether new operations record gradients."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self._saved: list = []

    def __enter__(self):
        self._saved.append(_GRAD_ENABLED[0])
        _GRAD_ENABLED[0] = self.enabled
        return self

    def __exit__(self, *exc):
        _GRAD_ENABLED[0] = self._saved.pop()

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with _GradMode(self.enabled):
                return fn(*args, **kwargs)
        return wrapper


class no_grad(_GradMode):
    """``with tg.no_grad():`` operations record no gradient (results do not require grad).
    Also a decorator, with or without parentheses."""

    def __new__(cls, fn=None):
        if fn is not None:  # @tg.no_grad without parentheses
            return _GradMode(False)(fn)
        return super().__new__(cls)

    def __init__(self, fn=None):
        super().__init__(False)


class enable_grad(_GradMode):
    """``with tg.enable_grad():`` re-enables gradient recording inside ``no_grad``."""

    def __init__(self):
        super().__init__(True)


class set_grad_enabled(_GradMode):
    """``tg.set_grad_enabled(flag)``: takes effect at once; as a context manager it restores the
    previous mode on exit."""

    def __init__(self, mode: bool):
        super().__init__(bool(mode))
        self._prev = _GRAD_ENABLED[0]
        _GRAD_ENABLED[0] = bool(mode)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        _GRAD_ENABLED[0] = self._prev


def is_grad_enabled() -> bool:
    return _GRAD_ENABLED[0]
