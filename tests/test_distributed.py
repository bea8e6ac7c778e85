"""tracegrad.distributed on a real Dask LocalCluster (2 worker processes, 1 thread each, started
once for this file): data-parallel gradients equal one process's, workers compile once, the
trainer's loss curve equals the in-process run, and a worker killed mid-step loses no step."""
from __future__ import annotations

import logging
import os
import signal
import threading
import time

import numpy as np
import pytest

import tracegrad as tg

distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=logging.ERROR)
    c = distributed.Client(cluster)
    try:
        yield c
    finally:
        c.close()
        cluster.close()


def loss(w, x, y):
    return np.mean((np.tanh(x @ w["a"]) @ w["b"] - y) ** 2)


def sum_loss(w, x, y):
    return np.sum((np.tanh(x @ w["a"]) @ w["b"] - y) ** 2)


def _data(n=60, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    w = {"a": rng.normal(size=(5, 4)).astype(dtype), "b": rng.normal(size=(4, 2)).astype(dtype)}
    return w, rng.normal(size=(n, 5)).astype(dtype), rng.normal(size=(n, 2)).astype(dtype)


def _shards(x, y, sizes):
    out, start = [], 0
    for s in sizes:
        out.append((x[start:start + s], y[start:start + s]))
        start += s
    return out


def _same(a, b) -> bool:
    la, ta = tg.pytree.tree_flatten(a)
    lb, tb = tg.pytree.tree_flatten(b)
    return ta == tb and all(np.asarray(p).tobytes() == np.asarray(q).tobytes()
                            for p, q in zip(la, lb))


def test_data_parallel_equals_one_process(client):
    """Uneven shards are weighted by size: the mean over all examples, exactly the fixed-order
    local reduction in float64, and one process on the concatenated data within rounding."""
    from tracegrad.distributed import data_parallel_value_and_grad, local_value_and_grad
    w, x, y = _data()
    shards = _shards(x, y, [7, 20, 13, 1, 19])
    got = data_parallel_value_and_grad(loss, w, shards, client)
    assert _same(got, local_value_and_grad(loss, w, shards))
    v, g = tg.value_and_grad(loss)(w, x, y)
    np.testing.assert_allclose(got[0], v, rtol=1e-13)
    for k in g:
        np.testing.assert_allclose(got[1][k], g[k], rtol=1e-12, atol=1e-15)


def test_shards_as_futures_dask_arrays_and_float32(client):
    from tracegrad.distributed import (
        data_parallel_value_and_grad,
        local_value_and_grad,
        scatter_shards,
    )
    w, x, y = _data(dtype=np.float32, seed=1)
    shards = _shards(x, y, [15, 15, 15, 15])
    futures = scatter_shards(client, shards, replicas=2)  # sent once, reused by every call
    assert all(len(h) == 2 for h in client.who_has(futures).values())
    first = data_parallel_value_and_grad(loss, w, futures, client)
    assert _same(first, data_parallel_value_and_grad(loss, w, futures, client))
    assert _same(first, local_value_and_grad(loss, w, shards))
    dx, dy = da.from_array(x, chunks=(15, 5)), da.from_array(y, chunks=(15, 1))
    assert _same(first, data_parallel_value_and_grad(loss, w, (dx, dy), client))
    v, g = tg.value_and_grad(loss)(w, x, y)
    np.testing.assert_allclose(first[0], v, rtol=2e-6)
    np.testing.assert_allclose(first[1]["a"], g["a"], rtol=2e-5, atol=1e-6)


def test_sum_reduction_and_bad_input(client):
    from tracegrad.distributed import data_parallel_value_and_grad
    w, x, y = _data(n=20)
    got = data_parallel_value_and_grad(sum_loss, w, _shards(x, y, [5, 15]), client,
                                       reduction="sum")
    np.testing.assert_allclose(got[0], tg.value_and_grad(sum_loss)(w, x, y)[0], rtol=1e-13)
    with pytest.raises(tg.ArgumentError, match="reduction"):
        data_parallel_value_and_grad(sum_loss, w, [(x, y)], client, reduction="max")
    with pytest.raises(tg.ArgumentError, match="share their chunks"):
        data_parallel_value_and_grad(loss, w, (da.from_array(x, chunks=5),
                                               da.from_array(y, chunks=10)), client)


def test_workers_compile_once_and_match_the_driver_bit_for_bit(client):
    """A pickled jit function runs on each worker with the driver's bits; every later task
    reuses the worker's compiled program (one miss per worker, however many tasks)."""
    f = tg.jit(lambda a: np.tanh(a) @ a.T + np.exp(-a).sum())
    a = np.random.default_rng(2).normal(size=(6, 6))
    want = f(a)
    workers = list(client.scheduler_info(n_workers=-1)["workers"])
    for _ in range(3):
        for addr in workers:
            got = client.submit(f, a, workers=[addr], pure=False).result()
            assert got.tobytes() == want.tobytes()

    def misses(wid):
        from tracegrad.api import wire
        return wire._REBUILT[wid].cache_info().misses

    wid = f.__dict__["_wire_id"]
    assert client.run(misses, wid) == {addr: 1 for addr in workers}


def _model():
    tg.manual_seed(0)
    return tg.nn.Sequential(tg.nn.Linear(5, 8), tg.nn.Tanh(), tg.nn.Linear(8, 2))


def _train(client, data, epochs=2, accumulate=1, shards_per_step=2):
    model = _model()
    opt = tg.optim.Adam(model.parameters(), lr=0.05)
    losses = tg.distributed.fit(model, tg.nn.MSELoss(), opt, data, client, epochs=epochs,
                                accumulate=accumulate, shards_per_step=shards_per_step,
                                progress=False)
    return losses, model.state_dict()


def test_trainer_equals_the_in_process_run(client):
    _, x, y = _data(n=64, dtype=np.float32, seed=3)
    loader = tg.data.DataLoader(tg.data.TensorDataset(x, y), batch_size=16)
    on_cluster = _train(client, loader, accumulate=2)
    in_process = _train(None, loader, accumulate=2)
    assert len(on_cluster[0]) == 4  # 4 batches a epoch, 2 per step, 2 epochs
    assert on_cluster[0] == in_process[0]
    assert all(np.array_equal(on_cluster[1][k], in_process[1][k]) for k in on_cluster[1])
    assert on_cluster[0][-1] < on_cluster[0][0]
    # the same examples as one dask array (a block per shard) train the same way
    dx, dy = da.from_array(x, chunks=(8, 5)), da.from_array(y, chunks=(8, 2))
    assert _train(client, (dx, dy), accumulate=2)[0] == on_cluster[0]


def test_trainer_follows_the_single_process_loop(client):
    """Shards and accumulation change nothing but rounding: the data-parallel run tracks the
    plain loop (zero_grad, loss.backward(), step) on whole batches of the same examples."""
    _, x, y = _data(n=64, dtype=np.float32, seed=5)
    loader = tg.data.DataLoader(tg.data.TensorDataset(x, y), batch_size=32)
    got, state = _train(client, loader, accumulate=1, shards_per_step=3)
    model = _model()
    opt = tg.optim.Adam(model.parameters(), lr=0.05)
    want = []
    for _ in range(2):
        for xb, yb in loader:
            opt.zero_grad()
            loss = tg.nn.MSELoss()(model(xb), yb)
            loss.backward()
            opt.step()
            want.append(loss.item())
    np.testing.assert_allclose(got, want, rtol=1e-5)
    for k, v in model.state_dict().items():
        np.testing.assert_allclose(state[k], v, rtol=1e-4, atol=1e-5)


def _slow(shard, delay):
    time.sleep(delay)
    return shard


def test_killed_worker_loses_no_step(client):
    """SIGKILL a worker process while it holds a step's shards: Dask reruns its tasks on the
    other worker and the loss curve equals the run without the failure, bit for bit."""
    _, x, y = _data(n=48, dtype=np.float32, seed=4)
    steps = [_shards(x[i:i + 16], y[i:i + 16], [8, 8]) for i in range(0, 48, 16)]
    model = _model()
    opt = tg.optim.SGD(model.parameters(), lr=0.1)
    trainer = tg.distributed.DistributedTrainer(model, tg.nn.MSELoss(), opt, client,
                                                progress=False)
    baseline = [trainer.step(s) for s in steps]

    model = _model()
    opt = tg.optim.SGD(model.parameters(), lr=0.1)
    trainer = tg.distributed.DistributedTrainer(model, tg.nn.MSELoss(), opt, client,
                                                progress=False)
    victim = min(client.scheduler_info(n_workers=-1)["workers"])
    pid = client.run(os.getpid, workers=[victim])[victim]
    losses, killed_at = [], []

    def kill():
        os.kill(pid, signal.SIGKILL)
        killed_at.append(time.perf_counter())

    for i, shards in enumerate(steps):
        if i == 1:
            # the step's shards are tasks running on the victim when it dies
            shards = [client.submit(_slow, s, 1.5, workers=[victim], allow_other_workers=True,
                                    pure=False) for s in shards]
            killer = threading.Timer(0.5, kill)
            killer.start()
            start = time.perf_counter()
        losses.append(trainer.step(shards))
        if i == 1:
            end = time.perf_counter()
    killer.join()
    assert start < killed_at[0] < end  # killed mid-step
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert victim not in client.scheduler_info(n_workers=-1)["workers"]
    assert losses == baseline
    client.wait_for_workers(2, timeout=60)  # the nanny restarts it for later tests


def test_distributed_digits_example_runs(tmp_path):
    """examples/distributed_digits.py as the README runs it (its own LocalCluster)."""
    pytest.importorskip("sklearn")
    import subprocess
    import sys
    from pathlib import Path
    script = Path(__file__).resolve().parent.parent / "examples" / "distributed_digits.py"
    env = {k: v for k, v in os.environ.items() if k != "DASK_SCHEDULER_ADDRESS"}
    proc = subprocess.run([sys.executable, str(script), "--no-throughput"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300, env=env, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "test accuracy 0.9" in proc.stdout
