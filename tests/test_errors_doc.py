"""docs/errors.md runs: every ```python raises=X``` block raises X (naming the line marked
``# <--`` when it has one), every ```python warns=X``` block warns X, every plain ```python```
block (the fixes) runs cleanly, and every error class has an example.

Blocks run in a fresh namespace under the file name ``<errors.md:LINE>`` (registered with
linecache, so messages quote the line), with os.environ restored and tracegrad's
once-per-process fallback state reset around each, since examples set ``CC``; they run with
the real default backend ("auto"), not the suite's NumPy one, as a reader's would.
"""
from __future__ import annotations

import linecache
import os
import re
from dataclasses import dataclass

import pytest

import tracegrad
import tracegrad as tg

DOC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs",
                   "errors.md")


@dataclass(frozen=True)
class Block:
    line: int          # line of the opening fence in errors.md
    kind: str          # "raises", "warns" or "runs"
    target: str        # the expression after raises=/warns= ("" for "runs")
    code: str

    @property
    def id(self) -> str:
        return f"L{self.line}-{self.kind}{'-' + self.target.split('.')[-1] if self.target else ''}"


def blocks() -> list[Block]:
    with open(DOC) as fh:
        text = fh.read()
    out = []
    for m in re.finditer(r"^```python([^\n]*)\n(.*?)^```\s*$", text, re.MULTILINE | re.DOTALL):
        info = m.group(1).strip()
        line = text.count("\n", 0, m.start()) + 1
        if not info:
            out.append(Block(line, "runs", "", m.group(2)))
            continue
        kind, _, target = info.partition("=")
        assert kind in ("raises", "warns") and target, f"errors.md:{line}: bad fence {info!r}"
        out.append(Block(line, kind, target.strip(), m.group(2)))
    return out


def _resolve(expr: str):
    return eval(expr, {"tg": tg, "tracegrad": _modules()})


def _modules():
    # importing the submodules makes them attributes of the package (tracegrad.indexing...)
    import tracegrad.cli.errors
    import tracegrad.indexing
    import tracegrad.testing
    return tracegrad


@pytest.fixture
def fresh_state(monkeypatch):
    """Examples set $CC: restore the environment and forget what the C runtime and jit's
    'auto' fallback learnt (warned once, compiler probed) before and after each block."""
    from tracegrad.codegen.c import loader as c_loader

    from tracegrad.api import lowering
    import os
    saved = dict(os.environ)  # the examples assign os.environ["CC"] directly: restore it all
    monkeypatch.delenv("CC", raising=False)
    monkeypatch.setenv("TRACEGRAD_BACKEND", "auto")
    monkeypatch.setattr(lowering, "_C_UNAVAILABLE", [])
    c_loader._reset_compiler_check()
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
        c_loader._reset_compiler_check()


def _run(block: Block):
    filename = f"<errors.md:{block.line}>"
    lines = block.code.splitlines(keepends=True)
    linecache.cache[filename] = (len(block.code), None, lines, filename)
    exec(compile(block.code, filename, "exec"), {"__name__": "__errors_doc__"})  # noqa: S102
    return filename


@pytest.mark.parametrize("block", [pytest.param(b, id=b.id) for b in blocks()])
def test_errors_doc_example(block, fresh_state):
    if block.kind == "runs":  # (a machine without a C compiler may warn: not an error)
        _run(block)
        return
    target = _resolve(block.target)
    if block.kind == "warns":
        with pytest.warns(target):
            _run(block)
        return
    with pytest.raises(target) as info:
        _run(block)
    marked = [i for i, ln in enumerate(block.code.splitlines(), 1) if "# <--" in ln]
    if marked:
        assert f"<errors.md:{block.line}>:{marked[0]}" in str(info.value), str(info.value)


def test_every_error_class_has_an_example():
    from tracegrad import errors
    _modules()
    classes = {c for c in vars(errors).values()
               if isinstance(c, type) and issubclass(c, (errors.TracegradError,
                                                         errors.TracegradWarning))}
    classes |= {tracegrad.indexing.TracedIndexError, tracegrad.testing.GradientCheckError,
                tracegrad.cli.errors.CLIError}
    shown = {_resolve(b.target) for b in blocks() if b.kind != "runs"}
    missing = sorted(c.__name__ for c in classes - shown)
    assert not missing, f"docs/errors.md has no example raising {missing}"
    # and every example that raises (or warns) is directly followed by its fix
    bs = blocks()
    for b, after in zip(bs, bs[1:] + [None]):
        if b.kind != "runs":
            assert after is not None and after.kind == "runs", \
                f"the example at errors.md:{b.line} has no fix after it"
