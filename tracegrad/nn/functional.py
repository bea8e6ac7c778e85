"""``tg.nn.functional``: layers and losses as functions, each one recorded tensor operation.

Every function is written on ``tracegrad.numpy``, so it also works on plain arrays and inside
``tg.jit``. All are numerically stable at extreme inputs: sigmoid/softplus never overflow, and
softmax, log_softmax and cross-entropy subtract the row maximum (held constant: they are
shift-invariant, so it needs no gradient).
"""
from __future__ import annotations

import math

import numpy as np

from .. import numpy as tnp
from ..errors import ShapeError, TracegradError
from ..lax import stop_gradient
from ..tensor import Tensor, apply_op, default_generator, tensor_op
from ..tensor.drawn import drawn_leaf

_REDUCTIONS = ("mean", "sum", "none")


def _reduce(x, reduction: str, what: str):
    if reduction == "mean":
        return tnp.mean(x)
    if reduction == "sum":
        return tnp.sum(x)
    if reduction == "none":
        return x
    raise TracegradError(f"{what}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


@tensor_op
def relu(x):
    """max(x, 0) as where(x > 0, x, 0): the gradient at exactly 0 is 0 (PyTorch's choice)."""
    return tnp.where(x > 0, x, 0)


@tensor_op
def leaky_relu(x, negative_slope=0.01):
    return tnp.where(x > 0, x, x * negative_slope)


@tensor_op
def sigmoid(x):
    """1 / (1 + exp(-x)), exact 0 and 1 at the tails (the primitive never overflows)."""
    return tnp.sigmoid(x)


@tensor_op
def tanh(x):
    return tnp.tanh(x)


@tensor_op
def softplus(x, beta=1.0, threshold=20.0):
    """log(1 + exp(beta x)) / beta as logaddexp(0, z): no overflow anywhere, and smooth at 0
    (max(z, 0) + log1p(exp(-|z|)) had second derivative 0 there, not 1/4).
    (``threshold`` is accepted for PyTorch compatibility; the stable form needs none.)"""
    z = x * beta if beta != 1.0 else x
    out = tnp.logaddexp(0.0, z)
    return out / beta if beta != 1.0 else out


@tensor_op
def gelu(x, approximate="none"):
    """x * Phi(x); ``approximate="tanh"`` uses the tanh form."""
    if approximate == "tanh":
        c = math.sqrt(2.0 / math.pi)
        return 0.5 * x * (1.0 + tnp.tanh(c * (x + 0.044715 * x * x * x)))
    if approximate != "none":
        raise TracegradError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return 0.5 * x * (1.0 + tnp.erf(x * (1.0 / math.sqrt(2.0))))


@tensor_op
def silu(x):
    return x * tnp.sigmoid(x)


@tensor_op
def softmax(x, dim=-1):
    m = stop_gradient(tnp.max(x, axis=dim, keepdims=True))
    e = tnp.exp(x - m)
    return e / tnp.sum(e, axis=dim, keepdims=True)


@tensor_op
def log_softmax(x, dim=-1):
    m = stop_gradient(tnp.max(x, axis=dim, keepdims=True))
    z = x - m
    return z - tnp.log(tnp.sum(tnp.exp(z), axis=dim, keepdims=True))


@tensor_op
def logsumexp(x, dim=-1, keepdim=False):
    m = stop_gradient(tnp.max(x, axis=dim, keepdims=True))
    out = tnp.log(tnp.sum(tnp.exp(x - m), axis=dim, keepdims=True)) + m
    return out if keepdim else tnp.squeeze(out, axis=dim)


@tensor_op
def linear(x, weight, bias=None):
    """x @ weight.T + bias, with weight shaped (out_features, in_features) as in PyTorch."""
    y = tnp.matmul(x, tnp.transpose(weight))
    return y + bias if bias is not None else y


def _check_targets(input, target, what):
    ishape, tshape = tnp.shape(input), tnp.shape(target)
    if len(ishape) < 1 or tshape != ishape[:1] + ishape[2:]:
        raise ShapeError(f"{what}: input of shape {ishape} needs integer class targets of shape "
                         f"{ishape[:1] + ishape[2:]}, got {tshape}")


def _pick(logp, target):
    """logp[n, target[n], ...]: the log-probability of each target class along axis 1."""
    idx = tnp.expand_dims(tnp.astype(target, np.int64), 1)
    return tnp.squeeze(tnp.take_along_axis(logp, idx, axis=1), axis=1)


@tensor_op
def nll_loss(input, target, weight=None, size_average=None, ignore_index=-100, reduce=None,
             reduction="mean"):
    """-input[n, target[n]] (PyTorch's signature). Targets equal to ``ignore_index`` (-100 by
    default) contribute nothing; with class ``weight`` w, each term is scaled by w[target] and
    ``mean`` divides by the sum of the weights of the non-ignored targets (as PyTorch)."""
    if isinstance(weight, str):  # nll_loss(input, target, "sum"): the reduction, positionally
        reduction, weight = weight, None
    if size_average is not None or reduce is not None:
        raise TracegradError("nll_loss: size_average/reduce are deprecated in PyTorch; use "
                             "reduction='mean'|'sum'|'none'")
    _check_targets(input, target, "nll_loss")
    if reduction not in _REDUCTIONS:
        raise TracegradError(f"nll_loss: reduction must be one of {_REDUCTIONS}, got "
                             f"{reduction!r}")
    valid = target != ignore_index
    safe = tnp.where(valid, target, 0)  # an ignored target must still index in range
    loss = -_pick(input, safe)
    w = tnp.where(valid, tnp.take(weight, safe) if weight is not None else 1.0, 0.0)
    w = tnp.astype(w, loss.dtype)
    loss = loss * w
    if reduction == "none":
        return loss
    total = tnp.sum(loss)
    return total / tnp.sum(w) if reduction == "mean" else total


@tensor_op
def cross_entropy(input, target, reduction="mean", label_smoothing=0.0):
    """Softmax cross-entropy of logits ``input`` (N, C, ...) against integer class ``target``
    (N, ...), or against class probabilities shaped like ``input``."""
    logp = log_softmax(input, 1)
    if tnp.shape(target) == tnp.shape(input) and np.dtype(target.dtype).kind == "f":
        loss = -tnp.sum(target * logp, axis=1)
    else:
        if np.dtype(target.dtype).kind not in "iu":
            raise TracegradError(f"cross_entropy: targets must be integer class indices (or "
                                 f"probabilities shaped like the input), got {target.dtype}")
        _check_targets(input, target, "cross_entropy")
        loss = -_pick(logp, target)
        if label_smoothing:
            loss = (1.0 - label_smoothing) * loss - label_smoothing * tnp.mean(logp, axis=1)
    return _reduce(loss, reduction, "cross_entropy")


@tensor_op
def mse_loss(input, target, reduction="mean"):
    if tnp.shape(input) != tnp.shape(target):
        raise ShapeError(f"mse_loss: input shape {tnp.shape(input)} and target shape "
                         f"{tnp.shape(target)} differ")
    d = input - target
    return _reduce(d * d, reduction, "mse_loss")


@tensor_op
def l1_loss(input, target, reduction="mean"):
    return _reduce(tnp.abs(input - target), reduction, "l1_loss")


@tensor_op
def binary_cross_entropy_with_logits(input, target, reduction="mean"):
    """logaddexp(0, x) - x*y: stable for any logit, and smooth at x == 0."""
    loss = tnp.logaddexp(0.0, input) - input * target
    return _reduce(loss, reduction, "binary_cross_entropy_with_logits")


@tensor_op
def binary_cross_entropy(input, target, reduction="mean"):
    """-(y log x + (1-y) log(1-x)) on probabilities, each log clamped at -100 as PyTorch does
    (so x == 0 or 1 gives a finite loss; the clamped side then has gradient 0)."""
    # the inner where keeps log away from 0 (no divide warning, no nan in the gradient)
    pos, one = input > 0, input < 1
    logx = tnp.where(pos, tnp.maximum(tnp.log(tnp.where(pos, input, 1.0)), -100.0), -100.0)
    log1mx = tnp.where(one, tnp.maximum(tnp.log1p(-tnp.where(one, input, 0.0)), -100.0), -100.0)
    loss = -(target * logx + (1.0 - target) * log1mx)
    return _reduce(loss, reduction, "binary_cross_entropy")


@tensor_op
def smooth_l1_loss(input, target, reduction="mean", beta=1.0):
    """0.5 d^2 / beta where |d| < beta, else |d| - beta/2 (``beta == 0`` is the L1 loss)."""
    if beta < 0:
        raise TracegradError(f"smooth_l1_loss: beta must be >= 0, got {beta}")
    ad = tnp.abs(input - target)
    if beta == 0:
        return _reduce(ad, reduction, "smooth_l1_loss")
    loss = tnp.where(ad < beta, (0.5 / beta) * ad * ad, ad - 0.5 * beta)
    return _reduce(loss, reduction, "smooth_l1_loss")


@tensor_op
def embedding(input, weight, padding_idx=None):
    """Rows ``weight[input]`` as one gather (``take`` along axis 0; its gradient is a
    scatter-add). Rows looked up at ``padding_idx`` get no gradient, as in PyTorch."""
    if np.dtype(input.dtype).kind not in "iu":
        raise TracegradError(f"embedding: indices must be integers, got {input.dtype}")
    out = tnp.take(weight, tnp.astype(input, np.int64), axis=0)
    if padding_idx is None:
        return out
    pad = tnp.expand_dims(input == padding_idx, -1)
    return tnp.where(pad, stop_gradient(out), out)


@tensor_op
def layer_norm(x, normalized_shape, weight=None, bias=None, eps=1e-5):
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    xs = tnp.shape(x)
    if tuple(xs[len(xs) - len(shape):]) != shape:
        raise ShapeError(f"layer_norm: normalized_shape {shape} does not match the last axes of "
                         f"the input shape {xs}")
    axes = tuple(range(len(xs) - len(shape), len(xs)))
    mean = tnp.mean(x, axis=axes, keepdims=True)
    d = x - mean
    var = tnp.mean(d * d, axis=axes, keepdims=True)
    y = d / tnp.sqrt(var + eps)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y


@tensor_op
def one_hot(t, num_classes):
    return tnp.astype(tnp.expand_dims(t, -1) == tnp.arange(num_classes), np.int64)


def dropout(x, p=0.5, training=True, generator=None):
    """Zero each element with probability ``p`` and scale the rest by 1/(1-p). The mask is drawn
    from ``generator`` (default: tg's seeded generator) on every call, also when replayed by a
    compiled step."""
    if not 0.0 <= p <= 1.0:
        raise TracegradError(f"dropout probability must be in [0, 1], got {p}")
    if not training or p == 0.0:
        return x
    shape, dt = tuple(x.shape), np.dtype(x.dtype)

    def draw():  # the default generator as it is now: tg.manual_seed replaces it
        gen = generator if generator is not None else default_generator()
        keep = gen.random(shape) >= p
        return (keep / (1.0 - p)).astype(dt) if p < 1.0 else np.zeros(shape, dt)
    if isinstance(x, Tensor):  # inside tg.compile: drawn again at each replay, in order
        mask = drawn_leaf(draw, "dropout", gen=generator)
        if mask is None:
            mask = Tensor._leaf(draw())
        return apply_op(_mul, (x, mask), name="dropout")
    return x * draw()


def _mul(x, m):
    return x * m


# convolution, pooling and batch norm live in their own modules (one job each)
from .conv import avg_pool2d, conv1d, conv2d, max_pool2d  # noqa: E402,F401
from .norm import batch_norm  # noqa: E402,F401
