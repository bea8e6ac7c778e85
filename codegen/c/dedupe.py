"""One C function per distinct kernel text: identical kernels share one definition.

A program unrolled by Python loops repeats the same equations with other buffers (an LSTM's
30 steps, a fluid simulation's 10 steps of the same rolls): the emitters write one function
per equation, so the module held the same loop nest hundreds of times (fluidsim: 2,306
functions, 28 distinct) and the C compiler optimized each copy again. Here each function's text,
with its own name and its comments taken out, is the key; a repeat is dropped and its calls
renamed to the first one. Pointers are arguments, so the same text is the same code whatever
buffers a call passes (``restrict`` qualifiers are part of the text, hence of the key).
"""
from __future__ import annotations

import re

# the name a function text defines: the identifier before the parameter list's "(" on its
# first line that is not a comment ("TG_KERNEL void op3(", "static void loop1_body(")
_DEF = re.compile(r"^[A-Za-z_][\w \t\*]*?\b([A-Za-z_]\w*)\(", re.M)
_COMMENT = re.compile(r"/\*.*?\*/", re.S)  # safe_text.c_comment keeps "*/" out of comments
_TOP_CLOSE = re.compile(r"^}", re.M)
_CALL = re.compile(r"\b([A-Za-z_]\w*)\(")


def _single_function(text: str) -> str | None:
    """The name ``text`` defines, when it is exactly one function definition (else None:
    comparators plus a sort, several helpers in one text are left as they are)."""
    code = _COMMENT.sub("", text)
    m = _DEF.search(code)
    if m is None or len(_TOP_CLOSE.findall(code)) != 1 or not code.rstrip().endswith("}"):
        return None
    return m.group(1)


def dedupe(kernels: list[str], lines: list[str]) -> tuple[list[str], list[str], int]:
    """``kernels`` (function texts in definition order) without repeats, and ``lines`` (the
    program body) plus the kept kernels with calls of a dropped function renamed to its first
    copy; also the number dropped. A text whose key was seen keeps nothing but the rename."""
    first: dict[str, str] = {}    # key -> name of its first definition
    rename: dict[str, str] = {}
    kept: list[str] = []
    for text in kernels:
        name = _single_function(text)
        if name is None:
            kept.append(text)
            continue
        key = re.sub(rf"\b{re.escape(name)}\b", "\0", _COMMENT.sub("", text))
        key = re.sub(r"[ \t]+\n", "\n", key)
        if key in first:
            rename[name] = first[key]
        else:
            first[key] = name
            kept.append(text)
    if not rename:
        return kernels, lines, 0
    def sub(s: str) -> str:
        return _CALL.sub(lambda m: rename.get(m.group(1), m.group(1)) + "(", s)
    # a kept function (a loop body) may call a dropped one; it never calls itself by a new name
    return [sub(k) for k in kept], [sub(ln) for ln in lines], len(rename)
