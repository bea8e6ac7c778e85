"""``fused``: one kernel made by the fusion pass from an elementwise chain (with its input
broadcasts and an optional reduction at the end). ``body`` is an ordinary graph over the
kernel's inputs; its outputs are the values used outside the kernel."""
from __future__ import annotations

from ..primitive import Primitive, Traits


def _fused_rule(*avals, body, name):
    return body.out_avals


def _fused_impl(*args, body, name):
    from ..interpreter import eval_graph
    return eval_graph(body, list(args))


fused_p = Primitive(
    "fused", kind="fused", abstract_eval=_fused_rule, impl=_fused_impl,
    multiple_results=True,
    doc="a kernel: body graph of elementwise ops (+ input broadcasts, + a final reduction)",
    traits=Traits(body_param="body"))


# Kernels made by the fuse-rows pass (passes/fuse_rows.py) are fused equations named
# ``rows<n>``: the C backend runs their body as one pass over the rows (codegen/c/row_kernels.py)
ROW_PREFIX = "rows"


def is_row_kernel(e) -> bool:
    return e.prim is fused_p and str(e.params.get("name", "")).startswith(ROW_PREFIX)


# Kernels made by the onepass-products pass (passes/onepass_products.py) are named
# ``onepass<n>``: the C backend runs ``A.T @ g(A @ X)`` in one pass over A (codegen/c/onepass.py)
ONEPASS_PREFIX = "onepass"


def is_onepass(e) -> bool:
    return e.prim is fused_p and str(e.params.get("name", "")).startswith(ONEPASS_PREFIX)
