"""Which ndarray subclasses may be traced as plain arrays: those that keep ndarray's meaning.

The rule: a subclass is traced as a plain ``np.ndarray`` when no class between it and
``np.ndarray`` redefines anything ``np.ndarray`` has that decides a computed value (operators,
``__array_ufunc__``/``__array_function__``/``__array_wrap__``, indexing, methods such as
``sum`` or ``reshape``). Construction, printing, pickling and metadata hooks do not count
(``NEUTRAL``). ``np.memmap`` is allowed by name: its overrides only decide whether a result
stays a memmap. Anything else (``np.matrix``: ``*`` is a matrix product; ``np.ma.MaskedArray``:
masked elements are skipped) raises ``ArraySubclassError``: tracing it would change the answer.
"""
from __future__ import annotations

import numpy as np

from .errors import ArraySubclassError

NEUTRAL = frozenset({
    "__new__", "__init__", "__array_finalize__", "__doc__", "__module__", "__dict__",
    "__weakref__", "__repr__", "__str__", "__format__", "__reduce__", "__reduce_ex__",
    "__setstate__", "__getstate__", "__copy__", "__deepcopy__", "__init_subclass__",
    "__subclasshook__", "__class_getitem__", "__sizeof__", "__dir__", "__array_priority__",
    "__annotations__", "__qualname__", "__firstlineno__", "__static_attributes__",
    "tofile", "tobytes", "tolist", "dump", "dumps",  # conversions a tracer refuses anyway
})
ALLOWED = (np.memmap,)
_NDARRAY_NAMES = frozenset(dir(np.ndarray))
_verdicts: dict[type, tuple[str, ...]] = {}  # subclass -> the semantic names it redefines


def redefined(t: type) -> tuple[str, ...]:
    """The names of ``np.ndarray`` that subclass ``t`` redefines and that change values."""
    hit = _verdicts.get(t)
    if hit is None:
        names: set[str] = set()
        if not issubclass(t, ALLOWED):
            for klass in t.__mro__:
                if klass is np.ndarray:
                    break
                names |= (set(vars(klass)) & _NDARRAY_NAMES) - NEUTRAL
        hit = _verdicts[t] = tuple(sorted(names))
    return hit


_HINTS = {
    "matrix": "for np.matrix, a * b is a matrix product: convert with np.asarray(a) and write "
              "a @ b where a matrix product is meant",
    "MaskedArray": "for a masked array, pass x.filled(value) (or the data and the mask as two "
                   "arguments, and combine them with np.where)",
}


def plain_array(x: np.ndarray, where: str, src: str | None = None) -> np.ndarray:
    """``x`` as a plain ndarray (a view, no copy) when its class keeps ndarray's meaning;
    ``ArraySubclassError`` naming ``where`` (the argument or constant) otherwise."""
    t = type(x)
    if t is np.ndarray:
        return x
    names = redefined(t)
    if names:
        shown = ", ".join(names[:6]) + (", ..." if len(names) > 6 else "")
        hint = next((h for k, h in _HINTS.items() if any(c.__name__ == k for c in t.__mro__)),
                    "convert it with np.asarray(x) if plain-array meaning is what you want")
        raise ArraySubclassError(
            f"{where} is a {t.__module__}.{t.__qualname__}, an ndarray subclass that redefines "
            f"{shown}; tracegrad traces plain arrays, so its own meaning would be lost and the "
            f"answer could change. Fix: {hint}", src=src)
    return x.view(np.ndarray)
