"""A frozen copy of the networkx fusion pass (before issue 13), kept only as the reference
that tests/test_pass_equivalence.py compares passes/fuse.py against: it rebuilds a quotient
graph per merge candidate (quadratic), so it is never used by the compiler.

Original docstring: Fusion: group elementwise chains of one iteration space, with the broadcasts feeding them
and at most one reduction at the end, into ``fused`` kernels with a scalar-per-element body.

Rules:
* members: elementwise primitives whose output has the kernel's shape; a ``reduce_sum``/
  ``reduce_max``/``reduce_min`` over a member closes the kernel (its epilogue).
* legality: merging must not create a cycle through an equation outside the kernel (checked
  on the equation graph with networkx); a kernel with an epilogue takes no further members.
* recompute instead of materialise: a ``broadcast_in_dim`` feeding a kernel is copied into the
  kernel body (broadcasting is free inside a loop), so the broadcast array is never built;
  so is an elementwise op on scalars (rank 0), which costs one operation per kernel.
* multi-output: every member value used outside the kernel (or returned) is a kernel output,
  so a forward value and the gradients computed from the same loop share it.
"""
from __future__ import annotations

from tracegrad.ir import Eqn, Graph, Lit, Var
from tracegrad.prims.fused import fused_p



def _is_member(e) -> bool:
    return e.prim.kind == "elementwise" and e.outputs[0].aval.shape != ()


def _eqn_graph(graph: Graph):
    import networkx as nx
    g = nx.DiGraph()
    producer = {}
    for i, e in enumerate(graph.eqns):
        g.add_node(i)
        for o in e.outputs:
            producer[id(o)] = i
        for a in e.inputs:
            if isinstance(a, Var) and id(a) in producer:
                g.add_edge(producer[id(a)], i)
    return g, producer


class _Kernel:
    def __init__(self, shape):
        self.shape = shape
        self.members: list[int] = []
        self.epilogue_out = None  # the reduction's output var, once the kernel has one


def _legal(dag, group: set[int], kernel_of=None, kernel=None) -> bool:
    """Contracting ``group`` (with every other kernel contracted too) creates no cycle: no
    path leaves the group and comes back into it, and the graph of kernels stays acyclic
    (both checked with networkx on the equation DAG)."""
    import networkx as nx
    outside_succ = {s for m in group for s in dag.successors(m)} - group
    for s in outside_succ:
        if nx.descendants(dag, s) & group:
            return False
    if kernel_of is None:
        return True
    # two kernels may each be convex yet depend on each other: check the quotient graph
    def node(i):
        if i in group:
            return ("k", id(kernel))
        k = kernel_of.get(i)
        return ("k", id(k)) if k is not None else ("e", i)
    q = nx.DiGraph()
    for u, v in dag.edges:
        nu, nv = node(u), node(v)
        if nu != nv:
            q.add_edge(nu, nv)
    return nx.is_directed_acyclic_graph(q)


# Below this many bytes of intermediates a program is dominated by per-operation overhead,
# not memory traffic: fusing and planning it saves nothing, and skipping keeps a small first
# call free of networkx's import (~0.1 s).
SMALL_PROGRAM_BYTES = 1 << 16


def intermediate_bytes(graph: Graph) -> int:
    return sum(o.aval.nbytes for e in graph.eqns for o in e.outputs)


def fuse(graph: Graph, force: bool = False) -> Graph:
    if not force and intermediate_bytes(graph) < SMALL_PROGRAM_BYTES:
        return graph
    dag, producer = _eqn_graph(graph)
    eqns = graph.eqns
    kernel_of: dict[int, _Kernel] = {}
    kernels: list[_Kernel] = []

    def producer_kernels(e):
        ks = []
        for a in e.inputs:
            if isinstance(a, Var) and id(a) in producer:
                k = kernel_of.get(producer[id(a)])
                if k is not None and k not in ks:
                    ks.append(k)
        return ks

    def merge(into: _Kernel, other: _Kernel):
        into.members.extend(other.members)
        for m in other.members:
            kernel_of[m] = into
        into.epilogue_out = into.epilogue_out or other.epilogue_out
        kernels.remove(other)

    for i, e in enumerate(eqns):
        if _is_member(e):
            shape = e.outputs[0].aval.shape
            target = None
            for k in producer_kernels(e):
                if k.shape != shape or any(a is k.epilogue_out for a in e.inputs):
                    continue  # a loop cannot use its own reduction's result
                if target is None:
                    if _legal(dag, set(k.members) | {i}, kernel_of, k):
                        target = k
                elif not (k.epilogue_out and target.epilogue_out) and \
                        _legal(dag, set(target.members) | set(k.members) | {i}, kernel_of,
                               target):
                    merge(target, k)  # two chains joined by this equation
            if target is None:
                target = _Kernel(shape)
                kernels.append(target)
            target.members.append(i)
            kernel_of[i] = target
        elif e.prim.traits.epilogue:
            src = e.inputs[0]
            k = kernel_of.get(producer.get(id(src))) if isinstance(src, Var) else None
            if k is not None and k.epilogue_out is None and k.shape == src.aval.shape and \
                    _legal(dag, set(k.members) | {i}, kernel_of, k):
                k.members.append(i)
                k.epilogue_out = e.outputs[0]
                kernel_of[i] = k
    return _rebuild(graph, kernels, kernel_of)


def _rebuild(graph: Graph, kernels, kernel_of) -> Graph:
    eqns = graph.eqns
    uses: dict[int, set[int]] = {}
    for i, e in enumerate(eqns):
        for a in e.inputs:
            if isinstance(a, Var):
                uses.setdefault(id(a), set()).add(i)
    graph_outs = {id(a) for a in graph.outputs if isinstance(a, Var)}
    producer = {id(o): i for i, e in enumerate(eqns) for o in e.outputs}
    emitted_at: dict[int, _Kernel] = {}
    for k in kernels:
        # which kernels are emitted is passes/fuse.py's policy, not legality: shared with it
        # (a lone op reading a broadcast is a kernel too)
        from tracegrad.passes.fuse import _reads_broadcast
        if len(k.members) >= 2 or _reads_broadcast(eqns[k.members[0]], eqns, producer):
            emitted_at[max(k.members)] = k
    new_eqns: list[Eqn] = []
    fused_members = {i for k in emitted_at.values() for i in k.members}
    n = 0
    for i, e in enumerate(eqns):
        if i in fused_members and i not in emitted_at:
            continue
        if i not in emitted_at:
            new_eqns.append(e)
            continue
        k = emitted_at[i]
        members = sorted(k.members)
        member_set = set(members)
        body_eqns: list[Eqn] = []
        inputs: list = []   # outer atoms
        inner: dict[int, object] = {}

        def inner_of(a, src):
            if isinstance(a, Lit):
                return a
            if id(a) in inner:
                return inner[id(a)]
            p = producer.get(id(a))
            pe = eqns[p] if p is not None else None
            # recompute cheap producers inside the kernel instead of materialising them
            if pe is not None and p not in member_set and _recompute(pe):
                ins = tuple(inner_of(x, src) for x in pe.inputs)
                outs = tuple(Var(o.aval) for o in pe.outputs)
                body_eqns.append(pe.replace(inputs=ins, outputs=outs))
                inner[id(a)] = outs[0]
                return outs[0]
            v = Var(a.aval)
            inputs.append(a)
            inner[id(a)] = v
            return v

        for m in members:
            me = eqns[m]
            ins = tuple(inner_of(a, me.src) for a in me.inputs)
            outs = tuple(Var(o.aval) for o in me.outputs)
            body_eqns.append(me.replace(inputs=ins, outputs=outs))
            for o, no in zip(me.outputs, outs):
                inner[id(o)] = no
        escaping = []
        for m in members:
            for o in eqns[m].outputs:
                if id(o) in graph_outs or (uses.get(id(o), set()) - member_set):
                    escaping.append(o)
        body_in_vars = tuple(inner[id(a)] for a in inputs)
        body = Graph(body_in_vars, tuple(body_eqns), tuple(inner[id(o)] for o in escaping))
        n += 1
        new_eqns.append(Eqn(fused_p, tuple(inputs), {"body": body, "name": f"kernel{n}"},
                            tuple(escaping), eqns[members[-1]].src))
    return _dce(Graph(graph.inputs, tuple(_topological(new_eqns)), graph.outputs, graph.meta))


def _recompute(e) -> bool:
    """Cheap producers copied into each consuming kernel rather than materialised."""
    if e.prim.name == "broadcast_in_dim":
        return True
    return e.prim.kind == "elementwise" and e.outputs[0].aval.shape == ()


def _topological(eqns: list[Eqn]) -> list[Eqn]:
    """A kernel is placed at its last member; consumers placed earlier move after it. Stable
    topological order (earliest original position first), via networkx."""
    import networkx as nx
    g = nx.DiGraph()
    producer = {}
    for i, e in enumerate(eqns):
        g.add_node(i)
        for o in e.outputs:
            producer[id(o)] = i
    for i, e in enumerate(eqns):
        for a in e.inputs:
            if isinstance(a, Var) and id(a) in producer:
                g.add_edge(producer[id(a)], i)
    return [eqns[i] for i in nx.lexicographical_topological_sort(g)]


def _dce(graph: Graph) -> Graph:
    from tracegrad.passes.dce import dce
    return dce(graph)
