"""Matcher helpers shared by the rule-based passes (simplify, stabilize).

A rule that matches more than one equation must prove that the pieces line up: that a
broadcast re-expands exactly the axes a reduction removed (not the other axes, which NumPy's
trailing-axis broadcasting happily allows on square arrays), that two operands are the same
value at the same coordinates, and that shapes and dtypes agree. These helpers answer those
questions by following the coordinates of an atom back through shape-only equations.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from tracegrad.identity import same_value as same_constant
from tracegrad.ir import Lit

# equations that may sit between a value and its re-expansion without changing any element
_STOP_GRADIENT = "stop_gradient"
_GUARD = "guard"   # where(|m| < inf, m, 0), the finite guard stabilize puts on a shift


@dataclass(frozen=True)
class View:
    """``atom`` read as ``base``: element i of atom is base[k] with k[dims[d]] = i[d] for every
    dimension d of atom whose ``dims[d]`` is not None; along a dimension with ``dims[d] is None``
    atom is constant (a broadcast or size-1 dimension), and base dimensions no d names have
    size 1. ``stop_gradient`` tells whether the path cut gradients."""

    base: object
    dims: tuple
    stop_gradient: bool = False


def producer_named(b, atom, name: str):
    """The equation producing ``atom`` if it is primitive ``name``, else None."""
    p = b.producer(atom)
    return p if p is not None and p.prim.name == name else None


def lit_equals(a, value) -> bool:
    """``a`` is a literal of ``value`` by identity (tracegrad/identity.py): ``-0.0`` is not
    ``0``, NaN is NaN, and ``value`` is taken in the literal's own type (int 0 is not 0.5)."""
    if not isinstance(a, Lit):
        return False
    try:
        v = type(a.value)(value)
    except (TypeError, ValueError, OverflowError):
        return False
    return (v == value or v != v) and same_constant(a.value, v)


def same_aval(*atoms) -> bool:
    """All atoms have the same shape and dtype."""
    return all(a.aval == atoms[0].aval for a in atoms[1:])


def _is_guard(b, p) -> bool:
    """p is ``where(lt(abs(m), inf), m, 0)``: m where it is finite, else 0."""
    if p.prim.name != "where" or len(p.inputs) != 3:
        return False
    c, m, zero = p.inputs
    lt = producer_named(b, c, "lt")
    ab = producer_named(b, lt.inputs[0], "abs") if lt is not None else None
    return (ab is not None and ab.inputs[0] is m and lit_equals(lt.inputs[1], math.inf)
            and isinstance(zero, Lit) and zero.value == 0 and same_aval(m, p.outputs[0]))


def _reshape_dims(src_shape, out_shape):
    """Output dim -> input dim for a reshape that only inserts or drops size-1 dims."""
    src = [d for d, n in enumerate(src_shape) if n != 1]
    out = [d for d, n in enumerate(out_shape) if n != 1]
    if [src_shape[d] for d in src] != [out_shape[d] for d in out]:
        return None
    m = dict(zip(out, src))
    return tuple(m.get(d) for d in range(len(out_shape)))


def _step(b, p, through):
    """(input, out dim -> input dim map, cut gradient?) for a shape-only equation, else None."""
    name, x = p.prim.name, (p.inputs[0] if p.inputs else None)
    out = p.outputs[0].aval.shape
    if name == "broadcast_in_dim":
        bd = tuple(p.params["broadcast_dimensions"])
        inv = {d: k for k, d in enumerate(bd) if x.aval.shape[k] == out[d]}
        return x, tuple(inv.get(d) for d in range(len(out))), False
    if name == "reshape":
        m = _reshape_dims(x.aval.shape, out)
        return (x, m, False) if m is not None else None
    if name == "transpose":
        return x, tuple(p.params["permutation"]), False
    if name == "slice" and x.aval.shape == out and not any(p.params["start_indices"]):
        return x, tuple(range(len(out))), False
    if name == _STOP_GRADIENT and _STOP_GRADIENT in through:
        return x, tuple(range(len(out))), True
    if name == "where" and _GUARD in through and _is_guard(b, p):
        return p.inputs[1], tuple(range(len(out))), False
    return None


def view_of(b, atom, through=(), until=None) -> View:
    """Follow ``atom`` back through broadcasts, size-1 reshapes, transposes and full slices
    (and ``stop_gradient`` / the finite guard if named in ``through``) to the first other
    value, or to ``until`` if it is met on the way."""
    dims = tuple(range(len(atom.aval.shape)))
    cut = False
    for _ in range(16):
        if atom is until:
            break
        p = b.producer(atom)
        st = _step(b, p, through) if p is not None else None
        if st is None:
            break
        atom, m, c = st
        dims = tuple(None if j is None else m[j] for j in dims)
        cut = cut or c
    return View(atom, dims, cut)


def _kept(ndim: int, axes) -> list:
    return [d for d in range(ndim) if d not in set(axes)]


def same_computation(b, a, c) -> bool:
    """``a`` and ``c`` are the same atom, or outputs of two equations that compute the same
    thing (same primitive and parameters on the very same inputs), as before CSE merges them."""
    if a is c:
        return True
    p, q = b.producer(a), b.producer(c)
    if not (p is not None and q is not None and p.prim is q.prim and len(p.outputs) == 1
            and len(q.outputs) == 1 and len(p.inputs) == len(q.inputs)
            and all(x is y for x, y in zip(p.inputs, q.inputs))):
        return False
    try:
        return bool(p.params == q.params)
    except (TypeError, ValueError):  # array-valued params: not worth comparing here
        return False


def reexpands(view: View, reduced, axes, full_shape, shape, b=None) -> bool:
    """The viewed atom (of ``shape``) is ``reduced`` (``full_shape`` with ``axes`` removed)
    put back into ``full_shape``: element i equals reduced[i without the reduced axes]. That is
    what ``x - max(x, axes)`` needs; a broadcast along another axis (legal NumPy when sizes
    agree) is not it."""
    full_shape, axes = tuple(full_shape), set(axes)
    if not _same_base(b, view.base, reduced) or tuple(shape) != full_shape:
        return False
    kept = _kept(len(full_shape), axes)
    if tuple(reduced.aval.shape) != tuple(full_shape[d] for d in kept):
        return False
    for d, j in enumerate(view.dims):
        if full_shape[d] == 1:
            continue  # one index only: any mapping reads the same element
        if d in axes:
            if j is not None:
                return False   # varies along an axis the reduction removed
        elif j is None or kept[j] != d:
            return False       # a kept axis read from the wrong dimension (or not at all)
    return True


def same_value(view: View, value, shape, b=None) -> bool:
    """The viewed atom (of ``shape``) is ``value`` itself, element for element (the same shape,
    each dimension read from the same dimension; size-1 dimensions aside)."""
    if not _same_base(b, view.base, value) or tuple(shape) != tuple(value.aval.shape):
        return False
    return all(n == 1 or j == d for d, (j, n) in enumerate(zip(view.dims, shape)))


def _same_base(b, base, value) -> bool:
    return base is value if b is None else same_computation(b, base, value)


def reduction_axes(eqn) -> tuple:
    return tuple(sorted(eqn.params["axes"]))
