"""Differentiation transforms: grad, value_and_grad, vjp, jvp, jacobian, hessian, hvp.

Each transform returns a compiled callable (a ``JitFunction``) whose body traces the user's
function into a graph and expands the derivative passes of ``tracegrad.passes.autodiff`` into
the enclosing trace. Under another transform the body is inlined, so transforms nest to any
order (``grad(grad(f))`` runs the reverse pass over the first gradient graph).

Arguments: Python numbers are accepted wherever arrays are, at every nesting level. Python
ints and bools that are not differentiated are static (``grad(f)(x, 3)`` calls ``f`` with the
int 3, so ``np.arange(n)`` works), one compiled program per value; pass ``np.int64(3)`` or an
array to trace an integer instead.
"""
from __future__ import annotations

import weakref

import numpy as np

from . import dtypes, lax
from .api import JitFunction, _normalize_argnums
from .errors import ArgumentError, GradientDTypeError, GradientError, TracegradError
from .ir import AVal
from .pytree import tree_flatten, tree_unflatten
from .source_info import check_callable, names_caller
from .staging import call_user, leaf_aval, trace


def _autodiff():
    from tracegrad.passes import autodiff
    return autodiff


def _is_static(v) -> bool:
    """Python ints and bools that are not differentiated are static: the function sees the
    value itself (``np.arange(n)``, ``if flag:``), and each value compiles once (the cache is
    keyed on it, as JAX's ``static_argnums``). Floats stay traced (one program for every
    value); NumPy scalars and arrays are always traced."""
    return type(v) in (int, bool)


def _static_positions(args, kwargs, diff) -> tuple[dict, dict]:
    """``({position: value}, {keyword: value})`` of the static arguments of a call."""
    pos = {i: a for i, a in enumerate(args) if i not in diff and _is_static(a)}
    kw = {k: v for k, v in kwargs.items() if _is_static(v)}
    return pos, kw


def _trace_static(fn, args, kwargs, diff=()):
    """Trace ``fn`` with its static arguments (see ``_is_static``) passed as Python values.

    Their leaves still have (unused) graph inputs, so every leaf keeps its flat position."""
    pos, kw = _static_positions(args, kwargs, set(diff))

    def rebuild(a, k):
        return call_user(fn, [pos.get(i, x) for i, x in enumerate(a)],
                         {**k, **kw})
    return trace(fn, args, kwargs, name=_name(fn), rebuild=rebuild)


def _traced(fn, args, kwargs, diff=()):
    """Trace ``fn`` and run the pre-differentiation passes (stabilize, cse, dce) on it."""
    from tracegrad.passes.registry import PRE_AD, run_pipeline
    tr = _trace_static(fn, args, kwargs, diff)
    tr.graph, _ = run_pipeline(tr.graph, PRE_AD)
    return tr


class TransformFunction(JitFunction):
    """The compiled callable a transform returns: a ``JitFunction`` whose Python int and bool
    arguments outside ``diff`` (the differentiated positions; a function of the argument
    count) are static, keyed by type and value."""

    def __init__(self, fn, diff=lambda n: ()):
        super().__init__(fn)
        self._diff = diff

    def _split(self, args, kwargs):
        pos, kw = _static_positions(args, kwargs, set(self._diff(len(args))))
        statics = tuple((i, type(v), v) for i, v in pos.items()) + \
            tuple((k, type(v), v) for k, v in kw.items())
        if not statics:
            return tuple(args), kwargs, ()
        dyn = tuple(a for i, a in enumerate(args) if i not in pos)
        return dyn, {k: v for k, v in kwargs.items() if k not in kw}, statics


def _argnum_positions(argnums):
    """``diff`` for ``TransformFunction``: the in-range positions of ``argnums`` (out-of-range
    ones are reported by the transform's own check)."""
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums) \
        if isinstance(argnums, tuple) else ()
    return lambda n: {a % n for a in nums
                      if isinstance(a, int) and not isinstance(a, bool) and -n <= a < n}


def _operands(leaves) -> list:
    """Argument leaves as operands of the traced graph: a Python scalar (under an enclosing
    trace the transform's body gets the caller's values as they are) becomes the 0-d array of
    the dtype it was traced with, so ``grad(lambda y: x * y)(2.0)`` inside another transform
    works as it does at the top level."""
    return [np.asarray(x, leaf_aval(x, "")[0].dtype) if type(x) in (bool, int, float) else x
            for x in leaves]


def _leaf_ranges(args) -> list[tuple[int, int, object]]:
    """(start, stop, treedef) of each positional argument's leaves in the flat input list."""
    ranges, start = [], 0
    for a in args:
        leaves, td = tree_flatten(a)
        ranges.append((start, start + len(leaves), td))
        start += len(leaves)
    return ranges


def _check_argnums(argnums, args, fname):
    if isinstance(argnums, bool) or not (isinstance(argnums, int) or (
            isinstance(argnums, tuple) and all(isinstance(a, int) and not isinstance(a, bool)
                                               for a in argnums))):
        raise GradientError(f"{fname}: argnums must be an int or a tuple of ints, got {argnums!r}")
    n = len(args)
    nums = (argnums,) if isinstance(argnums, int) else argnums
    for a in nums:
        if not -n <= a < n:
            raise GradientError(f"{fname}: argnums={argnums!r} but the function was called with "
                                f"{n} positional argument{'s' if n != 1 else ''}")
    return tuple(a % n for a in nums)


def _wrt_leaves(args, nums, fname):
    ranges = _leaf_ranges(args)
    wrt = []
    for i in nums:
        start, stop, _ = ranges[i]
        leaves = tree_flatten(args[i])[0]
        if not leaves:
            raise GradientError(f"{fname}: argument {i} has no arrays to differentiate")
        for j, leaf in enumerate(leaves):
            aval, _ = leaf_aval(leaf, f"argument {i}")
            if not dtypes.is_float(aval.dtype):
                raise GradientDTypeError(
                    f"{fname}: argument {i} has dtype {aval.dtype}; gradients are defined for "
                    "float inputs only. Convert it (x.astype(np.float64)) or differentiate "
                    "with respect to another argument (argnums=...)")
        wrt.extend(range(start, stop))
    return wrt, ranges


def _scalar_check(aval: AVal, fname: str):
    if aval.size != 1:
        raise GradientError(
            f"{fname} needs a scalar output, but the function returned shape {aval.shape}. "
            "Gradients are defined for one-element outputs: reduce it with .sum() or .mean(), "
            "or use tg.vjp(f, *args) and pass a cotangent of that shape to the returned "
            "function")
    if not dtypes.is_float(aval.dtype):
        raise GradientDTypeError(
            f"{fname} needs a float output, but the function returned {aval.dtype}"
            + (" (a comparison): differentiate the quantity compared instead, or cast with "
               ".astype(np.float64) if a 0/1 value is meant" if dtypes.is_bool(aval.dtype)
               else ""))


def _regroup(grads, nums, ranges, argnums):
    out = []
    for i in nums:
        start, stop, td = ranges[i]
        out.append(tree_unflatten(td, grads[start - 0:stop - 0] if False else
                                  grads[_offset(ranges, nums, i):_offset(ranges, nums, i) +
                                        stop - start]))
    return out[0] if isinstance(argnums, int) else tuple(out)


def _offset(ranges, nums, i):
    """Position of argument i's leaves in the concatenated gradient list."""
    off = 0
    for j in nums:
        if j == i:
            return off
        off += ranges[j][1] - ranges[j][0]
    raise AssertionError


def _name(fn):
    return getattr(fn, "__name__", type(fn).__name__)


def _compiled(body, name, diff=lambda n: ()):
    body.__name__ = name
    body.__qualname__ = name
    return TransformFunction(body, diff)


@names_caller
def value_and_grad(fn, argnums=0, has_aux=False):
    """``(value, gradient)`` of a scalar-valued ``fn`` with respect to ``args[argnums]``."""
    fname = f"value_and_grad({_name(fn)})"
    check_callable(fn, "the function given to tg.value_and_grad")

    def body(*args, **kwargs):
        nums = _check_argnums(argnums, args, fname)
        wrt, ranges = _wrt_leaves(args, nums, fname)
        traced = _traced(fn, args, kwargs, nums)
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
        _scalar_check(value_aval, fname)
        flat_in = _operands(tree_flatten((args, kwargs))[0])
        seed = lax.full(value_aval.shape, 1.0, value_aval.dtype)
        cts = [seed] + [None] * (len(graph.outputs) - 1)
        outs, grads = _autodiff().vjp_inline(graph, flat_in + traced.captured, cts, wrt)
        value = tree_unflatten(traced.out_tree, outs)
        return value, _regroup(grads, nums, ranges, argnums)
    return _compiled(body, f"value_and_grad_{_name(fn)}", _argnum_positions(argnums))


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
    return _compiled(body, f"grad_{_name(fn)}", _argnum_positions(argnums))


_PRIMAL_JIT: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()


@names_caller
def vjp(fn, *primals, has_aux=False):
    """``(out, vjp_fn)``: ``vjp_fn(cotangent)`` returns one cotangent per primal argument.

    Cotangents for integer or bool leaves are ``None``.
    """
    check_callable(fn, "the function given to tg.vjp")
    fname = f"vjp({_name(fn)})"
    traced = _trace_static(fn, primals, {})
    graph = traced.graph
    leaves = tree_flatten(primals)[0]
    wrt = [i for i, v in enumerate(graph.inputs[:len(leaves)]) if dtypes.is_float(v.aval.dtype)]
    ranges = _leaf_ranges(primals)
    forward = _primal_jit(fn)
    out = forward(*primals)
    if has_aux:
        out, aux = out
    out_tree = traced.out_tree.children[0] if has_aux else traced.out_tree
    n_main = out_tree.num_leaves

    def pull(*args):
        prim_args, ct = args[:-1], args[-1]
        tr = _traced(fn, prim_args, {})
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
        flat_in = _operands(tree_flatten(prim_args)[0])
        _, grads = _autodiff().vjp_inline(tr.graph, flat_in + tr.captured, cts, wrt)
        full = [None] * len(flat_in)
        for i, g in zip(wrt, grads):
            full[i] = g
        return tuple(tree_unflatten(td, full[s:e]) for s, e, td in ranges)

    pull_jit = _compiled(pull, f"vjp_{_name(fn)}")

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
    fname = f"jvp({_name(fn)})"
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
        tr = _traced(fn, tuple(primals), {})
        flat_p = _operands(tree_flatten(tuple(primals))[0])
        flat_t = _operands(tree_flatten(tuple(tangents))[0])
        ts = [lax.convert(t, v.aval.dtype) if dtypes.is_float(v.aval.dtype) else None
              for t, v in zip(flat_t, tr.graph.inputs)]
        outs, out_ts = _autodiff().jvp_inline(tr.graph, flat_p + tr.captured,
                                              ts + [None] * len(tr.captured))
        out_ts = [t if t is not None else lax.full(a.aval.shape, 0, a.aval.dtype)
                  for t, a in zip(out_ts, tr.graph.outputs)]
        return tree_unflatten(tr.out_tree, outs), tree_unflatten(tr.out_tree, out_ts)
    return _compiled(body, f"jvp_{_name(fn)}", lambda _: range(n, 2 * n))(*primals, *tangents)


@names_caller
def jacobian(fn, argnums=0, mode="auto"):
    """Jacobian of ``fn`` w.r.t. ``args[argnums]``: shape ``out.shape + arg.shape``.

    ``mode="fwd"`` pushes one basis tangent per input element through the linearised function,
    ``"rev"`` pulls one basis cotangent per output element; ``"auto"`` picks the fewer passes.
    """
    check_callable(fn, "the function given to tg.jacobian")
    if mode not in ("auto", "fwd", "rev"):
        raise ArgumentError(f"jacobian: mode must be 'auto', 'fwd' or 'rev', got {mode!r}")
    fname = f"jacobian({_name(fn)})"

    def body(*args, **kwargs):
        nums = _check_argnums(argnums, args, fname)
        wrt, ranges = _wrt_leaves(args, nums, fname)
        tr = _traced(fn, args, kwargs, nums)
        graph = tr.graph
        if tr.out_tree.kind != "leaf":
            raise TracegradError(f"{fname}: the function must return a single array")
        flat_in = _operands(tree_flatten((args, kwargs))[0]) + tr.captured
        out_aval = graph.outputs[0].aval
        in_avals = [graph.inputs[i].aval for i in wrt]
        n_in = sum(a.size for a in in_avals)
        use_fwd = mode == "fwd" or (mode == "auto" and n_in <= out_aval.size)
        ad = _autodiff()
        from . import numpy as tnp
        blocks = []  # one Jacobian block per wrt leaf: out.shape + leaf.shape
        if use_fwd:
            from .interpreter import eval_graph
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
        return _regroup(blocks, nums, ranges, argnums)
    return _compiled(body, f"jacobian_{_name(fn)}", _argnum_positions(argnums))


def _basis(aval: AVal, e: int):
    """The one-hot array of ``aval`` with a 1 at flat position ``e``."""
    flat = lax.convert(lax.eq(lax.iota((aval.size,), 0), e), aval.dtype)
    return lax.reshape(flat, aval.shape)


@names_caller
def hessian(fn, argnums=0):
    """Matrix of second derivatives: forward-over-reverse Jacobian of the gradient."""
    return jacobian(grad(fn, argnums).fn if isinstance(argnums, int) else grad(fn, argnums).fn,
                    argnums, mode="fwd")


@names_caller
def hvp(fn, primals, tangents):
    """Hessian-vector product ``(grad f(x), H v)``... returns ``H @ tangents`` (forward-over-reverse)."""
    check_callable(fn, "the function given to tg.hvp")
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise ArgumentError(f"hvp({_name(fn)}): primals and tangents must be tuples (one entry "
                            "per argument), e.g. tg.hvp(f, (x,), (v,))")
    g = grad(fn, argnums=tuple(range(len(primals))) if len(primals) > 1 else 0).fn
    _, out_t = jvp(g, primals, tangents)
    return out_t
