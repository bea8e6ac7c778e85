"""Creation functions of the tensor front (``tensor``, ``zeros``, ``randn``, ...) and its default
random generator. Invariant: each returns a new leaf (``from_numpy``/``as_tensor`` may share the
caller's memory, as in PyTorch); float data defaults to float32."""
from __future__ import annotations

import numpy as np

from ..errors import TracegradError
from ..source_info import names_caller
from .core import Tensor, _canon_dtype, _to_array
from .lazy import _capture


_RNG = [np.random.default_rng(0)]  # the default generator (PyTorch's is seeded too)


def manual_seed(seed: int) -> None:
    """Seed the default generator used by ``randn``/``rand``, layer initialisation and dropout."""
    _RNG[0] = np.random.default_rng(seed)


def default_generator() -> np.random.Generator:
    return _RNG[0]


@names_caller
def tensor(data, dtype=None, requires_grad: bool = False) -> Tensor:
    """A new leaf tensor holding a copy of ``data`` (Python floats become float32)."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


@names_caller
def as_tensor(data, dtype=None) -> Tensor:
    """Like ``tensor`` but shares ``data``'s memory when it is already a suitable array."""
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
    return t.requires_grad_(requires_grad) if requires_grad else t


def zeros(*shape, dtype=np.float32, requires_grad=False) -> Tensor:
    return _make(np.zeros(_shape_args(shape), dtype=_canon_dtype(dtype)), requires_grad)


def ones(*shape, dtype=np.float32, requires_grad=False) -> Tensor:
    return _make(np.ones(_shape_args(shape), dtype=_canon_dtype(dtype)), requires_grad)


def full(shape, fill_value, dtype=np.float32, requires_grad=False) -> Tensor:
    return _make(np.full(tuple(shape), fill_value, dtype=_canon_dtype(dtype)), requires_grad)


def zeros_like(t, dtype=None, requires_grad=False) -> Tensor:
    return zeros(*np.shape(t), dtype=dtype or t.dtype, requires_grad=requires_grad)


def ones_like(t, dtype=None, requires_grad=False) -> Tensor:
    return ones(*np.shape(t), dtype=dtype or t.dtype, requires_grad=requires_grad)


def randn(*shape, dtype=np.float32, requires_grad=False, generator=None) -> Tensor:
    g = generator or _RNG[0]
    return _make(g.standard_normal(_shape_args(shape)).astype(_canon_dtype(dtype)),
                 requires_grad)


def rand(*shape, dtype=np.float32, requires_grad=False, generator=None) -> Tensor:
    g = generator or _RNG[0]
    return _make(g.random(_shape_args(shape)).astype(_canon_dtype(dtype)), requires_grad)


def arange(*args, dtype=None, requires_grad=False) -> Tensor:
    arr = np.arange(*args)
    if dtype is None and arr.dtype == np.float64:
        arr = arr.astype(np.float32)
    return _make(arr.astype(_canon_dtype(dtype)) if dtype else arr, requires_grad)


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
