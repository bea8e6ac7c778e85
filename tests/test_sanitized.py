"""The C backend's kernels built with ``-fsanitize=address,undefined`` (through
``$TRACEGRAD_CFLAGS``) and run with zero sanitizer reports: the program corpus forward and
gradient, a batch of random fuzz programs, and inputs in odd layouts (strided, Fortran order,
misaligned, zero-size) and at sizes that take the OpenMP loops, and integer arithmetic at the
limits of int32/int64 (wrapping, MIN // -1).

A kernel built with ASan needs the ASan runtime loaded before anything else, so everything
runs in one subprocess with ``LD_PRELOAD`` of the compiler's ``libasan.so``; UBSan stops at
the first report (``-fno-sanitize-recover=all``). Skipped, with the reason, when the compiler
has no sanitizer runtime.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import textwrap

import pytest

SAN_FLAGS = "-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
TESTS_DIR = os.path.dirname(os.path.abspath(__file__))

CHILD = textwrap.dedent("""
    import sys, warnings
    import numpy as np
    sys.path.insert(0, sys.argv[1])
    warnings.simplefilter("ignore", RuntimeWarning)
    import tracegrad as tg
    from tracegrad.pytree import tree_flatten
    from programs import PROGRAMS

    checked = 0

    def same(got, ref, what, rtol=1e-10):
        global checked
        for g, r in zip(tree_flatten(got)[0], tree_flatten(ref)[0]):
            g, r = np.asarray(g), np.asarray(r)
            assert g.shape == r.shape and g.dtype == r.dtype, (what, g.dtype, r.dtype)
            np.testing.assert_allclose(g, r, rtol=rtol, atol=rtol, equal_nan=True,
                                       err_msg=what)
            checked += 1

    def batch(fns, counts):
        def run(*flat):
            outs, k = [], 0
            for f, n in zip(fns, counts):
                outs.append(f(*flat[k:k + n]))
                k += n
            return outs
        return run

    # 1. the corpus, forward and value_and_grad, each as one compiled program
    rng = np.random.default_rng(0)
    arg_sets = [p.make_args(rng) for p in PROGRAMS]
    counts = [len(a) for a in arg_sets]
    flat = [x for a in arg_sets for x in a]
    fwd = batch([p.fn for p in PROGRAMS], counts)
    same(tg.jit(fwd, backend="c")(*flat), fwd(*flat), "corpus forward")
    vg = batch([tg.value_and_grad(p.fn) for p in PROGRAMS], counts)
    same(tg.jit(vg, backend="c")(*flat), tg.jit(vg, backend="numpy")(*flat),
         "corpus value_and_grad")

    # 2. random programs from the fuzzer (forward at O0 and O2, and their gradients)
    import fuzz_check
    from hypothesis import HealthCheck, given, settings
    from fuzz_programs import programs
    progs = []

    @settings(max_examples=int(sys.argv[2]), database=None, derandomize=True, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(programs())
    def collect(p):
        progs.append(p)
    collect()
    fuzz_check.check_c_batch(progs)
    checked += len(progs)

    # 3. odd layouts and sizes: strided, Fortran order, misaligned, zero-size, threaded loops
    def odd(x, how):
        return fuzz_check.relayout(x, how)
    f = lambda a, b: (np.tanh(a) @ b, np.sum(a * a, axis=0), a[::-1, ::2] + 1.0)  # noqa: E731
    g = tg.jit(f, backend="c")
    for how in fuzz_check.LAYOUTS:
        for shape in [(5, 3), (0, 3), (40000, 3)]:
            a = rng.standard_normal(shape)
            b = rng.standard_normal((shape[1], 2))
            same(g(odd(a, how), odd(b, how)), f(a, b), f"layout {how} {shape}", rtol=1e-9)
    # 4. integers at their limits: wrapping arithmetic and MIN // -1, with UBSan watching
    for dt in (np.int32, np.int64):
        lo, hi = np.iinfo(dt).min, np.iinfo(dt).max
        x = np.array([lo, 7, -7, hi, lo] * 7, dt)
        y = np.array([-1, -1, 2, 2, 3] * 7, dt)
        h = lambda a, b: (a // b, a % b, -a, np.abs(a), a + a, a * a, a - b, a ** 3)  # noqa
        with np.errstate(all="ignore"):
            want = h(x, y)
        for got, w in zip(tg.jit(h, backend="c")(x, y), want):
            assert np.array_equal(got, w), (dt, got, w)
            checked += 1
    print("SANITIZED OK", checked)
""")


def _sanitizer_runtime() -> tuple[str | None, str]:
    """(path of libasan.so, "") or (None, why not)."""
    from tracegrad.codegen.c import compiler as c_compiler

    from tracegrad.errors import CompileError
    try:
        argv = c_compiler._compiler(c_compiler._cc_setting()).argv
    except CompileError as e:
        return None, f"no working C compiler: {str(e).splitlines()[0]}"
    r = subprocess.run([*argv, "-print-file-name=libasan.so"], capture_output=True, text=True,
                       check=False)
    path = r.stdout.strip()
    if r.returncode != 0 or not os.path.isabs(path) or not os.path.exists(path):
        return None, f"{argv[0]} has no AddressSanitizer runtime (libasan.so not found)"
    with tempfile.TemporaryDirectory() as d:  # the compiler must also accept the flags
        src = os.path.join(d, "probe.c")
        with open(src, "w") as fh:
            fh.write("int probe(int *x) { return x[0] + 1; }\n")
        r = subprocess.run([*argv, *SAN_FLAGS.split(), "-fPIC", "-shared", src, "-o",
                            os.path.join(d, "probe.so")], capture_output=True, text=True,
                           check=False)
        if r.returncode != 0:
            return None, f"{argv[0]} cannot build with {SAN_FLAGS}: {r.stderr.strip()[:200]}"
    return path, ""


@pytest.mark.slow
def test_kernels_built_with_address_and_undefined_sanitizers_report_nothing(tmp_path):
    asan, why = _sanitizer_runtime()
    if asan is None:
        pytest.skip(why)
    env = {**os.environ,
           "TRACEGRAD_CFLAGS": SAN_FLAGS,
           "TRACEGRAD_CACHE_DIR": str(tmp_path / "cache"),
           "TRACEGRAD_BACKEND": "c",
           "TRACEGRAD_NUM_THREADS": "2",   # the OpenMP regions run on two threads
           "LD_PRELOAD": asan,
           # CPython itself is not instrumented and keeps memory until exit: no leak report
           "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=0",
           "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"}
    r = subprocess.run([sys.executable, "-c", CHILD, TESTS_DIR, "24"], env=env,
                       capture_output=True, text=True, timeout=900, check=False)
    report = r.stdout[-3000:] + r.stderr[-6000:]
    assert "runtime error" not in r.stderr, report
    assert "AddressSanitizer" not in r.stderr, report
    assert r.returncode == 0 and "SANITIZED OK" in r.stdout, report
