"""Pytrees: nested tuples, lists and dicts of leaves, flattened to a leaf list plus a hashable treedef.

Dicts flatten in sorted key order (as JAX does) so the treedef does not depend on insertion order.
``None`` is an empty node, not a leaf.
"""
from __future__ import annotations

from typing import Any, Callable


class TreeDef:
    """Hashable structure of a pytree: ``kind`` is leaf/none/tuple/list/dict, ``meta`` the dict keys."""

    __slots__ = ("kind", "meta", "children", "num_leaves", "_hash")

    def __init__(self, kind: str, meta: Any, children: tuple):
        self.kind = kind
        self.meta = meta
        self.children = children
        self.num_leaves = 1 if kind == "leaf" else sum(c.num_leaves for c in children)
        self._hash = hash((kind, meta, children))

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other) -> bool:
        return (isinstance(other, TreeDef) and self._hash == other._hash and self.kind == other.kind
                and self.meta == other.meta and self.children == other.children)

    def __repr__(self) -> str:
        if self.kind == "leaf":
            return "*"
        if self.kind == "none":
            return "None"
        inner = ", ".join(map(repr, self.children))
        if self.kind == "tuple":
            return f"({inner}{',' if len(self.children) == 1 else ''})"
        if self.kind == "list":
            return f"[{inner}]"
        if self.kind == "namedtuple":
            return f"{self.meta.__name__}({inner})"
        return "{" + ", ".join(f"{k!r}: {c!r}" for k, c in zip(self.meta, self.children)) + "}"


LEAF = TreeDef("leaf", None, ())
NONE = TreeDef("none", None, ())


def tree_flatten(tree: Any, is_leaf: Callable[[Any], bool] | None = None) -> tuple[list, TreeDef]:
    leaves: list = []
    treedef = _flatten(tree, leaves, is_leaf)
    return leaves, treedef


def _flatten(tree, leaves, is_leaf) -> TreeDef:
    if is_leaf is not None and is_leaf(tree):
        leaves.append(tree)
        return LEAF
    if tree is None:
        return NONE
    if isinstance(tree, tuple):
        if hasattr(tree, "_fields"):  # a namedtuple keeps its type
            return TreeDef("namedtuple", type(tree),
                           tuple(_flatten(c, leaves, is_leaf) for c in tree))
        return TreeDef("tuple", None, tuple(_flatten(c, leaves, is_leaf) for c in tree))
    if isinstance(tree, list):
        return TreeDef("list", None, tuple(_flatten(c, leaves, is_leaf) for c in tree))
    if isinstance(tree, dict):
        try:
            keys = tuple(sorted(tree))
        except TypeError:  # keys of mixed types: a deterministic order all the same
            keys = tuple(sorted(tree, key=lambda k: (type(k).__name__, repr(k))))
        return TreeDef("dict", keys, tuple(_flatten(tree[k], leaves, is_leaf) for k in keys))
    leaves.append(tree)
    return LEAF


def tree_unflatten(treedef: TreeDef, leaves) -> Any:
    it = iter(leaves)
    out = _unflatten(treedef, it)
    return out


def _unflatten(td: TreeDef, it):
    if td.kind == "leaf":
        return next(it)
    if td.kind == "none":
        return None
    kids = [_unflatten(c, it) for c in td.children]
    if td.kind == "tuple":
        return tuple(kids)
    if td.kind == "list":
        return kids
    if td.kind == "namedtuple":
        return td.meta(*kids)
    return dict(zip(td.meta, kids))


def tree_map(fn: Callable, tree: Any, *rest: Any) -> Any:
    leaves, td = tree_flatten(tree)
    others = [tree_flatten(r)[0] for r in rest]
    return tree_unflatten(td, [fn(x, *xs) for x, *xs in zip(leaves, *others)])


class FieldKey(str):
    """A namedtuple field name in a key path (printed as ``.name``, not ``['name']``)."""


def tree_paths(treedef: TreeDef) -> list[tuple]:
    """One key path per leaf, in flattening order: ints index tuples and lists, dict keys index
    dicts, ``FieldKey`` names namedtuple fields."""
    out: list[tuple] = []

    def walk(td: TreeDef, path: tuple) -> None:
        if td.kind == "leaf":
            out.append(path)
            return
        if td.kind == "dict":
            keys = td.meta
        elif td.kind == "namedtuple":
            keys = [FieldKey(f) for f in td.meta._fields]
        else:
            keys = range(len(td.children))
        for k, c in zip(keys, td.children):
            walk(c, path + (k,))

    walk(treedef, ())
    return out


def keystr(path: tuple) -> str:
    """``[0]['w'].bias`` for a key path."""
    return "".join(f".{k}" if isinstance(k, FieldKey) else f"[{k!r}]" for k in path)
