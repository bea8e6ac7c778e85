"""NumPy lowerings, registered by primitive object: the NumPy backend's half of "a primitive
declares in one place" (the IR stays backend-free; the C backend has its own registry).

A lowering says how generated NumPy code evaluates one equation:
  ``expr(ins, out_avals, **params)`` the expression (``ins``: operand texts that carry avals);
  ``into(e, ins, out)``  a statement writing the result into the planned buffer ``out``, for
                         forms that are not a plain ``np.``/``rt.`` call taking ``out=``
                         (default: ``out=`` appended to the call; no call form: not planned);
  ``scratch(e, expr)``   bytes NumPy allocates and drops within the statement (temporaries);
  ``layout(e, contig)``  whether the result is C-contiguous given its operands' contiguity
                         (decides whether a later reshape is a view).
An elementwise primitive whose reference implementation is a NumPy ufunc or an ``np_helpers``
function lowers to a call of that function without registering anything: adding one is a row of
the elementwise table (tracegrad/prims/elementwise.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from tracegrad.errors import TracegradError
from tracegrad.primitive import Primitive
from tracegrad.prims import (ELEMENTWISE, argmax_p, argmin_p, argsort_p, broadcast_in_dim_p,
                             conv_p,
                             concatenate_p, constant_p, convert_p, cumsum_p, custom_jvp_call_p,
                             custom_vjp_call_p, dot_general_p, fused_p, gather_p, iota_p,
                             np_helpers, pad_p, reduce_max_p, reduce_min_p, reduce_prod_p,
                             reduce_sum_p, reshape_p, rev_p, scatter_add_p, select_p, slice_p,
                             stop_gradient_p, transpose_p)


def _elementwise_layout(e, contig) -> bool:
    """ufuncs and copies keep their operands' layout (order K)."""
    return e.outputs[0].aval.ndim <= 1 or all(contig)


def _default_layout(e, contig) -> bool:
    return True  # reductions, matmul, pad, concatenate, gather, reshape (a view or a copy)


@dataclass(frozen=True)
class Lowering:
    expr: Callable[..., str]
    into: Callable | None = None
    scratch: Callable | None = None
    layout: Callable = _default_layout


LOWERINGS: dict[Primitive, Lowering] = {}


def register_lowering(prim: Primitive, expr: Callable[..., str], *, into=None, scratch=None,
                      layout=None) -> Lowering:
    """Register ``prim``'s NumPy lowering (see the module docstring for the parts)."""
    if not isinstance(prim, Primitive):
        raise TypeError(f"lowerings are keyed by a Primitive, got {prim!r}")
    if prim in LOWERINGS:
        raise ValueError(f"primitive {prim.name!r} already has a NumPy lowering")
    if layout is None:
        layout = _elementwise_layout if prim.kind == "elementwise" else _default_layout
    LOWERINGS[prim] = low = Lowering(expr, into, scratch, layout)
    return low


def unregister_lowering(prim: Primitive) -> None:
    """Remove a lowering (for primitives declared only for a test's duration)."""
    LOWERINGS.pop(prim, None)


def _callee(prim: Primitive) -> str | None:
    """``np.<ufunc>`` or ``rt.<helper>`` when an elementwise primitive's implementation is one."""
    fn = prim.impl
    if prim.kind != "elementwise":
        return None
    if isinstance(fn, np.ufunc) and getattr(np, fn.__name__, None) is fn:
        return f"np.{fn.__name__}"
    name = getattr(fn, "__name__", "")
    if getattr(np_helpers, name, None) is fn:
        return f"rt.{name}"
    return None


def _call(callee: str):
    return lambda ins, out_avals, **params: f"{callee}({', '.join(ins)})"


def lowering(prim: Primitive) -> Lowering:
    """The NumPy lowering of ``prim`` (registered, or a call of its ufunc / helper)."""
    low = LOWERINGS.get(prim)
    if low is None:
        callee = _callee(prim)
        if callee is None:
            raise TracegradError(f"internal: primitive {prim.name!r} has no NumPy lowering "
                                 "(register one in codegen/numpy_lowerings.py)")
        low = register_lowering(prim, _call(callee))
    return low


# --- elementwise primitives with a form of their own -------------------------------------------
register_lowering(
    select_p, lambda ins, oa: f"rt.select({ins[0]}, {ins[1]}, {ins[2]}, {tuple(oa[0].shape)}, "
                              f"np.{oa[0].dtype})",
    # np.where has no out= and branches per element (prims/np_select.py): a bitwise select
    into=lambda e, ins, out: f"rt.select_into({ins[0]}, {ins[1]}, {ins[2]}, {out})")
register_lowering(
    convert_p, lambda ins, oa, new_dtype: f"np.asarray({ins[0]}).astype(np.{oa[0].dtype})",
    into=lambda e, ins, out: f"np.copyto({out}, {ins[0]}, casting='unsafe')")
register_lowering(stop_gradient_p, lambda ins, oa: ins[0])
# an integer pow with a negative exponent raises DomainError naming the line (prims/np_domain.py)
register_lowering(ELEMENTWISE["pow"], lambda ins, oa: (
    "rt.int_power" if np.issubdtype(oa[0].dtype, np.integer) else "np.power") +
    f"({ins[0]}, {ins[1]})")


def _sigmoid_scratch(e, expr: str) -> int:
    # exp(-logaddexp(0, -x)): two out-sized arrays at every step unless it writes into out=
    return 0 if "out=" in expr else e.outputs[0].aval.nbytes


register_lowering(ELEMENTWISE["sigmoid"], _call(_callee(ELEMENTWISE["sigmoid"])),
                  scratch=_sigmoid_scratch)


# --- index and copy primitives --------------------------------------------------------------
def _transpose_layout(e, contig) -> bool:
    out = e.outputs[0].aval
    return out.ndim <= 1 or (contig[0] and
                             tuple(e.params["permutation"]) == tuple(range(out.ndim)))


def _never_contiguous(e, contig) -> bool:
    return False  # strided views (slice, rev)


def _bcast_layout(e, contig) -> bool:
    return contig[0] and tuple(e.inputs[0].aval.shape) == tuple(e.outputs[0].aval.shape)


def _slice_expr(ins, oa, start_indices, limit_indices, strides):
    parts = []
    for s, e, st in zip(start_indices, limit_indices, strides):
        parts.append(f"{s}:{e}" + (f":{st}" if st != 1 else ""))
    return f"{ins[0]}[{', '.join(parts)}{',' if len(parts) == 1 else ''}]" if parts else ins[0]


def _index_scratch(e, expr: str) -> int:
    return e.inputs[1].aval.size * 8  # index columns converted to intp


register_lowering(
    broadcast_in_dim_p, lambda ins, oa, shape, broadcast_dimensions:
        f"rt.broadcast_in_dim({ins[0]}, {tuple(shape)!r}, {tuple(broadcast_dimensions)!r})",
    layout=_bcast_layout)
register_lowering(reshape_p, lambda ins, oa, new_sizes:
                  f"np.reshape({ins[0]}, {tuple(new_sizes)!r})")
register_lowering(transpose_p, lambda ins, oa, permutation:
                  f"np.transpose({ins[0]}, {tuple(permutation)!r})", layout=_transpose_layout)
register_lowering(slice_p, _slice_expr, layout=_never_contiguous)
register_lowering(
    pad_p, lambda ins, oa, low, high, interior:
        f"rt.pad({ins[0]}, {ins[1]}, {tuple(low)!r}, {tuple(high)!r}, {tuple(interior)!r})")
register_lowering(concatenate_p, lambda ins, oa, dimension:
                  f"np.concatenate(({', '.join(ins)},), axis={dimension})")
register_lowering(rev_p, lambda ins, oa, dimensions:
                  f"np.flip({ins[0]}, {tuple(dimensions)!r})", layout=_never_contiguous)
register_lowering(gather_p, lambda ins, oa: f"rt.gather({ins[0]}, {ins[1]})",
                  scratch=_index_scratch)
register_lowering(scatter_add_p, lambda ins, oa: f"rt.scatter_add({ins[0]}, {ins[1]}, {ins[2]})",
                  scratch=_index_scratch, layout=_elementwise_layout)


# --- reductions -------------------------------------------------------------------------------
def _reduction(prim: Primitive, fn: str, typed: bool) -> None:
    """``fn(x, axis=...)``, with the input's dtype stated for sums and products (NumPy would
    widen small integers). ``fn`` is the ufunc's ``reduce`` itself: ``np.sum``/``np.max`` are
    Python wrappers that end in that call (same result, same errors for an empty max) after
    ~1 us of argument handling, on every reduction of every call."""
    def dt(oa) -> str:
        return f", dtype=np.{oa[0].dtype}" if typed else ""

    register_lowering(
        prim, lambda ins, oa, axes: f"{fn}({ins[0]}, axis={tuple(axes)!r}{dt(oa)})",
        into=lambda e, ins, out: f"{fn}({ins[0]}, axis={tuple(e.params['axes'])!r}"
                                 f"{dt([o.aval for o in e.outputs])}, out={out})")


_reduction(reduce_sum_p, "np.add.reduce", typed=True)
_reduction(reduce_prod_p, "np.multiply.reduce", typed=True)
_reduction(reduce_max_p, "np.maximum.reduce", typed=False)
_reduction(reduce_min_p, "np.minimum.reduce", typed=False)


def _arg_scratch(e, expr: str) -> int:
    return e.outputs[0].aval.size * 8  # np.argmax's intp result before .astype


register_lowering(argmax_p, lambda ins, oa, axis, index_dtype:
                  f"np.argmax({ins[0]}, axis={axis}).astype(np.{oa[0].dtype})",
                  scratch=_arg_scratch)
register_lowering(argmin_p, lambda ins, oa, axis, index_dtype:
                  f"np.argmin({ins[0]}, axis={axis}).astype(np.{oa[0].dtype})",
                  scratch=_arg_scratch)
register_lowering(cumsum_p, lambda ins, oa, axis, reverse:
                  f"rt.cumsum({ins[0]}, {axis}, {reverse})",
                  layout=lambda e, contig: e.outputs[0].aval.ndim <= 1 or
                  not e.params.get("reverse"))


# --- sources ----------------------------------------------------------------------------------
# the emitters bind each constant to a name in the generated module's namespace
register_lowering(constant_p, lambda ins, out_avals, value: "<constant>")
register_lowering(
    iota_p, lambda ins, out_avals, shape, dimension, dtype:
        f"rt.iota({tuple(shape)!r}, {dimension!r}, np.{out_avals[0].dtype})",
    layout=lambda e, contig: e.outputs[0].aval.ndim <= 1)  # a broadcast view of one arange


# --- contraction ------------------------------------------------------------------------------
def _is_matmul(a, b, lc, rc, lb) -> bool:
    """np.matmul(a, b) computes exactly this contraction: no batch axes, a's last axis against
    b's first, and b at most 2-D (np.matmul treats more leading axes of either as batch axes,
    so a 3-D ``a`` contracting its middle axis is *not* a matmul)."""
    return (not lb and a is not None and b is not None and 1 <= a.ndim and 1 <= b.ndim <= 2
            and tuple(lc) == (a.ndim - 1,) and tuple(rc) == (0,))


def _dot_expr(ins, oa, dimension_numbers):
    (lc, rc), (lb, rb) = dimension_numbers
    # the emitter's operands carry their avals; without them, take the general route
    if _is_matmul(getattr(ins[0], "aval", None), getattr(ins[1], "aval", None), lc, rc, lb):
        return f"np.matmul({ins[0]}, {ins[1]})"
    dn = ((tuple(lc), tuple(rc)), (tuple(lb), tuple(rb)))
    return f"rt.dot_general({ins[0]}, {ins[1]}, {dn!r})"


def _dot_scratch(e, expr: str) -> int:
    if not expr.startswith("rt.dot_general"):
        return 0
    # an operand whose axes must be permuted is copied to a contiguous one for np.matmul
    (lc, rc), (lb, rb) = e.params["dimension_numbers"]
    a, b = e.inputs[0].aval, e.inputs[1].aval
    a_perm = (*lb, *[i for i in range(a.ndim) if i not in lc and i not in lb], *lc)
    b_perm = (*rb, *rc, *[i for i in range(b.ndim) if i not in rc and i not in rb])
    # (a reshape to the same shape is a view: one free and one contracted axis never copy)
    a_same = len(a_perm) - len(lb) - len(lc) == 1 and len(lc) == 1
    b_same = len(b_perm) - len(rb) - len(rc) == 1 and len(rc) == 1
    return sum(x.nbytes for x, perm, same in ((a, a_perm, a_same), (b, b_perm, b_same))
               if tuple(perm) != tuple(range(x.ndim)) and not same)


register_lowering(dot_general_p, _dot_expr, scratch=_dot_scratch)


# --- convolution and sort order (tracegrad/prims/conv.py, sort.py) -----------------------------
def _conv_expr(ins, oa, window_strides, padding, lhs_dilation, rhs_dilation, feature_group_count):
    return (f"rt.conv_general({ins[0]}, {ins[1]}, {tuple(window_strides)!r}, "
            f"{tuple(tuple(p) for p in padding)!r}, {tuple(lhs_dilation)!r}, "
            f"{tuple(rhs_dilation)!r}, {feature_group_count!r})")


def _conv_scratch(e, expr: str) -> int:
    # the windows tensordot copies (im2col): N * prod(P) * C * prod(K) elements
    x, w, o = e.inputs[0].aval, e.inputs[1].aval, e.outputs[0].aval
    return o.shape[0] * int(np.prod(o.shape[2:])) * x.shape[1] * int(np.prod(w.shape[2:])) \
        * x.dtype.itemsize


register_lowering(conv_p, _conv_expr, scratch=_conv_scratch)
register_lowering(argsort_p, lambda ins, oa, axis: f"rt.argsort_stable({ins[0]}, {axis})")


# --- calls and kernels: never one expression ----------------------------------------------------
def _not_lowered(*a, **k):
    raise TracegradError("internal: a custom-rule call reached code generation without being "
                         "inlined (passes.inline.inline_calls)")


def _inline_only(*a, **k):
    raise TracegradError("internal: fused kernels are emitted by the backends, not as one call")


register_lowering(custom_vjp_call_p, _not_lowered)
register_lowering(custom_jvp_call_p, _not_lowered)
register_lowering(fused_p, _inline_only)


from . import numpy_random  # noqa: E402,F401  (random_bits: Threefry-2x32)


from . import numpy_control  # noqa: E402,F401  (loops and branches: their bodies become functions)


from . import numpy_linalg  # noqa: E402,F401  (the linalg primitives' lowerings register there)


from . import numpy_fft  # noqa: E402,F401  (the fft primitive: np.fft / pocketfft)
