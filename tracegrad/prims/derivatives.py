"""Derivative rules of every built-in primitive, attached to the declarations on import.

Rule shapes (``None`` stands for a symbolic zero):
  ``prim.jvp(primals, tangents, outs, **params) -> out tangents``
  ``prim.vjp(cts, primals, outs, **params) -> input cotangents``
Elementwise primitives get both from the partials table (one declaration drives both modes);
linear primitives apply themselves to tangents and declare a transpose; ``dot_general`` has two
transposes; non-differentiable primitives (``nondiff``) give zeros. Custom calls are handled by
the autodiff pass itself (their rules are user graphs).
"""
from __future__ import annotations

from .. import dtypes, lax
from ..primitive import PRIMITIVES
from . import partials as _partials
from ..tracer import ThreadLocalList
from .derivatives_table import PARTIALS
from .elementwise import ELEMENTWISE

# Elementwise primitives whose partial can be inf/NaN at finite inputs (or whose operand can
# be inf) declare ``Traits.mask_zero_ct``: their gradient is masked to exactly 0 where the
# incoming cotangent (tangent) is 0, so a branch not taken by `where` cannot turn 0 * inf into
# NaN (docs/gradients.md).


def is_float(x) -> bool:
    return dtypes.is_float(lax.dtype_of(x))


def _zeros(x):
    return lax.full(lax.shape_of(x), 0, lax.dtype_of(x))


def instantiate(t, like):
    """A materialised zero for a symbolic-zero tangent/cotangent."""
    return _zeros(like) if t is None else t


# per-partial masking decided by the caller (passes/ranges.py); per thread, as all tracing state
_MASK_FLAGS = ThreadLocalList()


class mask_scope:
    """Within the scope, elementwise vjps mask partial i only if ``flags[i]`` is true."""

    def __init__(self, flags):
        self.flags = flags

    def __enter__(self):
        _MASK_FLAGS.append(self.flags)

    def __exit__(self, *exc):
        _MASK_FLAGS.pop()


def _masked(name, ct, p, mask=True):
    """ct * p, with 0 where ct == 0 for the primitives with Traits.mask_zero_ct (reverse mode only:
    a mask on a tangent would make the tangent map non-linear, and forward mode needs no mask
    because `where` selects the taken branch's tangent after it is computed)."""
    if isinstance(p, (int, float)):  # a constant partial from the table
        if p == 1:
            return ct
        if p == -1:
            return lax.neg(ct)
        if p == 0:
            return None
    prod = lax.mul(ct, p)
    if mask:
        return lax.select(lax.eq(ct, 0), 0, prod)
    return prod


def _env(primals, outs):
    env = {"out": outs[0]}
    for n, v in zip(("x", "y"), primals):
        env[n] = v
    return env


def _elementwise_rules(name, exprs):
    def partial(i, primals, outs):
        return _partials.evaluate(exprs[i], _env(primals, outs), lax.dtype_of(outs[0]))

    def jvp(primals, tangents, outs, **params):
        total = None
        for i, t in enumerate(tangents):
            if t is None:
                continue
            term = _masked(name, t, partial(i, primals, outs), mask=False)
            if term is None:
                continue
            total = term if total is None else lax.add(total, term)
        return [total]

    def vjp(cts, primals, outs, **params):
        (ct,) = cts
        flags = _MASK_FLAGS[-1] if _MASK_FLAGS else None
        return [None if not _is_var(p) else
                _masked(name, ct, partial(i, primals, outs),
                        mask=ELEMENTWISE[name].traits.mask_zero_ct if flags is None
                        else flags[i])
                for i, p in enumerate(primals)]
    return jvp, vjp


def _is_var(x) -> bool:
    """Whether x can carry a gradient (not a literal)."""
    from ..ir import Lit
    return not isinstance(x, Lit)


for _name, _exprs in PARTIALS.items():
    _p = ELEMENTWISE[_name]
    _p.jvp, _p.vjp = _elementwise_rules(_name, _exprs)


# --- non-differentiable: zero, stated ---------------------------------------------------------
def _zero_jvp(primals, tangents, outs, **params):
    return [None] * len(outs)


def _zero_vjp(cts, primals, outs, **params):
    return [None] * len(primals)


for _p in PRIMITIVES.values():
    if _p.nondiff:
        _p.jvp, _p.vjp = _zero_jvp, _zero_vjp


# --- select and convert --------------------------------------------------------------------
def _select_jvp(primals, tangents, outs, **params):
    c, a, b = primals
    _, ta, tb = tangents
    if ta is None and tb is None:
        return [None]
    return [lax.select(c, instantiate(ta, outs[0]), instantiate(tb, outs[0]))]


def _select_vjp(cts, primals, outs, **params):
    (ct,) = cts
    c = primals[0]
    zero = _zeros(ct)
    return [None, lax.select(c, ct, zero), lax.select(c, zero, ct)]


PRIMITIVES["where"].jvp, PRIMITIVES["where"].vjp = _select_jvp, _select_vjp


def _convert_jvp(primals, tangents, outs, *, new_dtype):
    (t,) = tangents
    if t is None or not is_float(outs[0]) or not is_float(primals[0]):
        return [None]
    return [lax.convert(t, new_dtype)]


def _convert_vjp(cts, primals, outs, *, new_dtype):
    (ct,) = cts
    if not is_float(primals[0]) or not is_float(outs[0]):
        return [None]
    return [lax.convert(ct, lax.dtype_of(primals[0]))]


PRIMITIVES["convert"].jvp, PRIMITIVES["convert"].vjp = _convert_jvp, _convert_vjp


# --- linear structural primitives: tangents through the primitive, transposes backwards -------
def _linear_jvp(prim):
    def jvp(primals, tangents, outs, **params):
        if all(t is None for t in tangents):
            return [None]
        from ..tracer import bind
        linear = set(range(len(primals))) if prim.linear_args == (-1,) else set(prim.linear_args)
        args = []
        for i, (p, t) in enumerate(zip(primals, tangents)):
            if i in linear:
                args.append(instantiate(t, p))
            else:
                args.append(p)  # non-linear operands (indices) pass through unchanged
        return [bind(prim, *args, **params)]
    return jvp


def _bcast_vjp(cts, primals, outs, *, shape, broadcast_dimensions):
    (ct,) = cts
    x = primals[0]
    xs = lax.shape_of(x)
    bd = tuple(broadcast_dimensions)
    axes = [d for d in range(len(shape)) if d not in bd]
    axes += [bd[i] for i, n in enumerate(xs) if n == 1 and shape[bd[i]] != 1]
    summed = lax.reduce_sum(ct, sorted(axes))  # adjoint of a broadcast is a sum
    return [lax.reshape(summed, xs) if _is_var(x) else None]


def _reshape_vjp(cts, primals, outs, *, new_sizes):
    return [lax.reshape(cts[0], lax.shape_of(primals[0]))]


def _transpose_vjp(cts, primals, outs, *, permutation):
    inv = [0] * len(permutation)
    for i, p in enumerate(permutation):
        inv[p] = i
    return [lax.transpose(cts[0], inv)]


def _slice_vjp(cts, primals, outs, *, start_indices, limit_indices, strides):
    (ct,) = cts
    xs = lax.shape_of(primals[0])
    n_out = lax.shape_of(ct)
    low, high, interior = [], [], []
    for d, s, st, n in zip(xs, start_indices, strides, n_out):
        used = s + (n - 1) * st + 1 if n else s
        low.append(s)
        high.append(d - used)
        interior.append(st - 1 if n > 1 else 0)
    return [lax.pad(ct, 0, low, high, interior)]


def _pad_vjp(cts, primals, outs, *, low, high, interior):
    (ct,) = cts
    x, pv = primals
    xs = lax.shape_of(x)
    limits = [lo + (d - 1) * (it + 1) + 1 if d else lo for d, lo, it in zip(xs, low, interior)]
    ct_x = lax.slice(ct, low, limits, [it + 1 for it in interior]) if all(xs) else None
    ct_pv = None
    if _is_var(pv):
        total = lax.reduce_sum(ct, range(len(xs)))
        inner = lax.reduce_sum(ct_x, range(len(xs))) if ct_x is not None else None
        ct_pv = total if inner is None else lax.sub(total, inner)
    return [ct_x, ct_pv]


def _concat_vjp(cts, primals, outs, *, dimension):
    (ct,) = cts
    res, start = [], 0
    full = lax.shape_of(ct)
    for p in primals:
        n = lax.shape_of(p)[dimension]
        lo = [0] * len(full)
        hi = list(full)
        lo[dimension], hi[dimension] = start, start + n
        res.append(lax.slice(ct, lo, hi) if _is_var(p) else None)
        start += n
    return res


def _rev_vjp(cts, primals, outs, *, dimensions):
    return [lax.rev(cts[0], dimensions)]


def _gather_vjp(cts, primals, outs):
    (ct,) = cts
    x, idx = primals
    return [lax.scatter_add(_zeros(x), idx, ct), None]


def _scatter_add_vjp(cts, primals, outs):
    (ct,) = cts
    x, idx, upd = primals
    return [ct if _is_var(x) else None, None, lax.gather(ct, idx) if _is_var(upd) else None]


def _reduce_sum_vjp(cts, primals, outs, *, axes):
    xs = lax.shape_of(primals[0])
    kept = [d for d in range(len(xs)) if d not in axes]
    return [lax.broadcast_in_dim(cts[0], xs, kept)]


def _cumsum_vjp(cts, primals, outs, *, axis, reverse):
    return [lax.cumsum(cts[0], axis, not reverse)]


_LINEAR_VJPS = {
    "broadcast_in_dim": _bcast_vjp, "reshape": _reshape_vjp, "transpose": _transpose_vjp,
    "slice": _slice_vjp, "pad": _pad_vjp, "concatenate": _concat_vjp, "rev": _rev_vjp,
    "gather": _gather_vjp, "scatter_add": _scatter_add_vjp, "reduce_sum": _reduce_sum_vjp,
    "cumsum": _cumsum_vjp,
}
for _name, _rule in _LINEAR_VJPS.items():
    _p = PRIMITIVES[_name]
    _p.jvp, _p.vjp, _p.transpose = _linear_jvp(_p), _rule, _rule


# --- reductions with selection: ties split evenly (docs/gradients.md) ---------------------------
def _extremum_rules():
    def weights(x, out, axes):
        xs = lax.shape_of(x)
        kept = [d for d in range(len(xs)) if d not in axes]
        hit = lax.convert(lax.eq(x, lax.broadcast_in_dim(out, xs, kept)), lax.dtype_of(x))
        count = lax.reduce_sum(hit, axes)
        return lax.div(hit, lax.broadcast_in_dim(count, xs, kept)), kept

    def jvp(primals, tangents, outs, *, axes):
        (t,) = tangents
        if t is None or not is_float(primals[0]):
            return [None]
        w, _ = weights(primals[0], outs[0], axes)
        return [lax.reduce_sum(lax.mul(w, t), axes)]

    def vjp(cts, primals, outs, *, axes):
        if not is_float(primals[0]):
            return [None]
        w, kept = weights(primals[0], outs[0], axes)
        xs = lax.shape_of(primals[0])
        return [lax.mul(w, lax.broadcast_in_dim(cts[0], xs, kept))]
    return jvp, vjp


for _name in ("reduce_max", "reduce_min"):
    PRIMITIVES[_name].jvp, PRIMITIVES[_name].vjp = _extremum_rules()


def _prod_partials(x, out, axes):
    """d prod / d x_i = product of the other elements, exact when some x are zero."""
    xs = lax.shape_of(x)
    kept = [d for d in range(len(xs)) if d not in axes]
    dt = lax.dtype_of(x)
    is_zero = lax.eq(x, 0)
    zeros_count = lax.reduce_sum(lax.convert(is_zero, dt), axes)
    ones = lax.full(xs, 1, dt)
    prod_nonzero = lax.reduce_prod(lax.select(is_zero, ones, x), axes)

    def b(v):
        return lax.broadcast_in_dim(v, xs, kept)
    zc, pn = b(zeros_count), b(prod_nonzero)
    zero = lax.full(xs, 0, dt)
    safe_x = lax.select(is_zero, ones, x)
    at_zero = lax.select(lax.eq(zc, 1), pn, zero)           # the only zero: product of the rest
    elsewhere = lax.select(lax.eq(zc, 0), lax.div(b(out), safe_x), zero)
    return lax.select(is_zero, at_zero, elsewhere), kept


def _prod_jvp(primals, tangents, outs, *, axes):
    (t,) = tangents
    if t is None:
        return [None]
    p, _ = _prod_partials(primals[0], outs[0], axes)
    return [lax.reduce_sum(lax.mul(p, t), axes)]


def _prod_vjp(cts, primals, outs, *, axes):
    p, kept = _prod_partials(primals[0], outs[0], axes)
    return [lax.mul(p, lax.broadcast_in_dim(cts[0], lax.shape_of(primals[0]), kept))]


PRIMITIVES["reduce_prod"].jvp, PRIMITIVES["reduce_prod"].vjp = _prod_jvp, _prod_vjp


# --- dot_general: bilinear, two transposes ----------------------------------------------------
def _dot_transpose_lhs(ct, a_shape, b, dimension_numbers):
    (lc, rc), (lb, rb) = dimension_numbers
    nb = len(lb)
    b_nd = len(lax.shape_of(b))
    a_free = [i for i in range(len(a_shape)) if i not in lc and i not in lb]
    b_free = [i for i in range(b_nd) if i not in rc and i not in rb]
    n_af = len(a_free)
    ct_contract = tuple(range(nb + n_af, nb + n_af + len(b_free)))
    res = lax.dot_general(ct, b, ((ct_contract, tuple(b_free)),
                                  (tuple(range(nb)), tuple(rb))))
    # res axes: batch, a_free, then b's remaining axes (its contracting ones, in sorted order)
    b_rest = sorted(rc)
    src_axes = list(lb) + a_free + [lc[list(rc).index(j)] for j in b_rest]
    perm = [src_axes.index(i) for i in range(len(a_shape))]
    return lax.transpose(res, perm)


def _dot_transpose_rhs(ct, a, b_shape, dimension_numbers):
    (lc, rc), (lb, rb) = dimension_numbers
    nb = len(lb)
    a_nd = len(lax.shape_of(a))
    a_free = [i for i in range(a_nd) if i not in lc and i not in lb]
    b_free = [i for i in range(len(b_shape)) if i not in rc and i not in rb]
    ct_contract = tuple(range(nb, nb + len(a_free)))
    res = lax.dot_general(ct, a, ((ct_contract, tuple(a_free)), (tuple(range(nb)), tuple(lb))))
    # res axes: batch, b_free, then a's remaining (contracting) axes in sorted order
    a_rest = sorted(lc)
    src_axes = list(rb) + b_free + [rc[list(lc).index(i)] for i in a_rest]
    perm = [src_axes.index(j) for j in range(len(b_shape))]
    return lax.transpose(res, perm)


def _dot_jvp(primals, tangents, outs, *, dimension_numbers):
    a, b = primals
    ta, tb = tangents
    terms = []
    if ta is not None:
        terms.append(lax.dot_general(ta, b, dimension_numbers))
    if tb is not None:
        terms.append(lax.dot_general(a, tb, dimension_numbers))
    if not terms:
        return [None]
    return [terms[0] if len(terms) == 1 else lax.add(terms[0], terms[1])]


def _dot_vjp(cts, primals, outs, *, dimension_numbers):
    (ct,) = cts
    a, b = primals
    return [_dot_transpose_lhs(ct, lax.shape_of(a), b, dimension_numbers) if _is_var(a) else None,
            _dot_transpose_rhs(ct, a, lax.shape_of(b), dimension_numbers) if _is_var(b) else None]


PRIMITIVES["dot_general"].jvp, PRIMITIVES["dot_general"].vjp = _dot_jvp, _dot_vjp
PRIMITIVES["dot_general"].transpose = _dot_vjp


def missing_rules() -> list[str]:
    """Primitives without derivative rules (the registry test keeps this empty). Custom calls
    and fused kernels are expanded by the autodiff pass instead (their rules are graphs)."""
    return sorted(n for n, p in PRIMITIVES.items()
                  if (p.jvp is None or p.vjp is None) and p.kind not in ("custom", "fused"))
