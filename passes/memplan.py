"""Memory planning: liveness of every intermediate array, buffer reuse and in-place writes.

The plan covers the values a backend writes through an ``out=`` buffer (elementwise results,
reductions, contractions), inside fused kernels as well as between them; views
(reshape, transpose, slice, broadcast, rev) own no storage and extend the life of the value
they view. Graph outputs get fresh arrays on every call (callers keep them). Two values may
share a slot only if their lives do not overlap (linear-scan allocation over the program
order: live ranges are intervals), except that an elementwise result may overwrite an operand whose last use is
that very operation (in place: same shape, same dtype). Donated inputs (``donate_argnums``)
offer their storage to values of the same shape and dtype after their last use.

The ``memplan`` stage is an analysis: the graph goes on unchanged and the plan is the stage's
result (``PipelineRecord.analyses["memplan"]``), handed explicitly to the NumPy emitter (the C
backend makes its own, codegen/c/emit.py ``plan_c``). The checker ``check_plan`` verifies a
plan independently of how it was made.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from tracegrad.ir import Graph, Lit, Var
from tracegrad.prims import dot_general_p

from .memplan_place import extend, placed_operands
from .registry import register


@dataclass
class Buffer:
    var: Var
    name: str
    first: int
    last: int
    slot: int = -1
    inplace_of: str | None = None  # name of the operand whose storage it overwrites

    @property
    def nbytes(self) -> int:
        return self.var.aval.nbytes


@dataclass
class MemPlan:
    buffers: list[Buffer] = field(default_factory=list)
    slot_bytes: list[int] = field(default_factory=list)
    slot_of: dict = field(default_factory=dict)       # id(var) -> slot
    donated_slots: dict = field(default_factory=dict)  # slot -> index of the donated input
    total_intermediate_bytes: int = 0                 # every intermediate, no reuse
    inplace_candidates: dict = field(default_factory=dict)  # name -> operand it may overwrite
    placed: dict = field(default_factory=dict)  # id(var) -> (var it is written into, offset)
    steps: int = 0

    @property
    def peak_bytes(self) -> int:
        """Planned arena size: the bytes the plan's own slots need (donated slots are free)."""
        return sum(b for s, b in enumerate(self.slot_bytes) if s not in self.donated_slots)

    def table(self) -> list[dict]:
        return [{"name": b.name, "shape": b.var.aval.shape, "dtype": str(b.var.aval.dtype),
                 "bytes": b.nbytes, "first": b.first, "last": b.last, "slot": b.slot,
                 "inplace_of": b.inplace_of} for b in self.buffers]


def plannable(e) -> bool:
    """Whether a backend can write this equation's (single) output into a planned buffer."""
    if e.prim.multiple_results or e.outputs[0].aval.size == 0:
        return False
    if e.prim.traits.out_capable or e.prim.traits.reduction:
        return True
    # every contraction: np.matmul(..., out=) or rt.dot_general(..., out=), whose product
    # is laid out as the planned buffer (batch, a's free axes, b's free axes)
    return e.prim is dot_general_p


def flatten(graph: Graph) -> list:
    """Equations in execution order with fused kernels expanded (their bodies run inline).

    Returns ``(eqn, alias)`` pairs where ``alias`` maps a body's input vars to outer atoms and
    the kernel's outputs to body vars, so liveness can follow values across the boundary.
    """
    steps = []
    for e in graph.eqns:
        if e.prim.name == "fused":
            body = e.params["body"]
            steps.append(("enter", e, body))
            for be in body.eqns:
                steps.append(("eqn", be, None))
            steps.append(("exit", e, body))
        else:
            steps.append(("eqn", e, None))
    return steps


def flat_intermediate_bytes(graph: Graph, at_least: int | None = None) -> int:
    """Bytes of every value the program computes, fused kernels' bodies included (a chain fused
    into one kernel that returns a scalar still computes all its arrays). With ``at_least``,
    the count may stop once it reaches that many (a size test need not read a big program)."""
    total = 0
    for top in graph.eqns:
        for e in (top.params["body"].eqns if top.prim.name == "fused" else (top,)):
            for o in e.outputs:
                total += o.aval.nbytes
        if at_least is not None and total >= at_least:
            break
    return total


def dump_names(graph: Graph) -> dict[int, str]:
    """The names the IR dump gives: top-level values as printed, values inside a kernel as
    ``kernelN/x`` with x the name in that kernel's printed body."""
    from tracegrad.printing import Namer
    namer = Namer()
    names: dict[int, str] = {}
    for v in graph.inputs:
        names[id(v)] = namer(v)
    for e in graph.eqns:
        for o in e.outputs:
            names[id(o)] = namer(o)
        if e.prim.name == "fused":
            body, inner = e.params["body"], Namer()
            for v in body.inputs:
                inner(v)
            for be in body.eqns:
                for o in be.outputs:
                    names[id(o)] = f"{e.params['name']}/{inner(o)}"
    return names


def _canonical(alias: dict, v):
    while not isinstance(v, Lit) and id(v) in alias:
        v = alias[id(v)]
    return v


def analyse(graph: Graph, donate: tuple[int, ...] = (), *, flatten_kernels: bool = True,
            views=None, plannable_fn=None, view_eqn=None, partial_view=None,
            place=None) -> MemPlan:
    """Plan ``graph``. The NumPy backend plans every value, kernel bodies included
    (``flatten_kernels``); a compiled backend keeps kernel-internal values in registers and
    plans only top-level values, with its own test of storage-free ``views`` (a predicate on
    the primitive) and a
    ``plannable_fn`` saying which equations write planned buffers (every output of them).
    ``views`` defaults to the primitives whose ``Traits.view`` is set. ``view_eqn`` (a
    predicate on the equation) replaces ``views`` where a view depends on the parameters (C's
    contiguous slices); ``partial_view`` says which of them cover only part of their operand,
    whose base then is not written straight into the output returning the view. ``place``
    (an equation -> [(input position, element offset)]) names operands that may be computed
    straight into their block of the equation's result (memplan_place.py)."""
    steps = flatten(graph) if flatten_kernels else [("eqn", e, None) for e in graph.eqns]
    plannable_fn = plannable_fn or plannable
    alias: dict[int, object] = {}     # body input -> outer atom; kernel output -> body var
    defined_at: dict[int, int] = {}
    last_use: dict[int, int] = {}
    view_base: dict[int, object] = {}  # view var -> the var that owns its storage
    partial: set[int] = set()  # views reaching their base through a partial view
    candidates: list[tuple[Var, int, object]] = []  # (var, position, eqn)
    outputs = set()
    pos = 0
    for kind, e, body in steps:
        if kind == "enter":
            for bv, a in zip(body.inputs, e.inputs):
                alias[id(bv)] = a
            continue
        if kind == "exit":
            for o, bo in zip(e.outputs, body.outputs):
                alias[id(o)] = bo
            continue
        for a in e.inputs:
            a = _canonical(alias, a)
            if isinstance(a, Var):
                base = view_base.get(id(a), a)
                last_use[id(base)] = pos
                last_use[id(a)] = pos
        for o in e.outputs:
            defined_at[id(o)] = pos
        if view_eqn(e) if view_eqn is not None else \
                (e.prim.traits.view if views is None else views(e.prim)):
            src = _canonical(alias, e.inputs[0])
            if isinstance(src, Var):
                view_base[id(e.outputs[0])] = view_base.get(id(src), src)
                if id(src) in partial or (partial_view is not None and partial_view(e)):
                    partial.add(id(e.outputs[0]))
        elif plannable_fn(e):
            for o in (e.outputs if not flatten_kernels else e.outputs[:1]):
                candidates.append((o, pos, e))
        pos += 1
    for a in graph.outputs:
        a = _canonical(alias, a)
        if isinstance(a, Var):
            outputs.add(id(a))
            if id(a) not in partial:
                outputs.add(id(view_base.get(id(a), a)))
    plan = MemPlan(steps=pos)
    names = dump_names(graph)
    bufs = []
    placed = {}
    if place is not None and not flatten_kernels:
        placed = placed_operands(graph, candidates, outputs,
                                 {id(v) for v in view_base.values()}, place)
    for v, p, e in candidates:
        plan.total_intermediate_bytes += v.aval.nbytes
        if id(v) in outputs or id(v) in placed:
            continue
        bufs.append(Buffer(v, names.get(id(v), "?"), p, last_use.get(id(v), p)))
    by_id = {id(b.var): b for b in bufs}
    extended = extend(placed, by_id, defined_at) if placed else set()
    plan.placed = placed

    # in-place: an elementwise result may take over an operand dying at this operation
    eqn_at = {}
    for v, p, e in candidates:
        eqn_at[p] = e
    inplace_pairs = {}
    taken = set()
    viewed = {id(v) for v in view_base.values()}  # bases of views: their storage stays read
    for b in bufs:
        if id(b.var) in extended:
            continue  # its life starts at a placed operand's equation, not its own
        e = eqn_at[b.first]
        if flatten_kernels and (e.prim.kind != "elementwise" or e.prim.name == "where"):
            continue  # NumPy writes where in two steps, so it cannot overwrite an operand
        if not flatten_kernels and e.prim.kind not in ("elementwise", "fused"):
            continue  # only loops that read element i before writing element i
        for a in e.inputs:
            a = _canonical(alias, a)
            ob = by_id.get(id(a)) if isinstance(a, Var) else None
            if ob is not None and ob.last == b.first and ob.var.aval == b.var.aval and \
                    id(a) not in viewed and id(ob) not in taken:
                inplace_pairs[id(b.var)] = ob
                taken.add(id(ob))  # one result per dying operand (multi-output kernels)
                break
    plan.inplace_candidates = {b.name: inplace_pairs[id(b.var)].name for b in bufs
                               if id(b.var) in inplace_pairs}
    _color(plan, bufs, inplace_pairs)
    _donate(plan, graph, donate, bufs, last_use)
    plan.buffers = bufs
    return plan


def _color(plan: MemPlan, bufs: list[Buffer], inplace_pairs: dict):
    """Slots per size class by linear scan over the program order (O(n log n)): buffers in
    order of their first position take the lowest slot free there, where a slot is free once
    its last value's life has ended; a value whose in-place partner dies exactly where it is
    defined takes over the partner's slot. Live ranges are intervals, so this uses as few
    slots as the most values live at once (an interference graph would cost O(n^2) edges)."""
    by_size: dict[int, list[Buffer]] = {}
    for b in bufs:
        by_size.setdefault(b.nbytes, []).append(b)
    for nbytes, group in sorted(by_size.items(), key=lambda kv: -kv[0]):
        base = len(plan.slot_bytes)
        n_slots = 0
        free: list[int] = []                    # heap of free slot numbers
        ends_at: dict[int, list] = {}           # last position -> [(slot, id(var))]
        swept = 0                               # positions below this are released
        holder: dict[int, int] = {}             # slot -> id(var) of the value holding it
        order = sorted(range(len(group)), key=lambda i: group[i].first)
        color: dict[int, int] = {}              # id(var) -> slot within the class
        for i in order:
            b = group[i]
            for p in range(swept, b.first):  # lives ending before b starts free their slot
                for c, vid in ends_at.pop(p, ()):
                    if holder[c] == vid:  # (else an in-place result took the slot over)
                        heapq.heappush(free, c)
            swept = max(swept, b.first)
            ob = inplace_pairs.get(id(b.var))
            c = color.get(id(ob.var)) if ob is not None and ob.last == b.first else None
            if c is not None and holder.get(c) == id(ob.var):
                pass  # overwrite the operand dying here: its slot passes on (stays active)
            elif free:
                c = heapq.heappop(free)
            else:
                c, n_slots = n_slots, n_slots + 1
            color[id(b.var)] = c
            holder[c] = id(b.var)
            ends_at.setdefault(b.last, []).append((c, id(b.var)))
        plan.slot_bytes.extend([nbytes] * n_slots)
        for b in group:
            b.slot = base + color[id(b.var)]
            plan.slot_of[id(b.var)] = b.slot
        for b in group:
            ob = inplace_pairs.get(id(b.var))
            if ob is not None and ob.slot == b.slot:
                b.inplace_of = ob.name


def _donate(plan, graph, donate, bufs, last_use):
    """Back a slot with a donated input when every value in that slot starts after the
    input's last use and has its shape and dtype."""
    members: dict[int, list[Buffer]] = {}
    for b in bufs:
        members.setdefault(b.slot, []).append(b)
    for idx in donate:
        v = graph.inputs[idx]
        end = last_use.get(id(v), -1)
        for slot in range(len(plan.slot_bytes)):
            if slot in plan.donated_slots:
                continue
            ms = members.get(slot)
            if ms and all(b.first > end and b.var.aval == v.aval for b in ms):
                plan.donated_slots[slot] = idx
                break


def check_plan(graph: Graph, plan: MemPlan) -> None:
    """Independent check: no two values in one slot are live at once (in-place writes, where
    the new value starts exactly where the old one ends, excepted); every slot is big enough."""
    by_slot: dict[int, list[Buffer]] = {}
    for b in plan.buffers:
        if b.slot < 0:
            raise AssertionError(f"{b.name} has no slot")
        if b.nbytes > plan.slot_bytes[b.slot]:
            raise AssertionError(f"{b.name} ({b.nbytes} B) does not fit slot {b.slot}")
        by_slot.setdefault(b.slot, []).append(b)
    for slot, group in by_slot.items():
        group = sorted(group, key=lambda b: b.first)
        for x, y in zip(group, group[1:]):
            if y.first < x.last or (y.first == x.last and y.inplace_of != x.name):
                raise AssertionError(f"slot {slot}: {x.name} [{x.first}, {x.last}] and "
                                     f"{y.name} [{y.first}, {y.last}] are live together")


@register("memplan", "liveness, buffer reuse and in-place writes (an analysis: the plan is "
                     "the stage's result, for the NumPy emitter)", analysis=True)
def memplan(graph: Graph, donate: tuple[int, ...] = (), force: bool = False) -> MemPlan | None:
    """The NumPy backend's memory plan of ``graph``, or None for a small program (NumPy's
    allocator is cheaper than the plan there). ``donate``: inputs whose storage the plan may
    reuse (jit's ``donate_argnums``, passed by the lowering as this stage's argument)."""
    from .fuse import SMALL_PROGRAM_BYTES
    donate = tuple(donate)
    if not force and not donate and flat_intermediate_bytes(graph, SMALL_PROGRAM_BYTES) < \
            SMALL_PROGRAM_BYTES:
        return None
    return analyse(graph, donate)
