"""Shard terms and their weighted, fixed-order tree reduction. A shard of ``n`` examples gives
``(n, n * value, n * grads)``; terms add pairwise in shard order (``tree_order``), and only the
root divides by the total, so the result does not depend on where or when shards ran."""
from __future__ import annotations

import numpy as np

from ..errors import ShapeError
from ..pytree import tree_flatten, tree_unflatten


def shard_size(shard) -> int:
    """Examples in a shard: the first extent of its first array (all must share it)."""
    arrays = shard if isinstance(shard, tuple) else (shard,)
    sizes = {int(np.shape(a)[0]) if np.ndim(a) else 1 for a in arrays}
    if len(sizes) != 1:
        raise ShapeError(f"a shard's arrays have different first extents {sorted(sizes)}: "
                         "each shard must hold the same examples in every array")
    return sizes.pop()


def shard_terms(value_and_grad, params, shard, reduction: str):
    """``(n, weighted value, weighted grads)`` of one shard; ``reduction="mean"``: the loss is a
    mean over the shard's examples, so it weighs ``n``; ``"sum"``: it weighs 1."""
    arrays = shard if isinstance(shard, tuple) else (shard,)
    n = shard_size(shard)
    value, grads = value_and_grad(params, *arrays)
    w = float(n) if reduction == "mean" else 1.0
    leaves, tree = tree_flatten(grads)
    scaled = [np.asarray(g) * w for g in leaves]
    return n, np.asarray(value) * w, tree_unflatten(tree, scaled)


def add_terms(a, b):
    """Sum of two terms (sizes, values, gradient trees leaf by leaf): one node of the tree."""
    la, tree = tree_flatten(a[2])
    lb, _ = tree_flatten(b[2])
    return a[0] + b[0], a[1] + b[1], tree_unflatten(tree, [x + y for x, y in zip(la, lb)])


def finish(term, reduction: str):
    """``(value, grads)`` from the root term: divided by the total examples for a mean."""
    n, value, grads = term
    if reduction != "mean":
        return value, grads
    leaves, tree = tree_flatten(grads)
    return value / n, tree_unflatten(tree, [g / n for g in leaves])


def tree_order(items: list, combine) -> object:
    """Reduce ``items`` pairwise, level by level, in their order: ``((a+b)+(c+d))+e``. The
    shape of the tree depends only on ``len(items)``, so floating-point sums are reproducible."""
    return tree_levels(items, combine, 1)[0]


def tree_levels(items: list, combine, stop_at: int) -> list:
    """The first level of ``tree_order``'s tree with at most ``stop_at`` items: finishing it
    with ``tree_order`` elsewhere (on the driver) builds the very same tree."""
    if not items:
        raise ValueError("no shards to reduce")
    level = list(items)
    while len(level) > max(stop_at, 1):
        nxt = [combine(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level
