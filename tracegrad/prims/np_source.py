"""The user's source line of the generated NumPy line running now, for errors raised by the
runtime helpers (index bounds, domain errors, LinAlgError): codegen/numpy_emit.py ends each
generated line with a comment naming the equation's ``(file:line)``, and the helper reads it
from the calling frame, so no user text is passed around at run time."""
from __future__ import annotations

import linecache
import re
import sys

_SRC = re.compile(r"\((?P<src>[^()]*:\d+)\)\s*$")


def generated_line_src(*helper_files: str) -> str | None:
    """The ``file:line`` in the comment of the generated line that called the helper, skipping
    the frames of ``helper_files`` (the helper modules between it and the generated code) and
    of np_helpers; None when the caller is not generated code (the interpreter names the
    equation's line itself; constant folding has none)."""
    skip = {*helper_files, getattr(sys.modules.get("tracegrad.prims.np_helpers"), "__file__", "")}
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename in skip:
        frame = frame.f_back
    if frame is None or not frame.f_code.co_filename.startswith("<tracegrad-numpy:"):
        return None
    line = linecache.getline(frame.f_code.co_filename, frame.f_lineno)
    m = _SRC.search(line)
    return m.group("src") if m and "# " in line else None
