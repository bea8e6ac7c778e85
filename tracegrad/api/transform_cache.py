"""The process-wide LRU cache of transformed functions: ``tg.grad(f)`` made again with the
same ``f`` (same ``fn_identity.function_key``) and options returns the ``TransformFunction``
built the first time, with its compiled programs (see ``cached``)."""
from __future__ import annotations

import threading
from collections import OrderedDict

from .. import options
from ..tracer import is_tracing
from .fn_identity import describe_change, function_key
from .jit import MISS_REASONS_KEPT, CacheInfo

_LOCK = threading.Lock()
_ENTRIES: "OrderedDict[tuple, object]" = OrderedDict()  # key -> TransformFunction
_LAST: dict = {}  # (transform, code object or callable) -> the last key made for it
_INFO = CacheInfo()


def _anchor(fn):
    """What keys of the "same function" share, to explain a miss against the last one."""
    return getattr(fn, "__code__", None) or id(fn)


def cached(kind: str, fn, opts: tuple, build):
    """The ``TransformFunction`` of ``kind(fn, *opts)``: from the cache, or ``build()`` filed
    there. ``opts`` must be hashable (argnums, has_aux, static_argnums, mode ...).

    This is what makes ``tg.grad(f)(x)`` written inline in a loop cost what a hoisted
    ``g = tg.grad(f)`` costs. Bounded: ``$TRACEGRAD_TRANSFORM_CACHE_SIZE`` transformed
    functions, least recently used dropped first. A transform made while another trace runs is
    not cached (its closure holds that trace's tracers; the enclosing program is cached).

    Invariant: an entry's programs were all traced while ``fn``'s identity equalled its key. A
    closure cell can be rebound after ``tg.grad(f)`` was made (``nonlocal``), so the key is
    computed again at each trace (``revalidate``); when it moved, the entry leaves the cache
    (the object keeps working as a hoisted ``g`` does)."""
    if is_tracing():
        return _with_recipe(build(), kind, fn, opts)
    try:
        fkey, refs = function_key(fn)
        key = (kind, opts, fkey)
        hash(key)
    except TypeError:  # an unhashable option: nothing to key on, so build a fresh one
        return _with_recipe(build(), kind, fn, opts)
    with _LOCK:
        tf = _ENTRIES.get(key)
    if tf is not None and _still_keyed(tf, fn, key):
        with _LOCK:
            if key in _ENTRIES:
                _ENTRIES.move_to_end(key)
            _INFO.hits += 1
        return tf
    reason = _why_miss(kind, fn, opts, key)
    tf = _with_recipe(build(), kind, fn, opts)
    tf._identity = (kind, fn, opts, key)
    tf._key_refs = refs  # keeps the objects keyed by id alive while the entry lives
    tf._created_because = reason
    if (kind, _anchor(fn)) in _LAST:  # one existed: the first miss says what changed
        tf._first_reason = f"first call of a new {kind}: {reason}"
    with _LOCK:
        _INFO.misses += 1
        _INFO.miss_reasons.append(f"{kind}({getattr(fn, '__name__', fn)!s}): {reason}")
        del _INFO.miss_reasons[:-MISS_REASONS_KEPT]
        _file(key, tf)
        _LAST[(kind, _anchor(fn))] = key
    return tf


def _still_keyed(tf, fn, key) -> bool:
    """Whether ``tf``'s own function still has the identity it was filed under. A hit from
    another function object of equal identity is returned only then: ``tf`` traces *its*
    function, whose closure cells may have been rebound since (a lambda made in a loop over
    ``fn`` closes over the loop variable: the first lambda's cell holds the last ``fn`` once
    the loop ends, and a later hit for the first case traced the last case's function)."""
    ident = getattr(tf, "_identity", None)
    if ident is None:
        return False
    own = ident[1]
    if own is fn:
        return True  # the key was just computed from this very object
    try:
        now = function_key(own)[0]
    except TypeError:
        now = None
    if (ident[0], ident[2], now) == key:
        return True
    with _LOCK:  # stale: out of the cache, so the caller's function is built afresh
        if _ENTRIES.get(key) is tf:
            del _ENTRIES[key]
            _INFO.currsize = len(_ENTRIES)
        tf._identity = None
    return False


def _with_recipe(tf, kind: str, fn, opts: tuple):
    """``tf`` remembering how it was made, so a pickle can make it again (api/wire.py)."""
    tf._recipe = (kind, fn, opts)
    return tf


def _file(key, tf) -> None:
    _ENTRIES[key] = tf
    _ENTRIES.move_to_end(key)
    limit = options.transform_cache_size()
    _INFO.maxsize = limit
    while limit and len(_ENTRIES) > limit:
        _ENTRIES.popitem(last=False)
        _INFO.evictions += 1
    _INFO.currsize = len(_ENTRIES)
    if len(_LAST) > 4 * max(limit, 64):  # explanations only: keep it small
        _LAST.clear()


def _why_miss(kind, fn, opts, key) -> str:
    last = _LAST.get((kind, _anchor(fn)))
    if last is None:
        return "first transform of this function"
    if last[1] != opts:
        return f"transform options changed: {last[1]} -> {opts}"
    return describe_change(last[2], key[2], fn) or "not cached (evicted)"


def revalidate(tf) -> None:
    """Called before ``tf`` traces: if its function's identity moved since it was filed (a
    closure cell rebound), take it out of the cache, so that no lookup finds programs traced
    with another identity than the one it asks for."""
    ident = getattr(tf, "_identity", None)
    if ident is None:
        return
    kind, fn, opts, key = ident
    now = (kind, opts, function_key(fn)[0])
    if now == key:
        return
    with _LOCK:
        if _ENTRIES.get(key) is tf:
            del _ENTRIES[key]
            _INFO.currsize = len(_ENTRIES)
        tf._identity = None


def transform_cache_info() -> CacheInfo:
    """Hits, misses (each with the part of the function's identity that changed), size and
    evictions of the process-wide cache of transformed functions."""
    return _INFO


def transform_cache_clear() -> None:
    global _INFO
    with _LOCK:
        _ENTRIES.clear()
        _LAST.clear()
        _INFO = CacheInfo()
