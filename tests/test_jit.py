"""``tracegrad.jit``: pytree arguments and results, static arguments, the per-signature cache
(hits, misses and why), ``lower()`` (IR, commented source, stats), ``make_ir`` stages, and
tracebacks through generated code.
"""
from __future__ import annotations

import collections
import linecache
import os
import re
import traceback

import numpy as np
import pytest

import tracegrad as tg

rng = np.random.default_rng(7)
X = rng.standard_normal((3, 4))
Y = rng.standard_normal((3, 4))
Point = collections.namedtuple("Point", "x y")

HERE = os.path.basename(__file__)


def line_of(marker: str) -> int:
    """Line number (1-based) of the line in this file that ends with ``# marker``."""
    with open(__file__) as fh:
        for n, text in enumerate(fh, 1):
            if text.rstrip().endswith(f"# {marker}"):
                return n
    raise AssertionError(marker)


def jit(fn=None, **kw):
    kw.setdefault("backend", "numpy")
    return tg.jit(fn, **kw) if fn is not None else tg.jit(**kw)


# --- pytrees --------------------------------------------------------------------------------
PYTREE_CASES = [
    pytest.param(lambda t: t[0] * t[1], ((X, Y),), id="tuple-in"),
    pytest.param(lambda xs: xs[0] - xs[1], ([X, Y],), id="list-in"),
    pytest.param(lambda d: d["a"] + d["b"] * 2, ({"b": Y, "a": X},), id="dict-in"),
    pytest.param(lambda p: p.x * p.y, (Point(X, Y),), id="namedtuple-in"),
    pytest.param(lambda n: n["w"][0] @ n["w"][1].T + n["b"][1]["c"],
                 ({"w": (X, Y), "b": [None, {"c": 1.5}]},), id="nested-in"),
    pytest.param(lambda x, y: (x + y, x - y), (X, Y), id="tuple-out"),
    pytest.param(lambda x, y: [x, [y, x * y]], (X, Y), id="list-out"),
    pytest.param(lambda x, y: {"sum": x + y, "prod": x * y, "none": None}, (X, Y), id="dict-out"),
    pytest.param(lambda x, y: Point(x.sum(), y.max(axis=0)), (X, Y), id="namedtuple-out"),
    pytest.param(lambda p: {"p": Point(p.y, (p.x, [p.x + 1]))}, (Point(X, Y),), id="nested-out"),
    pytest.param(lambda x: (), (X,), id="empty-out"),
]


def _tree_assert_equal(got, want):
    if isinstance(want, (tuple, list, dict)) or want is None:
        assert type(got) is type(want)
    if isinstance(want, dict):
        assert sorted(got) == sorted(want)
        for k in want:
            _tree_assert_equal(got[k], want[k])
    elif isinstance(want, (tuple, list)):
        assert len(got) == len(want)
        for g, w in zip(got, want):
            _tree_assert_equal(g, w)
    elif want is None:
        assert got is None
    else:
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=1e-12)


@pytest.mark.parametrize("fn,args", PYTREE_CASES)
def test_pytree_arguments_and_results(fn, args):
    _tree_assert_equal(jit(fn)(*args), fn(*args))


def test_python_number_results_become_0d_arrays():
    got = jit(lambda x: (x, 2, 3.5, True, np.float32(1.5), np.int32(7), np.sum([1.0, 2.0])))(X)
    assert [g.dtype for g in got[1:]] == [np.int64, np.float64, np.bool_, np.float32, np.int32,
                                          np.float64]
    assert [g.item() for g in got[1:]] == [2, 3.5, True, 1.5, 7, 3.0]


def test_dict_insertion_order_does_not_retrace():
    f = jit(lambda d: d["a"] - d["b"])
    np.testing.assert_allclose(f({"a": X, "b": Y}), X - Y)
    np.testing.assert_allclose(f({"b": Y, "a": X}), X - Y)
    assert (f.cache_info().hits, f.cache_info().misses) == (1, 1)


def test_keyword_arguments_are_traced():
    f = jit(lambda x, scale=1.0: x * scale)
    np.testing.assert_allclose(f(X, scale=3.0), X * 3.0)
    np.testing.assert_allclose(f(X, scale=4.0), X * 4.0)  # same signature: a hit
    np.testing.assert_allclose(f(X), X)
    info = f.cache_info()
    assert (info.hits, info.misses) == (1, 2)
    assert "pytree structure changed" in info.miss_reasons[-1]


def test_outputs_are_fresh_writable_arrays():
    f = jit(lambda x: (x, x * 1.0))
    a, b = f(X)
    assert a is not X and not np.shares_memory(a, X)
    a[0, 0] = 100.0
    b[0, 0] = 100.0
    np.testing.assert_allclose(f(X)[0], X)


# --- static arguments -----------------------------------------------------------------------
def _scaled(x, n, mode):
    return x * n if mode == "mul" else x + n


def test_static_values_are_part_of_the_cache_key():
    f = jit(_scaled, static_argnums=(1, 2))
    np.testing.assert_allclose(f(X, 2, "mul"), X * 2)
    np.testing.assert_allclose(f(X, 2, "add"), X + 2)
    np.testing.assert_allclose(f(X, 3, "add"), X + 3)
    np.testing.assert_allclose(f(X, 3, "add"), X + 3)
    info = f.cache_info()
    assert (info.hits, info.misses, info.currsize) == (1, 3, 3)
    assert info.miss_reasons == ["first call", "static argument 2 changed: 'mul' -> 'add'",
                                 "static argument 1 changed: 2 -> 3"]


def test_static_value_type_is_part_of_the_key():
    f = jit(lambda x, n: x * n if isinstance(n, int) else x - n, static_argnums=1)
    np.testing.assert_allclose(f(X, 2), X * 2)
    np.testing.assert_allclose(f(X, 2.0), X - 2.0)  # 2 == 2.0, but the function tells them apart
    assert "int 2 -> float 2.0" in f.cache_info().miss_reasons[-1]


def test_static_argument_by_keyword_and_default():
    def f(x, power=2):
        return x ** power if power > 0 else -x   # `if` on a static value is fine
    g = jit(f, static_argnums=1)
    np.testing.assert_allclose(g(X), X ** 2)
    np.testing.assert_allclose(g(X, power=3), X ** 3)
    np.testing.assert_allclose(g(X, 3), X ** 3)
    np.testing.assert_allclose(g(X, power=-1), -X)
    assert g.cache_info().misses == 4  # keyword and positional 3 are distinct keys


def test_negative_static_argnums():
    f = jit(_scaled, static_argnums=(-1, -2))
    np.testing.assert_allclose(f(X, 2, "mul"), X * 2)


@pytest.mark.parametrize("value,what", [([1, 2], "unhashable"), ({"a": 1}, "unhashable"),
                                        (np.ones(2), "is an array")], ids=["list", "dict", "array"])
def test_bad_static_argument(value, what):
    f = jit(lambda x, s: x, static_argnums=1)
    with pytest.raises(tg.TracegradError, match=what):
        f(X, value)


def test_static_argnums_out_of_range():
    f = jit(lambda x: x, static_argnums=3)
    with pytest.raises(tg.TracegradError, match="out of range"):
        f(X)


def test_static_argnums_must_be_ints():
    with pytest.raises(tg.TracegradError, match="must be ints"):
        jit(lambda x: x, static_argnums=("x",))


# --- re-tracing -----------------------------------------------------------------------------
def test_retrace_reasons():
    f = jit(lambda p, s: p[0] * s + p[1])
    f(Point(X, Y), 2.0)
    f(Point(X, Y), 3.0)                                  # hit: weak scalars key on dtype only
    f(Point(X, Y), 3)                                    # Python int: new dtype
    f(Point(X.astype(np.float32), Y), 3)                 # dtype of a leaf
    f(Point(X[:2], Y[:2]), 3)                            # shape
    f(Point(X[:2], Y[:2]), np.asarray(3))                # Python scalar -> array
    f((X, Y), 3)                                         # structure (tuple, not Point)
    f(Point(X[:2], Y[:2]), 3)                            # seen before: a hit
    info = f.cache_info()
    assert (info.hits, info.misses, info.currsize) == (2, 6, 6)
    assert info.miss_reasons == [
        "first call",
        "dtype of s changed: float64 -> int64",
        "dtype of p.x changed: float64 -> float32",
        "shape of p.x changed: (3, 4) -> (2, 4)",
        "s changed from a Python scalar to an array",
        "pytree structure changed: ((Point(*, *), *), {}) -> (((*, *), *), {})",
    ]


def test_retraced_entries_give_right_answers():
    f = jit(lambda x: (x * 2).sum(axis=0))
    for shape, dtype in [((3, 4), np.float64), ((5,), np.float64), ((3, 4), np.float32),
                         ((2, 2), np.int32), ((3, 4), np.float64)]:
        x = rng.standard_normal(shape).astype(dtype)
        got = f(x)
        want = (x * 2).sum(axis=0)
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-6)
    assert f.cache_info().hits == 1


def test_fast_path_keys_on_shape_and_dtype():
    f = jit(lambda x, y: x * 2 + y)
    a, b = rng.standard_normal(3), rng.standard_normal(4)
    for x in (a, b, a, b.astype(np.float32), b, a[None]):
        got = f(x, x)
        np.testing.assert_allclose(got, x * 2 + x, rtol=1e-6)
        assert got.dtype == x.dtype and got.shape == x.shape
    info = f.cache_info()
    assert (info.hits, info.misses) == (2, 4)
    f(a, 1.0)                       # a Python scalar takes the general path, same cache
    f(a, 2.0)
    assert (f.cache_info().hits, f.cache_info().misses) == (3, 5)


def test_cache_clear():
    f = jit(lambda x: x + 1)
    f(X)
    f.cache_clear()
    f(X)
    assert (f.cache_info().hits, f.cache_info().misses) == (0, 1)


def test_failed_trace_is_not_cached():
    f = jit(lambda x: x.reshape(5, 5))
    for _ in range(2):
        with pytest.raises(tg.ShapeError):
            f(X)
    assert f.cache_info().currsize == 0


def test_decorator_forms():
    @tg.jit
    def f(x):
        return x * 2

    @tg.jit(backend="numpy", static_argnums=1)
    def g(x, k):
        return x * k

    np.testing.assert_allclose(f(X), X * 2)
    np.testing.assert_allclose(g(X, 3), X * 3)
    assert f.__name__ == "f" and g.__name__ == "g"


def test_jit_inside_jit_is_inlined():
    inner = jit(lambda x: np.sin(x) * 2)
    outer = jit(lambda x: inner(x) + inner(x * 2))
    np.testing.assert_allclose(outer(X), np.sin(X) * 2 + np.sin(X * 2) * 2, rtol=1e-12)
    assert inner.cache_info().misses == 0  # traced through, not compiled separately
    names = [e.prim.name for e in tg.make_ir(outer, stage="traced")(X).eqns]
    assert names.count("sin") == 2


# --- lower(), make_ir ------------------------------------------------------------------------
def _lowered_fn(x, y):
    z = np.tanh(x * y)  # lowered-line-a
    return np.sum(z + np.exp(-y), axis=0)  # lowered-line-b


def test_lower_ir_source_and_stats():
    f = jit(_lowered_fn)
    lo = f.lower(X, Y)
    assert isinstance(lo.ir, tg.Graph)
    tg.verify(lo.ir)
    assert str(lo.ir).startswith("{ lambda a:f64[3,4] b:f64[3,4] .")
    # every equation gets a line of generated code whose comment is the equation and the
    # user's line (whatever the pipeline fused or reordered)
    a, b = line_of("lowered-line-a"), line_of("lowered-line-b")
    seen = {}
    for ln in lo.source.splitlines():
        m = re.search(r"# \w+:\w+\[[\d,]*\] = (\w+).*\((\S+)\)$", ln)
        if m:
            seen.setdefault(m.group(1), set()).add(m.group(2))
    assert {"mul", "tanh", "neg", "exp", "add", "reduce_sum"} <= set(seen), lo.source
    assert seen["tanh"] == {f"{HERE}:{a}"} and seen["exp"] == {f"{HERE}:{b}"}
    stats = lo.stats
    for key in ("eqns", "kernels", "peak_bytes", "flops"):
        assert key in stats
    assert stats["eqns"]["traced"] == 6
    assert stats["kernels"] >= 1 and stats["peak_bytes"] >= 0 and stats["flops"] >= 5 * 12
    # lowering the cached signature again compiles nothing, and the call then hits
    assert f.lower(X, Y) is lo
    f(X, Y)
    assert (f.cache_info().misses, f.cache_info().hits) == (1, 1)


def test_traced_ir_lists_the_operations_in_order():
    ir = tg.make_ir(_lowered_fn, stage="traced")(X, Y)
    assert [e.prim.name for e in ir.eqns] == ["mul", "tanh", "neg", "exp", "add", "reduce_sum"]
    assert {e.src for e in ir.eqns} == {f"{HERE}:{line_of('lowered-line-a')}",
                                        f"{HERE}:{line_of('lowered-line-b')}"}


def test_lower_static_arguments():
    lo = jit(_scaled, static_argnums=(1, 2)).lower(X, 5, "mul")
    assert "5" in str(lo.ir) and len(lo.ir.inputs) == 1


def test_make_ir_stages():
    def f(x):
        unused = np.cos(x)  # noqa: F841  (dead code: traced, then removed)
        return np.sin(x) * 2

    traced = tg.make_ir(f, stage="traced")(X)
    optimized = tg.make_ir(f, stage="optimized")(X)
    assert [e.prim.name for e in traced.eqns] == ["cos", "sin", "mul"]
    tg.verify(optimized)
    assert "sin" in str(optimized) and "cos" not in str(optimized)  # dead code is gone
    with pytest.raises(tg.TracegradError, match="stage"):
        tg.make_ir(f, stage="bogus")


def test_make_ir_static_argnums():
    ir = tg.make_ir(_scaled, stage="traced", static_argnums=(1, 2))(X, 2, "add")
    assert [e.prim.name for e in ir.eqns] == ["add"]


# --- tracebacks through generated code ------------------------------------------------------
def test_traceback_shows_generated_line():
    f = jit(lambda x, i: x[i] * 2)  # traced-index-line
    with pytest.raises(IndexError) as info:
        f(X, np.array([7]))  # out of range: only the running code can know
    text = "".join(traceback.format_exception(info.value))
    assert "<tracegrad-numpy:" in text
    assert "rt.gather(" in text  # the generated line itself, through linecache
    assert f"{HERE}:{line_of('traced-index-line')}" in text  # and its comment names our line
    frame_file = [fr.filename for fr in traceback.extract_tb(info.value.__traceback__)
                  if fr.filename.startswith("<tracegrad-numpy:")][0]
    assert linecache.getlines(frame_file)  # the source stays available to debuggers
