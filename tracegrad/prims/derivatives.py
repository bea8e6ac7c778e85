"""Derivative rules: where they live and the completeness check.

Each primitive's rules are declared beside it, keyed by the primitive object
(``tracegrad.primitive.defjvp/defvjp/deftranspose``):
  elementwise primitives get both from the partials table (``prims/elementwise.py``; one
  declaration drives both modes); linear primitives apply themselves to tangents and declare a
  transpose (``prims/structural.py``, ``prims/reductions.py``); ``dot_general`` has two
  transposes (``prims/contraction.py``); non-differentiable primitives (``nondiff``) get zero
  rules from their declaration. Custom calls and fused kernels are expanded by the autodiff pass
  itself (their rules are graphs).
Rule shapes (``None`` stands for a symbolic zero):
  ``jvp(primals, tangents, outs, **params) -> out tangents``
  ``vjp(cts, primals, outs, **params) -> input cotangents``
"""
from __future__ import annotations

from ..primitive import JVP_RULES, PRIMITIVES, VJP_RULES
from .elementwise import mask_scope  # noqa: F401  (the autodiff pass sets masks through it)
from .ops import instantiate, is_float  # noqa: F401


def missing_rules() -> list[str]:
    """Primitives without derivative rules (the registry test keeps this empty). Custom calls
    and fused kernels are expanded by the autodiff pass instead (their rules are graphs)."""
    return sorted(n for n, p in PRIMITIVES.items()
                  if (p not in JVP_RULES or p not in VJP_RULES)
                  and p.kind not in ("custom", "fused"))
