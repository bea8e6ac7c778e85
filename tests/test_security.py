"""Security regressions: user-controlled text never runs as generated code (both emitters), and
the kernel cache deletes and writes only what tracegrad itself made (issue 11, items 9, 10, 14).

Hostile text is fed through every channel that reaches generated source: the user's file name
(an equation's ``file:line``), the function's name, pytree keys, static values, and directly
into the emitters as an equation's source location and parameter reprs. A canary file that
only an escaped payload would create must not appear, and the programs must still compute
the right numbers.
"""
from __future__ import annotations

import ast
import os
import importlib.util
import re
import tempfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tracegrad as tg
from tracegrad.codegen.c import compiler as c_compiler
from tracegrad.codegen.c import disk_cache
from tracegrad.codegen.c import loader as c_loader
from tracegrad.codegen.c.emit import emit_c
from tracegrad.codegen.numpy_emit import emit_numpy, py_ident
from tracegrad.codegen.numpy_plan import emit_numpy_planned
from tracegrad.codegen.safe_text import IDENT, c_comment, plain, safe_comment, safe_ident
from tracegrad.errors import CompileError

CANARY = "PWNED"
PY_PAYLOAD = f'\n    open("{CANARY}","w").write("x")\n    #'
# every way out of a Python comment, a C comment or a C string, and a printf-style format
HOSTILE = [
    PY_PAYLOAD,
    f'\r    open("{CANARY}","w").write("x")\r    #',
    f'\u2028open("{CANARY}","w")\u2029\x85open("{CANARY}","w")\x0b\x0c\x1c',
    ' */ int tg_evil = 1; /* ',
    '*\0/ int tg_evil = 1; /*',
    '??/\n*/ int tg_evil; /*',
    '" ); system("touch PWNED"); ("',
    '\\\\\\\n x',
    '%s%s%s%n%n%zd%p',
    '\0\x01\x7f\ud800\ufeff\u200b',
]
# names a file can have on Linux (no '/', no NUL)
FILE_NAMES = [h for h in HOSTILE if "/" not in h and "\0" not in h and "\ud800" not in h]


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    assert not (tmp_path / CANARY).exists(), "hostile text ran as generated code"


@pytest.fixture(scope="module")
def has_cc():
    try:
        c_compiler._compiler(c_compiler._cc_setting())
    except CompileError as e:
        pytest.skip(f"no working C compiler: {e}")


def _module_at(path, src: str):
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("tg_hostile_mod", str(path))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


BODY = "import numpy as np\ndef f(x):\n    y = np.sin(x) * 2.0\n    return np.sum(y * y)\n"


def _expected(x):
    return np.sum((np.sin(x) * 2.0) ** 2)


@pytest.mark.parametrize("name", FILE_NAMES, ids=range(len(FILE_NAMES)))
def test_hostile_file_name_never_runs_numpy(in_tmp, name):
    mod = _module_at(in_tmp / (name + ".py"), BODY)
    x = np.linspace(0, 1, 5)
    assert np.allclose(tg.jit(mod.f, backend="numpy")(x), _expected(x))
    assert np.allclose(tg.grad(mod.f)(x), 4 * np.sin(x) * np.cos(x) * 2)
    src = tg.jit(mod.f, backend="numpy").lower(x).source
    assert not (in_tmp / CANARY).exists()
    _check_python_source(src)


@pytest.mark.parametrize("name", FILE_NAMES[:3] + FILE_NAMES[-2:],
                         ids=range(len(FILE_NAMES[:3] + FILE_NAMES[-2:])))
def test_hostile_file_name_never_runs_c(in_tmp, has_cc, name):
    mod = _module_at(in_tmp / (name + ".py"), BODY)
    x = np.linspace(0, 1, 5)
    lo = tg.jit(mod.f, backend="c").lower(x)
    assert np.allclose(lo.executable(x)[0], _expected(x))
    _check_c_source(lo.source)


def _hostile_fn(name: str):
    def f(x):
        return np.sum(np.exp(x) * 3.0)
    f.__name__ = f.__qualname__ = name
    return f


@pytest.mark.parametrize("backend", ["numpy", "c"])
def test_hostile_function_names_and_pytree_keys(in_tmp, backend, request):
    if backend == "c":
        request.getfixturevalue("has_cc")
    x = np.arange(3.0)
    for h in HOSTILE:
        f = _hostile_fn(h)
        assert np.allclose(tg.jit(f, backend=backend)(x), np.sum(np.exp(x) * 3.0))

        def g(tree, mode):
            return np.sum(tree[h] * tree["b" + h][0]) + (1.0 if mode == h else 2.0)
        g.__name__ = h
        jg = tg.jit(g, backend=backend, static_argnums=1)
        tree = {h: x, "b" + h: (x + 1,)}
        assert np.allclose(jg(tree, h), np.sum(x * (x + 1)) + 1.0)
        assert np.allclose(jg(tree, "other" + h), np.sum(x * (x + 1)) + 2.0)
        lo = jg.lower(tree, "other" + h)
        (_check_c_source if backend == "c" else _check_python_source)(lo.source)


def test_c_error_message_with_hostile_name_is_formatted_safely(in_tmp, has_cc):
    """The program name sits in PyErr_Format strings: a % or " in it must not reach them."""
    f = _hostile_fn('%s%s%n"x')
    lo = tg.jit(f, backend="c").lower(np.arange(3.0))
    with pytest.raises(TypeError, match=r"^[A-Za-z_][A-Za-z0-9_]*: expected \d+ arrays"):
        lo.executable.module.run()


# --- the emitters themselves: hostile equation sources and parameter reprs ------------------


def _graph_with_hostile_src(h: str):
    from tracegrad.ir import Graph
    g = tg.make_ir(lambda x, y: np.sum(np.tanh(x) * y + 1.5, axis=0), stage="optimized")(
        np.ones((2, 3)), np.ones((2, 3)))
    eqns = [e.replace(src=f"{h}.py:{i}") for i, e in enumerate(g.eqns)]
    return Graph(g.inputs, eqns, g.outputs, g.meta)


@pytest.mark.parametrize("h", HOSTILE, ids=range(len(HOSTILE)))
def test_emitters_keep_hostile_sources_in_comments(in_tmp, h):
    g = _graph_with_hostile_src(h)
    x, y = np.linspace(0, 1, 6).reshape(2, 3), np.linspace(1, 2, 6).reshape(2, 3)
    want = np.sum(np.tanh(x) * y + 1.5, axis=0)
    from tracegrad.passes.fuse import fuse
    fused = fuse(g, force=True)  # kernel bodies: their equations' comments too
    assert any(e.prim.name == "fused" for e in fused.eqns)
    for src, consts in (emit_numpy(g, h), emit_numpy_planned(g, None, h)[:2],
                        emit_numpy_planned(fused, None, h)[:2]):
        _check_python_source(src)
        assert src.count(".py:") >= len(g.eqns)  # the sources are there, as comments
        ns = {"np": np, "rt": __import__("tracegrad.prims.np_helpers").prims.np_helpers,
              "_views": None, **consts}
        exec(compile(src, "<test>", "exec"), ns)
        assert np.allclose(ns[py_ident(h)](x, y)[0], want)
    prog = emit_c(g, h)
    _check_c_source(prog.source)
    names = re.findall(r'PyErr_Format\(PyExc_\w+, "([^"]*?): ', prog.source)
    assert len(names) == 2 and all(IDENT.match(n) for n in names), names


def test_emitted_c_with_hostile_sources_compiles_and_runs(in_tmp, has_cc):
    from tracegrad.codegen.c.executable import CExecutable
    for h in HOSTILE:
        ex = CExecutable(_graph_with_hostile_src(h), h)
        x, y = np.linspace(0, 1, 6).reshape(2, 3), np.linspace(1, 2, 6).reshape(2, 3)
        assert np.allclose(ex(x, y)[0], np.sum(np.tanh(x) * y + 1.5, axis=0))
        _check_c_source(ex.source)


def test_parameter_and_literal_reprs_are_the_builtins():
    """A subclass's __repr__ (a static value, a shape entry) never reaches generated source."""
    class Evil(int):
        def __repr__(self):
            return f'open("{CANARY}","w")'

    class EvilF(float):
        def __repr__(self):
            return f'open("{CANARY}","w")'

    assert repr(plain(Evil(3))) == "3" and type(plain(Evil(3))) is int
    assert repr(plain((Evil(1), [EvilF(2.5)]))) == "(1, [2.5])"
    from tracegrad.codegen.numpy_emit import py_literal
    from tracegrad.ir import AVal, Lit
    assert py_literal(Lit(EvilF(2.5), AVal((), np.dtype("float64"))), True) == \
        "np.float64(2.5)"


# --- the choke points, for any text --------------------------------------------------------


def _check_python_source(src: str) -> None:
    """Comments are one line each and the module is exactly the statements we emitted: the
    function body's statements are assignments, ``del`` of plain names (an intermediate's
    last use) and one return, nothing else."""
    tree = ast.parse(src)
    fns = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    assert len(fns) == 1 and len(tree.body) == 1
    for stmt in fns[0].body:
        assert isinstance(stmt, (ast.Assign, ast.Return, ast.Expr)) or (
            isinstance(stmt, ast.Delete) and all(isinstance(t, ast.Name) for t in stmt.targets)
        ), ast.dump(stmt)
    assert "open(" not in _code_part(src)
    for ch in ("\0", "\r", "\u2028", "\u2029", "\x85", "\x0b", "\x0c"):
        assert ch not in src


def _code_part(src: str) -> str:
    return "\n".join(ln.split("#", 1)[0] for ln in src.splitlines())


def _check_c_source(src: str) -> None:
    """No comment closes early (every '*/' closes a comment opened on the same line), no
    control characters, and the payloads stay inside comments."""
    code = _strip_c_comments(src)
    assert "int tg_evil" not in code and "system(" not in code
    for ch in ("\0", "\r", "\u2028", "\x85", "\x0b", "\x0c"):
        assert ch not in src
    assert "??/" not in src


def _strip_c_comments(src: str) -> str:
    out, i = [], 0
    while True:
        j = src.find("/*", i)
        if j < 0:
            return "".join(out) + src[i:]
        out.append(src[i:j])
        k = src.find("*/", j + 2)
        assert k >= 0, "unterminated comment"
        i = k + 2


@settings(max_examples=300, deadline=None)
@given(st.text(st.characters(), max_size=60))
def test_safe_comment_and_ident_hold_for_any_text(text):
    line = f"x = 1  # {safe_comment(text)}\ny = 2\n"
    assert len(ast.parse(line).body) == 2 and len(line.splitlines()) == 2
    c = c_comment(text)
    assert "*/" not in c and "??" not in c and "\0" not in c and len(c.splitlines()) <= 1
    assert IDENT.match(safe_ident(text))
    assert safe_ident(safe_ident(text)) == safe_ident(text)


# --- item 9: `tracegrad cache clear` deletes only what tracegrad wrote ----------------------

KEY = "ab" * 32  # a name of the kind the C runtime writes (<sha256>.so)


def _cli(*args, env):
    import subprocess
    import sys
    full = {k: v for k, v in os.environ.items() if not k.startswith("TRACEGRAD_")}
    full.update(env)
    return subprocess.run([sys.executable, "-m", "tracegrad", *args], capture_output=True,
                          text=True, env=full, timeout=300, check=False)


def _victim(tmp_path):
    v = tmp_path / "victim"
    v.mkdir()
    (v / "thesis.tex").write_text("years of work")
    (v / f"{KEY}.so").write_bytes(b"not tracegrad's, only named like it")
    (v / "sub").mkdir()
    (v / "sub" / "data.csv").write_text("1,2")
    return v


def _snapshot(d):
    return sorted((str(p.relative_to(d)), p.read_bytes() if p.is_file() else None)
                  for p in d.rglob("*"))


def test_cache_clear_never_follows_a_symlinked_c_directory(tmp_path):
    victim = _victim(tmp_path)
    before = _snapshot(victim)
    cache = tmp_path / "cache"
    cache.mkdir(mode=0o700)
    (cache / "c").symlink_to(victim)
    r = _cli("cache", "clear", env={"TRACEGRAD_CACHE_DIR": str(cache)})
    assert r.returncode == 2 and "symlink" in r.stderr and "nothing was deleted" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "internal error" not in r.stderr
    assert _snapshot(victim) == before
    info = _cli("cache", "info", env={"TRACEGRAD_CACHE_DIR": str(cache)})
    assert info.returncode == 0 and "symlink" in info.stdout


def test_cache_clear_refuses_a_users_own_c_folder(tmp_path):
    project = tmp_path / "project"
    (project / "c").mkdir(parents=True)
    (project / "c" / "main.c").write_text("int main(void) { return 0; }\n")
    (project / "c" / f"{KEY}.c").write_text("/* named like a kernel */\n")
    before = _snapshot(project)
    r = _cli("cache", "clear", env={"TRACEGRAD_CACHE_DIR": str(project)})
    assert r.returncode == 2 and "main.c" in r.stderr and "marker" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert _snapshot(project) == before


def test_c_backend_never_writes_into_a_folder_it_does_not_own(tmp_path, monkeypatch, has_cc):
    """The runtime refuses the same directories clear refuses (falls back, one warning)."""
    project = tmp_path / "project"
    (project / "c").mkdir(parents=True, mode=0o700)
    (project / "c" / "main.c").write_text("int main(void) { return 0; }\n")
    monkeypatch.setenv("TRACEGRAD_CACHE_DIR", str(project))
    c_loader._reset_for_tests()
    try:
        with pytest.warns(tg.TracegradWarning, match="tracegrad did not write"):
            m = c_loader.load_extension(_ANSWER)
        assert m.answer() == 42 and not m.__file__.startswith(str(project))
        assert sorted(os.listdir(project / "c")) == ["main.c"]
    finally:
        c_loader._reset_for_tests()


def test_cache_clear_removes_only_tracegrad_files(tmp_path, monkeypatch, has_cc):
    cache = tmp_path / "cache"
    monkeypatch.setenv("TRACEGRAD_CACHE_DIR", str(cache))
    c_loader._reset_for_tests()
    try:
        m = c_loader.load_extension(_ANSWER)  # a real entry: creates and marks c/
    finally:
        c_loader._reset_for_tests()
    c = cache / "c"
    ours = sorted(n for n in os.listdir(c) if n != ".tracegrad-kernel-cache")
    assert any(n.endswith(".so") for n in ours) and os.path.dirname(m.__file__) == str(c)
    victim = _victim(tmp_path)
    before = _snapshot(victim)
    (c / "notes.txt").write_text("mine")                         # not a name tracegrad writes
    (c / f"{'cd' * 32}.so").symlink_to(victim / "thesis.tex")     # our name, but a symlink
    (c / f"{'ef' * 32}.c").mkdir()                               # our name, but a directory
    (c / f"{'ef' * 32}.c" / "inner").write_text("x")
    r = _cli("cache", "clear", env={"TRACEGRAD_CACHE_DIR": str(cache)})
    assert r.returncode == 0, r.stderr
    assert f"removed {len(ours)} files" in r.stdout and "notes.txt" in r.stdout
    left = sorted(os.listdir(c))
    assert left == sorted([".tracegrad-kernel-cache", "notes.txt", f"{'cd' * 32}.so",
                           f"{'ef' * 32}.c"])
    assert _snapshot(victim) == before


def test_cache_clear_adopts_an_unmarked_cache_of_only_its_own_files(tmp_path):
    c = tmp_path / "c"
    c.mkdir(mode=0o700)
    for ext in (".so", ".c", ".json"):
        (c / f"{KEY}{ext}").write_bytes(b"x" * 10)
    r = _cli("cache", "clear", env={"TRACEGRAD_CACHE_DIR": str(tmp_path)})
    assert r.returncode == 0 and "removed 3 files" in r.stdout
    assert os.listdir(c) == [".tracegrad-kernel-cache"]


_ANSWER = r"""
#include <Python.h>
static PyObject *answer(PyObject *self, PyObject *args) { return PyLong_FromLong(42); }
static PyMethodDef methods[] = {{"answer", answer, METH_NOARGS, ""}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "TG_MODULE_NAME", NULL, -1, methods};
PyMODINIT_FUNC PyInit_TG_MODULE_NAME(void) { return PyModule_Create(&def); }
/* security test */
"""


# --- item 14: a compile killed with SIGKILL leaves nothing in $TMPDIR for ever -------------


def test_scratch_of_killed_compiles_is_swept_by_the_next_compile(tmp_path, monkeypatch, has_cc):
    import signal
    import subprocess
    import sys
    import time
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    monkeypatch.setenv("TMPDIR", str(tmpdir))
    monkeypatch.setattr(tempfile, "tempdir", str(tmpdir))
    cache = tmp_path / "cache"
    # a real compile, killed with SIGKILL while the compiler runs: its finally never runs
    slow = tmp_path / "slow-cc"
    slow.write_text('#!/bin/sh\ncase "$*" in *-shared*) case "$*" in *probe.c*) ;; '
                    '*) touch "$TG_MARK"; sleep 30 ;; esac ;; esac\n'
                    f'exec {" ".join(c_compiler._compiler(c_compiler._cc_setting()).argv)} "$@"\n')
    slow.chmod(0o755)
    mark = tmp_path / "compiling"
    code = ("import sys; from tracegrad.codegen.c import loader as c_loader; "
            "c_loader.load_extension(open(sys.argv[1]).read())")
    src = tmp_path / "k.c"
    src.write_text(_ANSWER + "/* killed */\n")
    env = {**os.environ, "CC": str(slow), "TG_MARK": str(mark), "TMPDIR": str(tmpdir),
           "TRACEGRAD_CACHE_DIR": str(cache)}
    p = subprocess.Popen([sys.executable, "-c", code, str(src)], env=env,
                         start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not mark.exists():
            assert p.poll() is None and time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
    left = [n for n in os.listdir(tmpdir) if n.startswith("tracegrad-cc-")]
    assert len(left) == 1, os.listdir(tmpdir)
    # what must survive: a fresh scratch dir (a live compile), a symlink and a look-alike name
    # pointing at someone's data, a private dir of a live process
    fresh = tempfile.mkdtemp(prefix="tracegrad-cc-")
    victim = _victim(tmp_path)
    before = _snapshot(victim)
    (tmpdir / "tracegrad-cc-zzzz9999").symlink_to(victim)
    (tmpdir / "tracegrad-cc-precious-data").mkdir()
    live = tempfile.mkdtemp(prefix=f"tracegrad-kernels-{os.getpid()}-")
    dead_pid = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True).stdout.strip()
    dead = tempfile.mkdtemp(prefix=f"tracegrad-kernels-{dead_pid}-")
    old = time.time() - disk_cache.STALE_SCRATCH_SECONDS - 60
    for n in (left[0], "tracegrad-cc-precious-data", os.path.basename(live),
              os.path.basename(dead)):
        os.utime(tmpdir / n, (old, old))
    os.utime(tmpdir / "tracegrad-cc-zzzz9999", (old, old), follow_symlinks=False)
    monkeypatch.setenv("TRACEGRAD_CACHE_DIR", str(cache))
    c_loader._reset_for_tests()
    try:
        assert c_loader.load_extension(_ANSWER + "/* next */\n").answer() == 42
    finally:
        c_loader._reset_for_tests()
    now = sorted(os.listdir(tmpdir))
    assert left[0] not in now and os.path.basename(dead) not in now
    assert os.path.basename(fresh) in now and os.path.basename(live) in now
    assert "tracegrad-cc-zzzz9999" in now and "tracegrad-cc-precious-data" in now
    assert _snapshot(victim) == before


_NAMES = st.sampled_from([f"{KEY}.so", f"{KEY}.c", f"{KEY}.json", f"{KEY}.failed.c",
                          f"cc-{'0' * 24}.json", f".tmp-abcd1234-{KEY}.so", "main.c",
                          "notes.txt", f"{KEY}.so.bak", f"x{KEY}.so", "cc-1.json", ".tmp-x"])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(_NAMES, st.sampled_from(["file", "dir", "link"])), max_size=8,
                unique_by=lambda t: t[0]))
def test_clear_removes_exactly_our_regular_files(tmp_path_factory, entries):
    """Whatever a marked kernel directory holds, clear removes exactly the regular files with
    names tracegrad writes, and nothing a symlink points to."""
    from tracegrad.codegen import cache_files
    root = tmp_path_factory.mktemp("clear")
    victim = _victim(root)
    before = _snapshot(victim)
    c = root / "c"
    c.mkdir(mode=0o700)
    (c / cache_files.MARKER).write_bytes(cache_files.MARKER_TEXT)
    for name, kind in entries:
        if kind == "file":
            (c / name).write_text("x")
        elif kind == "dir":
            (c / name).mkdir()
            (c / name / "inner").write_text("x")
        else:
            (c / name).symlink_to(victim / "thesis.tex")
    done = cache_files.clear(str(root), "c")
    gone = {n for n, k in entries if k == "file" and cache_files.OWN_NAME.match(n)}
    assert done.files == len(gone)
    assert sorted(os.listdir(c)) == sorted({n for n, _ in entries} - gone | {cache_files.MARKER})
    assert _snapshot(victim) == before


# --- item 15: caches have bounds, and what a dropped function owned is released -----------


def _numpy_sources() -> int:
    import linecache
    return sum(k.startswith("<tracegrad-numpy:") for k in linecache.cache)


def test_jit_cache_keeps_at_most_its_size_least_recently_used(monkeypatch):
    monkeypatch.setenv("TRACEGRAD_JIT_CACHE_SIZE", "8")
    f = tg.jit(lambda x: np.sum(x * 2.0), backend="numpy")
    for n in range(1, 41):
        assert f(np.ones(n)) == 2.0 * n
        if n > 1:
            f(np.ones(1))  # shape (1,) is used all the time: never the least recently used
    info = f.cache_info()
    assert info.currsize == 8 and len(f._cache) == 8 and len(f._fast) <= 8
    assert info.maxsize == 8 and info.evictions == 32 and info.misses == 40
    misses = info.misses
    f(np.ones(1)), f(np.ones(40))  # still cached
    assert f.cache_info().misses == misses
    f(np.ones(2))  # evicted long ago: compiled again
    assert f.cache_info().misses == misses + 1


def test_dropped_and_evicted_functions_release_their_generated_sources(monkeypatch):
    import gc
    monkeypatch.setenv("TRACEGRAD_JIT_CACHE_SIZE", "4")
    gc.collect()
    before = _numpy_sources()
    f = tg.jit(lambda x: np.tanh(x) + 1.0, backend="numpy")
    for n in range(1, 31):
        f(np.ones(n))
    gc.collect()
    assert _numpy_sources() - before == 4  # only the entries still cached
    del f
    gc.collect()
    assert _numpy_sources() == before


def test_jit_cache_size_must_be_a_count(monkeypatch):
    monkeypatch.setenv("TRACEGRAD_JIT_CACHE_SIZE", "lots")
    with pytest.raises(tg.errors.ArgumentError, match="TRACEGRAD_JIT_CACHE_SIZE='lots'"):
        tg.jit(lambda x: x + 1.0, backend="numpy")(np.ones(2))
    monkeypatch.setenv("TRACEGRAD_JIT_CACHE_SIZE", "0")  # no limit
    f = tg.jit(lambda x: x + 1.0, backend="numpy")
    for n in range(1, 200):
        f(np.ones(n))
    assert f.cache_info().currsize == 199 and f.cache_info().evictions == 0


def test_compiled_step_keeps_at_most_the_cache_size_of_signatures(monkeypatch):
    monkeypatch.setenv("TRACEGRAD_JIT_CACHE_SIZE", "5")
    step = tg.compile(lambda x: (x * x).sum())
    for n in range(1, 21):
        assert step(tg.tensor(np.ones(n))).item() == n
    assert step.cache_info()["entries"] == 5


def test_c_runtime_request_map_is_bounded(monkeypatch, has_cc, tmp_path):
    monkeypatch.setenv("TRACEGRAD_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(c_loader, "BY_REQUEST_LIMIT", 3)
    c_loader._reset_for_tests()
    try:
        for i in range(6):
            assert c_loader.load_extension(_ANSWER + f"/* {i} */\n").answer() == 42
        assert len(c_loader._BY_REQUEST) == 3
    finally:
        c_loader._reset_for_tests()
