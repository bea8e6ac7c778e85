"""Graphs as pictures: a networkx model of one or more IR graphs, written as Graphviz DOT.

Each equation is a node labelled with its primitive, operands, output type and the user's line;
fused kernels are clusters holding their body's equations; a loop or branch is a cluster holding
its equation and, in sub-clusters, its bodies' equations (edges inside a body run between that
body's nodes; dashed edges tie the loop to the body nodes that read its operands and return its
results); derivative equations (noted by the
autodiff pass, see ``derivative_eqns``) are drawn in another colour. The DOT text is written
here rather than by pydot so that it needs no extra package and is byte-for-byte deterministic:
every node is declared (with its attributes) at the top level and only *mentioned* inside its
cluster, so readers that ignore subgraphs (networkx's ``read_dot``) still see every node.
"""
from __future__ import annotations

from tracegrad.ir import Graph, Lit, Var, subgraphs
from tracegrad.printing import fmt_lit, fmt_param

FORWARD_STYLE = {"fillcolor": "#dae8fc", "color": "#6c8ebf"}
DERIVATIVE_STYLE = {"fillcolor": "#f8cecc", "color": "#b85450", "penwidth": "1.5"}
VALUE_STYLE = {"shape": "ellipse", "fillcolor": "#f5f5f5", "color": "#666666"}
KERNEL_STYLE = {"style": "rounded,dashed", "color": "#82b366", "bgcolor": "#f7fbf4"}
LOOP_STYLE = {"style": "rounded", "color": "#9673a6", "bgcolor": "#fbf8fd"}
BODY_EDGE = {"style": "dashed", "color": "#9673a6"}
LEGEND = "blue: forward    red: derivative (emitted by the autodiff pass)    dashed: fused kernel"
_PARAM_LABEL_LIMIT = 32  # longer parameter text is left to the tooltip


# --- which equations compute derivatives -------------------------------------------------------
def _walk(graph: Graph):
    """Equations in execution order with kernel bodies inline, and a function mapping any
    operand to the Var that really holds it (kernel inputs and outputs resolved)."""
    alias: dict[int, object] = {}
    steps = []
    for e in graph.eqns:
        if e.prim.name == "fused":
            body = e.params["body"]
            for bv, a in zip(body.inputs, e.inputs):
                alias[id(bv)] = a
            steps.extend((be, e) for be in body.eqns)
            for o, bo in zip(e.outputs, body.outputs):
                alias[id(o)] = bo
        else:
            steps.append((e, None))

    def canon(a):
        while not isinstance(a, Lit) and id(a) in alias:
            a = alias[id(a)]
        return a
    return steps, canon


def derivative_eqns(graph: Graph) -> set[int]:
    """``id`` of every derivative equation, top-level or inside a kernel body.

    The autodiff pass notes each equation it emits as derivative or primal
    (``meta[DERIVATIVE_EQNS]``, which survives passes). An equation a later pass made is a
    derivative one if it reads a derivative value (primal values never depend on
    derivatives), or if every equation reading its outputs is one (a gradient's seed, a
    partial derivative rewritten by ``simplify``); otherwise it is primal.
    """
    from .autodiff import DERIVATIVE_EQNS, provenance

    notes = graph.meta.get(DERIVATIVE_EQNS)
    if not notes:
        return set()
    steps, canon = _walk(graph)
    deriv_vals: set[int] = set()
    deriv: dict[int, bool] = {}
    known: set[int] = set()
    consumers: dict[int, list] = {}
    for e, _ in steps:
        ins = [a for a in map(canon, e.inputs) if isinstance(a, Var)]
        for a in ins:
            consumers.setdefault(id(a), []).append(e)
        kind = provenance(e, notes)
        if kind is not None:
            known.add(id(e))
        d = kind == "derivative" or (kind is None and any(id(a) in deriv_vals for a in ins))
        deriv[id(e)] = d
        if d:
            deriv_vals.update(id(o) for o in e.outputs)
    outputs = {id(canon(a)) for a in graph.outputs}
    for e, _ in reversed(steps):
        if deriv[id(e)] or id(e) in known or any(id(o) in outputs for o in e.outputs):
            continue
        users = [u for o in e.outputs for u in consumers.get(id(o), ())]
        if users and all(deriv[id(u)] for u in users):
            deriv[id(e)] = True
    return {k for k, v in deriv.items() if v}


# --- networkx model -----------------------------------------------------------------------------
def to_networkx(stages, *, name: str = "tracegrad"):
    """A ``networkx.DiGraph`` of ``stages``: ``[(label, graph, input_names)]``.

    Node and edge attributes are Graphviz attributes. ``G.graph["clusters"]`` is the cluster
    tree: a list of ``{"id", "attrs", "nodes", "children"}``; with several stages each stage
    is a cluster (node ids prefixed ``s0_``, ``s1_``, ...).
    """
    import networkx as nx

    G = nx.DiGraph()
    G.graph["name"] = name
    G.graph["clusters"] = []
    any_derivative = False
    for k, (label, graph, input_names) in enumerate(stages):
        prefix = f"s{k}_" if len(stages) > 1 else ""
        top = G.graph["clusters"]
        if len(stages) > 1:
            cluster = {"id": f"cluster_{prefix}stage", "attrs": {"label": label,
                                                                 "style": "rounded",
                                                                 "color": "#999999"},
                       "nodes": [], "children": []}
            G.graph["clusters"].append(cluster)
            top = cluster
        any_derivative |= _add_graph(G, graph, prefix, input_names or [], top)
    attrs = {"rankdir": "TB", "fontname": "Helvetica", "fontsize": "10", "labelloc": "t",
             "label": name + ("\n" + LEGEND if any_derivative else "")}
    G.graph["graph_attrs"] = attrs
    G.graph["node_attrs"] = {"shape": "box", "style": "rounded,filled", "fontname": "Helvetica",
                             "fontsize": "10"}
    G.graph["edge_attrs"] = {"color": "#555555", "arrowsize": "0.6"}
    return G


def _add_graph(G, graph: Graph, prefix: str, input_names, top) -> bool:
    from tracegrad.printing import Namer

    from .memplan import dump_names

    names = dump_names(graph)   # the names of the text dump (and of the memory plan table)
    deriv = derivative_eqns(graph)
    steps, canon = _walk(graph)
    node_of: dict[int, str] = {}    # id(var) -> node id of its producer
    add_to = (lambda node: top["nodes"].append(node)) if isinstance(top, dict) else \
        (lambda node: None)

    for i, v in enumerate(graph.inputs):
        node = f"{prefix}in{i}"
        user = f"\n{input_names[i]}" if i < len(input_names) else ""
        G.add_node(node, label=f"{names[id(v)]}: {v.aval}{user}", **VALUE_STYLE,
                   tooltip=f"input {i}")
        node_of[id(v)] = node
        add_to(node)

    kernels: dict[int, dict] = {}
    local_namers: dict[int, Namer] = {}
    for n, (e, kernel) in enumerate(steps):
        node = f"{prefix}e{n}"
        if kernel is not None:
            namer = local_namers.get(id(kernel))
            if namer is None:
                namer = local_namers[id(kernel)] = Namer()
                for bv in kernel.params["body"].inputs:
                    namer(bv)
            label_names = namer
        else:
            label_names = lambda v: names.get(id(v), "?")
        style = DERIVATIVE_STYLE if id(e) in deriv else FORWARD_STYLE
        G.add_node(node, label=_label(e, label_names), tooltip=_tooltip(e, label_names),
                   **style, **{"class": "derivative" if id(e) in deriv else "forward"})
        for a in e.inputs:
            src = canon(a)
            if isinstance(src, Var) and id(src) in node_of:
                G.add_edge(node_of[id(src)], node)
        for o in e.outputs:
            node_of[id(o)] = node
        if kernel is None:
            if subgraphs(e.params) and e.prim.kind == "control":
                _add_loop(G, e, node, top, style)
            else:
                add_to(node)
            continue
        cluster = kernels.get(id(kernel))
        if cluster is None:
            body = kernel.params["body"]
            kname = kernel.params.get("name", "kernel")
            cluster = {"id": f"cluster_{prefix}{kname}",
                       "attrs": {"label": f"{kname}: {len(body.eqns)} fused operations",
                                 **KERNEL_STYLE},
                       "nodes": [], "children": []}
            kernels[id(kernel)] = cluster
            (top["children"] if isinstance(top, dict) else top).append(cluster)
        cluster["nodes"].append(node)

    for i, a in enumerate(graph.outputs):
        node = f"{prefix}out{i}"
        src = canon(a)
        text = fmt_lit(a) if isinstance(a, Lit) else f"{names.get(id(a), '?')}: {a.aval}"
        G.add_node(node, label=f"out {i}\n{text}", **VALUE_STYLE, tooltip=f"output {i}")
        if isinstance(src, Var) and id(src) in node_of:
            G.add_edge(node_of[id(src)], node)
        add_to(node)
    return bool(deriv)


def _loop_title(e) -> str:
    p = e.params
    if e.prim.name == "scan":
        return (f"scan: {p['length']} steps" + (", reversed" if p["reverse"] else "") +
                f", {p['num_carry']} carries")
    if e.prim.name == "while":
        bound = p.get("max_iter")
        return "while" + (f": at most {bound} steps" if bound is not None else "")
    return f"{e.prim.name}: {len(subgraphs(e.params))} branches"


def _add_loop(G, e, node: str, top, style) -> None:
    """A cluster holding the loop node and, per nested graph, a sub-cluster of its equations
    (drawn in the loop's colour; nested loops recurse)."""
    from tracegrad.printing import Namer

    parent = top["children"] if isinstance(top, dict) else top
    cluster = {"id": f"cluster_{node}", "attrs": {"label": _loop_title(e), **LOOP_STYLE},
               "nodes": [node], "children": []}
    parent.append(cluster)
    for k, (label, body) in enumerate(subgraphs(e.params)):
        sub = {"id": f"cluster_{node}_{k}", "attrs": {"label": label, **LOOP_STYLE},
               "nodes": [], "children": []}
        cluster["children"].append(sub)
        name = Namer()
        for v in body.inputs:
            name(v)
        node_of: dict[int, str] = {}
        for j, be in enumerate(body.eqns):
            bn = f"{node}_{k}_{j}"
            G.add_node(bn, label=_label(be, name), tooltip=_tooltip(be, name), **style)
            reads_input = False
            for a in be.inputs:
                if isinstance(a, Var) and id(a) in node_of:
                    G.add_edge(node_of[id(a)], bn)
                elif isinstance(a, Var):
                    reads_input = True
            if reads_input:
                G.add_edge(node, bn, **BODY_EDGE)
            for o in be.outputs:
                node_of[id(o)] = bn
            if subgraphs(be.params) and be.prim.kind == "control":
                _add_loop(G, be, bn, sub, style)
            else:
                sub["nodes"].append(bn)
        for a in body.outputs:
            if isinstance(a, Var) and id(a) in node_of and not G.has_edge(node_of[id(a)], node):
                G.add_edge(node_of[id(a)], node, **BODY_EDGE)


def _params_text(e) -> str:
    if not e.params or e.prim.name == "fused":
        return ""
    return "[" + " ".join(fmt_param(k, e.params[k]) for k in sorted(e.params)) + "]"


def _label(e, name) -> str:
    outs = " ".join(name(o) for o in e.outputs)
    args = " ".join(fmt_lit(a) if isinstance(a, Lit) else name(a) for a in e.inputs)
    params = _params_text(e)
    head = f"{outs} = {e.prim.name}" + (params if len(params) <= _PARAM_LABEL_LIMIT else "[...]")
    lines = [head + (f" {args}" if args else ""), " ".join(str(o.aval) for o in e.outputs)]
    if e.src:
        lines.append(e.src)
    return "\n".join(lines)


def _tooltip(e, name) -> str:
    from tracegrad.printing import format_eqn
    return " ".join(format_eqn(e, name, show_src=True).split())


# --- DOT text ---------------------------------------------------------------------------------
def _q(value) -> str:
    text = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{text}"'


def _attrs(attrs: dict) -> str:
    return ", ".join(f"{k}={_q(v)}" for k, v in attrs.items())


def write_dot(G) -> str:
    """The DOT text of a graph made by ``to_networkx`` (deterministic: insertion order)."""
    lines = [f"digraph {_q(G.graph.get('name', 'tracegrad'))} {{"]
    lines.append(f"  graph [{_attrs(G.graph.get('graph_attrs', {}))}];")
    lines.append(f"  node [{_attrs(G.graph.get('node_attrs', {}))}];")
    lines.append(f"  edge [{_attrs(G.graph.get('edge_attrs', {}))}];")
    for node, attrs in G.nodes(data=True):
        lines.append(f"  {_q(node)} [{_attrs(attrs)}];")

    def cluster(c, indent):
        pad = "  " * indent
        lines.append(f"{pad}subgraph {_q(c['id'])} {{")
        for k, v in c["attrs"].items():
            lines.append(f"{pad}  {k}={_q(v)};")
        for node in c["nodes"]:
            lines.append(f"{pad}  {_q(node)};")
        for child in c["children"]:
            cluster(child, indent + 1)
        lines.append(f"{pad}}}")
    for c in G.graph.get("clusters", []):
        cluster(c, 1)
    for u, v, attrs in G.edges(data=True):
        lines.append(f"  {_q(u)} -> {_q(v)}" + (f" [{_attrs(attrs)}]" if attrs else "") + ";")
    lines.append("}")
    return "\n".join(lines) + "\n"
