"""``tg.nn.utils``: gradient clipping as ``torch.nn.utils`` (in place on ``p.grad``).

The norms and the scaling are one recorded operation over all gradients, and the gradients are
rewritten with ``copy_``, so clipping also works inside ``tg.compile`` (no value is read back
unless ``error_if_nonfinite=True`` asks for it).
"""
from __future__ import annotations

import math

from .. import numpy as tnp
from ..errors import TracegradError
from ..tensor import Tensor, apply_op, no_grad


def _with_grads(parameters):
    ps = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    return [p for p in ps if p.grad is not None]


def _write(params, new) -> None:
    """In place when the gradient is a leaf (eager: ``p.grad`` keeps its identity, as in
    PyTorch); a gradient still computed lazily (inside ``tg.compile``) is replaced."""
    for p, v in zip(params, new):
        g = p.grad
        if g._node is None:
            g.copy_(v)
        else:
            p.grad = v


def _clip_norm(grads, max_norm, norm_type):
    """PyTorch's rule: total = norm of the per-gradient norms; every gradient is multiplied by
    min(max_norm / (total + 1e-6), 1)."""
    if norm_type == math.inf:
        norms = [tnp.max(tnp.abs(g)) for g in grads]
        total = tnp.max(tnp.stack(norms))
    else:
        norms = [tnp.sum(tnp.abs(g) ** norm_type) for g in grads]
        total = tnp.sum(tnp.stack(norms)) ** (1.0 / norm_type)
    coef = tnp.minimum(max_norm / (total + 1e-6), 1.0)
    return total, tuple(g * tnp.astype(coef, g.dtype) for g in grads)


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False,
                    foreach=None):
    """Scale the gradients so their total ``norm_type`` norm is at most ``max_norm``; returns
    the total norm before clipping (a 0-d tensor)."""
    params = _with_grads(parameters)
    grads = [p.grad for p in params]
    norm_type = float(norm_type)
    if not grads:
        return Tensor(0.0)
    if norm_type <= 0:
        raise TracegradError(f"clip_grad_norm_: norm_type must be > 0, got {norm_type}")
    with no_grad():
        total, new = apply_op(_clip_norm, (tuple(grads), float(max_norm), norm_type),
                              name="clip_grad_norm")
        if error_if_nonfinite and not math.isfinite(float(total.item())):
            raise TracegradError(f"clip_grad_norm_: the total norm of order {norm_type} of the "
                                 "gradients is non-finite, so it cannot be clipped; pass "
                                 "error_if_nonfinite=False to clip anyway")
        _write(params, new)
    return total


def _clip_value(grads, clip_value):
    return tuple(tnp.clip(g, -clip_value, clip_value) for g in grads)


def clip_grad_value_(parameters, clip_value, foreach=None) -> None:
    """Clamp every gradient element to [-clip_value, clip_value] in place."""
    params = _with_grads(parameters)
    if not params:
        return
    with no_grad():
        new = apply_op(_clip_value, (tuple(p.grad for p in params), float(clip_value)),
                       name="clip_grad_value")
        _write(params, new)
