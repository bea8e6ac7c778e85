"""The one door through which user-controlled text (file names, function names, parameter
reprs, pytree keys) enters generated source: comments lose every character that could end
them, identifiers match ``[A-Za-z_][A-Za-z0-9_]*``, literal values are exact Python scalars.

Generated NumPy source is ``exec``'d and generated C is compiled and loaded, so a file named
``mod\\n    open("PWNED","w")...`` must stay inside its comment on both backends.
"""
from __future__ import annotations

import re
import unicodedata

IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
COMMENT_LIMIT = 160
_QQ = re.compile(r"\?(?=\?)")


def _visible(ch: str) -> bool:
    # Category C* is control (\n \r \0 \x85), format, surrogate, private use and unassigned;
    # Zl/Zp are U+2028/U+2029. Python ends a comment at \n or \r, C compilers drop NULs (so
    # "*\0/" would read as "*/"), editors and linecache split lines at all of them.
    cat = unicodedata.category(ch)
    return cat[0] != "C" and cat not in ("Zl", "Zp")


def safe_comment(text, limit: int = COMMENT_LIMIT) -> str:
    """``text`` as one line with no control, format or line-separator characters, whitespace
    collapsed and at most ``limit`` characters: safe after ``#`` in Python."""
    text = str(text)
    if not text.isprintable():
        text = "".join(ch if _visible(ch) else " " for ch in text)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def c_comment(text, limit: int = COMMENT_LIMIT) -> str:
    """``safe_comment`` that also cannot close a C block comment (``*/``) nor form a trigraph
    (``??/`` is a backslash under -std=c99): safe between ``/*`` and ``*/``."""
    text = safe_comment(text, limit)
    # "*/" cannot overlap itself, so one replace leaves none; every "?" before a "?" is spaced
    return _QQ.sub("? ", text.replace("*/", "* /"))


def safe_ident(name, prefix: str = "fn_") -> str:
    """``name`` as an ASCII identifier (Python and C): other characters become ``_``, and a
    name that is empty or starts with a digit gets ``prefix``. Valid names pass unchanged."""
    name = str(name)
    if IDENT.match(name):
        return name
    name = "".join(c if c.isascii() and (c.isalnum() or c == "_") else "_" for c in name)
    if not name or name[0].isdigit():
        name = prefix + name
    assert IDENT.match(name), name
    return name


_EXACT = (bool, int, float, complex, str, bytes)


def plain(value):
    """``value`` with every scalar (also inside tuples and lists) as an exact builtin, so the
    ``repr`` that a lowering pastes into source is the builtin's, never a subclass's own
    ``__repr__``. Arrays, dtypes, graphs and functions are returned as they are."""
    t = type(value)
    if t in _EXACT or value is None:
        return value
    for base in _EXACT:  # a subclass: bool before int, since bool subclasses int
        if isinstance(value, base):
            return base(value)
    if isinstance(value, tuple):
        return tuple(plain(v) for v in value)
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def plain_params(params: dict) -> dict:
    return {k: plain(v) for k, v in params.items()}
