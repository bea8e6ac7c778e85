"""``DistributedTrainer`` / ``fit``: a PyTorch-style loop (a ``tg.nn`` model, a loss, a ``tg.optim``
optimizer) whose gradients come from data-parallel shards on a Dask cluster. Per step the
driver broadcasts parameters and buffers once, each shard's replica returns weighted terms, the
workers sum them in a fixed tree (reduce.py) and the driver's optimizer steps. Without a client
the same arithmetic runs in this process, so both give the same loss curve bit for bit."""
from __future__ import annotations

import pickle

import numpy as np

from ..errors import ArgumentError
from .data_parallel import _check_reduction, broadcast, reduce_terms, require_dask, scatter_shards
from .progress import Progress
from .reduce import add_terms, finish, tree_order
from .replica import Replica, replica_terms


class DistributedTrainer:
    """Train ``model`` with ``loss_fn(model(x), y)`` and ``optimizer`` over shards on ``client``
    (None: in this process). ``accumulate``: groups of shards summed into one optimizer step
    (gradient accumulation: the step sees the mean over all their examples)."""

    def __init__(self, model, loss_fn, optimizer, client=None, *, accumulate: int = 1,
                 reduction: str = "mean", progress: bool = True, compiled: bool = True):
        _check_reduction(reduction)
        if not isinstance(accumulate, int) or accumulate < 1:
            raise ArgumentError(f"accumulate must be a positive int, got {accumulate!r}")
        self.model, self.optimizer, self.client = model, optimizer, client
        self.accumulate, self.reduction, self.progress = accumulate, reduction, progress
        replica = Replica(model, loss_fn, compiled)
        if client is None:
            # a copy made as a worker makes it, so the local run computes what workers would
            self._replica = pickle.loads(pickle.dumps(replica))
        else:
            require_dask()
            # once per run, to every worker; survives a worker's death on the others
            self._replica = broadcast(client, replica)
        self.losses: list[float] = []

    def step(self, shards) -> float:
        """One optimizer step over ``shards`` (tuples ``(x, y)`` of arrays, or futures of them):
        the loss over all their examples; the parameters' ``.grad`` hold its gradient."""
        state = self.model.state_dict()
        names = [n for n, _ in self.model.named_parameters()]
        if self.client is None:
            terms = [self._replica.terms(state, _as_pair(s), self.reduction) for s in shards]
            value, grads = finish(tree_order(terms, add_terms), self.reduction)
        else:
            c = self.client
            state_f = broadcast(c, state)  # the parameters: once per step
            # a shard given as arrays rides in its task, so a dead worker's task can be rerun
            terms = [c.submit(replica_terms, self._replica, state_f, _as_pair(s),
                              self.reduction, pure=False) for s in shards]
            value, grads = finish(reduce_terms(c, terms), self.reduction)
        params = dict(self.model.named_parameters())
        for name, g in zip(names, grads):
            params[name].grad = np.asarray(g, params[name].dtype)
        self.optimizer.step()
        loss = float(value)
        self.losses.append(loss)
        return loss

    def fit(self, data, epochs: int = 1, shards_per_step: int | None = None) -> list[float]:
        """Run ``epochs`` over ``data``: a ``tg.data.DataLoader`` (each batch cut into
        ``shards_per_step`` shards, default one per worker), a tuple ``(X, y)`` of dask arrays
        (each block along axis 0 a shard, computed on the cluster once) or a list of shards.
        Each step takes ``shards_per_step * accumulate`` shards. Returns the step losses."""
        per_step = shards_per_step or self._workers()
        steps = list(self._groups(data, per_step))
        bar = Progress(len(steps) * epochs, self.progress)
        start = len(self.losses)
        try:
            for epoch in range(epochs):
                for shards in (steps if epoch == 0 or not _is_loader(data)
                               else self._groups(data, per_step)):
                    loss = self.step(shards)
                    bar.update(len(self.losses) - start, loss,
                               sum(_size(s) for s in shards if not _is_future(s)))
        finally:
            bar.close()
        return self.losses[start:]

    def _workers(self) -> int:
        if self.client is None:
            return 1
        return max(1, len(self.client.scheduler_info(n_workers=-1)["workers"]))

    def _groups(self, data, per_step: int):
        """Lists of shards, one per optimizer step."""
        k = per_step * self.accumulate
        if _is_loader(data):
            pending = []
            for batch in data:
                x, y = (_np(b) for b in batch)
                pending.extend((a, b) for a, b in zip(np.array_split(x, per_step),
                                                      np.array_split(y, per_step)) if len(a))
                if len(pending) >= k:
                    yield pending
                    pending = []
            if pending:
                yield pending
            return
        shards = self._shard_list(data)
        for i in range(0, len(shards), k):
            yield shards[i:i + k]

    def _shard_list(self, data) -> list:
        if isinstance(data, list):
            return data
        if isinstance(data, tuple) and all(hasattr(a, "to_delayed") for a in data):
            if self.client is not None:
                return scatter_shards(self.client, data)
            import dask
            blocks = [a.rechunk({i: -1 for i in range(1, a.ndim)}).to_delayed().reshape(-1)
                      for a in data]
            return [tuple(p) for p in dask.compute(*[tuple(r) for r in zip(*blocks)])]
        raise ArgumentError("fit(data): data must be a tg.data.DataLoader, a tuple (X, y) of "
                            f"dask arrays or a list of shards, got {type(data).__name__}")


def fit(model, loss_fn, optimizer, data, client=None, *, epochs: int = 1,
        shards_per_step: int | None = None, accumulate: int = 1, progress: bool = True,
        reduction: str = "mean", compiled: bool = True) -> list[float]:
    """``DistributedTrainer(...).fit(data, epochs, shards_per_step)`` in one call."""
    trainer = DistributedTrainer(model, loss_fn, optimizer, client, accumulate=accumulate,
                                 reduction=reduction, progress=progress, compiled=compiled)
    return trainer.fit(data, epochs, shards_per_step)


def _np(x):
    return x.numpy() if hasattr(x, "numpy") and not isinstance(x, np.ndarray) else np.asarray(x)


def _as_pair(s):
    if _is_future(s):
        return s
    if not isinstance(s, tuple) or len(s) != 2:
        raise ArgumentError("a training shard is a pair (inputs, targets) of arrays, got "
                            f"{type(s).__name__}")
    return (_np(s[0]), _np(s[1]))


def _is_future(s) -> bool:
    return type(s).__name__ == "Future" and hasattr(s, "key")


def _is_loader(data) -> bool:
    from ..data import DataLoader
    return isinstance(data, DataLoader)


def _size(s) -> int:
    return len(s[0])
