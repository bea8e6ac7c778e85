"""Machinery for rule-based passes: walk a graph, let rules replace equations, keep a
substitution for replaced outputs, and repeat to a fixed point within a budget.

A rule sees the equation with its inputs already substituted and a ``Builder`` that can look
up the equation producing an operand (for patterns such as ``neg(neg x)``) and emit new
equations. It returns ``None`` (no change) or one replacement atom per output.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from tracegrad.errors import DTypeError
from tracegrad.ir import Eqn, Graph, Lit, Var, make_lit
from tracegrad.primitive import get_primitive


class Builder:
    def __init__(self, eqns: list, producers: dict, src: str | None, readers: dict | None = None):
        self.eqns = eqns
        self.producers = producers
        self.src = src
        self.readers = readers if readers is not None else {}

    def uses(self, atom) -> int:
        """How many times ``atom`` is read (equation operands and graph outputs) in the graph
        this sweep started from: a rule that rebuilds a producer for one reader (folding a
        transpose into a product) must not duplicate work the other readers still need."""
        return 0 if isinstance(atom, Lit) else self.readers.get(id(atom), 0)

    def producer(self, atom) -> Eqn | None:
        """The equation that defines ``atom`` in the graph being built (None for inputs/lits)."""
        if isinstance(atom, Lit):
            return None
        return self.producers.get(id(atom))

    def add(self, prim_name: str, *inputs, **params) -> Var:
        prim = get_primitive(prim_name)
        avals = prim.abstract_eval([a.aval for a in inputs], **params)
        outs = tuple(Var(av) for av in avals)
        eqn = Eqn(prim, tuple(inputs), params, outs, self.src)
        self.eqns.append(eqn)
        for o in outs:
            self.producers[id(o)] = eqn
        return outs[0]

    @staticmethod
    def lit(value, dtype) -> Lit:
        return make_lit(value, dtype)


@dataclass(frozen=True)
class Rule:
    fn: Callable
    doc: str


def rewrite_once(graph: Graph, rules: dict[str, list[Rule]], hits: dict | None = None
                 ) -> tuple[Graph, bool]:
    subst: dict[int, object] = {}
    eqns: list[Eqn] = []
    producers: dict[int, Eqn] = {}
    changed = False
    readers: dict[int, int] = {}
    for a in [a for e in graph.eqns for a in e.inputs] + list(graph.outputs):
        if isinstance(a, Var):
            readers[id(a)] = readers.get(id(a), 0) + 1

    def read(a):
        while not isinstance(a, Lit) and id(a) in subst:
            a = subst[id(a)]
        return a

    for e in graph.eqns:
        ins = tuple(read(a) for a in e.inputs)
        if any(x is not y for x, y in zip(ins, e.inputs)):
            e = e.replace(inputs=ins)
        replaced = None
        for rule in rules.get(e.prim.name, ()):
            b = Builder(eqns, producers, e.src, readers)
            mark = len(eqns)
            try:
                replaced = rule.fn(e, b)
            except DTypeError:
                # the rewrite's target is not defined at these dtypes (log1p(exp(z)) ->
                # softplus(z) for a complex z): the rule does not apply
                replaced = None
            if replaced is not None:
                if hits is not None:
                    hits[rule.doc] = hits.get(rule.doc, 0) + 1
                break
            del eqns[mark:]  # a rule that declined must leave nothing behind
        if replaced is None:
            eqns.append(e)
            for o in e.outputs:
                producers[id(o)] = e
            continue
        changed = True
        for o, r in zip(e.outputs, replaced):
            # shape and dtype, literals included: a rule may not change either
            if r.aval != o.aval:
                raise AssertionError(f"rule changed the type of {e.prim.name}'s output: "
                                     f"{o.aval} -> {r.aval}")
            subst[id(o)] = r
    outputs = tuple(read(a) for a in graph.outputs)
    return Graph(graph.inputs, tuple(eqns), outputs, graph.meta), changed


def rewrite_fixpoint(graph: Graph, rules: dict[str, list[Rule]], budget: int = 8,
                     hits: dict | None = None) -> Graph:
    for _ in range(budget):
        new, changed = rewrite_once(graph, rules, hits)
        if not changed:  # the same object back: a loop holding this body keeps its params
            break
        graph = new
    return graph
