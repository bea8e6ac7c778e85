"""Peak memory of one call above its inputs (``python -m benchmarks.memory [--n N]``): an
elementwise chain and an MLP-like forward+gradient at ~20M float32 elements, for NumPy eager
(the same function, or a hand-written backward), tracegrad's NumPy backend (O2: fused and
memory-planned; O1: the unplanned path small programs take) and tracegrad's C backend.

Each case runs in a fresh subprocess: inputs are made and the function is compiled (traced,
planned, built) first, then the peak-RSS mark is reset (``/proc/self/clear_refs``) and one
call is made (after one small matrix product, so that the BLAS's one-time work buffers are
not counted); the figure is VmHWM after the call minus VmRSS before it, so it counts the call's
intermediates, its outputs and the arena it allocates on its first call. Lower is better;
ratios are against NumPy eager.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import numpy as np

IMPLS = ("numpy eager", "tracegrad numpy O2", "tracegrad numpy O1", "tracegrad c")


def chain(x):
    """A long elementwise chain whose every step reads the one before (and ``x`` at the end)."""
    y = x
    for _ in range(6):
        y = np.tanh(y) * 1.5 + 0.25
    return np.sum(y * x)


def mlp_loss(w1, b1, w2, x):
    h = np.maximum(x @ w1 + b1, 0.0)
    z = np.tanh(h @ w2)
    return np.sum(z * z)


def mlp_eager_value_and_grad(w1, b1, w2, x):
    """NumPy eager with a hand-written backward (what a user writes without tracegrad)."""
    a = x @ w1 + b1
    h = np.maximum(a, 0.0)
    z = np.tanh(h @ w2)
    loss = np.sum(z * z)
    do = 2.0 * z * (1.0 - z * z)
    dw2 = h.T @ do
    del h
    da = (do @ w2.T) * (a > 0)
    del a
    return loss, (x.T @ da, da.sum(axis=0), dw2)


def _inputs(case: str, n: int):
    rng = np.random.default_rng(0)
    if case == "chain":
        return (rng.standard_normal(n, dtype=np.float32),)
    hidden, out = 256, 10
    rows = max(1, n // hidden)  # the hidden activations have ~n elements
    return (rng.standard_normal((64, hidden), dtype=np.float32) * 0.1,
            np.zeros(hidden, np.float32),
            rng.standard_normal((hidden, out), dtype=np.float32) * 0.1,
            rng.standard_normal((rows, 64), dtype=np.float32))


def _function(case: str, impl: str):
    if impl == "numpy eager":
        return chain if case == "chain" else mlp_eager_value_and_grad
    import tracegrad as tg
    fn = chain if case == "chain" else tg.value_and_grad(mlp_loss, argnums=(0, 1, 2))
    if impl == "tracegrad c":
        return tg.jit(fn, backend="c")
    return tg.jit(fn, backend="numpy", opt_level=impl.rsplit(" ", 1)[1])


def _status() -> dict[str, int]:
    fields = {}
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(("VmHWM:", "VmRSS:")):
                key, value = line.split(":")
                fields[key] = int(value.split()[0]) * 1024
    return fields


def _child(case: str, impl: str, n: int) -> dict:
    args = _inputs(case, n)
    fn = _function(case, impl)
    planned = None
    if impl != "numpy eager":
        planned = fn.lower(*args).stats["peak_bytes"]
    # the BLAS allocates its work buffers on its first product, once per process: not the call's
    np.ones((1024, 1024), np.float32) @ np.ones((1024, 1024), np.float32)  # all BLAS threads
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")  # reset VmHWM to the current RSS
    before = _status()["VmRSS"]
    result = fn(*args)
    peak = _status()["VmHWM"] - before
    del result
    return {"peak": peak, "planned": planned, "input_bytes": sum(a.nbytes for a in args)}


def run_case(case: str, impl: str, n: int) -> dict:
    cmd = [sys.executable, "-m", "benchmarks.memory", "--child", case, impl, "--n", str(n)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=900,
                         cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if out.returncode != 0:
        return {"error": (out.stderr.strip().splitlines() or ["failed"])[-1]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=20_000_000, help="float32 elements (default 20M)")
    p.add_argument("--impls", default=",".join(IMPLS))
    p.add_argument("--child", nargs=2, metavar=("CASE", "IMPL"), help=argparse.SUPPRESS)
    ns = p.parse_args(argv)
    if ns.child:
        print(json.dumps(_child(*ns.child, ns.n)))
        return 0
    mb = 1 << 20
    print(f"peak RSS of one call above its inputs, {ns.n:,} float32 elements "
          f"({ns.n * 4 / mb:.0f} MiB per buffer); ratio = peak / NumPy eager's peak")
    print(f"{'case':<22}{'implementation':<22}{'peak MiB':>10}{'ratio':>8}{'planned MiB':>13}")
    for case, label in (("chain", "elementwise chain"), ("mlp", "MLP forward+gradient")):
        eager = None
        for impl in ns.impls.split(","):
            r = run_case(case, impl, ns.n)
            if "error" in r:
                print(f"{label:<22}{impl:<22}  error: {r['error']}")
                continue
            eager = r["peak"] if impl == "numpy eager" else eager
            ratio = f"{r['peak'] / eager:.2f}" if eager else "-"
            planned = f"{r['planned'] / mb:.1f}" if r["planned"] is not None else "-"
            print(f"{label:<22}{impl:<22}{r['peak'] / mb:>10.1f}{ratio:>8}{planned:>13}")
    print("planned = stats['peak_bytes']: intermediates only (outputs and inputs excluded)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
