"""The C backend's OpenBLAS instance (codegen/c/blas_instance.py, blas_copy.py): a copy of
NumPy's library loaded with the CPU's best kernels gives the NumPy backend's results; the
opt-out, a user's OPENBLAS_CORETYPE and a damaged copy leave the C backend on NumPy's instance
or a rewritten copy; a measured-slower copy is never chosen.

The instance is chosen once per process, so each configuration runs in a child process with its
own cache directory (the copy and its record live there)."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from tracegrad.codegen import cache_files
from tracegrad.codegen.c import blas_copy, blas_instance

import tracegrad as tg

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BEST = blas_instance.best_core(blas_instance.cpu_flags())

# The child: products (gemm f32/f64, batched, gemv, complex), a gradient (transposed operands),
# LAPACK solve and cholesky on C and on the NumPy backend; prints the instance and the errors.
CHILD = r"""
import ctypes, json, os, sys
import numpy as np
if os.environ.pop("FAKE_MISDETECTION", None):  # NumPy loaded on Haswell kernels, and then
    os.environ.pop("OPENBLAS_CORETYPE", None)  # no user setting visible: a misdetection
import tracegrad as tg
from tracegrad.codegen.c import blas_lib, threads

def program(a, b, v, z, s, w):
    spd = s @ s.T + 4.0 * np.eye(s.shape[0])
    return (a @ b, np.matmul(w, np.swapaxes(w, -1, -2)), a @ v, z @ z.conj().T,
            np.linalg.solve(spd, s[:, 0]), np.linalg.cholesky(spd))

def loss(a, b):
    return np.sum(np.tanh(a @ b) ** 2)

rng = np.random.default_rng(1)
args = (rng.standard_normal((64, 48)).astype(np.float32),
        rng.standard_normal((48, 40)).astype(np.float32),
        rng.standard_normal(48).astype(np.float32),
        rng.standard_normal((12, 9)) + 1j * rng.standard_normal((12, 9)),
        rng.standard_normal((20, 20)), rng.standard_normal((3, 10, 30)))
errs = []
for fn, xs in ((program, args), (tg.grad(loss, argnums=(0, 1)), args[:2])):
    got = tg.jit(fn, backend="c")(*xs)
    ref = tg.jit(fn, backend="numpy")(*xs)
    for g, r in zip(got, ref):
        errs.append(float(np.max(np.abs(np.asarray(g) - r)) / (np.max(np.abs(r)) + 1e-30)))
path = blas_lib.blas_functions()[3]
lib = ctypes.CDLL(path)
setter = ctypes.cast(lib.scipy_openblas_set_num_threads64_, ctypes.c_void_p).value
name = lib.scipy_openblas_get_corename64_
name.restype = ctypes.c_char_p
print(json.dumps({"path": path, "note": blas_lib.instance_note(), "errs": errs,
                  "core": name().decode(), "threads_follow": threads.blas_thread_functions()[0]
                  == setter}))
"""


@pytest.fixture(scope="module")
def have_cc():
    try:
        tg.jit(lambda x: x + 1, backend="c")(np.ones(2))
    except tg.CompileError:
        pytest.skip("no working C compiler here")


def _child(cache: str, **env) -> dict:
    full = dict(os.environ, TRACEGRAD_CACHE_DIR=str(cache), TRACEGRAD_BACKEND="c",
                PYTHONPATH=ROOT, **env)
    for k, v in env.items():
        if v is None:
            full.pop(k)
    r = subprocess.run([sys.executable, "-c", CHILD], env=full, capture_output=True, text=True,
                       check=False, timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    # float32 products summed in another order (other kernels): rounding, nothing more
    assert max(out["errs"]) < 1e-5, out
    assert out["threads_follow"], "set_num_threads must act on the instance the calls use"
    return out


def _copies(cache) -> list:
    d = os.path.join(cache, "c")
    return sorted(n for n in os.listdir(d) if n.startswith("openblas-") and n.endswith(".so")) \
        if os.path.isdir(d) else []


def _sha(path) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def _numpy_lib() -> str:
    import glob
    return glob.glob(os.path.join(os.path.dirname(os.path.dirname(np.__file__)), "numpy.libs",
                                  "libscipy_openblas64_*.so*"))[0]


needs_avx2 = pytest.mark.skipif(BEST is None, reason="no OpenBLAS kernel set known for this CPU")
needs_avx512 = pytest.mark.skipif(BEST in (None, "Haswell"),
                                  reason="the CPU has no kernel set above Haswell")


@needs_avx2
def test_results_on_c_match_the_numpy_backend_with_the_copy_on_and_off(have_cc, tmp_path):
    on = _child(tmp_path / "on", TRACEGRAD_BLAS_INSTANCE="copy")
    assert os.path.dirname(on["path"]) == str(tmp_path / "on" / "c"), on
    assert on["core"].lower() in blas_instance.TIERS and "copy" in on["note"], on
    off = _child(tmp_path / "off", TRACEGRAD_BLAS_INSTANCE="numpy")
    assert off["path"] == _numpy_lib() and "TRACEGRAD_BLAS_INSTANCE=numpy" in off["note"]
    assert _copies(tmp_path / "off") == []


@needs_avx512
def test_a_misdetected_numpy_instance_gets_a_measured_copy_once(have_cc, tmp_path):
    """NumPy's instance on Haswell kernels on an AVX-512 CPU: the copy is measured in a child,
    the verdict recorded; the next process reads the record instead of measuring again."""
    first = _child(tmp_path, FAKE_MISDETECTION="1", OPENBLAS_CORETYPE="Haswell",
                   TRACEGRAD_BLAS_INSTANCE=None)
    records = [n for n in os.listdir(tmp_path / "c") if n.startswith("openblas-")
               and n.endswith(".json")]
    assert len(records) == 1, os.listdir(tmp_path / "c")
    rec = json.loads((tmp_path / "c" / records[0]).read_text())["record"]
    assert rec["numpy_s"] > 0 and rec["copy_s"] > 0 and "measured" in rec["why"], rec
    # used exactly when measured faster (on a loaded machine it may lose: then no copy kept)
    assert rec["use"] == (rec["copy_s"] <= blas_instance.FASTER * rec["numpy_s"])
    assert (first["path"] != _numpy_lib()) == rec["use"]
    assert (_copies(tmp_path) != []) == rec["use"]
    stamp = os.stat(tmp_path / "c" / records[0]).st_mtime_ns
    second = _child(tmp_path, FAKE_MISDETECTION="1", OPENBLAS_CORETYPE="Haswell",
                    TRACEGRAD_BLAS_INSTANCE=None)
    assert second["path"] == first["path"]
    assert os.stat(tmp_path / "c" / records[0]).st_mtime_ns == stamp  # read, not re-measured


@needs_avx512
def test_the_opt_out_and_a_users_coretype_keep_numpys_instance(have_cc, tmp_path):
    out = _child(tmp_path / "a", FAKE_MISDETECTION="1", OPENBLAS_CORETYPE="Haswell",
                 TRACEGRAD_BLAS_INSTANCE="numpy")
    assert out["path"] == _numpy_lib() and _copies(tmp_path / "a") == []
    # OPENBLAS_CORETYPE left set: the user's choice, which NumPy's instance already follows
    out = _child(tmp_path / "b", OPENBLAS_CORETYPE="Haswell", TRACEGRAD_BLAS_INSTANCE=None)
    assert out["path"] == _numpy_lib() and "OPENBLAS_CORETYPE=Haswell" in out["note"], out
    assert _copies(tmp_path / "b") == []


@needs_avx2
def test_a_damaged_copy_is_rewritten_or_numpys_instance_is_used(have_cc, tmp_path):
    first = _child(tmp_path, TRACEGRAD_BLAS_INSTANCE="copy")
    copy = first["path"]
    good = _sha(copy)
    with open(copy, "r+b") as f:  # same size, bytes changed in the code: would crash if loaded
        f.seek(os.path.getsize(copy) // 2)
        f.write(b"\xcc" * 4096)
    again = _child(tmp_path, TRACEGRAD_BLAS_INSTANCE="copy")
    assert again["path"] == copy
    assert _sha(copy) == good
    os.truncate(copy, 1000)  # truncated: rewritten as well
    assert _child(tmp_path, TRACEGRAD_BLAS_INSTANCE="copy")["path"] == copy
    assert os.path.getsize(copy) == os.path.getsize(_numpy_lib())
    # a copy that can be neither trusted nor rewritten (a directory in its place): NumPy's
    os.unlink(copy)
    os.mkdir(copy)
    out = _child(tmp_path, TRACEGRAD_BLAS_INSTANCE="copy")
    assert out["path"] == _numpy_lib() and "copy failed" in out["note"], out


def test_the_kernel_ladder_needs_every_flag():
    skx = set(blas_instance.LADDER[2][1])
    assert blas_instance.best_core({"avx2", "fma"}) == "Haswell"
    assert blas_instance.best_core(skx) == "SkylakeX"
    assert blas_instance.best_core(skx - {"avx512vl"}) == "Haswell"
    assert blas_instance.best_core(skx | {"avx512_bf16"}) == "Cooperlake"
    # SapphireRapids' kernels use AMX: never chosen without it
    assert blas_instance.best_core(skx | {"avx512_bf16", "avx512_fp16"}) == "Cooperlake"
    assert blas_instance.best_core({"sse2"}) is None
    assert blas_instance.above("SkylakeX", "Haswell")
    assert not blas_instance.above("Haswell", "Zen") and not blas_instance.above("x", "Haswell")
    assert not blas_instance.above("SkylakeX", "SomeFutureCore")  # unknown: never "misdetected"
    assert not blas_instance.above("Cooperlake", "SkylakeX")  # the same sgemm/dgemm kernels


@pytest.mark.parametrize("probe, use", [
    ({"core": "SkylakeX", "numpy_s": 1.0, "copy_s": 0.5, "max_rel_err": 1e-7}, True),
    ({"core": "SkylakeX", "numpy_s": 1.0, "copy_s": 0.95, "max_rel_err": 1e-7}, False),
    ({"core": "SkylakeX", "numpy_s": 1.0, "copy_s": 1.5, "max_rel_err": 1e-7}, False),
    ({"core": "SkylakeX", "numpy_s": 1.0, "copy_s": 0.5, "max_rel_err": 0.1}, False),
    ({"core": "Haswell", "numpy_s": 1.0, "copy_s": 0.5, "max_rel_err": 1e-7}, False),
    ({"error": "the probe exited with status -4"}, False),
])
def test_a_copy_is_used_only_when_measured_faster_with_the_same_products(probe, use):
    verdict = blas_copy._decide(probe, "Haswell")
    assert verdict["use"] is use and verdict["why"]


def test_the_copy_and_its_record_are_tracegrads_files_but_not_kernels(tmp_path):
    names = [blas_copy.copy_name("a" * 64), blas_copy.record_name("b" * 64)]
    assert all(cache_files.OWN_NAME.match(n) for n in names)
    assert cache_files.TEMP_NAME.match(".tmp-abcd1234-" + names[0])
    d = tmp_path / "c"
    d.mkdir(mode=0o700)
    for n in names + ["c" * 64 + ".so"]:
        (d / n).write_bytes(b"x")
    files, _, kernels, _ = cache_files.tally(str(tmp_path), "c")
    assert (files, kernels) == (3, 1)


def test_cache_info_reports_the_recorded_blas_decision(tmp_path):
    """``tracegrad cache info`` says which OpenBLAS the C backend uses, from the records only."""
    d = tmp_path / "c"
    d.mkdir(mode=0o700)
    for fp, rec in (("1" * 64, {"use": True, "core": "SkylakeX", "sha256": "a" * 64,
                                "why": "measured 0.7 ms vs 1.3 ms on one thread"}),
                    ("2" * 64, {"use": False, "core": "SkylakeX", "why": "measured not faster"})):
        (d / blas_copy.record_name(fp)).write_text(json.dumps({"fingerprint": fp,
                                                               "record": rec}))
    (d / blas_copy.record_name("3" * 64)).write_text("{not json")
    lines = blas_copy.recorded(str(d))
    copy = blas_copy.copy_name("a" * 64)
    used = f"a copy of NumPy's OpenBLAS with SkylakeX kernels ({copy}): measured 0.7 ms vs 1.3 ms"
    assert lines == [used + " on one thread",
                     "NumPy's OpenBLAS, not a SkylakeX copy: measured not faster"]
    r = subprocess.run([sys.executable, "-m", "tracegrad", "cache", "info"], capture_output=True,
                       text=True, check=False, env=dict(os.environ, TRACEGRAD_CACHE_DIR=str(
                           tmp_path), PYTHONPATH=ROOT), cwd=ROOT, timeout=120)
    assert r.returncode == 0 and f"C backend's BLAS: {lines[0]}" in r.stdout, r.stdout + r.stderr
