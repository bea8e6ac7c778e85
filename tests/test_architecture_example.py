"""docs/architecture.md's "adding a primitive" example is true: its code block, run as written,
declares a primitive that runs on the NumPy and the C backend, fuses, and differentiates."""
from __future__ import annotations

import pathlib
import re

import numpy as np
import pytest

import tracegrad as tg
from tracegrad.testing import check_grads
from c_support import c_available

DOC = pathlib.Path(__file__).resolve().parent.parent / "docs" / "architecture.md"


def example_source() -> str:
    """The python block after the ``<!-- example: softsign -->`` marker of the doc."""
    m = re.search(r"<!-- example: softsign -->\n```python\n(.*?)```", DOC.read_text(), re.S)
    assert m, "docs/architecture.md lost its softsign example block"
    return m.group(1)


def _forget(prim) -> None:
    """Remove every registration of ``prim`` (declaration, rules, lowerings), so later tests
    (the registry's completeness checks) see only the built-in primitives."""
    from tracegrad.codegen import numpy_lowerings
    from tracegrad.codegen.c import lowerings as c_lowerings
    from tracegrad.primitive import (BATCH_RULES, JVP_RULES, PRIMITIVES, TRANSPOSE_RULES,
                                     VJP_RULES)

    for table in (JVP_RULES, VJP_RULES, TRANSPOSE_RULES, BATCH_RULES):
        table.pop(prim, None)
    numpy_lowerings.unregister_lowering(prim)
    c_lowerings.unregister_lowering(prim)
    PRIMITIVES.pop(prim.name, None)


@pytest.fixture(scope="module")
def softsign():
    namespace: dict = {"__name__": "architecture_example"}
    exec(compile(example_source(), str(DOC), "exec"), namespace)  # noqa: S102
    try:
        yield namespace["softsign"]
    finally:
        _forget(namespace["softsign_p"])


BACKENDS = ["numpy", pytest.param("c", marks=pytest.mark.skipif(
    not c_available(), reason="no working C compiler here"))]
# sizes below and above the C backend's vector width, and a 2-D one
SHAPES = [(5,), (67,), (3, 4)]


def _want(x):
    return x / (1 + np.abs(x))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_example_runs_on_each_backend(softsign, backend, dtype, shape):
    x = np.random.default_rng(0).normal(0, 3, shape).astype(dtype)
    x.flat[0] = 0.0
    got = tg.jit(softsign, backend=backend)(x)
    assert got.dtype == dtype
    np.testing.assert_array_equal(got, _want(x))  # +, /, |.| are exact IEEE operations


@pytest.mark.parametrize("backend", BACKENDS)
def test_example_fuses_with_builtins(softsign, backend):
    """In a chain with built-in elementwise operations and a reduction it is one kernel (the
    fusion pass runs on programs of 64 KiB of intermediates or more)."""
    def f(x):
        return (softsign(x * 2.0) + x).sum()

    x = np.linspace(-3, 5, 1 << 15)
    jf = tg.jit(f, backend=backend, opt_level="O2")
    np.testing.assert_allclose(jf(x), (_want(x * 2.0) + x).sum(), rtol=1e-12)
    lowered = jf.lower(x)
    (kernel,) = lowered.ir.eqns
    assert kernel.prim.name == "fused" and lowered.stats["kernels"] == 1
    assert [e.prim.name for e in kernel.params["body"].eqns] == \
        ["mul", "softsign", "add", "reduce_sum"]


def test_example_is_rejected_for_ints_by_its_type_rule(softsign):
    with pytest.raises(tg.DTypeError, match="softsign needs float operands"):
        tg.jit(softsign)(np.arange(3))


@pytest.mark.parametrize("backend", BACKENDS)
def test_example_gradient_matches_finite_differences(softsign, backend):
    def f(x):
        return softsign(x).sum()

    x = np.array([-2.5, -0.3, 0.4, 1.0, 7.0])
    g = tg.jit(tg.grad(f), backend=backend)(x)
    eps = 1e-6
    fd = np.array([(f(x + eps * e) - f(x - eps * e)) / (2 * eps) for e in np.eye(len(x))])
    np.testing.assert_allclose(g, fd, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(g, 1 / (1 + np.abs(x)) ** 2, rtol=1e-14)


def test_example_forward_reverse_and_second_order(softsign):
    """Both modes and the derivative of the gradient, against central differences."""
    x = np.array([-2.0, -0.5, 0.25, 3.0])
    check_grads(lambda x: softsign(x) * x, (x,), order=2, modes=("rev", "fwd"))


@pytest.mark.parametrize("backend", BACKENDS)
def test_example_hessian(softsign, backend):
    x = np.array([-2.0, -0.5, 0.25, 3.0])
    h = tg.jit(tg.hessian(lambda x: softsign(x).sum()), backend=backend)(x)
    want = np.diag(-2 * np.sign(x) / (1 + np.abs(x)) ** 3)  # softsign'' (diagonal: elementwise)
    np.testing.assert_allclose(h, want, rtol=1e-12, atol=1e-15)



def test_example_batches_under_vmap(softsign):
    x = np.random.default_rng(1).normal(0, 3, (4, 5))
    got = tg.jit(tg.vmap(lambda row, s: softsign(row * s), in_axes=(0, None)))(x, np.float64(2))
    np.testing.assert_allclose(got, _want(x * 2), rtol=1e-15)
