"""Whole programs (tests/programs.py) differentiated end to end: values equal NumPy eager,
gradients match finite differences in both modes (second order too), Hessians, and the cheap
gradient principle: value_and_grad costs at most 4x the forward's floating-point work.
"""
from __future__ import annotations

import numpy as np
import pytest

import tracegrad as tg
from tracegrad.testing import check_grads

from programs import PROGRAMS

IDS = [p.name for p in PROGRAMS]


@pytest.mark.parametrize("prog", PROGRAMS, ids=IDS)
def test_value_and_gradients(prog):
    args = prog.make_args(np.random.default_rng(0))
    value, _ = tg.value_and_grad(prog.fn)(*args)
    np.testing.assert_allclose(value, prog.fn(*args), rtol=1e-12)
    check_grads(prog.fn, args, order=2 if prog.small else 1, rtol=1e-6, atol=1e-9,
                max_elements=12)


@pytest.mark.parametrize("prog", PROGRAMS, ids=IDS)
def test_cheap_gradient_principle(prog):
    args = prog.make_args(np.random.default_rng(0))
    forward = tg.jit(prog.fn).lower(*args).stats["flops"]
    both = tg.jit(tg.value_and_grad(prog.fn)).lower(*args).stats["flops"]
    assert both <= 4 * forward, f"value_and_grad costs {both / forward:.2f}x the forward"


def test_rosenbrock_hessian_exact():
    x = np.array([0.3, -0.2, 0.8, 1.1])
    h = tg.hessian(lambda v: np.sum(100.0 * (v[1:] - v[:-1] ** 2) ** 2 + (1 - v[:-1]) ** 2))(x)
    n = len(x)
    ref = np.zeros((n, n))
    for i in range(n - 1):
        ref[i, i] += 1200 * x[i] ** 2 - 400 * x[i + 1] + 2
        ref[i, i + 1] += -400 * x[i]
        ref[i + 1, i] += -400 * x[i]
        ref[i + 1, i + 1] += 200
    np.testing.assert_allclose(h, ref, rtol=1e-12)


def test_polynomial_gradient_known_value():
    # d/dx (x**2 + 3x + 1) at x = 2 is 7, as in the PyTorch tutorial
    assert float(tg.grad(lambda x: x ** 2 + 3 * x + 1)(2.0)) == 7.0


def test_grad_of_grad_and_third_order():
    f = lambda x: x ** 3  # noqa: E731
    assert float(tg.grad(tg.grad(f))(2.0)) == pytest.approx(12.0, rel=1e-14)
    assert float(tg.grad(tg.grad(tg.grad(np.sin)))(0.5)) == pytest.approx(-np.cos(0.5), rel=1e-14)


@pytest.mark.parametrize("mode", ["fwd", "rev", "auto"])
def test_jacobian_modes_agree(mode):
    x = np.array([0.5, -1.0, 2.0])
    f = lambda v: np.tanh(v) * v[0] + np.cumsum(v)  # noqa: E731
    j = tg.jacobian(f, mode=mode)(x)
    eps = 1e-6
    ref = np.stack([(f(x + eps * e) - f(x - eps * e)) / (2 * eps) for e in np.eye(3)], axis=1)
    np.testing.assert_allclose(j, ref, rtol=1e-7, atol=1e-9)


def test_hvp_matches_hessian_times_vector():
    rng = np.random.default_rng(3)
    a = rng.standard_normal((5, 5))
    f = lambda x: np.sum(np.log(1 + np.exp(a @ x)))  # noqa: E731  (W6's function)
    x, v = rng.standard_normal(5), rng.standard_normal(5)
    np.testing.assert_allclose(tg.hvp(f, (x,), (v,)), tg.hessian(f)(x) @ v, rtol=1e-10)


def test_jit_of_grad_and_grad_of_jit_agree():
    f = lambda x, y: np.sum(np.tanh(x * y))  # noqa: E731
    x, y = np.linspace(-1, 1, 5), np.linspace(0.5, 2, 5)
    a = tg.jit(tg.grad(f, argnums=(0, 1)))(x, y)
    b = tg.grad(tg.jit(f), argnums=(0, 1))(x, y)
    for u, v in zip(a, b):
        np.testing.assert_allclose(u, v, rtol=1e-15)


def test_make_ir_stages_of_the_gradient():
    f = lambda x: np.sum(np.tanh(x))  # noqa: E731
    x = np.ones(3)
    traced = tg.make_ir(f, stage="traced")(x)
    raw = tg.make_ir(f, grad=True, stage="grad")(x)
    opt = tg.make_ir(f, grad=True, stage="optimized")(x)
    assert len(traced.eqns) < len(raw.eqns)
    assert len(opt.eqns) <= len(raw.eqns)
    assert "tanh" in str(raw) and "mul" in str(raw)
    for g in (traced, raw, opt):
        tg.verify(g)


def test_gradient_equations_carry_the_user_line():
    def f(x):
        return np.sum(np.sin(x))  # the line every gradient equation should name
    g = tg.make_ir(f, grad=True, stage="grad")(np.ones(2))
    srcs = {e.src for e in g.eqns if e.prim.name == "cos"}
    assert srcs and all(s and s.startswith("test_grad_corpus.py:") for s in srcs)
