"""The tape: the nodes recorded since the last program ran, in creation order, each with its
walk code computed when it was recorded, so reading a value needs no graph walk (the DAG's
structural key is the tape's codes). Invariant: while ``ok``, every node on the tape is
uncomputed and every uncomputed node it reads is on the tape before it; otherwise the tape
is broken and materialisations walk the DAG (``walk._Walk``) until the next program resets it.
"""
from __future__ import annotations

from .walk import values_of



class Tape:
    """``nodes`` in creation order; ``codes[p] = (op id, *input codes)``, the input codes as
    ``walk._Walk`` numbers them (node output ``-1 - (pos * 1024 + j)``; leaves and computed
    values are inputs numbered in order of first use); ``inputs`` those leaves and
    ``(node, j)`` values. A taped node's ``tpos`` counts every node ever taped and ``base``
    that count when this tape started, so ``tpos - base`` is its position on this tape and
    a node from an earlier tape (or never taped: -1) has ``tpos < base``: one comparison."""

    __slots__ = ("base", "codes", "in_pos", "inputs", "limit", "nodes", "ok")

    def __init__(self):
        self.base = 0
        # a longer run of operations without any value read stops being taped (the tape holds
        # its nodes strongly; the walk takes over, as for a tape broken any other way)
        self.limit = 1024
        self.nodes: list = []
        self.reset()

    def reset(self) -> None:
        self.base += len(self.nodes)
        self.nodes: list = []
        self.codes: list = []
        self.inputs: list = []
        self.in_pos: dict = {}
        self.ok = True

    def breaks(self) -> None:
        """Stop taping until the next reset (and let go of the nodes held)."""
        self.reset()
        self.ok = False

    def record(self, node) -> None:
        """Append ``node`` (just created; its inputs were recorded before it)."""
        code = [node.op.id]
        for ref in node.inputs:
            if type(ref) is tuple:
                child, j = ref
                if child.values[j] is None:
                    p = child.tpos - self.base
                    if p < 0:
                        self.breaks()  # an uncomputed value from before the tape (or a
                        return         # placeholder of a recorded loop body): walk instead
                    code.append(-1 - (p * 1024 + j))
                    continue
                k = (id(child), j)  # computed: read, not redone
            else:
                k = id(ref)  # a leaf (held by ``inputs``, so its id stays its own)
            c = self.in_pos.get(k)
            if c is None:
                c = self.in_pos[k] = len(self.inputs)
                self.inputs.append(ref)
            code.append(c)
        self.push(node, tuple(code))

    def push(self, node, code: tuple) -> None:
        """Append ``node`` with its code (every input already numbered on this tape); inlined
        in ``lazy.apply_op``."""
        nodes = self.nodes
        node.tpos = self.base + len(nodes)
        nodes.append(node)
        self.codes.append(code)
        if len(nodes) > self.limit:
            self.breaks()

    def reached(self, roots) -> bytearray:
        """Flags of the positions the nodes at ``roots`` read, directly or not (and theirs)."""
        codes = self.codes
        need = bytearray(len(codes))
        for p in roots:
            need[p] = 1
        for p in range(max(roots), -1, -1):
            if need[p]:
                for c in codes[p][1:]:
                    if c < 0:
                        need[(-1 - c) >> 10] = 1
        return need

    def plan(self, todo, seen, pending):
        """``(key, out_codes)`` of the program computing the tensors ``todo`` (ids in ``seen``)
        from this tape, or None when one of them is not on it. Held lazy tensors (``pending``)
        the program computes anyway are appended to ``todo``, as ``lazy._compute`` does after
        a walk (not for one operation alone). The key is the tape's codes: op ids fix every
        input's shape and dtype."""
        base = self.base
        pos = [t._node.tpos - base for t in todo]  # (position: on the tape iff >= 0)
        if min(pos) < 0:
            return None
        if pending:
            need = self.reached(pos)
            if need.count(1) > 1:
                for t in pending:
                    p = t._node.tpos - base
                    if p >= 0 and need[p] and id(t) not in seen:
                        todo.append(t)
                        pos.append(p)
        out_codes = tuple([-1 - (p * 1024 + t._index) for p, t in zip(pos, todo)])
        return ("tape", tuple(self.codes), out_codes), out_codes

    def input_values(self) -> list:
        return values_of(self.inputs)


TAPE = Tape()
