"""Train the digits MLP data-parallel on a Dask cluster with ``tg.distributed.fit``: a LocalCluster
of worker processes on this machine, or the cluster at ``$DASK_SCHEDULER_ADDRESS``. Each step's
batch is cut into one shard per worker; workers return gradient terms, the driver's Adam steps.
Then prints the throughput of a 4,096-example step for 1 and 2 workers.

    pip install 'tracegrad[distributed]'
    python examples/distributed_digits.py [--epochs N] [--workers 2] [--no-throughput]
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time

# small matrices: BLAS threads in every worker would only fight over the cores
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

import tracegrad as tg
from tracegrad import nn


def load(seed: int = 0):
    from sklearn.datasets import load_digits  # bundled with scikit-learn: no download
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    order = np.random.default_rng(seed).permutation(len(x))
    x, y = x[order], y[order]
    n_test = len(x) // 5
    return (x[n_test:], y[n_test:]), (x[:n_test], y[:n_test])


def make_model(hidden: int, seed: int):
    tg.manual_seed(seed)
    return nn.Sequential(nn.Linear(64, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, 10))


def connect(workers: int):
    """``(client, cluster)``: the scheduler named by DASK_SCHEDULER_ADDRESS, else a LocalCluster
    of ``workers`` single-threaded processes (closed by the caller)."""
    from distributed import Client, LocalCluster
    address = os.environ.get("DASK_SCHEDULER_ADDRESS")
    if address:
        return Client(address), None
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address=None, silence_logs=logging.ERROR)
    return Client(cluster), cluster


def throughput(x, y, workers: int, hidden: int, batch: int = 4096, steps: int = 5) -> float:
    """Examples per second of one data-parallel step on ``batch`` examples over ``workers``."""
    client, cluster = connect(workers)
    try:
        n = len(client.scheduler_info(n_workers=-1)["workers"])
        rng = np.random.default_rng(1)
        idx = rng.integers(0, len(x), batch)
        shards = list(zip(np.array_split(x[idx], n), np.array_split(y[idx], n)))
        model = make_model(hidden, 0)
        trainer = tg.distributed.DistributedTrainer(
            model, nn.CrossEntropyLoss(), tg.optim.SGD(model.parameters(), lr=1e-3), client,
            progress=False)
        trainer.step(shards)  # warm-up: each worker compiles its step once
        t0 = time.perf_counter()
        for _ in range(steps):
            trainer.step(shards)
        return batch * steps / (time.perf_counter() - t0)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def main(argv=None) -> float:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no-throughput", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    (x_train, y_train), (x_test, y_test) = load(args.seed)
    model = make_model(args.hidden, args.seed)
    optimizer = tg.optim.Adam(model.parameters(), lr=args.lr)
    loader = tg.data.DataLoader((x_train, y_train), batch_size=args.batch_size, shuffle=True,
                                drop_last=True, seed=args.seed)
    client, cluster = connect(args.workers)
    try:
        t0 = time.perf_counter()
        losses = tg.distributed.fit(model, nn.CrossEntropyLoss(), optimizer, loader, client,
                                    epochs=args.epochs)
        seconds = time.perf_counter() - t0
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    model.eval()
    with tg.no_grad():
        predicted = model(x_test).argmax(1).numpy()
    accuracy = float((predicted == y_test).mean())
    print(f"test accuracy {accuracy:.4f} ({len(y_test)} images) after {len(losses)} steps; "
          f"training took {seconds:.2f} s; loss {losses[0]:.3f} -> {losses[-1]:.3f}")
    if not args.no_throughput:
        for n in (1, 2):
            rate = throughput(x_train, y_train, n, args.hidden)
            print(f"data-parallel step of 4096 examples on {n} worker(s): {rate:,.0f} examples/s")
    return accuracy


if __name__ == "__main__":
    acc = main()
    sys.exit(0 if acc >= 0.9 else 1)
