"""Deferred in-place writes (tensor/lazy.py ``defer_write``): a write to a private leaf that
does not require grad lands with the next program, and every observable value is the one
eager PyTorch semantics give: operations before the write see the old values, operations after
it the new ones, and memory shared with the user (numpy(), .data, detach(), from_numpy,
np.asarray, Parameter) is written at once."""
from __future__ import annotations

import sys

import numpy as np
import pytest

import tracegrad as tg
from tracegrad import nn

L = sys.modules["tracegrad.tensor.lazy"]


def _leaf(values):
    return tg.tensor(np.asarray(values, np.float32))


def test_write_is_deferred_and_lands_on_read():
    a = _leaf([1.0, 2.0])
    a -= 1.0
    assert id(a) in L._WRITES
    np.testing.assert_array_equal(a.numpy(), [0.0, 1.0])
    assert not L._WRITES


def test_operations_before_the_write_read_the_old_value():
    a = _leaf([1.0, 2.0])
    before = a * 10.0
    a += 5.0
    after = a * 10.0
    np.testing.assert_array_equal(before.numpy(), [10.0, 20.0])
    np.testing.assert_array_equal(after.numpy(), [60.0, 70.0])
    np.testing.assert_array_equal(a.numpy(), [6.0, 7.0])


def test_two_writes_and_reads_between_them():
    a = _leaf([1.0])
    a *= 3.0
    mid = a + 0.0
    a -= 1.0
    assert mid.item() == 3.0 and a.item() == 2.0


def test_copy_from_a_leaf_written_after():
    a, b = _leaf([1.0]), _leaf([5.0])
    a.copy_(b * 1.0)
    b -= 1.0
    assert a.item() == 5.0 and b.item() == 4.0


def test_writes_that_read_each_other():
    a, b = _leaf([1.0]), _leaf([10.0])
    a += b        # a = 11 (b old)
    b += a        # b = 21 (a new)
    a *= 2.0      # a = 22
    assert (a.item(), b.item()) == (22.0, 21.0)


@pytest.mark.parametrize("share", ["numpy", "data", "detach", "asarray", "from_numpy",
                                   "as_tensor"])
def test_memory_shared_with_the_user_is_written_at_once(share):
    if share in ("from_numpy", "as_tensor"):
        arr = np.array([1.0, 2.0], np.float32)
        a = getattr(tg, share)(arr)
        view = arr
    else:
        a = _leaf([1.0, 2.0])
        view = {"numpy": lambda: a.numpy(), "data": lambda: a.data,
                "detach": lambda: a.detach(), "asarray": lambda: np.asarray(a)}[share]()
    a -= 1.0
    assert not L._WRITES
    np.testing.assert_array_equal(np.asarray(view), [0.0, 1.0])


def test_parameter_sharing_a_tensor_is_never_deferred():
    t = _leaf([1.0, 2.0])
    p = nn.Parameter(t, requires_grad=False)
    t -= 1.0
    p += 10.0
    assert not L._WRITES
    np.testing.assert_array_equal(p.numpy(), [10.0, 11.0])
    np.testing.assert_array_equal(t.numpy(), [10.0, 11.0])


def test_leaf_that_requires_grad_is_written_at_once():
    w = tg.tensor([1.0, 2.0], requires_grad=True)
    with tg.no_grad():
        w -= 0.5
    assert not L._WRITES
    (w * w).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), [1.0, 3.0])


def test_write_of_a_value_that_requires_grad_is_not_deferred():
    w = tg.tensor([2.0], requires_grad=True)
    a = _leaf([0.0])
    a.copy_(w * 3.0)
    assert not L._WRITES and a.item() == 6.0


def test_requires_grad_after_a_deferred_write_differentiates_the_leaf():
    a = _leaf([1.0, 2.0])
    a += 1.0
    a.requires_grad_()
    (a * a).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [4.0, 6.0])


def test_long_chain_of_writes_without_reads_stays_bounded():
    a = _leaf([0.0])
    for _ in range(2 * L._MAX_LAZY_DEPTH + 7):
        a += 1.0
    assert a.item() == 2 * L._MAX_LAZY_DEPTH + 7


def test_backward_with_a_written_constant_uses_the_new_value():
    c = _leaf([2.0])
    w = tg.tensor([3.0], requires_grad=True)
    c *= 5.0  # deferred
    (w * c).sum().backward()
    assert w.grad.item() == 10.0 and c.item() == 10.0


def test_state_dict_and_compiled_step_see_deferred_buffer_writes():
    """BatchNorm's running statistics are updated with copy_ under no_grad (deferred eagerly);
    state_dict, and a tg.compile replay that reads the buffers' arrays, see the new values."""
    tg.manual_seed(0)
    bn = nn.BatchNorm1d(3)
    x = tg.tensor(np.arange(12, dtype=np.float32).reshape(4, 3))
    bn(x)  # eager training step: running stats written (deferred)
    sd = bn.state_dict()
    np.testing.assert_allclose(sd["running_mean"], 0.1 * np.arange(12).reshape(4, 3).mean(0),
                               rtol=1e-6)
    assert sd["num_batches_tracked"] == 1

    step = tg.compile(lambda inp: bn(inp).sum())
    step(x)  # captured
    step(x)  # a replay
    x2 = tg.tensor(np.arange(12, dtype=np.float32).reshape(4, 3) ** 2)
    bn(x2)   # eager again, deferred; the replay below must read the landed values
    step(x)
    assert bn.num_batches_tracked.item() == 5
    want = np.zeros(3)
    for batch in (x, x, x, x2, x):  # the order matters: an exponential moving average
        want = 0.9 * want + 0.1 * batch.numpy().mean(0)
    np.testing.assert_allclose(bn.running_mean.numpy(), want, rtol=1e-5)


def test_failed_program_keeps_the_write_deferred(monkeypatch):
    a = _leaf([1.0, 2.0])
    a += 1.0
    run = L._Op.run

    def failing(op, args):
        raise RuntimeError("the program failed")

    monkeypatch.setattr(L._Op, "run", failing)
    with pytest.raises(RuntimeError, match="program failed"):
        a.numpy()
    assert id(a) in L._WRITES  # not applied, not lost
    monkeypatch.setattr(L._Op, "run", run)
    np.testing.assert_array_equal(a.numpy(), [2.0, 3.0])  # never a stale or lost write


def test_compiled_step_replay_keeps_held_lazy_values():
    """A replay writes parameters in place; a lazy tensor made from the old weight before it
    must keep the old values (before, the replay skipped _before_mutation and it saw the new)."""
    tg.manual_seed(0)
    lin = nn.Linear(2, 1)
    opt = tg.optim.SGD(lin.parameters(), lr=0.1)
    x = tg.tensor(np.ones((4, 2), np.float32))

    def step(inp):
        opt.zero_grad()
        loss = lin(inp).sum()
        loss.backward()
        opt.step()
        return loss

    compiled = tg.compile(step)
    compiled(x)
    compiled(x)
    w_before = lin.weight.detach().numpy().copy()
    held = lin.weight * 1.0
    compiled(x)  # a replay
    assert compiled.cache_info()["hits"] == 2
    np.testing.assert_array_equal(held.numpy(), w_before)
    assert not np.array_equal(lin.weight.detach().numpy(), w_before)


def test_data_assigned_from_an_array_is_shared_and_written_at_once():
    arr = np.array([1.0, 2.0], np.float32)
    a = _leaf([0.0, 0.0])
    a.data = arr  # a now writes into arr, as in PyTorch
    a += 1.0
    assert not L._WRITES
    np.testing.assert_array_equal(arr, [2.0, 3.0])
