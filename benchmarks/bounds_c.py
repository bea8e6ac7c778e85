"""The C side of ``benchmarks.bounds``: streaming loops (read, write, copy, n-in/m-out sums,
with ordinary or non-temporal stores, into warm buffers or freshly mapped pages) and
transcendental loops over an L1-resident block, each timed in C on the calling thread's CPU
clock (CLOCK_THREAD_CPUTIME_ID: other processes' load does not enter it), built with the C
backend's own compiler and flags (libmvec's vector math, -march=native)."""
from __future__ import annotations

import ctypes
import os
import subprocess
import tempfile

SOURCE = r"""
#define _GNU_SOURCE
#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

float m_expf(float) __asm__("expf") __attribute__((const, simd("notinbranch")));
float m_logf(float) __asm__("logf") __attribute__((const, simd("notinbranch")));
float m_tanhf(float) __asm__("tanhf") __attribute__((const, simd("notinbranch")));
float m_sinf(float) __asm__("sinf") __attribute__((const, simd("notinbranch")));
float m_cosf(float) __asm__("cosf") __attribute__((const, simd("notinbranch")));

static double cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* o[j] = sum of the nin inputs, for each of nout outputs (nout 0: a read-only pass whose
   sum is returned); nt: non-temporal stores (the line is not read for ownership first) */
static float stream(float* const* in, int nin, float* const* out, int nout, int64_t n, int nt) {
    float acc = 0;
    if (nout == 0) {
        for (int k = 0; k < nin; k++) {
            const float* restrict a = in[k];
            #pragma omp simd reduction(+:acc)
            for (int64_t i = 0; i < n; i++) acc += a[i];
        }
        return acc;
    }
#ifdef __AVX512F__
    if (nt) {
        int64_t i = 0;  /* the buffers are 64-byte aligned (bounds._aligned, mmap) */
        for (; i + 16 <= n; i += 16) {
            __m512 s = _mm512_set1_ps(1.0f);
            for (int k = 0; k < nin; k++) s = _mm512_add_ps(s, _mm512_load_ps(in[k] + i));
            for (int j = 0; j < nout; j++) _mm512_stream_ps(out[j] + i, s);
        }
        for (; i < n; i++) {
            float s = 1.0f;
            for (int k = 0; k < nin; k++) s += in[k][i];
            for (int j = 0; j < nout; j++) out[j][i] = s;
        }
        _mm_sfence();
        return acc;
    }
#endif
    /* fixed arities, so that the loops vectorise as the kernels' do */
    if (nin == 1 && nout == 1) {
        const float* restrict a = in[0]; float* restrict o = out[0];
        #pragma omp simd
        for (int64_t i = 0; i < n; i++) o[i] = a[i] + 1.0f;
    } else if (nin == 2 && nout == 2) {
        const float* restrict a = in[0]; const float* restrict b = in[1];
        float* restrict o = out[0]; float* restrict p = out[1];
        #pragma omp simd
        for (int64_t i = 0; i < n; i++) { o[i] = a[i] + b[i]; p[i] = a[i] - b[i]; }
    } else {
        for (int j = 0; j < nout; j++) {
            float* restrict o = out[j];
            #pragma omp simd
            for (int64_t i = 0; i < n; i++) o[i] = 1.0f;
        }
    }
    return acc;
}

/* the least thread-CPU seconds of reps passes; fresh: each pass writes outputs mapped just
   before it (every page faulted in and zeroed by the kernel first), as a new array is */
double bench_stream(float* const* in, int nin, float** out, int nout, int64_t n, int nt,
                    int fresh, int reps) {
    double best = 1e30;
    volatile float sink = 0;
    for (int r = 0; r < reps; r++) {
        float* mapped[8];
        double t0 = cpu_now();
        if (fresh)
            for (int j = 0; j < nout; j++) {
                mapped[j] = mmap(NULL, n * 4, PROT_READ | PROT_WRITE,
                                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                out[j] = mapped[j];
            }
        sink += stream(in, nin, out, nout, n, nt);
        double t = cpu_now() - t0;
        if (fresh)
            for (int j = 0; j < nout; j++) munmap(mapped[j], n * 4);
        if (t < best) best = t;
    }
    (void)sink;
    return best;
}

/* per-element thread-CPU seconds of one function over a 4096-float block (L1), vectorised
   through libmvec as the C backend's kernels are */
double bench_math(int which, int reps) {
    static float x[4096] __attribute__((aligned(64))), y[4096] __attribute__((aligned(64)));
    for (int i = 0; i < 4096; i++) x[i] = 0.001f * (i - 2048) + (which == 1 ? 3.0f : 0.0f);
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = cpu_now();
        for (int k = 0; k < 64; k++) {
            switch (which) {
            case 0: _Pragma("omp simd") for (int i = 0; i < 4096; i++) y[i] = m_expf(x[i]); break;
            case 1: _Pragma("omp simd") for (int i = 0; i < 4096; i++) y[i] = m_logf(x[i]); break;
            case 2: _Pragma("omp simd") for (int i = 0; i < 4096; i++) y[i] = m_tanhf(x[i]); break;
            case 3: _Pragma("omp simd") for (int i = 0; i < 4096; i++) y[i] = m_sinf(x[i]); break;
            case 4: _Pragma("omp simd") for (int i = 0; i < 4096; i++) y[i] = m_cosf(x[i]); break;
            case 5: _Pragma("omp simd") for (int i = 0; i < 4096; i++) y[i] = x[i] / y[i]; break;
            case 6:
                _Pragma("omp simd") for (int i = 0; i < 4096; i++) y[i] = x[i] * y[i] + 1.0f;
                break;
            default: /* 16 arithmetic operations per element, one load and one store:
                        the cost of a kernel's plain arithmetic, per operation (/16) */
                _Pragma("omp simd") for (int i = 0; i < 4096; i++) {
                    float a = x[i], b = a * 0.5f + 1.0f, c = a * b - 0.25f, d = b * c + a;
                    float e = c * d - b, f = d * e + c, g = e * f - d, h = f * g + e;
                    y[i] = (g * h + f) * 0.125f + (h - a) * (b + 0.5f);
                }
                break;
            }
            __asm__ volatile("" ::: "memory");
        }
        double t = (cpu_now() - t0) / (64.0 * 4096);
        if (t < best) best = t;
    }
    return best;
}
"""
MATH = ("exp", "log", "tanh", "sin", "cos", "div", "fma", "arith16")


def load() -> ctypes.CDLL:
    """Build the loops with the C backend's compiler and flags; the library, typed."""
    from tracegrad.codegen.c.loader import compiler_info
    info = compiler_info()
    flags = [f for f in info["flags"] if not f.startswith("-I") and f != "-Wl,--as-needed"]
    d = tempfile.mkdtemp(prefix="tg-bounds-")
    src, lib = os.path.join(d, "bounds.c"), os.path.join(d, "bounds.so")
    with open(src, "w") as f:
        f.write(SOURCE)
    subprocess.run([info["path"], *flags, "-fopenmp-simd", src, "-o", lib, "-lmvec", "-lm"],
                   check=True)
    so = ctypes.CDLL(lib)
    fp = ctypes.POINTER(ctypes.c_void_p)
    so.bench_stream.argtypes = [fp, ctypes.c_int, fp, ctypes.c_int, ctypes.c_int64,
                                ctypes.c_int, ctypes.c_int, ctypes.c_int]
    so.bench_stream.restype = ctypes.c_double
    so.bench_math.argtypes = [ctypes.c_int, ctypes.c_int]
    so.bench_math.restype = ctypes.c_double
    return so
