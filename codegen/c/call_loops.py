"""Loops whose libm calls run first, in a loop of their own writing small buffers.

A libmvec call (``_ZGVeN16v_tanhf``...) follows the x86-64 vector ABI, which saves no vector
register: every vector value live across the call is stored to the stack before it and loaded
after. A loop body with many values live across its calls (W4's backward column loop: ~16)
spends more on those spills than on its arithmetic. Splitting it in two, first a loop computing
only the calls (and the cheap chains feeding them) into buffers of a block of elements held in
L1, then the rest of the body reading the buffers, leaves nothing live across a call but the
call loop's own few operands. Both loops compute the same operations on the same operands (no
floating-point contraction: the module is built with -std=c99, i.e. -ffp-contract=off), so the
results keep their bits.

It does not always pay: a lean body (W1's gradient, ~6 spills for 4 calls) lost the overlap of
its memory stream with the calls, 4.6 -> 6.6 ms in a stand-alone C measurement, so loops split
only when the estimated spills (``spills``) reach SPLIT_MIN_SPILLS. Used by the fused
elementwise kernels (kernels.py) and, for its cost constant and loop text, by the row kernels
(row_kernels.py), which split by their own statement count.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from tracegrad.passes.cost import op_weight

CALL_COST = 8          # Traits.cost of a libm call: a vector call clobbers every vector register
SPLIT_MIN_SPILLS = 32  # values live across calls (summed over the calls) that make a loop split
CALL_BLOCK = 1024      # elements per block: its buffers (4 bytes x calls) stay in L1


def is_call(eqn) -> bool:
    """Whether ``eqn`` lowers to a libm call (its cost is a call's)."""
    return op_weight(eqn) >= CALL_COST


@dataclass
class Stmt:
    """One statement of a loop body: ``name`` the C local it defines (``v_x``), ``text`` the
    statement, ``uses`` the locals and operand names it reads, ``call`` whether it calls libm,
    ``ctype`` the local's C type."""
    name: str
    text: str
    uses: tuple = ()
    call: bool = False
    ctype: str = "float"
    meta: dict = field(default_factory=dict)


def spills(stmts: list[Stmt], live_out: set[str]) -> int:
    """Values live across each call, summed over the calls: a value (a local or an operand the
    body reads) defined before the call and read after it or by the loop's stores
    (``live_out``). The call's own operands used nowhere later are not live across it."""
    last_use: dict[str, int] = {}
    for k, s in enumerate(stmts):
        for u in s.uses:
            last_use[u] = k
    for u in live_out:
        last_use[u] = len(stmts)
    defined_at = {s.name: k for k, s in enumerate(stmts)}
    total = 0
    for k, s in enumerate(stmts):
        if not s.call:
            continue
        total += sum(1 for v, last in last_use.items()
                     if last > k and defined_at.get(v, -1) < k)
    return total


def split(stmts: list[Stmt], buf) -> tuple[list[str], list[str], list[Stmt]]:
    """The call loop's statements, its buffer stores, and the main loop's statements.

    The call loop computes every call and the statements they depend on, in the body's order,
    and stores each call's value in ``buf(name)`` (a buffer element); the main loop is the body
    with each call replaced by a load of its buffer (statements only the calls needed are left
    for the C compiler to drop)."""
    by_name = {s.name: s for s in stmts}
    need: set[str] = set()
    for s in reversed(stmts):
        if s.call or s.name in need:
            need.add(s.name)
            need.update(u for u in s.uses if u in by_name)
    pre = [s.text for s in stmts if s.name in need]
    stores = [f"{buf(s.name)} = {s.name};" for s in stmts if s.call]
    main = [Stmt(s.name, f"const {s.ctype} {s.name} = {buf(s.name)};", (), False, s.ctype)
            if s.call else s for s in stmts]
    return pre, stores, main


def call_loop(var: str, extent: str, lines: list[str]) -> list[str]:
    """A vectorised loop of ``lines`` over ``var`` in [0, extent): a split loop's call loop."""
    return ["TG_SIMD", f"for (int64_t {var} = 0; {var} < {extent}; {var}++) {{"] + \
        ["    " + s for s in lines] + ["}"]
