"""The public transformations (``jit``, ``grad``, ``vjp``, ``jvp``, ``jacobian``, ``make_ir`` ...)
and their lowering. Modules import one way: jit <- lowering; transforms <- transform_function
<- jit; jacobians <- transforms; make_ir <- all of them."""
from __future__ import annotations

from .jacobians import hessian, jacfwd, jacobian, jacrev
from .jit import BACKENDS, MISS_REASONS_KEPT, CacheInfo, JitFunction, Signature, jit
from .lowering import Lowered, compile_traced, ident, make_executable, planned_peak_bytes
from .make_ir import make_ir
from .transform_cache import transform_cache_clear, transform_cache_info
from .transform_function import TransformFunction
from .transforms import grad, hvp, jvp, value_and_grad, vjp
from .vmap import vmap

__all__ = ["BACKENDS", "CacheInfo", "JitFunction", "Lowered", "MISS_REASONS_KEPT", "Signature",
           "TransformFunction", "compile_traced", "grad", "hessian", "hvp", "ident", "jacfwd", "jacobian", "jacrev",
           "jit", "jvp", "make_executable", "make_ir", "planned_peak_bytes", "transform_cache_clear",
           "transform_cache_info", "value_and_grad", "vjp", "vmap"]
