"""What an eval is, for both the protocol tool and the local runner.

An ``Eval`` names GradBench's module and, per protocol function, the tracegrad program that
answers it. Programs are built per *static* configuration (an integer in the input that fixes a
shape or a trip count, such as llsq's ``n`` or ode's ``s``) and cached, so repeated evaluations
of one configuration replay one compiled program, as GradBench's ``min_runs`` loop expects.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Function:
    """One protocol function: ``build(backend, static) -> callable(*arrays)``, plus the kind of
    work it is (``objective`` or ``gradient``: the local runner's columns)."""
    kind: str
    build: Callable[[str, tuple], Callable]


@dataclass
class Eval:
    name: str
    functions: dict[str, Function]
    prepare: Callable[[dict], tuple[tuple, tuple]]      # input -> (arrays, static ints)
    post: Callable[[str, Any, dict], Any]               # (function, result, input) -> JSON
    generate: Callable[[Any, int], dict]                # (size, seed) -> protocol input
    sizes: list                                          # GradBench's default sizes
    quick_sizes: list                                    # tiny sizes for the smoke test
    bench_sizes: list                                    # the local runner's default subset
    reference: Callable[[str, dict], Any]                # (function, input) -> JSON or None
    describe: Callable[[Any], str] = str
    # for a gradient with no closed-form reference: (input, output) -> worst relative error of
    # <gradient, v> against central differences of the reference objective along random v
    directional: Callable[[dict, Any], float] | None = None
    # the backend tests/test_gradbench_smoke.py checks it on: "c" where the NumPy backend's
    # per-step Python overhead makes even the tiny size slow (saddle's nested descents)
    smoke_backend: str = "numpy"
    _cache: dict = field(default_factory=dict)

    def program(self, function: str, backend: str, static: tuple) -> Callable:
        key = (function, backend, static)
        if key not in self._cache:
            self._cache[key] = self.functions[function].build(backend, static)
        return self._cache[key]

    def run(self, function: str, input: dict, backend: str = "c") -> Any:
        """The JSON answer tracegrad gives to ``function`` at ``input`` (one call)."""
        arrays, static = self.prepare(input)
        return self.post(function, self.program(function, backend, static)(*arrays), input)


def tolist(x) -> Any:
    """JSON form of a result: floats stay floats (GradBench's comparison checks types)."""
    import numpy as np
    a = np.asarray(x, dtype=np.float64)
    return float(a) if a.ndim == 0 else a.tolist()
