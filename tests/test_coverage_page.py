"""docs/numpy-coverage.md is the list the dispatch tables hold (regenerate it with
``python -m tracegrad.cli.coverage --write``), and every SciPy function it lists is reachable
from SciPy's own name: a ufunc maps by identity, any other function or distribution method is
routed (tracegrad/scipy/routing.py), so the page never lists what a user cannot call.
"""
from __future__ import annotations

import functools

import numpy as np
import pytest

import tracegrad as tg
from tracegrad.cli import coverage
from tracegrad.scipy import routing


def test_the_coverage_page_is_current():
    assert coverage.PAGE.exists(), "run python -m tracegrad.cli.coverage --write"
    assert coverage.PAGE.read_text() == coverage.render(), \
        "docs/numpy-coverage.md is stale: run python -m tracegrad.cli.coverage --write"


def test_the_check_flag_fails_on_a_stale_page(tmp_path, monkeypatch):
    monkeypatch.setattr(coverage, "PAGE", tmp_path / "page.md")
    assert coverage.main(["--check"]) == 1
    coverage.main(["--write"])
    assert coverage.main(["--check"]) == 0
    (tmp_path / "page.md").write_text(coverage.render().replace("`np.exp`, ", ""))
    assert coverage.main(["--check"]) == 1


def _scipy_names():
    return [n for title, names in coverage.sections() if title in ("scipy.special", "scipy.stats")
            for n in names]


def _resolve(qualname):
    import importlib
    parts = qualname.split(".")
    obj = importlib.import_module(".".join(parts[:2]))
    return functools.reduce(getattr, parts[2:], obj)


@pytest.mark.parametrize("qualname", _scipy_names())
def test_every_listed_scipy_function_is_reachable_from_scipy(qualname):
    obj = _resolve(qualname)  # an AttributeError here: the page lists a name SciPy lacks
    tg.jit(lambda x: x + 1)(np.ones(1))  # a trace installs the routes of loaded modules
    if isinstance(obj, np.ufunc):
        impl = routing.ufunc_impl(obj)  # (psi and digamma are one ufunc: either version)
        assert impl is not None, f"{qualname} is listed but its ufunc does not dispatch"
        assert any(impl is routing.IMPLEMENTATIONS[q] and _resolve(q) is obj
                   for q in routing.IMPLEMENTATIONS if q.startswith("scipy.special."))
    else:
        fn = getattr(obj, "__func__", obj)  # a distribution's bound method: its function
        assert fn in routing._ROUTED_FUNCTIONS, f"{qualname} is listed but never routed"
