"""The forward rule every linear primitive shares: itself applied to the tangents.

Kept apart from ``ops`` so declaring modules can build their rules while ``ops`` is still being
imported (it binds their primitives); ``ops`` is read only when a rule runs.
"""
from __future__ import annotations

from . import ops


def linear_jvp(prim):
    """The jvp of a primitive linear in its ``linear_args``: itself applied to the tangents
    (non-linear operands, such as indices, pass through)."""
    def jvp(primals, tangents, outs, **params):
        if all(t is None for t in tangents):
            return [None]
        linear = set(range(len(primals))) if prim.linear_args == (-1,) else set(prim.linear_args)
        args = [ops.instantiate(t, p) if i in linear else p
                for i, (p, t) in enumerate(zip(primals, tangents))]
        return [prim.bind(*args, **params)]
    return jvp
