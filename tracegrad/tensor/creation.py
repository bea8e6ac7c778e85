"""Creation functions of the tensor front (``tensor``, ``zeros``, ``randn``, ...) and its default
random generator. Invariant: each returns a new leaf (``from_numpy``/``as_tensor`` may share the
caller's memory, as in PyTorch); float data defaults to float32."""
from __future__ import annotations

import numpy as np

from ..errors import TracegradError
from ..source_info import names_caller
from .core import Tensor, _canon_dtype, _to_array
from .device import check_device
from .lazy import _capture


_RNG = [np.random.default_rng(0)]  # the default generator (PyTorch's is seeded too)


def manual_seed(seed: int) -> None:
    """Seed the default generator used by ``randn``/``rand``, layer initialisation and dropout."""
    _RNG[0] = np.random.default_rng(seed)


def default_generator() -> np.random.Generator:
    return _RNG[0]


@names_caller
def tensor(data, dtype=None, requires_grad: bool = False, *, device=None) -> Tensor:
    """A new leaf tensor holding a copy of ``data`` (Python floats become float32)."""
    check_device(device)
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


@names_caller
def as_tensor(data, dtype=None, device=None) -> Tensor:
    """Like ``tensor`` but shares ``data``'s memory when it is already a suitable array."""
    check_device(device)
    if isinstance(data, Tensor) and (dtype is None or np.dtype(dtype) == data.dtype):
        return data
    return Tensor._leaf(_to_array(data, dtype, copy=False))


@names_caller
def from_numpy(arr: np.ndarray) -> Tensor:
    """A leaf sharing ``arr``'s memory (writes to either are seen by both)."""
    if not isinstance(arr, np.ndarray):
        raise TracegradError(f"from_numpy expects an ndarray, got {type(arr).__name__}")
    return Tensor._leaf(_to_array(arr, None, copy=False))


def _shape_args(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def _make(arr, requires_grad):
    t = Tensor._leaf(arr, False)
    t._private = True  # a fresh array: in-place writes may be deferred (lazy.defer_write)
    return t.requires_grad_(requires_grad) if requires_grad else t


def zeros(*shape, dtype=np.float32, device=None, requires_grad=False) -> Tensor:
    check_device(device)
    return _make(np.zeros(_shape_args(shape), dtype=_canon_dtype(dtype)), requires_grad)


def ones(*shape, dtype=np.float32, device=None, requires_grad=False) -> Tensor:
    check_device(device)
    return _make(np.ones(_shape_args(shape), dtype=_canon_dtype(dtype)), requires_grad)


def empty(*shape, dtype=np.float32, device=None, requires_grad=False) -> Tensor:
    """Zero-filled (PyTorch leaves the memory uninitialised; zeros are one valid content)."""
    return zeros(*shape, dtype=dtype, device=device, requires_grad=requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad=False) -> Tensor:
    """PyTorch infers the dtype from ``fill_value``: float -> float32, int -> int64."""
    check_device(device)
    if dtype is None:
        dtype = _to_array(fill_value).dtype
    shape = tuple(size) if isinstance(size, (tuple, list)) else (size,)
    return _make(np.full(shape, fill_value, dtype=_canon_dtype(dtype)), requires_grad)


def _like(t, dtype):
    return tuple(np.shape(t)), (dtype or t.dtype)


def zeros_like(t, dtype=None, device=None, requires_grad=False) -> Tensor:
    shape, dt = _like(t, dtype)
    return zeros(*shape, dtype=dt, device=device, requires_grad=requires_grad)


def ones_like(t, dtype=None, device=None, requires_grad=False) -> Tensor:
    shape, dt = _like(t, dtype)
    return ones(*shape, dtype=dt, device=device, requires_grad=requires_grad)


def empty_like(t, dtype=None, device=None, requires_grad=False) -> Tensor:
    return zeros_like(t, dtype, device, requires_grad)


def full_like(t, fill_value, dtype=None, device=None, requires_grad=False) -> Tensor:
    shape, dt = _like(t, dtype)
    return full(shape, fill_value, dtype=dt, device=device, requires_grad=requires_grad)


def randn(*shape, dtype=np.float32, device=None, requires_grad=False, generator=None) -> Tensor:
    check_device(device)
    g = generator or _RNG[0]
    return _make(g.standard_normal(_shape_args(shape)).astype(_canon_dtype(dtype)),
                 requires_grad)


def rand(*shape, dtype=np.float32, device=None, requires_grad=False, generator=None) -> Tensor:
    check_device(device)
    g = generator or _RNG[0]
    return _make(g.random(_shape_args(shape)).astype(_canon_dtype(dtype)), requires_grad)


def randn_like(t, dtype=None, device=None, requires_grad=False) -> Tensor:
    shape, dt = _like(t, dtype)
    return randn(*shape, dtype=dt, device=device, requires_grad=requires_grad)


def rand_like(t, dtype=None, device=None, requires_grad=False) -> Tensor:
    shape, dt = _like(t, dtype)
    return rand(*shape, dtype=dt, device=device, requires_grad=requires_grad)


def randint(*args, size=None, dtype=np.int64, device=None, generator=None) -> Tensor:
    """``randint(high, size)`` or ``randint(low, high, size)``: integers in [low, high)."""
    check_device(device)
    if size is None:
        *args, size = args
    low, high = (0, args[0]) if len(args) == 1 else tuple(args)
    g = generator or _RNG[0]
    shape = tuple(size) if isinstance(size, (tuple, list)) else (size,)
    return _make(g.integers(low, high, shape).astype(_canon_dtype(dtype)), False)


def arange(*args, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Integer arguments give int64, any float one float32 (PyTorch's default dtype)."""
    check_device(device)
    arr = np.arange(*args)
    if dtype is None and arr.dtype == np.float64:
        arr = arr.astype(np.float32)
    elif dtype is None and arr.dtype.kind == "i":
        arr = arr.astype(np.int64)
    return _make(arr.astype(_canon_dtype(dtype)) if dtype else arr, requires_grad)


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False) -> Tensor:
    check_device(device)
    arr = np.linspace(float(start), float(end), int(steps))
    return _make(arr.astype(_canon_dtype(dtype or np.float32)), requires_grad)


def logspace(start, end, steps, base=10.0, dtype=None, device=None,
             requires_grad=False) -> Tensor:
    check_device(device)
    arr = np.logspace(float(start), float(end), int(steps), base=base)
    return _make(arr.astype(_canon_dtype(dtype or np.float32)), requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    check_device(device)
    return _make(np.eye(n, m, dtype=_canon_dtype(dtype or np.float32)), requires_grad)


def dynamic_leaf(make) -> Tensor:
    """A leaf holding ``make()``; inside ``tg.compile`` it is drawn anew by ``make`` on every
    replay (dropout masks, hyper-parameters read at call time)."""
    t = Tensor._leaf(make())
    cap = _capture()
    if cap is not None:
        cap.providers[id(t)] = (t, make)
    return t


def is_tensor(x) -> bool:
    return isinstance(x, Tensor)


float32, float64, int32, int64 = (np.dtype(n) for n in ("float32", "float64", "int32", "int64"))
bool_ = np.dtype(bool)
