"""Test-session settings: verify the IR after every pass; keep compiled kernels in one cache
directory per test session."""
from __future__ import annotations

import os
import sys
import tempfile

os.environ.setdefault("TRACEGRAD_VERIFY", "1")
# The suite runs on the NumPy backend unless a test asks for C (C tests compile their own
# programs; compiling every jit call in the suite would take minutes).
os.environ.setdefault("TRACEGRAD_BACKEND", "numpy")
os.environ.setdefault("TRACEGRAD_CACHE_DIR", tempfile.mkdtemp(prefix="tracegrad-test-cache-"))
# Tests monkeypatch pass settings in-process (fuse.SMALL_PROGRAM_BYTES ...), which the program
# cache's key cannot see; tests/test_transform_cache.py turns it on where it is tested.
os.environ.setdefault("TRACEGRAD_PROGRAM_CACHE", "0")
sys.path.insert(0, os.path.dirname(__file__))  # tests import cases.py and programs.py

# Every property test draws the same examples in every run (a test's own @settings adds to
# this profile): a random draw that fails once in CI and never again locally is a flake, not a
# finding. The long `-m fuzz` profile explores; TRACEGRAD_HYPOTHESIS_RANDOM=1 does here too.
if os.environ.get("TRACEGRAD_HYPOTHESIS_RANDOM") != "1":
    try:
        from hypothesis import settings as _hyp_settings
        _hyp_settings.register_profile("tracegrad-ci", derandomize=True, database=None)
        _hyp_settings.load_profile("tracegrad-ci")
    except ImportError:  # hypothesis is in the test extra; without it those tests skip
        pass


def pytest_terminal_summary(terminalreporter):
    """Throughput of the random-program fuzzer (tests/test_fuzz.py), when it ran."""
    fuzz = sys.modules.get("test_fuzz")
    for profile, (n, seconds) in (getattr(fuzz, "STATS", None) or {}).items():
        if n:
            terminalreporter.write_line(
                f"fuzz ({profile} profile): {n} programs checked in {seconds:.1f} s, "
                f"{60 * n / seconds:.0f} programs per minute")
