"""``ThreadLocalList``: per-thread state of the tracing machinery and of the derivative rules.

It lives at the bottom layer so the IR (``primitive.py``, ``prims/``) can keep per-thread state
without importing the tracer.
"""
from __future__ import annotations

import threading


class ThreadLocalList(threading.local):
    """A list with one copy per thread, for tracing state (the active traces, source overrides,
    autodiff notes). Threads trace and run compiled functions independently: one thread's open
    trace must never capture another thread's values, nor make another thread's call of a
    compiled function "trace through" and hand back tracers."""

    def __init__(self, initial=()):  # runs once in each thread that touches the list
        self.items = list(initial)

    def append(self, x) -> None:
        self.items.append(x)

    def remove(self, x) -> None:
        self.items.remove(x)

    def pop(self):
        return self.items.pop()

    def __getitem__(self, i):
        return self.items[i]

    def __setitem__(self, i, x) -> None:
        self.items[i] = x

    def __bool__(self) -> bool:
        return bool(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def __iter__(self):
        return iter(list(self.items))
