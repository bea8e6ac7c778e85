"""``TensorMethods``: the array methods and operators of ``Tensor`` (shape, reductions, math,
NumPy operators). Invariant: each method only records an operation through ``apply_op`` (no
state of its own), so ``Tensor``'s data layout lives in core.py alone."""
from __future__ import annotations

import numpy as np

from .. import numpy as tnp
from .lazy import apply_op
from .ops import _as_dtype, _getitem, _identity_copy, _norm, _relu


class _MaxResult(tuple):
    """``(values, indices)`` of ``Tensor.max(dim)``, as PyTorch returns it."""

    @property
    def values(self):
        return self[0]

    @property
    def indices(self):
        return self[1]


def _dim(dim, axis):
    return axis if dim is None else dim


class TensorMethods:
    """Mixed into ``Tensor``: methods that record operations (slot-free, so ``Tensor`` keeps
    ``__slots__``)."""

    __slots__ = ()

    # --- conversions ---------------------------------------------------------------------
    def clone(self) -> Tensor:
        return apply_op(_identity_copy, (self,), name="clone")

    def astype(self, dtype) -> Tensor:
        return apply_op(_as_dtype, (self, np.dtype(dtype)), name="astype")

    def to(self, *args, **kwargs) -> Tensor:
        """``to(dtype)``, ``to(device)``, ``to(device, dtype)``, ``to(other_tensor)``; devices
        other than the CPU raise ``UnsupportedOperationError``."""
        from .device import check_device, device
        dtype = kwargs.get("dtype")
        for a in args + tuple(v for k, v in kwargs.items() if k == "device"):
            if isinstance(a, (str, device)):
                check_device(a)
            elif getattr(a, "_tg_tensor", False):
                dtype = a.dtype
            elif a is not None:
                dtype = a
        return self if dtype is None or np.dtype(dtype) == self.dtype else self.astype(dtype)

    def cpu(self) -> Tensor:
        return self

    def float(self) -> Tensor:
        return self.to(np.float32)

    def double(self) -> Tensor:
        return self.to(np.float64)

    def long(self) -> Tensor:
        return self.to(np.int64)

    def int(self) -> Tensor:
        return self.to(np.int32)

    def bool(self) -> Tensor:
        return self.to(np.bool_)

    def type(self, dtype=None):
        return str(self.dtype) if dtype is None else self.to(dtype)

    # --- shape ------------------------------------------------------------------------
    def reshape(self, *shape) -> Tensor:
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return apply_op(tnp.reshape, (self, tuple(shape)))

    view = reshape

    def view_as(self, other) -> Tensor:
        return self.reshape(other.shape)

    def flatten(self, start_dim=0, end_dim=-1) -> Tensor:
        s = self.shape
        if not s:
            return self.reshape(1)
        a, b = start_dim % len(s), end_dim % len(s)
        n = 1
        for d in s[a:b + 1]:
            n *= d
        return self.reshape(s[:a] + (n,) + s[b + 1:])

    def squeeze(self, dim=None) -> Tensor:
        if dim is not None and self.shape[dim] != 1:
            return self  # PyTorch leaves a non-unit dimension alone
        return apply_op(tnp.squeeze, (self, dim))

    def unsqueeze(self, dim) -> Tensor:
        return apply_op(tnp.expand_dims, (self, dim if dim >= 0 else dim + self.ndim + 1))

    def permute(self, *dims) -> Tensor:
        if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
            dims = tuple(dims[0])
        return apply_op(tnp.transpose, (self, tuple(dims)))

    def transpose(self, dim0=None, dim1=None) -> Tensor:
        if dim0 is None:
            return apply_op(tnp.transpose, (self,))
        return apply_op(tnp.swapaxes, (self, dim0, dim1))

    def t(self) -> Tensor:
        return apply_op(tnp.transpose, (self,))

    @property
    def T(self) -> Tensor:
        return apply_op(tnp.transpose, (self,))

    @property
    def mT(self) -> Tensor:
        return apply_op(tnp.swapaxes, (self, -1, -2))

    def expand(self, *shape) -> Tensor:
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        shape = tuple(s if n != -1 else o for n, s, o in
                      zip(shape, shape, (None,) * (len(shape) - self.ndim) + self.shape))
        return apply_op(tnp.broadcast_to, (self, shape))

    def __getitem__(self, idx) -> Tensor:
        return apply_op(_getitem, (self, idx), name="getitem")

    # --- reductions (PyTorch names: dim/keepdim; NumPy's axis/keepdims also work) -------------
    def sum(self, dim=None, keepdim=False, *, axis=None, keepdims=None, dtype=None):
        return apply_op(tnp.sum, (self, _dim(dim, axis), dtype, None, keepdims or keepdim))

    def mean(self, dim=None, keepdim=False, *, axis=None, keepdims=None, dtype=None):
        return apply_op(tnp.mean, (self, _dim(dim, axis), dtype, None, keepdims or keepdim))

    def prod(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
        return apply_op(tnp.prod, (self, _dim(dim, axis), None, None, keepdims or keepdim))

    def var(self, dim=None, unbiased=True, keepdim=False, *, axis=None, ddof=None,
            keepdims=None, correction=None):
        if ddof is None:
            ddof = correction if correction is not None else int(bool(unbiased))
        return apply_op(tnp.var, (self, _dim(dim, axis)), {"ddof": ddof,
                                                         "keepdims": keepdims or keepdim})

    def std(self, dim=None, unbiased=True, keepdim=False, *, axis=None, ddof=None,
            keepdims=None, correction=None):
        if ddof is None:
            ddof = correction if correction is not None else int(bool(unbiased))
        return apply_op(tnp.std, (self, _dim(dim, axis)), {"ddof": ddof,
                                                         "keepdims": keepdims or keepdim})

    def _extremum(self, fn, argfn, dim, keepdim, axis, keepdims):
        if dim is not None:  # PyTorch: max(dim) gives (values, indices)
            return _MaxResult((apply_op(fn, (self, dim, None, keepdim)),
                               apply_op(argfn, (self, dim, None, keepdim))))
        return apply_op(fn, (self, axis, None, bool(keepdims)))

    def max(self, dim=None, keepdim=False, *, axis=None, keepdims=False):
        return self._extremum(tnp.max, tnp.argmax, dim, keepdim, axis, keepdims)

    def min(self, dim=None, keepdim=False, *, axis=None, keepdims=False):
        return self._extremum(tnp.min, tnp.argmin, dim, keepdim, axis, keepdims)

    amax = max
    amin = min

    def argmax(self, dim=None, keepdim=False, *, axis=None, keepdims=False):
        return apply_op(tnp.argmax, (self, _dim(dim, axis), None, keepdim or keepdims))

    def argmin(self, dim=None, keepdim=False, *, axis=None, keepdims=False):
        return apply_op(tnp.argmin, (self, _dim(dim, axis), None, keepdim or keepdims))

    def any(self, dim=None, keepdim=False, *, axis=None, keepdims=False):
        return apply_op(tnp.any, (self, _dim(dim, axis), None, keepdim or keepdims))

    def all(self, dim=None, keepdim=False, *, axis=None, keepdims=False):
        return apply_op(tnp.all, (self, _dim(dim, axis), None, keepdim or keepdims))

    def cumsum(self, dim=None, *, axis=None):
        return apply_op(tnp.cumsum, (self, _dim(dim, axis)))

    def norm(self, p=2, dim=None, keepdim=False):
        return apply_op(_norm, (self, p, dim, keepdim), name="norm")

    # --- elementwise methods ---------------------------------------------------------------
    def exp(self):
        return apply_op(tnp.exp, (self,))

    def log(self):
        return apply_op(tnp.log, (self,))

    def log1p(self):
        return apply_op(tnp.log1p, (self,))

    def sqrt(self):
        return apply_op(tnp.sqrt, (self,))

    def rsqrt(self):
        return 1.0 / self.sqrt()

    def sin(self):
        return apply_op(tnp.sin, (self,))

    def cos(self):
        return apply_op(tnp.cos, (self,))

    def tanh(self):
        return apply_op(tnp.tanh, (self,))

    def sigmoid(self):
        return apply_op(tnp.sigmoid, (self,))

    def relu(self):
        return apply_op(_relu, (self,), name="relu")

    def abs(self):
        return apply_op(tnp.abs, (self,))

    def tan(self):
        return apply_op(tnp.tan, (self,))

    def sinh(self):
        return apply_op(tnp.sinh, (self,))

    def cosh(self):
        return apply_op(tnp.cosh, (self,))

    def asin(self):
        return apply_op(tnp.arcsin, (self,))

    def acos(self):
        return apply_op(tnp.arccos, (self,))

    def atan(self):
        return apply_op(tnp.arctan, (self,))

    def exp2(self):
        return apply_op(tnp.exp2, (self,))

    def expm1(self):
        return apply_op(tnp.expm1, (self,))

    def log2(self):
        return apply_op(tnp.log2, (self,))

    def log10(self):
        return apply_op(tnp.log10, (self,))

    def floor(self):
        return apply_op(tnp.floor, (self,))

    def ceil(self):
        return apply_op(tnp.ceil, (self,))

    def round(self):
        return apply_op(tnp.round, (self,))

    def reciprocal(self):
        return 1.0 / self

    def sign(self):
        return apply_op(tnp.sign, (self,))

    def square(self):
        return apply_op(tnp.square, (self,))

    def neg(self):
        return apply_op(tnp.negative, (self,))

    def pow(self, e):
        # PyTorch: a float tensor to an integer tensor's power stays float (NumPy would
        # promote float32 ** int64 to float64), so x.unsqueeze(-1).pow(tg.tensor([1, 2, 3]))
        # keeps x's dtype as the tutorial expects
        if (getattr(e, "_tg_tensor", False) or isinstance(e, np.ndarray)) and \
                self.dtype.kind == "f" and e.dtype.kind in "iub":
            e = e.astype(self.dtype)
        return apply_op(tnp.power, (self, e))

    def clamp(self, min=None, max=None):
        return apply_op(tnp.clip, (self, min, max))

    clip = clamp

    def softmax(self, dim=-1):
        from ..nn.functional import softmax
        return softmax(self, dim)

    def log_softmax(self, dim=-1):
        from ..nn.functional import log_softmax
        return log_softmax(self, dim)

    def matmul(self, o):
        return apply_op(tnp.matmul, (self, o))

    mm = matmul

    def dot(self, o):
        return apply_op(tnp.dot, (self, o))

    def eq(self, o):
        return apply_op(tnp.equal, (self, o))

    # --- operators ----------------------------------------------------------------------
    def __neg__(self):
        return apply_op(tnp.negative, (self,))

    def __pos__(self):
        return self

    def __abs__(self):
        return apply_op(tnp.abs, (self,))

    def __invert__(self):
        return apply_op(tnp.invert, (self,))

    def __add__(self, o):
        return apply_op(tnp.add, (self, o))

    def __radd__(self, o):
        return apply_op(tnp.add, (o, self))

    def __sub__(self, o):
        return apply_op(tnp.subtract, (self, o))

    def __rsub__(self, o):
        return apply_op(tnp.subtract, (o, self))

    def __mul__(self, o):
        return apply_op(tnp.multiply, (self, o))

    def __rmul__(self, o):
        return apply_op(tnp.multiply, (o, self))

    def __truediv__(self, o):
        return apply_op(tnp.true_divide, (self, o))

    def __rtruediv__(self, o):
        return apply_op(tnp.true_divide, (o, self))

    def __floordiv__(self, o):
        return apply_op(tnp.floor_divide, (self, o))

    def __rfloordiv__(self, o):
        return apply_op(tnp.floor_divide, (o, self))

    def __mod__(self, o):
        return apply_op(tnp.remainder, (self, o))

    def __rmod__(self, o):
        return apply_op(tnp.remainder, (o, self))

    def __pow__(self, o):
        return apply_op(tnp.power, (self, o))

    def __rpow__(self, o):
        return apply_op(tnp.power, (o, self))

    def __matmul__(self, o):
        return apply_op(tnp.matmul, (self, o))

    def __rmatmul__(self, o):
        return apply_op(tnp.matmul, (o, self))

    def __lt__(self, o):
        return apply_op(tnp.less, (self, o))

    def __le__(self, o):
        return apply_op(tnp.less_equal, (self, o))

    def __gt__(self, o):
        return apply_op(tnp.greater, (self, o))

    def __ge__(self, o):
        return apply_op(tnp.greater_equal, (self, o))

    def __eq__(self, o):
        return apply_op(tnp.equal, (self, o))

    def __ne__(self, o):
        return apply_op(tnp.not_equal, (self, o))

    def __and__(self, o):
        return apply_op(tnp.bitwise_and, (self, o))

    def __rand__(self, o):
        return apply_op(tnp.bitwise_and, (o, self))

    def __or__(self, o):
        return apply_op(tnp.bitwise_or, (self, o))

    def __ror__(self, o):
        return apply_op(tnp.bitwise_or, (o, self))

    def __xor__(self, o):
        return apply_op(tnp.bitwise_xor, (self, o))
