"""tracegrad.api is one package without an import cycle: every name the old api.py and
autodiff_api.py modules exported is still importable from it, and each module has one job."""
from __future__ import annotations

import ast
import importlib
import pathlib

import pytest

import tracegrad.api

API_DIR = pathlib.Path(tracegrad.api.__file__).parent

# the public names of the former tracegrad/api.py and tracegrad/autodiff_api.py (api._ident
# became the public ident)
FORMER_NAMES = ["BACKENDS", "CacheInfo", "JitFunction", "Lowered", "MISS_REASONS_KEPT",
                "Signature", "compile_traced", "jit", "make_executable", "make_ir",
                "planned_peak_bytes", "ident",
                "TransformFunction", "grad", "hessian", "hvp", "jacobian", "jvp",
                "value_and_grad", "vjp"]


@pytest.mark.parametrize("name", FORMER_NAMES)
def test_former_names_import_from_api(name):
    assert getattr(tracegrad.api, name) is not None
    assert name in tracegrad.api.__all__


def test_autodiff_api_module_is_gone():
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("tracegrad.autodiff_api")


def test_api_modules_import_one_way():
    """No module of the package imports, at any depth, one that imports it back."""
    deps = {}
    for path in API_DIR.glob("*.py"):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
                names.add(node.module.split(".")[0])
        deps[path.stem] = names
    for start in deps:
        seen, todo = set(), list(deps[start])
        while todo:
            m = todo.pop()
            assert m != start, f"api/{start}.py imports itself back through api/{m}.py"
            if m not in seen:
                seen.add(m)
                todo.extend(deps.get(m, ()))


@pytest.mark.parametrize("path", sorted(API_DIR.glob("*.py")), ids=lambda p: p.name)
def test_api_module_has_docstring_and_one_job(path):
    tree = ast.parse(path.read_text())
    doc = ast.get_docstring(tree)
    assert doc and len(doc.splitlines()) <= 3, f"{path.name}: a 1-3 line module docstring"
    assert len(path.read_text().splitlines()) < 600
