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


def test_compile_scaling_quick_run_reports_every_phase():
    """``python -m benchmarks.compile_scaling --quick`` builds each program at small sizes and
    prints a row per phase (trace, autodiff, every O2 pass by name, both code generators) with
    a fitted exponent (issue 13); the numbers are not asserted, only that they are there."""
    out = subprocess.run([sys.executable, "-m", "benchmarks.compile_scaling", "--quick"],
                         capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    for label in ("chain", "chain grad", "rnn", "rnn grad", "mlp", "mlp grad"):
        assert any(line.startswith(label + " ") for line in text.splitlines()), text
    from tracegrad.passes.registry import PIPELINES
    phases = ["trace", "autodiff", "numpy codegen", "c codegen"] + \
        [f"O2.{p}" for p in PIPELINES["O2"]]
    for phase in phases:
        rows = [line.split() for line in text.splitlines() if line.startswith(f"  {phase} ")]
        assert rows, (phase, text)
        for row in rows:
            float(row[-1])  # the fitted exponent is a number


def test_autograd_examples_quick_run_checks_every_gradient():
    """``python -m benchmarks.autograd_examples --quick --backend numpy`` builds all five
    autograd example programs and their loop variants at tiny sizes in fresh processes, and
    each gradient agrees with finite differences (status ``ok``); timings are printed, never
    asserted (issue 13)."""
    from benchmarks.autograd_examples import PROGRAMS
    out = subprocess.run([sys.executable, "-m", "benchmarks.autograd_examples", "--quick",
                          "--backend", "numpy", "--timeout", "60"],
                         capture_output=True, text=True, cwd=ROOT, timeout=240)
    assert out.returncode == 0, out.stdout + out.stderr
    rows = [line.split() for line in out.stdout.splitlines()]
    rows = [r for r in rows if r and r[0] in PROGRAMS]
    assert sorted(r[0] for r in rows) == sorted(PROGRAMS), out.stdout
    assert all("ok;" in r for r in rows), out.stdout


def test_autograd_loop_variants_compute_their_ports_loss_and_gradient():
    """``lstm-scan``, ``odenet-scan``, ``fluidsim-scan`` (tg.scan / fori_loop) are the same
    programs as the unrolled ports: same loss eagerly, same value and gradient compiled."""
    import numpy as np

    import tracegrad as tg
    from benchmarks.autograd_programs import PROGRAMS as PORTS
    from benchmarks.autograd_scan_programs import PORT_OF, SCAN_PROGRAMS
    for name, make in SCAN_PROGRAMS.items():
        loss, args, _ = make(True)
        port, port_args, _ = PORTS[PORT_OF[name]](True)
        assert float(loss(*args)) == float(port(*port_args)), name
        v, g = tg.jit(tg.value_and_grad(loss))(*args)
        pv, pg = tg.jit(tg.value_and_grad(port))(*port_args)
        np.testing.assert_allclose(v, pv, rtol=1e-12)
        assert sorted(g) == sorted(pg)
        for k in g:
            np.testing.assert_allclose(g[k], pg[k], rtol=1e-9, atol=1e-12, err_msg=name)


def test_side_by_side_quick_run_agrees():
    """``python -m benchmarks.side_by_side`` (issue 19): every system it times (tracegrad C and
    NumPy, JAX and PyTorch when installed) gives eager NumPy's value; times not asserted."""
    out = subprocess.run([sys.executable, "-m", "benchmarks.side_by_side", "--quick",
                          "--rounds", "1", "--threads", "1", "--only", "W3,W4,W6"],
                         capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert out.returncode == 0, out.stderr
    rows = [line for line in out.stdout.splitlines() if line.startswith("| W")]
    assert len(rows) == 3 and "MISMATCH" not in out.stdout, out.stdout
