"""Random-program fuzzing: well-typed NumPy programs (tests/fuzz_programs.py) on the
interpreter, the NumPy backend and the C backend at O0 and O2 against NumPy eager, and their
gradients against finite differences and forward against reverse mode (tests/fuzz_check.py).

Two profiles:

* CI (runs by default, about a minute on 2 cores): a fixed set of examples
  (``derandomize=True``), so a CI failure reproduces on every machine.
* near-miss patterns (both profiles): short programs around the shapes stabilize rewrites
  (softmax, logsumexp, ...), drawn with right and wrong axes and broadcasts
  (tests/fuzz_patterns.py), so a rule that fires where the pieces do not line up is caught.
* long (``pytest -m fuzz``): thousands of fresh programs per run, longer programs, failures
  kept in hypothesis' example database (.hypothesis/) and replayed first by the next run.

The C backend compiles several programs as one traced function (one compile per batch and
pipeline), since a compile costs far more than running a small program. A failure prints the
program's source; reduced by hypothesis' shrinking, it goes into tests/test_regressions.py.
Throughput (programs per minute) is printed at the end of the session (see conftest.py).
"""
from __future__ import annotations

import time

import numpy as np
import pytest
from fuzz_check import check_c_batch, check_forward, check_gradients, check_second_order
from fuzz_patterns import near_miss_programs
from fuzz_programs import programs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tracegrad as tg
from c_support import needs_c

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")

# programs fuzzed and seconds spent, per profile (reported by conftest.py)
STATS: dict[str, list] = {"ci": [0, 0.0], "long": [0, 0.0]}

_COMMON = {"deadline": None, "suppress_health_check": list(HealthCheck), "print_blob": True}
CI = settings(max_examples=800, derandomize=True, database=None, **_COMMON)
CI_C = settings(max_examples=20, derandomize=True, database=None, **_COMMON)
LONG = settings(max_examples=5000, **_COMMON)
LONG_C = settings(max_examples=120, **_COMMON)
# near-miss patterns of stabilize's rules (tests/fuzz_patterns.py): short programs, cheap
CI_PATTERNS = settings(max_examples=80, derandomize=True, database=None, **_COMMON)
CI_PATTERNS_C = settings(max_examples=2, derandomize=True, database=None, **_COMMON)
LONG_PATTERNS = settings(max_examples=2000, **_COMMON)
LONG_PATTERNS_C = settings(max_examples=40, **_COMMON)


def _small(p) -> bool:
    return sum(int(np.prod(a.shape)) for a in p.args) <= 64


def _run_one(profile: str, p) -> None:
    t0 = time.perf_counter()
    check_forward(p)
    check_gradients(p)
    if _small(p) and p.seed % 3 == 0:  # second order on a third of the small programs
        check_second_order(p)
    STATS[profile][0] += 1
    STATS[profile][1] += time.perf_counter() - t0


def _run_batch(profile: str, batch) -> None:
    t0 = time.perf_counter()
    check_c_batch(batch)
    STATS[profile][0] += len(batch)
    STATS[profile][1] += time.perf_counter() - t0


@CI
@given(programs(max_steps=10))
def test_random_programs_interpreter_numpy_and_gradients(p):
    _run_one("ci", p)


@needs_c
@CI_C
@given(st.lists(programs(max_steps=10), min_size=8, max_size=8))
def test_random_programs_c_backend(batch):
    _run_batch("ci", batch)


@pytest.mark.fuzz
@LONG
@given(programs(max_steps=16))
def test_long_random_programs_interpreter_numpy_and_gradients(p):
    _run_one("long", p)


@pytest.mark.fuzz
@needs_c
@LONG_C
@given(st.lists(programs(max_steps=16), min_size=8, max_size=8))
def test_long_random_programs_c_backend(batch):
    _run_batch("long", batch)


@CI_PATTERNS
@given(near_miss_programs())
def test_near_miss_patterns_interpreter_numpy_and_gradients(p):
    _run_one("ci", p)


@needs_c
@CI_PATTERNS_C
@given(st.lists(near_miss_programs(), min_size=8, max_size=8))
def test_near_miss_patterns_c_backend(batch):
    _run_batch("ci", batch)


@pytest.mark.fuzz
@LONG_PATTERNS
@given(near_miss_programs(max_steps=4))
def test_long_near_miss_patterns_interpreter_numpy_and_gradients(p):
    _run_one("long", p)


@pytest.mark.fuzz
@needs_c
@LONG_PATTERNS_C
@given(st.lists(near_miss_programs(max_steps=4), min_size=8, max_size=8))
def test_long_near_miss_patterns_c_backend(batch):
    _run_batch("long", batch)
