"""``tg.func``: PyTorch's function transforms (``torch.func.grad``, ``jacrev``, ``jacfwd``,
``hessian``) on functions of tensors. Invariant: each transform runs the function once on fresh
differentiable copies of the chosen arguments and differentiates the lazy DAG it records with
``tg.autograd.grad`` (the reverse-mode pass ``tg.grad`` uses), so functions may use any
``Tensor`` method, and transforms nest: an argument that already carries a gradient graph
(an outer transform's input) is differentiated through, not cut off.

``jacfwd`` returns the same Jacobian as ``jacrev`` (PyTorch computes it in forward mode; here it
is built from reverse-mode rows). ``vmap`` is tracegrad/tensor/vmap.py. ``tg.grad``/``tg.jacobian``/``tg.hessian`` keep their JAX-style meaning on NumPy
arrays (API.md); these are the torch spellings.
"""
from __future__ import annotations

import numpy as np

from ..errors import ArgumentError, GradientError
from .autograd import grad as _autograd_grad
from .core import Tensor, _to_array
from .grad_mode import is_grad_enabled
from .vmap import vmap  # noqa: F401  (torch.func.vmap)


def _argnums(argnums, n):
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    for a in nums:
        if not -n <= a < n:
            raise ArgumentError(f"argnums={argnums!r} is out of range for {n} arguments")
    return nums


def _fresh(x):
    """A differentiable stand-in for ``x``: an identity of it when it is already part of a
    graph (nested transforms), else a new leaf that requires grad."""
    if isinstance(x, Tensor) and x.requires_grad:
        return x.clone(), True
    t = x if isinstance(x, Tensor) else Tensor._leaf(_to_array(x))
    leaf = Tensor._leaf(t.detach().numpy())
    return leaf.requires_grad_(True), False


def _run(fn, args, argnums, has_aux):
    nums = _argnums(argnums, len(args))
    args = list(args)
    nested = False
    ins = []
    for a in nums:
        args[a], outer = _fresh(args[a])
        nested = nested or outer
        ins.append(args[a])
    out = fn(*args)
    aux = None
    if has_aux:
        if not (isinstance(out, tuple) and len(out) == 2):
            raise ArgumentError("with has_aux=True the function must return (output, aux)")
        out, aux = out
    if not isinstance(out, Tensor):
        raise ArgumentError(f"the transformed function must return a tensor, got "
                            f"{type(out).__name__}")
    return out, aux, ins, nested and is_grad_enabled()


def _grads(out, ins, create_graph, grad_outputs=None):
    if not out.requires_grad:  # the output does not depend on the inputs: zero gradients
        return [Tensor._leaf(np.zeros(t.shape, t.dtype)) for t in ins]
    gs = _autograd_grad(out, ins, grad_outputs=grad_outputs, retain_graph=True,
                        create_graph=create_graph, allow_unused=True)
    return [g if g is not None else Tensor._leaf(np.zeros(t.shape, t.dtype))
            for g, t in zip(gs, ins)]


def _pack(values, argnums):
    return values[0] if isinstance(argnums, int) else tuple(values)


def grad_and_value(fn, argnums=0, has_aux=False):
    """``grad_and_value(f)(*args)`` -> (gradient, f(*args)) for a one-element output."""
    def wrapper(*args):
        out, aux, ins, cg = _run(fn, args, argnums, has_aux)
        if out.numel() != 1:
            raise GradientError(f"tg.func.grad needs a function with a one-element output; "
                                f"this one returns shape {out.shape} (use tg.func.jacrev)")
        g = _pack(_grads(out, ins, cg), argnums)
        value = out if cg else out.detach()
        return (g, (value, aux)) if has_aux else (g, value)
    return wrapper


def grad(fn, argnums=0, has_aux=False):
    """``tg.func.grad(f)(x)``: the gradient of a one-element ``f`` (``torch.func.grad``)."""
    gv = grad_and_value(fn, argnums, has_aux)

    def wrapper(*args):
        g, value = gv(*args)
        return (g, value[1]) if has_aux else g
    return wrapper


def jacrev(fn, argnums=0, has_aux=False):
    """``tg.func.jacrev(f)(x)``: the Jacobian, shape ``f(x).shape + x.shape``, row by row."""
    def wrapper(*args):
        out, aux, ins, cg = _run(fn, args, argnums, has_aux)
        m = out.numel()
        rows = []
        for i in range(m):
            seed = np.zeros(m, out.dtype)
            seed[i] = 1
            rows.append(_grads(out, ins, cg, Tensor._leaf(seed.reshape(out.shape))))
        from .functions import stack
        jacs = [stack([r[k] for r in rows]).reshape(out.shape + t.shape) if m else
                Tensor._leaf(np.zeros(out.shape + t.shape, t.dtype))
                for k, t in enumerate(ins)]
        if not cg:
            jacs = [j.detach() for j in jacs]
        j = _pack(jacs, argnums)
        return (j, aux) if has_aux else j
    return wrapper


def jacfwd(fn, argnums=0, has_aux=False):
    """``tg.func.jacfwd``: the same Jacobian as ``jacrev`` (built in reverse mode here)."""
    return jacrev(fn, argnums, has_aux)


def hessian(fn, argnums=0):
    """``tg.func.hessian(f)(x)``: ``jacfwd(jacrev(f))``, shape ``x.shape + x.shape``."""
    return jacfwd(jacrev(fn, argnums), argnums)
