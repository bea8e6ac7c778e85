"""The functions of the partial-derivative expressions (prims/partials.py) come from the
elementwise registry: a primitive whose scalar meaning is ``f(x)`` is what ``f`` means there.
These tests keep every name of the derivative table resolvable and every primitive's scalar
meaning, read by the same evaluator, equal to the primitive's own implementation, so a new
elementwise primitive needs no hand-written row in partials.py."""
from __future__ import annotations

import ast

import numpy as np
import pytest

from tracegrad.passes.symbolic import OVERRIDES
from tracegrad.prims import ELEMENTWISE, ops, partials
from tracegrad.prims.derivatives_table import PARTIALS

DIFFERENTIABLE = sorted(n for n, p in ELEMENTWISE.items() if p.scalar is not None)


def _called_names(expr: str) -> set[str]:
    return {n.func.id for n in ast.walk(ast.parse(expr, mode="eval")) if isinstance(n, ast.Call)}


def test_every_function_of_the_derivative_table_resolves():
    exprs = [e for table in (PARTIALS, OVERRIDES) for es in table.values() for e in es]
    names = set().union(*map(_called_names, exprs))
    missing = sorted(names - set(partials.functions()))
    assert not missing, f"partial expressions call functions partials.py cannot lower: {missing}"


def test_a_primitive_spelled_f_of_x_is_the_function_f():
    """``cosh(x)`` in sinh's partial binds ``cosh``; ``Abs``/``Max``/``Min``/``asin`` (sympy's
    names) bind ``abs``/``max``/``min``/``arcsin``: found from each declaration, not a list."""
    funcs = partials.functions()
    for sympy_name, prim in [("cosh", "cosh"), ("Abs", "abs"), ("Max", "max"), ("Min", "min"),
                             ("asin", "arcsin"), ("atan2", "atan2"), ("erf", "erf")]:
        assert funcs[sympy_name] is ops.ELEMENTWISE_OPS[prim], sympy_name


@pytest.mark.parametrize("name", DIFFERENTIABLE)
def test_scalar_meaning_evaluates_to_the_implementation(name):
    """Each differentiable primitive's scalar meaning (what sympy differentiates), evaluated by
    partials.py over arrays, is the primitive's implementation: the evaluator knows every
    function a scalar meaning uses, and the meaning matches what the backends compute."""
    prim = ELEMENTWISE[name]
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(0.2, 0.9, 8), rng.uniform(1.1, 1.9, 8)])
    y = rng.uniform(0.2, 0.9, 16)
    uses_y = any(isinstance(n, ast.Name) and n.id == "y"
                 for n in ast.walk(ast.parse(prim.scalar, mode="eval")))
    with np.errstate(all="ignore"):  # arcsin of 1.5: NaN on both sides
        want = np.asarray(prim.impl(*((x, y) if uses_y else (x,))))
        got = partials.evaluate(prim.scalar, {"x": x, "y": y, "out": want}, np.dtype(np.float64))
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-12, atol=1e-14, equal_nan=True,
                               err_msg=f"{name}: scalar meaning {prim.scalar!r}")
