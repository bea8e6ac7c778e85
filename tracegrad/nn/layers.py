"""``tg.nn`` layers beyond the basics: convolution, pooling, batch norm, embedding and the
remaining losses. Parameter layout and initialisation are PyTorch's (``Conv*``: weight
``(out, in / groups, *kernel)``, weight and bias U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with
fan_in = in / groups * prod(kernel); ``Embedding``: N(0, 1), the padding row zero;
``BatchNorm``: weight ones, bias zeros, running_mean zeros, running_var ones,
num_batches_tracked 0 (int64)).
"""
from __future__ import annotations

import importlib
import math

import numpy as np

from ..errors import TracegradError
from . import functional as F
from .conv import _tuple
from .modules import Module, Parameter, _Loss, _uniform

T = importlib.import_module("tracegrad.tensor")  # the module (tg.tensor is the function)


class _ConvNd(Module):
    _nd = 0
    _fn = None

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", dtype=None):
        super().__init__()
        if groups < 1 or in_channels % groups or out_channels % groups:
            raise TracegradError(f"{type(self).__name__}: in_channels {in_channels} and "
                                 f"out_channels {out_channels} must be divisible by groups "
                                 f"{groups}")
        if padding_mode != "zeros":
            raise TracegradError(f"{type(self).__name__}: padding_mode={padding_mode!r} is not "
                                 "supported (only 'zeros')")
        nd = self._nd
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = _tuple(kernel_size, nd, "kernel_size")
        self.stride = _tuple(stride, nd, "stride")
        self.padding = padding if isinstance(padding, str) else _tuple(padding, nd, "padding")
        self.dilation = _tuple(dilation, nd, "dilation")
        self.groups = groups
        fan_in = in_channels // groups * int(np.prod(self.kernel_size))
        bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
        dt = np.dtype(dtype) if dtype is not None else np.float32
        self.weight = Parameter(_uniform((out_channels, in_channels // groups) + self.kernel_size,
                                         bound).astype(dt))
        if bias:
            self.bias = Parameter(_uniform((out_channels,), bound).astype(dt))
        else:
            self.register_parameter("bias", None)

    def forward(self, x):
        return type(self)._fn(x, self.weight, self.bias, self.stride, self.padding,
                              self.dilation, self.groups)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, dilation={self.dilation}, "
                f"bias={self.bias is not None}")


class Conv1d(_ConvNd):
    """Input (N, C_in, L) -> (N, C_out, L_out); lowered to one matmul (``F.conv1d``)."""
    _nd = 1
    _fn = staticmethod(F.conv1d)


class Conv2d(_ConvNd):
    """Input (N, C_in, H, W) -> (N, C_out, H_out, W_out); lowered to one matmul."""
    _nd = 2
    _fn = staticmethod(F.conv2d)


class MaxPool2d(Module):
    """Max pooling; ``stride`` defaults to ``kernel_size``. Gradient to the first maximum of
    each window (see ``F.max_pool2d``)."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
                 ceil_mode=False):
        super().__init__()
        if return_indices:
            raise TracegradError("MaxPool2d: return_indices=True is not supported yet")
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.dilation, self.ceil_mode = dilation, ceil_mode

    def forward(self, x):
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation,
                            self.ceil_mode)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding}, dilation={self.dilation}")


class AvgPool2d(Module):
    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, divisor_override=None):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad
        self.divisor_override = divisor_override

    def forward(self, x):
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class _BatchNorm(Module):
    _dims: tuple = ()

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True,
                 track_running_stats=True, dtype=None):
        super().__init__()
        dt = np.dtype(dtype) if dtype is not None else np.float32
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        if affine:
            self.weight = Parameter(np.ones(num_features, dt))
            self.bias = Parameter(np.zeros(num_features, dt))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(num_features, dt))
            self.register_buffer("running_var", np.ones(num_features, dt))
            self.register_buffer("num_batches_tracked", np.zeros((), np.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean.fill_(0)
            self.running_var.fill_(1)
            self.num_batches_tracked.fill_(0)

    def forward(self, x):
        if len(x.shape) not in self._dims:
            dims = " or ".join(f"{d}-D" for d in self._dims)
            raise TracegradError(f"{type(self).__name__}: expected a {dims} input, got shape "
                                 f"{tuple(x.shape)}")
        if x.shape[1] != self.num_features:
            raise TracegradError(f"{type(self).__name__}({self.num_features}): input has "
                                 f"{x.shape[1]} channels (axis 1)")
        use_batch = self.training or not self.track_running_stats
        track = self.training and self.track_running_stats
        return F.batch_norm(x, self.running_mean if track or not use_batch else None,
                            self.running_var if track or not use_batch else None,
                            self.weight, self.bias, use_batch, self.momentum, self.eps,
                            self.num_batches_tracked if track else None)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Over (N, C) or (N, C, L): statistics per channel C."""
    _dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Over (N, C, H, W): statistics per channel C."""
    _dims = (4,)


class Embedding(Module):
    """A lookup table ``weight`` (num_embeddings, embedding_dim), N(0, 1) initialised; the
    ``padding_idx`` row starts at zero and gets no gradient."""

    def __init__(self, num_embeddings, embedding_dim, padding_idx=None, _weight=None,
                 dtype=None):
        super().__init__()
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise TracegradError(f"Embedding: padding_idx {padding_idx} must be within "
                                     f"num_embeddings {num_embeddings}")
            padding_idx = padding_idx % num_embeddings
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.padding_idx = padding_idx
        dt = np.dtype(dtype) if dtype is not None else np.float32
        if _weight is None:
            w = T.default_generator().standard_normal((num_embeddings, embedding_dim)).astype(dt)
            if padding_idx is not None:
                w[padding_idx] = 0
        else:
            w = np.array(T._value_of(_weight) if isinstance(_weight, T.Tensor) else _weight, dt)
        self.weight = Parameter(w)

    def forward(self, input):
        return F.embedding(input, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        pad = f", padding_idx={self.padding_idx}" if self.padding_idx is not None else ""
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}"


class BCELoss(_Loss):
    """Binary cross-entropy on probabilities (logs clamped at -100, as PyTorch)."""

    def forward(self, input, target):
        return F.binary_cross_entropy(input, target, self.reduction)


class SmoothL1Loss(_Loss):
    def __init__(self, reduction: str = "mean", beta: float = 1.0):
        super().__init__(reduction)
        self.beta = beta

    def forward(self, input, target):
        return F.smooth_l1_loss(input, target, self.reduction, self.beta)
