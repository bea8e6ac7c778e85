"""``tg.func.vmap`` on tensors: ``fn`` mapped over an axis of its tensor arguments as ONE lazy
operation whose function is the array-level ``tg.vmap`` of ``fn``'s recorded body (the body is
recorded once on placeholder tensors, as loop bodies are: tracegrad/tensor/control.py), so
``backward()`` differentiates through it and closed-over parameters receive their gradients.
"""
from __future__ import annotations

from ..errors import ArgumentError, ShapeError
from ..pytree import tree_flatten, tree_unflatten
from ..source_info import user_src_with_text
from .control import _as_tensor, _Body, _loop_op, has_tensor


def vmap(fn, in_axes=0, out_axes=0, randomness="error", chunk_size=None):
    """``torch.func.vmap``: ``in_axes``/``out_axes`` as there (an int, None or a pytree per
    argument). ``randomness`` and ``chunk_size`` take PyTorch's defaults only."""
    from ..api.vmap import vmap as array_vmap
    if randomness != "error" or chunk_size is not None:
        raise ArgumentError("tg.func.vmap: randomness= and chunk_size= other than the defaults "
                            "are not supported")

    def mapped(*args):
        if not has_tensor(args):
            return array_vmap(fn, in_axes, out_axes)(*args)
        src = user_src_with_text(2)
        leaves, td = tree_flatten(tuple(args))
        leaves = [_as_tensor(x) for x in leaves]
        from ..api.vmap import _leaf_axes
        spec = tuple(in_axes) if isinstance(in_axes, list) else in_axes
        if isinstance(spec, tuple) and len(spec) != len(args):
            raise ArgumentError(f"vmap: in_axes has {len(spec)} entries but the function got "
                                f"{len(args)} arguments", src=src)
        axes = _leaf_axes(spec, tuple(args), "in_axes", src)
        slice_avals = []
        for t, ax in zip(leaves, axes):
            shape = tuple(t.shape)
            if ax is not None:
                if not -len(shape) <= ax < len(shape):
                    raise ShapeError(f"vmap: in_axes {ax} is out of range for a tensor of "
                                     f"shape {shape}", src=src)
                shape = shape[:ax % len(shape)] + shape[ax % len(shape) + 1:]
            slice_avals.append((shape, t.dtype))
        body = _Body(lambda a: fn(*a), [(td, [(s, d) for s, d in slice_avals])],
                     "tg.func.vmap body", src)
        leaf_spec = tree_unflatten(td, axes)

        def build(consts, vals):
            g = body.as_array_fn(consts[0], 1)
            return array_vmap(lambda *a: g(a), leaf_spec, out_axes)(*tree_unflatten(td, vals))
        key = (td, tuple(axes), repr(out_axes))
        return _loop_op("vmap", key, [body], (tuple(leaves),), build)
    return mapped
