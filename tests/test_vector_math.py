"""Accuracy of the C backend's vectorised math (glibc's libmvec through simd declarations,
no -ffast-math): the largest error in ulp over a sweep of each function's domain, against a
reference one precision higher (float64 for float32 results, long double for float64)."""
from __future__ import annotations

import numpy as np
import pytest

import tracegrad as tg
import tracegrad.numpy as tnp

from test_c_backend import needs_c

N = 20_001
FUNCS = {  # name: (function, domain)
    "exp": (np.exp, (-80, 80)), "exp2": (np.exp2, (-120, 120)), "expm1": (np.expm1, (-20, 20)),
    "log": (np.log, (1e-30, 1e30)), "log2": (np.log2, (1e-30, 1e30)),
    "log1p": (np.log1p, (-0.999, 1e6)), "sqrt": (np.sqrt, (0, 1e6)),
    "sin": (np.sin, (-100, 100)), "cos": (np.cos, (-100, 100)), "tan": (np.tan, (-1.5, 1.5)),
    "tanh": (np.tanh, (-20, 20)), "sinh": (np.sinh, (-80, 80)), "cosh": (np.cosh, (-80, 80)),
    "arcsin": (np.arcsin, (-1, 1)), "arccos": (np.arccos, (-1, 1)),
    "arctan": (np.arctan, (-1e4, 1e4)), "arcsinh": (np.arcsinh, (-1e4, 1e4)),
    "arccosh": (np.arccosh, (1, 1e4)), "arctanh": (np.arctanh, (-0.999, 0.999)),
    "erf": (tnp.erf, (-6, 6)), "sigmoid": (tnp.sigmoid, (-80, 80)),
}
# libmvec's documented bound is 4 ulp; sigmoid is composed (exp, divide, select) and may add
# one rounding on top.
BOUND = {"sigmoid": 6}


def _reference(name, x, dtype):
    from scipy.special import erf, expit
    wide = np.longdouble if dtype == np.float64 else np.float64
    xw = x.astype(wide)
    if name == "erf":
        return erf(x.astype(np.float64)).astype(dtype)  # no long-double erf: float64 reference
    if name == "sigmoid":
        return expit(xw).astype(dtype)
    return getattr(np, name)(xw).astype(dtype)


def _ulp_error(got, want):
    """Largest |got - want| in units of the result dtype's spacing at ``want``."""
    spacing = np.spacing(np.abs(want)).astype(np.float64)  # in got's (= want's) dtype
    got, want = got.astype(np.float64), want.astype(np.float64)
    finite = np.isfinite(want) & np.isfinite(got)
    err = np.abs(got - want)[finite] / np.maximum(spacing[finite], np.finfo(np.float64).tiny)
    return float(err.max()) if err.size else 0.0


@needs_c
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name", sorted(FUNCS))
def test_max_ulp_error_over_a_sweep(name, dtype):
    fn, (lo, hi) = FUNCS[name]
    x = np.linspace(lo, hi, N).astype(dtype)
    if name in ("log", "log2"):
        x = np.geomspace(lo, hi, N).astype(dtype)
    got = tg.jit(lambda v: fn(v), backend="c")(x)
    if name == "erf" and dtype == np.float64:
        bound = 4
    else:
        bound = BOUND.get(name, 4)
    err = _ulp_error(got, _reference(name, x, dtype))
    print(f"{name} {np.dtype(dtype).name}: max {err:.2f} ulp")
    assert err <= bound, f"{name} {np.dtype(dtype).name}: {err:.2f} ulp (bound {bound})"
