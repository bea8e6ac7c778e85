"""Typed errors of tracegrad; every message names the user's source line and the fix.

All errors derive from ``TracegradError`` so callers can catch the whole family at once.
"""
from __future__ import annotations

import numpy as np


class TracegradError(Exception):
    """Base class of every error tracegrad raises on purpose."""

    def __init__(self, message: str, *, src: str | None = None):
        self.src = src
        if src:
            message = f"{message}\n  (traced at {src})"
        super().__init__(message)

    def with_src(self, src: str | None) -> "TracegradError":
        """Name ``src`` (the user's line) in this error unless it already names one; returns self.

        Used where an error raised deep in tracegrad (a shape rule, a dtype check) passes back
        through the public function the user called, which knows the user's line.
        """
        if self.src is None and src and self.args:
            self.src = src
            self.args = (f"{self.args[0]}\n  (traced at {src})",) + tuple(self.args[1:])
        return self


class ShapeError(TracegradError, ValueError):
    """Operands whose shapes cannot be combined (both shapes are in the message)."""


class TracedIndexError(ShapeError, IndexError):
    """An index out of bounds for its axis (or too many indices, or a boolean mask of the wrong
    shape): found while tracing when the index is static, or when the compiled program runs
    when it is a traced value (a ``gather``/``scatter_add`` index; both backends check). An
    ``IndexError``, as NumPy raises there; ``tracegrad.indexing`` re-exports it."""


class DomainError(TracegradError, ValueError):
    """An operand value an elementwise operation refuses where NumPy raises ``ValueError`` (an
    integer raised to a negative integer power), found when the compiled program runs; the
    same type on every backend (prims/np_domain.py, codegen/c/bounds.py)."""


class ArgumentError(TracegradError, TypeError, ValueError):
    """An argument of the wrong kind or value given to a tracegrad function or to a traced NumPy
    function: not a function where one is expected, the wrong number of arguments, an axis,
    shape or option that is not an integer (or a known name). Both a ``TypeError`` and a
    ``ValueError``, as NumPy raises one or the other for such arguments."""


class DTypeError(TracegradError, TypeError):
    """An operand of a dtype tracegrad does not support, or a dtype an operation refuses."""


class TracerBoolError(TracegradError, TypeError):
    """Python control flow (``if``, ``while``, ``bool()``, ``int()``, ``float()``) on a traced value."""


class TracerArrayConversionError(TracegradError, TypeError):
    """``np.asarray`` (or another conversion to a concrete array) applied to a traced value."""


class UnsupportedOperationError(TracegradError, NotImplementedError):
    """A NumPy function, method or argument tracegrad has no rule for."""


class UnsupportedAttributeError(UnsupportedOperationError, AttributeError):
    """An ndarray method or attribute traced arrays do not have (``hasattr`` still works)."""


class GradientError(TracegradError, ValueError):
    """A gradient that cannot be taken as asked (non-scalar output, integer input, bad argnums...)."""


class GradientDTypeError(GradientError, DTypeError):
    """A gradient of a non-float output or with respect to a non-float input (bool, int): also a
    ``TypeError``, as autograd and JAX raise for it."""


class ImmutableArrayError(UnsupportedOperationError, TypeError):
    """``x[i] = v`` on a traced array (they are immutable; use ``x = x.at[i].set(v)``): also a
    ``TypeError``, as NumPy raises for read-only assignment targets that are not arrays."""


class TracerAssignmentError(TracerArrayConversionError, ValueError):
    """A traced value assigned into a NumPy array (``y = np.zeros(3); y[0] = x``); a
    ``ValueError`` as well, which is what NumPy raises there ("setting an array element with a
    sequence", raised from this error; tracing passes this one on)."""


class CompileError(TracegradError, RuntimeError):
    """The C compiler failed; carries its output and the path of the kept source."""

    def __init__(self, message: str, *, output: str = "", source_path: str | None = None,
                 src: str | None = None):
        self.output = output
        self.source_path = source_path
        super().__init__(message, src=src)


class TracegradWarning(UserWarning):
    """Category of tracegrad's own warnings (a fallback taken, a cache not used), so users can
    filter them with ``warnings.filterwarnings("ignore", category=TracegradWarning)``."""


class IRError(TracegradError, ValueError):
    """A graph that breaks an IR invariant (raised by ``verify`` and the text parser)."""


class IntegerOverflowError(TracegradError, OverflowError):
    """A Python int that does not fit the integer dtype it meets (``int32_array + 2**40``), as a
    literal or as a Python-int argument; NumPy 2 raises ``OverflowError`` there too."""


class ArraySubclassError(TracegradError, TypeError):
    """An ndarray subclass whose operators or ufuncs mean something else (``np.matrix``, whose
    ``*`` is a matrix product; ``np.ma.MaskedArray``, which skips masked elements): tracing it
    as a plain array would change the answer."""


class TracedRandomError(UnsupportedOperationError):
    """A draw from ``np.random`` while tracing: its numbers would be frozen into the program and
    repeat on every call. Pass the noise as an argument instead."""


class LinAlgError(TracegradError, np.linalg.LinAlgError):
    """A matrix a factorisation or solve cannot take inside a compiled program (not positive
    definite for ``cholesky``, singular for ``solve``/``inv``, no convergence for
    ``eigh``/``svd``); also a ``numpy.linalg.LinAlgError``, which is what NumPy raises there."""
