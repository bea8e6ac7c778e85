"""Differentiation transforms: value_and_grad, grad, vjp, jvp, hvp; each returns a compiled
callable (built once per function identity: transform_cache.py) whose body expands
``passes.autodiff`` into the enclosing trace, so transforms nest (``grad(grad(f))``)."""
from __future__ import annotations

import numpy as np

from .. import dtypes, lax, random_host
from ..errors import ArgumentError, GradientError
from ..pytree import tree_flatten, tree_unflatten
from ..source_info import check_callable, names_caller
from ..staging import leaf_aval
from .transform_cache import cached
from .transform_function import (TransformFunction, argnum_positions, as_operands,
                                 autodiff_passes, check_scalar_output, compiled, fn_name,
                                 leaf_ranges, regroup, split_differentiated, split_statics,
                                 static_nums, trace_for_ad, wrt_leaves)


@names_caller
def value_and_grad(fn, argnums=0, has_aux=False, static_argnums=()):
    """``(value, gradient)`` of a scalar-valued ``fn`` with respect to ``args[argnums]``.

    ``static_argnums``: positions passed as Python values (any hashable value, one program per
    value, keyed by ``identity.value_key``) instead of traced."""
    check_callable(fn, "the function given to tg.value_and_grad")
    static_argnums = _as_tuple(static_argnums)
    return cached("value_and_grad", fn, (argnums, has_aux, static_argnums),
                  lambda: _value_and_grad(fn, argnums, has_aux, static_argnums))


def _as_tuple(nums):
    """``static_argnums`` in a hashable form (checked later, when the argument count is known)."""
    return tuple(nums) if isinstance(nums, (list, tuple)) else nums


def _value_and_grad(fn, argnums, has_aux, static_argnums):
    fname = f"value_and_grad({fn_name(fn)})"

    def body(*args, **kwargs):
        sfn, args, nums = split_differentiated(fn, args, argnums, static_argnums, fname)
        wrt, ranges = wrt_leaves(args, nums, fname)
        traced = trace_for_ad(sfn, args, kwargs, nums)
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
    return compiled(body, f"value_and_grad_{fn_name(fn)}", argnum_positions(argnums),
                    static_argnums, _respec(value_and_grad, fn, static_argnums,
                                            argnums=argnums, has_aux=has_aux))


def _respec(transform, fn, static_argnums, **opts):
    """``respec`` of a TransformFunction: the same transform with more static positions."""
    def respec(more):
        old = static_argnums if isinstance(static_argnums, tuple) else (static_argnums,)
        return transform(fn, **opts, static_argnums=tuple(sorted(set(old + tuple(more)))))
    return respec


@names_caller
def grad(fn, argnums=0, has_aux=False, static_argnums=()):
    """Gradient of a scalar-valued ``fn`` (PyTorch's ``backward()`` as a function).

    Python int/bool arguments outside ``argnums`` are static (see the module docstring), and so
    are the positions in ``static_argnums`` (any hashable value)."""
    check_callable(fn, "the function given to tg.grad")
    static_argnums = _as_tuple(static_argnums)
    return cached("grad", fn, (argnums, has_aux, static_argnums),
                  lambda: _grad(fn, argnums, has_aux, static_argnums))


def _grad(fn, argnums, has_aux, static_argnums):
    vg_body = value_and_grad(fn, argnums, has_aux, static_argnums).fn

    def body(*args, **kwargs):
        value, g = vg_body(*args, **kwargs)
        return (g, value[1]) if has_aux else g
    return compiled(body, f"grad_{fn_name(fn)}", argnum_positions(argnums), static_argnums,
                    _respec(grad, fn, static_argnums, argnums=argnums, has_aux=has_aux))


@names_caller
def vjp(fn, *primals, has_aux=False, static_argnums=()):
    """``(out, vjp_fn)``: ``vjp_fn(cotangent)`` returns one cotangent per primal argument.

    Cotangents for integer or bool leaves, and for the ``static_argnums`` positions, are
    ``None``.
    """
    check_callable(fn, "the function given to tg.vjp")
    fname = f"vjp({fn_name(fn)})"
    snums = static_nums(_as_tuple(static_argnums), len(primals), fname)
    sfn, dyn = split_statics(fn, primals, snums)
    forward = cached("vjp_forward", sfn, (), lambda: TransformFunction(sfn))
    # np.random draws inside: the pullback (a second program) replays the forward's keys
    with random_host.recording() as keys:
        out = forward(*dyn)
    if has_aux:
        out, aux = out
    pull_jit = cached("vjp", sfn, (has_aux,), lambda: _pull(sfn, has_aux, fname))

    def vjp_fn(ct):
        with random_host.replaying(keys):
            cts = iter(pull_jit(*dyn, ct))
        return tuple(None if i in snums else next(cts) for i in range(len(primals)))
    return (out, vjp_fn, aux) if has_aux else (out, vjp_fn)


def _pull(fn, has_aux, fname):
    """The compiled cotangent map of ``vjp``: ``pull(*primals, ct)``."""
    def pull(*args):
        prim_args, ct = args[:-1], args[-1]
        tr = trace_for_ad(fn, prim_args, {})
        out_tree = tr.out_tree.children[0] if has_aux else tr.out_tree
        n_main = out_tree.num_leaves
        leaves = tree_flatten(prim_args)[0]
        wrt = [i for i, v in enumerate(tr.graph.inputs[:len(leaves)])
               if dtypes.is_inexact(v.aval.dtype)]
        ct_leaves, ct_tree = tree_flatten(ct)
        if ct_tree != out_tree:
            raise GradientError(f"{fname}: the cotangent has structure {ct_tree} but the output "
                                f"has {out_tree}")
        for c, o in zip(ct_leaves, tr.graph.outputs[:n_main]):
            if tuple(lax.shape_of(c)) != o.aval.shape:
                raise GradientError(f"{fname}: cotangent shape {tuple(lax.shape_of(c))} does not "
                                    f"match the output shape {o.aval.shape}")
        cts = [lax.convert(c, o.aval.dtype) if dtypes.is_inexact(o.aval.dtype) else None
               for c, o in zip(ct_leaves, tr.graph.outputs[:n_main])]
        cts += [None] * (len(tr.graph.outputs) - n_main)
        flat_in = as_operands(leaves)
        _, grads = autodiff_passes().vjp_inline(tr.graph, flat_in + tr.captured, cts, wrt)
        full = [None] * len(flat_in)
        for i, g in zip(wrt, grads):
            full[i] = g
        return tuple(tree_unflatten(td, full[s:e]) for s, e, td in leaf_ranges(prim_args))
    return compiled(pull, f"vjp_{fn_name(fn)}")


def _split_tangents(fname, primals, tangents, snums):
    """``tangents`` without the static positions: one per primal (the static ones ignored) or
    one per dynamic primal."""
    if not snums or len(tangents) == len(primals) - len(snums):
        return tuple(tangents)
    if len(tangents) != len(primals):
        raise GradientError(f"{fname}: {len(primals)} primals ({len(snums)} static) but "
                            f"{len(tangents)} tangents")
    return tuple(t for i, t in enumerate(tangents) if i not in snums)


@names_caller
def jvp(fn, primals, tangents, static_argnums=()):
    """Forward mode: ``(fn(*primals), J @ tangents)``. ``static_argnums`` index ``primals``;
    ``tangents`` has one entry per primal (those of static ones are ignored) or one per
    non-static primal."""
    check_callable(fn, "the function given to tg.jvp")
    fname = f"jvp({fn_name(fn)})"
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise GradientError(f"{fname}: primals and tangents must be tuples (one entry per "
                            "argument), e.g. jvp(f, (x,), (t,))")
    snums = static_nums(_as_tuple(static_argnums), len(primals), fname)
    tangents = _split_tangents(fname, primals, tangents, snums)
    fn, primals = split_statics(fn, tuple(primals), snums)
    _check_tangents(fname, primals, tangents)
    n = len(primals)
    return cached("jvp", fn, (n,), lambda: _jvp(fn, n))(*primals, *tangents)


def _check_tangents(fname, primals, tangents) -> None:
    """One tangent per primal, of its structure and shapes (a typed error naming the mismatch)."""
    if len(primals) != len(tangents):
        raise GradientError(f"{fname}: {len(primals)} primals but {len(tangents)} tangents")
    if all(type(p) is np.ndarray and type(t) is np.ndarray and p.shape == t.shape
           for p, t in zip(primals, tangents)):
        return  # the common case, without walking pytrees (inline hvp/jvp per-call cost)
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


def _jvp(fn, n):
    def body(*flat):  # primals, then tangents: top-level arguments, so ints can be static
        primals, tangents = flat[:n], flat[n:]
        tr = trace_for_ad(fn, tuple(primals), {})
        flat_p = as_operands(tree_flatten(tuple(primals))[0])
        flat_t = as_operands(tree_flatten(tuple(tangents))[0])
        ts = [lax.convert(t, v.aval.dtype) if dtypes.is_inexact(v.aval.dtype) else None
              for t, v in zip(flat_t, tr.graph.inputs)]
        outs, out_ts = autodiff_passes().jvp_inline(tr.graph, flat_p + tr.captured,
                                                    ts + [None] * len(tr.captured))
        out_ts = [t if t is not None else lax.full(a.aval.shape, 0, a.aval.dtype)
                  for t, a in zip(out_ts, tr.graph.outputs)]
        return tree_unflatten(tr.out_tree, outs), tree_unflatten(tr.out_tree, out_ts)
    return compiled(body, f"jvp_{fn_name(fn)}", lambda _: range(n, 2 * n))


@names_caller
def hvp(fn, primals, tangents, static_argnums=()):
    """Hessian-vector product ``H @ tangents`` (forward-over-reverse: jvp of the gradient).
    ``static_argnums`` and ``tangents`` as in ``jvp``."""
    check_callable(fn, "the function given to tg.hvp")
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise ArgumentError(f"hvp({fn_name(fn)}): primals and tangents must be tuples (one entry "
                            "per argument), e.g. tg.hvp(f, (x,), (v,))")
    snums = static_nums(_as_tuple(static_argnums), len(primals), f"hvp({fn_name(fn)})")
    tangents = _split_tangents(f"hvp({fn_name(fn)})", primals, tangents, snums)
    fn, primals = split_statics(fn, tuple(primals), snums)
    _check_tangents(f"hvp({fn_name(fn)})", primals, tangents)
    n = len(primals)
    # one cached transform keyed by the user's function: written inline, a call costs one
    # cache lookup (the jvp of a fresh grad(fn).fn was 43 us over a hoisted jit(hvp))
    return cached("hvp", fn, (n,), lambda: _hvp(fn, n))(*primals, *tangents)


def _hvp(fn, n):
    g = grad(fn, argnums=tuple(range(n)) if n > 1 else 0).fn
    jvp_of_grad = _jvp(g, n)

    def body(*flat):
        return jvp_of_grad(*flat)[1]
    return compiled(body, f"hvp_{fn_name(fn)}", lambda _: range(n, 2 * n))
