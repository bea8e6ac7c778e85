"""Issue 13 items 3-5: transforms are built once per function identity (an inline
``tg.grad(f)(x)`` reuses the programs compiled the first time), ``static_argnums`` on every
transform, and the on-disk program cache that lets a new process skip the passes."""
from __future__ import annotations

import numpy as np
import pytest

import tracegrad as tg
from tracegrad.errors import ArgumentError

X = np.linspace(0.1, 1.0, 4)
W_SMALL = np.arange(4.0)          # read as a global by _reads_small
W_LARGE = np.ones(4096)           # above ARRAY_CRC_BYTES: keyed by identity only


def _reads_small(x):
    return np.sum(np.sin(x) * W_SMALL)


def _reads_large(x):
    return np.sum(x * W_LARGE[:4])


def _programs(g) -> int:
    return g.cache_info().misses


# --- item 3: gradients are built once -------------------------------------------------------
def test_inline_grad_in_a_loop_hits_the_cache():
    """tg.grad(lambda ...)(x) in a loop re-traced and recompiled on every call."""
    made = []
    for _ in range(5):
        g = tg.grad(lambda x: np.sum(np.tanh(x) * x))
        np.testing.assert_allclose(g(X), np.tanh(X) + X / np.cosh(X) ** 2, rtol=1e-12)
        made.append(g)
    assert all(g is made[0] for g in made)
    assert _programs(made[0]) == 1 and made[0].cache_info().hits == 4


def test_inline_transforms_of_every_kind_hit():
    def f(x):
        return np.sum(x ** 3)
    for transform in (tg.grad, tg.value_and_grad, tg.jacobian, tg.hessian):
        assert transform(f) is transform(f), transform.__name__
    for _ in range(3):
        tg.hvp(f, (X,), (X,))
        tg.jvp(f, (X,), (X,))
        tg.vjp(f, X)[1](1.0)
    info = tg.transform_cache_info()
    assert info.hits >= 6
    np.testing.assert_allclose(tg.hvp(f, (X,), (X,)), 6 * X * X)


def test_helper_redefined_per_call_hits():
    def step(x):
        def loss(y):  # a new function object each call: same code, same (empty) closure
            return np.sum(y * y)
        return tg.grad(loss)(x)
    step(X)
    g = tg.grad(lambda y: None)  # noqa: F841  (unrelated; keeps the anchor table busy)
    before = tg.transform_cache_info().misses
    for _ in range(3):
        np.testing.assert_allclose(step(X), 2 * X)
    assert tg.transform_cache_info().misses == before


@pytest.mark.parametrize("a,b", [(1.0, 2.0), (0.0, -0.0), (2, 3), ("x", "y")])
def test_closure_over_a_different_scalar_misses(a, b):
    def make(c):
        return tg.grad(lambda x: np.sum(x * x) * (2.0 if c in (2.0, -0.0, 3, "y") else 1.0)
                       * (np.copysign(1.0, c) if isinstance(c, float) else 1.0))
    ga, gb = make(a), make(b)
    assert ga is not gb
    assert ga is make(a)  # the same value hits
    sa = 2.0 if a in (2.0, -0.0, 3, "y") else 1.0
    sb = (2.0 if b in (2.0, -0.0, 3, "y") else 1.0) * (np.copysign(1.0, b)
                                                      if isinstance(b, float) else 1.0)
    np.testing.assert_allclose(ga(X), 2 * X * sa)
    np.testing.assert_allclose(gb(X), 2 * X * sb)


def test_closure_over_a_different_array_misses():
    def make(w):
        return tg.grad(lambda x: np.sum(x * w))
    w1, w2 = np.ones(4), np.full(4, 3.0)
    np.testing.assert_allclose(make(w1)(X), w1)
    np.testing.assert_allclose(make(w2)(X), w2)
    assert make(w1) is make(w1)
    g = make(np.full(4, 5.0))
    g(X)
    assert "closure variable 'w' changed: another array" in g.cache_info().miss_reasons[0]


def test_mutated_global_array_is_handled_as_documented():
    """Small arrays (<= ARRAY_CRC_BYTES) key their contents: mutated in place, the next
    tg.grad(f) traces again. Rebinding the name misses at any size. A large array mutated in
    place is not seen (the program keeps the values it was traced with, as a hoisted g)."""
    global W_SMALL, W_LARGE
    saved_small, saved_large = W_SMALL.copy(), W_LARGE
    try:
        np.testing.assert_allclose(tg.grad(_reads_small)(X), np.cos(X) * W_SMALL)
        W_SMALL[0] = 7.0
        g = tg.grad(_reads_small)
        np.testing.assert_allclose(g(X), np.cos(X) * W_SMALL)
        assert "global 'W_SMALL' changed: the same array, mutated in place" in \
            g.cache_info().miss_reasons[0]
        np.testing.assert_allclose(tg.grad(_reads_large)(X), W_LARGE[:4])
        W_LARGE[:4] = 2.0
        np.testing.assert_allclose(tg.grad(_reads_large)(X), 1.0)  # documented: stale
        W_LARGE = np.full(4096, 3.0)
        np.testing.assert_allclose(tg.grad(_reads_large)(X), 3.0)  # rebound: traced again
    finally:
        W_SMALL[:] = saved_small
        W_LARGE = saved_large


def test_closure_cell_rebound_after_creation_leaves_the_cache():
    a = 1.0
    g = tg.grad(lambda x: np.sum(x) * a)  # filed under a == 1.0
    a = 5.0  # rebound before the first call: g traces with 5.0
    np.testing.assert_allclose(g(X), 5.0)
    a = 1.0
    h = tg.grad(lambda x: np.sum(x) * a)
    assert h is not g
    np.testing.assert_allclose(h(X), 1.0)


def test_transform_cache_is_bounded(monkeypatch):
    monkeypatch.setenv("TRACEGRAD_TRANSFORM_CACHE_SIZE", "3")
    tg.transform_cache_clear()
    first = tg.grad(lambda x: np.sum(x) * 0.0)
    for k in range(1, 6):
        tg.grad(lambda x: np.sum(x) * k)
    info = tg.transform_cache_info()
    assert info.currsize == 3 and info.evictions >= 3 and info.maxsize == 3
    assert tg.grad(lambda x: np.sum(x) * 0.0) is not first


def test_transform_made_under_a_trace_is_not_cached():
    tg.transform_cache_clear()

    @tg.jit
    def outer(x):
        return tg.grad(lambda y: np.sum(y * x))(x)
    np.testing.assert_allclose(outer(X), X)
    assert tg.transform_cache_info().currsize == 0


def test_unhashable_transform_option_still_works():
    g = tg.grad(lambda x, y: np.sum(x * y), argnums=[0])  # a list: refused by the check
    with pytest.raises(tg.GradientError, match="argnums must be an int or a tuple"):
        g(X, X)


# --- item 4: static_argnums on every transform ----------------------------------------------
def _h(x, mode, s):
    return np.sum(x ** 2) * (2.0 if mode == "double" else 1.0) * s


@pytest.mark.parametrize("transform", [tg.grad, tg.value_and_grad, tg.jacobian])
def test_static_argnums_on_grad_like_transforms(transform):
    f = transform(_h, static_argnums=(1, 2))
    out = f(X, "double", 0.5)
    grad = out[1] if transform is tg.value_and_grad else out
    np.testing.assert_allclose(grad, 2 * X)
    out = f(X, "single", -0.0)  # -0.0 is its own static value (value_key), not 0.0
    grad = out[1] if transform is tg.value_and_grad else out
    assert np.all(np.signbit(grad[1:]))
    assert f.cache_info().misses == 2


def test_static_argnums_on_hessian_vjp_jvp_hvp():
    np.testing.assert_allclose(tg.hessian(_h, static_argnums=(1, 2))(X, "double", 0.5),
                               2 * np.eye(4))
    out, pull = tg.vjp(_h, X, "double", 0.5, static_argnums=(1, 2))
    gx, gm, gs = pull(1.0)
    np.testing.assert_allclose(gx, 2 * X)
    assert gm is None and gs is None
    np.testing.assert_allclose(out, np.sum(X ** 2))
    v, t = tg.jvp(_h, (X, "double", 0.5), (X, None, None), static_argnums=(1, 2))
    np.testing.assert_allclose(t, 2 * np.sum(X * X))
    np.testing.assert_allclose(tg.hvp(_h, (X, "double", 0.5), (X,), static_argnums=(1, 2)),
                               2 * X)


def test_jit_of_grad_with_static_argnums_traces_no_static_argument():
    """tg.jit(tg.grad(f), static_argnums=1)(x, "double") raised: the inner grad traced the
    string."""
    g = tg.jit(tg.grad(_h), static_argnums=(1, 2))
    np.testing.assert_allclose(g(X, "double", 0.5), 2 * X)
    np.testing.assert_allclose(g(X, "single", 0.5), X)
    hs = tg.jit(tg.hessian(_h), static_argnums=(1, 2))
    np.testing.assert_allclose(hs(X, "double", 0.5), 2 * np.eye(4))


def test_static_argnums_errors_name_the_problem():
    with pytest.raises(ArgumentError, match="both differentiated"):
        tg.grad(_h, static_argnums=0)(X, "a", 1.0)
    with pytest.raises(tg.TracegradError, match="unhashable"):
        tg.grad(_h, static_argnums=1)(X, ["a"], 1.0)


# --- item 5: the on-disk program cache ------------------------------------------------------
WARM_CHILD = r"""
import json, sys
import numpy as np
import tracegrad as tg

def loss(w, x):
    h = np.tanh(x @ w)
    return np.sum(h * h) + np.sum(np.exp(-w * w))

rng = np.random.default_rng(0)
w, x = rng.standard_normal((6, 3)), rng.standard_normal((5, 6))
low = tg.value_and_grad(loss).lower(w, x)
v, g = low.executable(w, x)
print(json.dumps({"cache": low.stats["program_cache"], "passes": sorted(low.stats["pass_seconds"]),
                  "times": sorted(low.stats["times"]), "value": float(v), "grad": g.tolist()}))
"""


def _child(tmp_path, script=WARM_CHILD, **env):
    import json
    import os
    import subprocess
    import sys
    full = {**os.environ, "TRACEGRAD_CACHE_DIR": str(tmp_path), "TRACEGRAD_PROGRAM_CACHE": "1",
            "TRACEGRAD_BACKEND": "numpy", **env}
    out = subprocess.run([sys.executable, "-c", script], env=full, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.splitlines()[-1])


def test_warm_start_in_a_new_process_skips_the_passes(tmp_path):
    cold = _child(tmp_path)
    warm = _child(tmp_path)
    assert cold["cache"] == "stored" and "fuse" in cold["passes"]
    assert warm["cache"] == "hit" and warm["passes"] == ["memplan"]  # the plan is re-made
    assert warm["times"] == ["codegen", "load", "passes", "trace"]
    assert warm["value"] == cold["value"] and warm["grad"] == cold["grad"]  # bit for bit
    off = _child(tmp_path, TRACEGRAD_PROGRAM_CACHE="0")
    assert off["cache"] == "off" and off["grad"] == cold["grad"]


def _loss(w):
    return np.sum(np.sin(w) * w)


W3 = np.linspace(-1, 1, 3)


@pytest.fixture
def program_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TRACEGRAD_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("TRACEGRAD_PROGRAM_CACHE", "1")
    return tmp_path / "programs"


def _compile():
    low = tg.jit(tg.grad(_loss), backend="numpy").lower(W3)
    np.testing.assert_allclose(low.executable(W3)[0], np.sin(W3) + W3 * np.cos(W3))
    return low.stats["program_cache"]


def _entry(directory):
    (entry,) = [p for p in directory.iterdir() if p.name.endswith(".json")]
    return entry


@pytest.mark.parametrize("damage", ["flip-a-byte", "truncate", "garbage", "group-writable",
                                    "symlink", "valid-checksum-bad-graph", "unknown-primitive"])
def test_a_corrupt_or_hostile_entry_is_ignored(program_cache, tmp_path, damage):
    import hashlib
    import json
    import os
    assert _compile() == "stored"
    assert _compile() == "hit"
    entry = _entry(program_cache)
    data = entry.read_bytes()
    head, _, body = data.partition(b"\n")
    if damage == "flip-a-byte":
        i = len(body) // 2
        entry.write_bytes(head + b"\n" + body[:i] + bytes([body[i] ^ 1]) + body[i + 1:])
    elif damage == "truncate":
        entry.write_bytes(data[:len(data) // 2])
    elif damage == "garbage":
        entry.write_bytes(b"\x00\xff" * 100)
    elif damage == "group-writable":
        os.chmod(entry, 0o666)
    elif damage == "symlink":
        target = tmp_path / "elsewhere.json"
        target.write_bytes(data)
        entry.unlink()
        entry.symlink_to(target)
    else:
        doc = json.loads(body)
        if damage == "unknown-primitive":
            doc["program"]["graph"]["eqns"][0][0] = "no_such_primitive"
        else:  # an output that names a variable the graph never defines
            doc["program"]["graph"]["out"] = [len(doc["program"]["vars"]) + 7]
        body = json.dumps(doc).encode()
        entry.write_bytes(hashlib.sha256(body).hexdigest().encode() + b"\n" + body)
    assert _compile() in ("stored", "not stored")  # refused, optimized again, right numbers


def test_a_symlinked_program_directory_is_not_used(program_cache, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    program_cache.symlink_to(elsewhere)
    assert _compile() == "not stored"
    assert list(elsewhere.iterdir()) == []


def test_program_cache_files_are_private(program_cache):
    import stat
    _compile()
    assert stat.S_IMODE(program_cache.stat().st_mode) == 0o700
    assert stat.S_IMODE(_entry(program_cache).stat().st_mode) == 0o600
    assert not [p for p in program_cache.iterdir() if p.name.startswith(".tmp-")]


def _roundtrip_text(graph):
    from tracegrad.printing import format_graph
    body = format_graph(graph, show_src=True)
    consts = [(e.prim.name, k, v.tobytes()) for e in graph.eqns for k, v in e.params.items()
              if isinstance(v, np.ndarray)]
    return body, consts, dict(graph.meta)


@pytest.mark.parametrize("backend", ["numpy", "c"])
def test_every_corpus_program_round_trips_through_the_program_format(backend):
    """The stored form is exact for every program of the gradient corpus (fused kernels,
    constants of any size, literals, source lines), traced and optimized alike: what the
    printer's text cannot do (big constants print as a digest; no meta, no source lines)."""
    from programs import PROGRAMS

    from tracegrad.api.program_cache import decode_graph, encode_graph
    big = np.linspace(-2, 2, 100)  # a constant the printer shows only as a digest
    extra = [("big-constant", lambda x: np.sum(np.tanh(x * big) * -0.0 + x * big),
              lambda r: (r.standard_normal(100),))]
    for name, fn, make_args in [(p.name, p.fn, p.make_args) for p in PROGRAMS] + extra:
        args = make_args(np.random.default_rng(0))
        low = tg.jit(tg.value_and_grad(fn), backend=backend).lower(*args)
        for graph in (low.traced_ir, low.ir):  # memplan is an analysis: ir is what is stored
            back = decode_graph(encode_graph(graph))
            tg.verify(back)
            assert _roundtrip_text(back) == _roundtrip_text(graph), name
            assert encode_graph(back) == encode_graph(graph), name


def test_a_hit_never_traces_a_function_whose_closure_moved():
    """A lambda made in a loop closes over the loop variable: once the loop ends, the first
    lambda's cell holds the last function. Run again, tg.grad(lambda) of the first case hit the
    first run's transform, which traced *its* lambda, i.e. the last case: every case got the last
    case's gradient (a silently wrong result). A hit now requires the entry's own function to
    still have the identity it was filed under."""
    import tracegrad as tg
    a = np.array([0.5, 1.0, 2.5])
    x = np.array([0.3, 2.0, 1.7])

    def run(backend):
        cases = [(lambda v: np.sin(a * v), a * np.cos(a * x)), (lambda v: np.exp(v + a),
                                                                  np.exp(x + a))]
        out = []
        for fn, want in cases:
            got = tg.jit(tg.grad(lambda v: fn(v).sum()), backend=backend)(x)
            out.append(np.allclose(got, want, rtol=1e-12))
        return out
    assert run("numpy") == [True, True]
    assert run("numpy") == [True, True]  # the second run hits the first run's entries
