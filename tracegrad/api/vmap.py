"""``tg.vmap``: ``fn`` traced once on one example's shapes, then re-emitted with the examples along
a new axis by each primitive's batching rule (passes/vmap.py): one batched program, not a loop.
Works inside and outside ``jit`` and composes with ``grad``/``jvp``/``vmap`` in any order."""
from __future__ import annotations

import functools

from ..errors import ArgumentError, ShapeError
from ..pytree import tree_flatten, tree_unflatten
from ..source_info import check_callable, user_src_with_text
from ..tracer import TraceContext, Tracer, aval_of


def _is_axis(a) -> bool:
    return a is None or (isinstance(a, int) and not isinstance(a, bool))


def _leaf_axes(spec, tree, what: str, src) -> list:
    """One axis (or None) per leaf of ``tree``: ``spec`` is an axis for all of them, or a pytree
    with ``tree``'s structure (a prefix: an axis stands for a whole subtree)."""
    if _is_axis(spec):
        return [spec] * len(tree_flatten(tree)[0])
    s_leaves, s_td = tree_flatten(spec, is_leaf=lambda x: x is None)
    if isinstance(spec, (tuple, list)) and isinstance(tree, (tuple, list)) and \
            len(spec) == len(tree):
        out = []
        for sub_spec, sub in zip(spec, tree):
            out += _leaf_axes(sub_spec, sub, what, src)
        return out
    if isinstance(spec, dict) and isinstance(tree, dict) and set(spec) == set(tree):
        out = []
        for k in tree_flatten(tree)[1].meta:  # the keys in the order tree_flatten walks them
            out += _leaf_axes(spec[k], tree[k], what, src)
        return out
    t_td = tree_flatten(tree)[1]
    raise ArgumentError(f"vmap: {what} {spec!r} does not match the structure it maps: "
                        f"expected an int, None or a pytree like {t_td}, got {s_td}", src=src)


def vmap(fn, in_axes=0, out_axes=0, axis_size=None):
    """``vmap(fn)(*args)``: ``fn`` applied to each slice of the mapped arguments along
    ``in_axes`` (int, None for "not mapped", or a pytree of them matching ``args``), results
    stacked along ``out_axes``. ``axis_size`` is needed only when no argument is mapped."""
    check_callable(fn, "the function given to tg.vmap")
    if not (_is_axis(in_axes) or isinstance(in_axes, (tuple, list, dict))):
        raise ArgumentError(f"vmap: in_axes must be an int, None, or a tuple/list/dict of them, "
                            f"got {in_axes!r}")

    @functools.wraps(fn)
    def mapped(*args):
        src = user_src_with_text(2)
        spec = in_axes
        if isinstance(spec, list):
            spec = tuple(spec)
        if isinstance(spec, tuple) and len(spec) != len(args):
            raise ArgumentError(
                f"vmap: in_axes has {len(spec)} entries but the function got {len(args)} "
                f"arguments; give one entry (an int, None or a pytree) per argument", src=src)
        leaves, td = tree_flatten(args)
        axes = _leaf_axes(spec, args, "in_axes", src)
        return _apply(fn, leaves, td, axes, out_axes, axis_size, src)
    mapped.__wrapped_vmap__ = fn
    return mapped


def _apply(fn, leaves, td, axes, out_axes, axis_size, src):
    from .. import numpy as tnp
    from ..passes.vmap import batch_inline
    from ..prims.batching import with_batch
    leaves = [x if isinstance(x, Tracer) else tnp.asarray(x) for x in leaves]
    sizes = set()
    moved = []
    for x, ax in zip(leaves, axes):
        if ax is None:
            moved.append(x)
            continue
        nd = aval_of(x).ndim
        if not -nd <= ax < nd:
            raise ShapeError(f"vmap: in_axes {ax} is out of range for an argument of shape "
                             f"{aval_of(x).shape}", src=src)
        ax %= nd
        sizes.add(aval_of(x).shape[ax])
        moved.append(tnp.moveaxis(x, ax, 0) if ax else x)
    if axis_size is not None:
        sizes.add(int(axis_size))
    if len(sizes) != 1:
        raise ShapeError("vmap: " + (f"the mapped axes have different sizes {sorted(sizes)}"
                                     if sizes else "no argument is mapped (in_axes all None): "
                                     "pass axis_size=N"), src=src)
    size = sizes.pop()
    batched = [ax is not None for ax in axes]
    slice_avals = [aval_of(x).update(shape=aval_of(x).shape[1:]) if b else aval_of(x)
                   for x, b in zip(moved, batched)]
    with TraceContext("vmap") as ctx:
        ins = [ctx.new_input(a) for a in slice_avals]
        out = fn(*tree_unflatten(td, ins))
        out_leaves, out_td = tree_flatten(out)
        graph, captured = ctx.to_graph(out_leaves)
    outs, out_b = batch_inline(graph, moved + captured,
                               batched + [False] * len(captured), size)
    o_axes = _leaf_axes(out_axes, out, "out_axes", src)
    result = []
    for o, b, ax in zip(outs, out_b, o_axes):
        if ax is None:
            if b:
                raise ShapeError("vmap: out_axes=None for an output that depends on the "
                                 "mapped arguments (it differs per example)", src=src)
            result.append(o)
            continue
        o = with_batch(o, b, size)
        nd = len(aval_of(o).shape)
        if not -nd <= ax < nd:
            raise ShapeError(f"vmap: out_axes {ax} is out of range for a result with "
                             f"{nd} axes", src=src)
        result.append(tnp.moveaxis(o, 0, ax % nd) if ax % nd else o)
    return tree_unflatten(out_td, result)
