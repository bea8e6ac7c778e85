"""Differentiation transforms: value_and_grad, grad, vjp, jvp, hvp; each returns a compiled
callable whose body expands ``passes.autodiff`` into the enclosing trace, so transforms nest
(``grad(grad(f))``). Python ints that are not differentiated are static (transform_function.py).
"""
from __future__ import annotations

import weakref

from .. import dtypes, lax
from ..errors import ArgumentError, GradientError
from ..pytree import tree_flatten, tree_unflatten
from ..source_info import check_callable, names_caller
from ..staging import leaf_aval
from .transform_function import (TransformFunction, argnum_positions, as_operands,
                                 autodiff_passes, check_argnums, check_scalar_output, compiled,
                                 fn_name, leaf_ranges, regroup, trace_for_ad, trace_static,
                                 wrt_leaves)


@names_caller
def value_and_grad(fn, argnums=0, has_aux=False):
    """``(value, gradient)`` of a scalar-valued ``fn`` with respect to ``args[argnums]``."""
    fname = f"value_and_grad({fn_name(fn)})"
    check_callable(fn, "the function given to tg.value_and_grad")

    def body(*args, **kwargs):
        nums = check_argnums(argnums, args, fname)
        wrt, ranges = wrt_leaves(args, nums, fname)
        traced = trace_for_ad(fn, args, kwargs, nums)
        graph = traced.graph
        if has_aux:
            td = traced.out_tree
            if td.kind not in ("tuple", "list") or len(td.children) != 2 or \
                    td.children[0].kind != "leaf":
                raise GradientError(f"{fname} with has_aux=True needs the function to return "
                                    f"(value, aux), got the structure {td}")
        elif traced.out_tree.kind != "leaf":
            raise GradientError(f"{fname} needs the function to return one scalar array, got the "
                                f"structure {traced.out_tree} (use has_aux=True to return "
                                "(value, aux))")
        value_aval = graph.outputs[0].aval
        check_scalar_output(value_aval, fname)
        flat_in = as_operands(tree_flatten((args, kwargs))[0])
        seed = lax.full(value_aval.shape, 1.0, value_aval.dtype)
        cts = [seed] + [None] * (len(graph.outputs) - 1)
        outs, grads = autodiff_passes().vjp_inline(graph, flat_in + traced.captured, cts, wrt)
        value = tree_unflatten(traced.out_tree, outs)
        return value, regroup(grads, nums, ranges, argnums)
    return compiled(body, f"value_and_grad_{fn_name(fn)}", argnum_positions(argnums))


@names_caller
def grad(fn, argnums=0, has_aux=False):
    """Gradient of a scalar-valued ``fn`` (PyTorch's ``backward()`` as a function).

    Python int/bool arguments outside ``argnums`` are static (see the module docstring)."""
    check_callable(fn, "the function given to tg.grad")
    vg = value_and_grad(fn, argnums, has_aux)
    vg_body = vg.fn

    def body(*args, **kwargs):
        value, g = vg_body(*args, **kwargs)
        return (g, value[1]) if has_aux else g
    return compiled(body, f"grad_{fn_name(fn)}", argnum_positions(argnums))


_PRIMAL_JIT: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


@names_caller
def vjp(fn, *primals, has_aux=False):
    """``(out, vjp_fn)``: ``vjp_fn(cotangent)`` returns one cotangent per primal argument.

    Cotangents for integer or bool leaves are ``None``.
    """
    check_callable(fn, "the function given to tg.vjp")
    fname = f"vjp({fn_name(fn)})"
    traced = trace_static(fn, primals, {})
    graph = traced.graph
    leaves = tree_flatten(primals)[0]
    wrt = [i for i, v in enumerate(graph.inputs[:len(leaves)]) if dtypes.is_float(v.aval.dtype)]
    ranges = leaf_ranges(primals)
    forward = _primal_jit(fn)
    out = forward(*primals)
    if has_aux:
        out, aux = out
    out_tree = traced.out_tree.children[0] if has_aux else traced.out_tree
    n_main = out_tree.num_leaves

    def pull(*args):
        prim_args, ct = args[:-1], args[-1]
        tr = trace_for_ad(fn, prim_args, {})
        ct_leaves, ct_tree = tree_flatten(ct)
        if ct_tree != out_tree:
            raise GradientError(f"{fname}: the cotangent has structure {ct_tree} but the output "
                                f"has {out_tree}")
        for c, o in zip(ct_leaves, tr.graph.outputs[:n_main]):
            if tuple(lax.shape_of(c)) != o.aval.shape:
                raise GradientError(f"{fname}: cotangent shape {tuple(lax.shape_of(c))} does not "
                                    f"match the output shape {o.aval.shape}")
        cts = [lax.convert(c, o.aval.dtype) if dtypes.is_float(o.aval.dtype) else None
               for c, o in zip(ct_leaves, tr.graph.outputs[:n_main])]
        cts += [None] * (len(tr.graph.outputs) - n_main)
        flat_in = as_operands(tree_flatten(prim_args)[0])
        _, grads = autodiff_passes().vjp_inline(tr.graph, flat_in + tr.captured, cts, wrt)
        full = [None] * len(flat_in)
        for i, g in zip(wrt, grads):
            full[i] = g
        return tuple(tree_unflatten(td, full[s:e]) for s, e, td in ranges)

    pull_jit = compiled(pull, f"vjp_{fn_name(fn)}")

    def vjp_fn(ct):
        return pull_jit(*primals, ct)
    return (out, vjp_fn, aux) if has_aux else (out, vjp_fn)


def _primal_jit(fn):
    try:
        hit = _PRIMAL_JIT.get(fn)
    except TypeError:
        hit = None
    if hit is None:
        hit = TransformFunction(fn)
        try:
            _PRIMAL_JIT[fn] = hit
        except TypeError:
            pass
    return hit


@names_caller
def jvp(fn, primals, tangents):
    """Forward mode: ``(fn(*primals), J @ tangents)``."""
    check_callable(fn, "the function given to tg.jvp")
    fname = f"jvp({fn_name(fn)})"
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise GradientError(f"{fname}: primals and tangents must be tuples (one entry per "
                            "argument), e.g. jvp(f, (x,), (t,))")
    if len(primals) != len(tangents):
        raise GradientError(f"{fname}: {len(primals)} primals but {len(tangents)} tangents")
    p_leaves, p_tree = tree_flatten(tuple(primals))
    t_leaves, t_tree = tree_flatten(tuple(tangents))
    if p_tree != t_tree:
        raise GradientError(f"{fname}: tangents have structure {t_tree}, primals {p_tree}")
    for i, (p, t) in enumerate(zip(p_leaves, t_leaves)):
        pa, _ = leaf_aval(p, f"primal {i}")
        ta, _ = leaf_aval(t, f"tangent {i}")
        if pa.shape != ta.shape:
            raise GradientError(f"{fname}: tangent {i} has shape {ta.shape}, its primal "
                                f"{pa.shape}")

    n = len(primals)

    def body(*flat):  # primals, then tangents: top-level arguments, so ints can be static
        primals, tangents = flat[:n], flat[n:]
        tr = trace_for_ad(fn, tuple(primals), {})
        flat_p = as_operands(tree_flatten(tuple(primals))[0])
        flat_t = as_operands(tree_flatten(tuple(tangents))[0])
        ts = [lax.convert(t, v.aval.dtype) if dtypes.is_float(v.aval.dtype) else None
              for t, v in zip(flat_t, tr.graph.inputs)]
        outs, out_ts = autodiff_passes().jvp_inline(tr.graph, flat_p + tr.captured,
                                              ts + [None] * len(tr.captured))
        out_ts = [t if t is not None else lax.full(a.aval.shape, 0, a.aval.dtype)
                  for t, a in zip(out_ts, tr.graph.outputs)]
        return tree_unflatten(tr.out_tree, outs), tree_unflatten(tr.out_tree, out_ts)
    return compiled(body, f"jvp_{fn_name(fn)}", lambda _: range(n, 2 * n))(*primals, *tangents)



@names_caller
def hvp(fn, primals, tangents):
    """Hessian-vector product ``H @ tangents`` (forward-over-reverse: jvp of the gradient)."""
    check_callable(fn, "the function given to tg.hvp")
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise ArgumentError(f"hvp({fn_name(fn)}): primals and tangents must be tuples (one entry "
                            "per argument), e.g. tg.hvp(f, (x,), (v,))")
    g = grad(fn, argnums=tuple(range(len(primals))) if len(primals) > 1 else 0).fn
    _, out_t = jvp(g, primals, tangents)
    return out_t
