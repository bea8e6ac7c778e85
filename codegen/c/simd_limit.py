"""No forced vectorisation of huge kernel bodies.

``TG_SIMD`` (``#pragma omp simd``) makes gcc vectorise a loop whatever its cost model says.
On a fused kernel of thousands of statements that is compile time without run-time gain:
mixture VI's gradient (issue 13) fuses the sum over 10 x 10 component pairs into one kernel
of ~3,000 statements over a [20, 2] space, and forcing its inner loop of 2 to vectorise cost
4 s of gcc's combiner (5.4 s of cc CPU for the whole module; 1.4 s without the pragma on that
one kernel), for a loop that runs 40 times. Such a body keeps -O3 and gcc's own
vectorisation decision; only the forcing pragma goes. Reduction pragmas (``TG_SIMD_RED``) are
kept: they fix the order of a sum, which is part of its numbers.
"""
from __future__ import annotations

# statements in a kernel's element body above which its plain TG_SIMD pragmas are dropped
# (bodies that benefit from forced vectorisation are short: an elementwise chain of tens)
SIMD_MAX_STATEMENTS = 400


def drop_forced_simd(lines: list[str], statements: int) -> list[str]:
    """``lines`` of one kernel function without its plain ``TG_SIMD`` pragma lines when its
    body has more than SIMD_MAX_STATEMENTS statements; else ``lines`` unchanged."""
    if statements <= SIMD_MAX_STATEMENTS:
        return lines
    return [ln for ln in lines if ln.strip() != "TG_SIMD"]
