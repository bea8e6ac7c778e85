"""``tg.data``: ``DataLoader`` over arrays or a dataset, and ``TensorDataset``.

Batches of array sources are cut by one fancy-indexing copy per array (no per-sample Python
loop). Shuffling draws a new permutation per epoch from a generator seeded once, so runs are
reproducible and epochs differ.
"""
from __future__ import annotations

import importlib
import math

import numpy as np

from .errors import ShapeError, TracegradError
from .tensor import Tensor

T = importlib.import_module("tracegrad.tensor")  # the module (tg.tensor is the function)


def _as_array(x) -> np.ndarray:
    if isinstance(x, Tensor):
        return T._value_of(x)
    arr = np.asarray(x)
    if arr.dtype == np.float64 and not isinstance(x, np.ndarray):
        arr = arr.astype(np.float32)
    return arr


class TensorDataset:
    """Samples ``tuple(a[i] for a in arrays)``; all arrays share their first extent."""

    def __init__(self, *arrays):
        if not arrays:
            raise TracegradError("TensorDataset needs at least one array")
        self.arrays = [_as_array(a) for a in arrays]
        n = {len(a) for a in self.arrays}
        if len(n) != 1:
            raise ShapeError(f"TensorDataset: arrays have different first extents "
                             f"{[len(a) for a in self.arrays]}")

    def __len__(self) -> int:
        return len(self.arrays[0])

    def __getitem__(self, i):
        return tuple(Tensor._leaf(np.asarray(a[i])) for a in self.arrays)


class DataLoader:
    """Iterate over mini-batches of ``dataset``: an array or tensor, a tuple/list of them (one
    batch element each, sharing the first extent), a ``TensorDataset``, or any object with
    ``__len__`` and ``__getitem__`` returning a sample (an array or a tuple of arrays).

    Yields tensors (a tuple of them for tuple sources). ``shuffle`` permutes every epoch from a
    generator seeded with ``seed`` (default: drawn from tg's seeded generator); ``drop_last``
    drops a last incomplete batch.
    """

    def __init__(self, dataset, batch_size: int = 1, shuffle: bool = False,
                 drop_last: bool = False, seed=None, collate_fn=None):
        if not isinstance(batch_size, (int, np.integer)) or isinstance(batch_size, bool) or \
                batch_size < 1:
            raise TracegradError(f"batch_size must be a positive int, got {batch_size!r}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.collate_fn = collate_fn
        if seed is None:
            seed = int(T.default_generator().integers(2 ** 63))
        self.generator = np.random.default_rng(seed)
        self._single = False
        if isinstance(dataset, TensorDataset):
            self._arrays = dataset.arrays
        elif isinstance(dataset, (np.ndarray, Tensor)):
            self._arrays, self._single = [_as_array(dataset)], True
        elif isinstance(dataset, (tuple, list)) and dataset and all(
                isinstance(a, (np.ndarray, Tensor)) for a in dataset):
            self._arrays = [_as_array(a) for a in dataset]
        elif hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__"):
            self._arrays = None
        else:
            raise TracegradError(f"DataLoader needs an array, a tuple of arrays or a dataset "
                                 f"(with __len__ and __getitem__), got {type(dataset).__name__}")
        if self._arrays is not None:
            lengths = [len(a) if a.ndim else 0 for a in self._arrays]
            if len(set(lengths)) != 1 or lengths[0] == 0 and self._arrays[0].ndim == 0:
                raise ShapeError(f"DataLoader: the arrays must share their first extent, got "
                                 f"lengths {lengths}")

    def __len__(self) -> int:
        n = len(self._arrays[0]) if self._arrays is not None else len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self):
        n = len(self._arrays[0]) if self._arrays is not None else len(self.dataset)
        order = self.generator.permutation(n) if self.shuffle else np.arange(n)
        stop = n - n % self.batch_size if self.drop_last else n
        for start in range(0, stop, self.batch_size):
            idx = order[start:start + self.batch_size]
            yield self._batch(idx)

    def _batch(self, idx):
        if self._arrays is not None:
            parts = [a[idx] for a in self._arrays]  # fancy indexing copies: batches own data
        else:
            samples = [self.dataset[int(i)] for i in idx]
            if self.collate_fn is not None:
                return self.collate_fn(samples)
            if isinstance(samples[0], (tuple, list)):
                parts = [np.stack([_as_array(s[k]) for s in samples])
                         for k in range(len(samples[0]))]
            else:
                parts = [np.stack([_as_array(s) for s in samples])]
                self._single = True
        if self.collate_fn is not None:
            return self.collate_fn(parts)
        ts = tuple(Tensor._leaf(T._to_array(p, copy=False)) for p in parts)
        return ts[0] if self._single else ts
