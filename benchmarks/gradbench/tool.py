"""``python -m benchmarks.gradbench.tool [--backend c|numpy] [--multithreaded]``: tracegrad as a
GradBench tool.

GradBench's protocol (CONTRIBUTING.md in gradbench/gradbench): the eval writes one JSON message
a line; the tool answers each with one line carrying the same ``id``. ``start`` is answered with
the tool's name, ``define`` with whether the module is known, ``evaluate`` with the output and
one ``evaluate`` timing per run (at least ``min_runs`` runs and at least ``min_seconds`` in
total), anything else (``analysis``, ...) with the id alone. Like GradBench's own Python tools,
the tool pins itself to one CPU unless ``--multithreaded`` (tracegrad's C backend sizes its
thread pool from the CPUs it may use).

The first run of a new configuration includes tracing and compiling; it is reported as a
separate ``compile`` timing (a subtask, as the protocol allows) and the ``evaluate`` timings are
then the runs after it, so they measure the compiled program.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback

import numpy as np

_COMPILED: set = set()  # configurations whose first (compiling) run is done


def _evaluate(ev, message: dict, backend: str) -> dict:
    function, inp = message["function"], message["input"]
    if function not in ev.functions:
        return {"success": False, "error": f"{ev.name} has no function {function!r}"}
    arrays, static = ev.prepare(inp)
    timings = []
    # a jitted program compiles once per static configuration *and* argument shapes (gmm's d
    # and k are shapes): the first run of each is the compile
    key = (ev.name, function, backend, static,
           tuple((np.shape(a), np.asarray(a).dtype.str) for a in arrays))
    program = ev.program(function, backend, static)
    if key not in _COMPILED:
        start = time.perf_counter_ns()
        program(*arrays)
        timings.append({"name": "compile", "nanoseconds": time.perf_counter_ns() - start})
        _COMPILED.add(key)
    runs, elapsed = 0, 0
    min_runs, min_ns = int(inp.get("min_runs", 1)), float(inp.get("min_seconds", 0)) * 1e9
    while runs < min_runs or elapsed < min_ns:
        start = time.perf_counter_ns()
        result = program(*arrays)
        took = time.perf_counter_ns() - start
        timings.append({"name": "evaluate", "nanoseconds": took})
        runs, elapsed = runs + 1, elapsed + took
    return {"success": True, "output": ev.post(function, result, inp), "timings": timings}


def respond(message: dict, backend: str = "c") -> dict:
    """The response to one protocol message."""
    from . import EVALS
    kind = message.get("kind")
    response: dict = {"id": message["id"]}
    try:
        if kind == "start":
            response["tool"] = "tracegrad"
        elif kind == "define":
            response["success"] = message["module"] in EVALS
            if not response["success"]:
                response["error"] = f"tracegrad has no module {message['module']!r}"
        elif kind == "evaluate":
            response.update(_evaluate(EVALS[message["module"]], message, backend))
    except Exception as e:  # noqa: BLE001 -- the eval reports any failure; the tool keeps serving
        response.update(success=False, error="".join(traceback.format_exception(e)))
    return response


def serve(stdin=sys.stdin, stdout=sys.stdout, backend: str = "c") -> None:
    for line in stdin:
        if line.strip():
            print(json.dumps(respond(json.loads(line), backend)), file=stdout, flush=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="c", choices=("c", "numpy"))
    parser.add_argument("--multithreaded", action="store_true")
    args = parser.parse_args(argv)
    if not args.multithreaded and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    serve(backend=args.backend)


if __name__ == "__main__":
    main()
