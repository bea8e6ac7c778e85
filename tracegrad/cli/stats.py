"""``--stats``: equation counts per stage, kernels, flops, the memory plan and phase times,
as one plain dict (the text and JSON renderers both print it)."""
from __future__ import annotations

from .engine import DumpResult


def collect(result: DumpResult, *, timings: bool = True) -> dict:
    from tracegrad.passes.cost import flops, kernel_count, naive_peak_bytes

    final = result.final
    stages = [("traced", result.traced)]
    if result.grad is not None:
        stages.append((result.transform, result.grad))
    stages += [(s.name, s.after) for s in result.steps if s.status == "ran"]
    stages.append(("final", final))
    eqns = {name: len(g.eqns) for name, g in stages}
    # equations inside loop bodies and branches (not fused kernels'), where passes work too
    body_eqns = {name: _body_count(g) for name, g in stages}
    plan = result.plan
    fused = [e for e in final.eqns if e.prim.name == "fused"]
    nested = sum(1 for e in _all_eqns(final) if e.prim.name == "fused") - len(fused)
    stats = {
        "eqns": eqns,
        "kernels": kernel_count(final),
        "fused_kernels": len(fused),
        "fused_eqns": sum(len(e.params["body"].eqns) for e in fused),
        "body_fused_kernels": nested,  # inside loop bodies and branches
        "body_eqns": body_eqns if any(body_eqns.values()) else None,
        "flops": flops(final),
        "unplanned_peak_bytes": naive_peak_bytes(final),
        "peak_bytes": plan.peak_bytes if plan is not None else None,
        "memplan": None,
    }
    if plan is not None:
        stats["memplan"] = {
            "slots": len(plan.slot_bytes),
            "slot_bytes": list(plan.slot_bytes),
            "buffers": [dict(row, shape=list(row["shape"])) for row in plan.table()],
        }
    if timings:
        stats["seconds"] = dict(result.seconds)
        stats["codegen_backend"] = result.backend or "numpy"
    return stats


def _all_eqns(graph):
    """The equations of ``graph`` and of the bodies of its loops and branches, at any depth."""
    from tracegrad.ir import subgraphs
    for e in graph.eqns:
        yield e
        if e.prim.kind == "control":
            for _, g in subgraphs(e.params):
                yield from _all_eqns(g)


def _body_count(graph) -> int:
    return sum(1 for _ in _all_eqns(graph)) - len(graph.eqns)


def human_bytes(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    for unit in ("KiB", "MiB", "GiB"):
        n /= 1024
        if n < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}"
    return f"{n} B"  # unreachable


def format_text(stats: dict) -> list[str]:
    lines = ["// ===== stats ====="]
    lines.append("equations: " + ", ".join(f"{k} {v}" for k, v in stats["eqns"].items()))
    if stats.get("body_eqns"):
        lines.append("in loop bodies and branches: " +
                     ", ".join(f"{k} {v}" for k, v in stats["body_eqns"].items()))
    lines.append(f"kernels: {stats['kernels']} per call ({stats['fused_kernels']} fused, "
                 f"holding {stats['fused_eqns']} equations)" +
                 (f"; loop bodies and branches hold {stats['body_fused_kernels']} more fused "
                  "kernels" if stats.get("body_fused_kernels") else ""))
    lines.append(f"flops: {stats['flops']:,} per call")
    plan = stats["memplan"]
    unplanned = stats["unplanned_peak_bytes"]
    if plan is None:
        lines.append(f"memory plan: none (memplan did not plan this program: it runs only "
                     f"at O2, on programs of 64 KiB of intermediates or more); peak of "
                     f"intermediates {bytes_text(unplanned)}")
    else:
        peak = stats["peak_bytes"]
        lines.append(f"memory plan: {len(plan['buffers'])} buffers in {plan['slots']} slots, "
                     f"planned peak {bytes_text(peak)}; without the plan "
                     f"{bytes_text(unplanned)}")
        rows = [("buffer", "shape", "dtype", "bytes", "live", "slot", "in place of")]
        for b in plan["buffers"]:
            rows.append((b["name"], "[" + ",".join(map(str, b["shape"])) + "]", b["dtype"],
                         str(b["bytes"]), f"{b['first']}-{b['last']}", str(b["slot"]),
                         b["inplace_of"] or ""))
        lines.extend("  " + line for line in table(rows, right=(3, 5)))
    if "seconds" in stats:
        lines.append(f"time (ms; codegen for the {stats['codegen_backend']} backend): "
                     + ", ".join(f"{k} {v * 1e3:.2f}" for k, v in stats["seconds"].items()))
    return lines


def bytes_text(n: int) -> str:
    """``64.0 KiB (65536 B)``, or just ``36 B``."""
    return human_bytes(n) + (f" ({n} B)" if n >= 1024 else "")


def table(rows, right=()) -> list[str]:
    """Rows of strings as aligned columns (``right``: indices of right-aligned columns)."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    out = []
    for r in rows:
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in
                 enumerate(zip(r, widths))]
        out.append("  ".join(cells).rstrip())
    return out
