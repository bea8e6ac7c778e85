"""GradBench's gmm eval: the log posterior of a Gaussian mixture with a Wishart prior on the
precision matrices (evals/gmm/README.md in gradbench/gradbench), and its gradient in
alpha, mu, q and l.

The traced program is the README's simplified form written with NumPy arrays: each component's
lower-triangular factor Q_k is gathered from ``[exp(q_k), l_k, 0]`` by a static index table
(diagonal, then the strict lower triangle filled column by column), the Mahalanobis terms are
one batched matrix product, and the log-sum-exps are max-shifted. log Gamma_D is a constant
(``scipy.special.multigammaln`` of the input's integers). The reference is the README's
*definition* evaluated in log space with explicit loops (``definition``), sharing no code
with the traced program.
"""
from __future__ import annotations

import math

import numpy as np
import scipy.special

import tracegrad as tg

from .check import directional_error
from .spec import Eval, Function, tolist


def factor_index(d: int) -> np.ndarray:
    """(d, d) positions into ``[exp(q) (d), l (d(d-1)/2), 0]``: Q's diagonal, its strict lower
    triangle column by column (GradBench's order), and the zero above."""
    idx = np.full((d, d), d + d * (d - 1) // 2, dtype=np.int64)
    idx[np.arange(d), np.arange(d)] = np.arange(d)
    ii = d
    for j in range(d):
        for i in range(j + 1, d):
            idx[i, j] = ii
            ii += 1
    return idx


def _logsumexp(v, axis=None):
    m = np.max(v, axis=axis, keepdims=True)
    return np.log(np.sum(np.exp(v - m), axis=axis)) + np.squeeze(m, axis=axis)


def log_posterior(alpha, mu, q, l, x, m, gamma):
    n, d = x.shape
    k = alpha.shape[0]
    wishart_n = d + m + 1
    entries = np.concatenate([np.exp(q), l, np.zeros((k, 1))], axis=1)
    factors = entries[:, factor_index(d)]                        # (k, d, d), lower triangular
    centred = x[None, :, :] - mu[:, None, :]                    # (k, n, d)
    mahalanobis = np.sum((centred @ np.swapaxes(factors, 1, 2)) ** 2, axis=2)   # (k, n)
    beta = (alpha + np.sum(q, axis=1))[:, None] - 0.5 * mahalanobis
    log_likelihood = (-n * (0.5 * d * math.log(2 * math.pi) + _logsumexp(alpha))
                      + np.sum(_logsumexp(beta, axis=0)))
    log_prior = (k * (wishart_n * d * math.log(gamma / math.sqrt(2))
                      - scipy.special.multigammaln(0.5 * wishart_n, d))
                 - 0.5 * gamma * gamma * (np.sum(np.exp(2 * q)) + np.sum(l * l))
                 + m * np.sum(q))
    return log_likelihood + log_prior


def _prepare(inp):
    f = lambda key: np.asarray(inp[key], dtype=np.float64)
    d, k = int(inp["d"]), int(inp["k"])
    arrays = (f("alpha").reshape(k), f("mu").reshape(k, d), f("q").reshape(k, d),
              f("l").reshape(k, d * (d - 1) // 2), f("x").reshape(int(inp["n"]), d))
    return arrays, (int(inp["m"]), float(inp["gamma"]))


def _build(grad):
    def build(backend, static):
        m, gamma = static
        # m and gamma are configuration (Python numbers), closed over rather than traced
        objective = lambda a, mu, q, l, x: log_posterior(a, mu, q, l, x, m, gamma)
        f = tg.grad(objective, argnums=(0, 1, 2, 3)) if grad else objective
        return tg.jit(f, backend=backend)
    return build


def _post(function, result, inp):
    if function == "objective":
        return tolist(result)
    return {key: tolist(v) for key, v in zip(("alpha", "mu", "q", "l"), result)}


def definition(alpha, mu, q, l, x, m, gamma):
    """The README's definition term by term, in log space, for validation only: each Q_k built
    entry by entry, the Gaussian's exponent as |Q_k (x - mu_k)|^2 (= (x - mu)' Sigma^-1 (x - mu)),
    log det Sigma_k^-1 = 2 sum q_k (Q_k is triangular; slogdet of Q'Q loses the digits that
    finite differences need once d reaches 20), tr(V^-1 Sigma^-1) with V^-1 formed, and the
    Wishart normaliser with log det V by slogdet."""
    n, d = x.shape
    k = len(alpha)
    factors = []
    for j in range(k):
        factor = np.zeros((d, d))
        factor[np.arange(d), np.arange(d)] = np.exp(q[j])
        ii = 0
        for c in range(d):
            for r in range(c + 1, d):
                factor[r, c] = l[j][ii]
                ii += 1
        factors.append(factor)
    log_phi = alpha - np.log(np.sum(np.exp(alpha)))
    per_point = np.empty((n, k))
    for j, factor in enumerate(factors):
        z = (x - mu[j]) @ factor.T
        logdet_precision = 2 * np.sum(q[j])
        per_point[:, j] = (log_phi[j] - 0.5 * np.sum(z * z, axis=1)
                           - 0.5 * (d * np.log(2 * np.pi) - logdet_precision))
    top = per_point.max(axis=1, keepdims=True)
    log_likelihood = np.sum(np.log(np.exp(per_point - top).sum(axis=1)) + top[:, 0])
    wn = d + m + 1
    v = np.eye(d) / (gamma * gamma)
    log_prior = 0.0
    for j, factor in enumerate(factors):
        log_prior += ((wn - d - 1) / 2 * 2 * np.sum(q[j])
                      - np.trace(np.linalg.inv(v) @ (factor.T @ factor)) / 2
                      - wn * d / 2 * np.log(2) - wn / 2 * np.linalg.slogdet(v)[1]
                      - scipy.special.multigammaln(wn / 2, d))
    return log_likelihood + log_prior


def _reference(function, inp):
    arrays, (m, gamma) = _prepare(inp)
    if function == "objective":
        return tolist(definition(*arrays, m, gamma))
    return None  # gradient: checked by finite differences of the definition (check.py)


def _directional(inp, output):
    """<jacobian, v> against differences of the definition along random unit directions."""
    arrays, (m, gamma) = _prepare(inp)
    params, x = list(arrays[:4]), arrays[4]
    grads = [np.asarray(output[key]).reshape(p.shape)
             for key, p in zip(("alpha", "mu", "q", "l"), params)]
    return directional_error(lambda ps: definition(*ps, x, m, gamma), params, grads)


def _generate(size, seed):
    d, k, n = size
    rng = np.random.default_rng(seed)
    return {"d": d, "k": k, "n": n, "x": rng.normal(size=(n, d)).tolist(), "m": 0,
            "gamma": 1.0, "alpha": rng.normal(size=k).tolist(),
            "mu": rng.uniform(size=(k, d)).tolist(), "q": rng.normal(size=(k, d)).tolist(),
            "l": rng.normal(size=(k, d * (d - 1) // 2)).tolist()}


GMM = Eval(
    name="gmm",
    functions={"objective": Function("objective", _build(False)),
               "jacobian": Function("gradient", _build(True))},
    prepare=_prepare, post=_post, generate=_generate,
    sizes=sorted([(d, k, 1000) for d in (2, 10, 20, 32, 64) for k in (5, 10, 25, 50, 100)],
                 key=lambda v: v[0] * v[1]),
    quick_sizes=[(2, 3, 10), (4, 2, 7)],
    bench_sizes=[(2, 5, 1000), (20, 25, 1000), (64, 100, 1000)], reference=_reference,
    describe=lambda v: "{}_{}_{}".format(*v), directional=_directional)
