"""Wrong results of the C backend reported from outside (issue 11 items 6, 7, 8e), each as the
input that showed it, plus checks of the mechanism behind it (in codegen/c/alias.py and
codegen/c/lowerings.py).

* a kernel result placed in the slot of an operand the kernel reads through a broadcast
  (``c + sum(-x * R, 1)``: garbage for k >= 127);
* an operand written in place declared ``restrict`` (two gradients of a bundle-adjustment
  projection in one function: GCC merged their identical kernels and the second was off);
* ``x ** 0.5`` computed with pow, not as NumPy does (sqrt for a uniform exponent);
* a float32 program computing in float64: the float64 math functions were not declared.
"""
from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
from c_source_check import restrict_violations

import tracegrad as tg
from c_support import needs_c

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def _rel_err(got, ref) -> float:
    got, ref = np.asarray(got), np.asarray(ref)
    return float(np.max(np.abs(got - ref)) / max(np.max(np.abs(ref)), 1e-300))


# --- item 7: GradBench llsq on C ------------------------------------------------------------
def _llsq_residual(x, R, c):
    return c + np.sum(-x * R, axis=1)


@needs_c
@pytest.mark.parametrize("k", [2, 64, 127, 128, 129, 200])
def test_llsq_negated_row_sum_matches_numpy(k):
    rng = np.random.default_rng(k)
    x, R, c = rng.standard_normal(k), rng.standard_normal((k, k)), rng.standard_normal(k)
    got = tg.jit(_llsq_residual, backend="c")(x, R, c)
    assert _rel_err(got, _llsq_residual(x, R, c)) < 1e-13


@needs_c
def test_broadcast_reading_kernel_gets_its_own_slot():
    """The mechanism of the llsq failure: the fused kernel reads ``-x`` whole for every row,
    so its result may not take ``-x``'s slot."""
    from tracegrad.codegen.c import emit as c_emit
    from tracegrad.codegen.c.alias import separate_unsafe

    k = 150
    x, R, c = np.ones(k), np.ones((k, k)), np.ones(k)
    graph = tg.jit(_llsq_residual, backend="c").lower(x, R, c).executable.graph
    plan = c_emit.plan_c(graph, check_kernels=False)
    fused = next(e for e in graph.eqns if e.prim.name == "fused")
    operand = fused.inputs[0]
    assert plan.slot_of[id(fused.outputs[0])] == plan.slot_of[id(operand)]  # the plan's pair
    moved = separate_unsafe(graph, plan, c_emit.is_view, c_emit._is_kernel)
    assert [(o, a) for o, a in moved] == [(fused.outputs[0], operand)]
    assert plan.slot_of[id(fused.outputs[0])] != plan.slot_of[id(operand)]


# --- item 7: two gradients of ADBench's bundle-adjustment projection --------------------------
def _cross(a, b):
    a0, a1, a2 = a[:, 0:1], a[:, 1:2], a[:, 2:3]
    b0, b1, b2 = b[:, 0:1], b[:, 1:2], b[:, 2:3]
    return np.concatenate([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=1)


def ba_project(cams, X):
    """ADBench's BA projection, one camera row per observation: Rodrigues rotation by
    cams[:, 0:3] (the first-order form at theta == 0), translation by cams[:, 3:6], projection,
    radial distortion cams[:, 9:11], focal length cams[:, 6], principal point cams[:, 7:9]."""
    rot = cams[:, 0:3]
    Xc = X - cams[:, 3:6]
    sqtheta = np.sum(rot * rot, axis=1, keepdims=True)
    theta = np.sqrt(np.where(sqtheta != 0, sqtheta, 1.0))
    w = rot / theta
    c, s = np.cos(theta), np.sin(theta)
    rotated = Xc * c + _cross(w, Xc) * s + w * (np.sum(w * Xc, axis=1, keepdims=True) * (1 - c))
    Xcam = np.where(sqtheta != 0, rotated, Xc + _cross(rot, Xc))
    proj = Xcam[:, 0:2] / Xcam[:, 2:3]
    rsq = np.sum(proj * proj, axis=1, keepdims=True)
    L = 1 + cams[:, 9:10] * rsq + cams[:, 10:11] * rsq * rsq
    return proj * L * cams[:, 6:7] + cams[:, 7:9]


def _res_x(cams, X, f):
    return np.sum(ba_project(cams, X)[:, 0] - f[:, 0])


def _res_y(cams, X, f):
    return np.sum(ba_project(cams, X)[:, 1] - f[:, 1])


def _two_grads(cams, X, f):
    return tg.grad(_res_x)(cams, X, f), tg.grad(_res_y)(cams, X, f)


def _ba_data(p, seed=0):
    rng = np.random.default_rng(seed)
    cams = rng.standard_normal((p, 11)) * 0.1
    cams[:, 6] = 500 + rng.standard_normal(p)
    cams[:, 3:6] += np.array([0, 0, -5.0])
    cams[0, 0:3] = 0.0  # one camera at theta == 0: the other branch of the where
    return cams, rng.standard_normal((p, 3)), rng.standard_normal((p, 2))


@needs_c
@pytest.mark.parametrize("level", ["O0", "O2"])
@pytest.mark.parametrize("p", [2, 10, 100])
def test_ba_two_gradients_in_one_function_match_numpy(p, level):
    cams, X, f = _ba_data(p)
    want = tg.jit(_two_grads, backend="numpy", opt_level=level)(cams, X, f)
    got = tg.jit(_two_grads, backend="c", opt_level=level)(cams, X, f)
    for g, w in zip(got, want):
        assert _rel_err(g, w) < 1e-12


@needs_c
def test_ba_gradient_matches_finite_differences():
    cams, X, f = _ba_data(3, seed=1)
    gy = tg.jit(_two_grads, backend="c")(cams, X, f)[1]
    h = 1e-6
    for i, j in [(0, 1), (1, 1), (2, 6)]:
        e = np.zeros_like(cams)
        e[i, j] = h
        fd = (_res_y(cams + e, X, f) - _res_y(cams - e, X, f)) / (2 * h)
        assert abs(gy[i, j] - fd) <= 1e-6 * max(1.0, abs(fd))


@needs_c
def test_operand_written_in_place_is_not_restrict():
    """The mechanism of the BA failure: a multi-output kernel writing over its operands in
    place declared them ``const T* restrict`` (undefined behaviour once the same memory is
    written through the output pointer; GCC's identical-code folding merged the two gradients'
    kernels and the loads moved past the stores)."""
    cams, X, f = _ba_data(10)
    src = tg.jit(_two_grads, backend="c").lower(cams, X, f).source
    assert re.search(r"const double\* p_\w+", src)  # the program does write in place
    assert restrict_violations(src) == []


# --- item 6: x ** 0.5 and the other power special cases --------------------------------------
SPECIALS = [-np.inf, -4.0, -1.0, -0.0, 0.0, 0.25, 1.0, 4.0, np.inf, np.nan, 1e-310, 27.0]


def _same_bits(got, ref) -> bool:
    got, ref = np.asarray(got), np.asarray(ref)
    return got.dtype == ref.dtype and got.shape == ref.shape and \
        np.array_equal(got, ref, equal_nan=True) and \
        np.array_equal(np.signbit(got), np.signbit(ref))


@needs_c
@pytest.mark.parametrize("level", ["O0", "O2"])
def test_sqrt_power_of_negative_and_negative_zero(level):
    x = np.array([-np.inf, -0.0, 4.0])
    got = tg.jit(lambda x: x ** 0.5, backend="c", opt_level=level)(x)
    with np.errstate(invalid="ignore"):
        assert _same_bits(got, x ** 0.5)          # [nan -0. 2.]


@needs_c
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("level", ["O0", "O2"])
@pytest.mark.parametrize("e", [0.5, -0.5, 2, 2.0, -1, -1.0, 0, 0.0, 1, 1.0, 3, -2, 1 / 3, 1.5])
def test_literal_power_special_values(e, level, dtype):
    """Every power special case NumPy has (exponent 0.5, 2, -1 through sqrt, square and
    reciprocal, the rest through pow) at IEEE special inputs, bit for bit where NumPy's
    result is exact (and within pow's ulp otherwise), at O0 and after simplify's rewrites."""
    x = np.array(SPECIALS * 3, dtype=dtype)  # 36 elements: the vector loop and its remainder
    with np.errstate(all="ignore"):
        ref = x ** e
    got = tg.jit(lambda x: x ** e, backend="c", opt_level=level)(x)
    assert got.dtype == ref.dtype
    assert np.array_equal(np.isnan(got), np.isnan(ref))
    assert np.array_equal(np.signbit(got), np.signbit(ref))
    if e in (0.5, 2, -1, 0, 1):
        assert _same_bits(got, ref)
    else:
        np.testing.assert_allclose(got, ref, rtol=4 * np.finfo(dtype).eps)


@needs_c
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("e", [0.5, 2.0, -1.0, 1.5])
def test_runtime_scalar_exponent_follows_numpy(e, dtype):
    """A 0-d exponent argument is uniform as a literal is: NumPy takes the same fast paths."""
    x = np.array(SPECIALS * 3, dtype=dtype)
    s = np.array(e, dtype=dtype)
    with np.errstate(all="ignore"):
        refs = [x ** s, np.power(x[:, None], s[None, None])]
    got = [tg.jit(lambda x, s: x ** s, backend="c")(x, s),
           tg.jit(lambda x, s: np.power(x[:, None], s[None, None]), backend="c")(x, s)]
    for g, r in zip(got, refs):
        assert np.array_equal(np.isnan(g), np.isnan(r))
        assert np.array_equal(np.signbit(g), np.signbit(r))
        if e != 1.5:
            assert _same_bits(g, r)


@needs_c
@pytest.mark.parametrize("e", [0, 1, 2, 3, 5, 0.5, 2.0])
@pytest.mark.parametrize("dtype", ["int32", "int64"])
def test_integer_powers_of_ints(e, dtype):
    x = np.array([-3, -2, -1, 0, 1, 2, 3, 1000, 46341, -46341] * 2, dtype=dtype)
    for level in ("O0", "O2"):
        got = tg.jit(lambda x: x ** e, backend="c", opt_level=level)(x)
        with np.errstate(all="ignore"):
            assert _same_bits(got, x ** e)


# --- item 8e: a float32 program computing in float64 -------------------------------------------
@needs_c
def test_float32_program_computing_cos_in_float64_loads():
    x = np.linspace(0, 1, 5).astype(np.float32)
    f = lambda x: np.cos(x.astype(np.float64)).astype(np.float32)  # noqa: E731
    got = tg.jit(f, backend="c")(x)
    assert _same_bits(got, f(x))


@needs_c
def test_float64_program_computing_sin_in_float32():
    x = np.linspace(0, 1, 40)
    f = lambda x: np.sin(x.astype(np.float32)).astype(np.float64)  # noqa: E731
    got = tg.jit(f, backend="c")(x)
    np.testing.assert_allclose(got, f(x), rtol=1e-6)


@needs_c
def test_undeclared_function_is_a_compile_error(monkeypatch):
    """The guard: with the body's dtypes left out again, the module fails to *compile*
    (implicit declarations are errors), never loads with a missing symbol or an int result."""
    from tracegrad.codegen.c import emit as c_emit
    monkeypatch.setattr(c_emit, "_dtypes_in",
                        lambda e: {str(a.aval.dtype) for a in list(e.inputs) + list(e.outputs)})
    x = np.linspace(0, 1, 7).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(tg.CompileError, match="implicit"):
            tg.jit(lambda x: np.exp(x.astype(np.float64)).astype(np.float32), backend="c")(x)


# --- found by the threshold fuzzer's restrict check (tests/c_source_check.py) ---------------
@needs_c
def test_zero_size_values_share_no_address_with_a_kernel():
    """Zero-byte arena slots all sat at one offset, so ``rev`` of an empty slice got one
    address as its restrict input and its output; empty values now compute nothing and every
    slot has an address of its own."""
    def prog(a0):
        v0 = a0[..., 2:1]
        v1 = v0[:9:-2]
        return v0, np.abs(v1), np.sum(a0[:, :, :0] * 2, axis=2)
    a0 = np.random.default_rng(1).uniform(-1, 1, (31, 4, 3))
    jf = tg.jit(prog, backend="c")
    assert restrict_violations(jf.lower(a0).source) == []
    for g, w in zip(jf(a0), prog(a0)):
        assert _same_bits(g, w)
