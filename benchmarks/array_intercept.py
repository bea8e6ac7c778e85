"""What the ``np.array``/``np.asarray``/``np.r_`` wrappers cost plain NumPy calls while a trace is
open (``python -m benchmarks.array_intercept``). The wrappers are the ``numpy`` module's
attributes only while some thread traces (tracegrad/numpy/intercept.py); then every call of
those names in the process goes through them. Three settings per call, median microseconds
per call (lower is better):

- ``numpy``: NumPy's own function (what runs when no trace is open: the wrappers are removed);
- ``other thread``: the wrapper called from a thread that is not tracing (one thread-local
  test, then NumPy's function);
- ``tracing thread``: the wrapper called with plain values from the thread that traces (also
  scans a list argument for tracers).
"""
from __future__ import annotations

import statistics
import time

import numpy as np

import tracegrad as tg
from tracegrad.numpy import intercept

SMALL = [1.0, 2.0, 3.0]
NESTED = [[float(i + j) for j in range(8)] for i in range(8)]
ARR = np.ones(100)

CALLS = {
    "np.array(3-list)": ("array", lambda f: f(SMALL)),
    "np.array(8x8 lists)": ("array", lambda f: f(NESTED)),
    "np.asarray(ndarray)": ("asarray", lambda f: f(ARR)),
    "np.asarray(float, dtype)": ("asarray", lambda f: f(2.0, np.float32)),
    "np.r_[1:4, 7]": ("r_", lambda f: f[1:4, 7]),
}


def _median_us(fn, reps: int = 15, inner: int = 3000) -> float:
    for _ in range(200):
        fn()
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter() - t0) / inner)
    return statistics.median(times) * 1e6


def measure(reps: int = 15, inner: int = 3000) -> dict:
    """{call: (numpy us, other-thread us, tracing-thread us)}."""
    rows = {}
    for label, (name, call) in CALLS.items():
        orig, wrapped = intercept.ORIGINAL[name], intercept.WRAPPERS[name]
        base = _median_us(lambda: call(orig), reps, inner)
        other = _median_us(lambda: call(wrapped), reps, inner)
        inside = {}

        def traced(x, call=call, wrapped=wrapped):
            inside["us"] = _median_us(lambda: call(wrapped), reps, inner)
            return x
        tg.make_ir(traced, stage="traced")(np.ones(2))
        rows[label] = (base, other, inside["us"])
    return rows


def main() -> None:
    rows = measure()
    print(f"{'call':28s} {'numpy':>8s} {'other thread':>13s} {'tracing thread':>15s}  (us/call)")
    for label, (a, b, c) in rows.items():
        print(f"{label:28s} {a:8.3f} {b:8.3f} ({b - a:+.2f}) {c:8.3f} ({c - a:+.2f})")


if __name__ == "__main__":
    main()
