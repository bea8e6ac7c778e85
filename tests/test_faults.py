"""Faults and edge conditions of the compiled backends (issue 8): arrays past 2**31 elements,
NaN and inf, zero-size arrays, unusual input memory layouts, several threads and processes
compiling the same function, and cache directories that cannot be written.

Tests of the C runtime alone (a process killed mid-compile, corrupt entries, two processes
publishing one entry) are in test_c_runtime.py; these go through ``tg.jit``.
"""
from __future__ import annotations

import re

import numpy as np
import pytest
from tracegrad.codegen.c import blas as c_blas
from tracegrad.codegen.c.emit import emit_c
from tracegrad.passes.fuse import fuse

import tracegrad as tg
from c_support import c_available, needs_c

INT_MAX = 2 ** 31 - 1


# --- arrays above 2**31 elements: checked on the emitted C, nothing is allocated -------------
def _abstract(*shape, dtype=np.float64):
    """A zero-stride array of ``shape``: tracing reads only shapes and dtypes."""
    return np.broadcast_to(np.zeros((), dtype), shape)


BIG = 2 ** 31 + 7
BIG_PROGRAMS = {
    "map-reduce": (lambda x: (np.tanh(x) * 2.0 + 1.0, np.sum(np.exp(x))), _abstract(BIG)),
    "strided-reversed": (lambda x: (x[::-3], x[::-1] + 1.0), _abstract(BIG)),
    "cumsum-argmax": (lambda x: (np.cumsum(x), np.argmax(x)), _abstract(BIG)),
    "transpose-2d": (lambda x: x.T + 1.0, _abstract(3, 2 ** 30 + 1)),
    "sum-axis0": (lambda x: np.sum(x, axis=0), _abstract(2 ** 30 + 1, 3)),
    "pad-concat": (lambda x: (np.pad(x, 1), np.concatenate([x, x])), _abstract(2 ** 30 + 7)),
    "gather": (lambda x, i: x[i] * 2.0, _abstract(3, 2 ** 30 + 1), _abstract(5, dtype=np.int64)),
    "scatter-add": (lambda x, i: tg.grad(lambda a: np.sum(a[i] ** 2))(x), _abstract(BIG),
                    _abstract(5, dtype=np.int64)),
    "broadcast": (lambda x, y: x[:, None] * y[None, :], _abstract(2 ** 16 + 1),
                  _abstract(2 ** 15 + 1)),
    "tall-matvec": (lambda a, b: a @ b, _abstract(BIG, 2), _abstract(2)),
    "long-dot": (lambda a, b: a @ b, _abstract(BIG), _abstract(BIG)),
    "int-matmul": (lambda a, b: a @ b, _abstract(BIG, 2, dtype=np.int64),
                   _abstract(2, 3, dtype=np.int64)),
}
# ints the generated C may declare: thread ids and counts, buffer flags, the argument count
# thread counts and flags; tg_no_limit: the module's "no CPU limit" (codegen/c/threads.py)
_ALLOWED_INTS = {"t", "nt", "nparts", "anynan", "flags", "nanparts", "tg_nthreads",
                 "tg_no_limit", "tg_blas_busy",  # CPUs held by BLAS threads (module.py)
                 "site", "bad", "ok"}  # a gather kernel's site number and out-of-range flag (codegen/c/bounds.py)
# the module's thread-team macro casts a team size that kernels.team_size caps at 256
_ALLOWED_LINES = {"#define TG_TEAM(k) TG_MIN((int)(k), tg_nthreads)"}


def _code_lines(src: str):
    """The lines that vary with the program: everything up to the end of ``tg_program`` (the
    runtime glue after it, SIGINT handler and BLAS thread hand-off, handles no array index),
    with C comments removed (a comment may say "short" or "int")."""
    start = src.index("static int tg_program(")
    src = src[:src.index("\n}\n", start)]
    # library code (special functions' series, the index-error record) indexes no array
    src = re.sub(r"/\* tg-library begin \*/.*?/\* tg-library end \*/", "", src, flags=re.S)
    src = re.sub(r"/\*.*?\*/", "", src, flags=re.S)
    return [ln for ln in src.splitlines() if ln.strip() not in _ALLOWED_LINES]


def _c_source(fn, *args) -> str:
    graph = fuse(tg.make_ir(fn)(*args), force=True)  # as the -c pipelines' fuse-all does
    return emit_c(graph, "big").source


@pytest.mark.parametrize("name", list(BIG_PROGRAMS))
def test_arrays_above_2_31_elements_index_with_64_bit_integers(name):
    fn, *args = BIG_PROGRAMS[name]
    src = _c_source(fn, *args)
    for line in _code_lines(src):
        # every loop counter, index and size is int64_t; a C int (32 bits) only for the
        # allow-listed thread and flag variables
        for m in re.finditer(r"\bint\s+(\w+)\s*[=;\[,)]", line):
            assert m.group(1) in _ALLOWED_INTS, line
        assert "(int)" not in line or "(int)n" in line or "(int)mm" in line, line
        assert not re.search(r"\b(unsigned|short|int32_t\s+[a-z]\w*\s*=\s*\w+\s*\*)", line), line
    # the LP64 BLAS takes C ints: M, N, K and the leading dimensions must each fit in one
    for call in re.findall(r"tg_[sd]gemm\((TgRowMajor,[^;]*)\);", src):
        args = [a.strip() for a in call.split(",")]
        for i in (3, 4, 5, 8, 10, 13):  # M N K lda ldb ldc
            assert args[i] == "(int)mm" or int(args[i]) <= INT_MAX, call


def test_a_tall_product_goes_to_blas_in_row_blocks_and_a_long_one_to_a_64_bit_loop():
    tall = _c_source(lambda a, b: a @ b, _abstract(BIG, 2), _abstract(2))
    assert "m0 += 2147483647" in tall and "tg_dgemm(TgRowMajor" in tall.split("PyInit_")[0]
    long = _c_source(lambda a, b: a @ b, _abstract(BIG), _abstract(BIG))
    assert "for (int64_t k = 0; k < 2147483655; k++)" in long


@needs_c
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shapes,fn", [
    (((7, 3), (3, 4)), lambda a, b: a @ b),           # M above the limit: row blocks
    (((2, 7, 3), (2, 3, 4)), lambda a, b: a @ b),     # ... in every batch element
    (((3, 7), (7, 4)), lambda a, b: a @ b),           # K above it: the loop
    (((3, 2), (2, 9)), lambda a, b: a @ b),           # N above it: the loop
    (((7, 3), (7, 4)), lambda a, b: a.T @ b),         # a transposed lhs
], ids=["rows", "batched-rows", "long-k", "wide-n", "transposed"])
def test_blas_limit_paths_compute_the_same_product(monkeypatch, shapes, fn, dtype):
    """The paths taken past INT_MAX, run for real with the limit lowered to 5."""
    monkeypatch.setattr(c_blas, "BLAS_INT_MAX", 5)
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal(s).astype(dtype) for s in shapes)
    got = tg.jit(fn, backend="c")(a, b)
    np.testing.assert_allclose(got, fn(a, b), rtol=2e-6 if dtype == np.float32 else 1e-12)


# --- NaN and inf -------------------------------------------------------------------------------
SPECIALS = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.5, 3.0])


def _with_specials(case, args, rng):
    """The row's arguments with most float elements replaced by NaN, +-inf, +-0 (index
    arguments stay valid)."""
    out = []
    for a, dom in zip(args, case.domain):
        a = np.array(a, copy=True)
        if a.dtype.kind == "f" and dom not in ("index", "index_neg") and a.size:
            flat = a.reshape(-1)
            pick = rng.random(flat.size) < 0.7
            flat[pick] = SPECIALS[rng.integers(0, len(SPECIALS), flat.size)][pick]
        out.append(a)
    return out


def _same_ieee(got, ref, what):
    got, ref = np.asarray(got), np.asarray(ref)
    assert got.shape == ref.shape and got.dtype == ref.dtype, (what, got.dtype, ref.dtype)
    if got.dtype.kind != "f":
        np.testing.assert_array_equal(got, ref, err_msg=what)
        return
    tol = 2e-6 if got.dtype == np.float32 else 1e-12
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref), err_msg=f"{what}: NaN positions")
    inf = np.isinf(ref)
    np.testing.assert_array_equal(got[inf], ref[inf], err_msg=f"{what}: infinities")
    np.testing.assert_allclose(got, ref, rtol=tol, atol=tol, equal_nan=True, err_msg=what)


def _special_rows(dtype):
    """(name, fn, args, reference outputs) per cases.py row with float arguments at ``dtype``,
    and per composite function."""
    from cases import CASES, make_args

    from tracegrad.pytree import tree_flatten
    rows = []
    rng = np.random.default_rng(0)
    from tracegrad.primitive import PRIMITIVES
    for case in CASES:
        if dtype not in case.dtypes or case.arity == 0:
            continue
        if PRIMITIVES[case.prim].kind == "linalg":
            continue  # a factorisation of a non-finite matrix: LAPACK's pivots and signs are its
            # own (NaN values do propagate); test_linalg.py covers non-finite and singular input
        shape_set = max(case.shapes, key=lambda s: sum(int(np.prod(x)) for x in s))
        args = _with_specials(case, make_args(case, shape_set, dtype, rng), rng)
        with np.errstate(all="ignore"):
            try:
                ref = [np.asarray(r) for r in tree_flatten(case.numpy_ref(*args))[0]]
            except (np.linalg.LinAlgError, ValueError):
                # NumPy/SciPy refuse NaN matrices (LinAlgError, check_finite's ValueError);
                # tracegrad's own errors for them are tested in test_linalg.py
                continue
        rows.append((case.id, case.fn, args, ref))
    x = np.array([1.0, np.nan, 2.0, -np.inf, np.inf, 0.0, -0.0, -3.0], dtype)
    for name, fn in COMPOSITES.items():
        with np.errstate(all="ignore"):
            rows.append((name, fn, [x], [np.asarray(r) for r in tree_flatten(fn(x))[0]]))
    return rows


COMPOSITES = {
    "relu": lambda x: np.maximum(x, 0.0),
    "where-relu": lambda x: np.where(x > 0, x, 0.0),
    "clip": lambda x: np.clip(x, -1.0, 1.0),
    "max-min": lambda x: (np.max(x), np.min(x), np.argmax(x), np.argmin(x)),
    "sum-mean-var": lambda x: (np.sum(x), np.mean(x), np.var(x), np.cumsum(x)),
    "outer-product": lambda x: x[:, None] @ x[None, :],
    "dot": lambda x: x @ x,
    "softmax": lambda x: np.exp(x - np.max(x)) / np.sum(np.exp(x - np.max(x))),
    "logaddexp": lambda x: np.logaddexp(x, x[::-1]),
    "hypot-arctan2": lambda x: (np.hypot(x, x[::-1]), np.arctan2(x, x[::-1])),
    "divide": lambda x: (x / 0.0, 1.0 / x, x // x[::-1], np.remainder(x, x[::-1])),
    "nan-aware": lambda x: (np.nanmax(x), np.nansum(x), np.nan_to_num(x), np.isfinite(x)),
    "heaviside": lambda x: np.heaviside(x, 0.5),
    "sqrt-log": lambda x: (np.sqrt(x), np.log(x), np.log1p(x), x ** 0.5),
}


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("backend", ["interpreter", "numpy", "c"])
def test_nan_and_inf_propagate_as_ieee_values(backend, dtype):
    """Every float primitive row of cases.py, and some composites, with NaN, +-inf and +-0 in
    the inputs: the same NaN positions, infinities and values as NumPy eager. The C backend
    runs all rows of a dtype as one compiled program (one compile)."""
    if backend == "c" and not c_available():
        pytest.skip("no working C compiler here")
    from tracegrad.interpreter import eval_graph
    from tracegrad.pytree import tree_flatten
    from tracegrad.staging import trace
    rows = _special_rows(dtype)
    counts = [len(args) for _, _, args, _ in rows]

    def everything(*flat):
        outs, k = [], 0
        for (_, f, _, _), n in zip(rows, counts):
            outs.extend(tree_flatten(f(*flat[k:k + n]))[0])
            k += n
        return outs
    flat = [a for _, _, args, _ in rows for a in args]
    if backend == "interpreter":
        got = eval_graph(trace(everything, tuple(flat), {}).graph, flat)
    else:
        got = tg.jit(everything, backend=backend)(*flat)
    k = 0
    for name, _, _, ref in rows:
        for r in ref:
            _same_ieee(got[k], r, f"{name} on {backend}")
            k += 1


# --- zero-size arrays --------------------------------------------------------------------------
def _zero_size_rows(dtype):
    from cases import CASES, make_args

    from tracegrad.pytree import tree_flatten
    rng = np.random.default_rng(0)
    rows = []
    for case in CASES:
        if dtype not in case.dtypes:
            continue
        for shape_set in case.shapes:
            if not any(0 in s for s in shape_set):
                continue
            args = make_args(case, shape_set, dtype, rng)
            with np.errstate(all="ignore"):
                ref = [np.asarray(r) for r in tree_flatten(case.numpy_ref(*args))[0]]
            rows.append((f"{case.id}{list(shape_set)}", case.fn, args, ref))
    return rows


@pytest.mark.parametrize("dtype", ["float64", "float32", "int32", "int64", "bool"])
@pytest.mark.parametrize("backend", ["interpreter", "numpy", "c"])
def test_zero_size_arrays_on_every_backend(backend, dtype):
    """Every cases.py shape set with a zero-size dimension (empty reductions, empty gathers,
    products with K == 0 ...), one compiled program per dtype."""
    if backend == "c" and not c_available():
        pytest.skip("no working C compiler here")
    from tracegrad.interpreter import eval_graph
    from tracegrad.pytree import tree_flatten
    from tracegrad.staging import trace
    rows = _zero_size_rows(dtype)
    if backend == "c":  # rows C refuses with a typed error (eig's complex results) run on NumPy
        from tracegrad.codegen.c.unsupported import first_complex
        rows = [r for r in rows if first_complex(trace(r[1], tuple(r[2]), {}).graph) is None]
    counts = [len(args) for _, _, args, _ in rows]

    def everything(*flat):
        outs, k = [], 0
        for (_, f, _, _), n in zip(rows, counts):
            outs.extend(tree_flatten(f(*flat[k:k + n]))[0])
            k += n
        return outs
    flat = [a for _, _, args, _ in rows for a in args]
    if backend == "interpreter":
        got = eval_graph(trace(everything, tuple(flat), {}).graph, flat, check=True)
    else:
        got = tg.jit(everything, backend=backend)(*flat)
    k = 0
    for name, _, _, ref in rows:
        for r in ref:
            _same_ieee(got[k], r, f"{name} on {backend}")
            k += 1


@pytest.mark.parametrize("backend", ["numpy", "c"])
def test_gradients_through_zero_size_arrays(backend):
    if backend == "c" and not c_available():
        pytest.skip("no working C compiler here")

    def f(x, w, y):
        h = np.tanh(x @ w)                      # (0, 3) @ (3, 2): an empty batch
        return np.sum(h ** 2) + np.sum(y * 2.0) + np.max(x, axis=0, initial=0.0).sum()
    x, w, y = np.ones((0, 3)), np.ones((3, 2)), np.ones((2, 0))
    v, (gx, gw, gy) = tg.jit(tg.value_and_grad(f, argnums=(0, 1, 2)), backend=backend)(x, w, y)
    assert v == 0.0
    assert gx.shape == (0, 3) and gy.shape == (2, 0)
    np.testing.assert_array_equal(gw, np.zeros((3, 2)))


# --- input memory layouts ----------------------------------------------------------------------
def _layout_fn(a, b, s):
    return np.tanh(a) @ b + s, np.sum(a * a, axis=0), a[::-1, ::2] + 1.0, a.T, a


@pytest.mark.parametrize("how", ["F", "strided", "reversed", "readonly", "misaligned"])
@pytest.mark.parametrize("backend", ["numpy", "c"])
def test_odd_input_layouts_are_read_correctly_and_never_written(backend, how):
    """Non-contiguous, Fortran-ordered, negatively strided, read-only and misaligned inputs
    (and a Python scalar) give NumPy's results, through the per-call fast path and the general
    one; the inputs are never written and every output is a fresh writable array."""
    if backend == "c" and not c_available():
        pytest.skip("no working C compiler here")
    from fuzz_check import relayout
    rng = np.random.default_rng(0)
    a0, b0 = rng.standard_normal((5, 4)), rng.standard_normal((4, 3))
    a, b = relayout(a0, how), relayout(b0, how)
    keep = [a.copy(), b.copy()]
    f = tg.jit(_layout_fn, backend=backend)
    for outs in (f(a, b, 0.5), f(a, b=b, s=0.5)):  # fast path (positional), general path
        for got, want in zip(outs, _layout_fn(a0, b0, 0.5)):
            np.testing.assert_allclose(got, want, rtol=1e-12)
            assert got.flags.writeable
            assert not any(np.shares_memory(got, x) for x in (a, b))
        for j in range(len(outs)):
            for k in range(j):
                assert not np.shares_memory(outs[j], outs[k])
    np.testing.assert_array_equal(a, keep[0])
    np.testing.assert_array_equal(b, keep[1])


def test_non_native_byte_order_is_a_typed_error_with_the_fix():
    x = np.arange(4.0).astype(">f8")
    with pytest.raises(tg.DTypeError, match=r"astype"):
        tg.jit(lambda v: v * 2.0, backend="numpy")(x)


# --- threads and processes ---------------------------------------------------------------------
@pytest.mark.parametrize("backend", ["numpy", "c"])
def test_threads_jit_call_and_differentiate_the_same_functions_at_once(backend):
    """Eight threads make the first calls of the same jit and value_and_grad functions at once
    (three shapes between them) and trace functions of their own meanwhile: every result is
    right, and each signature is compiled once."""
    import threading
    if backend == "c" and not c_available():
        pytest.skip("no working C compiler here")

    def f(x, y):
        return np.sum(np.tanh(x * y) + np.sin(x)) * 2.0

    jf = tg.jit(f, backend=backend)
    vg = tg.jit(tg.value_and_grad(f, argnums=(0, 1)), backend=backend)
    barrier = threading.Barrier(8)
    errors = []

    def work(k):
        try:
            rng = np.random.default_rng(k)
            n = 40 + k % 3
            x, y = rng.standard_normal(n), rng.standard_normal(n)
            barrier.wait()
            for i in range(5):
                np.testing.assert_allclose(jf(x, y), f(x, y), rtol=1e-12)
                v, (gx, gy) = vg(x, y)
                np.testing.assert_allclose(v, f(x, y), rtol=1e-12)
                sech2 = 1 / np.cosh(x * y) ** 2
                np.testing.assert_allclose(gx, 2 * (y * sech2 + np.cos(x)), rtol=1e-10)
                np.testing.assert_allclose(gy, 2 * x * sech2, rtol=1e-10)
                c = k + i
                own = tg.jit(lambda z, c=c: z * c, backend="numpy")  # a trace of its own
                np.testing.assert_array_equal(own(x), x * c)
        except Exception as e:  # noqa: BLE001 - collected and reported by the main thread
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, repr(errors[0])
    assert jf.cache_info().misses == 3 and vg.cache_info().misses == 3


JIT_CHILD = r"""
import json, os, sys, time
import numpy as np
import tracegrad as tg
from tracegrad.codegen.c import disk_cache
if len(sys.argv) > 1:
    while not os.path.exists(sys.argv[1]):
        time.sleep(0.002)
x = np.linspace(-1.0, 1.0, 33)
f = tg.jit(lambda v: np.sum(np.exp(np.sin(v)) * 3.0) + v * 2.0, backend="c")
got = f(x)
want = np.sum(np.exp(np.sin(x)) * 3.0) + x * 2.0
print(json.dumps({"ok": bool(np.allclose(got, want, rtol=1e-12)),
                  "stats": dict(disk_cache.CACHE_STATS)}))
"""


def _wrapper_cc(tmp_path, sleep: float, mark=None) -> str:
    """A $CC that sleeps before each kernel build (so builds overlap, or can be killed)."""
    import shlex

    from tracegrad.codegen.c import compiler as c_compiler
    real = shlex.join(c_compiler._compiler(c_compiler._cc_setting()).argv)
    touch = f'touch "{mark}"; ' if mark else ""
    path = tmp_path / "cc-slow"
    path.write_text(f'#!/bin/sh\ncase "$*" in *probe.c*) ;; *-shared*) {touch}sleep {sleep};; '
                    f'esac\nexec {real} "$@"\n')
    path.chmod(0o755)
    return str(path)


def _jit_child(env, *extra, **kw):
    import subprocess
    import sys
    return subprocess.Popen([sys.executable, "-c", JIT_CHILD, *extra], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _child_result(p) -> dict:
    import json
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def _entries(cache_dir) -> dict:
    import os
    d = os.path.join(cache_dir, "c")
    names = os.listdir(d) if os.path.isdir(d) else []
    return {"so": [n for n in names if n.endswith(".so")],
            "tmp": [n for n in names if n.startswith(".tmp-")]}


@needs_c
def test_two_processes_jit_the_same_function_at_once(tmp_path):
    import os
    env = {**os.environ, "TRACEGRAD_CACHE_DIR": str(tmp_path / "cache"),
           "CC": _wrapper_cc(tmp_path, 0.3)}  # both are compiling at the same moment
    barrier = tmp_path / "go"
    procs = [_jit_child(env, str(barrier)) for _ in range(2)]
    barrier.touch()
    results = [_child_result(p) for p in procs]
    assert all(r["ok"] for r in results)
    assert sum(r["stats"]["compiles"] for r in results) >= 1
    entries = _entries(tmp_path / "cache")
    assert len(entries["so"]) == 1 and not entries["tmp"]
    third = _child_result(_jit_child(env))  # the published entry is whole: loaded, not rebuilt
    assert third["ok"] and third["stats"]["compiles"] == 0 and third["stats"]["disk_hits"] == 1


@needs_c
def test_a_process_killed_while_compiling_leaves_nothing_a_later_jit_loads(tmp_path):
    import os
    import signal
    import time
    mark = tmp_path / "compiling"
    env = {**os.environ, "TRACEGRAD_CACHE_DIR": str(tmp_path / "cache"),
           "CC": _wrapper_cc(tmp_path, 30, mark)}
    p = _jit_child(env, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not mark.exists():
            assert p.poll() is None, p.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        os.killpg(p.pid, signal.SIGKILL)  # the process and its compiler, mid-compile
        p.communicate()
    assert _entries(tmp_path / "cache")["so"] == []
    env["CC"] = _wrapper_cc(tmp_path, 0)
    again = _child_result(_jit_child(env))
    assert again["ok"] and again["stats"]["compiles"] == 1 and again["stats"]["disk_hits"] == 0


# --- a cache directory that cannot be written --------------------------------------------------
@needs_c
@pytest.mark.parametrize("err", ["EROFS", "ENOSPC"], ids=["read-only", "full"])
def test_unwritable_cache_falls_back_to_a_private_directory_with_one_warning(
        tmp_path, monkeypatch, err):
    import errno
    import os
    import tempfile
    import warnings

    from tracegrad.codegen.c import loader as c_loader
    cache = tmp_path / "cache"
    monkeypatch.setenv("TRACEGRAD_CACHE_DIR", str(cache))
    c_loader._reset_for_tests()
    code = getattr(errno, err)
    real_mkstemp = tempfile.mkstemp

    def mkstemp(*a, dir=None, **k):  # writes into the cache fail, as on a read-only/full disk
        if dir is not None and os.path.realpath(dir).startswith(os.path.realpath(cache)):
            raise OSError(code, os.strerror(code))
        return real_mkstemp(*a, dir=dir, **k)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    try:
        x = np.linspace(0, 1, 9)
        with warnings.catch_warnings(record=True) as rec:
            warnings.simplefilter("always")
            results = [tg.jit(lambda v, k=k: np.cos(v) * k, backend="c")(x) for k in range(3)]
        for k, r in enumerate(results):
            np.testing.assert_allclose(r, np.cos(x) * k, rtol=1e-12)
        msgs = [str(w.message) for w in rec if issubclass(w.category, tg.TracegradWarning)]
        assert len(msgs) == 1 and os.strerror(code) in msgs[0], msgs
        assert _entries(cache)["so"] == []
    finally:
        c_loader._reset_for_tests()
