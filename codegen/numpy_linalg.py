"""NumPy lowerings of the linear-algebra primitives (tracegrad/prims/linalg.py): each is one
call of its NumPy evaluation, ``rt.linalg.<fn>`` (tracegrad/prims/linalg_np.py), which the
reference interpreter runs too."""
from __future__ import annotations

from tracegrad.prims.linalg import (cholesky_p, eigh_p, slogdet_p, solve_p,
                                    triangular_solve_p)
from tracegrad.prims.linalg_eig import eig_p
from tracegrad.prims.linalg_lu import lu_p
from tracegrad.prims.linalg_svd import qr_p, svd_p

from .numpy_lowerings import register_lowering

register_lowering(cholesky_p, lambda ins, oa: f"rt.linalg.cholesky({ins[0]})")
register_lowering(
    triangular_solve_p, lambda ins, oa, lower, transpose_a:
        f"rt.linalg.triangular_solve({ins[0]}, {ins[1]}, {bool(lower)!r}, {bool(transpose_a)!r})")
register_lowering(solve_p, lambda ins, oa, transpose_a:
                  f"rt.linalg.solve({ins[0]}, {ins[1]}, {bool(transpose_a)!r})")
# multiple results: the emitter unpacks the returned list
register_lowering(slogdet_p, lambda ins, oa: f"rt.linalg.slogdet({ins[0]})")
register_lowering(eigh_p, lambda ins, oa: f"rt.linalg.eigh({ins[0]})")
register_lowering(svd_p, lambda ins, oa, full_matrices:
                  f"rt.linalg.svd({ins[0]}, {bool(full_matrices)!r})")
register_lowering(qr_p, lambda ins, oa: f"rt.linalg.qr({ins[0]})")
register_lowering(lu_p, lambda ins, oa: f"rt.linalg.lu({ins[0]})")
register_lowering(eig_p, lambda ins, oa: f"rt.linalg.eig({ins[0]})")
