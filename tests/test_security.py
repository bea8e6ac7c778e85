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
import importlib.util
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tracegrad as tg
from tracegrad.codegen import c_runtime
from tracegrad.codegen.c_emit import emit_c
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
        c_runtime._compiler(c_runtime._cc_setting())
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
    with pytest.raises(TypeError, match=r"^[A-Za-z_][A-Za-z0-9_]*: expected \d+ arrays, got 0"):
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
    for src, consts in (emit_numpy(g, h), emit_numpy_planned(g, None, h)[:2]):
        _check_python_source(src)
        ns = {"np": np, "rt": __import__("tracegrad.prims.np_helpers").prims.np_helpers,
              "_views": None, **consts}
        exec(compile(src, "<test>", "exec"), ns)
        assert np.allclose(ns[py_ident(h)](x, y)[0], want)
    prog = emit_c(g, h)
    _check_c_source(prog.source)
    names = re.findall(r'PyErr_Format\(PyExc_\w+, "([^"]*?): ', prog.source)
    assert len(names) == 2 and all(IDENT.match(n) for n in names), names


def test_emitted_c_with_hostile_sources_compiles_and_runs(in_tmp, has_cc):
    from tracegrad.codegen.c_executable import CExecutable
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
    function body's statements are assignments and one return, nothing else."""
    tree = ast.parse(src)
    fns = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
    assert len(fns) == 1 and len(tree.body) == 1
    for stmt in fns[0].body:
        assert isinstance(stmt, (ast.Assign, ast.Return, ast.Expr)), ast.dump(stmt)
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
