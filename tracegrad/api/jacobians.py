"""Jacobians and Hessians: ``jacobian`` (forward: the tangent map batched over the input basis;
reverse: the backward sweep batched over the output basis; one program whatever the size, via
the batching pass), ``jacfwd``/``jacrev`` and ``hessian`` (forward over reverse)."""
from __future__ import annotations

from .. import dtypes, lax
from ..errors import ArgumentError, GradientDTypeError, TracegradError
from ..pytree import tree_flatten
from ..source_info import check_callable, names_caller
from .transform_cache import cached
from .transform_function import (argnum_positions, as_operands, autodiff_passes, compiled,
                                 fn_name, regroup, split_differentiated, trace_for_ad,
                                 wrt_leaves)
from .transforms import _as_tuple, _respec, grad
from ..tracer import TraceContext
from ..prims.batching import with_batch


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
        _refuse_complex(fname, in_avals, out_aval, mode)
        use_fwd = mode == "fwd" or (mode == "auto" and (n_in <= out_aval.size
                                                        or dtypes.is_complex(out_aval.dtype)))
        ad = autodiff_passes()
        from .. import numpy as tnp
        from ..passes.vmap import batch_inline
        blocks = []  # one Jacobian block per wrt leaf: out.shape + leaf.shape
        if use_fwd:
            # primal once, in this trace; then the linear tangent map batched over the basis
            # (vmap): one program whatever the number of input elements
            _, tgraph, captured = ad.linearize_inline(graph, flat_in, wrt)
            basis = _basis_batch(in_avals)
            with ad.derivative_region():  # the batched tangent map (for dumps)
                outs, out_b = batch_inline(tgraph, basis + list(captured),
                                           [True] * len(basis) + [False] * len(captured), n_in)
            cols = with_batch(outs[0], out_b[0], n_in)  # (n_in,) + out.shape
            start = 0
            nd = len(out_aval.shape)
            for av in in_avals:
                part = lax.slice(cols, (start,) + (0,) * nd, (start + av.size,) + out_aval.shape) \
                    if n_in else cols
                start += av.size
                part = tnp.moveaxis(part, 0, -1)  # out.shape + (leaf size,)
                blocks.append(tnp.reshape(part, out_aval.shape + av.shape))
        else:
            # forward once; the backward sweep traced once as a linear map of the output
            # cotangent, batched over the output basis
            env, residuals = ad.forward_sweep(graph, flat_in)
            with TraceContext("jacobian rows") as ctx:
                ct = ctx.new_input(out_aval)
                rows = ad.backward_sweep(graph, env, residuals,
                                         [ct] + [None] * (len(graph.outputs) - 1), wrt)
                bgraph, bcaptured = ctx.to_graph(rows)
            m = out_aval.size
            with ad.derivative_region():
                outs, out_b = batch_inline(bgraph, _basis_batch([out_aval]) + list(bcaptured),
                                           [True] + [False] * len(bcaptured), m)
            for o, b, av in zip(outs, out_b, in_avals):
                o = with_batch(o, b, m)  # (out size,) + leaf.shape
                blocks.append(tnp.reshape(o, out_aval.shape + av.shape))
        return regroup(blocks, nums, ranges, argnums)
    return compiled(body, f"jacobian_{fn_name(fn)}", argnum_positions(argnums), static_argnums,
                    _respec(jacobian, fn, static_argnums, argnums=argnums, mode=mode))


def _refuse_complex(fname, in_avals, out_aval, mode):
    """As JAX's jacfwd/jacrev: a complex input has two real directions per element, so no
    one matrix (forward mode took only the real one, reverse mode the conjugate gradient:
    two different answers), and a reverse-mode Jacobian needs a real output."""
    for av in in_avals:
        if dtypes.is_complex(av.dtype):
            raise GradientDTypeError(
                f"{fname}: an argument is {av.dtype}; the Jacobian w.r.t. a complex input is "
                "not one matrix (its real and imaginary parts are two directions). Pass the "
                "parts as real arguments, f(x + 1j * y), or use tg.jvp / tg.vjp / tg.grad")
    if mode == "rev" and dtypes.is_complex(out_aval.dtype):
        raise GradientDTypeError(
            f"{fname}: the function returns {out_aval.dtype}; a reverse-mode Jacobian needs a "
            "real output: use mode='fwd' (tg.jacfwd), or return np.real(...) and np.imag(...)")


def _basis_batch(avals) -> list:
    """The standard basis of the concatenated leaves ``avals``, one batch per leaf: leaf k's
    batch has shape ``(n,) + aval.shape`` (n: total elements) and holds the rows of the n x n
    identity that fall on it."""
    n = sum(a.size for a in avals)
    out, start = [], 0
    for a in avals:
        rows = lax.iota((n, a.size), 0)
        cols = lax.add(lax.iota((n, a.size), 1), start) if start else lax.iota((n, a.size), 1)
        eye = lax.convert(lax.eq(rows, cols), a.dtype)
        out.append(lax.reshape(eye, (n,) + a.shape))
        start += a.size
    return out


@names_caller
def jacfwd(fn, argnums=0, static_argnums=()):
    """``jacobian(fn, argnums, mode="fwd")``: JAX's name (tangents of the input basis, batched)."""
    return jacobian(fn, argnums, mode="fwd", static_argnums=static_argnums)


@names_caller
def jacrev(fn, argnums=0, static_argnums=()):
    """``jacobian(fn, argnums, mode="rev")``: JAX's name (cotangents of the output basis)."""
    return jacobian(fn, argnums, mode="rev", static_argnums=static_argnums)


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


