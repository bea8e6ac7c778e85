"""Which operands of the equation being pulled back have a cotangent that can reach a
differentiated input (reverse mode's "active" operands).

The backward sweep (passes/autodiff.py) knows this from the graph; a vjp rule alone does not
(a concrete constant and a differentiated input are both variables to it). Rules that cannot
differentiate in some operand (the shape parameters of the incomplete gamma/beta functions)
ask here, so they refuse only when that derivative would be used, as forward mode's ``None``
tangents tell jvp rules. Outside a sweep every variable operand counts as active.
"""
from __future__ import annotations

from ..thread_local import ThreadLocalList

_FLAGS = ThreadLocalList()


class active_scope:
    """Within the scope, ``is_active(i)`` is ``flags[i]``."""

    def __init__(self, flags):
        self.flags = flags

    def __enter__(self):
        _FLAGS.append(self.flags)

    def __exit__(self, *exc):
        _FLAGS.pop()


def is_active(i: int) -> bool:
    return bool(_FLAGS[-1][i]) if _FLAGS else True
