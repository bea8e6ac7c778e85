"""Batching as a graph pass (``tg.vmap``): re-emit a graph with one more leading axis on the
values that depend on batched inputs, by each primitive's batching rule (declared beside it,
``tracegrad.primitive.BATCH_RULES``; shared building blocks in ``tracegrad/prims/batching.py``).

Values that do not depend on a batched input are computed once, unbatched (a weight's transpose
is not repeated per example). The result is an ordinary graph: it can be differentiated,
optimised, compiled and batched again (nested vmap).
"""
from __future__ import annotations

from tracegrad.errors import TracedIndexError, TracegradError
from tracegrad.ir import Graph, Lit
from tracegrad.primitive import BATCH_RULES, install_graph_transforms
from tracegrad.prims.batching import with_batch
from tracegrad.tracer import TraceContext, bind, src_scope

from .inline import unfuse


class BatchingError(TracegradError, ValueError):
    """A primitive could not be batched (its rule refused these operands)."""


def batch_inline(graph: Graph, args: list, batched: list, size: int) -> tuple[list, list]:
    """Evaluate ``graph`` on ``args`` in the current trace, ``batched[i]`` telling whether
    ``args[i]`` carries the examples along axis 0; returns (outputs, which are batched)."""
    graph = unfuse(graph)
    env: dict = {}
    for v, a, b in zip(graph.inputs, args, batched):
        env[id(v)] = (a, bool(b))

    def read(a):
        return (a, False) if isinstance(a, Lit) else env[id(a)]

    for eqn in graph.eqns:
        vals, flags = zip(*[read(a) for a in eqn.inputs]) if eqn.inputs else ((), ())
        with src_scope(eqn.src):
            if not any(flags):
                outs = bind(eqn.prim, *vals, **eqn.params)
                out_b = False
            else:
                rule = BATCH_RULES.get(eqn.prim)
                if rule is None:
                    raise BatchingError(f"vmap: primitive {eqn.prim.name!r} has no batching "
                                        "rule", src=eqn.src)
                try:
                    outs = rule(list(vals), list(flags), size, **eqn.params)
                except (BatchingError, TracedIndexError):  # (an index out of range met by
                    raise                                  # an eager vmap: NumPy's IndexError)
                except TracegradError as exc:
                    raise BatchingError(f"vmap: batching {eqn.prim.name!r} failed: {exc}",
                                        src=eqn.src) from exc
                out_b = True
        outs = outs if eqn.prim.multiple_results else [outs]
        for v, o in zip(eqn.outputs, outs):
            env[id(v)] = (o, out_b)
    results = [read(a) for a in graph.outputs]
    return [r[0] for r in results], [r[1] for r in results]


def batch_graph(graph: Graph, batched: list, size: int) -> Graph:
    """``graph`` with inputs ``batched`` carrying ``size`` examples along a new axis 0; every
    output carries them (shared ones broadcast). Loop bodies are batched with this."""
    with TraceContext("vmap") as ctx:
        ins = [ctx.new_input(v.aval.update(shape=(size,) + v.aval.shape) if b else v.aval)
               for v, b in zip(graph.inputs, batched)]
        outs, out_b = batch_inline(graph, ins, batched, size)
        outs = [with_batch(o, b, size) for o, b in zip(outs, out_b)]
        new, captured = ctx.to_graph(outs)
    if captured:  # a body is closed: nothing outside it can be read
        raise BatchingError("internal: a batched body captured an outer value")
    return new


install_graph_transforms(batch_graph=batch_graph)
