"""C lowerings of ``real``, ``imag`` and ``conj`` on real operands (identity, zero, identity).
Complex operands take complex_c's forms (creal, cimag, conj): ``lowerings.scalar_expr``
dispatches on the operand dtype before these are called."""
from __future__ import annotations

from tracegrad.prims.complex_parts import conj_p, imag_p, real_p

from .lowerings import ctype, register_lowering


def _real_only(fn):
    def scalar(a, dt, el):
        if str(dt).startswith("complex"):  # scalar_expr sends complex operands to complex_c
            raise AssertionError(f"internal: a {dt} operand reached the C emitter")
        return fn(a, dt)
    return scalar


register_lowering(real_p, _real_only(lambda a, dt: a[0]))
register_lowering(imag_p, _real_only(lambda a, dt: f"(({ctype(dt)})0)"))
register_lowering(conj_p, _real_only(lambda a, dt: a[0]))
