"""Colour for terminal output: only when the stream is a TTY (and ``NO_COLOR`` is unset), or
when asked with ``--color always``; files, pipes and golden tests get plain text."""
from __future__ import annotations

import os

_CODES = {"header": "1;36", "pass": "1;33", "add": "32", "remove": "31", "hunk": "35",
          "dim": "2"}


def wants_color(stream, mode: str = "auto") -> bool:
    if mode == "always":
        return True
    if mode == "never" or os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def paint(text: str, kind: str, on: bool) -> str:
    return f"\x1b[{_CODES[kind]}m{text}\x1b[0m" if on and text else text


def paint_line(line: str, on: bool) -> str:
    """Colour one line of dump output by what it is (section header, diff line, comment)."""
    if not on:
        return line
    if line.startswith("// ====="):
        return paint(line, "header", on)
    if line.startswith("// -----"):
        return paint(line, "pass", on)
    if line.startswith(("+++", "---")):
        return paint(line, "dim", on)
    if line.startswith("@@"):
        return paint(line, "hunk", on)
    if line.startswith("+"):
        return paint(line, "add", on)
    if line.startswith("-"):
        return paint(line, "remove", on)
    return line
