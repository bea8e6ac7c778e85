"""Run a patch on a SciPy module now if it is loaded, else as soon as it finishes importing
(so ``import tracegrad`` never imports SciPy): how scipy.linalg's and scipy.signal's functions
come to route traced arguments to tracegrad's versions."""
from __future__ import annotations

import importlib.abc
import importlib.util
import sys


class _PatchOnImport(importlib.abc.MetaPathFinder):
    """Applies ``patch`` to module ``fullname`` right after the module executes."""

    def __init__(self, fullname: str, patch):
        self.fullname, self.patch = fullname, patch

    def find_spec(self, fullname, path, target=None):
        if fullname != self.fullname:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        run, patch = spec.loader.exec_module, self.patch

        def exec_module(module):
            run(module)
            patch(module)
        spec.loader.exec_module = exec_module
        return spec


def when_imported(fullname: str, patch) -> None:
    """``patch(module)`` now if ``fullname`` is loaded, else once it has been imported."""
    if fullname in sys.modules:
        patch(sys.modules[fullname])
    elif not any(isinstance(f, _PatchOnImport) and f.fullname == fullname
                 for f in sys.meta_path):
        sys.meta_path.insert(0, _PatchOnImport(fullname, patch))
