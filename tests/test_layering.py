"""The layers hold: every import of every module (read with ast, those inside functions too) is
checked against the table in docs/architecture.md; a forbidden arrow fails naming file and line.

Each layer may import the layers listed for it at module level; ``LAZY`` adds what it may import
inside a function (only the API, the front and the CLI reach across, and only lazily, so that
``import tracegrad`` loads neither the passes nor the backends).
"""
from __future__ import annotations

import ast
import pathlib
import re
from dataclasses import dataclass

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent

# layer -> its modules (a name covers the module and, for a package, everything inside it)
LAYERS: dict[str, tuple[str, ...]] = {
    # the IR: data types, their text form, errors, options, the Primitive class, and the
    # reference interpreter (it applies each equation's primitive through Primitive.bind)
    "ir": ("tracegrad.ir", "tracegrad.printing", "tracegrad.identity", "tracegrad.dtypes",
           "tracegrad.errors", "tracegrad.options", "tracegrad.source_info", "tracegrad.pytree",
           "tracegrad.version", "tracegrad.thread_local", "tracegrad.primitive",
           "tracegrad.interpreter"),
    # one declaration per primitive: type rules, impl, traits, derivative rules
    "prims": ("tracegrad.prims",),
    # turning Python calls into equations, and the NumPy-like namespace that does it
    "tracing": ("tracegrad.tracer", "tracegrad.staging", "tracegrad.lax", "tracegrad.numpy",
                "tracegrad.scipy",
                "tracegrad.random", "tracegrad.random_draws", "tracegrad.random_host",
                "tracegrad.random_numpy",
                "tracegrad.indexing", "tracegrad.einsum", "tracegrad.int_range",
                "tracegrad.random_guard", "tracegrad.subclasses", "tracegrad.control_flow",
                "tracegrad.tracer_methods", "tracegrad.loop_guard"),
    "passes": ("tracegrad.passes",),
    "codegen": ("tracegrad.codegen",),
    # the API, the PyTorch-style front and the CLI
    "top": ("tracegrad", "tracegrad.__main__", "tracegrad.api", "tracegrad.custom",
            "tracegrad.testing", "tracegrad.tensor", "tracegrad.nn", "tracegrad.optim",
            "tracegrad.data", "tracegrad.compile_step", "tracegrad.cli", "tracegrad.ode"),
}

# layer -> the layers it may import at module level
MAY_IMPORT: dict[str, set[str]] = {
    "ir": {"ir"},
    "prims": {"ir", "prims"},
    "tracing": {"ir", "prims", "tracing"},
    "passes": {"ir", "prims", "tracing", "passes"},
    "codegen": {"ir", "prims", "codegen"},
    "top": {"ir", "prims", "tracing", "top"},
}
# layer -> what it may import only inside a function (besides MAY_IMPORT)
LAZY: dict[str, set[str]] = {
    "ir": {"prims"},  # get_primitive / parse_graph import prims so every declaration registers
    "top": {"passes", "codegen"},
}
# codegen may call the analyses of these passes (cost, memory plan), never run other passes
CODEGEN_MAY_USE_PASSES = ("tracegrad.passes.memplan", "tracegrad.passes.cost")

# (importer, imported) -> the issue-12 step that removes the arrow. Nothing else is exempt; an
# entry whose arrow is gone fails test_exemptions_are_still_needed, so it is deleted with it.
EXEMPT: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Arrow:
    importer: str  # module name
    imported: str  # module name (the deepest one that exists)
    lazy: bool     # inside a function
    path: str
    line: int

    def __str__(self) -> str:
        kind = "lazily " if self.lazy else ""
        return f"{self.path}:{self.line}: {self.importer} {kind}imports {self.imported}"


def module_files(root: pathlib.Path = ROOT) -> dict[str, pathlib.Path]:
    """Module name -> file, with passes/ and codegen/ installed as tracegrad.passes/.codegen."""
    out = {}
    for top in ("tracegrad", "passes", "codegen"):
        for p in sorted((root / top).rglob("*.py")):
            parts = list(p.relative_to(root).with_suffix("").parts)
            if "__pycache__" in parts:
                continue
            if top != "tracegrad":
                parts.insert(0, "tracegrad")
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = p
    return out


def arrows_of(name: str, source: str, path: str, known: set[str]) -> list[Arrow]:
    """The imports of tracegrad modules in ``source`` (module ``name``), each marked lazy when
    inside a function. ``from pkg import mod`` counts as importing ``pkg.mod``."""
    is_pkg = path.endswith("__init__.py")
    out: list[Arrow] = []

    def add(target: str, lazy: bool, line: int) -> None:
        if target == "tracegrad" or target.startswith("tracegrad."):
            out.append(Arrow(name, target, lazy, path, line))

    def visit(node: ast.AST, lazy: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = lazy or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            if isinstance(child, ast.Import):
                for a in child.names:
                    add(a.name, inner, child.lineno)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    base = name.split(".") if is_pkg else name.split(".")[:-1]
                    base = base[:len(base) - child.level + 1] + \
                        ([child.module] if child.module else [])
                    module = ".".join(base)
                else:
                    module = child.module or ""
                for a in child.names:
                    sub = f"{module}.{a.name}"
                    add(sub if sub in known else module, inner, child.lineno)
            elif (isinstance(child, ast.Call) and isinstance(child.func, ast.Attribute)
                  and child.func.attr == "import_module" and child.args
                  and isinstance(child.args[0], ast.Constant)
                  and isinstance(child.args[0].value, str)):
                add(child.args[0].value, inner, child.lineno)
            visit(child, inner)

    visit(ast.parse(source), False)
    return out


def layer_of(module: str) -> str | None:
    """The layer whose longest listed name covers ``module``."""
    best, best_len = None, -1
    for layer, names in LAYERS.items():
        for n in names:
            if (module == n or module.startswith(n + ".")) and len(n) > best_len:
                best, best_len = layer, len(n)
    return best


def why_forbidden(a: Arrow) -> str | None:
    """Why arrow ``a`` breaks the layering, or None when the table allows it."""
    src, dst = layer_of(a.importer), layer_of(a.imported)
    if dst in MAY_IMPORT[src] or (a.lazy and dst in LAZY.get(src, ())):
        return None
    if src == "codegen" and dst == "passes" and a.imported.startswith(CODEGEN_MAY_USE_PASSES):
        return None  # an analysis (planned bytes, costs), not a pass run behind the pipeline
    allowed = sorted(MAY_IMPORT[src]) + [f"{x} (lazily)" for x in sorted(LAZY.get(src, ()))]
    return f"{a}: the {src} layer may import only {', '.join(allowed)}, not the {dst} layer"


def all_arrows() -> list[Arrow]:
    files = module_files()
    known = set(files)
    out = []
    for name, path in files.items():
        out.extend(arrows_of(name, path.read_text(), str(path.relative_to(ROOT)), known))
    return out


def test_every_module_has_a_layer():
    missing = [m for m in module_files() if layer_of(m) is None]
    assert not missing, f"add these modules to LAYERS (and docs/architecture.md): {missing}"


def test_no_forbidden_arrow():
    bad = [why for a in all_arrows()
           if (a.importer, a.imported) not in EXEMPT and (why := why_forbidden(a))]
    assert not bad, "forbidden imports:\n" + "\n".join(bad)


def test_exemptions_are_still_needed():
    arrows = {(a.importer, a.imported) for a in all_arrows() if why_forbidden(a)}
    stale = [k for k in EXEMPT if k not in arrows]
    assert not stale, f"these arrows are gone: delete their EXEMPT entries: {stale}"


def test_the_table_is_the_documented_one():
    """docs/architecture.md shows the same table (one row per layer) as this test enforces."""
    doc = (ROOT / "docs" / "architecture.md").read_text()
    for layer in LAYERS:
        row = re.search(rf"^\| *`?{layer}`? *\|(.*)$", doc, re.M)
        assert row, f"docs/architecture.md has no table row for the {layer} layer"
        modules, may, lazy = (c.strip() for c in row.group(1).split("|")[:3])
        for n in LAYERS[layer]:
            short = n.split(".")[-1]
            assert n == "tracegrad" or short in modules, f"the {layer} row does not list {short}"
        assert set(re.findall(r"\w+", may)) == MAY_IMPORT[layer], (layer, may)
        assert set(re.findall(r"\w+", lazy)) == LAZY.get(layer, set()), (layer, lazy)


# --- the checker itself finds what it must (each case is a module that breaks one rule) -------
@pytest.mark.parametrize("name, source, lazy, reason", [
    ("tracegrad.ir", "from .tracer import Tracer\n", False, "ir layer"),
    ("tracegrad.prims.elementwise", "from ..lax import full\n", False, "prims layer"),
    ("tracegrad.prims.elementwise", "def f():\n    from tracegrad import numpy\n", True,
     "prims layer"),
    ("tracegrad.passes.fuse", "def f():\n    from tracegrad.codegen.c import emit\n", True,
     "passes layer"),
    ("tracegrad.codegen.c.emit", "import tracegrad.api\n", False, "codegen layer"),
    ("tracegrad.codegen.c.emit", "from tracegrad import tensor\n", False, "codegen layer"),
    ("tracegrad.codegen.c.executable", "def f():\n    from tracegrad.passes.fuse import fuse\n",
     True, "codegen layer"),
    ("tracegrad.lax", "from tracegrad.passes import autodiff\n", False, "tracing layer"),
    ("tracegrad.api.jit", "from tracegrad.passes import run_pipeline\n", False, "top layer"),
])
def test_checker_catches(name, source, lazy, reason):
    known = set(module_files())
    found = arrows_of(name, source, "x.py", known)
    assert len(found) == 1 and found[0].lazy == lazy
    why = why_forbidden(found[0])
    assert why and reason in why


@pytest.mark.parametrize("name, source", [
    ("tracegrad.api.jit", "def f():\n    from tracegrad.passes import run_pipeline\n"),
    ("tracegrad.codegen.c.emit", "def f():\n    from tracegrad.passes.memplan import analyse\n"),
    ("tracegrad.primitive", "def f():\n    from . import prims\n"),
    ("tracegrad.passes.autodiff", "from tracegrad.tracer import bind\n"),
])
def test_checker_allows(name, source):
    (a,) = arrows_of(name, source, "x.py", set(module_files()))
    assert why_forbidden(a) is None


def test_version_has_one_source():
    """pyproject's version is tracegrad/version.py's (the C cache key reads the latter)."""
    from tracegrad.version import __version__
    text = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^version = "([^"]+)"', text, re.M).group(1) == __version__
