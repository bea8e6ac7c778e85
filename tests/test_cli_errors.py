"""The CLI's error contract over a table of hostile and invalid arguments (issue 11, item 16):
every failure the user can cause exits with status 2 and one line on stderr that names the
cause, never "internal error" and never a traceback.

Most rows run ``tracegrad.cli.main`` in-process (fast); the rows the issue reported run the
real command. A property test feeds arbitrary type strings to the argument parser.
"""
from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracegrad.cli import main
from tracegrad.cli.errors import CLIError
from tracegrad.cli.specs import parse_spec

MODULE = """\
import numpy as np
def f(x, y):
    return np.sum(x * y)
def raises_example():
    raise KeyError("boom")
def string_example():
    return "not a type"
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cli-errors")
    (d / "m.py").write_text(MODULE)
    (d / "syntax.py").write_text("def f(:\n")
    (d / "exits.py").write_text("import sys\nsys.exit(3)\n")
    (d / "imports.py").write_text("import no_such_module_for_tracegrad_tests\n")
    (d / "binary.py").write_bytes(bytes(range(256)))
    (d / "outdir").mkdir()
    return d


def rank(n: int) -> str:
    return "f32[" + ",".join(["1"] * n) + "]"


OK = ["f32[3]", "f32[3]"]
# (id, argv with {d} for the fixture directory, a word the message must contain)
TABLE = [
    ("unknown-command", ["bogus"], "unknown command"),
    ("dump-no-target", ["dump"], "FILE.py:FUNC"),
    ("missing-file", ["dump", "{d}/nope.py:f", *OK], "no such file"),
    ("no-func", ["dump", "{d}/m.py", *OK], "FUNC"),
    ("missing-func", ["dump", "{d}/m.py:nofunc", *OK], "nofunc"),
    ("directory-as-file", ["dump", "{d}/outdir:f", *OK], "outdir"),
    ("syntax-error", ["dump", "{d}/syntax.py:f", *OK], "SyntaxError"),
    ("sys-exit-at-import", ["dump", "{d}/exits.py:f", *OK], "sys.exit"),
    ("import-error", ["dump", "{d}/imports.py:f", *OK], "ModuleNotFoundError"),
    ("binary-file", ["dump", "{d}/binary.py:f", *OK], "cannot import"),
    ("huge-shape", ["dump", "{d}/m.py:f", "f32[10000000000,10000000000,100]", "f32[3]"],
     "more than any array can hold"),
    ("1e22-elements", ["dump", "{d}/m.py:f", "f32[10000000000000000000000]", "f32[3]"],
     "more than any array can hold"),
    ("int64-max-elements", ["dump", "{d}/m.py:f", "f32[9223372036854775807]", "f32[3]"],
     "more than any array can hold"),
    ("rank-33", ["dump", "{d}/m.py:f", rank(33), rank(33)], "33 dimensions"),
    ("rank-64", ["dump", "{d}/m.py:f", rank(64), rank(64)], "64 dimensions"),
    ("rank-65", ["dump", "{d}/m.py:f", rank(65), rank(65)], "65 dimensions"),
    ("negative-dim", ["dump", "{d}/m.py:f", "f32[-1]", "f32[3]"], "non-negative"),
    ("fractional-dim", ["dump", "{d}/m.py:f", "f32[1.5]", "f32[3]"], "non-negative"),
    ("bad-dtype", ["dump", "{d}/m.py:f", "c64[3]", "f32[3]"], "unknown dtype"),
    ("unclosed", ["dump", "{d}/m.py:f", "f32[3", "f32[3]"], "bad"),
    ("line-separators", ["dump", "{d}/m.py:f", "\u2028\x85", "f32[3]"], "bad argument"),
    ("deep-nesting", ["dump", "{d}/m.py:f", "(" * 5000 + "f32[3]" + ")" * 5000, "f32[3]"],
     "nested"),
    ("shape-mismatch", ["dump", "{d}/m.py:f", "f32[3]", "f32[4]"], "broadcast"),
    ("too-many-args", ["dump", "{d}/m.py:f", *OK, "f32[3]"], "f"),
    ("too-few-args", ["dump", "{d}/m.py:f", "f32[3]"], "y"),
    ("bad-arg-syntax", ["dump", "{d}/m.py:f", "--arg", "x", "f32[3]"], "NAME=TYPE"),
    ("unknown-arg-name", ["dump", "{d}/m.py:f", "--arg", "zz=f32[3]", "f32[3]"], "zz"),
    ("argnum-out-of-range", ["dump", "{d}/m.py:f", *OK, "--grad", "5"], "5"),
    ("argnum-negative", ["dump", "{d}/m.py:f", *OK, "--grad", "-9"], "-9"),
    ("argnum-unknown-name", ["dump", "{d}/m.py:f", *OK, "--grad", "zz"], "zz"),
    ("bad-stage", ["dump", "{d}/m.py:f", *OK, "--stage", "bogus"], "bogus"),
    ("bad-opt-level", ["dump", "{d}/m.py:f", *OK, "-O", "3"], "3"),
    ("bad-emit", ["dump", "{d}/m.py:f", *OK, "--emit", "fortran"], "fortran"),
    ("unknown-flag", ["dump", "{d}/m.py:f", *OK, "--no-such-flag"], "no-such-flag"),
    ("dot-output-is-dir", ["dump", "{d}/m.py:f", *OK, "--format", "dot", "-o", "{d}/outdir"],
     "is a directory"),
    ("output-is-dir", ["dump", "{d}/m.py:f", *OK, "-o", "{d}/outdir"], "is a directory"),
    ("output-no-dir", ["dump", "{d}/m.py:f", *OK, "-o", "/nonexistent-tg/dir/x.txt"],
     "no such directory"),
    ("output-under-a-file", ["dump", "{d}/m.py:f", *OK, "-o", "{d}/m.py/x.txt"],
     "no such directory"),
    ("output-unwritable", ["dump", "{d}/m.py:f", *OK, "-o", "/proc/version"], "-o"),
    ("svg-is-dir", ["dump", "{d}/m.py:f", *OK, "--svg", "{d}/outdir"], "is a directory"),
    ("png-no-dir", ["dump", "{d}/m.py:f", *OK, "--png", "/nonexistent-tg/x.png"], "directory"),
    ("missing-example", ["dump", "{d}/m.py:f", "--example", "nosuch"], "nosuch"),
    ("raising-example", ["dump", "{d}/m.py:f", "--example", "raises_example"], "KeyError"),
    ("string-example", ["dump", "{d}/m.py:f", "--example", "string_example"], "bad"),
    ("example-and-types", ["dump", "{d}/m.py:f", "f32[3]", "--example"], "not both"),
    ("unknown-pass", ["dump", "{d}/m.py:f", *OK, "--disable", "nosuchpass"], "nosuchpass"),
    ("unknown-stop-after", ["dump", "{d}/m.py:f", *OK, "--stop-after", "nosuchpass"],
     "nosuchpass"),
    ("cache-no-action", ["cache"], "action"),
    ("cache-bad-action", ["cache", "bogus"], "bogus"),
    ("rules-extra", ["rules", "extra"], "extra"),
]


def run_main(argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as e:  # argparse exits; main must not let anything else escape
            code = e.code
    return code, out.getvalue(), err.getvalue()


def assert_contract(code, err: str, word: str) -> None:
    lines = err.strip().splitlines()
    assert code == 2, (code, err)
    assert len(lines) == 1, err
    assert lines[0].startswith("tracegrad") and "error" in lines[0], err
    assert "internal error" not in err and "Traceback" not in err, err
    assert word in lines[0], (word, err)


@pytest.mark.parametrize("argv,word", [(a, w) for _, a, w in TABLE], ids=[i for i, _, _ in TABLE])
def test_cli_invalid_arguments_exit_2_with_one_line(files, argv, word, monkeypatch):
    monkeypatch.setenv("TRACEGRAD_CACHE_DIR", str(files / "cache"))
    code, _, err = run_main([a.replace("{d}", str(files)) for a in argv])
    assert_contract(code, err, word)


@pytest.mark.parametrize("argv,word", [
    (["dump", "{d}/m.py:f", "f32[10000000000000000000000]", "f32[3]"], "elements"),
    (["dump", "{d}/m.py:f", *OK, "--format", "dot", "-o", "{d}/outdir"], "is a directory"),
    (["dump", "{d}/m.py:f", rank(40), rank(40)], "40 dimensions"),
], ids=["1e22-elements", "dot-to-directory", "rank-40"])
def test_cli_reported_cases_as_a_real_command(files, argv, word):
    proc = subprocess.run([sys.executable, "-m", "tracegrad",
                           *[a.replace("{d}", str(files)) for a in argv]],
                          capture_output=True, text=True, timeout=300, check=False)
    assert_contract(proc.returncode, proc.stderr, word)


def test_jit_of_rank_33_to_64_arrays_raises_a_typed_error():
    import tracegrad as tg
    from tracegrad.errors import ShapeError
    for ndim in (33, 64):
        x = np.ones((1,) * ndim)
        with pytest.raises(ShapeError, match=f"{ndim} dimensions.*up to 32"):
            tg.jit(lambda x: np.sum(x))(x)
        with pytest.raises(ShapeError, match=f"{ndim} dimensions"):
            tg.grad(lambda x: np.sum(x))(x)
    assert tg.jit(lambda x: np.sum(x))(np.ones((1,) * 32)) == 1.0
    # an intermediate of more dimensions, broadcast against another operand
    with pytest.raises(ShapeError, match="40 dimensions.*up to 32"):
        tg.jit(lambda x: np.sum(x.reshape((1,) * 40) * 2.0))(np.ones(1))


_DIM = st.one_of(st.integers(0, 4), st.integers(-5, 10 ** 25).map(str),
                 st.sampled_from(["", " ", "1.5", "x", "1e3", "-0", "+3", "0x10", "٣"]))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["f32", "f64", "i32", "i64", "bool", "float32", "c64", "", "F32"]),
       st.lists(_DIM, max_size=70), st.sampled_from(["[]", "()", "[", "]"]))
def test_any_type_string_is_an_array_or_a_cli_error(dtype, dims, brackets):
    text = f"{dtype}{brackets[0]}{','.join(map(str, dims))}{brackets[-1]}"
    try:
        value = parse_spec(text)
    except CLIError as e:
        assert len(str(e).splitlines()) == 1
        return
    assert isinstance(value, (np.ndarray, tuple, list, int, float)), value

