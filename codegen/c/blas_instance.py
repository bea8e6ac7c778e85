"""A second instance of NumPy's own OpenBLAS with the CPU's best kernel set, for the C backend,
when NumPy's instance picked a lesser one; ``choose`` says which library to call and why.

Why: OpenBLAS (DYNAMIC_ARCH) picks its kernels once, when it loads, from the CPU id, and 0.3.31
takes an AVX-512 AMD EPYC (Zen5-like) for a Haswell: sgemm at ~125 GFLOP/s on one core where
its SkylakeX kernels reach ~235. NumPy's instance cannot be changed once loaded, but a byte copy
of the library at another path loads as a separate instance that reads ``OPENBLAS_CORETYPE``
again (set only around its load); its libgfortran is NumPy's, already loaded.

When (all must hold, else NumPy's instance, silently, with the reason in ``Choice.note``):
- ``TRACEGRAD_BLAS_INSTANCE`` is ``auto`` (default); ``numpy`` (or ``0``/``off``) opts out;
  ``copy`` asks for the copy with the CPU's best kernels whatever NumPy's runs and whatever
  ``OPENBLAS_CORETYPE`` says (NumPy's keeps it), without the measurement below;
- the user did not set ``OPENBLAS_CORETYPE`` (NumPy's instance already obeys it);
- the CPU's flags (``/proc/cpuinfo``) support a kernel set above the one NumPy's runs;
- a child process (``blas_probe.py``: a kernel set the CPU cannot run kills only the child)
  measured the copy at most ``FASTER`` times NumPy's time on one thread, with the same products.

The decision and the copy live in the kernel cache directory (``disk_cache``): the copy written
atomically and named by its SHA-256, the record keyed by NumPy's library (path, size, mtime),
the CPU's flags and this module's format, so the measurement runs once per machine. Each process
checks the copy's size and inode/ctime against the record (a full hash only when they changed),
rewrites a damaged copy from NumPy's, and falls back to NumPy's instance when anything fails.

Thread pools: the copy has its own; ``threads.blas_thread_functions`` sets the copy's thread
count (the library ``blas_lib.blas_functions`` names), and NumPy's stays NumPy's. The copy's idle
workers sleep at once (``OPENBLAS_THREAD_TIMEOUT``, also only around its load) instead of
spinning for ~0.1 s where NumPy's pool and other processes need the CPUs.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import subprocess
import sys
import threading
from dataclasses import dataclass

ENV = "TRACEGRAD_BLAS_INSTANCE"
FORMAT = 1
FASTER = 0.9          # the copy is used when it takes at most this fraction of NumPy's time
MAX_REL_ERR = 1e-4    # products of the two instances agree to this (float32 rounding orders)
PROBE_TIMEOUT = 120   # seconds: the child imports NumPy and times a few products
THREAD_TIMEOUT = "4"  # OPENBLAS_THREAD_TIMEOUT of the copy: 2**4 cycles of spinning, then sleep

# OpenBLAS core names (``get_corename``) by the tier of their sgemm/dgemm kernels, and the CPU
# flags each set needs; a core name not listed here is never called misdetected. Cooperlake and
# SapphireRapids add bf16 kernels to SkylakeX's (same tier: no copy for bf16 alone).
TIERS = {"prescott": 0, "core2": 0, "penryn": 0, "dunnington": 0, "atom": 0, "nehalem": 1,
         "barcelona": 1, "bobcat": 1, "sandybridge": 2, "bulldozer": 2, "piledriver": 2,
         "steamroller": 2, "excavator": 2, "haswell": 3, "zen": 3, "skylakex": 4,
         "cooperlake": 4, "sapphirerapids": 4}
_SKX = ("avx2", "fma", "avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl")
LADDER = (("SapphireRapids", _SKX + ("avx512_bf16", "avx512_fp16", "amx_tile", "amx_bf16")),
          ("Cooperlake", _SKX + ("avx512_bf16",)),
          ("SkylakeX", _SKX),
          ("Haswell", ("avx2", "fma")))

_LOCK = threading.Lock()


@dataclass(frozen=True)
class Choice:
    path: str      # the OpenBLAS to call (NumPy's own, or the copy)
    core: str      # its kernel set
    copy: bool
    note: str      # why, for diagnostics


def cpu_flags() -> frozenset:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def best_core(flags) -> str | None:
    """The highest kernel set of ``LADDER`` whose instructions the CPU (and its kernel) has."""
    for name, needs in LADDER:
        if all(f in flags for f in needs):
            return name
    return None


def corename(lib) -> str:
    fn = lib.scipy_openblas_get_corename64_
    fn.restype = ctypes.c_char_p
    return fn().decode()


def choose(numpy_path: str) -> Choice:
    """Which OpenBLAS the C backend calls (NumPy's is already loaded at ``numpy_path``)."""
    try:
        core = corename(ctypes.CDLL(numpy_path))
    except (OSError, AttributeError) as e:
        return Choice(numpy_path, "?", False, f"NumPy's OpenBLAS ({e})")

    def numpy_s(why: str) -> Choice:
        return Choice(numpy_path, core, False, f"NumPy's OpenBLAS ({core} kernels): {why}")
    mode = os.environ.get(ENV, "auto").strip().lower()
    if mode in ("numpy", "0", "off", "no", "false"):
        return numpy_s(f"{ENV}={os.environ[ENV]}")
    forced = mode == "copy"
    if os.environ.get("OPENBLAS_CORETYPE") and not forced:
        return numpy_s(f"the user's OPENBLAS_CORETYPE={os.environ['OPENBLAS_CORETYPE']}")
    best = best_core(cpu_flags())
    if best is None:
        return numpy_s("no kernel set known for this CPU")
    if not forced and (core.lower() not in TIERS or TIERS[core.lower()] >= TIERS[best.lower()]):
        return numpy_s("already the CPU's best kernel set")
    try:
        from . import blas_copy
        return blas_copy.instance(numpy_path, core, best, measure=not forced)
    except Exception as e:  # noqa: BLE001 -- any failure: NumPy's instance, said in the note
        return numpy_s(f"the {best} copy failed ({type(e).__name__}: {e})")


def load(path: str, core: str):
    """Load the copy at ``path`` asking for kernel set ``core``: ``(library, kernel set it
    runs)``; the environment is changed only around the load (under a lock)."""
    env = {"OPENBLAS_CORETYPE": core}
    if "OPENBLAS_THREAD_TIMEOUT" not in os.environ:
        env["OPENBLAS_THREAD_TIMEOUT"] = THREAD_TIMEOUT
    with _LOCK:
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            lib = ctypes.CDLL(path, mode=getattr(os, "RTLD_LOCAL", 0))
        finally:
            for k, v in saved.items():
                if v is None:
                    del os.environ[k]
                else:
                    os.environ[k] = v
    return lib, corename(lib)  # OpenBLAS may run a lower set than asked (e.g. SkylakeX)


def above(got: str, numpy_core: str) -> bool:
    """Whether kernel set ``got`` is a higher tier than NumPy's ``numpy_core``."""
    return TIERS.get(got.lower(), -1) > TIERS.get(numpy_core.lower(), 1 << 10)


def independent(lib, numpy_lib) -> bool:
    """Whether the two libraries keep separate thread settings (two instances, not one)."""
    get_a, set_a = lib.scipy_openblas_get_num_threads64_, lib.scipy_openblas_set_num_threads64_
    get_b = numpy_lib.scipy_openblas_get_num_threads64_
    a, b = get_a(), get_b()
    set_a(1 if b != 1 else 2)
    ok = get_b() == b
    set_a(a)
    return ok


def sha256_file(path: str) -> tuple[str, int]:
    h, n = hashlib.sha256(), 0
    with open(path, "rb", opener=_nofollow) as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
            n += len(chunk)
    return h.hexdigest(), n


def _nofollow(path, flags):
    return os.open(path, flags | getattr(os, "O_NOFOLLOW", 0))


def probe(numpy_path: str, numpy_core: str, copy: str, core: str) -> dict:
    """Run ``blas_probe.py`` in a child on one BLAS thread, its NumPy on this process's kernel
    set ``numpy_core``; the child's JSON, or ``{"error": ...}``."""
    import json
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
               OPENBLAS_CORETYPE=numpy_core)
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "blas_probe.py")
    try:
        r = subprocess.run([sys.executable, script, numpy_path, copy, core], env=env, check=False,
                           capture_output=True, text=True, timeout=PROBE_TIMEOUT)
    except (OSError, subprocess.SubprocessError) as e:
        return {"error": f"the probe did not run ({e})"}
    if r.returncode != 0:
        tail = (r.stderr or "").strip().splitlines()[-1:] or [""]
        return {"error": f"the probe exited with status {r.returncode} {tail[0]}".strip()}
    try:
        return json.loads(r.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError) as e:
        return {"error": f"the probe printed no result ({e})"}
