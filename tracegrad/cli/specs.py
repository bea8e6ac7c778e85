"""Abstract arguments from the command line: type strings (``f32[128,784]``, ``f64[]``) and
pytrees of them in a JSON-ish form (``"(f32[3], {w: f32[2,2], b: [i64[4], 1.5]})"``).

Leaves become zero-stride NumPy arrays (``np.broadcast_to`` of one element), so describing a
``f32[100000,1000]`` argument allocates nothing: tracing reads only shapes and dtypes.
"""
from __future__ import annotations

import re

import numpy as np

from .errors import CLIError

DTYPES = {"f32": np.float32, "f64": np.float64, "i32": np.int32, "i64": np.int64, "bool": np.bool_}
# Long NumPy names are accepted too; dumps always print the short ones.
_ALIASES = {"float32": "f32", "float64": "f64", "int32": "i32", "int64": "i64", "bool_": "bool"}
TYPE_HELP = ("a dtype among f32 f64 i32 i64 bool and a shape in brackets, e.g. f32[128,784], "
             "i64[8] or f64[] for a scalar")

_TOKEN = re.compile(r"""
    \s*(?:
      (?P<type>[A-Za-z_][A-Za-z0-9_]*\s*\[[^\[\]]*\])   # f32[3,4]
    | (?P<number>[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?)
    | (?P<string>"[^"]*"|'[^']*')
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<punct>[()\[\]{},:])
    )""", re.VERBOSE)


MAX_NESTING = 100  # brackets deep: a description is typed by hand, not generated


def abstract_array(shape: tuple[int, ...], dtype, text: str = "") -> np.ndarray:
    """A read-only array of ``shape`` and ``dtype`` that owns one element (all strides 0).

    ``CLIError`` for a shape no array can have: more dimensions than tracegrad traces, or
    more bytes than an address space holds (NumPy's own limit, checked here so that the
    message names the type string instead of NumPy's iterator)."""
    from tracegrad.staging import MAX_RANK

    what = f"type string {text.strip()!r}" if text else f"shape {shape}"
    if len(shape) > MAX_RANK:
        raise CLIError(f"bad {what}: {len(shape)} dimensions; tracegrad traces arrays of up to "
                       f"{MAX_RANK} dimensions (NumPy's broadcasting limit): reshape the "
                       f"argument to fewer dimensions")
    size = 1
    for d in shape:  # NumPy refuses an overflowing product even when another dim is 0
        size *= max(d, 1)
    limit = np.iinfo(np.intp).max // np.dtype(dtype).itemsize
    if size > limit:
        raise CLIError(f"bad {what}: {size:.3g} elements of {np.dtype(dtype).itemsize} bytes "
                       f"is more than any array can hold (at most {limit:.3g}); check the "
                       f"dimensions")
    return np.broadcast_to(np.zeros((), dtype=dtype), shape)


def parse_type(text: str) -> np.ndarray:
    """``f32[3,4]`` -> an abstract f32 array of shape (3, 4); ``CLIError`` if malformed."""
    m = re.fullmatch(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*\[([^\[\]]*)\]\s*", text)
    if not m:
        raise CLIError(f"bad type string {text.strip()!r}: expected {TYPE_HELP}")
    name = _ALIASES.get(m.group(1), m.group(1))
    if name not in DTYPES:
        raise CLIError(f"bad type string {text.strip()!r}: unknown dtype {m.group(1)!r}; "
                       f"expected {TYPE_HELP}")
    dims = [d.strip() for d in m.group(2).split(",")] if m.group(2).strip() else []
    if not all(re.fullmatch(r"\d+", d) for d in dims):
        raise CLIError(f"bad type string {text.strip()!r}: the shape must be non-negative "
                       f"integers separated by commas; expected {TYPE_HELP}")
    return abstract_array(tuple(int(d) for d in dims), DTYPES[name], text)


def parse_spec(text: str):
    """One argument: a type string, a number (traced as a Python scalar), ``None``, or a tuple
    ``( , )``, list ``[ ]`` or dict ``{key: value}`` of those (a 1-tuple needs a trailing comma,
    as in Python)."""
    tokens = _tokenize(text)
    parser = _Parser(tokens, text)
    value = parser.value()
    if parser.pos != len(tokens):
        raise CLIError(f"bad argument description {text!r}: unexpected "
                       f"{tokens[parser.pos][1]!r} after a complete value")
    return value


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise CLIError(f"bad argument description {text!r}: cannot read it from "
                           f"{text[pos:].strip()[:20]!r}; expected {TYPE_HELP}, or a "
                           "tuple, list or dict of them")
        kind = m.lastgroup
        tokens.append((kind, m.group(kind)))
        pos = m.end()
    return tokens


class _Parser:
    def __init__(self, tokens, text):
        self.tokens, self.text, self.pos = tokens, text, 0

    def peek(self):
        return self.tokens[self.pos] if self.pos < len(self.tokens) else ("end", "")

    def take(self, punct=None):
        tok = self.peek()
        if punct is not None and tok != ("punct", punct):
            found = repr(tok[1]) if tok[0] != "end" else "the end"
            raise CLIError(f"bad argument description {self.text!r}: expected {punct!r}, "
                           f"found {found}")
        self.pos += 1
        return tok

    def value(self):
        kind, tok = self.peek()
        if kind == "type":
            self.pos += 1
            return parse_type(tok)
        if kind == "number":
            self.pos += 1
            return float(tok) if any(c in tok for c in ".eE") else int(tok)
        if kind == "name":
            self.pos += 1
            consts = {"None": None, "null": None, "True": True, "true": True, "False": False,
                      "false": False}
            if tok in consts:
                return consts[tok]
            if tok in DTYPES or tok in _ALIASES:
                raise CLIError(f"bad type string {tok!r} in {self.text!r}: missing the shape; "
                               f"expected {TYPE_HELP}")
            raise CLIError(f"bad argument description {self.text!r}: unexpected name {tok!r}; "
                           f"expected {TYPE_HELP}")
        if (kind, tok) == ("punct", "("):
            items, trailing = self.sequence(")")
            return items[0] if len(items) == 1 and not trailing else tuple(items)
        if (kind, tok) == ("punct", "["):
            return list(self.sequence("]")[0])
        if (kind, tok) == ("punct", "{"):
            return self.mapping()
        found = repr(tok) if kind != "end" else "the end"
        raise CLIError(f"bad argument description {self.text!r}: expected a value, found "
                       f"{found}")

    def open(self):
        self.depth = getattr(self, "depth", 0) + 1
        if self.depth > MAX_NESTING:
            raise CLIError(f"bad argument description {self.text[:40]!r}...: nested more than "
                           f"{MAX_NESTING} brackets deep")

    def sequence(self, close):
        self.open()
        self.take()
        items, trailing = [], False
        while self.peek() != ("punct", close):
            items.append(self.value())
            trailing = False
            if self.peek() == ("punct", ","):
                self.take()
                trailing = True
            elif self.peek() != ("punct", close):
                self.take(close)  # raises: neither a comma nor the closing bracket
        self.take(close)
        self.depth -= 1
        return items, trailing

    def mapping(self):
        self.open()
        self.take("{")
        out = {}
        while self.peek() != ("punct", "}"):
            kind, tok = self.take()
            if kind == "string":
                key = tok[1:-1]
            elif kind in ("name", "number"):
                key = tok
            else:
                raise CLIError(f"bad argument description {self.text!r}: expected a dict key, "
                               f"found {tok!r}")
            self.take(":")
            out[key] = self.value()
            if self.peek() == ("punct", ","):
                self.take()
            elif self.peek() != ("punct", "}"):
                self.take("}")
        self.take("}")
        self.depth -= 1
        return out


def describe(value) -> str:
    """The spec text of an argument (arrays as type strings): the inverse of ``parse_spec``."""
    from tracegrad.dtypes import short_name

    if isinstance(value, np.ndarray):
        return f"{short_name(value.dtype)}[{','.join(map(str, value.shape))}]"
    if isinstance(value, np.generic):
        return f"{short_name(value.dtype)}[]"
    if isinstance(value, tuple):
        inner = ", ".join(describe(v) for v in value)
        return f"({inner}{',' if len(value) == 1 else ''})"
    if isinstance(value, list):
        return "[" + ", ".join(describe(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {describe(v)}" for k, v in value.items()) + "}"
    return repr(value)
