"""Child-process measurement for ``blas_instance``: is a copy of NumPy's OpenBLAS loaded with
another kernel set (``OPENBLAS_CORETYPE``) faster than NumPy's own, and does it compute the same
products? Run by path (``python blas_probe.py NUMPY_LIB COPY CORE``), it imports nothing of
tracegrad, prints one JSON line and exits; a kernel set the CPU cannot run kills only this child.

Timing: both instances on one thread (``OPENBLAS_NUM_THREADS=1`` from the parent), the calling
thread's CPU time (``time.thread_time``: other processes' load does not enter it), the two
instances interleaved call by call, the best of ``REPEATS`` per shape.
"""
from __future__ import annotations

import ctypes
import json
import os
import sys
import time

# the C backend's typical products: W2's 256x784 @ 784x256 (float32) and a float64 one
SHAPES = (("s", 256, 784, 256), ("d", 192, 384, 192))
REPEATS = 9


def _gemm(lib, p: str):
    fn = getattr(lib, f"scipy_cblas_{p}gemm64_")
    scalar = ctypes.c_float if p == "s" else ctypes.c_double
    i64, ptr = ctypes.c_int64, ctypes.c_void_p

    def run(a, b, c):
        (m, k), n = a.shape, b.shape[1]
        # CblasRowMajor (101), CblasNoTrans (111)
        fn(101, 111, 111, i64(m), i64(n), i64(k), scalar(1.0), ptr(a.ctypes.data), i64(k),
           ptr(b.ctypes.data), i64(n), scalar(0.0), ptr(c.ctypes.data), i64(n))
    return run


def main(numpy_lib: str, copy: str, core: str) -> dict:
    import numpy as np  # loads NumPy's OpenBLAS and its libgfortran, which the copy shares
    ours = ctypes.CDLL(numpy_lib)
    os.environ["OPENBLAS_CORETYPE"] = core
    theirs = ctypes.CDLL(copy, mode=getattr(os, "RTLD_LOCAL", 0))
    del os.environ["OPENBLAS_CORETYPE"]
    name = theirs.scipy_openblas_get_corename64_
    name.restype = ctypes.c_char_p
    out = {"core": name().decode(), "numpy_s": 0.0, "copy_s": 0.0, "max_rel_err": 0.0}
    rng = np.random.default_rng(0)
    for p, m, k, n in SHAPES:
        dt = np.float32 if p == "s" else np.float64
        a, b = rng.standard_normal((m, k)).astype(dt), rng.standard_normal((k, n)).astype(dt)
        ref, got = np.empty((m, n), dt), np.empty((m, n), dt)
        runs = (_gemm(ours, p), ref), (_gemm(theirs, p), got)
        best = [float("inf"), float("inf")]
        for _ in range(REPEATS):
            for i, (run, c) in enumerate(runs):
                t0 = time.thread_time()
                run(a, b, c)
                best[i] = min(best[i], time.thread_time() - t0)
        out["numpy_s"] += best[0]
        out["copy_s"] += best[1]
        err = float(np.max(np.abs(got - ref)) / max(float(np.max(np.abs(ref))), 1e-30))
        out["max_rel_err"] = max(out["max_rel_err"], err)
    return out


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:4])))
