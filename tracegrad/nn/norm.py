"""Batch normalisation as a function (``F.batch_norm``), PyTorch's formulas: in training the
batch is normalised by its own mean and *biased* variance over every axis but the channel axis 1,
and the running statistics move by ``running = (1 - momentum) * running + momentum * batch``
with the *unbiased* batch variance (n / (n - 1)); ``momentum=None`` is a cumulative average.
In eval the running statistics normalise. The running-stat update is a write into the buffers
(``copy_`` under ``no_grad``), so it also works inside ``tg.compile``.
"""
from __future__ import annotations

import numpy as np

from .. import numpy as tnp
from ..errors import ShapeError, TracegradError
from ..tensor import Tensor, no_grad, tensor_op


def _bshape(x, v):
    """A per-channel vector shaped to broadcast over (N, C, *spatial)."""
    return tnp.reshape(v, (1, -1) + (1,) * (len(tnp.shape(x)) - 2))


@tensor_op
def _bn_train(x, weight, bias, eps):
    axes = (0,) + tuple(range(2, len(tnp.shape(x))))
    mean = tnp.mean(x, axis=axes, keepdims=True)
    d = x - mean
    var = tnp.mean(d * d, axis=axes, keepdims=True)
    y = d / tnp.sqrt(var + eps)
    if weight is not None:
        y = y * _bshape(x, weight)
    if bias is not None:
        y = y + _bshape(x, bias)
    n = int(np.prod(tnp.shape(x))) // tnp.shape(x)[1]
    unbiased = tnp.reshape(var, (-1,)) * (n / max(n - 1, 1))
    return y, tnp.reshape(mean, (-1,)), unbiased


@tensor_op
def _bn_eval(x, mean, var, weight, bias, eps):
    y = (x - _bshape(x, mean)) / tnp.sqrt(_bshape(x, var) + eps)
    if weight is not None:
        y = y * _bshape(x, weight)
    if bias is not None:
        y = y + _bshape(x, bias)
    return y


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
               momentum=0.1, eps=1e-5, num_batches_tracked=None):
    """``F.batch_norm`` as PyTorch: updates ``running_mean``/``running_var`` in place when
    training (and they are given). ``num_batches_tracked`` (a 0-d integer tensor, optional)
    is incremented, and gives the cumulative average when ``momentum`` is None."""
    shape = tuple(input.shape)
    if len(shape) < 2:
        raise ShapeError(f"batch_norm: needs input (N, C, ...), got shape {shape}")
    if not training:
        if running_mean is None or running_var is None:
            raise TracegradError("batch_norm: eval mode needs running_mean and running_var")
        return _bn_eval(input, running_mean, running_var, weight, bias, eps)
    if int(np.prod(shape)) // shape[1] <= 1:
        raise ShapeError(f"batch_norm: expected more than 1 value per channel when training, "
                         f"got input of shape {shape}")
    y, mean, var = _bn_train(input, weight, bias, eps)
    if running_mean is not None and running_var is not None:
        with no_grad():
            if num_batches_tracked is not None:
                num_batches_tracked.add_(1)
            if momentum is None:  # cumulative moving average
                if num_batches_tracked is None:
                    raise TracegradError("batch_norm: momentum=None needs num_batches_tracked")
                # a tensor, not .item(): a tg.compile replay must read the count it updates
                # (as a Python float it was frozen at capture); 1/n and 1 - 1/n in float64 then
                # rounded once to the buffer's dtype, as the Python float was
                m64 = 1.0 / num_batches_tracked.to(np.float64)
                keep, m = (1.0 - m64).to(running_mean.dtype), m64.to(running_mean.dtype)
            else:
                m = float(momentum)
                keep = 1.0 - m
            for buf, new in ((running_mean, mean), (running_var, var)):
                if not isinstance(buf, Tensor):
                    raise TracegradError("batch_norm: running statistics must be tensors "
                                         "(updated in place)")
                buf.copy_(buf * keep + new.detach() * m)
    return y
