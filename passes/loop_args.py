"""A value passed to a ``scan`` more than once (as two constants, or as two ``xs``) is passed
once: the body reads one input where it read two.

Captured values reach a loop body as constants, one per capture site, and CSE merges the sites
outside the loop into one value without touching the loop's operand list. RK4 written as
``f(y) = concatenate([x[:1], x[1:] * y[:-1]])`` called four times per step passes ``x[:1]`` and
``x[1:]`` four times each. Reverse mode then keeps one cotangent accumulator per constant: four
carries of ``x``'s size, each read and written at every step, summed after the loop. Passed once,
the body's four contributions are added inside it (one fused kernel) into one accumulator.

The pass renames the duplicate's body input to the first one's (a body reads only its own
inputs: nothing nested needs renaming beyond its equations' operands) and drops the duplicate
from the operand list and the body's inputs. It runs before differentiation (``PRE_AD``) and in
the pipelines.
"""
from __future__ import annotations

from tracegrad.ir import Graph, Var
from tracegrad.prims import scan_p

from .bodies import in_bodies
from .registry import register


def _rename(body: Graph, sub: dict) -> Graph:
    def read(a):
        return sub.get(id(a), a) if isinstance(a, Var) else a
    eqns = []
    for e in body.eqns:
        ins = tuple(read(a) for a in e.inputs)
        eqns.append(e if all(x is y for x, y in zip(ins, e.inputs)) else e.replace(inputs=ins))
    return Graph(body.inputs, tuple(eqns), tuple(read(a) for a in body.outputs), body.meta)


def dedupe_scan(e):
    """``e`` with each repeated constant and each repeated ``xs`` operand passed once (the
    same equation when none repeats)."""
    nc, nk = e.params["num_consts"], e.params["num_carry"]
    groups = (range(nc), range(nc + nk, len(e.inputs)))
    dup: dict[int, int] = {}
    for group in groups:
        first: dict[int, int] = {}
        for j in group:
            a = e.inputs[j]
            if isinstance(a, Var):
                if id(a) in first:
                    dup[j] = first[id(a)]
                else:
                    first[id(a)] = j
    if not dup:
        return e
    body = e.params["body"]
    body = _rename(body, {id(body.inputs[j]): body.inputs[i] for j, i in dup.items()})
    keep = [j for j in range(len(e.inputs)) if j not in dup]
    body = Graph(tuple(body.inputs[j] for j in keep), body.eqns, body.outputs, body.meta)
    dropped_consts = sum(1 for j in dup if j < nc)
    params = dict(e.params, body=body, num_consts=nc - dropped_consts)
    return e.replace(inputs=tuple(e.inputs[j] for j in keep), params=params)


@register("loop-args", "a value passed to a scan twice (constants or xs) is passed once")
@in_bodies
def loop_args(graph: Graph) -> Graph:
    eqns = tuple(dedupe_scan(e) if e.prim is scan_p else e for e in graph.eqns)
    if all(a is b for a, b in zip(eqns, graph.eqns)):
        return graph
    return Graph(graph.inputs, eqns, graph.outputs, graph.meta)
