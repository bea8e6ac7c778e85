"""Custom-rule calls: a node whose forward and derivative are user graphs (tg.Function,
custom_vjp, custom_jvp, straight_through). The autodiff pass expands their rules; before code
generation the inline pass replaces each node by its forward graph.
"""
from __future__ import annotations

from ..primitive import Primitive, Traits


def _vjp_call_rule(*avals, fwd, bwd, num_res, name):
    outs = fwd.out_avals
    return outs[:len(outs) - num_res]


def _vjp_call_impl(*args, fwd, bwd, num_res, name):
    from ..interpreter import eval_graph
    outs = eval_graph(fwd, list(args))
    return outs[:len(outs) - num_res]


custom_vjp_call_p = Primitive(
    "custom_vjp_call", kind="custom", abstract_eval=_vjp_call_rule, impl=_vjp_call_impl,
    multiple_results=True,
    doc="fwd: inputs -> outputs + residuals; bwd: residuals + output cts -> input cts",
    traits=Traits(foldable=False, body_param="fwd", range="singular"))


def _jvp_call_rule(*avals, fun, rule, name):
    return fun.out_avals


def _jvp_call_impl(*args, fun, rule, name):
    from ..interpreter import eval_graph
    return eval_graph(fun, list(args))


custom_jvp_call_p = Primitive(
    "custom_jvp_call", kind="custom", abstract_eval=_jvp_call_rule, impl=_jvp_call_impl,
    multiple_results=True,
    doc="fun: inputs -> outputs; rule(primals, tangents) -> (outputs, output tangents), "
        "a Python function run when the call is differentiated",
    traits=Traits(foldable=False, body_param="fun", range="singular"))


# --- batching (vmap): a loop over the examples keeps each call (and so its custom rule) --------
from ..primitive import defbatch  # noqa: E402
from .batching import batch_by_loop  # noqa: E402

defbatch(custom_vjp_call_p, batch_by_loop(custom_vjp_call_p))
defbatch(custom_jvp_call_p, batch_by_loop(custom_jvp_call_p))
