"""``tg.nn`` modules: ``Module`` keeps parameters, buffers and submodules in registration order
(so ``parameters()`` and ``state_dict()`` are deterministic); layers call ``nn.functional``.
"""
from __future__ import annotations

import importlib
import math
from collections import OrderedDict, namedtuple

import numpy as np

from ..errors import ShapeError, TracegradError
from ..tensor import Tensor
from . import functional as F

T = importlib.import_module("tracegrad.tensor")  # the module (tg.tensor is the function)


class Parameter(Tensor):
    """A leaf tensor that a ``Module`` registers as a parameter (``requires_grad=True``)."""

    __slots__ = ()

    def __init__(self, data=None, requires_grad: bool = True):
        if data is None:
            data = np.zeros((0,), np.float32)
        arr = T._value_of(data) if isinstance(data, Tensor) else T._to_array(data, copy=False)
        if not arr.flags.writeable or not arr.flags.c_contiguous:
            arr = np.array(arr)  # updated in place by optimizers
        super().__init__(arr, requires_grad=False)
        self._value = arr  # shares the caller's memory, as PyTorch's Parameter does
        self._private = False
        if isinstance(data, Tensor):
            data._private = False  # (so no write to either may be deferred)
        if requires_grad:
            self.requires_grad_(True)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()


_IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class Module:
    """Base class of layers: assign ``Parameter``s and ``Module``s as attributes in
    ``__init__`` (after ``super().__init__()``) and define ``forward``."""

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    def _registry(self, name):
        try:
            return object.__getattribute__(self, name)
        except AttributeError:
            raise TracegradError(f"{type(self).__name__}.__init__ must call super().__init__() "
                                 "before assigning parameters or submodules") from None

    def __setattr__(self, name, value):
        if isinstance(value, Parameter):
            self._registry("_parameters")[name] = value
            self.__dict__.pop(name, None)
            self._buffers.pop(name, None)
            self._modules.pop(name, None)
            T.bump_state_version()
        elif isinstance(value, Module):
            self._registry("_modules")[name] = value
            self.__dict__.pop(name, None)
            self._parameters.pop(name, None)
            T.bump_state_version()
        elif "_parameters" in self.__dict__ and name in self._parameters:
            if value is not None:
                raise TracegradError(f"cannot assign {type(value).__name__} to parameter "
                                     f"{name!r}; assign a tg.nn.Parameter (or None)")
            self._parameters[name] = None
        elif "_buffers" in self.__dict__ and name in self._buffers:
            self._buffers[name] = value if value is None or isinstance(value, Tensor) else \
                Tensor(value)
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name):
        d = self.__dict__
        for reg in ("_parameters", "_buffers", "_modules"):
            if reg in d and name in d[reg]:
                return d[reg][name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name):
        for reg in ("_parameters", "_buffers", "_modules"):
            if name in self.__dict__.get(reg, {}):
                del self.__dict__[reg][name]
                return
        object.__delattr__(self, name)

    # --- registration ----------------------------------------------------------------------
    def register_parameter(self, name: str, param) -> None:
        if param is None:
            self._registry("_parameters")[name] = None
        else:
            setattr(self, name, param)

    def register_buffer(self, name: str, value, persistent: bool = True) -> None:
        self._registry("_buffers")[name] = None if value is None else (
            value if isinstance(value, Tensor) else Tensor(value))

    def add_module(self, name: str, module) -> None:
        self._registry("_modules")[name] = module

    # --- traversal -------------------------------------------------------------------------
    def named_modules(self, memo=None, prefix=""):
        memo = set() if memo is None else memo
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is not None:
                yield from m.named_modules(memo, f"{prefix}.{name}" if prefix else name)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        for name, m in self._modules.items():
            if m is not None:
                yield name, m

    def children(self):
        for _, m in self.named_children():
            yield m

    def named_parameters(self, prefix: str = "", recurse: bool = True):
        seen = set()
        mods = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for mp, m in mods:
            for name, p in m._parameters.items():
                if p is not None and id(p) not in seen:
                    seen.add(id(p))
                    yield (f"{mp}.{name}" if mp else name), p

    def parameters(self, recurse: bool = True):
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True):
        mods = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for mp, m in mods:
            for name, b in m._buffers.items():
                if b is not None:
                    yield (f"{mp}.{name}" if mp else name), b

    def buffers(self, recurse: bool = True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    # --- modes and state -------------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        for m in self.modules():
            if m.training != bool(mode):
                T.bump_state_version()  # compiled steps that captured the other mode re-capture
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self) -> Module:
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        for p in self.parameters():
            if set_to_none:
                p.grad = None
            else:
                T.zero_grad_of(p)

    def state_dict(self) -> OrderedDict[str, np.ndarray]:
        """Parameters and buffers by dotted name, as NumPy arrays (copies: a snapshot that
        later training does not change)."""
        out = OrderedDict()
        for name, p in self.named_parameters():
            out[name] = np.array(T._value_of(p), copy=True)
        for name, b in self.named_buffers():
            out[name] = np.array(T._value_of(b), copy=True)
        return out

    def load_state_dict(self, state_dict, strict: bool = True):
        """Copy values into the parameters and buffers in place; returns missing/unexpected
        keys (``strict=True`` raises on any, and always on a shape mismatch)."""
        own = OrderedDict(list(self.named_parameters()) + list(self.named_buffers()))
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        if strict and (missing or unexpected):
            raise TracegradError(f"load_state_dict: missing keys {missing}, unexpected keys "
                                 f"{unexpected}")
        T._before_mutation()
        for k, t in own.items():
            if k in state_dict:
                v = state_dict[k]
                v = T._value_of(v) if isinstance(v, Tensor) else np.asarray(v)
                if v.shape != t.shape:
                    raise ShapeError(f"load_state_dict: {k} has shape {v.shape} in the state "
                                     f"dict but {t.shape} in the module")
                np.copyto(t._value, v, casting="unsafe")
        return _IncompatibleKeys(missing, unexpected)

    def apply(self, fn) -> Module:
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    def to(self, *args, **kwargs) -> Module:
        for a in list(args) + list(kwargs.values()):
            if isinstance(a, str) and a != "cpu":
                raise TracegradError(f"tracegrad runs on the CPU; device {a!r} is not available")
        return self

    def cpu(self) -> Module:
        return self

    # --- calling ---------------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = [f"  ({name}): " + repr(m).replace("\n", "\n  ")
                 for name, m in self._modules.items()]
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        return head + "\n" + "\n".join(lines) + "\n)"


# --- containers -----------------------------------------------------------------------------
class Sequential(Module):
    """Modules applied in order; ``Sequential(a, b)`` or ``Sequential(OrderedDict(...))``."""

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, m in modules[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(modules):
                self.add_module(str(i), m)

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x

    def __getitem__(self, i):
        mods = list(self._modules.values())
        if isinstance(i, slice):
            return Sequential(*mods[i])
        return mods[i]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def append(self, module) -> Sequential:
        self.add_module(str(len(self._modules)), module)
        return self


class ModuleList(Module):
    def __init__(self, modules=()):
        super().__init__()
        for m in modules:
            self.append(m)

    def append(self, module) -> ModuleList:
        self.add_module(str(len(self._modules)), module)
        return self

    def __getitem__(self, i):
        return list(self._modules.values())[i]

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())


# --- layers ---------------------------------------------------------------------------------
def _uniform(shape, bound, gen=None):
    g = gen or T.default_generator()
    return g.uniform(-bound, bound, size=shape).astype(np.float32)


class Linear(Module):
    """``y = x @ weight.T + bias``; weight (out_features, in_features). PyTorch's default
    initialisation: kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(in), 1/sqrt(in)) for the weight,
    the same bound for the bias."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype=None):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        bound = 1.0 / math.sqrt(in_features) if in_features > 0 else 0.0
        dt = np.dtype(dtype) if dtype is not None else np.float32
        self.weight = Parameter(_uniform((out_features, in_features), bound).astype(dt))
        if bias:
            self.bias = Parameter(_uniform((out_features,), bound).astype(dt))
        else:
            self.register_parameter("bias", None)

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class _Activation(Module):
    fn = None

    def forward(self, x):
        return type(self).fn(x)


class ReLU(_Activation):
    fn = staticmethod(F.relu)


class Sigmoid(_Activation):
    fn = staticmethod(F.sigmoid)


class Tanh(_Activation):
    fn = staticmethod(F.tanh)


class SiLU(_Activation):
    fn = staticmethod(F.silu)


class Identity(Module):
    def forward(self, x):
        return x


class LeakyReLU(Module):
    def __init__(self, negative_slope: float = 0.01):
        super().__init__()
        self.negative_slope = negative_slope

    def forward(self, x):
        return F.leaky_relu(x, self.negative_slope)


class GELU(Module):
    def __init__(self, approximate: str = "none"):
        super().__init__()
        self.approximate = approximate

    def forward(self, x):
        return F.gelu(x, self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class Softplus(Module):
    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, x):
        return F.softplus(x, self.beta, self.threshold)


class Softmax(Module):
    def __init__(self, dim: int = -1):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return F.softmax(x, self.dim)


class LogSoftmax(Softmax):
    def forward(self, x):
        return F.log_softmax(x, self.dim)


class Flatten(Module):
    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x):
        return x.flatten(self.start_dim, self.end_dim)


class LayerNorm(Module):
    """Normalise over the last axes; learnable gain (ones) and bias (zeros)."""

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True):
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else \
            tuple(normalized_shape)
        self.normalized_shape, self.eps = shape, eps
        if elementwise_affine:
            self.weight = Parameter(np.ones(shape, np.float32))
            if bias:
                self.bias = Parameter(np.zeros(shape, np.float32))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def forward(self, x):
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return f"{self.normalized_shape}, eps={self.eps}"


class Dropout(Module):
    """Dropout with its own generator: ``seed`` makes the masks reproducible (default: drawn from
    tg's seeded generator, so ``tg.manual_seed`` also fixes them). Identity in ``eval()``."""

    def __init__(self, p: float = 0.5, seed=None):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise TracegradError(f"dropout probability must be in [0, 1], got {p}")
        self.p = p
        if seed is None:
            seed = int(T.default_generator().integers(2 ** 63))
        self.generator = np.random.default_rng(seed)

    def forward(self, x):
        return F.dropout(x, self.p, self.training, self.generator)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class _Loss(Module):
    def __init__(self, reduction: str = "mean"):
        super().__init__()
        if reduction not in F._REDUCTIONS:
            raise TracegradError(f"reduction must be one of {F._REDUCTIONS}, got {reduction!r}")
        self.reduction = reduction


class MSELoss(_Loss):
    def forward(self, input, target):
        return F.mse_loss(input, target, self.reduction)


class L1Loss(_Loss):
    def forward(self, input, target):
        return F.l1_loss(input, target, self.reduction)


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy of logits (N, C) against integer targets (N,); mean or sum."""

    def __init__(self, reduction: str = "mean", label_smoothing: float = 0.0):
        super().__init__(reduction)
        self.label_smoothing = label_smoothing

    def forward(self, input, target):
        return F.cross_entropy(input, target, self.reduction, self.label_smoothing)


class NLLLoss(_Loss):
    def __init__(self, weight=None, size_average=None, ignore_index: int = -100, reduce=None,
                 reduction: str = "mean"):
        super().__init__(reduction)
        self.weight, self.ignore_index = weight, ignore_index

    def forward(self, input, target):
        return F.nll_loss(input, target, self.weight, None, self.ignore_index, None,
                          self.reduction)


class BCEWithLogitsLoss(_Loss):
    def forward(self, input, target):
        return F.binary_cross_entropy_with_logits(input, target, self.reduction)
