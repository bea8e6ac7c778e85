"""PyTorch's ``device`` and dtype names for the tensor front (``tg.device("cpu")``,
``tg.float``, ``tg.long``, ``tg.cuda.is_available()``). Invariant: tracegrad computes on the CPU
only, so every device argument is checked here and anything but "cpu" raises
``UnsupportedOperationError`` naming the fix; dtype names are plain ``np.dtype`` objects."""
from __future__ import annotations

import builtins

import numpy as np

from ..errors import UnsupportedOperationError
from ..source_info import user_src_with_text

# PyTorch's dtype names (they shadow builtins in this module only: use builtins.int there): the NumPy dtypes tracegrad supports (``tg.float`` is float32 as there)
float32 = float = np.dtype("float32")
float64 = double = np.dtype("float64")
int32 = int = np.dtype("int32")
int64 = long = np.dtype("int64")
bool_ = bool = np.dtype("bool")


class device:
    """``tg.device("cpu")`` (also "cpu:0" or another ``device``); compares equal to "cpu"."""

    __slots__ = ("type", "index")

    def __init__(self, type="cpu", index=None):
        if isinstance(type, device):
            type, index = type.type, type.index
        if not isinstance(type, str):
            raise UnsupportedOperationError(f"device must be a string such as 'cpu', got "
                                            f"{type!r}")
        kind, _, idx = type.partition(":")
        if kind != "cpu":
            raise UnsupportedOperationError(
                f"tracegrad runs on the CPU; device {type!r} is not available. Use "
                "device='cpu' (or pick it with tg.cuda.is_available(), which is False)"
            ).with_src(user_src_with_text(2))  # the user's line, however deep the check ran
        self.type = "cpu"
        self.index = index if index is not None else (builtins.int(idx) if idx else None)

    def __eq__(self, other):
        if isinstance(other, str):
            other = device(other)
        return isinstance(other, device) and other.type == self.type

    def __hash__(self):
        return hash(self.type)

    def __repr__(self):
        return f"device(type='{self.type}')"

    def __str__(self):
        return self.type


def check_device(dev) -> None:
    """Accept ``None``, "cpu", "cpu:N" or ``device("cpu")``; raise for anything else."""
    if dev is None or isinstance(dev, device):
        return
    device(dev)


class cuda:
    """``tg.cuda.is_available()`` is False, so ``"cuda" if ... else "cpu"`` picks the CPU."""

    @staticmethod
    def is_available() -> bool:
        return False

    @staticmethod
    def device_count():
        return 0
