"""The IR: a flat, typed, single-assignment list of equations (a jaxpr-like graph).

Invariants (checked by ``verify``): every variable is defined once, before use, by a graph input
or an equation output; every equation's output avals are what its primitive's shape/dtype rule
says. Graph objects are immutable: passes build new ones.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import dtypes
from .errors import IRError
from .identity import value_key


@dataclass(frozen=True)
class AVal:
    """Abstract value: a static shape and one of the supported dtypes."""

    shape: tuple[int, ...]
    dtype: np.dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    def __str__(self) -> str:
        return f"{dtypes.short_name(self.dtype)}[{','.join(map(str, self.shape))}]"

    def update(self, shape=None, dtype=None) -> "AVal":
        return AVal(self.shape if shape is None else tuple(shape),
                    self.dtype if dtype is None else dtype)


class Var:
    """A value in a graph. Compared by identity; named only when printed."""

    __slots__ = ("aval", "hint")

    def __init__(self, aval: AVal, hint: str | None = None):
        self.aval = aval
        self.hint = hint  # optional: the user's argument name, for dumps

    def __repr__(self) -> str:
        return f"Var({self.aval})"


@dataclass(frozen=True, eq=False)
class Lit:
    """A scalar literal operand. ``value`` is a Python scalar of the aval's dtype kind."""

    value: Any
    aval: AVal

    @property
    def key(self) -> tuple:
        """Identity of this literal: its dtype and its value's type and bit pattern. Two
        literals with equal keys are interchangeable (``-0.0`` is not ``0.0``; a NaN is itself);
        every pass or cache that merges literals compares this, never ``value ==``."""
        return (self.aval.dtype.str, value_key(self.value))

    def __repr__(self) -> str:
        return f"Lit({self.value!r}:{self.aval})"


Atom = "Var | Lit"


@dataclass(frozen=True, eq=False)
class Eqn:
    """``outputs = prim[params](*inputs)``; ``src`` is the user's ``file:line`` that produced it."""

    prim: Any  # Primitive (not imported here to keep ir.py free of the registry)
    inputs: tuple
    params: dict
    outputs: tuple
    src: str | None = None

    def replace(self, **changes) -> "Eqn":
        fields = dict(prim=self.prim, inputs=self.inputs, params=self.params,
                      outputs=self.outputs, src=self.src)
        fields.update(changes)
        return Eqn(**fields)


@dataclass(frozen=True, eq=False)
class Graph:
    """``{ lambda inputs . let eqns in (outputs) }``; outputs: inputs, literals or eqn outputs."""

    inputs: tuple
    eqns: tuple
    outputs: tuple
    meta: dict = field(default_factory=dict)  # free-form notes (e.g. which outputs are gradients)

    @property
    def in_avals(self) -> list[AVal]:
        return [v.aval for v in self.inputs]

    @property
    def out_avals(self) -> list[AVal]:
        return [v.aval for v in self.outputs]

    def __str__(self) -> str:
        from .printing import format_graph
        return format_graph(self)

    __repr__ = __str__


def subgraphs(params: dict) -> list[tuple[str, Graph]]:
    """The graphs nested in an equation's parameters, as ``(label, graph)``: a ``Graph`` value
    (a loop body, a fused kernel) or each graph of a tuple of them (``cond``'s branches, labelled
    ``branches[k]``). Every walk that recurses into bodies goes through this one helper."""
    out = []
    for key, value in params.items():
        if isinstance(value, Graph):
            out.append((key, value))
        elif isinstance(value, tuple) and value and all(isinstance(g, Graph) for g in value):
            out.extend((f"{key}[{k}]", g) for k, g in enumerate(value))
    return out


def replace_subgraphs(params: dict, fn) -> dict:
    """``params`` with each nested graph ``g`` replaced by ``fn(g)`` (same structure); the same
    dict when nothing changed, so passes that key notes on ``id(params)`` keep them."""
    new = {}
    changed = False
    for key, value in params.items():
        if isinstance(value, Graph):
            nv = fn(value)
        elif isinstance(value, tuple) and value and all(isinstance(g, Graph) for g in value):
            nv = tuple(fn(g) for g in value)
            if all(a is b for a, b in zip(nv, value)):
                nv = value
        else:
            nv = value
        changed |= nv is not value
        new[key] = nv
    return new if changed else params


def make_lit(value, dtype) -> Lit:
    """A scalar literal of ``dtype`` holding ``value`` converted to the matching Python type."""
    dtype = dtypes.canonical(dtype)
    if dtypes.is_bool(dtype):
        value = bool(value)
    elif dtypes.is_int(dtype):
        value = int(value)
    elif dtypes.is_complex(dtype):
        value = complex(value)
    else:
        value = float(value)
    return Lit(value, AVal((), dtype))


def _lit_ok(lit: Lit) -> bool:
    """A literal's value is a Python scalar of its dtype's kind (so it prints and parses back),
    in its dtype's range."""
    v, dt = lit.value, lit.aval.dtype
    if dt not in dtypes.SHORT_NAMES:
        return False
    if dtypes.is_bool(dt):
        return type(v) is bool
    if dtypes.is_int(dt):  # and it fits: an out-of-range literal would wrap in C
        info = np.iinfo(dt)
        return type(v) is int and info.min <= v <= info.max
    return type(v) is (complex if dtypes.is_complex(dt) else float)


def verify(graph: Graph) -> Graph:
    """Check the IR invariants; raise ``IRError`` naming the offending equation. Returns ``graph``.

    Checked: single assignment; definition before use; literals are Python scalars of their
    dtype; each equation's outputs are what its primitive's rule gives; graphs in parameters
    (custom calls, fused kernels) verify in their own right; elementwise operands
    have equal shapes except scalar *literals* (a scalar variable must be broadcast
    explicitly, so that derivative rules never have to sum a broadcast back).
    """
    from .printing import Namer, format_eqn, format_graph

    names = None

    def namer():
        # names as in the printed graph, computed only when a message needs them
        nonlocal names
        if names is None:
            names = Namer()
            try:
                format_graph(graph, namer=names)
            except Exception:  # a graph too broken to print: fall back to first-seen order
                pass
        return names

    defined: set[int] = set()

    def define(v, where):
        if not isinstance(v, Var):
            raise IRError(f"{where}: outputs must be Vars, got {v!r}")
        if id(v) in defined:
            raise IRError(f"{where}: variable {namer()(v)} defined twice (single assignment)")
        defined.add(id(v))

    def use(a, where):
        if isinstance(a, Lit):
            if a.aval.shape != ():
                raise IRError(f"{where}: literal {a.value!r} is not a scalar")
            if not _lit_ok(a):
                raise IRError(f"{where}: literal {a.value!r} ({type(a.value).__name__}) does not "
                              f"match its type {a.aval}; build literals with ir.make_lit")
            return
        if not isinstance(a, Var):
            raise IRError(f"{where}: operand {a!r} is neither a Var nor a Lit")
        if id(a) not in defined:
            raise IRError(f"{where}: variable {namer()(a)} used before it is defined")

    for v in graph.inputs:
        define(v, "graph inputs")
    for i, e in enumerate(graph.eqns):
        def where(i=i, e=e):
            try:
                text = format_eqn(e, namer())
            except Exception:
                text = e.prim.name
            return f"equation {i} `{text}` ({e.src or 'no source'})"

        for a in e.inputs:
            try:
                use(a, "")
            except IRError as exc:
                raise IRError(f"{where()}{exc}") from None
        try:
            expected = e.prim.abstract_eval([a.aval for a in e.inputs], **e.params)
        except Exception as exc:  # a rule failing here is itself an invariant violation
            raise IRError(f"{where()}: shape/dtype rule failed: {exc}") from exc
        got = [o.aval for o in e.outputs]
        if list(expected) != got:
            raise IRError(f"{where()}: outputs {[str(a) for a in got]} but the rule gives "
                          f"{[str(a) for a in expected]}")
        for key, sub in subgraphs(e.params):  # bodies of calls, kernels, loops, branches
            try:
                verify(sub)
            except IRError as exc:
                raise IRError(f"{where()}: in parameter {key}: {exc}") from None
        if e.prim.kind == "elementwise":
            for a in e.inputs:
                if isinstance(a, Var) and a.aval.shape == () and got and got[0].shape != ():
                    raise IRError(f"{where()}: scalar variable {namer()(a)} is broadcast "
                                  "implicitly; elementwise primitives need equal shapes (only "
                                  "scalar literals broadcast): insert broadcast_in_dim")
        for o in e.outputs:
            try:
                define(o, "")
            except IRError as exc:
                raise IRError(f"{where()}{exc}") from None
    for a in graph.outputs:
        use(a, "graph outputs")
    return graph
