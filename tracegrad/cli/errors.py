"""The CLI's error contract: every failure the user can cause ends in exit status 2 and one line
on stderr naming the cause (and the user's source line for errors raised while tracing)."""
from __future__ import annotations

import os

EXIT_USAGE = 2


class CLIError(Exception):
    """A problem with the command line or the user's file; the message is the whole report."""


def one_line(text: str) -> str:
    """Messages of tracegrad errors span lines (``\\n  (traced at x.py:3)``): join them."""
    parts = [p.strip() for p in str(text).splitlines() if p.strip()]
    return " ".join(parts)


def user_line(exc: BaseException, user_file: str | None) -> str | None:
    """``file.py:LINE`` of the innermost traceback frame in the user's file (None if none)."""
    if not user_file:
        return None
    import traceback

    target = os.path.abspath(user_file)
    hit = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if os.path.abspath(frame.filename) == target:
            hit = f"{os.path.basename(frame.filename)}:{frame.lineno}"
    return hit


def describe_trace_error(exc: BaseException, what: str, user_file: str | None) -> str:
    """One line for an exception raised while tracing ``what``.

    tracegrad's own errors already name the user's line ("traced at ..."); for others (a
    NameError in the user's function, say) the line comes from the traceback.
    """
    from tracegrad.errors import TracegradError

    msg = one_line(exc) or type(exc).__name__
    if isinstance(exc, TracegradError):
        text = f"tracing {what} failed: {type(exc).__name__}: {msg}"
        if exc.src is None:
            line = user_line(exc, user_file)
            if line:
                text += f" (at {line})"
        return text
    text = f"tracing {what} failed: {type(exc).__name__}: {msg}"
    line = user_line(exc, user_file)
    return text + (f" (at {line})" if line else "")

