"""A one-line text progress bar for training loops (stderr, redrawn in place): step, loss and
examples per second. No dependency, so the distributed extra needs nothing beyond Dask."""
from __future__ import annotations

import sys
import time


class Progress:
    def __init__(self, total: int | None, enabled: bool = True, stream=None, width: int = 24):
        self.total, self.enabled, self.width = total, enabled, width
        self.stream = stream if stream is not None else sys.stderr
        self.start = time.perf_counter()
        self.examples = 0

    def update(self, step: int, loss: float, examples: int) -> None:
        self.examples += examples
        if not self.enabled:
            return
        rate = self.examples / max(time.perf_counter() - self.start, 1e-9)
        if self.total:
            done = int(self.width * step / self.total)
            bar = f"[{'#' * done}{'.' * (self.width - done)}] {step}/{self.total}"
        else:
            bar = f"step {step}"
        self.stream.write(f"\r{bar} loss {loss:.4g} {rate:,.0f} ex/s")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()
