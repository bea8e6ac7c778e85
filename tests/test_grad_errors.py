"""Errors of the differentiation API: types, messages, the fixes they suggest."""
from __future__ import annotations

import numpy as np
import pytest

import tracegrad as tg


def test_non_scalar_output_names_shape_and_three_fixes():
    with pytest.raises(tg.GradientError) as info:
        tg.grad(lambda x: x * 2)(np.ones((2, 3)))
    msg = str(info.value)
    assert "(2, 3)" in msg and ".sum()" in msg and ".mean()" in msg and "tg.vjp" in msg


def test_one_element_output_is_accepted():
    g = tg.grad(lambda x: x * 3.0)(np.array([2.0]))  # shape (1,), as PyTorch allows
    np.testing.assert_array_equal(g, [3.0])


@pytest.mark.parametrize("arg", [np.array([1, 2]), np.array([True, False]), 3],
                         ids=["int", "bool", "python-int"])
def test_integer_or_bool_input(arg):
    with pytest.raises(tg.GradientError, match="float and complex inputs only"):
        tg.grad(lambda x: np.sum(x * 2.0))(arg)


@pytest.mark.parametrize("argnums", [2, -3, (0, 5), "x", 1.0, True])
def test_bad_argnums(argnums):
    with pytest.raises(tg.GradientError, match="argnums"):
        tg.grad(lambda x, y: np.sum(x * y), argnums=argnums)(np.ones(2), np.ones(2))


def test_has_aux_needs_pair():
    with pytest.raises(tg.GradientError, match="has_aux"):
        tg.grad(lambda x: (np.sum(x), 1.0, 2.0), has_aux=True)(np.ones(2))
    g, aux = tg.grad(lambda x: (np.sum(x * x), {"n": np.max(x)}), has_aux=True)(np.ones(2))
    np.testing.assert_array_equal(g, [2.0, 2.0])
    assert float(aux["n"]) == 1.0


def test_integer_output():
    with pytest.raises(tg.GradientError, match="float output"):
        tg.grad(lambda x: np.argmax(x))(np.ones(3))


def test_vjp_cotangent_shape_mismatch():
    _, pull = tg.vjp(lambda x: x * 2, np.ones(3))
    with pytest.raises(tg.GradientError, match="cotangent shape"):
        pull(np.ones(4))


def test_jvp_tangent_mismatch():
    with pytest.raises(tg.GradientError, match="tangent 0 has shape"):
        tg.jvp(np.sin, (np.ones(3),), (np.ones(2),))
    with pytest.raises(tg.GradientError, match="tuples"):
        tg.jvp(np.sin, np.ones(3), np.ones(3))


def test_vjp_returns_one_cotangent_per_argument():
    out, pull = tg.vjp(lambda x, i: x[i] * 2.0, np.arange(3.0), np.array([2, 0]))
    gx, gi = pull(np.ones(2))
    np.testing.assert_array_equal(gx, [2.0, 0.0, 2.0])
    assert gi is None
