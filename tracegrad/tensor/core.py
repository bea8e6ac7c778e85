"""``Tensor``: a leaf holding a NumPy array, or one output of a lazy ``Node``; its autograd
attributes, values, NumPy protocols and in-place updates. Invariant: a leaf has ``_value`` and
no node; any other tensor is output ``_index`` of its ``_node``, computed on demand."""
from __future__ import annotations

import numpy as np

from .. import dtypes
from ..errors import ArgumentError, DTypeError, GradientError, ShapeError
from ..ir import AVal
from ..source_info import names_caller
from .grad_mode import _GRAD_ENABLED, no_grad
from .lazy import (_CAPTURE, _before_mutation, _capture, _serial, _value_of, apply_op,
                   bump_state_version, defer_write)
from .methods import TensorMethods
from .ops import (_as_dtype, _assign_like, _call_function, _call_ufunc, _full_like, _set_item,
                  _shape_of, _stop_gradient, tnp_add, tnp_div, tnp_mul, tnp_sub)


def _canon_dtype(dtype):
    if dtype is None:
        return None
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise DTypeError(f"dtype={dtype!r} is not a dtype; use tg.float32, tg.float64, "
                         "tg.int32, tg.int64 or tg.bool_ (or their NumPy names)") from None
    return dtypes.canonical(dt, what="dtype")


def _to_array(data, dtype=None, copy=True) -> np.ndarray:
    """PyTorch's conversion rules: Python floats become float32, ints int64; NumPy arrays keep
    their dtype (narrowed to the dtypes tracegrad supports)."""
    if isinstance(data, Tensor):
        if _CAPTURE and data._node is None:
            _leaf_read(data, "a copy")
        data = _value_of(data)
    dt = _canon_dtype(dtype)
    if isinstance(data, (np.ndarray, np.generic)):
        arr = np.array(data, dtype=dt, copy=copy) if (copy or dt is not None) else data
    else:
        try:
            arr = np.array(_tensor_free(data), dtype=dt)
        except ValueError as e:  # a ragged nested list, or a string that is not a number
            raise ShapeError(f"tensor data cannot be made an array ({e}); nested lists must "
                             "be rectangular, with numbers as elements") from None
        if dt is None and arr.dtype == np.float64:
            arr = arr.astype(np.float32)
    if arr.dtype not in dtypes.SHORT_NAMES:
        arr = arr.astype(dtypes.canonical(arr.dtype, what="tensor data"))
    return arr


def _leaf_read(t, how: str) -> None:
    """A leaf's value read as Python data while a tg.compile step is captured: the capture
    refuses a value a replay would not read again (compile_step.Capture.read_leaf)."""
    check = getattr(_CAPTURE[-1], "read_leaf", None)
    if check is not None:
        check(t, how)


def _tensor_free(data):
    if isinstance(data, (list, tuple)):
        return [_tensor_free(d) for d in data]
    if isinstance(data, Tensor):
        if _CAPTURE and data._node is None:
            _leaf_read(data, "a copy")
        return _value_of(data)
    return data


class GradFn:
    """What ``tensor.grad_fn`` shows: the operation that produced a tensor."""

    __slots__ = ("node",)

    def __init__(self, node):
        self.node = node

    def name(self) -> str:
        n = self.node.op.name
        return f"{n[:1].upper()}{n[1:]}Backward"

    def __repr__(self) -> str:
        return f"<{self.name()}>"


class Tensor(TensorMethods):
    """A PyTorch-style array: ``requires_grad``, ``backward()``, ``.grad``; NumPy operators and
    ``np.*`` functions work on it. Non-leaf tensors are lazy until their value is needed."""

    __slots__ = (
        "__weakref__",
        "_grad",
        "_grad_of",
        "_index",
        "_node",
        "_private",
        "_rg",
        "_serial",
        "_value",
    )
    __array_priority__ = 1000
    _tg_tensor = True

    def __init__(self, data, requires_grad: bool = False, dtype=None):
        if not isinstance(requires_grad, (bool, np.bool_)):
            raise ArgumentError(f"requires_grad must be True or False, got {requires_grad!r}")
        arr = _to_array(data, dtype)
        if _CAPTURE and isinstance(data, np.ndarray):
            check = getattr(_CAPTURE[-1], "add_array", None)
            if check is not None:  # tg.compile reads the caller's array at each replay
                check(self, data)
        if requires_grad and not dtypes.is_float(arr.dtype):
            raise GradientError(f"only tensors of floating point dtype can require gradients; "
                                f"this one is {arr.dtype}")
        self._value = arr
        self._node = None
        self._private = True  # a copy of data: no one else holds this array (defer_write)
        self._index = 0
        self._rg = bool(requires_grad)
        self._grad = None
        self._grad_of = None
        self._serial = next(_serial)

    @classmethod
    def _leaf(cls, arr, requires_grad=False) -> Tensor:
        t = cls.__new__(cls)
        t._value = arr
        t._node = None
        t._private = False  # arr may be shared: in-place writes are never deferred
        t._index = 0
        t._rg = requires_grad
        t._grad = None
        t._grad_of = None
        t._serial = next(_serial)
        return t

    # --- autograd attributes -------------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        return self._rg

    @requires_grad.setter
    def requires_grad(self, flag: bool) -> None:
        self.requires_grad_(flag)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set ``requires_grad`` of a leaf in place; returns self."""
        if self._node is not None:
            if requires_grad:
                return self  # already part of a graph; PyTorch also allows this on non-leaves
            raise GradientError(
                "you can only change requires_grad of leaf tensors; use .detach() to get a "
                "tensor that is cut from the graph")
        if requires_grad and not dtypes.is_float(self._value.dtype):
            raise GradientError(f"only tensors of floating point dtype can require gradients; "
                                f"this one is {self._value.dtype}")
        if bool(requires_grad) != self._rg:
            bump_state_version()
            _value_of(self)  # a deferred write lands first: later operations read the leaf
        self._rg = bool(requires_grad)
        return self

    @property
    def is_leaf(self) -> bool:
        return self._node is None or not self._node.requires_grad

    @property
    def grad_fn(self):
        return GradFn(self._node) if self._node is not None and self._node.requires_grad \
            else None

    @property
    def grad(self):
        if _CAPTURE:
            _CAPTURE[-1].read_grad(self)  # a compiled step depends on whether it was set
        return self._grad

    @grad.setter
    def grad(self, value) -> None:
        if value is not None and not isinstance(value, Tensor):
            value = Tensor._leaf(_to_array(value, self.dtype))
        if value is not None and value.shape != self.shape:
            raise ShapeError(f"assigned grad has shape {value.shape}, but the tensor has shape "
                             f"{self.shape}")
        cap = _capture()
        if cap is not None:
            cap.touch_grad(self)
        if value is not None:
            value._grad_of = self
        self._grad = value

    @names_caller
    def backward(self, gradient=None, retain_graph=None, create_graph: bool = False,
                 inputs=None) -> None:
        """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf with requires_grad."""
        from .autograd import run_backward
        run_backward([self], [gradient], retain_graph, create_graph, inputs)

    def retain_grad(self) -> None:
        """Also fill ``.grad`` of this non-leaf tensor on backward."""
        if self._node is not None:
            from .autograd import retain
            retain(self)

    def detach(self) -> Tensor:
        """The same values, cut from the graph (``requires_grad=False``); shares memory with a
        computed value, as in PyTorch."""
        node = self._node
        if _CAPTURE:
            return self._symbolic_detach()
        if node is None:
            self._private = False  # the two share memory from now on
            return Tensor._leaf(_value_of(self), False)
        v = node.values[self._index]
        return Tensor._leaf(v, False) if v is not None else self._symbolic_detach()

    def _symbolic_detach(self):
        with no_grad():
            return apply_op(_stop_gradient, (self,), name="detach")

    def detach_(self) -> Tensor:
        if self._node is not None:
            raise GradientError("detach_() works on leaves here; use y = y.detach()")
        self.requires_grad_(False)
        return self

    # --- values ------------------------------------------------------------------------------
    @property
    def data(self) -> np.ndarray:
        """A leaf's NumPy array (writable in place); a computed tensor's values."""
        if self._node is None:
            _before_mutation()  # the caller may write into it
            self._private = False
            return self._value
        return _value_of(self)

    @data.setter
    def data(self, value) -> None:
        if self._node is not None:
            raise GradientError("only a leaf tensor's .data can be assigned")
        arr = _to_array(value, None, copy=False)
        _before_mutation()
        if arr.shape != self._value.shape or arr.dtype != self._value.dtype:
            bump_state_version()
        self._value = arr
        self._private = False  # arr may be the caller's array (or another tensor's)

    def numpy(self) -> np.ndarray:
        """The values as a NumPy array (a leaf's own array, as in PyTorch)."""
        if self._node is None:
            _before_mutation()
            self._private = False
            return self._value
        return _value_of(self)

    @names_caller
    def item(self):
        if _CAPTURE and self._node is None:
            _leaf_read(self, "item()")
        v = _value_of(self)
        if v.size != 1:
            raise ShapeError(f"item() needs a tensor with one element, this one has shape "
                             f"{v.shape}")
        return v.item()

    def tolist(self):
        if _CAPTURE and self._node is None:
            _leaf_read(self, "tolist()")
        return _value_of(self).tolist()

    def __array__(self, dtype=None, copy=None):
        if _CAPTURE and self._node is None:
            _leaf_read(self, "np.asarray")
        v = _value_of(self)
        if dtype is not None and v.dtype != dtype:
            return v.astype(dtype)
        if copy:
            return np.array(v, copy=True)
        if self._node is None:
            self._private = False  # np.asarray(t) shares the leaf's memory
        return v

    # --- static attributes --------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        if self._node is None:
            return self._value.shape
        return self._node.op.out_avals[self._index].shape

    @property
    def dtype(self) -> np.dtype:
        if self._node is None:
            return self._value.dtype
        return self._node.op.out_avals[self._index].dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def dim(self) -> int:
        return len(self.shape)

    def size(self, dim=None):
        """PyTorch's ``size()``: the shape, or one extent."""
        return self.shape if dim is None else self.shape[dim]

    def numel(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def device(self):
        from .device import device
        return device("cpu")  # compares equal to the string "cpu" too

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        if not self.shape:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    def __hash__(self):
        return id(self)

    def __repr__(self) -> str:
        node = self._node
        if _CAPTURE and node is not None and node.values[self._index] is None:
            body = f"<symbolic {AVal(self.shape, self.dtype)}>"
        else:
            body = np.array2string(_value_of(self), separator=", ", prefix="tensor(")
        extra = ""
        if self.dtype not in (np.float32, np.int64, np.bool_):
            extra += f", dtype={self.dtype}"
        if self.grad_fn is not None:
            extra += f", grad_fn={self.grad_fn!r}"
        elif self._rg:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    def __format__(self, spec: str) -> str:
        if spec and self.numel() == 1:
            return format(self.item(), spec)
        return format(repr(self), spec)

    def __bool__(self) -> bool:
        if _CAPTURE and self._node is None:
            _leaf_read(self, "bool()")
        v = _value_of(self)
        if v.size != 1:
            raise ValueError(f"the truth value of a tensor with {v.size} elements is ambiguous; "
                             "use .any() or .all()")
        return bool(v)

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if not dtypes.is_int(self.dtype) or self.numel() != 1:
            raise TypeError("only one-element integer tensors can be used as an index")
        return int(self.item())

    def __reduce__(self):
        # pickling / deepcopy keep a leaf's value and flag; computed tensors are stored detached
        return (_rebuild, (type(self), np.array(_value_of(self)), self._rg))

    def __deepcopy__(self, memo):
        t = _rebuild(type(self), np.array(_value_of(self), copy=True), self._rg)
        memo[id(self)] = t
        return t

    # --- NumPy protocols ---------------------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        out = kwargs.pop("out", None)
        if out is not None:
            out = out[0] if isinstance(out, tuple) and len(out) == 1 else out
            if not isinstance(out, Tensor):
                return NotImplemented
            res = apply_op(_call_ufunc, (ufunc, method, inputs), kwargs or None,
                         name=ufunc.__name__)
            out._inplace_assign(res)
            return out
        return apply_op(_call_ufunc, (ufunc, method, inputs), kwargs or None, name=ufunc.__name__)

    def __array_function__(self, func, types, args, kwargs):
        meta = _META_FUNCS.get(func)
        if meta is not None:
            return meta(*args, **kwargs)
        return apply_op(_call_function, (func, args), kwargs or None,
                      name=getattr(func, "__name__", "function"))

    # --- in-place updates ---------------------------------------------------------------
    def _check_inplace(self):
        if self._node is not None:
            raise GradientError(
                "in-place operations on computed (non-leaf) tensors are not supported; write "
                "y = y + 1 instead of y += 1 (a new tensor)")
        if self._rg and _GRAD_ENABLED[0]:
            raise GradientError(
                "a leaf tensor that requires grad is being used in an in-place operation; "
                "update parameters inside `with tg.no_grad():` (or through an optimizer)")

    def _inplace_assign(self, value, checked: bool = False) -> None:
        """Write ``value`` (tensor or array) into this leaf, broadcasting like NumPy
        (``checked``: the caller ran ``_check_inplace``)."""
        if not checked:
            self._check_inplace()
        if not isinstance(value, Tensor):
            value = apply_op(_as_dtype, (np.asarray(value), self._value.dtype), name="copy")
        if _CAPTURE:
            val = apply_op(_assign_like, (self, value), name="assign")
            _CAPTURE[-1].replace(self, val)
            return
        # (not for a leaf that requires grad: operations on it must keep reading the leaf)
        node = value._node
        if self._private and not self._rg and node is not None and not value._rg:
            av = node.op.out_avals[value._index]
            if av.shape == self._value.shape and av.dtype == self._value.dtype:
                defer_write(self, value)  # applied with the next program (lazy.defer_write)
                return
        # one program computes the value together with every lazy tensor still held (which
        # must keep the leaf's old value): reading the value first would run two
        _before_mutation()
        v = _value_of(value)
        dst = self._value
        # np.broadcast_to costs ~2 us, more than the copy of a small tensor: only when needed
        np.copyto(dst, v if v.shape == dst.shape else np.broadcast_to(v, dst.shape),
                  casting="unsafe")

    def _inplace(self, fn, other):
        if self._node is not None:
            return fn(self, other)  # Python rebinds the name: y += 1 makes a new tensor
        self._check_inplace()
        src = _CAPTURE[-1].current(self) if _CAPTURE else self
        self._inplace_assign(fn(src, other), True)
        return self

    def __iadd__(self, o):
        return self._inplace(tnp_add, o)

    def __isub__(self, o):
        return self._inplace(tnp_sub, o)

    def __imul__(self, o):
        return self._inplace(tnp_mul, o)

    def __itruediv__(self, o):
        return self._inplace(tnp_div, o)

    def zero_(self) -> Tensor:
        return self.fill_(0)

    def fill_(self, value) -> Tensor:
        if self._node is not None:
            raise GradientError("fill_()/zero_() work on leaf tensors (such as .grad)")
        cap = _capture()
        if cap is not None:
            cap.replace(self, apply_op(_full_like, (self, value), name="fill"))
            return self
        _before_mutation()
        self._value[...] = value
        return self

    def copy_(self, src) -> Tensor:
        self._inplace_assign(src)
        return self

    def add_(self, other, alpha=1):
        return self._inplace(tnp_add, other * alpha if alpha != 1 else other)

    def sub_(self, other, alpha=1):
        return self._inplace(tnp_sub, other * alpha if alpha != 1 else other)

    def mul_(self, other):
        return self._inplace(tnp_mul, other)

    def div_(self, other):
        return self._inplace(tnp_div, other)

    def __setitem__(self, idx, value):
        if self._node is not None:
            raise GradientError("item assignment works on leaf tensors; build computed tensors "
                                "with np.where or np.concatenate")
        self._check_inplace()
        cap = _capture()
        if cap is not None:
            cap.replace(self, apply_op(_set_item, (cap.current(self), idx, value), name="setitem"))
            return
        v = _value_of(value) if isinstance(value, Tensor) else value
        _before_mutation()
        self._value[idx] = v


def _rebuild(cls, value, requires_grad):
    t = cls._leaf(value, requires_grad)
    return t


def zero_grad_of(t) -> None:
    """``t.grad`` zeroed in place (a differentiable gradient is replaced by zeros)."""
    g = t.grad
    if g is None:
        return
    if g._node is None:
        g.zero_()
    else:
        t.grad = Tensor._leaf(np.zeros(g.shape, g.dtype))


_META_FUNCS = {
    np.shape: _shape_of,
    np.ndim: lambda a: len(a.shape),
    np.size: lambda a, axis=None: (a.numel() if axis is None else a.shape[axis]),
    np.result_type: lambda *xs: np.result_type(*[x.dtype if isinstance(x, Tensor) else x
                                                 for x in xs]),
}
