"""How many threads the C backend's loops and its BLAS calls use, call by call.

Invariant: one call never asks for more threads than there are CPUs free, and nothing we start
spins on a CPU after its work is done. Three mechanisms, each measured by
``python -m benchmarks.threads``:

- libgomp's idle threads spin (300,000 turns by default) after every parallel region, on the
  CPUs OpenBLAS's threads and other processes need next: W2 took 32 ms instead of 1.6. Before
  the first OpenMP module loads, ``prepare_openmp`` loads libgomp with ``GOMP_SPINCOUNT`` set
  low (unless the user set it or ``OMP_WAIT_POLICY``), then restores the environment, so child
  processes and other OpenMP runtimes keep theirs.
- On a busy machine a second thread (ours or OpenBLAS's) waits for a CPU that another process
  holds, and the whole call waits with it (W2: 72 ms with a competing process vs 7 ms on one
  thread). ``refresh`` samples the runnable tasks of the machine (``/proc/loadavg``) minus our
  own, at most every ``SAMPLE_SECONDS``, and publishes the CPUs free in ``SHARED[0]``, which
  every generated module reads before a parallel loop and before its BLAS calls.
- Each loop's team is also capped by its size (``kernels.team_size``): small loops run on one
  thread. Every team follows the load, full reductions' too: they add fixed chunks chosen by
  size (``kernels.reduction_chunks``) in chunk order, so their sums do not depend on the team
  (a size-only team made GradBench's lse at 1.28M elements take 40 ms instead of 0.9 ms while
  another process held a CPU).
"""
from __future__ import annotations

import ctypes
import os
import time

SAMPLE_SECONDS = 0.05      # load sampled at most this often (a sample costs ~30 us)
GOMP_SPINCOUNT = "1000"    # idle libgomp threads spin a few us, then sleep (benchmarks/threads)

# [0] CPUs free now; [1] BLAS-using calls in flight; [2] the BLAS thread count to restore
# when the last of them returns. Read and written by generated modules (with the GIL held).
SHARED = (ctypes.c_int * 4)(1 << 20, 0, 0, 0)
RECENT = 3                 # samples (~0.15 s) whose quietest decides
_RECENT: list[int] = []
_STATE = {"next": 0.0, "omp": None, "blas": None}


def cpus() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
        (os.cpu_count() or 1)


def prepare_openmp() -> str:
    """Load libgomp with a short spin before any generated module does; say what was done."""
    if _STATE["omp"] is not None:
        return _STATE["omp"]
    if any(v in os.environ for v in ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY")):
        _STATE["omp"] = "the user's GOMP_SPINCOUNT / OMP_WAIT_POLICY"
    elif _loaded("libgomp.so.1"):
        # its settings were read when it loaded: ours cannot apply (team sizes still can)
        _STATE["omp"] = "libgomp loaded before tracegrad: its spin count is unchanged"
    else:
        os.environ["GOMP_SPINCOUNT"] = GOMP_SPINCOUNT
        try:
            ctypes.CDLL("libgomp.so.1")  # its constructor reads GOMP_SPINCOUNT now
            _STATE["omp"] = f"GOMP_SPINCOUNT={GOMP_SPINCOUNT}"
        except OSError:
            _STATE["omp"] = "no libgomp.so.1 (another OpenMP runtime, or none)"
        finally:
            del os.environ["GOMP_SPINCOUNT"]
    return _STATE["omp"]


def _loaded(soname: str) -> bool:
    """Whether a library of this soname is mapped (``libgomp.so.1.0.0`` is; a wheel's own
    ``libgomp-a34b3233.so.1``, which our modules do not use, is not)."""
    try:
        with open("/proc/self/maps") as f:
            return any(os.path.basename(line.split()[-1]).startswith(soname) for line in f
                       if "/" in line)
    except OSError:
        return False


def blas_thread_functions() -> tuple[int, int]:
    """Addresses of the BLAS's ``set_num_threads(int)`` and ``get_num_threads()`` (0, 0 when
    the library has none): the generated modules set the count around their calls."""
    if _STATE["blas"] is None:
        from .blas_lib import blas_functions
        path = blas_functions()[3]
        found = (0, 0)
        try:
            lib = ctypes.CDLL(path)
            for s, g in (("scipy_openblas_set_num_threads64_", "scipy_openblas_get_num_threads64_"),
                         ("scipy_openblas_set_num_threads", "scipy_openblas_get_num_threads"),
                         ("openblas_set_num_threads", "openblas_get_num_threads")):
                if hasattr(lib, s) and hasattr(lib, g):
                    found = (ctypes.cast(getattr(lib, s), ctypes.c_void_p).value,
                             ctypes.cast(getattr(lib, g), ctypes.c_void_p).value)
                    break
        except OSError:
            pass
        _STATE["blas"] = found
    return _STATE["blas"]


def shared_address() -> int:
    return ctypes.addressof(SHARED)


def refresh(now: float | None = None) -> None:
    """Publish the CPUs free now (at most every SAMPLE_SECONDS; call it before a call)."""
    now = time.monotonic() if now is None else now
    if now < _STATE["next"]:
        return
    _STATE["next"] = now + SAMPLE_SECONDS
    SHARED[0] = free_cpus()


def free_cpus() -> int:
    """CPUs this process may use minus the tasks of other processes runnable, at least 1.

    The fewest others seen in the last ``RECENT`` samples: a competitor that spins stays in
    every sample, while short jobs (a compiler, a test) do not cost us a CPU for long."""
    try:
        with open("/proc/loadavg", "rb") as f:
            running = int(f.read().split()[3].split(b"/")[0])
    except (OSError, ValueError, IndexError):
        return 1 << 20  # no load figure: trust the configured thread count
    _RECENT.append(max(0, running - _own_running()))
    del _RECENT[:-RECENT]
    return max(1, cpus() - min(_RECENT))


def _own_running() -> int:
    """Threads of this process in state R (the sampling thread itself included): OpenBLAS's
    workers spin for a while after a product, and are ours, not a competitor."""
    n = 0
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return 1
    for tid in tasks[:64]:
        try:
            with open(f"/proc/self/task/{tid}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue
        # the state follows the parenthesised command name, which may itself hold spaces
        if stat[stat.rfind(b")") + 2:stat.rfind(b")") + 3] == b"R":
            n += 1
    return max(1, n)
