"""Creation functions of the tensor front (``tensor``, ``zeros``, ``randn``, ...) and its default
random generator. Invariant: each returns a new leaf (``from_numpy``/``as_tensor`` may share the
caller's memory, as in PyTorch); float data defaults to float32."""
from __future__ import annotations

import numpy as np

from ..errors import TracedRandomError, TracegradError
from ..source_info import names_caller, user_src_with_text
from .core import Tensor, _canon_dtype, _to_array
from .device import check_device
from .drawn import capture_for, drawn_leaf
from .lazy import _capture, apply_op
from .ops import _as_dtype

_RNG = [np.random.default_rng(0)]  # the default generator (PyTorch's is seeded too)


def manual_seed(seed: int) -> None:
    """Seed the default generator used by ``randn``/``rand``, layer initialisation and dropout."""
    if capture_for() is not None:
        raise TracedRandomError(
            "tg.manual_seed inside a tg.compile step: the replays run "
            "no Python, so they would not seed. Seed before calling the step",
            src=user_src_with_text(2))
    _RNG[0] = np.random.default_rng(seed)


def default_generator() -> np.random.Generator:
    return _RNG[0]


@names_caller
def tensor(data, dtype=None, requires_grad: bool = False, *, device=None) -> Tensor:
    """A new leaf tensor holding a copy of ``data`` (Python floats become float32)."""
    check_device(device)
    cap = _capture()
    if cap is not None:
        held = _captured_data(cap, data, dtype, requires_grad)
        if held is not None:
            return held
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def _captured_data(cap, data, dtype, requires_grad):
    """``tensor(data)`` inside a tg.compile step when ``data`` is a tensor (an ``np.random``
    draw is one there): a symbolic copy. (A NumPy array is copied by ``Tensor``, which tells
    the capture to read the array again at each replay.)"""
    del cap
    if isinstance(data, Tensor) and not requires_grad:
        return apply_op(_as_dtype, (data, _canon_dtype(dtype) or data.dtype), name="copy")
    return None


@names_caller
def as_tensor(data, dtype=None, device=None) -> Tensor:
    """Like ``tensor`` but shares ``data``'s memory when it is already a suitable array."""
    check_device(device)
    if isinstance(data, Tensor) and (dtype is None or np.dtype(dtype) == data.dtype):
        return data
    if isinstance(data, Tensor) and _capture() is not None:
        return data.to(dtype)  # a draw inside tg.compile: converted symbolically
    return Tensor._leaf(_to_array(data, dtype, copy=False))


@names_caller
def from_numpy(arr: np.ndarray) -> Tensor:
    """A leaf sharing ``arr``'s memory (writes to either are seen by both)."""
    if isinstance(arr, Tensor) and _capture() is not None:
        return arr  # an np.random draw inside tg.compile is a tensor already (drawn.py)
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


def _draw(what, generator, method, args, dtype, requires_grad):
    """``generator.method(*args)`` as ``dtype`` (default generator: tg's, looked up at each
    draw). Inside a tg.compile step the draw is repeated at every replay (drawn.py)."""
    dt = _canon_dtype(dtype)

    def make():
        g = generator if generator is not None else _RNG[0]
        return getattr(g, method)(*args).astype(dt)
    t = drawn_leaf(make, what, requires_grad, generator)
    return _make(make(), requires_grad) if t is None else t


def randn(*shape, dtype=np.float32, device=None, requires_grad=False, generator=None) -> Tensor:
    check_device(device)
    return _draw("tg.randn", generator, "standard_normal", (_shape_args(shape),), dtype,
                 requires_grad)


def rand(*shape, dtype=np.float32, device=None, requires_grad=False, generator=None) -> Tensor:
    check_device(device)
    return _draw("tg.rand", generator, "random", (_shape_args(shape),), dtype, requires_grad)


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
    shape = tuple(size) if isinstance(size, (tuple, list)) else (size,)
    return _draw("tg.randint", generator, "integers", (low, high, shape), dtype, False)


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
