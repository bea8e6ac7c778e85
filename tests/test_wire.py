"""Compiled functions travel (issue 20, item 1): jit functions, transforms and tg.compile steps
pickle (plain pickle and cloudpickle) as recipe + traced graphs; a fresh process rebuilds them
without tracing, through its own caches, and computes the sender's bits."""
from __future__ import annotations

import os
import pickle
import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
from c_support import needs_c

import tracegrad as tg
from tracegrad.api import wire

MODULE = '''
import numpy as np
import tracegrad as tg

def loss(w, x, y):
    return np.mean((np.tanh(x @ w) - y) ** 2)

def powered(x, n, scale=1.0):
    return scale * x ** n


@tg.jit
def decorated(x):
    return np.sin(x) * 2.0 + np.cumsum(x, axis=0)
'''


@pytest.fixture
def wire_module(tmp_path, monkeypatch):
    """A user module importable here and in a child process (functions pickle by name)."""
    (tmp_path / "wire_user_mod.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    sys.modules.pop("wire_user_mod", None)
    import wire_user_mod
    yield wire_user_mod
    sys.modules.pop("wire_user_mod", None)


def _args():
    rng = np.random.default_rng(0)
    return rng.normal(size=(3, 2)), rng.normal(size=(7, 3)), rng.normal(size=(7, 2))


CHILD = textwrap.dedent('''
    import pickle, sys
    import numpy as np
    import tracegrad.api.jit as jit_mod
    def no_trace(*a, **k):
        raise AssertionError("the receiver traced: the shipped program was not used")
    jit_mod.trace = no_trace
    with open(sys.argv[1], "rb") as f:
        fns, calls = pickle.load(f)
    out = [fn(*args) for fn, args in zip(fns, calls)]
    try:
        import cloudpickle as dumper  # lambdas shipped by value go back the same way
    except ImportError:
        dumper = pickle
    again = pickle.loads(dumper.dumps(fns[0]))
    assert again is fns[0], "unpickled twice in one process: two objects"
    info = [fn.cache_info().misses for fn in fns]
    with open(sys.argv[2], "wb") as f:
        pickle.dump((out, info), f)
''')


def _run_child(tmp_path, payload: bytes):
    src, dst = tmp_path / "in.pkl", tmp_path / "out.pkl"
    src.write_bytes(payload)
    subprocess.run([sys.executable, "-c", CHILD, str(src), str(dst)], check=True,
                   timeout=120, env=os.environ.copy())
    return pickle.loads(dst.read_bytes())


def _tree_equal(a, b) -> bool:
    la, ta = tg.pytree.tree_flatten(a)
    lb, tb = tg.pytree.tree_flatten(b)
    return ta == tb and all(np.asarray(x).tobytes() == np.asarray(y).tobytes()
                            for x, y in zip(la, lb))


def test_pickled_functions_rebuild_in_a_new_process_without_tracing(tmp_path, wire_module):
    w, x, y = _args()
    fns = [tg.value_and_grad(wire_module.loss), tg.grad(wire_module.loss, argnums=(0, 1)),
           tg.jit(tg.value_and_grad(wire_module.loss)), wire_module.decorated,
           tg.jit(wire_module.loss, static_argnums=()),
           tg.jit(wire_module.powered, static_argnums=(1,)),
           tg.grad(wire_module.powered)]  # a Python int argument is static in transforms
    calls = [(w, x, y), (w, x, y), (w, x, y), (x,), (w, x, y), (x, 3), (x[0, 0], 2)]
    expect = [fn(*args) for fn, args in zip(fns, calls)]
    out, misses = _run_child(tmp_path, pickle.dumps((fns, calls)))
    for got, want in zip(out, expect):
        assert _tree_equal(got, want)
    assert misses == [1] * len(fns)  # one compile per signature in the receiver


def test_cloudpickle_ships_lambdas_and_closures_by_value(tmp_path):
    cloudpickle = pytest.importorskip("cloudpickle")
    scale = 3.0
    f = tg.jit(lambda a: np.exp(a) * scale)
    g = tg.value_and_grad(lambda a, b: np.sum(np.tanh(a * b)))
    a = np.linspace(-1, 1, 5)
    expect = [f(a), g(a, a + 1)]
    out, misses = _run_child(tmp_path, cloudpickle.dumps(([f, g], [(a,), (a, a + 1)])))
    assert all(_tree_equal(o, e) for o, e in zip(out, expect))
    assert misses == [1, 1]


def test_new_signature_on_the_receiver_traces_from_the_shipped_function(wire_module):
    vg = tg.value_and_grad(wire_module.loss)
    w, x, y = _args()
    vg(w, x, y)
    state = pickle.dumps(vg)
    wire._REBUILT.clear()
    back = pickle.loads(state)
    assert back is vg  # same process: the transform cache hands the same object back
    v, g = back(w, x[:3], y[:3])  # a shape never compiled by the sender
    v2, g2 = tg.value_and_grad(wire_module.loss)(w, x[:3], y[:3])
    assert v == v2 and np.array_equal(g, g2)


def test_a_damaged_shipped_graph_is_refused_and_traced_again(wire_module):
    """The payload is data, checked before use: a graph naming an unknown primitive is never
    compiled; the receiver warns and traces the function itself."""
    w, x, y = _args()
    vg = tg.jit(wire_module.loss)
    want = vg(w, x, y)
    fn, (_, state) = vg.__reduce__()
    sig, text, out_tree, checks = state["entries"][0]
    state = dict(state, id="damaged-" + state["id"],
                 entries=[(sig, text.replace('"tanh"', '"os.system"'), out_tree, checks)])
    assert '"os.system"' in state["entries"][0][1]
    back = fn(("jit", wire_module.loss, "auto", (), (), None), state)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = back(w, x, y)
    assert any("did not decode" in str(c.message) for c in caught)
    assert got.tobytes() == want.tobytes()


def test_unpicklable_transforms_say_what_travels():
    fwd = tg.api.transform_function.TransformFunction(lambda a: a)
    with pytest.raises(tg.TracegradError, match="only tg.jit, tg.grad"):
        pickle.dumps(fwd)


def test_compiled_step_pickles_with_its_model(tmp_path):
    cloudpickle = pytest.importorskip("cloudpickle")
    tg.manual_seed(0)
    model = tg.nn.Linear(4, 1)
    opt = tg.optim.SGD(model.parameters(), lr=0.1)

    @tg.compile
    def step(x, y):
        opt.zero_grad()
        loss = ((model(x) - y) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    x, y = tg.ones(8, 4), tg.zeros(8, 1)
    step(x, y)
    copy = cloudpickle.loads(cloudpickle.dumps(step))
    a = [step(x, y).item() for _ in range(3)]
    b = [copy(x, y).item() for _ in range(3)]
    assert a == b  # the copy trains its own copy of the model from the same state


def test_import_tracegrad_loads_no_dask():
    code = ("import sys, tracegrad\n"
            "bad = [m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed') "
            "or m == 'tracegrad.distributed']\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.mark.parametrize("backend", ["numpy", pytest.param("c", marks=needs_c)])
def test_shipped_names_and_source_lines_reach_generated_code_quoted(wire_module, backend):
    """A payload is as untrusted as a user's names: variable hints and source lines crafted to
    break out of a comment land in the generated source inside comments (safe_text)."""
    import json
    w, x, y = _args()
    vg = tg.jit(wire_module.loss, backend=backend)
    want = vg(w, x, y)
    fn, (_, state) = vg.__reduce__()
    sig, text, out_tree, checks = state["entries"][0]
    doc = json.loads(text)
    evil = "x\n__import__('os').system('echo pwned') # */ system(\"id\"); /*"
    for v in doc["vars"]:
        v[1] = evil
    for e in doc["graph"]["eqns"]:
        e[4] = evil
    state = dict(state, id=f"evil-{backend}-" + state["id"],
                 entries=[(sig, json.dumps(doc), out_tree, checks)])
    back = fn(("jit", wire_module.loss, backend, (), (), None), state)
    assert back(w, x, y).tobytes() == want.tobytes()
    source = back.lower(w, x, y).source
    assert "system(" in source  # it did reach the source, as a comment
    for line in source.splitlines():
        if "system(" in line:
            before = line.split("system(")[0]
            if backend == "numpy":
                assert "#" in before, line
            else:  # inside a /* */ comment that the text could not close
                assert before.rfind("/*") > before.rfind("*/"), line


@needs_c
def test_c_programs_rebuild_in_the_receiver_with_the_senders_bits(tmp_path, wire_module):
    """backend='c': the receiver builds (or loads from its kernel cache) its own module from the
    shipped graph; same thread count, same bits."""
    w, x, y = _args()
    fns = [tg.jit(tg.value_and_grad(wire_module.loss), backend="c")]
    expect = [fns[0](w, x, y)]
    out, misses = _run_child(tmp_path, pickle.dumps((fns, [(w, x, y)])))
    assert _tree_equal(out[0], expect[0]) and misses == [1]
