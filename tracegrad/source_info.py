"""Find the user's ``file:line`` behind a traced operation: the first frame outside tracegrad
and NumPy."""
from __future__ import annotations

import functools
import linecache
import os
import sys

import numpy as _np

_TRACEGRAD_DIR = os.path.dirname(os.path.abspath(__file__))
_PACKAGE_ROOT = os.path.dirname(_TRACEGRAD_DIR)
# Frames in these directories are library frames, never the user's line.
_SKIP_PREFIXES = (
    _TRACEGRAD_DIR + os.sep,
    os.path.join(_PACKAGE_ROOT, "passes") + os.sep,
    os.path.join(_PACKAGE_ROOT, "codegen") + os.sep,
    os.path.dirname(os.path.abspath(_np.__file__)) + os.sep,
    # SciPy beside NumPy (found without importing it): a frozen distribution's method calls
    # the routed one from SciPy's own code (tracegrad/scipy/routing.py)
    os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(_np.__file__))), "scipy")
    + os.sep,
)
_frame_cache: dict[str, bool] = {}


def _is_library(filename: str) -> bool:
    hit = _frame_cache.get(filename)
    if hit is None:
        path = os.path.abspath(filename)
        hit = path.startswith(_SKIP_PREFIXES) or filename.startswith("<tracegrad")
        _frame_cache[filename] = hit
    return hit


def user_frame(depth: int = 1):
    """The innermost frame that belongs to user code (or None)."""
    try:
        frame = sys._getframe(depth)
    except ValueError:  # a shallower stack than the caller assumed: start from the top
        frame = sys._getframe(1)
    while frame is not None and _is_library(frame.f_code.co_filename):
        frame = frame.f_back
    return frame


def user_src(depth: int = 2) -> str | None:
    """``basename:line`` of the user code that called into tracegrad."""
    frame = user_frame(depth)
    if frame is None:
        return None
    return f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno}"


def user_src_with_text(depth: int = 2) -> str | None:
    """``path:line: code`` for error messages (the full path, so editors can jump to it)."""
    frame = user_frame(depth)
    if frame is None:
        return None
    fn, ln = frame.f_code.co_filename, frame.f_lineno
    text = linecache.getline(fn, ln).strip()
    return f"{fn}:{ln}" + (f": {text}" if text else "")


def names_caller(fn):
    """Decorate a public entry point: a ``TracegradError`` raised inside it that names no line
    yet names the caller's (the first frame outside tracegrad), where the bad argument is."""
    @functools.wraps(fn)
    def entry(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            if getattr(exc, "src", False) is None and hasattr(exc, "with_src"):
                exc.with_src(user_src_with_text(2))
            raise
    return entry


def check_callable(f, what: str) -> None:
    """``ArgumentError`` unless ``f`` is callable (``what``: "tg.grad's fn", ...)."""
    if not callable(f):
        from .errors import ArgumentError
        raise ArgumentError(f"{what} must be a function, got {type(f).__name__} "
                            f"({_short(f)}); pass the function itself, not the result of calling it")


def _short(x) -> str:
    r = repr(x)
    return r if len(r) < 40 else r[:37] + "..."
