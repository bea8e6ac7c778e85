"""Which C kernels may write a result over one of their operands (in place), and the repair of
plans that put such a pair in one arena slot when the kernel's loop does not allow it.

The memory plan lets a kernel's result take the slot of an operand that dies at that kernel.
That is sound only when the loop reads the operand at exactly the element it writes, before
writing it. A C kernel breaks this when it reads the operand through a broadcast (every output
element reads a whole row: ``c + sum(-x * R, 1)`` reads all of ``-x`` for each row) or when the
result is a reduction's (written after a range of the operand was read). ``separate_unsafe``
gives such a result a slot of its own; ``aliased_inputs`` lists operands that share storage
with an output, whose pointers must then not be declared ``restrict``.
"""
from __future__ import annotations

from tracegrad.ir import Eqn, Graph, Lit, Var
from tracegrad.prims.fused import is_onepass, is_row_kernel
from tracegrad.prims import broadcast_in_dim_p, fused_p


def kernel_body(e) -> tuple[Graph, list]:
    """The body graph a kernel loops over, and the outer operands feeding its inputs."""
    if e.prim is fused_p:
        return e.params["body"], list(e.inputs)
    ins = tuple(Var(a.aval) if isinstance(a, Var) else a for a in e.inputs)
    outs = tuple(Var(o.aval) for o in e.outputs)
    body = Graph(tuple(a for a in ins if isinstance(a, Var)), (Eqn(e.prim, ins, e.params, outs,
                                                                   e.src),), outs)
    return body, [a for a in e.inputs if isinstance(a, Var)]


def loop_shape(body: Graph) -> tuple:
    """The iteration space of a kernel (the same rule as the emitter's ``kernels.Kernel``)."""
    epi = next((e for e in body.eqns if e.prim.traits.reduction), None)
    if epi is not None:
        return tuple(epi.inputs[0].aval.shape)
    return tuple(max((o.aval.shape for e in body.eqns for o in e.outputs), key=len, default=()))


def aligned(body: Graph) -> tuple[set, set]:
    """(body inputs read only at the loop's own element, body outputs written only there,
    after every read of that element): the pairs that may share storage."""
    S = loop_shape(body)
    epi = next((e for e in body.eqns if e.prim.traits.reduction), None)
    broadcast_read = {id(e.inputs[0]) for e in body.eqns
                      if e.prim is broadcast_in_dim_p and isinstance(e.inputs[0], Var)
                      and tuple(e.inputs[0].aval.shape) != tuple(e.outputs[0].aval.shape)}
    ins = {id(v) for v in body.inputs
           if tuple(v.aval.shape) == S and id(v) not in broadcast_read}
    outs = {id(o) for o in body.outputs if isinstance(o, Var) and tuple(o.aval.shape) == S
            and (epi is None or o is not epi.outputs[0])}
    return ins, outs


def _storage_base(v, producer, views):
    """The value whose storage ``v`` reads (through storage-free views such as reshape)."""
    while isinstance(v, Var) and id(v) in producer and views(producer[id(v)].prim):
        v = producer[id(v)].inputs[0]
    return v


def separate_unsafe(graph: Graph, plan, views, is_kernel) -> list[tuple]:
    """Give a kernel's result a fresh slot wherever the plan puts it in an operand's slot and
    the kernel's loop cannot overwrite that operand element by element. Returns the pairs
    (result, operand) it separated (for tests and dumps)."""
    producer = {id(o): e for e in graph.eqns for o in e.outputs}
    moved = []
    for e in graph.eqns:
        if not is_kernel(e):
            continue
        outer_out = [o for o in e.outputs if id(o) in plan.slot_of]
        if not outer_out:
            continue
        body, outer_in = kernel_body(e)
        # a row kernel reads its operands again in later column loops: never in place
        ok_in, ok_out = (set(), set()) if is_row_kernel(e) or is_onepass(e) \
            else aligned(body)
        in_slots = {}
        for bv, a in zip(body.inputs, outer_in):
            base = _storage_base(a, producer, views)
            if isinstance(base, Var) and id(base) in plan.slot_of:
                in_slots.setdefault(plan.slot_of[id(base)], []).append(
                    (base, id(bv) in ok_in and not isinstance(a, Lit)))
        for o, bo in zip(e.outputs, body.outputs):
            slot = plan.slot_of.get(id(o))
            if slot is None or slot not in in_slots:
                continue
            if id(bo) in ok_out and all(ok for _, ok in in_slots[slot]):
                continue
            plan.slot_bytes.append(plan.slot_bytes[slot])
            plan.slot_of[id(o)] = len(plan.slot_bytes) - 1
            for b in plan.buffers:
                if b.var is o:
                    b.slot, b.inplace_of = plan.slot_of[id(o)], None
            moved.append((o, in_slots[slot][0][0]))
    return moved


def aliased_inputs(in_ptrs: list, out_ptrs: list) -> set[int]:
    """Positions of kernel operands whose pointer is also an output's (an in-place write)."""
    outs = set(out_ptrs)
    return {k for k, p in enumerate(in_ptrs) if p is not None and p in outs}
