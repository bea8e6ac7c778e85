"""Elementwise domain errors on the NumPy side: an integer ``pow`` with a negative exponent.

NumPy raises a bare ``ValueError`` ("Integers to negative integer powers are not allowed.") for
any negative integer exponent element, whatever the base; here that becomes ``DomainError`` (a
``ValueError`` too) naming the user's line and the fix, the type and message the C backend
raises for the same site (codegen/c/bounds.py), so both backends report alike.
"""
from __future__ import annotations

import numpy as np

from ..errors import DomainError
from .np_source import generated_line_src

# primitive -> (NumPy's message, the fix): every elementwise primitive whose C lowering checks
# its operands' domain (codegen/c/lowerings.DOMAIN_CHECKS) has a row
_MESSAGES = {
    "pow": ("Integers to negative integer powers are not allowed.",
            "make the base a float (x.astype(np.float64) ** e), or keep the exponent >= 0"),
}


def domain_error(name: str, src: str | None = None) -> DomainError:
    """The error for an operand of primitive ``name`` outside its domain."""
    message, fix = _MESSAGES[name]
    return DomainError(f"{message} (an integer {name}); {fix}", src=src)


def int_power(x, y, out=None):
    """``np.power`` of integer operands; a negative exponent element raises ``DomainError``
    (NumPy's own check, so the common path costs nothing more than ``np.power``)."""
    try:
        return np.power(x, y, out=out)
    except ValueError as exc:
        if np.all(np.asarray(y) >= 0):  # not the negative-power check: not ours to rename
            raise
        raise domain_error("pow", src=generated_line_src(__file__)) from exc
