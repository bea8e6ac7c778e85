"""``make_ir``: the Graph of a function at a pipeline stage (traced, grad or optimized)."""
from __future__ import annotations

from ..errors import ArgumentError
from ..source_info import check_callable, names_caller
from ..staging import trace
from .jit import JitFunction
from .lowering import compile_traced
from .transforms import value_and_grad


@names_caller
def make_ir(fn, *, grad=False, stage="optimized", static_argnums=(), argnums=0):
    """``make_ir(f, stage=...)(*args)`` returns the Graph of ``f`` at a pipeline stage.

    Stages: ``traced`` (the function as written), ``grad`` (value and gradient as derived by the
    autodiff pass, before optimisation; implies ``grad=True``), ``optimized`` (after the default
    pipeline; of the gradient program when ``grad=True``).
    """
    stages = ("traced", "grad", "optimized")
    if stage not in stages:
        raise ArgumentError(f"stage must be one of {stages}, got {stage!r}")
    check_callable(fn, "the function given to tg.make_ir")

    @names_caller
    def build(*args, **kwargs):
        target = fn
        if grad or stage == "grad":
            if stage != "traced":
                target = value_and_grad(fn, argnums=argnums)
        jf = JitFunction(target, backend="numpy", static_argnums=static_argnums)
        dyn, kw, statics = jf._split(args, kwargs)
        traced = trace(jf.fn, dyn, kw, rebuild=jf._rebuild(statics))
        if stage in ("traced", "grad"):
            return traced.graph
        return compile_traced(traced, backend="numpy").ir
    return build
