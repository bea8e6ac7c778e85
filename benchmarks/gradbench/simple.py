"""GradBench's small evals (lse, llsq, kmeans, ode) written as a NumPy user writes them.

Each traced function is ordinary NumPy on the arguments; the ODE's Runge-Kutta steps go
through ``tg.fori_loop`` (one traced body whatever the step count). The references are plain
NumPy with the closed-form derivatives (softmax, the normal equations' residual, the k-means
Newton step as centroid minus cluster mean) or a Python loop (RK4), independent of tracegrad;
``check.py`` adds finite differences on top.
"""
from __future__ import annotations

import numpy as np

import tracegrad as tg

from .spec import Eval, Function, tolist


def _jit(f, backend, static=()):
    return tg.jit(f, backend=backend, static_argnums=static)


# --- lse ---------------------------------------------------------------------------------------
def lse(x):
    a = np.max(x)
    return a + np.log(np.sum(np.exp(x - a)))


def _lse_prepare(inp):
    return (np.asarray(inp["x"], dtype=np.float64),), ()


def _lse_reference(function, inp):
    x = np.asarray(inp["x"], dtype=np.float64)
    e = np.exp(x - x.max())
    return tolist(x.max() + np.log(e.sum()) if function == "primal" else e / e.sum())


def _lse_generate(n, seed):
    return {"x": np.random.default_rng(seed).random(n).tolist()}


LSE = Eval(
    name="lse",
    functions={"primal": Function("objective", lambda b, s: _jit(lse, b)),
               "gradient": Function("gradient", lambda b, s: _jit(tg.grad(lse), b))},
    prepare=_lse_prepare, post=lambda f, r, i: tolist(r), generate=_lse_generate,
    sizes=[2500, 5000, 10000, 20000, 40000, 80000, 160000, 320000, 640000, 1280000],
    quick_sizes=[7, 100], bench_sizes=[10000, 1280000], reference=_lse_reference,
    describe=lambda n: f"n={n}")


# --- llsq --------------------------------------------------------------------------------------
def llsq(x, n):
    t = np.linspace(-1.0, 1.0, n)
    residual = np.sign(t) - (t[:, None] ** np.arange(x.shape[0])) @ x
    return 0.5 * np.sum(residual * residual)


def _llsq_prepare(inp):
    return (np.asarray(inp["x"], dtype=np.float64),), (int(inp["n"]),)


def _llsq_build(grad):
    def build(backend, static):
        (n,) = static
        f = (lambda x: tg.grad(llsq)(x, n)) if grad else (lambda x: llsq(x, n))
        return _jit(f, backend)
    return build


def _llsq_reference(function, inp):
    x, n = np.asarray(inp["x"], dtype=np.float64), int(inp["n"])
    t = -1.0 + np.arange(n) * 2.0 / (n - 1)
    v = np.vander(t, len(x), increasing=True)
    r = np.sign(t) - v @ x
    return tolist(0.5 * r @ r if function == "primal" else -(v.T @ r))


def _llsq_generate(size, seed):
    n, m = size
    return {"x": np.random.default_rng(seed).random(m).tolist(), "n": n}


LLSQ = Eval(
    name="llsq",
    functions={"primal": Function("objective", _llsq_build(False)),
               "gradient": Function("gradient", _llsq_build(True))},
    prepare=_llsq_prepare, post=lambda f, r, i: tolist(r), generate=_llsq_generate,
    sizes=[(n, 128) for n in (16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8196, 16392)],
    quick_sizes=[(9, 4), (33, 8)], bench_sizes=[(1024, 128), (16392, 128)],
    reference=_llsq_reference,
    describe=lambda s: f"n={s[0]},m={s[1]}")


# --- kmeans ------------------------------------------------------------------------------------
def kmeans_cost(points, centroids):
    d2 = (np.sum(points ** 2, axis=1)[:, None] + np.sum(centroids ** 2, axis=1)[None, :]
          - 2 * points @ centroids.T)
    return np.sum(np.min(d2, axis=1))


def kmeans_dir(points, centroids):
    # Newton direction J / diag(H): the Hessian of the cost in the centroids is diagonal, so
    # its product with a vector of ones (forward over reverse) is that diagonal
    gradient = tg.grad(kmeans_cost, argnums=1)
    j, h = tg.jvp(lambda c: gradient(points, c), (centroids,), (np.ones_like(centroids),))
    return j / h


def _kmeans_prepare(inp):
    return (np.asarray(inp["points"], dtype=np.float64),
            np.asarray(inp["centroids"], dtype=np.float64)), ()


def _kmeans_reference(function, inp):
    p = np.asarray(inp["points"], dtype=np.float64)
    c = np.asarray(inp["centroids"], dtype=np.float64)
    d2 = ((p[:, None, :] - c[None, :, :]) ** 2).sum(-1)
    if function == "cost":
        return tolist(d2.min(axis=1).sum())
    # J_j = 2 sum_{i in j} (c_j - p_i), H_j = 2 |j|: the step is c_j minus its cluster's mean
    owner = d2.argmin(axis=1)
    sums = np.zeros_like(c)
    np.add.at(sums, owner, p)
    counts = np.bincount(owner, minlength=len(c))[:, None]
    return tolist(c - sums / counts)


def _kmeans_generate(size, seed):
    k, n, d = size
    points = np.random.default_rng(seed).random((n, d))
    return {"points": points.tolist(), "centroids": points[-k:].tolist()}


KMEANS = Eval(
    name="kmeans",
    functions={"cost": Function("objective", lambda b, s: _jit(kmeans_cost, b)),
               "dir": Function("gradient", lambda b, s: _jit(kmeans_dir, b))},
    prepare=_kmeans_prepare, post=lambda f, r, i: tolist(r), generate=_kmeans_generate,
    sizes=sorted([(k, n, d) for k in (10, 100, 1000) for n in (1000, 10000) for d in (8, 16)],
                 key=lambda v: v[0] * v[1] * v[2]),
    quick_sizes=[(3, 20, 2), (5, 40, 3)],
    bench_sizes=[(10, 1000, 8), (100, 10000, 16), (1000, 10000, 16)], reference=_kmeans_reference,
    describe=lambda s: "k={},n={},d={}".format(*s))


# --- ode ---------------------------------------------------------------------------------------
def ode(x, s):
    """Classic RK4 with ``s`` steps over [0, 2] of y0' = x0, yi' = xi y(i-1), y(0) = 0."""
    h = 2.0 / s

    def f(y):
        return np.concatenate([x[:1], x[1:] * y[:-1]])

    def step(i, y):
        k1 = f(y)
        k2 = f(y + h / 2 * k1)
        k3 = f(y + h / 2 * k2)
        k4 = f(y + h * k3)
        return y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)

    return tg.fori_loop(0, s, step, np.zeros_like(x))


def _ode_prepare(inp):
    return (np.asarray(inp["x"], dtype=np.float64),), (int(inp["s"]),)


def _ode_build(grad):
    def build(backend, static):
        (s,) = static
        f = (lambda x: tg.grad(lambda v: ode(v, s)[-1])(x)) if grad else (lambda x: ode(x, s))
        return _jit(f, backend)
    return build


def ode_numpy(x, s):
    """RK4 in plain NumPy, a Python loop over the steps (the reference primal)."""
    h = 2.0 / s
    y = np.zeros_like(x)

    def f(y):
        return np.concatenate([x[:1], x[1:] * y[:-1]])

    for _ in range(s):
        k1 = f(y)
        k2 = f(y + h / 2 * k1)
        k3 = f(y + h / 2 * k2)
        k4 = f(y + h * k3)
        y = y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return y


def _ode_reference(function, inp):
    x, s = _ode_prepare(inp)[0][0], int(inp["s"])
    if function == "primal":
        return tolist(ode_numpy(x, s))
    # the last component is a polynomial in x; its gradient by central differences per
    # coordinate would cost n solves, so only coordinates that can be non-zero are probed:
    # y_{n-1} depends on x_j only through the chain, and vanishes below rounding once the
    # chain is longer than a few dozen (2^i / i! < 1e-24 past 30)
    g = np.zeros_like(x)
    last = len(x) - 1
    for j in range(max(0, last - 30), last + 1):
        e = np.zeros_like(x)
        step = 1e-6 * max(1.0, abs(x[j]))
        e[j] = step
        g[j] = (ode_numpy(x + e, s)[-1] - ode_numpy(x - e, s)[-1]) / (2 * step)
    return tolist(g)


def _ode_generate(size, seed):
    n, s = size
    return {"x": np.random.default_rng(seed).random(n).tolist(), "s": s}


ODE = Eval(
    name="ode",
    functions={"primal": Function("objective", _ode_build(False)),
               "gradient": Function("gradient", _ode_build(True))},
    prepare=_ode_prepare, post=lambda f, r, i: tolist(r), generate=_ode_generate,
    sizes=sorted([(n, s) for n in (1000, 10000, 100000) for s in (1, 10, 100)],
                 key=lambda v: v[0] * v[1]),
    quick_sizes=[(6, 3), (12, 5)],
    bench_sizes=[(1000, 10), (10000, 100), (100000, 100)], reference=_ode_reference,
    describe=lambda v: "n={},s={}".format(*v))
