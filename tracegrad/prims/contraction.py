"""``dot_general``: contraction over paired axes with optional batch axes (matmul, dot, einsum)."""
from __future__ import annotations

from ..errors import ShapeError
from ..primitive import Primitive, Traits
from . import np_helpers as rt
from .common import aval, check_class, same_dtypes


def _dot_rule(a, b, *, dimension_numbers):
    (lc, rc), (lb, rb) = dimension_numbers
    dt = same_dtypes("dot_general", (a, b))
    check_class("dot_general", dt, "cnumeric")
    if len(lc) != len(rc) or len(lb) != len(rb):
        raise ShapeError("dot_general: contracting/batch dimension lists differ in length")
    # axes are non-negative: a negative one would pass the size check but not the free-axis
    # bookkeeping below
    if any(not 0 <= i < a.ndim for i in (*lc, *lb)) or any(not 0 <= j < b.ndim for j in (*rc, *rb)):
        raise ShapeError(f"dot_general: axes {dimension_numbers} out of range for {a.shape} and "
                         f"{b.shape}")
    for i, j in list(zip(lc, rc)) + list(zip(lb, rb)):
        if a.shape[i] != b.shape[j]:
            raise ShapeError(f"dot_general: {a.shape} and {b.shape} do not match on axes {i} "
                             f"and {j} ({a.shape[i]} vs {b.shape[j]})")
    if len(set(lc) | set(lb)) != len(lc) + len(lb) or len(set(rc) | set(rb)) != len(rc) + len(rb):
        raise ShapeError("dot_general: an axis is both batch and contracting")
    batch = [a.shape[i] for i in lb]
    a_free = [d for i, d in enumerate(a.shape) if i not in lc and i not in lb]
    b_free = [d for i, d in enumerate(b.shape) if i not in rc and i not in rb]
    if list(lb) != list(range(len(lb))) or list(rb) != list(range(len(rb))):
        raise ShapeError("dot_general: batch axes must lead both operands")
    return [aval(batch + a_free + b_free, dt)]


dot_general_p = Primitive(
    "dot_general", kind="contraction", abstract_eval=_dot_rule, impl=rt.dot_general,
    linear_args=(0, 1),
    doc="out axes: batch, a's free axes, b's free axes; batch axes lead both operands",
    traits=Traits())


# --- derivative rules: bilinear, two transposes (after the declaration: ops binds it) ----------
from ..primitive import defjvp, deftranspose, defvjp  # noqa: E402
from . import ops  # noqa: E402


def _dot_transpose_lhs(ct, a_shape, b, dimension_numbers):
    (lc, rc), (lb, rb) = dimension_numbers
    nb = len(lb)
    b_nd = len(ops.shape_of(b))
    a_free = [i for i in range(len(a_shape)) if i not in lc and i not in lb]
    b_free = [i for i in range(b_nd) if i not in rc and i not in rb]
    n_af = len(a_free)
    ct_contract = tuple(range(nb + n_af, nb + n_af + len(b_free)))
    res = ops.dot_general(ct, b, ((ct_contract, tuple(b_free)),
                                  (tuple(range(nb)), tuple(rb))))
    # res axes: batch, a_free, then b's remaining axes (its contracting ones, in sorted order)
    b_rest = sorted(rc)
    src_axes = list(lb) + a_free + [lc[list(rc).index(j)] for j in b_rest]
    perm = [src_axes.index(i) for i in range(len(a_shape))]
    return ops.transpose(res, perm)


def _dot_transpose_rhs(ct, a, b_shape, dimension_numbers):
    (lc, rc), (lb, rb) = dimension_numbers
    nb = len(lb)
    a_nd = len(ops.shape_of(a))
    a_free = [i for i in range(a_nd) if i not in lc and i not in lb]
    b_free = [i for i in range(len(b_shape)) if i not in rc and i not in rb]
    ct_contract = tuple(range(nb, nb + len(a_free)))
    res = ops.dot_general(ct, a, ((ct_contract, tuple(a_free)), (tuple(range(nb)), tuple(lb))))
    # res axes: batch, b_free, then a's remaining (contracting) axes in sorted order
    a_rest = sorted(lc)
    src_axes = list(rb) + b_free + [rc[list(lc).index(i)] for i in a_rest]
    perm = [src_axes.index(j) for j in range(len(b_shape))]
    return ops.transpose(res, perm)


def _dot_jvp(primals, tangents, outs, *, dimension_numbers):
    a, b = primals
    ta, tb = tangents
    terms = []
    if ta is not None:
        terms.append(ops.dot_general(ta, b, dimension_numbers))
    if tb is not None:
        terms.append(ops.dot_general(a, tb, dimension_numbers))
    if not terms:
        return [None]
    return [terms[0] if len(terms) == 1 else ops.add(terms[0], terms[1])]


def _dot_vjp(cts, primals, outs, *, dimension_numbers):
    (ct,) = cts
    a, b = primals
    return [_dot_transpose_lhs(ct, ops.shape_of(a), b, dimension_numbers)
            if ops.is_var(a) else None,
            _dot_transpose_rhs(ct, a, ops.shape_of(b), dimension_numbers)
            if ops.is_var(b) else None]


defjvp(dot_general_p, _dot_jvp)
defvjp(dot_general_p, _dot_vjp)
deftranspose(dot_general_p, _dot_vjp)


# --- batching rule (vmap) -----------------------------------------------------------------------
from ..primitive import defbatch  # noqa: E402
from .batching import shift_axes  # noqa: E402


def _move_to_front(x, axis):
    nd = len(ops.shape_of(x))
    if axis == 0:
        return x
    return ops.transpose(x, (axis,) + tuple(d for d in range(nd) if d != axis))


def _batch_dot(args, batched, size, *, dimension_numbers):
    """Both batched: the examples become one more dot batch axis. One batched: its example axis
    becomes a free axis placed right after the dot batch axes (which must lead), and the result's
    example axis is moved to the front."""
    (lc, rc), (lb, rb) = dimension_numbers
    a, b = args
    nb = len(lb)
    if batched[0] and batched[1]:
        return dot_general_p.bind(a, b, dimension_numbers=(
            (shift_axes(lc), shift_axes(rc)), ((0,) + shift_axes(lb), (0,) + shift_axes(rb))))
    x = a if batched[0] else b
    nd = len(ops.shape_of(x))
    if nb:  # example axis behind the dot batch axes
        x = ops.transpose(x, tuple(range(1, nb + 1)) + (0,) + tuple(range(nb + 1, nd)))
    if batched[0]:
        out = dot_general_p.bind(x, b, dimension_numbers=((shift_axes(lc), tuple(rc)),
                                                          (tuple(lb), tuple(rb))))
        return _move_to_front(out, nb)
    a_free = len(ops.shape_of(a)) - nb - len(lc)
    out = dot_general_p.bind(a, x, dimension_numbers=((tuple(lc), shift_axes(rc)),
                                                      (tuple(lb), tuple(rb))))
    return _move_to_front(out, nb + a_free)


defbatch(dot_general_p, _batch_dot)
