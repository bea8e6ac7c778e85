"""``np.linalg.eig`` and ``eigvals`` on traced arrays (tracegrad/prims/linalg_eig.py): real
square matrices over leading batch axes; results always complex (NumPy's are real when every
eigenvalue is: a value-dependent dtype cannot be traced). Derivatives assume distinct
eigenvalues (Giles 2008); eigenvector losses must not depend on the arbitrary phase."""
from __future__ import annotations

from collections import namedtuple

from .. import dtypes as _dt
from ..errors import DTypeError
from ..prims.linalg_eig import eig_p
from .linalg import _linalg_public, _square
from .promotion import _dtype

EigResult = namedtuple("EigResult", ["eigenvalues", "eigenvectors"])


def _real_square(a, name):
    a = _square(a, name)
    if _dt.is_complex(_dtype(a)):
        raise DTypeError(f"np.linalg.{name} of a complex traced matrix is not supported (real "
                         "matrices only)")
    return a


@_linalg_public
def eig(a):
    w, v = eig_p.bind(_real_square(a, "eig"))
    return EigResult(w, v)


@_linalg_public
def eigvals(a):
    return eig_p.bind(_real_square(a, "eigvals"))[0]
