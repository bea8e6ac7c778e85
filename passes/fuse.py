"""Fusion: group elementwise chains of one iteration space, with the broadcasts feeding them
and at most one reduction at the end, into ``fused`` kernels with a scalar-per-element body.

Rules:
* members: elementwise primitives whose output has the kernel's shape; a ``reduce_sum``/
  ``reduce_max``/``reduce_min`` over a member closes the kernel (its epilogue).
* legality: merging must not create a cycle through an equation outside the kernel (checked
  incrementally on the graph of kernels, passes/fuse_legality.py); a kernel with an epilogue
  takes no further members.
* recompute instead of materialise: a ``broadcast_in_dim`` feeding a kernel is copied into the
  kernel body (broadcasting is free inside a loop), so the broadcast array is never built;
  so is an elementwise op on scalars (rank 0), which costs one operation per kernel.
* multi-output: every member value used outside the kernel (or returned) is a kernel output,
  so a forward value and the gradients computed from the same loop share it.
"""
from __future__ import annotations

import heapq

from tracegrad.ir import Eqn, Graph, Lit, Var
from tracegrad.prims.fused import fused_p

from .bodies import in_bodies
from .fuse_legality import Quotient
from .registry import register


def _is_member(e) -> bool:
    return e.prim.kind == "elementwise" and e.outputs[0].aval.shape != ()


class _Kernel:
    def __init__(self, shape):
        self.shape = shape
        self.members: list[int] = []
        self.epilogue_out = None  # the reduction's output var, once the kernel has one


# Below this many bytes of intermediates a program is dominated by per-operation overhead,
# not memory traffic: fusing and planning it saves nothing.
SMALL_PROGRAM_BYTES = 1 << 16


last_legality_work = 0  # edges the last fuse call's legality searches examined (for tests)


def intermediate_bytes(graph: Graph) -> int:
    return sum(o.aval.nbytes for e in graph.eqns for o in e.outputs)


@register("fuse", "group elementwise chains (+ input broadcasts, + a final reduction) into "
                  "kernels")
@in_bodies  # fuses inside loop bodies and branches too (each body by its own size)
def fuse(graph: Graph, force: bool = False) -> Graph:
    if not force and intermediate_bytes(graph) < SMALL_PROGRAM_BYTES:
        return graph
    eqns = graph.eqns
    producer: dict[int, int] = {}
    q = Quotient()
    kernel_at: dict[int, _Kernel] = {}  # quotient representative -> its kernel
    kernels: dict[int, _Kernel] = {}    # id -> kernel (insertion order; merged ones removed)

    def kernel_of(i):
        return kernel_at.get(q.find(i)) if i is not None else None

    def producer_kernels(e):
        ks = []
        for a in e.inputs:
            if isinstance(a, Var) and id(a) in producer:
                k = kernel_of(producer[id(a)])
                if k is not None and k not in ks:
                    ks.append(k)
        return ks

    def join(k: _Kernel, other) -> bool:
        """Contract ``k`` with ``other`` (a kernel or a lone equation) if that creates no
        cycle through the rest of the graph; ``k`` keeps its identity."""
        ra = q.find(k.members[0])
        rb = q.find(other.members[0] if isinstance(other, _Kernel) else other)
        r = q.contract(ra, rb)
        if r is None:
            return False
        kernel_at.pop(ra, None)
        kernel_at.pop(rb, None)
        kernel_at[r] = k
        if isinstance(other, _Kernel):
            if len(other.members) > len(k.members):  # the longer list absorbs the shorter
                k.members, other.members = other.members, k.members
            k.members.extend(other.members)
            k.epilogue_out = k.epilogue_out or other.epilogue_out
            del kernels[id(other)]
        else:
            k.members.append(other)
        return True

    for i, e in enumerate(eqns):
        preds = {producer[id(a)] for a in e.inputs if isinstance(a, Var) and id(a) in producer}
        q.add(i, preds)
        for o in e.outputs:
            producer[id(o)] = i
        if _is_member(e):
            shape = e.outputs[0].aval.shape
            target = None
            for k in producer_kernels(e):
                if k.shape != shape or any(a is k.epilogue_out for a in e.inputs):
                    continue  # a loop cannot use its own reduction's result
                if target is None:
                    if join(k, i):
                        target = k
                elif not (k.epilogue_out and target.epilogue_out) and join(target, k):
                    pass  # two chains joined by this equation
            if target is None:
                target = _Kernel(shape)
                kernels[id(target)] = target
                target.members.append(i)
                kernel_at[q.find(i)] = target
        elif e.prim.traits.epilogue:
            src = e.inputs[0]
            k = kernel_of(producer.get(id(src))) if isinstance(src, Var) else None
            if k is not None and k.epilogue_out is None and k.shape == src.aval.shape and \
                    join(k, i):
                k.epilogue_out = e.outputs[0]
    global last_legality_work
    last_legality_work = q.work
    return _rebuild(graph, list(kernels.values()))


def _rebuild(graph: Graph, kernels) -> Graph:
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
        # one member is a kernel too when it reads a broadcast: the kernel recomputes it,
        # where alone the op would read a materialised broadcast (x[None] - mu[:, None]
        # built both (k, n, d) operands before subtracting)
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


def _reads_broadcast(e, eqns, producer) -> bool:
    """Whether ``e`` reads a broadcast_in_dim that grows its operand (one a kernel would
    recompute instead of reading it materialised)."""
    for a in e.inputs:
        p = producer.get(id(a)) if isinstance(a, Var) else None
        if p is not None and eqns[p].prim.name == "broadcast_in_dim" and \
                eqns[p].outputs[0].aval.size > getattr(eqns[p].inputs[0].aval, "size", 1):
            return True
    return False


def _recompute(e) -> bool:
    """Cheap producers copied into each consuming kernel rather than materialised."""
    if e.prim.name == "broadcast_in_dim":
        return True
    return e.prim.kind == "elementwise" and e.outputs[0].aval.shape == ()


def _topological(eqns: list[Eqn]) -> list[Eqn]:
    """A kernel is placed at its last member; consumers placed earlier move after it. Stable
    topological order: among the equations ready to run, the earliest original position first
    (Kahn's algorithm with a heap, O(n log n))."""
    producer = {}
    for i, e in enumerate(eqns):
        for o in e.outputs:
            producer[id(o)] = i
    succ: list[list[int]] = [[] for _ in eqns]
    indeg = [0] * len(eqns)
    for i, e in enumerate(eqns):
        for p in {producer[id(a)] for a in e.inputs if isinstance(a, Var) and id(a) in producer}:
            succ[p].append(i)
            indeg[i] += 1
    ready = [i for i, d in enumerate(indeg) if d == 0]
    heapq.heapify(ready)
    out = []
    while ready:
        i = heapq.heappop(ready)
        out.append(eqns[i])
        for j in succ[i]:
            indeg[j] -= 1
            if indeg[j] == 0:
                heapq.heappush(ready, j)
    return out


def _dce(graph: Graph) -> Graph:
    from .dce import dce
    return dce(graph)
