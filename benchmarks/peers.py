"""W1-W6 (shared/BENCHMARKS.md) written for the peers: JAX ``jit(value_and_grad)`` (and
forward-over-reverse for W6's HVP) and PyTorch eager autograd. Each ``make_*`` returns a
function of the workload's NumPy arguments (converted once, outside the timed call) and the
converted arguments, or None when the framework is not installed. The math is the same as
benchmarks/workloads.py, operation for operation."""
from __future__ import annotations

import numpy as np


def _jax():
    try:
        import jax
        import jax.numpy as jnp
        return jax, jnp
    except ImportError:
        return None


def make_jax(name: str, args):
    mods = _jax()
    if mods is None:
        return None
    jax, jnp = mods
    C = np.float32(0.7978845608028654)

    def w1(x, y):
        return jnp.sum(jnp.tanh(x * y + jnp.sin(x)) * jnp.exp(-y * y))

    def mlp(params, x, labels):
        w1_, b1, w2, b2, w3, b3 = params
        h1 = jnp.maximum(x @ w1_ + b1, 0)
        h2 = jnp.maximum(h1 @ w2 + b2, 0)
        logits = h2 @ w3 + b3
        m = jnp.max(logits, axis=1, keepdims=True)
        z = logits - m
        logp = z - jnp.log(jnp.sum(jnp.exp(z), axis=1, keepdims=True))
        return -jnp.mean(jnp.take_along_axis(logp, labels[:, None], axis=1))

    def w3(a):
        m = jnp.max(a, axis=1, keepdims=True)
        return jnp.sum(jnp.log(jnp.sum(jnp.exp(a - m), axis=1)) + m[:, 0])

    def w4(x, gain, bias):
        mu = jnp.mean(x, axis=-1, keepdims=True)
        xc = x - mu
        var = jnp.mean(xc * xc, axis=-1, keepdims=True)
        y = xc / jnp.sqrt(var + 1e-5) * gain + bias
        g = 0.5 * y * (1 + jnp.tanh(C * (y + 0.044715 * y * y * y)))
        return jnp.sum(g * g)

    def w5(x):
        for _ in range(25):
            x = jnp.sin(x) * 1.01 + 0.1 * x * x
        return jnp.sum(x)

    def w6(a, x, v):
        f = lambda y: jnp.sum(jnp.log(1 + jnp.exp(a @ y)))  # noqa: E731
        return jax.jvp(jax.grad(f), (x,), (v,))[1]

    dev = jax.tree_util.tree_map(jnp.asarray, args)
    fns = {"W1": jax.value_and_grad(w1, argnums=(0, 1)), "W2": jax.value_and_grad(mlp),
           "W3": jax.value_and_grad(w3), "W4": jax.value_and_grad(w4, argnums=(0, 1, 2)),
           "W5": jax.value_and_grad(w5), "W6": w6}
    jf = jax.jit(fns[name])
    return (lambda *a: jax.block_until_ready(jf(*a))), dev


def make_torch(name: str, args):
    try:
        import torch
    except ImportError:
        return None
    C = 0.7978845608028654

    def leaf(a):
        t = torch.from_numpy(np.ascontiguousarray(a))
        return t.requires_grad_(True) if t.is_floating_point() else t

    def grad_of(loss_fn, *a):
        for t in a:
            if isinstance(t, torch.Tensor) and t.requires_grad:
                t.grad = None
        loss = loss_fn(*a)
        loss.backward()
        return loss.detach(), [t.grad for t in a if isinstance(t, torch.Tensor)
                               and t.requires_grad]

    def w1(x, y):
        return torch.sum(torch.tanh(x * y + torch.sin(x)) * torch.exp(-y * y))

    def w2(w1_, b1, w2_, b2, w3, b3, x, labels):
        h1 = torch.relu(x @ w1_ + b1)
        h2 = torch.relu(h1 @ w2_ + b2)
        logp = torch.log_softmax(h2 @ w3 + b3, dim=1)
        return -torch.mean(torch.gather(logp, 1, labels[:, None]))

    def w3(a):
        m = torch.amax(a, dim=1, keepdim=True)
        return torch.sum(torch.log(torch.sum(torch.exp(a - m), dim=1)) + m[:, 0])

    def w4(x, gain, bias):
        mu = torch.mean(x, dim=-1, keepdim=True)
        xc = x - mu
        var = torch.mean(xc * xc, dim=-1, keepdim=True)
        y = xc / torch.sqrt(var + 1e-5) * gain + bias
        g = 0.5 * y * (1 + torch.tanh(C * (y + 0.044715 * y * y * y)))
        return torch.sum(g * g)

    def w5(x):
        for _ in range(25):
            x = torch.sin(x) * 1.01 + 0.1 * x * x
        return torch.sum(x)

    if name == "W2":
        params, x, labels = args
        ts = [leaf(p) for p in params] + [torch.from_numpy(x), torch.from_numpy(labels)]
        return (lambda *a: grad_of(w2, *a)), ts
    if name == "W6":
        from torch.func import grad, jvp
        a, x, v = (torch.from_numpy(t) for t in args)
        f = lambda y: torch.sum(torch.log(1 + torch.exp(a @ y)))  # noqa: E731
        return (lambda a_, x_, v_: jvp(grad(f), (x_,), (v_,))[1]), (a, x, v)
    fn = {"W1": w1, "W3": w3, "W4": w4, "W5": w5}[name]
    return (lambda *a: grad_of(fn, *a)), [leaf(t) for t in args]
