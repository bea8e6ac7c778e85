"""A model replica on a worker: loads the broadcast state, runs forward and backward on a shard
and returns its weighted terms (reduce.py). The compiled step is made on the worker (once per
worker and input signature) and never pickled; the model and loss travel once per run."""
from __future__ import annotations

import numpy as np


class Replica:
    """``model`` and ``loss_fn(output, target)`` as one object shipped to every worker once."""

    def __init__(self, model, loss_fn, compiled: bool = True):
        self.model = model
        self.loss_fn = loss_fn
        self.compiled = compiled
        self._step = None

    def __getstate__(self):
        return {"model": self.model, "loss_fn": self.loss_fn, "compiled": self.compiled}

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._step = None

    def _forward_backward(self, x, y):
        loss = self.loss_fn(self.model(x), y)
        loss.backward()
        return loss

    def terms(self, state: dict, shard, reduction: str):
        """``(n, n * loss, [n * grad per parameter])`` (weights 1 for ``reduction="sum"``) of
        ``shard = (inputs, targets)`` at the parameters and buffers ``state``."""
        import tracegrad as tg

        from .reduce import shard_size
        x, y = shard
        n = shard_size(shard)
        self.model.load_state_dict(state)  # in place: a compiled step reads the new values
        self.model.zero_grad()
        if self.compiled and self._step is None:
            self._step = tg.compile(self._forward_backward)
        run = self._step if self.compiled else self._forward_backward
        loss = run(tg.as_tensor(x), tg.as_tensor(y))
        w = float(n) if reduction == "mean" else 1.0
        value = np.asarray(loss.detach().numpy()).reshape(()) * w
        grads = []
        for _, p in self.model.named_parameters():
            g = p.grad
            grads.append(np.zeros(p.shape, p.dtype) if g is None else
                         np.array(g.numpy(), copy=True) * w)
        return n, value, grads


def replica_terms(replica: Replica, state: dict, shard, reduction: str):
    """The task each shard runs (module level: workers find it by reference)."""
    return replica.terms(state, shard, reduction)
