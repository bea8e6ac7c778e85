"""benchmarks/gradbench (issue 19 item 5) at tiny sizes: every eval's tracegrad answer passes
GradBench's comparison against the independent NumPy reference, the validator rejects a wrong
answer, the protocol tool answers a scripted eval session, and the local runner runs. Never
timed: the timings are the runner's business, not the tests'."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from benchmarks.gradbench import EVALS
from benchmarks.gradbench.check import validate

CASES = [(name, function, size) for name, ev in EVALS.items()
         for size in ev.quick_sizes for function in ev.functions]


@pytest.mark.parametrize("name,function,size", CASES)
def test_gradbench_eval_answer_matches_reference(name, function, size):
    ev = EVALS[name]
    inp = ev.generate(size, 31337)
    ok, err = validate(ev, function, inp, ev.run(function, inp, backend=ev.smoke_backend))
    assert ok, (name, function, size, err)


def _perturbed(value):
    if isinstance(value, dict):
        return {k: _perturbed(v) for k, v in value.items()}
    return (np.asarray(value) * 1.01 + 0.01).tolist()


@pytest.mark.parametrize("name", sorted(EVALS))
def test_gradbench_validator_rejects_a_wrong_answer(name):
    """A 1% error in every number of the gradient-kind answer is caught (the check can fail)."""
    ev = EVALS[name]
    function = next(f for f, spec in ev.functions.items() if spec.kind == "gradient")
    inp = ev.generate(ev.quick_sizes[0], 31337)
    ok, _ = validate(ev, function, inp, _perturbed(ev.run(function, inp, backend=ev.smoke_backend)))
    assert not ok


def test_gradbench_tool_speaks_the_protocol():
    inp = EVALS["llsq"].generate((9, 4), 31337) | {"min_runs": 3, "min_seconds": 0}
    messages = [{"id": 0, "kind": "start", "eval": "llsq"},
                {"id": 1, "kind": "define", "module": "llsq"},
                {"id": 2, "kind": "evaluate", "module": "llsq", "function": "gradient",
                 "input": inp},
                {"id": 3, "kind": "analysis", "of": 2, "valid": True},
                {"id": 4, "kind": "define", "module": "no-such-eval"}]
    out = subprocess.run([sys.executable, "-m", "benchmarks.gradbench.tool", "--backend", "numpy"],
                         input="".join(json.dumps(m) + "\n" for m in messages),
                         capture_output=True, text=True, cwd=ROOT, timeout=300, check=False)
    assert out.returncode == 0, out.stderr
    replies = [json.loads(line) for line in out.stdout.splitlines()]
    assert [r["id"] for r in replies] == [0, 1, 2, 3, 4]
    assert replies[0]["tool"] == "tracegrad" and replies[1]["success"] is True
    evaluate = replies[2]
    assert evaluate["success"] is True, evaluate
    assert sum(t["name"] == "evaluate" for t in evaluate["timings"]) >= 3
    assert validate(EVALS["llsq"], "gradient", inp, evaluate["output"])[0]
    assert replies[3] == {"id": 3}
    assert replies[4]["success"] is False and "no-such-eval" in replies[4]["error"]


def test_gradbench_local_runner_quick():
    out = subprocess.run([sys.executable, "-m", "benchmarks.gradbench", "--quick", "--threads", "1",
                          "--peers", "none", "--backend", "numpy", "--evals", "lse,ode"],
                         capture_output=True, text=True, cwd=ROOT, timeout=300, check=False)
    assert out.returncode == 0, out.stdout + out.stderr
    rows = [line for line in out.stdout.splitlines() if line.startswith(("| lse", "| ode"))]
    assert len(rows) == 8 and all(r.rstrip(" |").endswith("ok") for r in rows), out.stdout
