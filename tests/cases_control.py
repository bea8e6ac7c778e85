"""Rows of the primitive table (tests/cases.py) for the loop and branch primitives: each calls
``tg.scan`` / ``tg.while_loop`` / ``tg.cond`` on a small body, against the same loop unrolled in
NumPy."""
from __future__ import annotations

import numpy as np

import tracegrad as tg
from tracegrad import numpy as tnp


def _rnn(h0, xs):
    def step(h, x):
        h = tnp.tanh(0.5 * h + x)
        return h, h * h
    return tg.scan(step, h0, xs)


def _rnn_ref(h0, xs):
    h, ys = h0, []
    for x in xs:
        h = np.tanh(0.5 * h + x)
        ys.append(h * h)
    return h, np.stack(ys) if ys else np.zeros((0,) + h0.shape, h0.dtype)


def _scan_ys(h0, xs):
    return _rnn(h0, xs)[1]


def _scan_ys_ref(h0, xs):
    return _rnn_ref(h0, xs)[1]


def _scan_reverse(h0, xs):
    def step(h, x):
        return tnp.sin(h) * x + h, None
    return tg.scan(step, h0, xs, reverse=True)[0]


def _scan_reverse_ref(h0, xs):
    h = h0
    for x in xs[::-1]:
        h = np.sin(h) * x + h
    return h


def _while(x):
    def body(c):
        v, i = c
        return v * 0.5 + tnp.sin(v), i + 1
    return tg.while_loop(lambda c: c[1] < 4, body, (x, np.int32(0)), max_iter=10)[0]


def _while_ref(x):
    v = x
    for _ in range(4):
        v = v * 0.5 + np.sin(v)
    return v


def _cond(p, x):
    return tg.cond(p.sum() > 0, lambda x: tnp.sin(x) * 2, lambda x: tnp.cos(x), x)


def _cond_ref(p, x):
    return np.sin(x) * 2 if p.sum() > 0 else np.cos(x)


def _cond_false(p, x):
    return tg.cond(p.sum() < 0, lambda x: tnp.sin(x) * 2, lambda x: tnp.exp(x * 0.5), x)


def _cond_false_ref(p, x):
    return np.sin(x) * 2 if p.sum() < 0 else np.exp(x * 0.5)


def control_rows(Case, FLOAT):
    return [
        Case("scan", _scan_ys, _scan_ys_ref, [((3,), (4, 3)), ((2,), (0, 2)), ((), (5,)), ((1,), (1, 1))],
             FLOAT, ("real", "real"), name="rnn"),
        Case("scan", _scan_reverse, _scan_reverse_ref, [((3,), (4, 3))], FLOAT,
             ("real", "real"), name="reverse"),
        Case("while", _while, _while_ref, [((3,),), ((),), ((0,),), ((1,),)], FLOAT, ("real",)),
        Case("cond", _cond, _cond_ref, [((2,), (3,)), ((1,), (0,))], FLOAT, ("positive", "real"),
             name="true"),
        Case("cond", _cond_false, _cond_false_ref, [((2,), (3,))], FLOAT, ("positive", "real"),
             name="false"),
    ]
