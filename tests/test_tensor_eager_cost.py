"""The lazy tensor front's per-iteration work, counted (not timed): how many programs an eager
loop runs, how many nodes its materialisations walk, that the pending list stays bounded, and
that apply_op's fast path never confuses two static arguments that compare equal in Python.
Speed itself is measured in benchmarks/eager_ops.py."""
from __future__ import annotations

import gc
import math
import sys

import numpy as np
import pytest

import tracegrad as tg

L = sys.modules["tracegrad.tensor.lazy"]


def _manual_loop(iters):
    """The tutorial's manual-gradient step (PyTorch's "Learning PyTorch with Examples", a)."""
    tg.manual_seed(0)
    x = tg.linspace(-math.pi, math.pi, 200)
    y = tg.sin(x)
    a, b, c, d = (tg.randn(()) for _ in range(4))
    lr = 1e-6
    for _ in range(iters):
        y_pred = a + b * x + c * x ** 2 + d * x ** 3
        loss = (y_pred - y).pow(2).sum().item()
        g = 2.0 * (y_pred - y)
        ga, gb, gc, gd = g.sum(), (g * x).sum(), (g * x ** 2).sum(), (g * x ** 3).sum()
        a -= lr * ga
        b -= lr * gb
        c -= lr * gc
        d -= lr * gd
    return loss, (a.item(), b.item(), c.item(), d.item())


class _Counter:
    """Counts programs run and nodes walked by materialisations while installed."""

    def __init__(self, monkeypatch):
        self.runs = 0
        self.walked = 0
        self.nodes = 0
        run, walk_init, node_init = L._Op.run, L._Walk.__init__, L.Node.__init__

        def counted_run(op, args):
            self.runs += 1
            return run(op, args)

        def counted_walk(walk, *a, **k):
            walk_init(walk, *a, **k)
            self.walked += len(walk.nodes)

        def counted_node(node, *a, **k):
            self.nodes += 1
            node_init(node, *a, **k)

        monkeypatch.setattr(L._Op, "run", counted_run)
        monkeypatch.setattr(L._Walk, "__init__", counted_walk)
        monkeypatch.setattr(L.Node, "__init__", counted_node)


def test_manual_gradient_iteration_runs_one_program(monkeypatch):
    """The four in-place updates are deferred (lazy.defer_write) and land with the next
    iteration's loss.item(): one program per iteration computes the previous gradients and
    updates, the forward pass and the loss. Before: 9 programs (the value of each update and
    the lazy tensors held were two programs, and y_pred was computed again by the second)."""
    _manual_loop(3)  # programs compiled
    counter = _Counter(monkeypatch)
    _manual_loop(1)
    base = counter.runs
    _manual_loop(4)
    # per call of _manual_loop: the first iteration's item() has no writes to apply (one
    # program), the following iterations one program each, and the final reads one more
    assert counter.runs - base == 4 + 1


def test_manual_gradient_iteration_walks_each_node_once(monkeypatch):
    """A materialisation cuts at computed values, and computes the held lazy tensors its DAG
    reaches, so no operation is walked (nor run) twice: nodes walked == nodes recorded."""
    _manual_loop(3)
    counter = _Counter(monkeypatch)
    _manual_loop(2)
    assert counter.walked <= counter.nodes


def test_held_lazy_tensor_is_computed_with_the_value_that_needs_it():
    x = tg.tensor(np.arange(4.0, dtype=np.float32))
    y_pred = x * 2.0 + 1.0
    loss = (y_pred * y_pred).sum()
    assert loss.item() == 1 + 9 + 25 + 49
    assert y_pred._node.values[0] is not None  # computed by loss.item()'s program
    np.testing.assert_array_equal(y_pred.numpy(), [1, 3, 5, 7])


def test_in_place_update_keeps_held_values_and_runs_one_program(monkeypatch):
    w = tg.tensor(np.ones(3, np.float32))
    held = w * 3.0
    step = held.sum()
    counter = _Counter(monkeypatch)
    w -= 0.5 * step  # deferred: nothing runs yet
    assert counter.runs == 0
    np.testing.assert_array_equal(w.numpy(), [-3.5, -3.5, -3.5])  # one program for it all
    assert counter.runs == 1
    np.testing.assert_array_equal(held.numpy(), [3, 3, 3])  # computed from the old w


def test_pending_list_stays_bounded_without_mutations():
    """Lazy tensors dropped (or computed) without any leaf mutation must not pile up."""
    x = tg.tensor(np.ones(2, np.float32))
    keep = []
    for i in range(6000):
        t = x * 2.0
        if i % 3 == 0:
            keep.append(t)
            t.numpy()  # computed: no longer pending
        del t
    gc.collect()
    assert len(L._PENDING._refs) <= 2 * 1024 + 1
    assert len(L._PENDING) == 0


def test_pending_list_yields_exactly_the_live_uncomputed_tensors():
    x = tg.tensor(np.ones(2, np.float32))
    L._before_mutation()
    a, b, c = x + 1.0, x + 2.0, x + 3.0
    b.numpy()
    del c
    gc.collect()
    live = list(L._PENDING)
    assert len(live) == 1 and live[0] is a


# static arguments equal in Python (so equal as dict keys) but different in meaning
_STATIC_PAIRS = [
    (0.0, -0.0), (1, 1.0), (1, True), (0, False), (2, 2.0), (float("nan"), float("nan")),
    (1.5, np.float32(1.5)), (3, np.int32(3)),
]


@pytest.mark.parametrize("first, second", _STATIC_PAIRS, ids=repr)
@pytest.mark.parametrize("op", ["add", "mul", "div", "pow", "rdiv", "rsub"])
def test_fast_path_keys_static_arguments_by_type_and_bits(op, first, second):
    """The fast path keys Python scalars by type and value (floats -0.0 and nan by text); each
    of two statics equal in Python must still give NumPy's result for its own type."""
    xs = np.array([-2.0, -0.5, 0.0, 1.5], np.float32)
    fns = {"add": lambda a, s: a + s, "mul": lambda a, s: a * s, "div": lambda a, s: a / s,
           "pow": lambda a, s: a ** s, "rdiv": lambda a, s: s / a, "rsub": lambda a, s: s - a}
    f = fns[op]
    for s in (first, second, first):
        t = tg.tensor(xs)
        with np.errstate(all="ignore"):
            want = f(xs, s)
            got = f(t, s).numpy()
        assert got.dtype == want.dtype, (op, s)
        np.testing.assert_array_equal(got, want)
        if isinstance(s, float) and s == 0.0 and op != "rsub":
            # (0.0 - x at x == 0 gives -0.0 here: the simplifier's 0 - x -> -x, not the key)
            np.testing.assert_array_equal(np.signbit(got), np.signbit(want))


def test_eager_ops_benchmark_runs_and_profiles(capsys):
    """benchmarks/eager_ops.py smoke test: a timing child (every workload, results checked
    below) and the --profile split; no time is asserted."""
    import json

    from benchmarks import eager_ops
    eager_ops.child("tracegrad", iters=2, repeat=1, cpu=True)
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(out) == set(eager_ops.WORKLOADS)
    assert all(math.isfinite(v[2]) for v in out.values())
    eager_ops.profile("manual", iters=3)
    text = capsys.readouterr().out
    assert "programs' runs" in text and "recording and Python" in text
