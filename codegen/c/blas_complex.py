"""Complex ``dot_general`` in C: OpenBLAS's cgemm/zgemm from the library ``blas_lib`` chose
(NumPy's own scipy_openblas64, so one thread pool; NumPy's complex matmul calls the same
routines). ``blas.emit_dot`` lays the operands out as for sgemm/dgemm and calls ``gemm_call``
here; the module receives the two addresses through ``set_zblas`` (nothing is linked).

cblas' complex gemm takes alpha and beta by address; C99 ``_Complex`` buffers are the
interleaved (re, im) pairs it expects."""
from __future__ import annotations

import ctypes
from functools import lru_cache


@lru_cache(maxsize=1)
def zblas_functions() -> tuple[int, int]:
    """``(cgemm address, zgemm address)``, same library and integer width as sgemm/dgemm."""
    from .blas_lib import _addr, blas_functions
    _, _, ilp64, path = blas_functions()
    lib = ctypes.CDLL(path)
    if ilp64:
        return _addr(lib.scipy_cblas_cgemm64_), _addr(lib.scipy_cblas_zgemm64_)
    return _addr(lib.scipy_cblas_cgemm), _addr(lib.scipy_cblas_zgemm)


def gemm_call(em, t: str, nb: int, M: int, N: int, K: int, trans_a: str, trans_b: str,
              pa: str, pb: str, out: str, lda: int, ldb: int) -> str:
    """The C statement of ``nb`` complex products out[bi] = op(A[bi]) op(B[bi]) (row-major)."""
    em.uses_blas = True    # the BLAS thread settings apply (executable.py)
    em.uses_zblas = True
    fn = "tg_cgemm" if t == "float _Complex" else "tg_zgemm"
    return (f"    {{ const {t} tg_one = 1, tg_zero = 0;\n"
            f"      for (int64_t bi = 0; bi < {nb}; bi++)\n"
            f"        {fn}(TgRowMajor, {trans_a}, {trans_b}, {M}, {N}, {K}, &tg_one,\n"
            f"            ({t}*){pa} + bi*{M * K}, {lda}, ({t}*){pb} + bi*{K * N}, {ldb},"
            f" &tg_zero, {out} + bi*{M * N}, {N}); }}")


def decls(em) -> str:
    """cgemm/zgemm wrappers and ``set_zblas`` for a module with complex products ('' if none)."""
    if not getattr(em, "uses_zblas", False):
        return ""
    return _DECLS


def method(em) -> str:
    if not getattr(em, "uses_zblas", False):
        return ""
    return ('{"set_zblas", (PyCFunction)(void(*)(void))tg_set_zblas, METH_FASTCALL, '
            '"cgemm and zgemm addresses"},')


def prepare_module(module) -> None:
    """Give a loaded module with complex products its cgemm/zgemm addresses."""
    module.set_zblas(*zblas_functions())


_DECLS = """
/* complex gemm through addresses given by set_zblas (codegen/c/blas_complex.py); the integer
   width follows tg_blas_ilp64, set by set_blas */
typedef void (*tg_xgemm64_t)(int32_t, int32_t, int32_t, int64_t, int64_t, int64_t, const void*,
                             const void*, int64_t, const void*, int64_t, const void*, void*,
                             int64_t);
typedef void (*tg_xgemm32_t)(int32_t, int32_t, int32_t, int32_t, int32_t, int32_t, const void*,
                             const void*, int32_t, const void*, int32_t, const void*, void*,
                             int32_t);
static void* tg_blas_c = NULL;
static void* tg_blas_z = NULL;
static void tg_xgemm(void* f, int32_t o, int32_t ta, int32_t tb, int64_t m, int64_t n, int64_t k,
                     const void* al, const void* a, int64_t lda, const void* b, int64_t ldb,
                     const void* be, void* c, int64_t ldc) {
    if (tg_blas_ilp64) ((tg_xgemm64_t)f)(o, ta, tb, m, n, k, al, a, lda, b, ldb, be, c, ldc);
    else ((tg_xgemm32_t)f)(o, ta, tb, (int32_t)m, (int32_t)n, (int32_t)k, al, a, (int32_t)lda,
                           b, (int32_t)ldb, be, c, (int32_t)ldc);
}
#define tg_cgemm(...) tg_xgemm(tg_blas_c, __VA_ARGS__)
#define tg_zgemm(...) tg_xgemm(tg_blas_z, __VA_ARGS__)
static PyObject* tg_set_zblas(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    if (nargs != 2) { PyErr_SetString(PyExc_TypeError, "set_zblas(cgemm, zgemm)"); return NULL; }
    tg_blas_c = PyLong_AsVoidPtr(args[0]);
    tg_blas_z = PyLong_AsVoidPtr(args[1]);
    if (PyErr_Occurred()) return NULL;
    Py_RETURN_NONE;
}
"""
