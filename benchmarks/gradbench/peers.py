"""The same evals in JAX (``jit`` of ``grad``/``jvp``) and PyTorch (eager autograd, float64), for
the local runner's comparison columns. Each is written the way a user of that library writes
it (JAX: ``lax.fori_loop`` for the RK4 steps; PyTorch: a Python loop), from the eval
definitions. ``available()`` says which peers are installed; neither is needed by the tests.

``PEERS[peer][eval][function](static)`` returns ``(prepare, call)``: ``prepare(arrays)`` turns the
NumPy inputs into the peer's own (done once, outside the timing), ``call(*prepared)`` computes
and waits for the result, and ``to_numpy`` brings it back for validation.
"""
from __future__ import annotations

import math

import numpy as np
import scipy.special

from .gmm import factor_index


def available() -> dict:
    found = {}
    try:
        import jax
        jax.config.update("jax_enable_x64", True)
        found["jax"] = jax.__version__
    except ImportError:
        pass  # an optional peer (the [bench] extra): its columns are left out
    try:
        import torch
        found["torch"] = torch.__version__
    except ImportError:
        pass
    return found


def _ba_error(xp, cam, x, w, feat):
    """ba's reprojection error for one observation, for a NumPy-like module ``xp`` (jax.numpy
    or torch); the zero rotation through ``where`` with a safe square root as in ba.py."""
    def cross(a, b):
        return xp.stack([a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2],
                         a[0] * b[1] - a[1] * b[0]])
    rot, pt = cam[0:3], x - cam[3:6]
    sq = xp.sum(rot * rot)
    theta = xp.sqrt(xp.where(sq != 0, sq, xp.ones_like(sq)))
    u = rot / theta
    rotated = (pt * xp.cos(theta) + cross(u, pt) * xp.sin(theta)
               + u * (xp.sum(u * pt) * (1 - xp.cos(theta))))
    xcam = xp.where(sq != 0, rotated, pt + cross(rot, pt))
    proj = xcam[0:2] / xcam[2]
    rsq = xp.sum(proj * proj)
    proj = proj * (1 + cam[9] * rsq + cam[10] * rsq * rsq)
    return w * (proj * cam[6] + cam[7:9] - feat)


def _ba_expand(xp, tile, cam, x, w, feat, n, m, p):
    obs = np.arange(p)
    return (tile(cam, (n, 1))[obs % n], tile(x, (m, 1))[obs % m], w * xp.ones(p, dtype=cam.dtype),
            tile(feat, (p, 1)))


# --- JAX ---------------------------------------------------------------------------------------
def _jax_table():
    import jax
    import jax.numpy as jnp

    def lse(x):
        a = jnp.max(x)
        return a + jnp.log(jnp.sum(jnp.exp(x - a)))

    def llsq(n):
        def f(x):
            t = jnp.linspace(-1.0, 1.0, n)
            r = jnp.sign(t) - (t[:, None] ** jnp.arange(x.shape[0])) @ x
            return 0.5 * jnp.sum(r * r)
        return f

    def cost(points, centroids):
        d2 = (jnp.sum(points ** 2, 1)[:, None] + jnp.sum(centroids ** 2, 1)[None, :]
              - 2 * points @ centroids.T)
        return jnp.sum(jnp.min(d2, axis=1))

    def kdir(points, centroids):
        g = jax.grad(cost, argnums=1)
        j, h = jax.jvp(lambda c: g(points, c), (centroids,), (jnp.ones_like(centroids),))
        return j / h

    def ode(s):
        def f(x):
            h = 2.0 / s

            def rhs(y):
                return jnp.concatenate([x[:1], x[1:] * y[:-1]])

            def step(i, y):
                k1 = rhs(y)
                k2 = rhs(y + h / 2 * k1)
                k3 = rhs(y + h / 2 * k2)
                k4 = rhs(y + h * k3)
                return y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
            return jax.lax.fori_loop(0, s, step, jnp.zeros_like(x))
        return f

    def gmm(m, gamma):
        def f(alpha, mu, q, l, x):
            n, d = x.shape
            k = alpha.shape[0]
            wn = d + m + 1
            entries = jnp.concatenate([jnp.exp(q), l, jnp.zeros((k, 1))], axis=1)
            factors = entries[:, factor_index(d)]
            centred = x[None, :, :] - mu[:, None, :]
            maha = jnp.sum((centred @ jnp.swapaxes(factors, 1, 2)) ** 2, axis=2)
            beta = (alpha + jnp.sum(q, axis=1))[:, None] - 0.5 * maha
            lse_a = jax.scipy.special.logsumexp(alpha)
            lik = (-n * (0.5 * d * math.log(2 * math.pi) + lse_a)
                   + jnp.sum(jax.scipy.special.logsumexp(beta, axis=0)))
            prior = (k * (wn * d * math.log(gamma / math.sqrt(2))
                          - scipy.special.multigammaln(0.5 * wn, d))
                     - 0.5 * gamma * gamma * (jnp.sum(jnp.exp(2 * q)) + jnp.sum(l * l))
                     + m * jnp.sum(q))
            return lik + prior
        return f

    def lstm(main, extra, state, sequence):
        layers, b = state.shape[0] // 2, state.shape[1]

        def step(s, pair):
            x, target = pair
            x = x * extra[0]
            rows = []
            for i in range(layers):
                gates = jnp.concatenate([x, s[2 * i], x, s[2 * i]]) * main[2 * i] + main[2 * i + 1]
                cell = (s[2 * i + 1] * jax.nn.sigmoid(gates[:b])
                        + jax.nn.sigmoid(gates[b:2 * b]) * jnp.tanh(gates[3 * b:]))
                hidden = jax.nn.sigmoid(gates[2 * b:3 * b]) * jnp.tanh(cell)
                rows += [hidden, cell]
                x = hidden
            y = x * extra[1] + extra[2]
            return jnp.stack(rows), jnp.sum(target * (y - jnp.log(jnp.sum(jnp.exp(y)) + 2)))
        _, scores = jax.lax.scan(step, state, (sequence[:-1], sequence[1:]))
        return -jnp.sum(scores) / ((sequence.shape[0] - 1) * b)

    def lstm_grad(*a):
        gm, ge = jax.grad(lstm, argnums=(0, 1))(*a)
        return jnp.concatenate([gm.ravel(), ge.ravel()])

    def ba(static):
        def error(c, x, w, f):
            return _ba_error(jnp, c, x, w, f)

        def objective(cam, x, w, feat):
            cs, xs, ws, fs = _ba_expand(jnp, jnp.tile, cam, x, w, feat, *static)
            return jax.vmap(error)(cs, xs, ws, fs), 1 - ws * ws

        def jacobian(cam, x, w, feat):
            cs, xs, ws, fs = _ba_expand(jnp, jnp.tile, cam, x, w, feat, *static)
            jc, jx, jw = jax.vmap(jax.jacfwd(error, argnums=(0, 1, 2)))(cs, xs, ws, fs)
            rows = jnp.concatenate([jc, jx, jw[:, :, None]], axis=2)
            return jnp.concatenate([rows.reshape(-1), -2 * ws])
        return objective, jacobian

    def jit(f):
        jf = jax.jit(f)

        def call(*a):
            return jax.block_until_ready(jf(*a))
        return call

    def entry(call_of_static):
        return lambda static: (lambda arrays: [jnp.asarray(a) for a in arrays],
                               call_of_static(static))

    return {
        "lse": {"primal": entry(lambda s: jit(lse)),
                "gradient": entry(lambda s: jit(jax.grad(lse)))},
        "llsq": {"primal": entry(lambda s: jit(llsq(*s))),
                 "gradient": entry(lambda s: jit(jax.grad(llsq(*s))))},
        "kmeans": {"cost": entry(lambda s: jit(cost)), "dir": entry(lambda s: jit(kdir))},
        "ode": {"primal": entry(lambda s: jit(ode(*s))),
                "gradient": entry(lambda s: jit(jax.grad(lambda x: ode(*s)(x)[-1])))},
        "gmm": {"objective": entry(lambda s: jit(gmm(*s))),
                "jacobian": entry(lambda s: jit(jax.grad(gmm(*s), argnums=(0, 1, 2, 3))))},
        "lstm": {"objective": entry(lambda s: jit(lstm)),
                 "jacobian": entry(lambda s: jit(lstm_grad))},
        "ba": {"objective": entry(lambda s: jit(ba(s)[0])),
               "jacobian": entry(lambda s: jit(ba(s)[1]))},
    }


# --- PyTorch -----------------------------------------------------------------------------------
def _torch_table():
    import torch

    def lse(x):
        a = torch.max(x)
        return a + torch.log(torch.sum(torch.exp(x - a)))

    def llsq(n):
        def f(x):
            t = torch.linspace(-1.0, 1.0, n, dtype=x.dtype)
            powers = t[:, None] ** torch.arange(x.shape[0], dtype=x.dtype)
            r = torch.sign(t) - powers @ x
            return 0.5 * torch.sum(r * r)
        return f

    def cost(points, centroids):
        d2 = (torch.sum(points ** 2, 1)[:, None] + torch.sum(centroids ** 2, 1)[None, :]
              - 2 * points @ centroids.T)
        return torch.sum(torch.min(d2, dim=1).values)

    def kdir(points, centroids):
        from torch.func import grad, jvp
        g = grad(cost, argnums=1)
        j, h = jvp(lambda c: g(points, c), (centroids,), (torch.ones_like(centroids),))
        return j / h

    def ode(s):
        def f(x):
            h = 2.0 / s
            y = torch.zeros_like(x)

            def rhs(y):
                return torch.cat([x[:1], x[1:] * y[:-1]])
            for _ in range(s):
                k1 = rhs(y)
                k2 = rhs(y + h / 2 * k1)
                k3 = rhs(y + h / 2 * k2)
                k4 = rhs(y + h * k3)
                y = y + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
            return y
        return f

    def gmm(m, gamma):
        def f(alpha, mu, q, l, x):
            n, d = x.shape
            k = alpha.shape[0]
            wn = d + m + 1
            entries = torch.cat([torch.exp(q), l, torch.zeros((k, 1), dtype=x.dtype)], dim=1)
            factors = entries[:, torch.as_tensor(factor_index(d))]
            centred = x[None, :, :] - mu[:, None, :]
            maha = torch.sum((centred @ factors.transpose(1, 2)) ** 2, dim=2)
            beta = (alpha + torch.sum(q, dim=1))[:, None] - 0.5 * maha
            lik = (-n * (0.5 * d * math.log(2 * math.pi) + torch.logsumexp(alpha, 0))
                   + torch.sum(torch.logsumexp(beta, dim=0)))
            prior = (k * (wn * d * math.log(gamma / math.sqrt(2))
                          - scipy.special.multigammaln(0.5 * wn, d))
                     - 0.5 * gamma * gamma * (torch.sum(torch.exp(2 * q)) + torch.sum(l * l))
                     + m * torch.sum(q))
            return lik + prior
        return f

    def lstm(main, extra, state, sequence):
        b = state.shape[1]
        s = state
        total = 0.0
        for t in range(sequence.shape[0] - 1):
            x = sequence[t] * extra[0]
            rows = []
            for i in range(0, s.shape[0], 2):
                gates = torch.cat([x, s[i], x, s[i]]) * main[i] + main[i + 1]
                cell = (s[i + 1] * torch.sigmoid(gates[:b])
                        + torch.sigmoid(gates[b:2 * b]) * torch.tanh(gates[3 * b:]))
                hidden = torch.sigmoid(gates[2 * b:3 * b]) * torch.tanh(cell)
                rows += [hidden, cell]
                x = hidden
            s = torch.stack(rows)
            y = x * extra[1] + extra[2]
            ynorm = y - torch.log(torch.sum(torch.exp(y)) + 2)
            total = total + torch.sum(sequence[t + 1] * ynorm)
        return -total / ((sequence.shape[0] - 1) * b)

    def lstm_grad(*a):
        gm, ge = gradient(lstm, argnums=(0, 1))(*a)
        return torch.cat([gm.reshape(-1), ge.reshape(-1)])

    def ba(static):
        from torch.func import jacfwd, vmap

        def error(c, x, w, f):
            return _ba_error(torch, c, x, w, f)

        def objective(cam, x, w, feat):
            cs, xs, ws, fs = _ba_expand(torch, torch.tile, cam, x, w, feat, *static)
            return vmap(error)(cs, xs, ws, fs), 1 - ws * ws

        def jacobian(cam, x, w, feat):
            cs, xs, ws, fs = _ba_expand(torch, torch.tile, cam, x, w, feat, *static)
            jc, jx, jw = vmap(jacfwd(error, argnums=(0, 1, 2)))(cs, xs, ws, fs)
            rows = torch.cat([jc, jx, jw[:, :, None]], dim=2)
            return torch.cat([rows.reshape(-1), -2 * ws])
        return objective, jacobian

    def tensors(arrays):
        return [torch.from_numpy(np.ascontiguousarray(a)) for a in arrays]

    def value(f):
        def call(*a):
            with torch.no_grad():
                return f(*a)
        return lambda static: (tensors, call)

    def gradient(f, argnums=(0,), select=lambda y: y):
        def call(*a):
            leaves = [t.detach().requires_grad_(i in argnums) for i, t in enumerate(a)]
            gs = torch.autograd.grad(select(f(*leaves)), [leaves[i] for i in argnums])
            return gs[0] if len(argnums) == 1 else gs
        return call

    return {
        "lse": {"primal": value(lse),
                "gradient": lambda s: (tensors, gradient(lse))},
        "llsq": {"primal": lambda s: value(llsq(*s))(s),
                 "gradient": lambda s: (tensors, gradient(llsq(*s)))},
        "kmeans": {"cost": value(cost), "dir": value(kdir)},
        "ode": {"primal": lambda s: value(ode(*s))(s),
                "gradient": lambda s: (tensors, gradient(ode(*s), select=lambda y: y[-1]))},
        "gmm": {"objective": lambda s: value(gmm(*s))(s),
                "jacobian": lambda s: (tensors, gradient(gmm(*s), argnums=(0, 1, 2, 3)))},
        "lstm": {"objective": value(lstm), "jacobian": lambda s: (tensors, lstm_grad)},
        "ba": {"objective": lambda s: value(ba(s)[0])(s),
               "jacobian": lambda s: value(ba(s)[1])(s)},
    }


def table(peer: str) -> dict:
    found = {"jax": _jax_table, "torch": _torch_table}[peer]()
    from . import det, ht  # evals whose peers live next to them (sharing their code)
    for module in (det, ht):
        found.update(module.peer_table(peer))
    return found


def to_numpy(result):
    if isinstance(result, (tuple, list)):
        return [to_numpy(r) for r in result]
    if hasattr(result, "detach"):
        return result.detach().numpy()
    return np.asarray(result)
