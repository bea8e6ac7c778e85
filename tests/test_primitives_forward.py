"""Every primitive, through every path that runs it, agrees with NumPy on every row of cases.py.

Paths: ``tracegrad.jit(backend="numpy")`` (pass pipeline + generated code), the generated code of
the traced graph on its own (the primitive's NumPy lowering in isolation, before any pass could
fold it away), and the reference interpreter ``eval_graph(check=True)`` on both graphs (its
``impl``, with every intermediate held to the declared aval). Results must have NumPy's dtype
and shape exactly.
"""
from __future__ import annotations

import warnings
import zlib

import numpy as np
import pytest

import tracegrad
from tracegrad.codegen.executable import NumpyExecutable
from tracegrad.interpreter import eval_graph

from cases import CASES, FLOAT, make_args, shapes_id

# float64: rtol 1e-12 as promised; the tiny atol only matters where a sum cancels to nearly zero
# and NumPy's reference sums in another order (einsum vs matmul, pairwise vs sequential).
# float32: rtol/atol 1e-5, about 100 ulps: references such as sigmoid (1/(1+exp(-x)) vs the
# overflow-free logaddexp form) and erf (math.erf in double, then rounded) are other formulas,
# and contractions sum in another order.
TOL = {np.dtype("float64"): dict(rtol=1e-12, atol=1e-13),
       np.dtype("float32"): dict(rtol=1e-5, atol=1e-5),
       np.dtype("complex128"): dict(rtol=1e-12, atol=1e-13),
       np.dtype("complex64"): dict(rtol=1e-5, atol=1e-5)}

PARAMS = [pytest.param(case, shape_set, dtype,
                       id=f"{case.id}-{shapes_id(shape_set)}-{dtype}")
          for case in CASES for shape_set in case.shapes for dtype in case.dtypes]


def rng_for(*parts) -> np.random.Generator:
    """A generator seeded from the test id, so each test draws the same inputs every run."""
    return np.random.default_rng(zlib.crc32("/".join(map(str, parts)).encode()))


def as_list(out) -> list:
    return list(out) if isinstance(out, (tuple, list)) else [out]


def assert_matches(got, want, what: str) -> None:
    """Same dtype and shape; floats within TOL, ints and bools exactly."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype}, NumPy gives {want.dtype}"
    assert got.shape == want.shape, f"{what}: shape {got.shape}, NumPy gives {want.shape}"
    if want.dtype.kind in "fc":
        np.testing.assert_allclose(got, want, equal_nan=True, err_msg=what, **TOL[want.dtype])
    else:
        np.testing.assert_array_equal(got, want, err_msg=what)


def reference(case, args) -> list[np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a domain that produces NaN/overflow is a table bug
        return [np.asarray(r) for r in as_list(case.numpy_ref(*[a.copy() for a in args]))]


@pytest.mark.parametrize("case, shape_set, dtype", PARAMS)
def test_forward_matches_numpy(case, shape_set, dtype):
    args = make_args(case, shape_set, dtype, rng_for(case.id, shape_set, dtype))
    originals = [a.copy() for a in args]
    want = reference(case, args)

    jitted = tracegrad.jit(case.fn, backend="numpy")
    got_jit = as_list(jitted(*args))
    lowered = jitted.lower(*args)
    graph, traced = lowered.ir, lowered.traced_ir
    tracegrad.verify(graph)
    tracegrad.verify(traced)
    # the row really exercises its primitive (lax wrappers drop identity operations)
    assert case.prim in {e.prim.name for e in traced.eqns}, str(traced)
    assert [(a.shape, a.dtype) for a in graph.out_avals] == [(w.shape, w.dtype) for w in want]

    # the generated function's own return values, before the executable's final dtype cast,
    # so a lowering that returns the wrong dtype cannot hide behind it
    raw = as_list(NumpyExecutable(traced)._fn(*args))
    paths = {"jit": got_jit, "generated code": raw,
             "interpreter": eval_graph(graph, args, check=True),
             "interpreter (traced graph)": eval_graph(traced, args, check=True)}
    for path, got in paths.items():
        assert len(got) == len(want), path
        for i, (g, w) in enumerate(zip(got, want)):
            assert_matches(g, w, f"{path}, output {i}")
    for a, o in zip(args, originals):  # no path may write into its arguments
        np.testing.assert_array_equal(a, o)


def _linear_params():
    out = []
    for case in CASES:
        if not case.linear_args or not any(d in FLOAT for d in case.dtypes):
            continue
        shape_set = max(case.shapes, key=lambda s: sum(np.prod(x, dtype=int) for x in s))
        groups = [(i,) for i in case.linear_args] if case.bilinear else [case.linear_args]
        for g in groups:
            out.append(pytest.param(case, shape_set, g,
                                    id=f"{case.id}-args{''.join(map(str, g))}"))
    return out


@pytest.mark.parametrize("case, shape_set, argnums", _linear_params())
def test_linear_args_are_linear(case, shape_set, argnums):
    """The table's ``linear_args`` claim holds: with u, v drawn for the listed arguments (the
    others fixed), f(a*u + b*v) = a*f(u) + b*f(v)."""
    dtype = "float64"
    rng = rng_for("linear", case.id, argnums)
    args = make_args(case, shape_set, dtype, rng)
    other = make_args(case, shape_set, dtype, rng)
    f = tracegrad.jit(case.fn, backend="numpy")

    def at(source):
        a = list(args)
        for i in argnums:
            a[i] = np.asarray(source[i], dtype=args[i].dtype)
        return [np.asarray(o) for o in as_list(f(*a))]

    alpha, beta = 0.75, -1.5
    mixed = {i: alpha * args[i] + beta * other[i] for i in argnums}
    lhs = at(mixed)
    rhs = [alpha * u + beta * v for u, v in zip(at(args), at(other))]
    for x, y in zip(lhs, rhs):
        tol = TOL[x.dtype] if x.dtype in TOL else dict(rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(x, y, rtol=tol["rtol"], atol=max(tol["atol"], 1e-12))
