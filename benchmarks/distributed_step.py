"""Data-parallel step on a Dask LocalCluster: examples per second of W2's MLP gradient
(784-256-256-10, float32) at a batch of 4,096 per step for 1 and 2 workers, the per-step
overhead of the Dask round trip (a tiny shard: nothing but scheduling and transfers), and the
bytes a step sends compared with the parameter size.

    python -m benchmarks.distributed_step [--batch 4096] [--steps 10] [--workers 1 2]

Data shards are sent once (``scatter_shards``); per step only parameters go out (broadcast to
every worker) and gradient terms come back through the tree reduction.
"""
from __future__ import annotations

import argparse
import logging
import os
import pickle
import statistics
import time

import numpy as np

from benchmarks import workloads as W


def _time_steps(fn, steps: int) -> float:
    fn()  # warm-up: each worker compiles (or loads) the program once
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run(n_workers: int, batch: int, steps: int) -> dict:
    from distributed import Client, LocalCluster

    from tracegrad.distributed import data_parallel_value_and_grad, scatter_shards
    rng = np.random.default_rng(0)
    params, _, _ = W.mlp_args(rng, 1.0)
    x = rng.standard_normal((batch, 784)).astype(np.float32)
    labels = rng.integers(0, 10, batch)
    with LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=True,
                      dashboard_address=None, silence_logs=logging.ERROR) as cluster, \
            Client(cluster) as client:
        shards = [(a, b) for a, b in zip(np.array_split(x, n_workers),
                                         np.array_split(labels, n_workers))]
        futures = scatter_shards(client, shards)
        step = _time_steps(lambda: data_parallel_value_and_grad(
            W.mlp_loss, params, futures, client), steps)
        tiny = scatter_shards(client, [(x[:1], labels[:1])] * n_workers)
        small = [np.zeros((1, 1), np.float32)]
        overhead = _time_steps(lambda: data_parallel_value_and_grad(
            _tiny_loss, small, tiny, client), steps)
    param_bytes = sum(p.nbytes for p in params)
    # out: the parameters to each worker; back: one gradient term per shard, minus the root's
    sent = n_workers * len(pickle.dumps(params, protocol=5)) + \
        (len(shards) - 1) * (param_bytes + 64) + param_bytes
    return {"workers": n_workers, "examples_per_s": batch / step, "step_ms": 1e3 * step,
            "overhead_ms": 1e3 * overhead, "param_bytes": param_bytes, "bytes_per_step": sent}


def _tiny_loss(w, x, y):
    return np.sum(w[0] * 0.0) + np.float32(0.0) * np.sum(x) * 0


def local(batch: int, steps: int) -> float:
    import tracegrad as tg
    rng = np.random.default_rng(0)
    params, _, _ = W.mlp_args(rng, 1.0)
    x = rng.standard_normal((batch, 784)).astype(np.float32)
    labels = rng.integers(0, 10, batch)
    vg = tg.value_and_grad(W.mlp_loss)
    return batch / _time_steps(lambda: vg(params, x, labels), steps)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args(argv)
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    print(f"one process, no Dask: {local(args.batch, args.steps):,.0f} examples/s")
    for n in args.workers:
        r = run(n, args.batch, args.steps)
        print(f"{n} worker(s): {r['examples_per_s']:,.0f} examples/s "
              f"({r['step_ms']:.1f} ms/step); Dask round trip {r['overhead_ms']:.1f} ms/step; "
              f"~{r['bytes_per_step'] / 1e6:.2f} MB sent per step for "
              f"{r['param_bytes'] / 1e6:.2f} MB of parameters")


if __name__ == "__main__":
    main()
