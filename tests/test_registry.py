"""The primitive registry is complete: every primitive has a row in cases.py, an interpreter
``impl``, a NumPy lowering, derivative rules declared beside it (or ``nondiff``) and consistent
``Traits``, and the table itself is well formed. No pass or NumPy emitter keeps its own set of
primitive names (a misspelt name in one failed silently; passes read traits).

Adding a primitive without these (or without a derivative: see ``missing_derivative``) fails
here, naming what is missing.
"""
from __future__ import annotations

import ast
import inspect
import pathlib

import numpy as np
import pytest

from tracegrad import dtypes
from tracegrad.primitive import (JVP_RULES, PRIMITIVES, RANGE_KINDS, TRANSPOSE_RULES, VJP_RULES,
                                 Traits, get_primitive)

from cases import ALL, CASES, CASES_BY_PRIM, COMPLEX, DOMAINS, NOARGS

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
    if prim.kind in NO_DERIVATIVE_KINDS:
        return None
    # nondiff primitives get zero rules from their declaration (zero by convention, documented)
    if prim in JVP_RULES and prim in VJP_RULES:
        return None
    return (f"{prim.name}: no derivative; register jvp and vjp rules beside the declaration "
            "(defjvp/defvjp; elementwise: a row in the partials table), or `nondiff=True`")


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
def test_primitive_has_a_c_lowering(name):
    """Every primitive lowers to C: a scalar expression (elementwise), a kernel epilogue
    (reductions), a storage-free view, a loop nest of the kernel emitter, or an emitter
    function (``codegen/c/lowerings.register_lowering``, keyed by the primitive object)."""
    from tracegrad.codegen.c.lowerings import lowering
    prim = PRIMITIVES[name]
    low = lowering(prim)  # raises TracegradError naming the primitive when it has none
    if prim.kind == "elementwise":
        assert low.scalar is not None, f"elementwise {name!r} has no scalar C expression"
    if prim.traits.reduction:
        assert low.reduction is not None, f"reduction {name!r} has no C epilogue"
    assert low.is_kernel or low.view or callable(low.emit), name


def test_missing_c_lowering_is_named():
    from tracegrad.codegen.c.lowerings import lowering
    from tracegrad.errors import TracegradError
    from tracegrad.primitive import Primitive, Traits
    orphan = Primitive("orphan_for_test", kind="elementwise", abstract_eval=lambda x: [x],
                       impl=lambda x: x, traits=Traits())
    try:
        with pytest.raises(TracegradError, match="orphan_for_test.*no C lowering"):
            lowering(orphan)
    finally:
        PRIMITIVES.pop("orphan_for_test", None)


@pytest.mark.parametrize("name", _names())
def test_primitive_has_a_batching_rule(name):
    """tg.vmap batches every primitive by its rule (defbatch beside the declaration; shared
    building blocks in prims/batching.py). Sources have no operands to batch; fused kernels are
    expanded before batching."""
    from tracegrad.primitive import BATCH_RULES
    prim = PRIMITIVES[name]
    if prim.kind in ("source", "fused"):
        pytest.skip(f"{prim.kind} primitive: nothing to batch")
    assert prim in BATCH_RULES, f"{name}: no batching rule (defbatch beside the declaration)"


@pytest.mark.parametrize("name", _names())
def test_primitive_has_a_derivative(name):
    reason = missing_derivative(PRIMITIVES[name])
    assert reason is None, reason


# Modules that may hold a primitive's rules besides its declaring module: the zero rules of
# nondiff primitives (primitive.py) and the jvp every linear primitive shares.
SHARED_RULE_MODULES = ("tracegrad.primitive", "tracegrad.prims.linear")


@pytest.mark.parametrize("name", _names())
def test_rules_are_declared_beside_the_primitive(name):
    """Rules are keyed by the primitive object and come from the file that declares it (whose
    import therefore guarantees them), never attached from elsewhere at import time."""
    prim = PRIMITIVES[name]
    home = prim._abstract_eval.__module__  # the declaring file defines the shape rule
    for table in (JVP_RULES, VJP_RULES, TRANSPOSE_RULES):
        rule = table.get(prim)
        if rule is not None:
            # a declaring file may keep long rules in its companion `<file>_rules` module, which
            # it imports itself (tracegrad/prims/control.py: the loops' rules build graphs)
            assert rule.__module__ in (home, home + "_rules", *SHARED_RULE_MODULES), \
                f"{name}: rule {rule.__qualname__} from {rule.__module__}, declared in {home}"
    if prim in TRANSPOSE_RULES:
        assert prim.linear_args, f"{name} has a transpose but declares no linear_args"


@pytest.mark.parametrize("name", _names())
def test_primitive_traits_are_consistent(name):
    """Each trait a pass reads is declared, and the combinations the passes rely on hold."""
    prim = PRIMITIVES[name]
    t = prim.traits
    assert isinstance(t, Traits), f"{name}: traits {t!r}"
    assert t.range in RANGE_KINDS
    if t.epilogue:
        assert t.reduction, f"{name}: a kernel epilogue must be a reduction"
    if t.reduction:
        assert prim.kind == "reduction" and not prim.multiple_results, name
    if t.out_capable or t.scalar_operand or t.literal_fold:
        assert prim.kind == "elementwise", f"{name}: elementwise-only trait on a {prim.kind}"
    if t.view:
        assert not (t.out_capable or t.reduction) and not t.flops, \
            f"{name}: a view owns no storage and does no arithmetic"
    if t.mask_zero_ct or t.piecewise:
        assert prim.scalar, f"{name}: partial traits on a primitive without a scalar meaning"
    if t.ad_only:
        assert prim.nondiff and t.view, f"{name}: an ad-only identity is a nondiff view"
    if t.body_param is not None:
        assert prim.kind in ("custom", "fused"), name
    else:
        assert prim.kind not in ("custom", "fused"), f"{name}: a call needs body_param"
    if t.bounds is not None:
        lo, hi = t.bounds
        assert lo <= hi and t.range == "any", name
        # the bounds hold for finite inputs (the reference implementation is the judge)
        x = np.linspace(-50.0, 50.0, 101)
        y = np.asarray(prim.impl(*[x] * _required_args(prim.impl)), dtype=np.float64)
        assert np.all((lo <= y) & (y <= hi)), f"{name}: values outside {t.bounds}"


# --- no sets of primitive names outside the declarations ------------------------------------------
ROOT = pathlib.Path(__file__).resolve().parent.parent
# (file, enclosing definition) -> why its literal of primitive names is not a trait
ALLOWED_NAME_LITERALS = {
    ("passes/symbolic.py", "OVERRIDES"):
        "the elementwise partial-derivative overrides: part of the declarations (it regenerates "
        "prims/derivatives_table.py)",
    ("passes/symbolic.py", "check_override"):
        "functions of the partials' expression language (sigmoid, where), not primitives",
}


def name_literals(source: str, names: set[str]):
    """(enclosing definition, line, names) of every set/tuple/list/dict literal holding two or
    more string constants that are primitive names."""
    tree = ast.parse(source)
    found = []

    def visit(node, owner):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            owner = node.name
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if len(targets) == 1 and isinstance(targets[0], ast.Name) and owner == "<module>":
                owner = targets[0].id
        elts = None
        if isinstance(node, (ast.Set, ast.Tuple, ast.List)):
            elts = node.elts
        elif isinstance(node, ast.Dict):
            elts = [k for k in node.keys if k is not None]
        if elts is not None:
            hits = [e.value for e in elts if isinstance(e, ast.Constant) and e.value in names]
            if len(hits) >= 2:
                found.append((owner, node.lineno, hits))
        for child in ast.iter_child_nodes(node):
            visit(child, owner)
    visit(tree, "<module>")
    return found


def test_the_name_literal_scan_finds_sets_tuples_and_dict_keys():
    names = {"add", "mul", "exp"}
    src = ('A = {"add", "mul"}\n'
           'def f(e):\n    return e in ("exp", "add") or {"mul": 1, "add": 2}\n'
           'B = ["add", "x"]\n')
    assert [(o, n) for o, n, _ in name_literals(src, names)] == [("A", 1), ("f", 3), ("f", 3)]


def test_no_sets_of_primitive_names_in_passes_or_codegen():
    names = set(_names())
    bad = []
    for folder in ("passes", "codegen"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            for owner, line, hits in name_literals(path.read_text(), names):
                if (rel, owner) in ALLOWED_NAME_LITERALS or (rel, "*") in ALLOWED_NAME_LITERALS:
                    continue
                bad.append(f"{rel}:{line} ({owner}): {hits}")
    assert not bad, ("sets of primitive names (declare a Traits field, or register by primitive "
                     "object):\n" + "\n".join(bad))


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
    assert case.dtypes and set(case.dtypes) <= set(ALL + COMPLEX), case.dtypes
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
    assert {np.dtype(d) for d in ALL + COMPLEX} == set(dtypes.SUPPORTED)
