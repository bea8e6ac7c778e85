"""The five HIPS-autograd example programs of issue 13, written as a NumPy user would.

Each maker returns ``(loss, args, note)``: ``loss(params, *data)`` is plain NumPy (it runs
eagerly on arrays and traces under ``tg.jit(tg.value_and_grad(loss))``), ``params`` is the
pytree differentiated, ``args`` are float64 arrays. Python loops are unrolled, as tracing does
today. These are our own implementations from the programs' descriptions (an LSTM character
model, a Gaussian-process marginal likelihood, an ODE net, a grid fluid simulation, mixture
variational inference), at the issue's full sizes, or tiny ones with ``quick``.
"""
from __future__ import annotations

import numpy as np


# --- (1) character LSTM: loss over a text of `chars` characters, one-hot inputs -----------------
def lstm(quick=False):
    chars, hidden, vocab, batch = (5, 6, 8, 2) if quick else (30, 40, 60, 4)
    rng = np.random.default_rng(0)
    rows = vocab + hidden + 1  # [x, h, 1] @ W for each gate
    params = {g: rng.standard_normal((rows, hidden)) * 0.1
              for g in ("change", "forget", "ingate", "outgate")}
    params["predict"] = rng.standard_normal((hidden + 1, vocab)) * 0.1
    text = rng.integers(0, vocab, size=(chars, batch))
    onehot = np.eye(vocab)[text]  # (chars, batch, vocab)

    def sigmoid(x):
        return 0.5 * (np.tanh(0.5 * x) + 1.0)

    def loss(p, xs):
        h = np.zeros((xs.shape[1], hidden))
        c = np.zeros((xs.shape[1], hidden))
        ones = np.ones((xs.shape[1], 1))
        total = 0.0
        for t in range(xs.shape[0] - 1):
            inp = np.concatenate([xs[t], h, ones], axis=1)
            change = np.tanh(inp @ p["change"])
            forget = sigmoid(inp @ p["forget"])
            ingate = sigmoid(inp @ p["ingate"])
            outgate = sigmoid(inp @ p["outgate"])
            c = c * forget + ingate * change
            h = outgate * np.tanh(c)
            logits = np.concatenate([h, ones], axis=1) @ p["predict"]
            m = np.max(logits, axis=1, keepdims=True)
            logprob = logits - m - np.log(np.sum(np.exp(logits - m), axis=1, keepdims=True))
            total = total - np.sum(logprob * xs[t + 1])
        return total / (xs.shape[0] - 1)
    return loss, (params, onehot), f"{chars} chars, hidden {hidden}, vocab {vocab}, batch {batch}"


# --- (2) Gaussian process: negative log marginal likelihood, RBF kernel --------------------------
def gp(quick=False):
    """As HIPS autograd's gaussian_process.py: the marginal likelihood through the library's
    linear algebra (its mvn.logpdf factorises the covariance): a Cholesky factor, a solve with it
    for the quadratic form and slogdet for the normaliser."""
    n = 5 if quick else 20
    rng = np.random.default_rng(1)
    x = np.sort(rng.uniform(-3, 3, n))
    y = np.sin(x) + 0.1 * rng.standard_normal(n)
    params = {"log_len": np.array(0.1), "log_amp": np.array(0.2),
              "log_noise": np.array(-2.0), "mean": np.array(0.05)}

    def loss(p, x, y):
        d = x[:, None] - x[None, :]
        k = np.exp(p["log_amp"]) * np.exp(-0.5 * d * d / np.exp(2.0 * p["log_len"]))
        k = k + (np.exp(p["log_noise"]) + 1e-6) * np.eye(x.shape[0])
        r = y - p["mean"]
        z = np.linalg.solve(np.linalg.cholesky(k), r)  # L z = r, so r' K^-1 r = |z|^2
        logdet = np.linalg.slogdet(k)[1]
        return 0.5 * (z @ z) + 0.5 * logdet + 0.5 * x.shape[0] * np.log(2 * np.pi)
    return loss, (params, x, y), f"{n} points, np.linalg.cholesky + solve + slogdet"


# --- (3) ODE net: MLP dynamics integrated with fixed RK4 steps ------------------------------------
def odenet(quick=False):
    points, width = (4, 8) if quick else (30, 50)
    rng = np.random.default_rng(2)
    params = {"w1": rng.standard_normal((2, width)) * 0.3, "b1": np.zeros(width),
              "w2": rng.standard_normal((width, 2)) * 0.3, "b2": np.zeros(2)}
    ts = np.linspace(0.0, 1.5, points)
    y0 = np.array([2.0, 0.0])
    decay = np.exp(-0.1 * ts)[:, None]
    targets = np.stack([2.0 * np.cos(2 * ts), -2.0 * np.sin(2 * ts)], axis=1) * decay

    def dynamics(p, y):
        return np.tanh(y @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]

    def loss(p, y0, ts, targets):
        y = y0
        total = np.sum((y - targets[0]) ** 2)
        for i in range(1, ts.shape[0]):  # one RK4 step between consecutive output points
            dt = ts[i] - ts[i - 1]
            k1 = dynamics(p, y)
            k2 = dynamics(p, y + 0.5 * dt * k1)
            k3 = dynamics(p, y + 0.5 * dt * k2)
            k4 = dynamics(p, y + dt * k3)
            y = y + dt / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
            total = total + np.sum((y - targets[i]) ** 2)
        return total / ts.shape[0]
    return loss, (params, y0, ts, targets), \
        f"{points} points, {points - 1} RK4 steps, MLP 2-{width}-2"


# --- (4) fluid simulation: advection + pressure projection on a periodic grid -------------------
def fluidsim(quick=False):
    """Semi-Lagrangian advection with bilinear interpolation by static indexing: each back-traced
    displacement is clipped to less than one cell, so the four neighbours are fixed np.roll
    shifts chosen by the displacement's sign (np.where) and weighted by its size."""
    size, steps, jacobi = (8, 2, 3) if quick else (32, 10, 10)
    rng = np.random.default_rng(3)
    yy, xx = np.meshgrid(np.linspace(-1, 1, size), np.linspace(-1, 1, size), indexing="ij")
    smoke = np.exp(-8.0 * (xx ** 2 + (yy + 0.4) ** 2))
    target = np.exp(-8.0 * ((xx - 0.3) ** 2 + (yy - 0.3) ** 2))
    params = {"vx": 0.3 * rng.standard_normal((size, size)),
              "vy": 0.3 * rng.standard_normal((size, size))}

    def project(vx, vy):
        div = -0.5 * (np.roll(vx, -1, axis=1) - np.roll(vx, 1, axis=1)
                      + np.roll(vy, -1, axis=0) - np.roll(vy, 1, axis=0))
        pr = np.zeros_like(div)
        for _ in range(jacobi):
            pr = 0.25 * (div + np.roll(pr, 1, axis=0) + np.roll(pr, -1, axis=0)
                         + np.roll(pr, 1, axis=1) + np.roll(pr, -1, axis=1))
        vx = vx - 0.5 * (np.roll(pr, -1, axis=1) - np.roll(pr, 1, axis=1))
        vy = vy - 0.5 * (np.roll(pr, -1, axis=0) - np.roll(pr, 1, axis=0))
        return vx, vy

    def shift(f, d, axis):
        """f sampled at (cell - d) along ``axis``, |d| < 1, linear between the two neighbours."""
        back = np.where(d > 0, np.roll(f, 1, axis=axis), np.roll(f, -1, axis=axis))
        w = np.abs(d)
        return (1.0 - w) * f + w * back

    def advect(f, vx, vy):
        dx = np.clip(vx, -0.95, 0.95)
        dy = np.clip(vy, -0.95, 0.95)
        return shift(shift(f, dx, 1), dy, 0)

    def loss(p, smoke, target):
        vx, vy = p["vx"], p["vy"]
        for _ in range(steps):
            vx, vy = project(vx, vy)
            vx, vy = advect(vx, vx, vy), advect(vy, vx, vy)
            smoke = advect(smoke, vx, vy)
        return np.sum((smoke - target) ** 2)
    return loss, (params, smoke, target), \
        f"{size}x{size} grid, {steps} steps, {jacobi} Jacobi iterations per projection"


# --- (5) mixture variational inference: ELBO of a mixture of diagonal Gaussians -----------------
def mixture_vi(quick=False):
    """The reparameterised noise is an argument (random draws are refused while tracing)."""
    comps, samples, dim = (3, 4, 2) if quick else (10, 20, 2)
    rng = np.random.default_rng(4)
    params = {"means": rng.standard_normal((comps, dim)),
              "log_stds": -0.5 + 0.1 * rng.standard_normal((comps, dim)),
              "logits": np.zeros(comps)}
    noise = rng.standard_normal((comps, samples, dim))
    centres = np.array([[-2.0, 0.0], [2.0, 0.5], [0.0, 2.5]])

    def log_target(z):  # an unnormalised 2-D mixture of three isotropic Gaussians
        terms = [-0.5 * np.sum((z - centres[i]) ** 2, axis=1) for i in range(3)]
        stacked = np.stack(terms, axis=1)
        m = np.max(stacked, axis=1, keepdims=True)
        return (m + np.log(np.sum(np.exp(stacked - m), axis=1, keepdims=True)))[:, 0]

    def diag_logpdf(z, mean, log_std):
        return -0.5 * np.sum(((z - mean) / np.exp(log_std)) ** 2 + 2.0 * log_std
                             + np.log(2 * np.pi), axis=1)

    def loss(p, noise):
        m = np.max(p["logits"])
        logw = p["logits"] - m - np.log(np.sum(np.exp(p["logits"] - m)))
        elbo = 0.0
        for k in range(p["means"].shape[0]):  # E_{q_k}[log p - log q], weighted by w_k
            z = p["means"][k] + np.exp(p["log_stds"][k]) * noise[k]
            parts = [logw[j] + diag_logpdf(z, p["means"][j], p["log_stds"][j])
                     for j in range(p["means"].shape[0])]
            stacked = np.stack(parts, axis=1)
            top = np.max(stacked, axis=1, keepdims=True)
            log_q = (top + np.log(np.sum(np.exp(stacked - top), axis=1, keepdims=True)))[:, 0]
            elbo = elbo + np.exp(logw[k]) * np.mean(log_target(z) - log_q)
        return -elbo
    return loss, (params, noise), f"{comps} components, {samples} samples each, {dim}-D"


PROGRAMS = {"lstm": lstm, "gp": gp, "odenet": odenet, "fluidsim": fluidsim,
            "mixture_vi": mixture_vi}
