"""The benchmark command runs and its tracegrad results agree with the hand-written NumPy
backward (a smoke test at tiny sizes; the timings themselves are never asserted)."""
from __future__ import annotations

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_benchmarks_quick_run_agrees():
    out = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--backends", "numpy"],
                         capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert out.returncode == 0, out.stderr
    rows = [line for line in out.stdout.splitlines() if line.startswith("W")]
    assert len(rows) >= 7
    assert "MISMATCH" not in out.stdout, out.stdout
