"""``data_parallel_value_and_grad``: a compiled ``value_and_grad`` evaluated where each data shard
lives, combined by a weighted tree reduction on the workers in a fixed order (reduce.py), so the
answer equals one process's over the same shards bit for bit (``local_value_and_grad``)."""
from __future__ import annotations

import time

from ..errors import ArgumentError
from .reduce import add_terms, finish, shard_terms, tree_levels, tree_order

BROADCAST_ATTEMPTS = 4
DRIVER_FANIN = 4  # the tree's top levels with at most this many terms are summed by the driver


def require_dask():
    """``distributed`` (Dask's cluster scheduler), with the install line when it is missing."""
    try:
        import dask  # noqa: F401
        import distributed
    except ImportError as exc:
        raise ImportError("tracegrad.distributed needs Dask: pip install 'tracegrad[distributed]' "
                          f"(or pip install 'dask[distributed]'): {exc}") from None
    return distributed


def _check_reduction(reduction: str) -> None:
    if reduction not in ("mean", "sum"):
        raise ArgumentError(f"reduction must be 'mean' (the loss averages its shard's examples) "
                            f"or 'sum', got {reduction!r}")


def _as_tuple(*arrays):
    return tuple(arrays)


def broadcast(client, value):
    """A future of ``value`` held by every worker (one copy survives a worker's death). Wrapped
    in a list: ``scatter`` of a dict would send each entry under its own key ("b", "0.weight"),
    which another call's entries then overwrite or release."""
    from distributed.comm import CommClosedError
    for attempt in range(BROADCAST_ATTEMPTS):
        try:
            return client.scatter([value], broadcast=True, hash=False)[0]
        except (CommClosedError, OSError):
            # a worker died while receiving: the scheduler drops it; send to the others
            if attempt == BROADCAST_ATTEMPTS - 1:
                raise
            time.sleep(0.2 * (attempt + 1))


def scatter_shards(client, shards, replicas: int = 1) -> list:
    """Futures of the shards, each a tuple of arrays, held by the workers. ``shards``: a list of
    arrays / tuples of arrays (sent once, spread over the workers), of futures (kept), or a
    dask array / tuple of dask arrays (each block along axis 0 is a shard, computed where
    Dask puts it). Call it once and pass the result to every step: data then never travels
    again. Arrays sent this way have no lineage: a worker's death loses its only copy unless
    ``replicas >= 2`` keeps more (dask-array blocks are recomputed instead)."""
    distributed = require_dask()
    import dask
    import dask.array as da
    if isinstance(shards, da.Array) or (isinstance(shards, tuple) and shards and
                                        all(isinstance(a, da.Array) for a in shards)):
        arrays = shards if isinstance(shards, tuple) else (shards,)
        chunks = {a.chunks[0] for a in arrays}
        if len(chunks) != 1:
            raise ArgumentError(f"the dask arrays of a data set must share their chunks along "
                                f"axis 0 (one shard per block), got {sorted(chunks)}: rechunk "
                                "them alike (x.rechunk({0: n}))")
        blocks = []
        for a in arrays:
            a = a.rechunk({i: -1 for i in range(1, a.ndim)})  # one block per row range
            blocks.append(a.to_delayed().reshape(-1))
        parts = [dask.delayed(_as_tuple)(*row) for row in zip(*blocks)]
        return client.compute(parts)
    if not isinstance(shards, (list, tuple)) or not shards:
        raise ArgumentError("shards must be a non-empty list of arrays, tuples of arrays or "
                            f"futures, or a dask array; got {type(shards).__name__}")
    out, local = [], []
    for s in shards:
        if isinstance(s, distributed.Future):
            out.append(s)
        else:
            out.append(None)
            local.append(s if isinstance(s, tuple) else (s,))
    scattered = client.scatter(local, hash=False) if local else []
    if scattered and replicas > 1:
        client.replicate(scattered, n=replicas)
    sent = iter(scattered)
    return [s if s is not None else next(sent) for s in out]


def data_parallel_value_and_grad(loss, params, shards, client, *, reduction: str = "mean",
                                 value_and_grad=None):
    """``(value, grads)`` of ``loss(params, *shard)`` over all shards, computed on the cluster
    of ``client``: each shard's term where the shard lives, summed pairwise in shard order on
    the workers, divided by the total number of examples (``reduction="mean"``: ``loss``
    averages its shard; ``"sum"``: it sums it).

    ``params`` (a pytree of arrays) is broadcast once; ``shards`` as for ``scatter_shards``
    (futures are used in place). Equal bit for bit to ``local_value_and_grad`` on the same
    shards, and to one process on the concatenated data within rounding. A worker that dies
    mid-step costs a recomputation of its shards elsewhere, not the step (Dask's retries)."""
    _check_reduction(reduction)
    from ..api.transforms import value_and_grad as vg_of
    vg = value_and_grad if value_and_grad is not None else vg_of(loss)
    futures = scatter_shards(client, shards)
    params_f = broadcast(client, params)
    terms = [client.submit(shard_terms, vg, params_f, s, reduction, pure=False)
             for s in futures]
    return finish(reduce_terms(client, terms), reduction)


def reduce_terms(client, terms: list, driver_fanin: int = DRIVER_FANIN):
    """The root term of ``terms`` (futures): tree levels on the workers down to at most
    ``driver_fanin`` terms, then the same tree's last levels here. The top of the tree costs a
    task hop per level on the cluster but only an addition here, and the driver receives at most
    ``driver_fanin`` gradient-sized terms however many shards there are."""
    top = tree_levels(terms, lambda a, b: client.submit(add_terms, a, b, pure=False),
                      driver_fanin)
    return tree_order(client.gather(top), add_terms)


def local_value_and_grad(loss, params, shards, *, reduction: str = "mean", value_and_grad=None):
    """What ``data_parallel_value_and_grad`` computes, in this process and the same order: the
    reference its results equal exactly."""
    _check_reduction(reduction)
    from ..api.transforms import value_and_grad as vg_of
    vg = value_and_grad if value_and_grad is not None else vg_of(loss)
    terms = [shard_terms(vg, params, s, reduction) for s in shards]
    return finish(tree_order(terms, add_terms), reduction)
