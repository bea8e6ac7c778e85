"""The identity of a Python function as a transform sees it (code, closure contents,
defaults, the globals it reads), as a hashable key: ``tg.grad(f)`` re-made with the same ``f``
finds the transform built before. The rules are ``function_key``'s docstring."""
from __future__ import annotations

import functools
import types
import zlib

import numpy as np

from ..identity import value_key

SMALL = 32            # containers up to this many items are keyed by content, larger by identity
ARRAY_CRC_BYTES = 8192  # arrays up to this many bytes also key their contents (CRC-32)
MAX_DEPTH = 4         # functions reached through closures/globals keyed to this depth


_SCALARS = (type(None), bool, int, float, complex, str, bytes)
_GLOBAL_NAMES: dict = {}  # code object -> names its code and nested code read as globals


def global_names(code: types.CodeType) -> tuple[str, ...]:
    """Names ``code`` (and the lambdas, comprehensions and functions defined in it) may read
    from its globals; attribute names are included too (over-approximate, never under)."""
    hit = _GLOBAL_NAMES.get(code)
    if hit is None:
        names, stack, seen = [], [code], set()
        while stack:
            c = stack.pop()
            if c in seen:
                continue
            seen.add(c)
            names.extend(n for n in c.co_names if n not in names)
            stack.extend(k for k in c.co_consts if isinstance(k, types.CodeType))
        hit = _GLOBAL_NAMES[code] = tuple(names)
    return hit


class _Keyer:
    """One top-level key: ``memo`` keys each function once (and cuts cycles between functions);
    ``refs`` holds every object keyed by identity, so its ``id`` is not reused while the cache
    entry that keeps ``refs`` lives."""

    __slots__ = ("memo", "refs")

    def __init__(self):
        self.memo: dict = {}
        self.refs: list = []

    def ident(self, v):
        self.refs.append(v)
        return ("id", id(v))

    def array(self, a: np.ndarray):
        """Identity, shape, dtype and, when small and contiguous, a CRC of the bytes."""
        crc = None
        if a.nbytes <= ARRAY_CRC_BYTES and a.flags.c_contiguous:
            try:
                crc = zlib.crc32(a)
            except (TypeError, ValueError, BufferError):  # object arrays, odd buffers
                crc = None
        self.refs.append(a)
        return ("a", id(a), a.shape, a.dtype.str, crc)

    def part(self, v, depth: int):
        """The key part of one value a function captures (see ``function_key``)."""
        t = type(v)
        if t in _SCALARS or isinstance(v, np.generic):
            try:
                return value_key(v)
            except TypeError:
                return self.ident(v)
        if t is np.ndarray:
            return self.array(v)
        if t is types.FunctionType:
            if depth >= MAX_DEPTH or "__tracegrad_body__" in v.__dict__:
                # a transform's own body is made once per cached transform: its object is it
                return self.ident(v)
            hit = self.memo.get(id(v))
            if hit is None:
                self.memo[id(v)] = self.ident(v)  # a cycle back to it is keyed by identity
                hit = self.memo[id(v)] = self.function(v, depth + 1)
            return hit
        if t in (tuple, list) and len(v) <= SMALL:
            return (t.__name__, tuple([self.part(x, depth) for x in v]))
        if t is dict and len(v) <= SMALL:
            try:
                return ("d", tuple([(value_key(k), self.part(x, depth)) for k, x in v.items()]))
            except TypeError:
                return self.ident(v)
        if t is types.MethodType:
            return ("m", self.part(v.__func__, depth), self.ident(v.__self__))
        if t is functools.partial:
            return ("p", self.part(v.func, depth), self.part(v.args, depth),
                    self.part(v.keywords, depth))
        return self.ident(v)

    def function(self, fn, depth: int):
        code = fn.__code__
        closure = []
        for c in fn.__closure__ or ():
            try:
                closure.append(self.part(c.cell_contents, depth))
            except ValueError:  # an empty cell (assigned later in the enclosing function)
                closure.append(("empty",))
        g = fn.__globals__
        glob = tuple([(n, self.part(g[n], depth)) for n in global_names(code) if n in g])
        return ("fn", code, self.ident(g), tuple(closure), self.part(fn.__defaults__, depth),
                self.part(fn.__kwdefaults__, depth), glob)


def function_key(fn) -> tuple[tuple, list]:
    """``(key, refs)`` of a callable (never raises); ``refs`` must live as long as the key. The
    key decides the program a trace of ``fn`` makes:

    The key of a plain function is its code object, the ``__globals__`` dict it reads, the
    contents of its closure cells, its defaults, and the values of the globals its code (and
    the code nested in it) names. Each value is keyed by ``_Keyer.part``:

    - numbers, strings, ``None`` and NumPy scalars by ``identity.value_key`` (type and bits: a
      closure over ``0.5`` misses against one over ``0.25``, ``-0.0`` against ``0.0``);
    - tuples, lists and dicts of at most ``SMALL`` items element by element;
    - functions recursively (a helper re-defined per call with the same code and closure
      hits), ``functools.partial`` and bound methods through their parts;
    - arrays by identity, shape and dtype, plus the CRC-32 of their bytes when they hold at
      most ``ARRAY_CRC_BYTES``: rebinding a name to another array misses, and so does mutating
      a small array in place; mutating a larger one in place is not seen (the program keeps
      the values it was traced with, as a hoisted ``g = tg.grad(f)`` does);
    - anything else (modules, classes, objects) by identity: a transform of ``model.loss``
      with the same ``model`` hits even if ``model``'s attributes were reassigned.
    """
    k = _Keyer()
    if type(fn) is types.FunctionType:
        k.memo[id(fn)] = k.ident(fn)
        return k.function(fn, 0), k.refs
    return k.part(fn, 0), k.refs


def _describe_part(old, new) -> str:
    if type(old) is tuple and type(new) is tuple and "id" in (old[:1] + new[:1]):
        return "another object"
    if type(old) is tuple and type(new) is tuple and old and new and old[0] == new[0] == "a":
        if old[1] != new[1]:
            return "another array"
        if old[2:4] != new[2:4]:
            return f"array of {old[2]} {old[3]} -> {new[2]} {new[3]}"
        return "the same array, mutated in place"
    return f"{_show(old)} -> {_show(new)}"


def _show(p) -> str:
    if type(p) is tuple and len(p) == 2 and p[0] == "f":  # a float by its bits
        return repr(np.frombuffer(np.uint64(p[1]).tobytes(), np.float64)[0].item())
    if type(p) is tuple and len(p) == 2 and isinstance(p[0], type):
        return repr(p[1])
    s = repr(p)
    return s if len(s) < 60 else s[:57] + "..."


def describe_change(old, new, fn=None) -> str | None:
    """Which part of a function's identity differs between keys ``old`` and ``new`` (of the
    same code object), or None when they are equal."""
    if old == new:
        return None
    if not (type(old) is tuple and type(new) is tuple and old[:1] == new[:1] == ("fn",)):
        return f"the function is another object: {_describe_part(old, new)}"
    _, _, g0, c0, d0, k0, gl0 = old
    _, _, g1, c1, d1, k1, gl1 = new
    names = getattr(getattr(fn, "__code__", None), "co_freevars", ())
    for i, (a, b) in enumerate(zip(c0, c1)):
        if a != b:
            what = f"closure variable {names[i]!r}" if i < len(names) else f"closure cell {i}"
            return f"{what} changed: {_describe_part(a, b)}"
    if d0 != d1 or k0 != k1:
        return "default argument values changed"
    if g0 != g1:
        return "the function's module globals are another dict"
    old_g, new_g = dict(gl0), dict(gl1)
    for n in sorted(set(old_g) | set(new_g)):
        a, b = old_g.get(n), new_g.get(n)
        if a != b:
            if a is None or b is None:
                return f"global {n!r} was {'defined' if a is None else 'deleted'}"
            return f"global {n!r} changed: {_describe_part(a, b)}"
    return "the function's identity changed"
