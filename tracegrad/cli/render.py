"""Text and JSON renderings of a ``DumpResult`` (DOT is in ``tracegrad.passes.graphviz``).

Both list the same stages in the same order; names and order are deterministic, so outputs can
be golden files (phase times appear only in ``--stats``, and ``--no-timings`` drops them).
"""
from __future__ import annotations

from dataclasses import dataclass

from .engine import DumpResult

STAGES = ("traced", "grad", "optimized", "fused")


@dataclass
class View:
    """What the user asked to see."""

    stages: tuple[str, ...]            # in STAGES order
    pass_diffs: bool = False           # a unified diff per pass that changed something
    pass_unchanged: bool = False       # also a line for passes that changed nothing (all)
    after_all: bool = False            # the whole graph after every pass
    show_src: bool = False             # `# file:line` after each equation
    stats: dict | None = None


def stage_graphs(result: DumpResult, view: View) -> list[tuple[str, object]]:
    graphs = {"traced": result.traced, "grad": result.grad, "optimized": result.optimized,
              "fused": result.final}
    return [(s, graphs[s]) for s in view.stages if graphs[s] is not None]


def _stage_note(result: DumpResult, stage: str, graph) -> str:
    n = len(graph.eqns)
    text = f"{n} equation{'s' if n != 1 else ''}"
    if stage == "grad":
        nums = ",".join(map(str, result.argnums))
        text += f" ({result.transform} w.r.t. argument{'s' if len(result.argnums) > 1 else ''} "\
                f"{nums})" if result.transform != "jvp" else " (jvp: primals, then tangents)"
    elif stage == "optimized":
        text += f" (pipeline {result.pipeline}" + (", before fuse and memplan)"
                                                   if _has_late(result) else ")")
    elif stage == "fused":
        k = sum(1 for e in graph.eqns if e.prim.name == "fused")
        text += f", {k} fused kernel{'s' if k != 1 else ''}"
        if k == 0 and any(s.name == "fuse" and s.status == "ran" for s in result.steps):
            from tracegrad.passes.fuse import SMALL_PROGRAM_BYTES, intermediate_bytes
            if intermediate_bytes(graph) < SMALL_PROGRAM_BYTES:
                text += (f" (fuse leaves programs with under {SMALL_PROGRAM_BYTES // 1024} KiB "
                         "of intermediates alone, as jit does)")
        if result.plan is not None:
            text += ", memory-planned"
    return text


def _has_late(result: DumpResult) -> bool:
    return any(s.name in ("fuse", "fuse-all", "memplan") for s in result.steps)


def signature(result: DumpResult) -> str:
    """``loss(w: f32[784,128], x: f32[64,784])`` from the traced graph's inputs."""
    names = result.bound.leaf_names()
    parts = [f"{n}: {v.aval}" for n, v in zip(names, result.traced.inputs)]
    parts += [f"{n}={v!r} (static)" for n, v in result.statics.items()]
    return f"{result.target.func_name}({', '.join(parts)})"


def diff_graphs(before, after, name: str, show_src: bool = False) -> str:
    """A unified diff of one pass. Both sides are named by one ``Namer``: a value the pass kept
    keeps its name, so the diff shows what changed, not every name after the first change
    shifting (``--print-after-all`` prints each graph with its own, canonical names)."""
    import difflib

    from tracegrad.printing import Namer, format_graph
    namer = Namer()
    a = format_graph(before, show_src=show_src, namer=namer) + "\n"
    b = format_graph(after, show_src=show_src, namer=namer) + "\n"
    return "".join(difflib.unified_diff(a.splitlines(keepends=True),
                                        b.splitlines(keepends=True),
                                        f"before {name}", f"after {name}"))


def render_text(result: DumpResult, view: View) -> str:
    from tracegrad.printing import format_graph

    def fmt(g):
        return format_graph(g, show_src=view.show_src)

    out = [f"// tracegrad dump {result.target.label}: {signature(result)}"
           + (f", {result.transform}" if result.transform else "")
           + f", pipeline {result.pipeline}"]
    stages = dict(stage_graphs(result, view))

    def section(name):
        g = stages[name]
        out.append(f"// ===== {name}: {_stage_note(result, name, g)} =====")
        out.append(fmt(g))

    for name in ("traced", "grad"):
        if name in stages:
            section(name)
    if view.pass_diffs or view.after_all:
        for step in result.steps:
            if step.status != "ran":
                out.append(f"// ----- {step.name}: {step.status} -----")
                continue
            n0, n1 = len(step.before.eqns), len(step.after.eqns)
            if not step.changed:
                if view.pass_unchanged or view.after_all:
                    out.append(f"// ----- {step.name}: no change ({n1} equations) -----")
                if view.after_all:
                    out.append(fmt(step.after))
                continue
            out.append(f"// ----- {step.name}: {n0} -> {n1} equations -----")
            if view.pass_diffs:
                out.append(diff_graphs(step.before, step.after, step.name,
                                       view.show_src).rstrip("\n"))
            if view.after_all:
                out.append(fmt(step.after))
    for name in ("optimized", "fused"):
        if name in stages:
            section(name)
    if result.source is not None:
        out.append(f"// ===== source: {result.backend} backend =====")
        out.append(result.source.rstrip("\n"))
    if view.stats is not None:
        from .stats import format_text
        out.extend(format_text(view.stats))
    return "\n".join(out) + "\n"


# --- JSON ---------------------------------------------------------------------------------------
def graph_json(graph, input_names=None) -> dict:
    """A graph as plain data: the names are the text dump's, params their printed values."""
    from tracegrad.ir import Lit
    from tracegrad.passes.graphviz import derivative_eqns
    from tracegrad.printing import Namer, fmt_lit, fmt_param

    deriv = derivative_eqns(graph)

    def build(g, namer, names_in):
        def atom(a):
            return fmt_lit(a) if isinstance(a, Lit) else namer(a)
        ins = []
        for i, v in enumerate(g.inputs):
            item = {"name": namer(v), "type": str(v.aval)}
            if names_in and i < len(names_in):
                item["arg"] = names_in[i]
            ins.append(item)
        eqns = []
        for e in g.eqns:
            item = {"outputs": [{"name": namer(o), "type": str(o.aval)} for o in e.outputs],
                    "primitive": e.prim.name,
                    "params": {k: fmt_param(k, e.params[k]).split("=", 1)[1]
                               for k in sorted(e.params) if k != "body"},
                    "inputs": [atom(a) for a in e.inputs],
                    "src": e.src,
                    "derivative": id(e) in deriv}
            if e.prim.name == "fused":
                item["body"] = build(e.params["body"], Namer(), None)
            eqns.append(item)
        return {"inputs": ins, "eqns": eqns, "outputs": [atom(a) for a in g.outputs]}
    return build(graph, Namer(), input_names)


def render_json(result: DumpResult, view: View) -> str:
    import json

    from tracegrad import __version__
    from tracegrad.printing import format_graph

    def fmt(g):
        return format_graph(g, show_src=view.show_src)

    names_for = {"traced": result.bound.leaf_names()}
    for s in ("grad", "optimized", "fused"):
        names_for[s] = result.input_names
    doc = {
        "tracegrad": __version__,
        "function": result.target.label,
        "signature": signature(result),
        "arguments": [{"name": n, "type": str(v.aval)}
                      for n, v in zip(result.bound.leaf_names(), result.traced.inputs)],
        "transform": None if result.transform is None else
        {"name": result.transform, "argnums": list(result.argnums)},
        "pipeline": {"name": result.pipeline, "passes": [s.name for s in result.steps],
                     "disabled": [s.name for s in result.steps if s.status == "disabled"],
                     "not_run": [s.name for s in result.steps if s.status == "not run"]},
        "stages": [{"name": name, "summary": _stage_note(result, name, g), "eqns": len(g.eqns),
                    "ir": fmt(g), "graph": graph_json(g, names_for[name])}
                   for name, g in stage_graphs(result, view)],
    }
    if view.pass_diffs or view.after_all:
        passes = []
        for step in result.steps:
            item = {"name": step.name, "status": step.status}
            if step.status == "ran":
                item.update(changed=step.changed, eqns_before=len(step.before.eqns),
                            eqns_after=len(step.after.eqns))
                if view.pass_diffs:
                    item["diff"] = diff_graphs(step.before, step.after, step.name,
                                               view.show_src)
                if view.after_all:
                    item["ir"] = fmt(step.after)
            passes.append(item)
        doc["passes"] = passes
    if result.source is not None:
        doc["source"] = {"backend": result.backend, "text": result.source}
    if view.stats is not None:
        doc["stats"] = view.stats
    return json.dumps(doc, indent=2) + "\n"
