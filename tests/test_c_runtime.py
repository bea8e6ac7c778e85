"""The C runtime: C source string -> loaded extension module, cached on disk, safely.

Every test gets a fresh cache directory (TRACEGRAD_CACHE_DIR) and a fresh in-process state;
cache behaviour is checked by counting (CACHE_STATS, a compiler wrapper's log), never by timing.
Scenarios that need a second process (disk hit, race, kill mid-compile) run real subprocesses.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings

import numpy as np
import pytest
from tracegrad.codegen.c import compiler as c_compiler
from tracegrad.codegen.c import disk_cache
from tracegrad.codegen.c import loader as c_loader
from tracegrad.codegen.c.disk_cache import CACHE_STATS
from tracegrad.codegen.c.loader import compiler_info, load_extension

from tracegrad.errors import CompileError, TracegradWarning

ANSWER = r"""
#include <Python.h>
/* %(tag)s */
static PyObject *answer(PyObject *self, PyObject *args) { return PyLong_FromLong(42); }
static PyMethodDef methods[] = {{"answer", answer, METH_NOARGS, "42"}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "TG_MODULE_NAME", NULL, -1, methods};
PyMODINIT_FUNC PyInit_TG_MODULE_NAME(void) { return PyModule_Create(&def); }
"""

# expf declared with a SIMD clone: with -lmvec the loop calls glibc's vector expf (_ZGV...).
EXPF = r"""
#include <Python.h>
#include <math.h>
float expf(float) __attribute__((simd("notinbranch")));
#define N 1024
static float xs[N], ys[N];
static PyObject *run(PyObject *self, PyObject *arg) {
    double x0 = PyFloat_AsDouble(arg);
    if (x0 == -1.0 && PyErr_Occurred()) return NULL;
    for (int i = 0; i < N; i++) xs[i] = (float)(x0 + 0.01 * i);
    for (int i = 0; i < N; i++) ys[i] = expf(xs[i]);
    return PyBytes_FromStringAndSize((const char *)ys, sizeof ys);
}
static PyMethodDef methods[] = {{"run", run, METH_O, ""}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "TG_MODULE_NAME", NULL, -1, methods};
PyMODINIT_FUNC PyInit_TG_MODULE_NAME(void) { return PyModule_Create(&def); }
"""

SGEMM = r"""
#include <Python.h>
#include <cblas.h>
static PyObject *mm(PyObject *self, PyObject *args) {
    float a[4] = {1, 2, 3, 4}, b[4] = {5, 6, 7, 8}, c[4] = {0, 0, 0, 0};
    scipy_cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, 2, 2, 2,
                      1.0f, a, 2, b, 2, 0.0f, c, 2);
    return Py_BuildValue("(dddd)", c[0], c[1], c[2], c[3]);
}
static PyMethodDef methods[] = {{"mm", mm, METH_NOARGS, ""}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "TG_MODULE_NAME", NULL, -1, methods};
PyMODINIT_FUNC PyInit_TG_MODULE_NAME(void) { return PyModule_Create(&def); }
"""


def answer(tag: str = "answer") -> str:
    return ANSWER % {"tag": tag}


# A child process: optionally wait for a barrier file, load, report counters as JSON.
CHILD = textwrap.dedent("""
    import json, os, sys, time
    from tracegrad.codegen.c import disk_cache, loader as c_loader
    src = open(sys.argv[1]).read()
    if len(sys.argv) > 2:
        while not os.path.exists(sys.argv[2]):
            time.sleep(0.002)
    t0 = time.perf_counter()
    m = c_loader.load_extension(src)
    seconds = time.perf_counter() - t0
    print(json.dumps({"answer": m.answer(), "stats": dict(disk_cache.CACHE_STATS),
                      "file": m.__file__, "seconds": seconds}))
""")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A fresh cache directory and fresh in-process state (probed compilers are kept)."""
    d = tmp_path / "cache"
    monkeypatch.setenv("TRACEGRAD_CACHE_DIR", str(d))
    c_loader._reset_for_tests()
    yield d
    for p in (d, d / "c"):  # tests make it read-only; let tmp_path clean up
        if p.exists():
            os.chmod(p, 0o700)
    c_loader._reset_for_tests()


@pytest.fixture(scope="module")
def real_cc():
    try:
        return c_compiler._compiler(c_compiler._cc_setting()).argv
    except CompileError as e:
        pytest.skip(f"no working C compiler: {e}")


@pytest.fixture
def wrapper(tmp_path, real_cc):
    """A CC that logs each invocation to $TG_LOG and, for kernel builds only (not the probe),
    touches $TG_MARK and sleeps $TG_SLEEP seconds before running the real compiler."""
    path = tmp_path / "cc-wrapper"
    path.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        [ -n "$TG_LOG" ] && echo "$*" >> "$TG_LOG"
        case "$*" in
          *probe.c*) ;;
          *-shared*) [ -n "$TG_MARK" ] && touch "$TG_MARK"
                     [ -n "$TG_SLEEP" ] && sleep "$TG_SLEEP" ;;
        esac
        exec {shlex.join(real_cc)} "$@"
    """))
    path.chmod(0o755)
    return str(path)


def entry_files(cache_dir) -> dict[str, list[str]]:
    """Files of the entry directory grouped by kind (probe records left out)."""
    d = os.path.join(cache_dir, "c")
    names = sorted(os.listdir(d)) if os.path.isdir(d) else []
    return {"so": [n for n in names if n.endswith(".so")],
            "json": [n for n in names if n.endswith(".json") and n[:3] not in ("cc-", "bla")],
            "c": [n for n in names if n.endswith(".c")],
            "tmp": [n for n in names if n.startswith(".tmp-")]}


def write_source(tmp_path, src: str) -> str:
    p = tmp_path / f"src-{hashlib.sha256(src.encode()).hexdigest()[:8]}.c"
    p.write_text(src)
    return str(p)


def child(src_path: str, *extra, env=None, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", CHILD, src_path, *extra], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def child_result(p: subprocess.Popen) -> dict:
    out, err = p.communicate(timeout=120)
    assert p.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def read_bytes(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def replace_file(path: str, data: bytes) -> None:
    tmp = path + ".damaged"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def tg_warnings(record) -> list:
    return [w for w in record if issubclass(w.category, TracegradWarning)]


# ------------------------------------------------------------------------------------------


def test_loads_and_second_request_is_a_memory_hit(cache, real_cc):
    m = load_extension(answer())
    assert m.answer() == 42
    assert m.__name__.startswith("tg_") and len(m.__name__) == 23
    assert dict(CACHE_STATS) == {"compiles": 1, "disk_hits": 0, "memory_hits": 0,
                                 "rebuilt_corrupt": 0}
    assert load_extension(answer()) is m
    assert CACHE_STATS["memory_hits"] == 1 and CACHE_STATS["compiles"] == 1
    # the entry: <key>.so, <key>.c (placeholder substituted), <key>.json with sha256 and size
    files = entry_files(cache)
    key = files["so"][0][:-3]
    assert files == {"so": [key + ".so"], "json": [key + ".json"], "c": [key + ".c"], "tmp": []}
    assert m.__name__ == "tg_" + key[:20]
    d = cache / "c"
    meta = json.loads((d / (key + ".json")).read_text())
    data = (d / (key + ".so")).read_bytes()
    assert meta["size"] == len(data) and meta["sha256"] == hashlib.sha256(data).hexdigest()
    assert m.__name__ in (d / (key + ".c")).read_text()
    assert "TG_MODULE_NAME" not in (d / (key + ".c")).read_text()
    # private: directories 0700, nothing writable by group or others
    assert stat.S_IMODE(os.stat(cache).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
    for n in os.listdir(d):
        assert not os.stat(d / n).st_mode & 0o022, n


def test_new_process_hits_disk_without_compiling_or_probing(cache, tmp_path, wrapper,
                                                            monkeypatch):
    log = tmp_path / "cc.log"
    monkeypatch.setenv("CC", wrapper)
    monkeypatch.setenv("TG_LOG", str(log))
    src = write_source(tmp_path, answer())
    first = load_extension(answer())
    assert CACHE_STATS["compiles"] == 1
    calls = log.read_text().splitlines()
    assert any("--version" in c for c in calls)  # the probe ran once here...
    r = child_result(child(src))
    assert r["answer"] == 42 and r["file"] == first.__file__
    assert r["stats"] == {"compiles": 0, "disk_hits": 1, "memory_hits": 0, "rebuilt_corrupt": 0}
    # ...and the new process started no compiler at all (the probe is remembered on disk)
    assert log.read_text().splitlines() == calls


def test_options_are_part_of_the_key(cache, real_cc):
    plain = load_extension(answer())
    fast = load_extension(answer(), fast_math=True)
    serial = load_extension(answer(), openmp=False)
    assert len({plain.__name__, fast.__name__, serial.__name__}) == 3
    assert CACHE_STATS["compiles"] == 3
    commands = {}
    for n in entry_files(cache)["json"]:
        meta = json.loads((cache / "c" / n).read_text())
        commands[meta["module"]] = meta["command"]
    assert "-fassociative-math" in commands[fast.__name__]  # fast-math without crtfastmath
    assert "-fassociative-math" not in commands[plain.__name__]
    assert "-fopenmp" not in commands[serial.__name__]
    if compiler_info()["openmp"]:
        assert "-fopenmp" in commands[plain.__name__]


def test_compiler_info(cache, real_cc):
    info = compiler_info()
    assert os.path.isabs(info["path"]) and info["version"]
    assert info["target"]
    for f in ("-O3", "-fPIC", "-shared", "-std=c99", "-fno-math-errno", "-fno-trapping-math",
              "-lm"):
        assert f in info["flags"]
    assert "-ffast-math" not in info["flags"]
    assert isinstance(info["libmvec"], bool) and isinstance(info["openmp"], bool)
    assert ("-lmvec" in info["flags"]) == info["libmvec"]
    if info["openblas"] is not None:
        assert os.path.isdir(info["openblas"]["include"])
        assert os.path.isdir(info["openblas"]["lib"])


def test_builds_are_byte_identical_across_directories(cache, tmp_path, monkeypatch, real_cc):
    """What makes concurrent publishers harmless: they publish the same bytes."""
    a = load_extension(answer())
    monkeypatch.setenv("TRACEGRAD_CACHE_DIR", str(tmp_path / "other"))
    c_loader._reset_for_tests()
    b = load_extension(answer())
    assert a.__file__ != b.__file__ and a.__name__ == b.__name__
    with open(a.__file__, "rb") as fa, open(b.__file__, "rb") as fb:
        assert fa.read() == fb.read()


def test_two_processes_compiling_at_once_both_succeed(cache, tmp_path, wrapper, monkeypatch):
    monkeypatch.setenv("CC", wrapper)
    monkeypatch.setenv("TG_SLEEP", "0.3")  # widen the window: both are compiling at once
    src = write_source(tmp_path, answer("race"))
    barrier = tmp_path / "go"
    procs = [child(src, str(barrier)) for _ in range(2)]
    time.sleep(0.2)
    barrier.touch()
    results = [child_result(p) for p in procs]
    assert [r["answer"] for r in results] == [42, 42]
    assert all(r["stats"]["compiles"] == 1 for r in results)  # really raced: both compiled
    files = entry_files(cache)
    assert len(files["so"]) == len(files["json"]) == len(files["c"]) == 1 and not files["tmp"]
    # the surviving entry verifies, and a third process loads it without compiling
    monkeypatch.delenv("TG_SLEEP")
    r = child_result(child(src))
    assert r["stats"]["disk_hits"] == 1 and r["stats"]["compiles"] == 0


@pytest.mark.parametrize("damage", ["truncate", "flip", "no-metadata", "bad-metadata",
                                    "empty"])
def test_corrupted_entry_is_detected_and_rebuilt(cache, damage, real_cc):
    m = load_extension(answer())
    so = m.__file__
    meta = so[:-3] + ".json"
    good = read_bytes(so)
    # damage a copy and rename it over the entry: this process still maps the loaded library,
    # and changing that file in place would crash it (SIGBUS), whatever the cache does
    if damage == "truncate":
        replace_file(so, good[:len(good) // 2])
    elif damage == "flip":
        bad = bytearray(good)
        for i in range(len(bad) // 3, len(bad) // 3 + 16):
            bad[i] ^= 0xFF
        replace_file(so, bytes(bad))
    elif damage == "no-metadata":  # a process killed between publishing .so and .json
        os.unlink(meta)
    elif damage == "bad-metadata":
        replace_file(meta, b"{not json")
    elif damage == "empty":
        replace_file(so, b"")
    c_loader._reset_for_tests()
    m2 = load_extension(answer())
    assert m2.answer() == 42
    assert CACHE_STATS["rebuilt_corrupt"] == 1 and CACHE_STATS["compiles"] == 1
    assert CACHE_STATS["disk_hits"] == 0
    assert read_bytes(so) == good  # the rebuilt entry is whole again and verifies
    c_loader._reset_for_tests()
    load_extension(answer())
    assert CACHE_STATS["disk_hits"] == 1 and CACHE_STATS["rebuilt_corrupt"] == 0


def test_corrupted_entry_is_never_loaded_by_a_new_process(cache, tmp_path, real_cc):
    src = write_source(tmp_path, answer())
    so = load_extension(answer()).__file__
    data = bytearray(read_bytes(so))
    data[len(data) // 2:] = bytes(len(data) - len(data) // 2)  # zero the second half
    replace_file(so, bytes(data))
    r = child_result(child(src))
    assert r["answer"] == 42
    assert r["stats"]["rebuilt_corrupt"] == 1 and r["stats"]["compiles"] == 1


def test_process_killed_mid_compile_leaves_nothing_loadable(cache, tmp_path, wrapper,
                                                            monkeypatch):
    monkeypatch.setenv("CC", wrapper)
    mark = tmp_path / "compiling"
    src = write_source(tmp_path, answer("killed"))
    env = {**os.environ, "TG_MARK": str(mark), "TG_SLEEP": "30"}
    p = child(src, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not mark.exists():
            assert p.poll() is None, p.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.01)
    finally:
        os.killpg(p.pid, signal.SIGKILL)  # the child and its compiler, mid-compile
        p.communicate()
    files = entry_files(cache)
    assert files["so"] == [] and files["json"] == []
    # the same kernel, same compiler, in a new process: compiled afresh, nothing was loaded
    r = child_result(child(src))
    assert r["answer"] == 42
    assert r["stats"] == {"compiles": 1, "disk_hits": 0, "memory_hits": 0, "rebuilt_corrupt": 0}


@pytest.mark.parametrize("what", ["cache dir 0777", "entry dir 0770", "kernel file 0666",
                                  "metadata file 0622"])
def test_writable_by_others_is_never_loaded(cache, what, real_cc):
    first = load_extension(answer())
    so = first.__file__
    target, mode = {"cache dir 0777": (cache, 0o777), "entry dir 0770": (cache / "c", 0o770),
                    "kernel file 0666": (so, 0o666),
                    "metadata file 0622": (so[:-3] + ".json", 0o622)}[what]
    os.chmod(target, mode)
    c_loader._reset_for_tests()
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        m = load_extension(answer())
        other = load_extension(answer("another kernel"))
    assert len(tg_warnings(rec)) == 1, [str(w.message) for w in rec]
    assert "writable by group or others" in str(tg_warnings(rec)[0].message)
    assert m.answer() == 42 and other.answer() == 42
    assert CACHE_STATS["disk_hits"] == 0 and CACHE_STATS["compiles"] == 2
    private = os.path.dirname(m.__file__)
    assert not private.startswith(str(cache))
    assert stat.S_IMODE(os.stat(private).st_mode) == 0o700
    assert os.stat(private).st_uid == os.getuid()


def test_directory_not_owned_by_user_is_never_loaded(cache, monkeypatch, real_cc):
    load_extension(answer())
    c_loader._reset_for_tests()
    monkeypatch.setattr(disk_cache, "_my_uid", lambda: os.getuid() + 1)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        m = load_extension(answer())
    assert len(tg_warnings(rec)) == 1 and "owned by uid" in str(tg_warnings(rec)[0].message)
    assert m.answer() == 42 and CACHE_STATS["disk_hits"] == 0
    assert not m.__file__.startswith(str(cache))


def test_entry_not_owned_by_user_is_never_loaded(cache, monkeypatch, real_cc):
    so = load_extension(answer()).__file__
    c_loader._reset_for_tests()
    real_stat = os.stat

    def fake_stat(path, *a, **k):  # the kernel file appears to belong to another user
        st = real_stat(path, *a, **k)
        if os.fspath(path) == so:
            fields = list(st)
            fields[stat.ST_UID] = os.getuid() + 1
            return os.stat_result(fields)
        return st

    monkeypatch.setattr(os, "stat", fake_stat)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        m = load_extension(answer())
    assert len(tg_warnings(rec)) == 1 and so in str(tg_warnings(rec)[0].message)
    assert m.__file__ != so and CACHE_STATS["disk_hits"] == 0 and CACHE_STATS["compiles"] == 1


@pytest.mark.parametrize("err", [errno.EROFS, errno.ENOSPC])
def test_unwritable_cache_falls_back_to_private_dir(cache, monkeypatch, err, real_cc):
    old = load_extension(answer())
    c_loader._reset_for_tests()
    os.chmod(cache / "c", 0o500)
    # root writes through mode bits; make the failure real for every user
    real_mkstemp = tempfile.mkstemp

    def mkstemp(*a, dir=None, **k):
        if dir is not None and os.path.realpath(dir).startswith(os.path.realpath(cache)):
            raise OSError(err, os.strerror(err))
        return real_mkstemp(*a, dir=dir, **k)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        again = load_extension(answer())     # still served from the read-only cache
        new = load_extension(answer("new"))  # cannot be written there: private dir
        newer = load_extension(answer("newer"))
    assert again.__file__ == old.__file__ and CACHE_STATS["disk_hits"] == 1
    assert len(tg_warnings(rec)) == 1 and os.strerror(err) in str(tg_warnings(rec)[0].message)
    assert new.answer() == 42 and newer.answer() == 42
    assert not new.__file__.startswith(str(cache))
    assert os.path.dirname(new.__file__) == os.path.dirname(newer.__file__)
    assert len(entry_files(cache)["so"]) == 1


def test_compile_error_carries_output_and_kept_source(cache, real_cc):
    bad = answer().replace("PyLong_FromLong(42);", "PyLong_FromLong(42) +;")
    with pytest.raises(CompileError) as info:
        load_extension(bad)
    e = info.value
    assert "error" in e.output and "error" in str(e)  # the compiler's own words, both places
    assert e.source_path and e.source_path.endswith(".failed.c")
    assert os.path.dirname(e.source_path) == str(cache / "c")
    kept = read_bytes(e.source_path).decode()
    assert "PyLong_FromLong(42) +;" in kept and "TG_MODULE_NAME" not in kept
    assert e.source_path in str(e)
    assert CACHE_STATS["compiles"] == 1 and entry_files(cache)["so"] == []


def test_missing_compiler_raises_compile_error(cache, monkeypatch):
    monkeypatch.setenv("CC", "/nonexistent/cc")
    with pytest.raises(CompileError, match="/nonexistent/cc"):
        load_extension(answer())
    with pytest.raises(CompileError, match="no working C compiler"):
        compiler_info()
    assert CACHE_STATS["compiles"] == 0


def test_broken_compiler_raises_compile_error(cache, monkeypatch, tmp_path):
    fake = tmp_path / "broken-cc"
    fake.write_text("#!/bin/sh\necho 'broken-cc 1.0'\n[ \"$1\" = --version ] && exit 0\n"
                    "echo 'fatal: cannot compile' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("CC", str(fake))
    with pytest.raises(CompileError, match="no working C compiler") as info:
        load_extension(answer())
    assert "fatal: cannot compile" in info.value.output


def test_source_without_placeholder_is_rejected(cache):
    with pytest.raises(ValueError, match="PyInit_TG_MODULE_NAME"):
        load_extension(answer().replace("TG_MODULE_NAME", "fixed"))


def test_libmvec_vectorizes_expf(cache, real_cc):
    info = compiler_info()
    if not info["libmvec"]:
        pytest.skip("no glibc libmvec on this system")
    nm = shutil.which("nm")
    if nm is None:
        pytest.skip("nm not available")
    m = load_extension(EXPF)
    symbols = subprocess.run([nm, "-D", m.__file__], capture_output=True, text=True,
                             check=True).stdout
    assert "_ZGV" in symbols and "expf" in symbols, symbols
    got = np.frombuffer(m.run(-3.0), dtype=np.float32)
    x = (-3.0 + 0.01 * np.arange(1024)).astype(np.float32)
    ref = np.exp(x.astype(np.float64))
    ulp = np.abs(got.astype(np.float64) - ref) / np.spacing(ref.astype(np.float32))
    assert ulp.max() <= 4  # glibc documents libmvec expf within 4 ulp


def test_blas_kernel_links_scipy_openblas(cache, real_cc):
    pytest.importorskip("scipy_openblas32")
    m = load_extension(SGEMM, uses_blas=True)
    assert m.mm() == (19.0, 22.0, 43.0, 50.0)
    meta = json.loads(read_bytes(m.__file__[:-3] + ".json"))
    assert any(a.startswith("-lscipy_openblas") for a in meta["command"])


def test_fast_math_module_does_not_flush_denormals_process_wide(tmp_path, monkeypatch):
    """Loading a fast_math kernel must not switch the process to flush-to-zero (regression:
    -ffast-math linked crtfastmath.o, and NumPy then computed 5e-324 * 1.0 == 0)."""
    import subprocess
    import sys
    code = (
        "import numpy as np\n"
        "from tracegrad.codegen.c.loader import load_extension\n"
        "src = '''#define PY_SSIZE_T_CLEAN\n#include <Python.h>\n"
        "static struct PyModuleDef m = {PyModuleDef_HEAD_INIT, \"TG_MODULE_NAME\", NULL, -1, NULL};\n"
        "PyMODINIT_FUNC PyInit_TG_MODULE_NAME(void) { return PyModule_Create(&m); }\n'''\n"
        "load_extension(src, fast_math=True)\n"
        "print(float((np.array([5e-324]) * 1.0)[0]))\n")
    env = dict(os.environ, TRACEGRAD_CACHE_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert float(out.stdout) == 5e-324
