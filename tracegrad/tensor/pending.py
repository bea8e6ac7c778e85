"""Weak collections of tensors for the lazy front: ``IdWeakSet`` (identity-compared) and
``PendingList`` (the lazy tensors the user still holds). Invariant: neither keeps a tensor
alive, and iterating a ``PendingList`` yields exactly the live tensors added and not computed."""
from __future__ import annotations

import weakref


class IdWeakSet:
    """A set of objects held weakly and compared by identity (``weakref.WeakSet`` compares with
    ``==``, which is elementwise on tensors)."""

    __slots__ = ("_refs",)

    def __init__(self):
        self._refs: dict = {}

    def add(self, obj) -> None:
        k = id(obj)
        if k not in self._refs:
            refs = self._refs
            self._refs[k] = weakref.ref(obj, lambda _r, k=k: refs.pop(k, None))

    def discard(self, obj) -> None:
        self._refs.pop(id(obj), None)

    def clear(self) -> None:
        self._refs.clear()

    def __contains__(self, obj) -> bool:
        return id(obj) in self._refs

    def __len__(self) -> int:
        return len(self._refs)

    def __iter__(self):
        for r in list(self._refs.values()):
            obj = r()
            if obj is not None:
                yield obj


class PendingList:
    """Lazy tensors whose values are not computed yet, held weakly.

    Recording an operation adds every output here, so ``add`` must be cheap: a plain weak
    reference appended to a list (no callback, no dict), where ``IdWeakSet.add`` cost ~3x as
    much. Dead and computed entries are dropped when the list is walked and, so that a loop
    that never mutates a leaf cannot grow it without bound, whenever it has doubled since the
    last compaction. A tensor counts as computed once its node holds its value, so ``discard``
    has nothing to do.
    """

    __slots__ = ("_limit", "_refs")

    def __init__(self):
        self._refs: list = []
        self._limit = 1024

    def add(self, t) -> None:
        refs = self._refs
        refs.append(weakref.ref(t))
        if len(refs) > self._limit:
            self._compact()

    def discard(self, t) -> None:
        """Nothing to do: a computed tensor is skipped (kept for the set-like interface)."""

    def clear(self) -> None:
        self._refs = []

    def _live(self) -> tuple:
        tensors, refs = [], []
        for r in self._refs:
            t = r()
            if t is not None and t._node.values[t._index] is None:
                tensors.append(t)
                refs.append(r)
        return tensors, refs

    def _compact(self) -> None:
        tensors, self._refs = self._live()
        self._limit = max(1024, 2 * len(tensors))

    def take(self) -> list:
        """The pending tensors, and the list emptied (they are about to be computed)."""
        tensors, _ = self._live()
        self._refs = []
        return tensors

    def __len__(self) -> int:
        return len(self._live()[0])

    def __bool__(self) -> bool:
        return bool(self._refs)  # cheap; may be True with only dead or computed entries

    def __iter__(self):
        tensors, self._refs = self._live()
        return iter(tensors)
