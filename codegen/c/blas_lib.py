"""Which BLAS the C backend's contractions call: NumPy's own OpenBLAS when it can be found
(ILP64, ``scipy_cblas_sgemm64_``), else the ``scipy-openblas32`` wheel (LP64).

Why NumPy's: a process that also runs NumPy then has ONE BLAS thread pool. With a second
OpenBLAS loaded beside NumPy's, the two pools' spinning workers fought over the 2 cores of our
machines: W2's 256x784 @ 784x256 product took 24-70 ms instead of 0.75 ms after NumPy had just
run a product. Generated modules receive the functions as addresses (``set_blas``), so they
link no BLAS at all and the choice is made once per process.

Except where NumPy's instance runs a lesser kernel set than the CPU supports (0.3.31 takes an
AVX-512 AMD EPYC for a Haswell: half the sgemm speed): then a copy of the same library, loaded
as a second instance with the CPU's best kernels, once measured faster (``blas_instance.py``).
Opt out with ``TRACEGRAD_BLAS_INSTANCE=numpy``; ``instance_note()`` says which and why.
"""
from __future__ import annotations

import ctypes
import glob
import os
from functools import lru_cache

from tracegrad.errors import CompileError

from . import blas_instance


@lru_cache(maxsize=1)
def blas_functions() -> tuple[int, int, int, str]:
    """``(sgemm address, dgemm address, ilp64 flag, library path)``."""
    import numpy
    pattern = os.path.join(os.path.dirname(os.path.dirname(numpy.__file__)), "numpy.libs",
                           "libscipy_openblas64_*.so*")
    for path in sorted(glob.glob(pattern)):
        try:
            if not hasattr(ctypes.CDLL(path), "scipy_cblas_sgemm64_"):  # NumPy's: loaded
                continue
        except OSError:
            continue
        choice = blas_instance.choose(path)  # NumPy's instance, or a faster copy (loaded)
        _NOTE[0] = choice.note
        lib = ctypes.CDLL(choice.path)
        return _addr(lib.scipy_cblas_sgemm64_), _addr(lib.scipy_cblas_dgemm64_), 1, choice.path
    try:
        import scipy_openblas32 as sob
        path = os.path.join(sob.get_lib_dir(), f"lib{sob.get_library()}.so")
        lib = ctypes.CDLL(path)
        return _addr(lib.scipy_cblas_sgemm), _addr(lib.scipy_cblas_dgemm), 0, path
    except (ImportError, OSError, AttributeError) as exc:
        raise CompileError(f"no BLAS found for the C backend's matrix products ({exc}); "
                           "install scipy-openblas32 (pip install scipy-openblas32)") from exc


@lru_cache(maxsize=1)
def gemv_functions() -> tuple[int, int]:
    """``(sgemv address, dgemv address)`` from the library ``blas_functions`` chose (same ILP64
    flag): matrix-vector products, which OpenBLAS's gemm with one column runs 3-4x slower
    (it packs the whole matrix; a 1000x1000 float32 gemv takes 0.04 ms, the gemm 0.16 ms)."""
    _, _, ilp64, path = blas_functions()
    lib = ctypes.CDLL(path)
    if ilp64:
        return _addr(lib.scipy_cblas_sgemv64_), _addr(lib.scipy_cblas_dgemv64_)
    return _addr(lib.scipy_cblas_sgemv), _addr(lib.scipy_cblas_dgemv)


def _addr(fn) -> int:
    return ctypes.cast(fn, ctypes.c_void_p).value


def instance_note() -> str:
    """Which OpenBLAS the C backend's products, solves and BLAS thread settings use, and why
    (decides it if no C program has yet)."""
    path = blas_functions()[3]
    return _NOTE[0] or f"scipy-openblas32's OpenBLAS ({path}): NumPy's was not found"


_NOTE = [""]
