"""Fusion legality in near-linear time: the quotient graph of kernels, kept acyclic and kept in
topological order while fusion contracts it.

Fusion visits equations in program order and contracts a kernel with a new member (or two
kernels joined by one equation). A contraction is legal when the graph with every kernel
contracted to one node stays acyclic, i.e. when no path leaves the contracted set and comes
back into it (such a path would make the kernel both before and after the equation in the
middle). Rebuilding that graph per candidate costs O(program) each time (quadratic overall);
here the quotient graph is kept instead, with:

* a union-find of equations to their node (kernel or lone equation), adjacency sets per node
  rewritten to representatives when two nodes merge;
* ``pos``: a topological order of the nodes (an equation is added after every node, as fusion
  visits equations in program order). Along any path positions increase, so a path leaving
  the set {A, B} (positions lo < hi) and coming back only visits positions strictly between:
  the search is bounded to that window.
* a bidirectional search in the window: forward from the set's successors (its descendants
  F), backward from its predecessors (its ancestors B), one step each in turn. A node in both
  proves a cycle (illegal); the first side to run out proves legality, and then only the part
  of the other side that the reordering needs is completed.
* after a legal contraction the order is repaired as in Pearce and Kelly's dynamic topological
  sort: the positions of the ancestors in the window, the contracted node and the descendants
  in the window are pooled and handed out again in that order (ancestors first).

The result is exactly the test "the quotient graph is acyclic" that the previous networkx
implementation made, so fusion decisions do not change; tests/test_pass_equivalence.py checks
that against a frozen copy of the networkx version.
"""
from __future__ import annotations

from collections import deque


class Quotient:
    def __init__(self):
        self.parent: dict[int, int] = {}
        self.size: dict[int, int] = {}
        self.pos: dict[int, int] = {}
        self.succ: dict[int, set] = {}
        self.pred: dict[int, set] = {}
        self._next = 0

    def find(self, x: int) -> int:
        parent = self.parent
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:  # path compression
            parent[x], x = root, parent[x]
        return root

    def add(self, i: int, preds) -> None:
        """A new node after every existing one, with edges from the nodes of ``preds``."""
        self.parent[i] = i
        self.size[i] = 1
        self.pos[i] = self._next
        self._next += 1
        ps = {self.find(p) for p in preds}
        self.pred[i] = ps
        self.succ[i] = set()
        for p in ps:
            self.succ[p].add(i)

    def contract(self, a: int, b: int) -> int | None:
        """Merge nodes ``a`` and ``b`` (representatives) and return the new representative,
        or return None (and change nothing) if that would create a cycle."""
        found = self._window_sets(a, b)
        if found is None:
            return None
        return self._merge(a, b, *found)

    # --- the search --------------------------------------------------------------------------
    def _window_sets(self, a, b):
        """(ancestors, descendants) in the window that the reorder needs, or None on a cycle."""
        pos, find = self.pos, self.find
        parts = (a, b)
        lo, hi = min(pos[a], pos[b]), max(pos[a], pos[b])
        fseen: set = set()
        bseen: set = set()
        fq: deque = deque()
        bq: deque = deque()
        f_hi = [hi]   # forward search visits positions < f_hi[0]
        b_lo = [lo]   # backward search visits positions > b_lo[0]

        def visit(y, seen, other, queue, inside) -> bool:
            """False when ``y`` closes a cycle."""
            if y in parts:
                return False
            if y in seen or not inside(pos[y]):
                return True
            if y in other:
                return False
            seen.add(y)
            queue.append(y)
            return True

        def f_in(p):
            return p < f_hi[0]

        def b_in(p):
            return p > b_lo[0]

        for p in parts:
            for y in self.succ[p]:
                y = find(y)
                if y not in parts and not visit(y, fseen, bseen, fq, f_in):
                    return None
            for y in self.pred[p]:
                y = find(y)
                if y not in parts and not visit(y, bseen, fseen, bq, b_in):
                    return None

        def step(queue, adj, seen, other, inside) -> bool:
            x = queue.popleft()
            if not inside(pos[x]):
                return True  # left the window after it narrowed
            for y in adj[x]:
                y = find(y)
                if y != x and not visit(y, seen, other, queue, inside):
                    return False
            return True

        while fq and bq:
            if not step(fq, self.succ, fseen, bseen, f_in) or \
                    not step(bq, self.pred, bseen, fseen, b_in):
                return None
        if not fq:
            # every descendant in the window is known; ancestors matter only above the lowest
            if not fseen:
                return [], [], hi, hi  # nothing depends on the set inside it: place it at hi
            b_lo[0] = min(pos[y] for y in fseen)
            while bq:
                if not step(bq, self.pred, bseen, fseen, b_in):
                    return None
            return [y for y in bseen if pos[y] > b_lo[0]], list(fseen), b_lo[0], hi
        # every ancestor in the window is known; descendants matter only below the highest
        if not bseen:
            return [], [], lo, lo  # the set depends on nothing inside it: place it at lo
        f_hi[0] = max(pos[y] for y in bseen)
        while fq:
            if not step(fq, self.succ, fseen, bseen, f_in):
                return None
        return list(bseen), [y for y in fseen if pos[y] < f_hi[0]], lo, f_hi[0]

    # --- the merge ---------------------------------------------------------------------------
    def _merge(self, a, b, before, after, wlo, whi) -> int:
        """Contract; then hand the pooled positions (ancestors', descendants' and the parts'
        inside [wlo, whi]) out again: ancestors first (in their old order), the merged node,
        descendants last. Each ancestor moves down and each descendant up, so edges to nodes
        outside the pool keep their direction."""
        pos, find = self.pos, self.find
        pool = [pos[y] for y in before] + [pos[y] for y in after] + \
            [pos[p] for p in (a, b) if wlo <= pos[p] <= whi]
        pool.sort()
        before = sorted(before, key=pos.__getitem__)
        after = sorted(after, key=pos.__getitem__)
        if self.size[a] < self.size[b]:  # union by size
            a, b = b, a
        self.parent[b] = a
        self.size[a] += self.size[b]
        for adj in (self.succ, self.pred):
            merged = adj[a] | adj.pop(b)
            adj[a] = {r for r in map(find, merged) if r != a}
        del pos[b]
        for y, p in zip(before, pool):
            pos[y] = p
        pos[a] = pool[len(before)]
        for y, p in zip(after, pool[len(pool) - len(after):]):
            pos[y] = p
        return a
