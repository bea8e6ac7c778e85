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


def _equations(graph) -> int:
    from tracegrad.ir import subgraphs
    return sum(1 + sum(_equations(g) for _, g in subgraphs(e.params)) for e in graph.eqns)


def test_gradbench_det_traces_in_polynomial_size():
    """Expansion by minors does e * l! products; unrolled, the trace would grow as fast (10!/6!
    = 5040x from l=6 to l=10). Through the scan over static tables it stays O(l) equations."""
    import tracegrad as tg
    from benchmarks.gradbench.det import det_by_minors
    sizes = {}
    for ell in (6, 10):
        a = np.random.default_rng(0).random(ell * ell)
        sizes[ell] = _equations(tg.make_ir(lambda a, ell=ell: det_by_minors(a, ell), grad=True)(a))
    assert sizes[10] < 2 * sizes[6], sizes


def test_gradbench_tool_answers_det_and_ht():
    """The protocol tool on det's flat matrix and ht's nested input (simple: an empty ``us``)."""
    inputs = [("det", "gradient", EVALS["det"].generate(4, 31337)),
              ("ht", "objective", EVALS["ht"].generate(("simple", 5, "tiny"), 31337)),
              ("ht", "jacobian", EVALS["ht"].generate(("complicated", 4, "tiny"), 31337))]
    messages = [{"id": 0, "kind": "start", "eval": "ht"}]
    messages += [{"id": i + 1, "kind": "evaluate", "module": m, "function": f,
                  "input": inp | {"min_runs": 2, "min_seconds": 0}}
                 for i, (m, f, inp) in enumerate(inputs)]
    out = subprocess.run([sys.executable, "-m", "benchmarks.gradbench.tool", "--backend", "numpy"],
                         input="".join(json.dumps(m) + "\n" for m in messages),
                         capture_output=True, text=True, cwd=ROOT, timeout=300, check=False)
    assert out.returncode == 0, out.stderr
    replies = [json.loads(line) for line in out.stdout.splitlines()][1:]
    for (module, function, inp), reply in zip(inputs, replies, strict=True):
        assert reply["success"] is True, reply
        assert validate(EVALS[module], function, inp, reply["output"])[0], (module, function)
