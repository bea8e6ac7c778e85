"""The primitive registry is complete: every primitive has a row in cases.py, an interpreter
``impl`` and a NumPy lowering, and the table itself is well formed.

Adding a primitive without these (or without a derivative: see ``missing_derivative``) fails
here, naming what is missing.
"""
from __future__ import annotations

import inspect

import numpy as np
import pytest

from tracegrad import dtypes
from tracegrad.primitive import PRIMITIVES, get_primitive

from cases import ALL, CASES, CASES_BY_PRIM, DOMAINS, NOARGS

# Kinds whose primitives are not reached through a lax wrapper, with the reason: they wrap
# graphs of other primitives (a parameter), so the rows of those primitives cover their
# arithmetic; custom-rule calls are tested through tg.Function / custom_vjp / custom_jvp and
# fused kernels by the fusion tests.
NO_ROW_KINDS = {"custom": "built from user graphs; replaced by the inline pass before codegen",
                "fused": "built by the fusion pass from rows' primitives; emitted by backends"}


# Kinds differentiated without rules of their own, with the reason.
NO_DERIVATIVE_KINDS = {
    "custom": "its rules are the user's graphs; passes/autodiff expands them",
    "fused": "built by the fusion pass after differentiation (autodiff refuses fused graphs)"}


def missing_derivative(prim) -> str | None:
    """Why ``prim`` has no derivative, or None when it has one (or is non-differentiable)."""
    if prim.nondiff or prim.kind in NO_DERIVATIVE_KINDS:
        return None  # zero by convention, stated in the docs
    if prim.scalar or prim.transpose or prim.jvp or prim.vjp:
        return None
    return (f"{prim.name}: no derivative; declare `scalar` (elementwise), a `transpose` rule "
            "(linear), `jvp`/`vjp` rules, or `nondiff=True`")


def _names():
    get_primitive("add")  # imports tracegrad.prims: every declaration is registered
    return sorted(PRIMITIVES)


@pytest.mark.parametrize("name", _names())
def test_primitive_has_a_case_row(name):
    prim = PRIMITIVES[name]
    if prim.kind in NO_ROW_KINDS:
        pytest.skip(f"{prim.kind} primitive: {NO_ROW_KINDS[prim.kind]}")
    assert CASES_BY_PRIM.get(name), f"primitive {name!r} has no row in tests/cases.py"


@pytest.mark.parametrize("name", _names())
def test_primitive_has_impl_and_numpy_lowering(name):
    from tracegrad.codegen.numpy_lowerings import lowering
    prim = PRIMITIVES[name]
    assert callable(prim.impl), f"primitive {name!r} has no impl (reference interpreter)"
    # raises TracegradError naming the primitive when it has none
    assert callable(lowering(prim).expr), f"primitive {name!r} has no NumPy lowering"


@pytest.mark.parametrize("name", _names())
def test_primitive_has_a_derivative(name):
    import tracegrad.prims.derivatives  # noqa: F401  (attaches the rules, until issue 12 item 1
    # declares them beside each primitive)
    reason = missing_derivative(PRIMITIVES[name])
    assert reason is None, reason


def test_case_ids_are_unique():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})


def test_every_row_names_a_registered_primitive():
    assert not set(CASES_BY_PRIM) - set(PRIMITIVES)


def _required_args(f) -> int:
    if isinstance(f, np.ufunc):
        return f.nin
    return sum(1 for p in inspect.signature(f).parameters.values()
               if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_case_row_is_well_formed(case):
    assert _required_args(case.fn) == case.arity, "one domain per argument of fn"
    assert _required_args(case.numpy_ref) == case.arity, "numpy_ref takes fn's arguments"
    assert all(d in DOMAINS for d in case.domain), case.domain
    assert case.dtypes and set(case.dtypes) <= set(ALL), case.dtypes
    assert case.shapes, "at least one shape set"
    for shape_set in case.shapes:
        assert len(shape_set) == case.arity, f"shape set {shape_set} for {case.arity} arguments"
        assert all(isinstance(s, tuple) for s in shape_set)
    assert case.shapes != NOARGS or case.arity == 0
    assert all(0 <= i < case.arity for i in case.linear_args)
    assert len(case.arg_dtypes) in (0, case.arity)
    prim = PRIMITIVES[case.prim]
    if prim.nondiff:
        assert not case.differentiable, f"{case.prim} is declared nondiff"
    if case.differentiable:
        assert any(np.dtype(d).kind == "f" for d in case.dtypes), "differentiable rows need floats"


def test_rows_cover_edge_shapes():
    """Across each primitive's rows: a size-0 dimension and a size-1 dimension, and a scalar
    where the primitive accepts one (sources have no argument shapes)."""
    scalar_ok = {"elementwise"}
    for name, rows in CASES_BY_PRIM.items():
        prim = PRIMITIVES[name]
        if prim.kind == "source":
            continue
        shapes = [s for c in rows for ss in c.shapes for s in ss]
        assert any(0 in s for s in shapes), f"{name}: no size-0 dimension in its rows"
        assert any(1 in s for s in shapes), f"{name}: no size-1 dimension in its rows"
        if prim.kind in scalar_ok:
            assert () in shapes, f"{name}: no scalar in its rows"


def test_differentiable_primitives_have_a_differentiable_row():
    """The gradient tests iterate over differentiable rows: none may be left out by accident."""
    for name, rows in CASES_BY_PRIM.items():
        prim = PRIMITIVES[name]
        if not prim.nondiff and name not in ("argmax", "argmin"):
            assert any(c.differentiable for c in rows), f"{name}: no differentiable row"


def test_dtype_groups_are_the_supported_dtypes():
    assert {np.dtype(d) for d in ALL} == set(dtypes.SUPPORTED)
