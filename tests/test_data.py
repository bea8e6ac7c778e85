"""tg.data.DataLoader: batching, shuffling with a seed, drop_last, dataset sources, errors."""
from __future__ import annotations

import numpy as np
import pytest

import tracegrad as tg
from tracegrad.data import DataLoader, TensorDataset


def test_batches_in_order():
    x = np.arange(10, dtype=np.float32).reshape(10, 1)
    y = np.arange(10)
    loader = DataLoader((x, y), batch_size=4)
    batches = list(loader)
    assert len(loader) == 3 and len(batches) == 3
    xb, yb = batches[0]
    assert isinstance(xb, tg.Tensor) and xb.shape == (4, 1) and yb.numpy().tolist() == [0, 1, 2, 3]
    assert batches[-1][1].numpy().tolist() == [8, 9]
    dropped = DataLoader((x, y), batch_size=4, drop_last=True)
    assert len(dropped) == 2 and [b[1].shape for b in dropped] == [(4,), (4,)]


def test_shuffle_is_seeded_and_varies_by_epoch():
    y = np.arange(20)
    a = DataLoader(y, batch_size=5, shuffle=True, seed=1)
    b = DataLoader(y, batch_size=5, shuffle=True, seed=1)
    ea = np.concatenate([t.numpy() for t in a])
    assert np.array_equal(ea, np.concatenate([t.numpy() for t in b]))
    assert sorted(ea.tolist()) == list(range(20)) and not np.array_equal(ea, y)
    assert not np.array_equal(ea, np.concatenate([t.numpy() for t in a]))  # next epoch


def test_dataset_sources():
    ds = TensorDataset(np.ones((6, 2), np.float32), np.arange(6))
    assert len(ds) == 6 and ds[2][1].item() == 2
    assert [b[0].shape for b in DataLoader(ds, batch_size=4)] == [(4, 2), (2, 2)]

    class Squares:
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return np.float32(i), np.int64(i * i)

    xs, ys = next(iter(DataLoader(Squares(), batch_size=5)))
    assert ys.numpy().tolist() == [0, 1, 4, 9, 16] and xs.dtype == np.float32
    one = next(iter(DataLoader(tg.tensor(np.arange(3.0)), batch_size=2)))
    assert isinstance(one, tg.Tensor) and one.shape == (2,)


def test_errors():
    with pytest.raises(tg.ShapeError, match="first extent"):
        DataLoader((np.zeros(3), np.zeros(4)))
    with pytest.raises(tg.TracegradError, match="batch_size"):
        DataLoader(np.zeros(3), batch_size=0)
    with pytest.raises(tg.TracegradError, match="DataLoader needs"):
        DataLoader(42)
    with pytest.raises(tg.ShapeError, match="first extent"):
        TensorDataset(np.zeros(2), np.zeros(3))
