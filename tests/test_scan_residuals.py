"""Reverse mode of ``scan`` stacks each per-step sequence once (prims/control_shift.py).

The backward sweep of a step reads the carry the step started from; when the forward loop
already stacks that carry's end-of-step value (the user's ``ys``, or another residual), the
reverse loop reads it shifted (step t: stack[t - 1], step 0: init) instead of the forward loop
stacking it a second time. Gradients are checked against the same loop unrolled in Python
(differentiated without any scan) and finite differences on both backends; the graphs are
checked for the stacks they hold; the tanh RNN's planned peak memory is checked to drop.
"""
from __future__ import annotations

import numpy as np
import pytest

import tracegrad as tg
from tracegrad import numpy as tnp
from tracegrad.testing import check_grads

RNG = np.random.default_rng(3)
BACKENDS = ["numpy", "c"]


def _step_rnn(w, b):
    def step(h, x):
        h = tnp.tanh(h @ w + x + b)
        return h, h
    return step


def _step_fn_of_carry(w, b):  # ys is a function of the carry, not the carry: h_prev is stacked
    def step(h, x):
        h = tnp.tanh(h @ w + x + b)
        return h, 2.0 * tnp.sin(h)
    return step


def _step_carry_not_output(w, b):  # ys is a reduction: the carry's sequence is stacked once
    def step(h, x):
        h = tnp.tanh(h @ w + x + b)  # tanh's pullback reads h: stacked, h_prev read from it
        return h, tnp.sum(h, axis=1)
    return step


def _step_two_carries(w, b):  # (h, c), ys = c; h_prev read from a stack of the new h
    def step(carry, x):
        h, c = carry
        c = 0.5 * c + tnp.tanh(h @ w + x)
        h = tnp.sin(c + b) * h
        return (h, c), c
    return step


STEPS = {"rnn": _step_rnn, "fn_of_carry": _step_fn_of_carry,
         "carry_not_output": _step_carry_not_output, "two_carries": _step_two_carries}


def _init(name, h0):
    return (h0, 0.3 * h0) if name == "two_carries" else h0


def _loss(name, reverse=False, checkpoint=None, unrolled=False):
    def loss(w, b, h0, xs):
        step = STEPS[name](w, b)
        init = _init(name, h0)
        if unrolled:  # the reference: the same loop in Python, differentiated step by step
            carry, ys = init, []
            order = range(len(xs) - 1, -1, -1) if reverse else range(len(xs))
            out = [None] * len(xs)
            for t in order:
                carry, out[t] = step(carry, xs[t])
            ys = tnp.stack(out)
        else:
            carry, ys = tg.scan(step, init, xs, reverse=reverse, checkpoint=checkpoint)
        final = carry[0] if name == "two_carries" else carry
        weights = np.arange(1.0, ys.size + 1).reshape(ys.shape) / ys.size
        return tnp.sum(ys * ys * weights) + tnp.sum(final * final)
    return loss


def _args(t=6, batch=2, hidden=3):
    return (RNG.normal(size=(hidden, hidden)) * 0.5, RNG.normal(size=hidden) * 0.1,
            RNG.normal(size=(batch, hidden)) * 0.5, RNG.normal(size=(t, batch, hidden)) * 0.5)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("name", sorted(STEPS))
def test_scan_gradient_matches_unrolled_loop(name, reverse, backend):
    for t in (1, 2, 6):  # one step reads only the init; two: the init and one shifted row
        args = _args(t)
        want = tg.grad(_loss(name, reverse, unrolled=True), argnums=(0, 1, 2, 3))(*args)
        got = tg.jit(tg.grad(_loss(name, reverse), argnums=(0, 1, 2, 3)),
                     backend=backend)(*args)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("name", sorted(STEPS))
def test_scan_gradient_matches_finite_differences(name, reverse):
    check_grads(_loss(name, reverse), _args(5), order=1, modes=("rev",))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("checkpoint", [1, 2, 4])
@pytest.mark.parametrize("name", ["rnn", "two_carries"])
def test_checkpointed_scan_gradient_unchanged(name, checkpoint, backend):
    args = _args(7)
    for reverse in (False, True):
        want = tg.grad(_loss(name, reverse, unrolled=True), argnums=(0, 1, 2, 3))(*args)
        got = tg.jit(tg.grad(_loss(name, reverse, checkpoint), argnums=(0, 1, 2, 3)),
                     backend=backend)(*args)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-14)


def _nested(w, b, h0, xs):
    """An outer scan over blocks of steps whose body runs the RNN as an inner scan."""
    def block(h, xblock):
        h, hs = tg.scan(_step_rnn(w, b), h, xblock)
        return h, hs
    h, hss = tg.scan(block, h0, xs.reshape((3, -1) + xs.shape[1:]))
    return tnp.sum(hss * hss) + tnp.sum(tnp.sin(h))


def _nested_unrolled(w, b, h0, xs):
    h, total = h0, 0.0
    for x in xs:
        h = tnp.tanh(h @ w + x + b)
        total = total + tnp.sum(h * h)
    return total + tnp.sum(tnp.sin(h))


@pytest.mark.parametrize("backend", BACKENDS)
def test_nested_scans_gradient(backend):
    args = _args(6)
    want = tg.grad(_nested_unrolled, argnums=(0, 1, 2, 3))(*args)
    got = tg.jit(tg.grad(_nested, argnums=(0, 1, 2, 3)), backend=backend)(*args)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-14)
    check_grads(_nested, args, order=1, modes=("rev",))
    check_grads(_loss("rnn"), _args(4), order=2, modes=("rev",))  # grad of grad through it


def _carry_stacks(graph, t, carry_shape):
    """Outputs of the graph's forward loops (top level) that stack one carry-shaped value per
    step: the user's ys and the residuals stacked for the backward pass."""
    shape = (t,) + tuple(carry_shape)
    return sum(o.aval.shape == shape for e in graph.eqns
               if e.prim.name == "scan" and e.params["reverse"] is False
               for o in e.outputs[e.params["num_carry"]:])


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name, stacks", [("rnn", 1), ("carry_not_output", 1),
                                           ("two_carries", 3), ("fn_of_carry", 2)])
def test_each_carry_sequence_is_stacked_once(name, stacks, backend):
    """The RNN stacks h once (its ys; before: also h_prev, failed with 2). A scan whose ys is
    not the carry stacks the carry's new values once (h_prev read from them) and recomputes
    tanh's 1 - h**2 from them (before: h_prev and 1 - h**2, 2 and 3 stacks): a ys that is a
    function of the carry cannot give the carry back, so the carry is stacked beside it."""
    t, batch, hidden = 40, 4, 8
    args = _args(t, batch, hidden)
    lowered = tg.jit(tg.grad(_loss(name), argnums=(0, 1)), backend=backend).lower(*args)
    assert _carry_stacks(lowered.ir, t, (batch, hidden)) == stacks
    assert not any(e.prim.name == "concatenate" and e.outputs[0].aval.shape[0] == t
                   for e in lowered.ir.eqns)  # not rebuilt as init ++ ys[:-1] either


@pytest.mark.parametrize("checkpoint", [1])
def test_checkpointed_rnn_stacks_h_once(checkpoint):
    t, batch, hidden = 40, 4, 8
    args = _args(t, batch, hidden)
    graph = tg.make_ir(tg.grad(_loss("rnn", checkpoint=checkpoint), argnums=(0, 1)))(*args)
    assert _carry_stacks(graph, t, (batch, hidden)) == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_rnn_gradient_peak_memory_is_two_sequences(backend):
    """benchmarks/rnn_scan.py at 1,000 steps: the plan holds hs and its cotangent (2 x 32.8 MB);
    before it also held the stacked h_prev (98.9 MB in all)."""
    from benchmarks.rnn_scan import compiled, make_args
    args = make_args(1000)
    seq = args[3].nbytes
    lowered = compiled(backend).lower(*args)
    assert lowered.stats["peak_bytes"] < 2.2 * seq, lowered.stats["peak_bytes"] / seq


def _restacked_carries(graph) -> list:
    """Forward loops (at any depth) whose body stacks a carry's start-of-step value beside a
    stack of its end-of-step values: the same sequence twice, one step apart."""
    from tracegrad.ir import subgraphs
    found = []
    for e in graph.eqns:
        if e.prim.name == "scan":
            body, nc, nk = e.params["body"], e.params["num_consts"], e.params["num_carry"]
            ys = {id(a) for a in body.outputs[nk:]}
            for j in range(nk):
                start, end = body.inputs[nc + j], body.outputs[j]
                if id(start) in ys and id(end) in ys and end is not start:
                    found.append((e.params["length"], j))
        for _, g in subgraphs(e.params):
            found += _restacked_carries(g)
    return found


def _gradbench_lstm():
    from benchmarks.gradbench.lstm import lstm_objective
    rng = np.random.default_rng(0)
    return lstm_objective, (rng.random((4, 56)), rng.random((3, 14)), rng.random((4, 14)),
                            (rng.random((9, 14)) > 0.5).astype(float))


PROGRAMS = {f"{name}-{ck}-{rev}": (lambda name=name, ck=ck, rev=rev: (_loss(name, rev, ck),
                                                                        _args(8)))
            for name in STEPS for ck in (None, 1, 3) for rev in (False, True)}
PROGRAMS["nested"] = lambda: (_nested, _args(6))
PROGRAMS["gradbench-lstm"] = _gradbench_lstm


@pytest.mark.parametrize("program", sorted(PROGRAMS))
def test_no_loop_stacks_a_carry_beside_its_shifted_values(program):
    """The class: every scan program here (each step kind, plain, checkpointed and reversed,
    nested, GradBench's lstm), differentiated to first and second order, traced and
    optimised: no forward loop stacks a sequence twice (failed before for the RNN)."""
    fn, args = PROGRAMS[program]()
    wrt = tuple(range(len(args) - 1)) if program == "gradbench-lstm" else (0, 1, 2, 3)
    grad = tg.grad(fn, argnums=wrt)
    graphs = [tg.make_ir(grad)(*args), tg.jit(grad, backend="numpy").lower(*args).ir]
    if program.startswith("rnn-None"):
        second = tg.grad(lambda *a: tnp.sum(grad(*a)[0] ** 2), argnums=(0,))
        graphs.append(tg.make_ir(second)(*args))
    for graph in graphs:
        assert not _restacked_carries(graph)
