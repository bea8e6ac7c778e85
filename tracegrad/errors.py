"""Typed errors of tracegrad; every message names the user's source line and the fix.

All errors derive from ``TracegradError`` so callers can catch the whole family at once.
"""
from __future__ import annotations


class TracegradError(Exception):
    """Base class of every error tracegrad raises on purpose."""

    def __init__(self, message: str, *, src: str | None = None):
        self.src = src
        if src:
            message = f"{message}\n  (traced at {src})"
        super().__init__(message)


class ShapeError(TracegradError, ValueError):
    """Operands whose shapes cannot be combined (both shapes are in the message)."""


class DTypeError(TracegradError, TypeError):
    """An operand of a dtype tracegrad does not support, or a dtype an operation refuses."""


class TracerBoolError(TracegradError, TypeError):
    """Python control flow (``if``, ``while``, ``bool()``, ``int()``, ``float()``) on a traced value."""


class TracerArrayConversionError(TracegradError, TypeError):
    """``np.asarray`` (or another conversion to a concrete array) applied to a traced value."""


class UnsupportedOperationError(TracegradError, NotImplementedError):
    """A NumPy function, method or argument tracegrad has no rule for."""


class GradientError(TracegradError, ValueError):
    """A gradient that cannot be taken as asked (non-scalar output, integer input, bad argnums...)."""


class CompileError(TracegradError, RuntimeError):
    """The C compiler failed; carries its output and the path of the kept source."""

    def __init__(self, message: str, *, output: str = "", source_path: str | None = None,
                 src: str | None = None):
        self.output = output
        self.source_path = source_path
        super().__init__(message, src=src)


class IRError(TracegradError, ValueError):
    """A graph that breaks an IR invariant (raised by ``verify`` and the text parser)."""
