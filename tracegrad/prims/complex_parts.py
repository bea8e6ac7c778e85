"""``real``, ``imag`` and ``conj``: the elementwise primitives that take a complex value apart.

All three are R-linear. Cotangents follow JAX/autograd: the cotangent of a complex value ``z``
for a real loss L is ``dL/dx - i dL/dy`` (paired with a tangent t by ``Re(ct * t)``), so the
transposes are ``real -> ct + 0j``, ``imag -> -i ct`` and ``conj -> conj(ct)`` (docs/gradients.md).
"""
from __future__ import annotations

import numpy as np

from .. import dtypes
from ..primitive import Primitive, Traits
from .common import aval, check_class
from .complex_np import imag, real


def _part_rule(name):
    def rule(x):
        check_class(name, x.dtype, "inexact")
        return [aval(x.shape, dtypes.real_dtype(x.dtype))]
    return rule


def _conj_rule(x):
    check_class("conj", x.dtype, "cnumeric")
    return [x]


real_p = Primitive("real", kind="elementwise", abstract_eval=_part_rule("real"), impl=real,
                   linear_args=(0,), doc="real part (float32 from complex64)",
                   traits=Traits(range="hull"))
imag_p = Primitive("imag", kind="elementwise", abstract_eval=_part_rule("imag"), impl=imag,
                   linear_args=(0,), doc="imaginary part (float32 from complex64)",
                   traits=Traits())
conj_p = Primitive("conj", kind="elementwise", abstract_eval=_conj_rule, impl=np.conjugate,
                   linear_args=(0,), doc="complex conjugate (identity on reals)",
                   traits=Traits(out_capable=True))


# --- derivative rules: linear, so the tangent goes through the primitive and the vjp is the
# transpose under the pairing Re(ct * t) -------------------------------------------------------
from ..primitive import defbatch, defjvp, deftranspose, defvjp  # noqa: E402
from . import ops  # noqa: E402
from .batching import batch_elementwise  # noqa: E402
from .linear import linear_jvp  # noqa: E402


def _as_complex(ct, like):
    """The real cotangent ``ct`` as a value of ``like``'s (complex) dtype."""
    return ops.convert(ct, ops.dtype_of(like))


def _real_vjp(cts, primals, outs):
    (ct,) = cts
    x = primals[0]
    if not dtypes.is_complex(ops.dtype_of(x)):
        return [ct]  # real of a real value is the identity
    return [_as_complex(ct, x)]  # Re(ct * t) = ct * Re(t) for real ct


def _imag_vjp(cts, primals, outs):
    (ct,) = cts
    x = primals[0]
    if not dtypes.is_complex(ops.dtype_of(x)):
        return [ops.zeros_like(ct)]  # imag of a real value is the constant 0
    return [ops.mul(_as_complex(ct, x), -1j)]  # ct * Im(t) = Re(-i ct * t)


def _conj_vjp(cts, primals, outs):
    (ct,) = cts
    return [conj_p.bind(ct)]  # Re(ct * conj(t)) = Re(conj(ct) * t)


for _p, _rule in ((real_p, _real_vjp), (imag_p, _imag_vjp), (conj_p, _conj_vjp)):
    defjvp(_p, linear_jvp(_p))
    defvjp(_p, _rule)
    deftranspose(_p, _rule)
    defbatch(_p, batch_elementwise(_p))
