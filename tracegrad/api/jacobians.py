"""Jacobians and Hessians: ``jacobian`` (forward or reverse, per basis vector) and ``hessian``."""
from __future__ import annotations

from .. import lax
from ..errors import ArgumentError, TracegradError
from ..ir import AVal
from ..pytree import tree_flatten
from ..source_info import check_callable, names_caller
from .transform_cache import cached
from .transform_function import (argnum_positions, as_operands, autodiff_passes, compiled,
                                 fn_name, regroup, split_differentiated, trace_for_ad,
                                 wrt_leaves)
from .transforms import _as_tuple, _respec, grad


@names_caller
def jacobian(fn, argnums=0, mode="auto", static_argnums=()):
    """Jacobian of ``fn`` w.r.t. ``args[argnums]``: shape ``out.shape + arg.shape``.

    ``mode="fwd"`` pushes one basis tangent per input element through the linearised function,
    ``"rev"`` pulls one basis cotangent per output element; ``"auto"`` picks the fewer passes.
    ``static_argnums``: positions passed as Python values (any hashable value), not traced.
    """
    check_callable(fn, "the function given to tg.jacobian")
    if mode not in ("auto", "fwd", "rev"):
        raise ArgumentError(f"jacobian: mode must be 'auto', 'fwd' or 'rev', got {mode!r}")
    static_argnums = _as_tuple(static_argnums)
    return cached("jacobian", fn, (argnums, mode, static_argnums),
                  lambda: _jacobian(fn, argnums, mode, static_argnums))


def _jacobian(fn, argnums, mode, static_argnums):
    fname = f"jacobian({fn_name(fn)})"
    user_fn = fn

    def body(*args, **kwargs):
        fn, args, nums = split_differentiated(user_fn, args, argnums, static_argnums, fname)
        wrt, ranges = wrt_leaves(args, nums, fname)
        tr = trace_for_ad(fn, args, kwargs, nums)
        graph = tr.graph
        if tr.out_tree.kind != "leaf":
            raise TracegradError(f"{fname}: the function must return a single array")
        flat_in = as_operands(tree_flatten((args, kwargs))[0]) + tr.captured
        out_aval = graph.outputs[0].aval
        in_avals = [graph.inputs[i].aval for i in wrt]
        n_in = sum(a.size for a in in_avals)
        use_fwd = mode == "fwd" or (mode == "auto" and n_in <= out_aval.size)
        ad = autodiff_passes()
        from .. import numpy as tnp
        blocks = []  # one Jacobian block per wrt leaf: out.shape + leaf.shape
        if use_fwd:
            from ..interpreter import eval_graph
            # primal once, in this trace; then the linear tangent map once per basis vector
            _, tgraph, captured = ad.linearize_inline(graph, flat_in, wrt)
            for k, av in enumerate(in_avals):
                cols = []
                for e in range(av.size):
                    ts = [_basis(a, e) if j == k else lax.full(a.shape, 0, a.dtype)
                          for j, a in enumerate(in_avals)]
                    with ad.derivative_region():  # the replayed tangent map (for dumps)
                        cols.append(eval_graph(tgraph, ts + captured)[0])
                blocks.append(tnp.reshape(tnp.stack(cols, axis=-1), out_aval.shape + av.shape)
                              if cols else lax.full(out_aval.shape + av.shape, 0, out_aval.dtype))
        else:
            # forward once; one backward sweep per output element
            env, residuals = ad.forward_sweep(graph, flat_in)
            rows = [ad.backward_sweep(graph, env, residuals,
                                      [_basis(out_aval, e)] + [None] * (len(graph.outputs) - 1),
                                      wrt)
                    for e in range(out_aval.size)]
            for k, av in enumerate(in_avals):
                if rows:
                    st = tnp.stack([r[k] for r in rows], axis=0)
                    blocks.append(tnp.reshape(st, out_aval.shape + av.shape))
                else:
                    blocks.append(lax.full(out_aval.shape + av.shape, 0, out_aval.dtype))
        return regroup(blocks, nums, ranges, argnums)
    return compiled(body, f"jacobian_{fn_name(fn)}", argnum_positions(argnums), static_argnums,
                    _respec(jacobian, fn, static_argnums, argnums=argnums, mode=mode))


def _basis(aval: AVal, e: int):
    """The one-hot array of ``aval`` with a 1 at flat position ``e``."""
    flat = lax.convert(lax.eq(lax.iota((aval.size,), 0), e), aval.dtype)
    return lax.reshape(flat, aval.shape)


@names_caller
def hessian(fn, argnums=0, static_argnums=()):
    """Matrix of second derivatives: forward-over-reverse Jacobian of the gradient.
    ``static_argnums`` as in ``jacobian``."""
    static_argnums = _as_tuple(static_argnums)
    h = jacobian(grad(fn, argnums, static_argnums=static_argnums).fn, argnums, mode="fwd",
                 static_argnums=static_argnums)
    # jit(hessian(f), static_argnums=...) must make the inner gradient static there too
    h._respec = _respec(hessian, fn, static_argnums, argnums=argnums)
    return h


