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
        self.work = 0  # edges examined by legality searches (tests bound it per equation)

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
        """(ancestors, descendants, wlo, whi): the nodes in the window the reorder needs and
        the window itself, or None on a cycle."""
        pos = self.pos
        parts = (a, b)
        lo, hi = min(pos[a], pos[b]), max(pos[a], pos[b])
        fwd = _Side(self, self.succ, parts, limit=hi, forward=True)
        bwd = _Side(self, self.pred, parts, limit=lo, forward=False)
        # one edge per side in turn: the work is bounded by the smaller side's edges
        while True:
            r = fwd.step(bwd.seen)
            if r is _CYCLE:
                return None
            if r is _DONE:
                break
            r = bwd.step(fwd.seen)
            if r is _CYCLE:
                return None
            if r is _DONE:
                break
        if r is _DONE and fwd.done:
            # every descendant in the window is known; ancestors matter only above the lowest
            if not fwd.seen:
                return [], [], hi, hi  # nothing depends on the set inside it: place it at hi
            bwd.limit = min(pos[y] for y in fwd.seen)
            if bwd.finish(fwd.seen) is _CYCLE:
                return None
            return [y for y in bwd.seen if pos[y] > bwd.limit], list(fwd.seen), bwd.limit, hi
        # every ancestor in the window is known; descendants matter only below the highest
        if not bwd.seen:
            return [], [], lo, lo  # the set depends on nothing inside it: place it at lo
        fwd.limit = max(pos[y] for y in bwd.seen)
        if fwd.finish(bwd.seen) is _CYCLE:
            return None
        return list(bwd.seen), [y for y in fwd.seen if pos[y] < fwd.limit], lo, fwd.limit

    # --- the merge ---------------------------------------------------------------------------
    def _merge(self, a, b, before, after, wlo, whi) -> int:
        """Contract; then hand the pooled positions (ancestors', descendants' and the parts'
        inside [wlo, whi]) out again: ancestors first (in their old order), the merged node,
        descendants last. Each ancestor moves down and each descendant up, so edges to nodes
        outside the pool keep their direction."""
        pos = self.pos
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
            # the smaller set joins the larger; entries stay as they were added and are
            # mapped through find when read (re-mapping every entry on each merge is
            # quadratic for a kernel that gathers many inputs, like a gradient accumulator)
            big, small = adj[a], adj.pop(b)
            if len(big) < len(small):
                big, small = small, big
            big.update(small)
            big.discard(a)
            big.discard(b)
            adj[a] = big
        del pos[b]
        for y, p in zip(before, pool):
            pos[y] = p
        pos[a] = pool[len(before)]
        for y, p in zip(after, pool[len(pool) - len(after):]):
            pos[y] = p
        return a


_MORE, _DONE, _CYCLE = "more", "done", "cycle"


class _Side:
    """One direction of the search: forward over successors (positions < limit) or backward
    over predecessors (positions > limit), one edge per ``step``."""

    __slots__ = ("q", "adj", "parts", "limit", "forward", "seen", "queue", "cur", "src",
                 "src_part", "done")

    def __init__(self, q: Quotient, adj: dict, parts: tuple, limit: int, forward: bool):
        self.q, self.adj, self.parts = q, adj, parts
        self.limit, self.forward = limit, forward
        self.seen: set = set()
        self.queue = deque(parts)  # the parts are expanded first, and never "seen"
        self.cur = None
        self.src = self.src_part = None
        self.done = False

    def inside(self, p: int) -> bool:
        return p < self.limit if self.forward else p > self.limit

    def step(self, other_seen: set) -> str:
        pos, parts = self.q.pos, self.parts
        self.q.work += 1
        while self.cur is None:
            if not self.queue:
                self.done = True
                return _DONE
            x = self.queue.popleft()
            if x in parts or self.inside(pos[x]):  # (the window may have narrowed)
                self.cur, self.src, self.src_part = iter(self.adj[x]), x, x in parts
        y = next(self.cur, None)
        if y is None:
            self.cur = None
            return _MORE
        y = self.q.find(y)
        if y == self.src:
            return _MORE
        if y in parts:
            # an edge between the parts is fine; a path out of the set and back is a cycle
            return _MORE if self.src_part else _CYCLE
        if y in self.seen or not self.inside(pos[y]):
            return _MORE
        if y in other_seen:
            return _CYCLE  # a descendant of the set that is also an ancestor
        self.seen.add(y)
        self.queue.append(y)
        return _MORE

    def finish(self, other_seen: set) -> str:
        while True:
            r = self.step(other_seen)
            if r is not _MORE:
                return r
