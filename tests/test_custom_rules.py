"""Custom differentiation rules: tg.Function (PyTorch style), custom_vjp and custom_jvp (JAX
style), straight_through surrogates: values, gradients in both modes, higher order, jit."""
from __future__ import annotations

import numpy as np
import pytest

import tracegrad as tg
from tracegrad.testing import check_grads


class Double(tg.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * 2

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * 2


class ScaledExp(tg.Function):
    """Non-array argument, a ctx attribute, a saved output, needs_input_grad."""

    seen_needs = None

    @staticmethod
    def forward(ctx, x, scale):
        y = np.exp(x) * scale
        ctx.scale = scale
        ctx.save_for_backward(y)
        ScaledExp.seen_needs = ctx.needs_input_grad
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * y, None


class WrongBackward(tg.Function):
    @staticmethod
    def forward(ctx, x):
        return x * 1.0

    @staticmethod
    def backward(ctx, g):
        return g, g  # one too many


def test_function_forward_and_gradient():
    x = np.array([1.0, -2.0, 3.0])
    np.testing.assert_array_equal(Double.apply(x), 2 * x)
    g = tg.grad(lambda v: np.sum(Double.apply(v) ** 2))(x)
    np.testing.assert_allclose(g, 8 * x)


def test_function_uses_the_custom_rule_not_the_forward():
    class Lying(tg.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 5  # deliberately not the true derivative

    g = tg.grad(lambda v: np.sum(Lying.apply(v)))(np.ones(3))
    np.testing.assert_array_equal(g, np.full(3, 5.0))


def test_function_saved_output_attribute_and_static_arg():
    x = np.array([0.1, 0.5])
    g = tg.grad(lambda v: np.sum(ScaledExp.apply(v, 3.0)))(x)
    np.testing.assert_allclose(g, 3 * np.exp(x), rtol=1e-14)
    assert ScaledExp.seen_needs == (True, False)


def test_function_higher_order_and_forward_mode():
    x = np.array([1.0, 2.0])
    h = tg.hessian(lambda v: np.sum(Double.apply(v) ** 3))(x)
    np.testing.assert_allclose(h, np.diag(48 * x))
    _, t = tg.jvp(lambda v: Double.apply(v), (x,), (np.array([1.0, 0.5]),))
    np.testing.assert_allclose(t, [2.0, 1.0])


def test_function_under_jit_is_inlined():
    f = tg.jit(lambda v: np.sum(Double.apply(v)))
    lowered = f.lower(np.ones(3))
    assert "custom_vjp_call" not in lowered.source
    assert float(f(np.ones(3))) == 6.0


def test_function_wrong_number_of_gradients():
    with pytest.raises(tg.GradientError, match="returned 2 gradients for 1"):
        tg.grad(lambda v: np.sum(WrongBackward.apply(v)))(np.ones(2))


def test_custom_vjp():
    @tg.custom_vjp
    def clip_gradient(x):
        return x

    def fwd(x):
        return x, ()

    def bwd(res, g):
        return (np.clip(g, -1.0, 1.0),)

    clip_gradient.defvjp(fwd, bwd)
    g = tg.grad(lambda x: np.sum(clip_gradient(x) * np.array([3.0, -0.5, -4.0])))(np.ones(3))
    np.testing.assert_array_equal(g, [1.0, -0.5, -1.0])


def test_custom_vjp_residuals_and_second_order():
    @tg.custom_vjp
    def f(x):
        return np.sin(x)

    f.defvjp(lambda x: (np.sin(x), (np.cos(x),)), lambda res, g: (res[0] * g,))
    x = np.array([0.3, 1.2])
    check_grads(lambda v: np.sum(f(v) ** 2), (x,), order=2)


def test_custom_jvp_both_modes():
    @tg.custom_jvp
    def softplus(x):
        return np.log1p(np.exp(x))

    @softplus.defjvp
    def softplus_jvp(primals, tangents):
        (x,), (t,) = primals, tangents
        return softplus(x), t / (1 + np.exp(-x))

    x = np.array([-3.0, 0.0, 2.0])
    check_grads(lambda v: np.sum(softplus(v)), (x,), order=2)


def test_straight_through_round():
    st_round = tg.straight_through(np.round)
    x = np.array([0.4, 1.6, -2.2])
    np.testing.assert_array_equal(st_round(x), np.round(x))
    g = tg.grad(lambda v: np.sum(st_round(v) * 3.0))(x)
    np.testing.assert_array_equal(g, [3.0, 3.0, 3.0])  # identity surrogate: d/dx = 1
    assert np.all(tg.grad(lambda v: np.sum(np.round(v) * 3.0))(x) == 0)  # without: zero


def test_straight_through_custom_surrogate_sign():
    st_sign = tg.straight_through(np.sign, lambda v: np.tanh(v))
    x = np.array([-0.5, 0.2])
    g = tg.grad(lambda v: np.sum(st_sign(v)))(x)
    np.testing.assert_allclose(g, 1 - np.tanh(x) ** 2)
    _, t = tg.jvp(st_sign, (x,), (np.ones(2),))
    np.testing.assert_allclose(t, 1 - np.tanh(x) ** 2)
