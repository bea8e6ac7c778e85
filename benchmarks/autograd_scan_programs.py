"""Loop variants of three autograd example programs: the time-step loop written as ``tg.scan``
/ ``tg.fori_loop`` (traced once, compiled as a real loop) instead of a Python loop unrolled by
tracing. Same data, parameters and arithmetic as autograd_programs.py's faithful ports (each
maker builds its port and reuses its arguments), so both compute the same loss; these are
additional rows (``lstm-scan``, ``odenet-scan``, ``fluidsim-scan``), not replacements.
"""
from __future__ import annotations

import numpy as np

import tracegrad as tg

from . import autograd_programs as ports


def lstm_scan(quick=False):
    """The character loop as a scan over (input, next character) pairs."""
    _, (params, onehot), note = ports.lstm(quick)
    hidden = params["change"].shape[1]

    def sigmoid(x):
        return 0.5 * (np.tanh(0.5 * x) + 1.0)

    def loss(p, xs):
        ones = np.ones((xs.shape[1], 1))

        def step(carry, pair):
            h, c = carry
            x, nxt = pair
            inp = np.concatenate([x, h, ones], axis=1)
            change = np.tanh(inp @ p["change"])
            forget = sigmoid(inp @ p["forget"])
            ingate = sigmoid(inp @ p["ingate"])
            outgate = sigmoid(inp @ p["outgate"])
            c = c * forget + ingate * change
            h = outgate * np.tanh(c)
            logits = np.concatenate([h, ones], axis=1) @ p["predict"]
            m = np.max(logits, axis=1, keepdims=True)
            logprob = logits - m - np.log(np.sum(np.exp(logits - m), axis=1, keepdims=True))
            return (h, c), -np.sum(logprob * nxt)
        zeros = np.zeros((xs.shape[1], hidden))
        _, terms = tg.scan(step, (zeros, zeros), (xs[:-1], xs[1:]))
        return np.sum(terms) / (xs.shape[0] - 1)
    return loss, (params, onehot), note + "; tg.scan over characters"


def odenet_scan(quick=False):
    """The RK4 steps as a scan over (step size, target) pairs."""
    _, (params, y0, ts, targets), note = ports.odenet(quick)

    def dynamics(p, y):
        return np.tanh(y @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]

    def loss(p, y0, ts, targets):
        def step(y, inp):
            dt, target = inp
            k1 = dynamics(p, y)
            k2 = dynamics(p, y + 0.5 * dt * k1)
            k3 = dynamics(p, y + 0.5 * dt * k2)
            k4 = dynamics(p, y + dt * k3)
            y = y + dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
            return y, np.sum((y - target) ** 2)
        _, errs = tg.scan(step, y0, (ts[1:] - ts[:-1], targets[1:]))
        return (np.sum((y0 - targets[0]) ** 2) + np.sum(errs)) / ts.shape[0]
    return loss, (params, y0, ts, targets), note + "; tg.scan over steps"


def fluidsim_scan(quick=False):
    """The simulation steps as a scan, the Jacobi iterations as a fori_loop inside it."""
    _, (params, smoke, target), note = ports.fluidsim(quick)
    size, steps, jacobi = (8, 2, 3) if quick else (32, 10, 10)

    def project(vx, vy):
        div = -0.5 * (np.roll(vx, -1, axis=1) - np.roll(vx, 1, axis=1)
                      + np.roll(vy, -1, axis=0) - np.roll(vy, 1, axis=0))

        def jacobi_step(_, pr):
            return 0.25 * (div + np.roll(pr, 1, axis=0) + np.roll(pr, -1, axis=0)
                           + np.roll(pr, 1, axis=1) + np.roll(pr, -1, axis=1))
        pr = tg.fori_loop(0, jacobi, jacobi_step, np.zeros_like(div))
        vx = vx - 0.5 * (np.roll(pr, -1, axis=1) - np.roll(pr, 1, axis=1))
        vy = vy - 0.5 * (np.roll(pr, -1, axis=0) - np.roll(pr, 1, axis=0))
        return vx, vy

    def shift(f, d, axis):
        back = np.where(d > 0, np.roll(f, 1, axis=axis), np.roll(f, -1, axis=axis))
        w = np.abs(d)
        return (1.0 - w) * f + w * back

    def advect(f, vx, vy):
        dx = np.clip(vx, -0.95, 0.95)
        dy = np.clip(vy, -0.95, 0.95)
        return shift(shift(f, dx, 1), dy, 0)

    def loss(p, smoke, target):
        def step(carry, _):
            vx, vy, smoke = carry
            vx, vy = project(vx, vy)
            vx, vy = advect(vx, vx, vy), advect(vy, vx, vy)
            return (vx, vy, advect(smoke, vx, vy)), None
        (_, _, smoke), _ = tg.scan(step, (p["vx"], p["vy"], smoke), None, length=steps)
        return np.sum((smoke - target) ** 2)
    return loss, (params, smoke, target), note + "; tg.scan over steps, fori_loop Jacobi"


SCAN_PROGRAMS = {"lstm-scan": lstm_scan, "odenet-scan": odenet_scan,
                 "fluidsim-scan": fluidsim_scan}
# the faithful port each variant must agree with (same loss at the same arguments)
PORT_OF = {"lstm-scan": "lstm", "odenet-scan": "odenet", "fluidsim-scan": "fluidsim"}
