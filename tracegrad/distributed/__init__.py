"""``tracegrad.distributed``: data-parallel gradients and training on Dask (``pip install
tracegrad[distributed]``). Nothing here is imported by ``import tracegrad``; Dask loads only when a
function of this package is first used. See docs/distributed.md."""
from __future__ import annotations

from .data_parallel import data_parallel_value_and_grad, local_value_and_grad, scatter_shards
from .trainer import DistributedTrainer, fit

__all__ = ["DistributedTrainer", "data_parallel_value_and_grad", "fit", "local_value_and_grad",
           "scatter_shards"]
