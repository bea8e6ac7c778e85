"""How a call crosses from Python into a compiled kernel, measured (``python -m
benchmarks.call_overhead``): the generated CPython extension tracegrad uses (METH_FASTCALL with
the buffer protocol) against ctypes and cffi calling the same C loop, for W5's 16-element
arrays. Per-call medians in microseconds; lower is better."""
from __future__ import annotations

import ctypes
import os
import statistics
import subprocess
import tempfile
import time

import numpy as np

LOOP = "for (long i = 0; i < 16; i++) o[i] = x[i] * 1.01f + 0.1f * x[i] * x[i];"


def _median_us(fn, reps=30, inner=2000) -> float:
    for _ in range(200):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter() - t0) / inner)
    return statistics.median(times) * 1e6


def main() -> int:
    import tracegrad as tg
    x = np.random.default_rng(0).standard_normal(16).astype(np.float32)
    out = np.empty(16, np.float32)
    rows = {}
    f = tg.jit(lambda v: v * 1.01 + 0.1 * v * v, backend="c")
    f(x)
    ex = f.lower(x).executable
    rows["tracegrad jit call (signature check, output allocation, C)"] = _median_us(lambda: f(x))
    rows["extension module run() alone (METH_FASTCALL + buffers)"] = \
        _median_us(lambda: ex._run(x, out))
    d = tempfile.mkdtemp()
    src = os.path.join(d, "k.c")
    with open(src, "w") as fh:
        fh.write("void k(const float* restrict x, float* restrict o) { " + LOOP + " }\n")
    so = os.path.join(d, "k.so")
    subprocess.run(["cc", "-O3", "-march=native", "-shared", "-fPIC", src, "-o", so], check=True)
    lib = ctypes.CDLL(so)
    lib.k.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
    lib.k.restype = None
    rows["ctypes, pointers from arr.ctypes.data"] = \
        _median_us(lambda: lib.k(x.ctypes.data, out.ctypes.data))
    px, po = x.ctypes.data, out.ctypes.data
    rows["ctypes, pointers precomputed (no per-call lookup)"] = _median_us(lambda: lib.k(px, po))
    try:
        import cffi
        ffi = cffi.FFI()
        ffi.cdef("void k(const float* x, float* o);")
        clib = ffi.dlopen(so)
        rows["cffi ABI mode, ffi.from_buffer"] = \
            _median_us(lambda: clib.k(ffi.from_buffer("float[]", x), ffi.from_buffer("float[]", out)))
    except ImportError:
        rows["cffi"] = float("nan")
    for k, v in rows.items():
        print(f"{v:8.2f} us  {k}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
