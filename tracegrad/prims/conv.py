"""``conv``: N-d cross-correlation of an (N, C, *S) input with an (O, C/G, *K) weight, with
window strides, per-axis (lo, hi) padding (negative: a crop), input (lhs) and kernel (rhs)
dilation and feature groups: the convolution a convnet needs, and np.convolve/scipy.signal's.

Both gradients are convolutions of the same primitive (so hessians are more convolutions):
w.r.t. the input, the cotangent dilated by the stride against the flipped, channel-swapped
weight (a transposed convolution); w.r.t. the weight, the input against the cotangent as the
kernel, with stride and kernel dilation exchanged (the padding formulas are XLA's).
"""
from __future__ import annotations

from ..errors import ShapeError
from ..primitive import Primitive, Traits
from .common import aval, check_class, same_dtypes
from .np_signal import conv_general, conv_out_size


def _conv_rule(x, w, *, window_strides, padding, lhs_dilation, rhs_dilation,
               feature_group_count):
    dt = same_dtypes("conv", (x, w))
    check_class("conv", dt, "float")
    nd = x.ndim - 2
    if nd < 1 or w.ndim != x.ndim:
        raise ShapeError(f"conv: input (N, C, *spatial) and weight (O, C/groups, *kernel) need "
                         f"the same number (>= 1) of spatial axes; got {x.shape} and {w.shape}")
    if not all(len(p) == nd for p in (window_strides, padding, lhs_dilation, rhs_dilation)):
        raise ShapeError(f"conv: strides, padding and dilations need one entry per spatial axis "
                         f"({nd})")
    if min(window_strides) < 1 or min(lhs_dilation) < 1 or min(rhs_dilation) < 1:
        raise ShapeError("conv: strides and dilations must be >= 1")
    g = feature_group_count
    if g < 1 or x.shape[1] != w.shape[1] * g or w.shape[0] % g:
        raise ShapeError(f"conv: input {x.shape} has {x.shape[1]} channels; weight {w.shape} "
                         f"with groups={g} needs {w.shape[1] * g} and out channels divisible "
                         f"by {g}")
    if min(w.shape[2:]) < 1:
        raise ShapeError(f"conv: empty kernel {w.shape[2:]}")
    outs = [conv_out_size(x.shape[2 + i], w.shape[2 + i], window_strides[i], *padding[i],
                          lhs_dilation[i], rhs_dilation[i]) for i in range(nd)]
    return [aval((x.shape[0], w.shape[0], *outs), dt)]


conv_p = Primitive(
    "conv", kind="contraction", abstract_eval=_conv_rule, impl=conv_general,
    linear_args=(0, 1),
    doc="out[n, o, p] = sum_{c,k} xd[n, g*Cg + c, p*s + k*rd] * w[o, c, k]: xd is x dilated "
        "by lhs_dilation then padded (lo, hi) per axis, g the group of out channel o",
    traits=Traits(foldable=False))


def conv(x, w, window_strides, padding, lhs_dilation=None, rhs_dilation=None,
         feature_group_count=1):
    """Bind ``conv`` with every parameter normalised to tuples of ints."""
    from . import ops
    nd = len(ops.shape_of(x)) - 2
    ones = (1,) * nd
    return conv_p.bind(
        x, w, window_strides=tuple(int(s) for s in window_strides),
        padding=tuple((int(lo), int(hi)) for lo, hi in padding),
        lhs_dilation=tuple(int(d) for d in (lhs_dilation or ones)),
        rhs_dilation=tuple(int(d) for d in (rhs_dilation or ones)),
        feature_group_count=int(feature_group_count))


# --- derivative rules: bilinear, each transpose a convolution ---------------------------------
from ..primitive import defjvp, deftranspose, defvjp  # noqa: E402
from . import ops  # noqa: E402


def _grad_input(ct, w, x_shape, *, window_strides, padding, lhs_dilation, rhs_dilation,
                feature_group_count):
    """d/dx: ct (N, O, *P) dilated by the stride, against w flipped with in/out channels
    swapped per group, (C, O/G, *K); the padding makes the result exactly x's shape."""
    g = feature_group_count
    ws = ops.shape_of(w)
    o, cg, kern = ws[0], ws[1], ws[2:]
    nd = len(kern)
    sp = tuple(range(3, 3 + nd))
    wg = ops.reshape(w, (g, o // g, cg) + tuple(kern))
    wt = ops.reshape(ops.transpose(wg, (0, 2, 1) + sp), (g * cg, o // g) + tuple(kern))
    wt = ops.rev(wt, tuple(range(2, 2 + nd)))
    pads = []
    p_sizes = ops.shape_of(ct)[2:]
    for i in range(nd):
        k_eff = (kern[i] - 1) * rhs_dilation[i] + 1
        ld = (x_shape[2 + i] - 1) * lhs_dilation[i] + 1
        outd = (p_sizes[i] - 1) * window_strides[i] + 1
        lo = k_eff - 1 - padding[i][0]
        pads.append((lo, ld + k_eff - 1 - outd - lo))
    return conv(ct, wt, lhs_dilation, pads, window_strides, rhs_dilation, g)


def _grad_weight(ct, x, w_shape, *, window_strides, padding, lhs_dilation, rhs_dilation,
                 feature_group_count):
    """d/dw[g*Og + o, c, k] = sum_{n,p} xd[n, g*Cg + c, p*s + k*rd] ct[n, g*Og + o, p]: a
    convolution of x as (Cg, G*N, *S) with ct as the kernel (O, N, *P), kernel dilation s,
    stride rd, G groups; the padding makes the result exactly w's shape."""
    g = feature_group_count
    xs = ops.shape_of(x)
    n, c, spatial = xs[0], xs[1], xs[2:]
    nd = len(spatial)
    sp = tuple(range(3, 3 + nd))
    xg = ops.reshape(x, (n, g, c // g) + tuple(spatial))
    lhs = ops.reshape(ops.transpose(xg, (2, 1, 0) + sp), (c // g, g * n) + tuple(spatial))
    rhs = ops.transpose(ct, (1, 0) + tuple(range(2, 2 + nd)))
    p_sizes = ops.shape_of(ct)[2:]
    pads = []
    for i in range(nd):
        ld = (spatial[i] - 1) * lhs_dilation[i] + 1
        lo = padding[i][0]
        span = (w_shape[2 + i] - 1) * rhs_dilation[i] + (p_sizes[i] - 1) * window_strides[i] + 1
        pads.append((lo, span - ld - lo))
    dw = conv(lhs, rhs, rhs_dilation, pads, lhs_dilation, window_strides, g)
    return ops.transpose(dw, (1, 0) + tuple(range(2, 2 + nd)))


def _empty(shape) -> bool:
    return any(d == 0 for d in shape)


def _conv_vjp(cts, primals, outs, **params):
    (ct,) = cts
    x, w = primals
    xs, wsh = ops.shape_of(x), ops.shape_of(w)
    degenerate = _empty(ops.shape_of(ct)) or _empty(xs)
    dx = dw = None
    if ops.is_var(x):
        dx = ops.zeros_like(x) if degenerate else _grad_input(ct, w, xs, **params)
    if ops.is_var(w):
        dw = ops.zeros_like(w) if degenerate else _grad_weight(ct, x, wsh, **params)
    return [dx, dw]


def _conv_jvp(primals, tangents, outs, **params):
    x, w = primals
    tx, tw = tangents
    terms = []
    if tx is not None:
        terms.append(conv_p.bind(tx, w, **params))
    if tw is not None:
        terms.append(conv_p.bind(x, tw, **params))
    if not terms:
        return [None]
    return [terms[0] if len(terms) == 1 else ops.add(terms[0], terms[1])]


defjvp(conv_p, _conv_jvp)
defvjp(conv_p, _conv_vjp)
deftranspose(conv_p, _conv_vjp)


# --- batching (vmap): examples fold into the image axis, or into feature groups ---------------
from ..primitive import defbatch  # noqa: E402
from .batching import with_batch  # noqa: E402


def _batch_conv(args, batched, size, **params):
    """Only x batched: the examples are more images, (B*N, C, *S). Otherwise each example's
    weight is its own feature group: x (N, B*C, *S) against w (B*O, Cg, *K) with B*G groups,
    whose output channels (b, o) unfold to (B, N, O, *P)."""
    x, w = args
    if batched[0] and not batched[1]:
        b, n = ops.shape_of(x)[:2]
        y = conv_p.bind(ops.reshape(x, (b * n,) + ops.shape_of(x)[2:]), w, **params)
        return ops.reshape(y, (b, n) + ops.shape_of(y)[1:])
    x, w = with_batch(x, batched[0], size), with_batch(w, batched[1], size)
    xs, ws = ops.shape_of(x), ops.shape_of(w)
    b, n, c, nd = xs[0], xs[1], xs[2], len(xs) - 3
    xt = ops.reshape(ops.transpose(x, (1, 0) + tuple(range(2, 3 + nd))), (n, b * c) + xs[3:])
    wt = ops.reshape(w, (b * ws[1],) + ws[2:])
    g = params.pop("feature_group_count")
    y = conv_p.bind(xt, wt, feature_group_count=b * g, **params)
    ys = ops.shape_of(y)
    y = ops.reshape(y, (n, b, ws[1]) + ys[2:])
    return ops.transpose(y, (1, 0) + tuple(range(2, 3 + nd)))


defbatch(conv_p, _batch_conv)
