"""C builds that scale (issue 13 item 2): kernels stay out of line, so a program of many small
kernels is many small functions for the compiler rather than one huge tg_program; and a long
build for ``backend="auto"`` runs in a background thread while NumPy answers the first calls.
No test asserts a timing (benchmarks/c_build_scaling.py measures them)."""
from __future__ import annotations

import re
import shutil
import subprocess
import threading

import numpy as np
import pytest

import tracegrad as tg
from tracegrad.codegen.c import background, executable as c_executable
from tracegrad.errors import CompileError, TracegradWarning

F32 = np.float32


def rnn(steps=12, hidden=8):
    """An unrolled tanh RNN's loss and arguments: many small kernels when fusion is off."""
    def loss(w, u, b, xs, h):
        for t in range(steps):
            h = np.tanh(h @ w + xs[t] @ u + b)
        return np.sum(h * h)
    rng = np.random.default_rng(0)
    return loss, (rng.standard_normal((hidden, hidden)).astype(F32) * 0.3,
                  rng.standard_normal((3, hidden)).astype(F32) * 0.3, np.full(hidden, 0.1, F32),
                  rng.standard_normal((steps, 2, 3)).astype(F32), np.zeros((2, hidden), F32))


def _close(a, b):
    for x, y in zip(_leaves(a), _leaves(b), strict=True):
        np.testing.assert_allclose(x, y, rtol=2e-5, atol=2e-6)


def _leaves(t):
    if isinstance(t, (tuple, list)):
        return [x for s in t for x in _leaves(s)]
    return [np.asarray(t)]


def _tg_program(source: str) -> str:
    start = source.index("static int tg_program(")
    return source[start:source.index("\n}\n", start)]


@pytest.fixture
def unfused(monkeypatch):
    """One kernel per equation: the many-small-kernels case."""
    monkeypatch.setenv("TRACEGRAD_DISABLE_PASSES", "fuse-all")


def test_many_small_kernels_out_of_line_match_numpy(unfused):
    loss, args = rnn()
    lowered = tg.jit(tg.value_and_grad(loss), backend="c").lower(*args)
    src = lowered.source
    kernels = re.findall(r"^TG_KERNEL void (\w+)\(", src, re.M)
    assert len(kernels) >= 10 and background.kernel_count(src) == len(kernels)  # ~23 today
    # ~100 calls: the 12 steps' repeated kernels are defined once (dedupe.py), called per step
    assert len(re.findall(r"^\s+(?:op|kernel)\d+\(", _tg_program(src), re.M)) >= 50
    # every kernel function is declared through TG_KERNEL, which keeps it out of line
    assert not re.search(r"^static void op\d+\(", src, re.M)
    assert "#define TG_KERNEL static __attribute__((noinline))" in src
    body = _tg_program(src)
    assert all(f"{k}(" in body for k in kernels)  # called from tg_program, not inlined text
    # and the compiler kept them out of line: each is a (local) symbol of the built module
    nm = shutil.which("nm")
    if nm is not None:
        syms = subprocess.run([nm, lowered.executable.module.__file__], capture_output=True,
                              text=True, check=True).stdout
        defined = set(re.findall(r"^\S+ [tT] (op\d+)\S*$", syms, re.M))
        assert {k for k in kernels if k.startswith("op")} <= defined
    got = tg.jit(tg.value_and_grad(loss), backend="c")(*args)
    want = tg.jit(tg.value_and_grad(loss), backend="numpy")(*args)
    _close(got, want)


def test_out_of_line_kernels_give_the_inlined_builds_numbers_bit_for_bit(monkeypatch):
    """Keeping kernels out of line changes only what the optimiser sees at once: the numbers
    are those of the old build (every kernel inlined into tg_program), bit for bit, with
    fusion on and off (tanh/exp through libmvec, sums, broadcasts, matrix products)."""
    def loss(w, u, b, xs, h):
        for t in range(6):
            h = np.tanh(h @ w + xs[t] @ u + b) + 0.1 * np.exp(-h * h)
        return np.sum(h * h) + np.max(h)
    _, args = rnn(steps=6, hidden=20)
    for disable in ("", "fuse-all"):
        monkeypatch.setenv("TRACEGRAD_DISABLE_PASSES", disable)
        monkeypatch.delenv("TRACEGRAD_CFLAGS", raising=False)
        new = tg.jit(tg.value_and_grad(loss), backend="c")(*args)
        monkeypatch.setenv("TRACEGRAD_CFLAGS", "-DTG_KERNEL=static")  # the old, inlined build
        old = tg.jit(tg.value_and_grad(loss), backend="c")(*args)
        for a, b in zip(_leaves(new), _leaves(old)):
            assert a.tobytes() == b.tobytes()


def test_kernels_keep_the_module_optimisation_and_vectorisation():
    """No kernel is compiled below the module's -O3: no per-function optimize attribute or
    pragma (measured: after moving kernels out of line, -O1 on small kernels saved nothing),
    and a big elementwise loop keeps its SIMD pragma."""
    from tracegrad.codegen.c.loader import compiler_info

    def f(x, y):
        return np.tanh(x * y + 1.0)
    x = np.linspace(-2, 2, 1 << 16, dtype=F32).reshape(256, 256)
    lowered = tg.jit(f, backend="c").lower(x, x)
    src = lowered.source
    # the only optimize attribute is tg_program's (the call sequence, -O1: see the next test)
    assert src.count('optimize(') == 1 and "GCC optimize" not in src
    assert '#define TG_PROGRAM_OPT __attribute__((optimize("O1"), noinline))' in src
    assert all("optimize" not in t for t in re.findall(r"^TG_KERNEL .*$", src, re.M))
    k = re.search(r"^TG_KERNEL void \w+\([^)]*\) \{\n(.*?)^\}", src, re.M | re.S).group(1)
    assert "TG_SIMD" in k and "tg_tanhf" in k
    assert "-O3" in compiler_info()["flags"]
    np.testing.assert_allclose(tg.jit(f, backend="c")(x, x), np.tanh(x * x + 1), rtol=1e-6,
                               atol=1e-6)


def test_tg_program_at_o1_gives_the_o3_builds_numbers_bit_for_bit(monkeypatch):
    """tg_program (kernel calls, BLAS batch loops, inline dot products) is compiled at -O1
    (issue 13: -O3 on thousands of calls cost seconds of cc for nothing); the numbers are
    those of the -O3 build bit for bit, with fusion on and off."""
    def loss(w, u, b, xs, h):
        for t in range(6):
            h = np.tanh(h @ w + xs[t] @ u + b) + 0.1 * np.exp(-h * h)
            h = h + 0.01 * (h[0] @ h[1])  # a dot product, emitted inline in tg_program
        return np.sum(h * h) + np.max(h)
    _, args = rnn(steps=6, hidden=20)
    for disable in ("", "fuse-all"):
        monkeypatch.setenv("TRACEGRAD_DISABLE_PASSES", disable)
        monkeypatch.delenv("TRACEGRAD_CFLAGS", raising=False)
        jf = tg.jit(tg.value_and_grad(loss), backend="c")
        src = jf.lower(*args).source
        assert re.search(r"^TG_PROGRAM_OPT\nstatic int tg_program\(", src, re.M)
        new = jf(*args)
        monkeypatch.setenv("TRACEGRAD_CFLAGS", "-DTG_PROGRAM_OPT=")  # the module's -O3
        old = tg.jit(tg.value_and_grad(loss), backend="c")(*args)
        for a, b in zip(_leaves(new), _leaves(old)):
            assert a.tobytes() == b.tobytes()


@pytest.fixture
def background_build(monkeypatch, tmp_path):
    """backend='auto' resolving to C, a cold kernel cache, every program 'long', and the C
    build held until the test releases it (so the first calls are NumPy's, deterministically)."""
    monkeypatch.setenv("TRACEGRAD_BACKEND", "auto")
    monkeypatch.setenv("TRACEGRAD_BACKGROUND_BUILD", "1")
    monkeypatch.setenv("TRACEGRAD_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(background, "BACKGROUND_MIN_KERNELS", 1)
    release = threading.Event()
    real = c_executable.CExecutable
    gate = {"fail": None}

    def held(graph, fn_name="program", prepared=None):
        if threading.current_thread() is not threading.main_thread():
            assert release.wait(120)
            if gate["fail"] is not None:
                raise gate["fail"]
        return real(graph, fn_name, prepared)
    monkeypatch.setattr(c_executable, "CExecutable", held)
    return release, gate


def test_background_build_numpy_first_then_c(unfused, background_build):
    release, _ = background_build
    loss, args = rnn(steps=13)  # a program no other test builds (it must not be built yet)
    fn = tg.jit(tg.value_and_grad(loss))
    first = fn(*args)
    lowered = fn.lower(*args)
    ex = lowered.executable
    assert isinstance(ex, background.BackgroundExecutable)
    assert ex.backend == "numpy" and lowered.stats["backend"] == "numpy"
    assert fn.cache_info().backends == ["numpy: C building in the background"]
    want = tg.jit(tg.value_and_grad(loss), backend="numpy")(*args)
    for a, b in zip(_leaves(first), _leaves(want)):
        np.testing.assert_array_equal(a, b)  # the NumPy backend's own numbers
    release.set()
    assert ex.wait(300)
    assert ex.backend == "c" and fn.cache_info().backends == ["c: built in the background"]
    second = fn(*args)
    _close(second, first)
    c_only = tg.jit(tg.value_and_grad(loss), backend="c")(*args)
    for a, b in zip(_leaves(second), _leaves(c_only)):
        np.testing.assert_array_equal(a, b)  # then exactly the C backend's numbers
    # built now: a new function of the same program loads it at once, no background
    again = tg.jit(tg.value_and_grad(loss))
    again(*args)
    assert again.cache_info().backends == ["c"]


def test_explicit_c_backend_waits(unfused, background_build):
    release, _ = background_build
    release.set()
    loss, args = rnn(steps=5)
    fn = tg.jit(tg.value_and_grad(loss), backend="c")
    fn(*args)
    assert type(fn.lower(*args).executable).__name__ == "CExecutable"
    assert fn.cache_info().backends == ["c"]


def test_background_build_failure_keeps_numpy(unfused, background_build):
    release, gate = background_build
    gate["fail"] = CompileError("cc: out of memory (simulated)")
    loss, args = rnn(steps=4)
    fn = tg.jit(tg.value_and_grad(loss))
    first = fn(*args)
    ex = fn.lower(*args).executable
    with pytest.warns(TracegradWarning, match="background C build of .* failed"):
        release.set()
        assert not ex.wait(300)
    assert fn.cache_info().backends == ["numpy: the C build failed: cc: out of memory "
                                        "(simulated)"]
    _close(fn(*args), first)


def test_background_build_can_be_turned_off(unfused, background_build, monkeypatch):
    release, _ = background_build
    release.set()
    monkeypatch.setenv("TRACEGRAD_BACKGROUND_BUILD", "0")
    loss, args = rnn(steps=6)
    fn = tg.jit(tg.value_and_grad(loss))
    fn(*args)
    assert fn.cache_info().backends == ["c"]


def test_c_build_scaling_benchmark_runs():
    """``python -m benchmarks.c_build_scaling`` (a tiny size) prints one row per build and the
    background-build line: a smoke test of the script, no timing asserted."""
    import os
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-m", "benchmarks.c_build_scaling", "--steps", "3",
                          "--hidden", "4", "--fuse", "off", "--auto"], cwd=root,
                         capture_output=True, text=True, timeout=600, check=True).stdout
    row = next(ln.split() for ln in out.splitlines() if ln.split()[:2] == ["off", "3"])
    assert int(row[2]) > 10 and int(row[3]) > 100  # kernels, source lines
    assert "first call" in out and "(c)" in out  # too small for the background


def test_huge_fused_body_is_not_forced_to_vectorise():
    """A fused kernel of hundreds of statements loses its ``TG_SIMD`` pragma (forcing gcc to
    vectorise a ~3,000-statement body cost 4 s of its combiner in mixture VI's gradient;
    simd_limit.py); short kernels keep it, and the numbers are NumPy's."""
    from tracegrad.codegen.c.simd_limit import SIMD_MAX_STATEMENTS, drop_forced_simd

    def f(x, y):
        for i in range(SIMD_MAX_STATEMENTS // 2):
            x = np.tanh(x * (1.0 + 1e-3 * i) + 1e-2)
        return x, np.exp(y) + 1.0  # another shape: its own short kernel
    x, y = np.linspace(-1, 1, 64).reshape(32, 2), np.linspace(-1, 1, 256)
    src = tg.jit(f, backend="c").lower(x, y).source
    bodies = re.findall(r"^TG_KERNEL void \w+\([^)]*\) \{\n(.*?)^\}", src, re.M | re.S)
    big = [b for b in bodies if b.count("const double v_") > SIMD_MAX_STATEMENTS]
    small = [b for b in bodies if b.count("const double v_") <= 10 and "for (" in b]
    assert big and all("TG_SIMD" not in b for b in big)
    assert small and all("TG_SIMD" in b for b in small)
    got, want = tg.jit(f, backend="c")(x, y), f(x, y)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)
    lines = ["for (;;) {", "    TG_SIMD", "    TG_SIMD_RED(reduction(+:acc))", "}"]
    assert drop_forced_simd(lines, SIMD_MAX_STATEMENTS) == lines
    assert drop_forced_simd(lines, SIMD_MAX_STATEMENTS + 1) == [lines[0]] + lines[2:]
