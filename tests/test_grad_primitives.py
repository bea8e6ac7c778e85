"""Every differentiable primitive row of tests/cases.py: reverse and forward mode against
Richardson-extrapolated central differences in float64 (rtol 1e-6), the dot-product identity
<vjp(ct), t> == <ct, jvp(t)>, and second derivatives; plus the registry of derivative rules.
"""
from __future__ import annotations

import numpy as np
import pytest

import tracegrad as tg
from tracegrad.testing import check_grads

from cases import CASES, make_args, shapes_id

GRAD_CASES = [c for c in CASES if c.differentiable and "float64" in c.dtypes]


def _params():
    out = []
    for c in GRAD_CASES:
        for s in c.shapes:
            if any(int(np.prod(sh)) == 0 for sh in s):
                continue  # nothing to perturb; size-0 gradients are checked below
            out.append(pytest.param(c, s, id=f"{c.id}-{shapes_id(s)}"))
    return out


def _float_positions(args):
    return [i for i, a in enumerate(args) if np.asarray(a).dtype.kind == "f"]


@pytest.mark.parametrize("case,shape_set", _params())
def test_first_order_both_modes(case, shape_set):
    rng = np.random.default_rng(0)
    args = make_args(case, shape_set, "float64", rng)
    # a row whose output is float32 (convert) rounds every evaluation to 2**-24: finite
    # differences with h = 1e-3 then carry ~1e-4 relative noise, so its tolerance is 1e-3
    f32_out = np.asarray(case.fn(*args)).dtype == np.float32
    check_grads(case.fn, args, order=1, modes=("rev", "fwd"), rtol=1e-3 if f32_out else 1e-6,
                atol=1e-9, max_elements=8)


@pytest.mark.parametrize("case,shape_set", _params())
def test_dot_product_identity(case, shape_set):
    """<vjp(ct), t> == <ct, jvp(t)>: reverse mode is the transpose of forward mode."""
    rng = np.random.default_rng(1)
    args = make_args(case, shape_set, "float64", rng)
    fpos = _float_positions(args)
    out, vjp_fn = tg.vjp(case.fn, *args)
    ct = rng.standard_normal(np.shape(out))
    tangents = [rng.standard_normal(np.shape(a)) if i in fpos else np.zeros(np.shape(a))
                for i, a in enumerate(args)]
    _, jv = tg.jvp(case.fn, tuple(args), tuple(tangents))
    cts = vjp_fn(ct)
    lhs = sum(float(np.sum(cts[i] * tangents[i])) for i in fpos)
    rhs = float(np.sum(ct * np.asarray(jv)))
    rel = 1e-6 if np.asarray(out).dtype == np.float32 else 1e-10  # float32 output: its epsilon
    assert lhs == pytest.approx(rhs, rel=rel, abs=1e-12)


def _second_order_params():
    out = []
    for c in GRAD_CASES:
        s = next((s for s in c.shapes if all(0 < int(np.prod(sh)) <= 6 for sh in s)), None)
        if s is not None and c.prim != "convert" and c.prim not in ("max", "min", "abs", "rem", "reduce_max",
                                            "reduce_min"):
            out.append(pytest.param(c, s, id=f"{c.id}-{shapes_id(s)}"))
    return out


@pytest.mark.parametrize("case,shape_set", _second_order_params())
def test_second_order(case, shape_set):
    rng = np.random.default_rng(2)
    args = make_args(case, shape_set, "float64", rng)
    check_grads(case.fn, args, order=2, modes=("rev", "fwd"), rtol=1e-6, atol=1e-8,
                max_elements=6)


def test_every_primitive_has_derivative_rules():
    from tracegrad.prims.derivatives import missing_rules
    assert missing_rules() == []


def test_zero_size_gradient_has_input_shape():
    g = tg.grad(lambda x: np.sum(np.exp(x)))(np.zeros((0, 3)))
    assert g.shape == (0, 3) and g.dtype == np.float64


def test_derivative_table_matches_sympy():
    """The checked-in table is what passes/symbolic.py derives today, and every override
    equals sympy's derivative (away from the conventions' kinks)."""
    from tracegrad.passes import symbolic
    from tracegrad.prims.derivatives_table import PARTIALS
    from tracegrad.prims import ELEMENTWISE
    assert symbolic.table() == PARTIALS
    for name, partials in symbolic.OVERRIDES.items():
        if symbolic.is_piecewise(name):
            continue
        err = symbolic.check_override(name, ELEMENTWISE[name].scalar, partials)
        assert err < 1e-12, (name, err)


def test_import_does_not_load_sympy_or_networkx():
    """import and a small first call stay light; sympy never loads at run time (the derivative
    table is checked in); networkx loads only to fuse and plan programs with large arrays."""
    import subprocess
    import sys
    code = ("import sys, numpy as np, tracegrad as tg\n"
            "print('sympy' in sys.modules, 'networkx' in sys.modules)\n"
            "tg.grad(lambda x: np.sum(np.tanh(x)))(np.ones(3))\n"
            "print('sympy' in sys.modules, 'networkx' in sys.modules)\n"
            "tg.grad(lambda x: np.sum(np.tanh(x)))(np.ones(100000))\n"
            "print('sympy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False", "False", "False", "False"]
