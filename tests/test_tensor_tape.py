"""The tape (tracegrad/tensor/tape.py): values read from operations recorded since the last
program run use a program keyed by the codes taped as they were recorded, with no graph walk.
Checked here: a steady loop walks nothing and runs one program per iteration; each way the
tape breaks falls back to the walk with the same values; and random eager programs (operations,
reads, deferred in-place updates, dropped tensors) give NumPy's values with the tape on and
off, both paths exercised."""
from __future__ import annotations

import gc
import math
import random
import sys

import numpy as np
import pytest

import tracegrad as tg

L = sys.modules["tracegrad.tensor.lazy"]
T = sys.modules["tracegrad.tensor.tape"]


def _manual_loop(x, y, params, iters):
    a, b, c, d = params
    lr = 1e-6
    for _ in range(iters):
        y_pred = a + b * x + c * x ** 2 + d * x ** 3
        loss = (y_pred - y).pow(2).sum().item()
        g = 2.0 * (y_pred - y)
        a -= lr * g.sum()
        b -= lr * (g * x).sum()
        c -= lr * (g * x ** 2).sum()
        d -= lr * (g * x ** 3).sum()
    return loss


class _Count:
    def __init__(self, monkeypatch):
        self.walks = self.runs = self.taped = 0
        walk_init, run, plan = L._Walk.__init__, L._Op.run, T.Tape.plan

        def counted_walk(w, *a, **k):
            self.walks += 1
            walk_init(w, *a, **k)

        def counted_run(op, args):
            self.runs += 1
            return run(op, args)

        def counted_plan(tape, *a):
            done = plan(tape, *a)
            self.taped += done is not None
            return done

        monkeypatch.setattr(L._Walk, "__init__", counted_walk)
        monkeypatch.setattr(L._Op, "run", counted_run)
        monkeypatch.setattr(T.Tape, "plan", counted_plan)


def test_steady_manual_gradient_loop_walks_no_graph(monkeypatch):
    """Before the tape, each iteration's loss.item() walked and numbered the ~35 nodes behind
    it (about a third of the step's time) to find the cached program."""
    x = tg.tensor(np.linspace(-math.pi, math.pi, 100, dtype=np.float32))
    y = tg.sin(x)
    params = [tg.tensor(float(v)) for v in (0.1, -0.2, 0.3, 0.05)]
    _manual_loop(x, y, params, 3)
    count = _Count(monkeypatch)
    _manual_loop(x, y, params, 5)
    assert (count.walks, count.runs, count.taped) == (0, 5, 5)


def test_value_from_before_the_tape_breaks_it_and_the_walk_computes():
    x = tg.tensor(np.arange(3, dtype=np.float32))
    L._before_mutation()  # (no deferred write left by another test: a flush computes all)
    a = x * 2.0
    b = x * 3.0
    np.testing.assert_array_equal(b.numpy(), [0, 3, 6])  # a program: a new tape; a not run
    assert a._node.values[0] is None and T.TAPE.ok
    c = a + 1.0  # reads a lazy value recorded before the tape
    assert not T.TAPE.ok
    np.testing.assert_array_equal(c.numpy(), [1, 3, 5])
    assert T.TAPE.ok  # that program reset it


def test_long_run_without_reads_stops_taping(monkeypatch):
    monkeypatch.setattr(T.TAPE, "limit", 8)
    x = tg.tensor(np.ones(2, np.float32))
    L._before_mutation()
    T.TAPE.reset()
    h = x
    for _ in range(20):
        h = h * 0.5 + 1.0
    assert not T.TAPE.ok and not T.TAPE.nodes  # nodes let go of
    want = np.ones(2, np.float32)
    for _ in range(20):
        want = want * np.float32(0.5) + np.float32(1.0)
    np.testing.assert_allclose(h.numpy(), want, rtol=1e-6)


def test_operation_recorded_inside_a_compiled_step_breaks_the_tape():
    w = tg.tensor(np.ones(2, np.float32))
    before = w * 2.0  # taped

    @tg.compile
    def step():
        return (w * 3.0).sum()

    assert float(step().item()) == 6.0
    np.testing.assert_array_equal(before.numpy(), [2, 2])


def test_tape_program_reads_held_values_of_its_nodes_only():
    """Held lazy tensors the read does not reach stay lazy (as with the walk)."""
    x = tg.tensor(np.ones(2, np.float32))
    L._before_mutation()
    a, b = x + 1.0, x + 2.0
    s = (b * 2.0).sum()
    assert s.item() == 12.0
    assert b._node.values[0] is not None and a._node.values[0] is None


def test_fast_path_node_sets_what_node_init_sets():
    """apply_op builds its node without Node.__init__ (a quarter of an operation's cost): the
    two must set the same slots to the same defaults."""
    x = tg.tensor(np.ones(2, np.float32))
    x * 2.0
    node = (x * 2.0)._node  # the second call takes the fast path
    ref = L.Node(node.op, node.inputs, False, node.depth)
    for name in L.Node.__slots__:
        if name != "__weakref__":
            assert hasattr(node, name) and hasattr(ref, name), name
    fields = ("op", "inputs", "values", "requires_grad", "freed", "depth")
    assert [getattr(node, f) for f in fields] == [getattr(ref, f) for f in fields]
    assert ref.serial == node.serial + 1


# --- random eager programs against NumPy, with the tape on and off ----------------------------
def _random_program(seed, check):
    """Operations, reads, in-place updates and dropped tensors drawn at random; ``check``
    compares a tensor with its NumPy mirror."""
    rng = random.Random(seed)
    leaves = [np.array(rng.uniform(-1, 1), np.float32)] + \
        [np.array([rng.uniform(-1, 1) for _ in range(4)], np.float32) for _ in range(2)]
    pool = [(tg.tensor(a), a.copy()) for a in leaves]
    leaf_pool = list(pool)
    for _ in range(60):
        r = rng.random()
        (t1, n1), (t2, n2) = rng.choice(pool), rng.choice(pool)
        if r < 0.45:
            kind = rng.choice(("add", "sub", "mul", "scale", "sum", "sin"))
            if kind == "add":
                pair = (t1 + t2, n1 + n2)
            elif kind == "sub":
                pair = (t1 - t2, n1 - n2)
            elif kind == "mul":
                pair = (tg.sin(t1 * t2), np.sin(n1 * n2))
            elif kind == "scale":
                pair = (0.5 * t1, np.float32(0.5) * n1)
            elif kind == "sum":
                pair = (t1.sum(), n1.sum())
            else:
                pair = (tg.sin(t1), np.sin(n1))
            pool.append(pair)
        elif r < 0.65:
            check(t1, n1)
        elif r < 0.8:
            leaf, mirror = rng.choice(leaf_pool)
            upd, nupd = t2 if t2.shape in ((), leaf.shape) else t2.sum(), \
                n2 if n2.shape in ((), mirror.shape) else n2.sum()
            leaf -= 0.25 * upd  # deferred when the value is lazy
            mirror -= np.float32(0.25) * nupd
        elif len(pool) > 4:
            del pool[rng.randrange(3, len(pool))]
            gc.collect() if rng.random() < 0.2 else None
    for t, n in pool:
        check(t, n)


def _check(t, n):
    np.testing.assert_allclose(t.numpy(), n, rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("tape", [True, False], ids=["tape", "walk"])
def test_random_eager_programs_match_numpy(tape, monkeypatch):
    if not tape:
        monkeypatch.setattr(T.TAPE, "limit", -1)  # every push breaks it: the walk alone
    count = _Count(monkeypatch)
    for seed in range(25):
        _random_program(seed, _check)
    assert count.walks > 0
    assert (count.taped > 0) == tape
