"""Index and copy primitives: broadcast, reshape, transpose, slice, pad, concatenate, rev,
gather and scatter_add. All are linear in their array operand; their transposes are declared
with the differentiation rules.
"""
from __future__ import annotations

import numpy as np

from .. import dtypes
from ..errors import DTypeError, ShapeError
from ..primitive import Primitive, Traits
from . import np_helpers as rt
from .common import aval, check_class, same_dtypes


def _bcast_rule(x, *, shape, broadcast_dimensions):
    bd = tuple(broadcast_dimensions)
    if any(d < 0 for d in shape):
        raise ShapeError(f"broadcast_in_dim: negative size in {tuple(shape)}")
    if len(bd) != x.ndim or list(bd) != sorted(set(bd)) or \
            any(not 0 <= d < len(shape) for d in bd):
        raise ShapeError(f"broadcast_in_dim: dimensions {bd} do not place {x.shape} into {shape}")
    for i, d in enumerate(bd):
        if x.shape[i] not in (1, shape[d]):
            raise ShapeError(f"broadcast_in_dim: cannot broadcast {x.shape} to {tuple(shape)}")
    return [aval(shape, x.dtype)]


broadcast_in_dim_p = Primitive(
    "broadcast_in_dim", kind="structural", abstract_eval=_bcast_rule, impl=rt.broadcast_in_dim,
    linear_args=(0,),
    # never folded: a broadcast constant would only be a big constant
    traits=Traits(view=True, flops=False, foldable=False, range="hull"))


def _reshape_rule(x, *, new_sizes):
    # negative sizes are rejected outright: (-1, -6) has the right product for 6 elements
    if any(d < 0 for d in new_sizes) or int(np.prod(new_sizes, dtype=np.int64)) != x.size:
        raise ShapeError(f"reshape: cannot reshape {x.shape} ({x.size} elements) to "
                         f"{tuple(new_sizes)}")
    return [aval(new_sizes, x.dtype)]


reshape_p = Primitive(
    "reshape", kind="structural", abstract_eval=_reshape_rule,
    impl=lambda x, *, new_sizes: np.reshape(x, new_sizes),
    linear_args=(0,), traits=Traits(view=True, flops=False, range="hull"))


def _transpose_rule(x, *, permutation):
    if sorted(permutation) != list(range(x.ndim)):
        raise ShapeError(f"transpose: {tuple(permutation)} is not a permutation of {x.ndim} axes")
    return [aval([x.shape[p] for p in permutation], x.dtype)]


transpose_p = Primitive(
    "transpose", kind="structural", abstract_eval=_transpose_rule,
    impl=lambda x, *, permutation: np.transpose(x, permutation),
    linear_args=(0,), traits=Traits(view=True, flops=False, range="hull"))


def _slice_rule(x, *, start_indices, limit_indices, strides):
    if not (len(start_indices) == len(limit_indices) == len(strides) == x.ndim):
        raise ShapeError(f"slice: index lists do not match {x.ndim} dimensions")
    shape = []
    for d, s, e, st in zip(x.shape, start_indices, limit_indices, strides):
        if not (0 <= s <= e <= d) or st < 1:
            raise ShapeError(f"slice: [{s}:{e}:{st}] out of range for a dimension of {d}")
        shape.append((e - s + st - 1) // st)
    return [aval(shape, x.dtype)]


slice_p = Primitive(
    "slice", kind="structural", abstract_eval=_slice_rule, impl=rt.slice_,
    linear_args=(0,), traits=Traits(view=True, flops=False, range="hull"))


def _pad_rule(x, pv, *, low, high, interior):
    if pv.shape != ():
        raise ShapeError("pad: the padding value must be a scalar")
    same_dtypes("pad", (x, pv))
    if not (len(low) == len(high) == len(interior) == x.ndim):
        raise ShapeError(f"pad: padding lists do not match {x.ndim} dimensions")
    if min((*low, *high, *interior), default=0) < 0:
        raise ShapeError("pad: negative padding is not supported (use slice)")
    shape = [lo + hi + (d + (d - 1) * it if d else 0)
             for d, lo, hi, it in zip(x.shape, low, high, interior)]
    return [aval(shape, x.dtype)]


pad_p = Primitive(
    "pad", kind="structural", abstract_eval=_pad_rule, impl=rt.pad,
    linear_args=(0, 1), traits=Traits(flops=False, range="hull"))


def _concat_rule(*xs, dimension):
    if not xs:
        raise ShapeError("concatenate needs at least one operand")
    nd = xs[0].ndim
    if not 0 <= dimension < nd:
        raise ShapeError(f"concatenate: dimension {dimension} out of range for {nd} dimensions")
    same_dtypes("concatenate", xs)
    for x in xs:
        if x.ndim != nd or any(a != b for i, (a, b) in enumerate(zip(x.shape, xs[0].shape))
                               if i != dimension):
            raise ShapeError(f"concatenate: shapes {[x.shape for x in xs]} do not match "
                             f"off axis {dimension}")
    shape = list(xs[0].shape)
    shape[dimension] = sum(x.shape[dimension] for x in xs)
    return [aval(shape, xs[0].dtype)]


concatenate_p = Primitive(
    "concatenate", kind="structural", abstract_eval=_concat_rule,
    impl=lambda *xs, dimension: np.concatenate(xs, axis=dimension),
    linear_args=(-1,),  # every operand
    traits=Traits(flops=False, range="hull"))


def _rev_rule(x, *, dimensions):
    if any(not 0 <= d < x.ndim for d in dimensions) or len(set(dimensions)) != len(dimensions):
        raise ShapeError(f"rev: dimensions {tuple(dimensions)} out of range for {x.shape}")
    return [x]


rev_p = Primitive(
    "rev", kind="structural", abstract_eval=_rev_rule,
    impl=lambda x, *, dimensions: np.flip(x, tuple(dimensions)),
    linear_args=(0,), traits=Traits(view=True, flops=False, range="hull"))


def _check_indices(name, x, indices):
    if not dtypes.is_int(indices.dtype):
        raise DTypeError(f"{name}: indices must be integers, got {indices.dtype}")
    # k = 0 index components would be a broadcast, which broadcast_in_dim already is
    if indices.ndim < 1 or not 1 <= indices.shape[-1] <= x.ndim:
        raise ShapeError(f"{name}: indices {indices.shape} must end in an axis of 1 to "
                         f"{x.ndim} index components (one per indexed axis of {x.shape})")
    return tuple(indices.shape[:-1]) + tuple(x.shape[indices.shape[-1]:])


def _gather_rule(x, indices):
    return [aval(_check_indices("gather", x, indices), x.dtype)]


gather_p = Primitive(
    "gather", kind="structural", abstract_eval=_gather_rule, impl=rt.gather,
    linear_args=(0,),
    # indices as NumPy's: -n <= i < n (negatives count from the end); others raise
    # TracedIndexError on every backend (np_bounds.py, codegen/c/bounds.py), never clamp
    doc="out[b..., r...] = x[idx[b..., 0], ..., idx[b..., k-1], r...]; negative indices wrap, "
        "out-of-range ones raise IndexError",
    traits=Traits(flops=False, range="hull", index_operands=(1,), may_raise=True))


def _scatter_add_rule(x, indices, updates):
    expect = _check_indices("scatter_add", x, indices)
    if tuple(updates.shape) != expect:
        raise ShapeError(f"scatter_add: updates {updates.shape} should be {expect}")
    check_class("scatter_add", same_dtypes("scatter_add", (x, updates)), "cnumeric")
    return [x]


scatter_add_p = Primitive(
    "scatter_add", kind="structural", abstract_eval=_scatter_add_rule, impl=rt.scatter_add,
    linear_args=(0, 2), doc="x with updates added at indices (duplicates accumulate; "
                            "indices as gather's: out-of-range ones raise IndexError)",
    traits=Traits(range="hull", index_operands=(1,), may_raise=True))


# --- derivative rules: linear, so the tangent goes through the primitive and the vjp is the
# transpose (after the declarations: ops binds them; rules call ops.* only when they run) ----
from ..primitive import defbatch, defjvp, deftranspose, defvjp  # noqa: E402
from . import ops  # noqa: E402
from ..ir import Lit  # noqa: E402
from ..primitive import current_trace, is_traced  # noqa: E402
from .batching import shift_axes, with_batch  # noqa: E402
from .linear import linear_jvp  # noqa: E402


def _bcast_vjp(cts, primals, outs, *, shape, broadcast_dimensions):
    (ct,) = cts
    x = primals[0]
    xs = ops.shape_of(x)
    bd = tuple(broadcast_dimensions)
    axes = [d for d in range(len(shape)) if d not in bd]
    axes += [bd[i] for i, n in enumerate(xs) if n == 1 and shape[bd[i]] != 1]
    summed = ops.reduce_sum(ct, sorted(axes))  # adjoint of a broadcast is a sum
    return [ops.reshape(summed, xs) if ops.is_var(x) else None]


def _reshape_vjp(cts, primals, outs, *, new_sizes):
    return [ops.reshape(cts[0], ops.shape_of(primals[0]))]


def _transpose_vjp(cts, primals, outs, *, permutation):
    inv = [0] * len(permutation)
    for i, p in enumerate(permutation):
        inv[p] = i
    return [ops.transpose(cts[0], inv)]


def _slice_vjp(cts, primals, outs, *, start_indices, limit_indices, strides):
    (ct,) = cts
    xs = ops.shape_of(primals[0])
    n_out = ops.shape_of(ct)
    low, high, interior = [], [], []
    for d, s, st, n in zip(xs, start_indices, strides, n_out):
        used = s + (n - 1) * st + 1 if n else s
        low.append(s)
        high.append(d - used)
        interior.append(st - 1 if n > 1 else 0)
    return [ops.pad(ct, 0, low, high, interior)]


def _pad_vjp(cts, primals, outs, *, low, high, interior):
    (ct,) = cts
    x, pv = primals
    xs = ops.shape_of(x)
    limits = [lo + (d - 1) * (it + 1) + 1 if d else lo for d, lo, it in zip(xs, low, interior)]
    ct_x = ops.slice(ct, low, limits, [it + 1 for it in interior]) if all(xs) else None
    ct_pv = None
    if ops.is_var(pv):
        total = ops.reduce_sum(ct, range(len(xs)))
        inner = ops.reduce_sum(ct_x, range(len(xs))) if ct_x is not None else None
        ct_pv = total if inner is None else ops.sub(total, inner)
    return [ct_x, ct_pv]


def _concat_vjp(cts, primals, outs, *, dimension):
    (ct,) = cts
    res, start = [], 0
    full = ops.shape_of(ct)
    for p in primals:
        n = ops.shape_of(p)[dimension]
        lo = [0] * len(full)
        hi = list(full)
        lo[dimension], hi[dimension] = start, start + n
        res.append(ops.slice(ct, lo, hi) if ops.is_var(p) else None)
        start += n
    return res


def _rev_vjp(cts, primals, outs, *, dimensions):
    return [ops.rev(cts[0], dimensions)]


def _gather_vjp(cts, primals, outs):
    (ct,) = cts
    x, idx = primals
    return [ops.scatter_add(ops.zeros_like(x), idx, ct), None]


def _scatter_add_vjp(cts, primals, outs):
    (ct,) = cts
    x, idx, upd = primals
    return [ct if ops.is_var(x) else None, None,
            ops.gather(ct, idx) if ops.is_var(upd) else None]


for _p, _rule in ((broadcast_in_dim_p, _bcast_vjp), (reshape_p, _reshape_vjp),
                  (transpose_p, _transpose_vjp), (slice_p, _slice_vjp), (pad_p, _pad_vjp),
                  (concatenate_p, _concat_vjp), (rev_p, _rev_vjp), (gather_p, _gather_vjp),
                  (scatter_add_p, _scatter_add_vjp)):
    defjvp(_p, linear_jvp(_p))
    defvjp(_p, _rule)
    deftranspose(_p, _rule)


# --- batching rules (vmap): the batch is axis 0 of every batched operand and result ----------
def _batch_bcast(args, batched, size, *, shape, broadcast_dimensions):
    return broadcast_in_dim_p.bind(args[0], shape=(size,) + tuple(shape),
                                   broadcast_dimensions=(0,) + shift_axes(broadcast_dimensions))


def _batch_reshape(args, batched, size, *, new_sizes):
    return reshape_p.bind(args[0], new_sizes=(size,) + tuple(new_sizes))


def _batch_transpose(args, batched, size, *, permutation):
    return transpose_p.bind(args[0], permutation=(0,) + shift_axes(permutation))


def _batch_slice(args, batched, size, *, start_indices, limit_indices, strides):
    return slice_p.bind(args[0], start_indices=(0,) + tuple(start_indices),
                        limit_indices=(size,) + tuple(limit_indices),
                        strides=(1,) + tuple(strides))


def _batch_pad(args, batched, size, *, low, high, interior):
    x, pv = args
    if batched[1]:  # a padding value per example: pad with zeros, then add it where padded
        xb = with_batch(x, batched[0], size)
        zero = ops.full((), 0, ops.dtype_of(xb))
        body = pad_p.bind(xb, zero, low=(0,) + tuple(low), high=(0,) + tuple(high),
                          interior=(0,) + tuple(interior))
        ones = ops.full(ops.shape_of(x)[int(batched[0]):], 1, dtypes.bool_)
        where = pad_p.bind(ones, ops.full((), False, dtypes.bool_), low=tuple(low),
                           high=tuple(high), interior=tuple(interior))
        shape = ops.shape_of(body)
        fill = ops.broadcast_in_dim(pv, shape, (0,))
        inside = ops.broadcast_in_dim(where, shape, tuple(range(1, len(shape))))
        return ops.select(inside, body, fill)
    return pad_p.bind(x, pv, low=(0,) + tuple(low), high=(0,) + tuple(high),
                      interior=(0,) + tuple(interior))


def _batch_concat(args, batched, size, *, dimension):
    return concatenate_p.bind(*[with_batch(a, b, size) for a, b in zip(args, batched)],
                              dimension=dimension + 1)


def _batch_rev(args, batched, size, *, dimensions):
    return rev_p.bind(args[0], dimensions=shift_axes(dimensions))


def _batched_indices(indices, batched, size):
    """Indices addressing a batched operand: the example's number becomes the first index
    component, so one gather/scatter serves every example (a (size, ..., k + 1) index)."""
    idx = with_batch(indices, batched, size)
    shape = ops.shape_of(idx)
    example = ops.iota(shape[:-1] + (1,), 0, ops.dtype_of(idx))
    return ops.concatenate([example, idx], len(shape) - 1)


# A shared index (jacfwd/jacrev/vmap of a function gathering at constant positions) needs no
# per-example index: the batch can ride along as an un-indexed axis right after the k indexed
# ones (gather copies x[i, ...] whole), then move to the front. That costs a transpose of the
# operand and of the result where the iota + concatenate index costs (size, ..., k + 1) integers
# written, copied and read per call. Measured (CPU time, 1 thread, C / NumPy backend), x
# (B, V, R) gathered at N shared rows: B=26 V=10^4 N=153,600 R=1: index 16.8 / 61.9 ms,
# transposes 7.1 / 8.8 ms; R=3 (GradBench ht): index 27.2 / 94 ms, transposes 30.4 / 62 ms;
# an embedding read at a few rows (B=16 V=5*10^4 N=64 R=64): index 0.04 ms, transposes 28 ms
# on C (a copy of the whole table; NumPy's transposes are views). The choice is by bytes: the
# elements the transposes copy against the index's, at C's costs: ht's whole Jacobian (c=51200)
# keeps the index, 42-44 ms on C where the transposes take 48-50 (on NumPy 160 against 128 ms:
# the rule cannot see the backend; a C transpose as a strided view would tip it there too).
def _moved(x, src: int, dst: int):
    """``x`` with axis ``src`` moved to position ``dst`` (no equation when they are equal)."""
    perm = [d for d in range(len(ops.shape_of(x))) if d != src]
    perm.insert(dst, src)
    return ops.transpose(x, perm)


def _broadcast_at(x, axis: int, size: int):
    """A shared ``x`` broadcast along a new axis ``axis`` of ``size`` (``with_batch`` puts it at
    0): a constant is broadcast by an equation in the trace, not evaluated ``size`` times over."""
    shape = ops.shape_of(x)
    out = shape[:axis] + (size,) + shape[axis:]
    dims = tuple(d if d < axis else d + 1 for d in range(len(shape)))
    if isinstance(x, Lit):
        return ops.full(out, x.value, x.aval.dtype)
    if not is_traced(x) and current_trace() is not None:
        return broadcast_in_dim_p.bind(x, shape=out, broadcast_dimensions=dims,
                                       _ctx=current_trace())
    return ops.broadcast_in_dim(x, out, dims)


def _transposes_cheaper(moved: int, dtype, idx) -> bool:
    """Whether the transposes, copying ``moved`` elements of ``dtype`` per example, copy fewer
    bytes than the batched index has per example (the measurements above)."""
    ishape = ops.shape_of(idx)
    n = int(np.prod(ishape[:-1], dtype=np.int64))
    return moved * np.dtype(dtype).itemsize <= n * (ishape[-1] + 1) * ops.dtype_of(idx).itemsize


def _sizes(shape, idx) -> tuple[int, int]:
    """(elements of an operand of ``shape``, elements gathered from it at ``idx``)."""
    ishape = ops.shape_of(idx)
    rows = int(np.prod(ishape[:-1], dtype=np.int64))
    return int(np.prod(shape, dtype=np.int64)), rows * int(np.prod(shape[ishape[-1]:],
                                                                    dtype=np.int64))


def _batch_gather(args, batched, size):
    x, idx = args
    k, m = ops.shape_of(idx)[-1], len(ops.shape_of(idx)) - 1
    if not batched[1]:  # one index for every example: the batch rides along after axis k
        whole, rows = _sizes(ops.shape_of(x)[1:], idx)
        if _transposes_cheaper(whole + (rows if m else 0), ops.dtype_of(x), idx):
            return _moved(gather_p.bind(_moved(x, 0, k), idx), m, 0)
    elif not batched[0]:  # a shared operand: the batched index addresses it as it is
        return gather_p.bind(x, idx)
    return gather_p.bind(with_batch(x, batched[0], size), _batched_indices(idx, batched[1], size))


def _batch_scatter_add(args, batched, size):
    x, idx, upd = args
    k, m = ops.shape_of(idx)[-1], len(ops.shape_of(idx)) - 1
    if not batched[1] and not batched[2]:  # only x differs per example: add one shared scatter
        zeros = ops.full(ops.shape_of(x)[1:], 0, ops.dtype_of(x))
        return ops.add(x, with_batch(scatter_add_p.bind(zeros, idx, upd), False, size))
    if not batched[1]:  # shared index, per-example updates: the batch rides along after axis k
        # the result moves, and x when it is batched (a shared x is broadcast in place)
        whole, rows = _sizes(ops.shape_of(x)[1:] if batched[0] else ops.shape_of(x), idx)
        if _transposes_cheaper(whole * (1 + batched[0]) + (rows if m else 0), ops.dtype_of(upd),
                               idx):
            xt = _moved(x, 0, k) if batched[0] else _broadcast_at(x, k, size)
            return _moved(scatter_add_p.bind(xt, idx, _moved(upd, 0, m)), k, 0)
    return scatter_add_p.bind(with_batch(x, batched[0], size),
                              _batched_indices(idx, batched[1], size),
                              with_batch(upd, batched[2], size))


for _p, _rule in ((broadcast_in_dim_p, _batch_bcast), (reshape_p, _batch_reshape),
                  (transpose_p, _batch_transpose), (slice_p, _batch_slice), (pad_p, _batch_pad),
                  (concatenate_p, _batch_concat), (rev_p, _batch_rev), (gather_p, _batch_gather),
                  (scatter_add_p, _batch_scatter_add)):
    defbatch(_p, _rule)
