"""Custom differentiation rules: PyTorch's ``Function`` and JAX's ``custom_vjp`` / ``custom_jvp``,
plus ``straight_through`` surrogate gradients.

The forward and the rule bodies are traced into graphs and kept on one call node
(``custom_vjp_call`` / ``custom_jvp_call``); the autodiff pass expands the rule, code generation
inlines the forward. Rule bodies are ordinary traced code, so they compile and can be
differentiated again. Values a rule closes over from an enclosing trace get no gradient
through the rule (stated in docs/gradients.md).
"""
from __future__ import annotations

import functools

import numpy as np

from . import dtypes, lax
from .errors import GradientError, TracegradError, UnsupportedOperationError
from .prims.custom import custom_jvp_call_p, custom_vjp_call_p
from .pytree import tree_flatten, tree_unflatten
from .source_info import check_callable, names_caller
from .staging import call_user, leaf_aval
from .tracer import TraceContext, Tracer, bind


def _is_array_like(x) -> bool:
    """Arrays become node inputs; anything else (Python numbers, strings) is a constant."""
    return isinstance(x, (Tracer, np.ndarray, np.generic))


def _trace_graph(fn, avals, name):
    """Trace ``fn(*tracers)`` on ``avals``; returns (graph, out_tree, captured, raw output)."""
    with TraceContext(name) as ctx:
        ins = [ctx.new_input(av) for av in avals]
        out = fn(*ins)
        leaves, tree = tree_flatten(out)
        graph, captured = ctx.to_graph([_as_atom(x) for x in leaves])
    return graph, tree, captured


def _as_atom(x):
    if isinstance(x, Tracer):
        return x
    a = np.asarray(x)
    if a.dtype.kind == "O":
        raise TracegradError(f"a custom rule returned {type(x).__name__}, not an array")
    if a.ndim == 0:
        from .ir import make_lit
        return make_lit(a.item(), dtypes.canonical(a.dtype))
    return a


# --- PyTorch style ------------------------------------------------------------------------------
class FunctionCtx:
    """The ``ctx`` of ``Function.forward/backward``: ``save_for_backward``, ``saved_tensors``,
    ``needs_input_grad``, and any attributes the forward sets."""

    def __init__(self, needs_input_grad):
        self.needs_input_grad = tuple(needs_input_grad)
        self._saved: tuple = ()
        self._saved_in_backward = None

    def save_for_backward(self, *tensors):
        self._saved = tensors

    @property
    def saved_tensors(self):
        if self._saved_in_backward is not None:
            return self._saved_in_backward
        return self._saved

    def mark_non_differentiable(self, *args):
        pass  # outputs that are integer/bool already get no gradient

    def set_materialize_grads(self, value: bool):
        pass  # cotangents are always materialised (zeros instead of None)


class Function:
    """PyTorch-style custom autograd function, traced into the graph as one node.

    Subclass with ``forward(ctx, *args)`` and ``backward(ctx, *grad_outputs)`` static methods and
    call ``MyFunction.apply(*args)``. Non-array arguments are constants of the node (their
    gradient, returned as ``None``, is ignored).
    """

    @staticmethod
    def forward(ctx, *args):
        raise UnsupportedOperationError("tg.Function subclasses must define "
                                        "@staticmethod forward(ctx, *args)")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise UnsupportedOperationError("tg.Function subclasses must define "
                                        "@staticmethod backward(ctx, *grad_outputs)")

    @classmethod
    @names_caller
    def apply(cls, *args):
        if _has_tensor(args):  # tg.Tensor arguments: one lazy operation of the tensor front
            return _tensor_call(lambda *xs: _apply_function(cls, xs), args, (Function, cls))
        return _apply_function(cls, args)


def _unwrap_tensor(x):
    """tg.Tensor support: the tensor front passes its values through this hook."""
    return getattr(x, "_tg_value", x)


def _has_tensor(args) -> bool:
    return any(getattr(a, "_tg_tensor", False) for a in tree_flatten(args)[0])


def _tensor_call(fn, args, key):
    """Record ``fn(*args)`` as one operation of the tensor front (``tracegrad.tensor``), cached
    under ``key``; the custom rule becomes a node of the lazy graph like any operation."""
    from .tensor import apply_op
    return apply_op(fn, tuple(args), key=key, name=getattr(key[1], "__name__", "custom"))


def _apply_function(cls, args):
    name = cls.__name__
    for method in ("forward", "backward"):
        if getattr(cls, method) is getattr(Function, method):
            sig = "forward(ctx, *args)" if method == "forward" else "backward(ctx, *grad_outputs)"
            raise UnsupportedOperationError(
                f"{name} defines no {method}: a tg.Function subclass needs @staticmethod "
                f"def {sig}" + (" returning one gradient (or None) per forward input"
                                if method == "backward" else ""))
    array_pos = [i for i, a in enumerate(args) if _is_array_like(_unwrap_tensor(a))]
    arrays = [_unwrap_tensor(args[i]) for i in array_pos]
    avals = [leaf_aval(a, f"{name}.apply argument {i}")[0] for i, a in zip(array_pos, arrays)]
    needs = [i in array_pos and dtypes.is_float(avals[array_pos.index(i)].dtype)
             for i in range(len(args))]
    ctx = FunctionCtx(needs)

    def fwd_body(*xs):
        full = list(args)
        for i, x in zip(array_pos, xs):
            full[i] = x
        out = call_user(cls.forward, (ctx, *full), {})
        saved = list(ctx._saved)
        # arrays stashed as ctx attributes are residuals too (PyTorch allows ctx.x = x)
        extra = {k: v for k, v in vars(ctx).items()
                 if not k.startswith("_") and k != "needs_input_grad" and isinstance(v, Tracer)}
        ctx._extra_keys = list(extra)
        return out, saved, [extra[k] for k in ctx._extra_keys]

    with TraceContext(f"{name}.forward") as tctx:
        ins = [tctx.new_input(av) for av in avals]
        out, saved, extra = fwd_body(*ins)
        out_leaves, out_tree = tree_flatten(out)
        if out_tree.kind not in ("leaf", "tuple"):
            raise TracegradError(f"{name}.forward must return an array or a tuple of arrays")
        n_out = len(out_leaves)
        saved_atoms = [_as_atom(s) for s in saved]
        fwd_graph, captured = tctx.to_graph([_as_atom(o) for o in out_leaves] + saved_atoms +
                                            list(extra))
    num_res = len(saved) + len(extra)
    res_avals = [a.aval for a in fwd_graph.outputs[n_out:]]
    out_avals = [a.aval for a in fwd_graph.outputs[:n_out]]

    def bwd_body(*xs):
        res, cts = xs[:num_res], xs[num_res:]
        ctx._saved_in_backward = tuple(res[:len(saved)])
        for k, v in zip(ctx._extra_keys, res[len(saved):]):
            setattr(ctx, k, v)
        try:
            grads = cls.backward(ctx, *cts)
        finally:
            ctx._saved_in_backward = None
        grads = grads if isinstance(grads, tuple) else (grads,)
        if len(grads) != len(args):
            raise GradientError(f"{name}.backward returned {len(grads)} gradients for "
                                f"{len(args)} forward inputs (return None for inputs without one)")
        result = []
        for i, av in zip(array_pos, avals):
            g = _unwrap_tensor(grads[i])
            if g is None or not dtypes.is_float(av.dtype):
                result.append(lax.full(av.shape, 0, av.dtype))
                continue
            if tuple(lax.shape_of(g)) != av.shape:
                raise GradientError(f"{name}.backward returned a gradient of shape "
                                    f"{tuple(lax.shape_of(g))} for input {i} of shape {av.shape}")
            result.append(lax.convert(g, av.dtype) if not lax.is_python_scalar(g)
                          else lax.full(av.shape, g, av.dtype))
        for t in captured:  # closed-over values: no gradient through the custom rule
            result.append(lax.full(t.aval.shape, 0, t.aval.dtype))
        return result

    bwd_graph, _, bwd_captured = _trace_graph(bwd_body, res_avals + out_avals,
                                              f"{name}.backward")
    if bwd_captured:
        raise TracegradError(f"{name}.backward uses a traced value that is neither saved with "
                             "ctx.save_for_backward nor a ctx attribute; save it in forward")
    outs = bind(custom_vjp_call_p, *arrays, *captured, fwd=fwd_graph, bwd=bwd_graph,
                num_res=num_res, name=name)
    return tree_unflatten(out_tree, list(outs))


# --- JAX style ------------------------------------------------------------------------------------
class custom_vjp:
    """``@custom_vjp`` function with ``f.defvjp(fwd, bwd)``: ``fwd(*args) -> (out, residuals)``,
    ``bwd(residuals, cotangent) -> tuple of input cotangents``."""

    @names_caller
    def __init__(self, fun):
        check_callable(fun, "the function given to tg.custom_vjp")
        functools.update_wrapper(self, fun, updated=())
        self.fun = fun
        self.fwd = None
        self.bwd = None

    @names_caller
    def defvjp(self, fwd, bwd):
        check_callable(fwd, f"{self.__name__}.defvjp's fwd rule")
        check_callable(bwd, f"{self.__name__}.defvjp's bwd rule")
        self.fwd, self.bwd = fwd, bwd
        return self

    @names_caller
    def __call__(self, *args):
        if self.fwd is None:
            raise TracegradError(f"custom_vjp function {self.__name__} has no rule: call "
                                 f"{self.__name__}.defvjp(fwd, bwd)")
        if _has_tensor(args):
            return _tensor_call(self, args, (custom_vjp, self))
        if getattr(self, "_in_rule", False):
            return self.fun(*args)  # fwd calling f itself (JAX idiom): the plain primal
        self._in_rule = True
        try:
            return self._call(args)
        finally:
            self._in_rule = False

    def _call(self, args):
        name = self.__name__
        leaves, in_tree = tree_flatten(args)
        avals = [leaf_aval(x, f"{name} argument leaf {i}")[0] for i, x in enumerate(leaves)]
        fwd, bwd = self.fwd, self.bwd
        with TraceContext(f"{name}.fwd") as tctx:
            ins = [tctx.new_input(av) for av in avals]
            res_out = fwd(*tree_unflatten(in_tree, ins))
            if not isinstance(res_out, tuple) or len(res_out) != 2:
                raise TracegradError(f"{name}: the fwd rule must return (output, residuals)")
            out, res = res_out
            out_leaves, out_tree = tree_flatten(out)
            res_leaves, res_tree = tree_flatten(res)
            fwd_graph, captured = tctx.to_graph([_as_atom(o) for o in out_leaves] +
                                                [_as_atom(r) for r in res_leaves])
        n_out = len(out_leaves)
        res_avals = [a.aval for a in fwd_graph.outputs[n_out:]]
        out_avals = [a.aval for a in fwd_graph.outputs[:n_out]]

        def bwd_body(*xs):
            res = tree_unflatten(res_tree, xs[:len(res_avals)])
            ct = tree_unflatten(out_tree, xs[len(res_avals):])
            grads = bwd(res, ct)
            if not isinstance(grads, tuple):
                raise TracegradError(f"{name}: the bwd rule must return a tuple with one "
                                     "cotangent per argument")
            g_leaves, g_tree = tree_flatten(grads, is_leaf=lambda x: x is None)
            if len(g_leaves) != len(avals):
                raise GradientError(f"{name}: the bwd rule returned {len(g_leaves)} cotangents "
                                    f"for {len(avals)} argument arrays")
            for k, (g, av) in enumerate(zip(g_leaves, avals)):
                if g is not None and tuple(lax.shape_of(g)) != av.shape:
                    raise GradientError(f"{name}: the bwd rule returned a cotangent of shape "
                                        f"{tuple(lax.shape_of(g))} for argument leaf {k} of "
                                        f"shape {av.shape}; it must have the argument's shape")
            out = [lax.full(av.shape, 0, av.dtype) if g is None else lax.convert(g, av.dtype)
                   for g, av in zip(g_leaves, avals)]
            return out + [lax.full(t.aval.shape, 0, t.aval.dtype) for t in captured]

        bwd_graph, _, bwd_captured = _trace_graph(bwd_body, res_avals + out_avals, f"{name}.bwd")
        if bwd_captured:
            raise TracegradError(f"{name}: the bwd rule closes over a traced value; pass it "
                                 "through the residuals instead")
        outs = bind(custom_vjp_call_p, *_operands(leaves, avals), *captured, fwd=fwd_graph,
                    bwd=bwd_graph, num_res=len(res_avals), name=name)
        return tree_unflatten(out_tree, list(outs))


def _operands(leaves, avals):
    """Python-number arguments as 0-d arrays of the dtype they were traced with (an operand
    of an equation is an array or a tracer, at every nesting level)."""
    return [np.asarray(x, av.dtype) if lax.is_python_scalar(x) else x
            for x, av in zip(leaves, avals)]


class custom_jvp:
    """``@custom_jvp`` function with ``@f.defjvp`` rule ``jvp(primals, tangents) ->
    (out, tangent_out)``; reverse mode transposes the rule's tangent map.

    The rule runs when the call is differentiated (not when it is traced), at the primal values
    of that moment, so a rule may call the function itself.
    """

    @names_caller
    def __init__(self, fun):
        check_callable(fun, "the function given to tg.custom_jvp")
        functools.update_wrapper(self, fun, updated=())
        self.fun = fun
        self.jvp = None

    @names_caller
    def defjvp(self, jvp):
        check_callable(jvp, f"{self.__name__}.defjvp's rule")
        self.jvp = jvp
        return jvp

    @names_caller
    def __call__(self, *args):
        if self.jvp is None:
            raise TracegradError(f"custom_jvp function {self.__name__} has no rule: decorate "
                                 f"one with @{self.__name__}.defjvp")
        if _has_tensor(args):
            return _tensor_call(self, args, (custom_jvp, self))
        name = self.__name__
        leaves, in_tree = tree_flatten(args)
        avals = [leaf_aval(x, f"{name} argument leaf {i}")[0] for i, x in enumerate(leaves)]
        fun, user_rule = self.fun, self.jvp
        fun_graph, out_tree, captured = _trace_graph(
            lambda *xs: fun(*tree_unflatten(in_tree, xs)), avals, f"{name}")
        if captured:
            raise TracegradError(f"custom_jvp function {name} closes over a traced value; pass "
                                 "it as an argument")

        def rule(primals, tangents):
            """Flat primals and tangents -> (flat outputs, flat output tangents)."""
            ps = tree_unflatten(in_tree, primals)
            ts = tree_unflatten(in_tree, tangents)
            res = user_rule(tuple(ps), tuple(ts))
            if not isinstance(res, tuple) or len(res) != 2:
                raise TracegradError(f"{name}: the jvp rule must return (output, tangent)")
            out, t_out = res
            o_leaves, o_tree = tree_flatten(out)
            t_leaves, t_tree = tree_flatten(t_out)
            if o_tree != out_tree or t_tree != out_tree:
                raise TracegradError(f"{name}: the jvp rule's outputs must match the function's "
                                     f"output structure {out_tree}")
            for k, (t, a) in enumerate(zip(t_leaves, fun_graph.outputs)):
                if not lax.is_python_scalar(t) and tuple(lax.shape_of(t)) != a.aval.shape:
                    raise GradientError(f"{name}: the jvp rule returned a tangent of shape "
                                        f"{tuple(lax.shape_of(t))} for output leaf {k} of shape "
                                        f"{a.aval.shape}; it must have the output's shape")
            t_leaves = [lax.convert(t, a.aval.dtype) if not lax.is_python_scalar(t) else
                        lax.full(a.aval.shape, t, a.aval.dtype)
                        for t, a in zip(t_leaves, fun_graph.outputs)]
            return list(o_leaves), t_leaves

        rule.__name__ = f"{name}_jvp"
        outs = bind(custom_jvp_call_p, *_operands(leaves, avals), fun=fun_graph, rule=rule,
                    name=name)
        return tree_unflatten(out_tree, list(outs))


@names_caller
def straight_through(fn, surrogate=None):
    """``fn``'s value with ``surrogate``'s gradient (identity by default): the straight-through
    estimator for non-differentiable operations such as ``np.round``, ``np.sign`` or a step."""
    check_callable(fn, "straight_through's fn")
    if surrogate is None:
        surrogate = lambda x: x  # noqa: E731
    check_callable(surrogate, "straight_through's surrogate")
    name = getattr(fn, "__name__", "fn")

    @custom_jvp
    def st(x):
        return fn(x)

    def rule(primals, tangents):
        (x,), (t,) = primals, tangents
        _, t_out = _inline_jvp(surrogate, x, t)
        return fn(x), t_out

    st.defjvp(rule)
    st.__name__ = f"straight_through_{name}"
    return st


def _inline_jvp(fn, x, t):
    """Forward-mode derivative of ``fn`` at ``x`` along ``t``, recorded in the current trace."""
    from tracegrad.passes.autodiff import jvp_inline
    from .staging import trace
    tr = trace(fn, (x,), {}, name=getattr(fn, "__name__", "surrogate"))
    outs, ts = jvp_inline(tr.graph, [x] + tr.captured, [t] + [None] * len(tr.captured))
    out = outs[0]
    t_out = ts[0] if ts[0] is not None else lax.full(lax.shape_of(out), 0, lax.dtype_of(out))
    return out, t_out

