"""``A.T @ g(A @ X)`` in one pass over ``A`` (the kernels passes/onepass_products.py makes).

Per block of ``rb`` rows of ``A`` [R, K]: the rows' dots with the ``n`` stacked vectors of
``X`` (``rb * n`` accumulators, one SIMD reduction over the columns, explicit fma: the module is
-std=c99 without contraction), then ``g`` on those few values (the kernel's elementwise
equations, one scalar expression each through the C lowerings), then the block's rows scaled
by ``g``'s values added into the output (the rows are in L1 from the dots). ``A`` is read
from memory (or L3) once instead of twice.

Measured (2-core AMD EPYC, znver3 tuning with AVX-512 VL, one thread, CPU clock, load ~4,
median of 15 interleaved rounds, A/B in one process against OpenBLAS 0.3.31 gemv): W6's HVP
1000x1000 float32 98 -> 81 us (the merged two-row product + sgemv -> this); logistic-regression
gradient 1000x1000 float32 78 -> 64-71, float64 172 -> 139; 4096x1024 float32 421 -> 411,
float64 (32 MB, past L3) 2006 -> 1066. Row blocks: ``_row_block``; interleaving the next
block's dots with this block's update was slower, software prefetch in the update loop stopped
its vectorisation, and 512-bit vectors gained nothing.

Through tracegrad (O2-c with and without the pass, one process, interleaved, one thread, CPU
clock, load ~4): W6 HVP 103-117 -> 99-105 us; GLM gradient float32 1000x1000 85 -> 75,
4096x1024 399-409 -> 364-376; float64 1000x1000 171-177 -> 153-156, 4096x1024 1864-2190 ->
1122-1209. Where A fits in L3 the pass is bound by arithmetic, not by A's bytes: the HVP is 3
fmas per element of A either way (two dots, one update), ~60 us at 16 float fmas a cycle.

Threads: the rows are cut into ``nch`` chunks chosen by size alone (``kernels.reduction_chunks``
policy: one chunk when one thread is all the work is worth), each chunk adds into its own
partial output, and the partials are summed in chunk order: the same bits on any team."""
from __future__ import annotations

from tracegrad.ir import Lit
from tracegrad.prims import reshape_p, select_p, slice_p

from .kernels import parallel_for, team_size
from .lowerings import c_literal, ctype, scalar_expr

MAX_CHUNKS = 8


def _row_block(n: int, t: str) -> int:
    """Rows per block: ``rb * n`` accumulators. One vector: 8 float rows (1000x1000 79 us, 4
    rows 82), 4 double rows (127 us, 8 rows 160; 4096x1024 1068 against 1003); two vectors: 4
    rows (8 spilled)."""
    return (8 if t == "float" else 4) if n == 1 else max(1, 8 // n)


def emit(em, e) -> None:
    """The kernel and its call for a ``onepass<k>`` fused equation ``e``."""
    body = e.params["body"]
    P, *region, Q = body.eqns
    A = body.inputs[0]
    R, K = A.aval.shape
    n = P.outputs[0].aval.size // R
    t = ctype(A.aval.dtype)
    fma = "fmaf" if t == "float" else "fma"
    rb = _row_block(n, t)
    ext = list(body.inputs[2:])
    ext_pos = {id(v): j for j, v in enumerate(ext)}
    nch = 1 if team_size(R * K) < 2 else max(1, min(MAX_CHUNKS, R // (rb * 16)))

    def g_code(i: int, row: str) -> tuple[list[str], str]:
        """Statements computing ``g`` at row ``row`` from accumulators ``s{i}_{q}``, and the
        name of its result (the value the second product reads)."""
        val: dict = {id(P.outputs[0]): f"s{i}_0"}
        lines = []
        for k, f in enumerate(region):
            o = f.outputs[0]
            src = f.inputs[0]
            if f.prim is slice_p:
                val[id(o)] = f"s{i}_{f.params['start_indices'][0]}"
                continue
            if f.prim is reshape_p:
                val[id(o)] = val[id(src)] if id(src) in val else _ext(src, row)
                continue
            args, uni = [], []
            for a in f.inputs:
                if isinstance(a, Lit):
                    args.append(c_literal(a))
                    uni.append(a)
                elif id(a) in val:
                    args.append(val[id(a)])
                    uni.append(None)
                else:
                    args.append(_ext(a, row))
                    uni.append(True if a.aval.shape == () else None)
            in_dt = f.inputs[-1].aval.dtype if f.prim is select_p else f.inputs[0].aval.dtype
            expr = scalar_expr(f.prim, args, in_dt, o.aval.dtype, f.params, uni, None)
            name = f"g{i}_{k}"
            lines.append(f"const {ctype(o.aval.dtype)} {name} = {expr};")
            val[id(o)] = name
        tq = next(a for a in Q.inputs if a is not A)
        return lines, val[id(tq)]

    def _ext(a, row: str) -> str:
        j = ext_pos[id(a)]
        return f"x{j}[0]" if a.aval.shape == () else f"x{j}[{row}]"

    def block(nr: int, r: str) -> list[str]:
        rows = [f"const {t}* restrict a{i} = a + ({r} + {i}) * (int64_t){K};" for i in range(nr)]
        acc = [f"s{i}_{q}" for i in range(nr) for q in range(n)]
        fmas = " ".join(f"s{i}_{q} = {fma}(a{i}[k], v{q}, s{i}_{q});"
                        for i in range(nr) for q in range(n))
        vs = " ".join(f"const {t} v{q} = s[{q * K} + k];" for q in range(n))
        out = rows + [f"{t} {', '.join(x + ' = 0' for x in acc)};",
                      f"TG_SIMD_RED(reduction(+: {', '.join(acc)}))",
                      f"for (int64_t k = 0; k < {K}; k++) {{ {vs} {fmas} }}"]
        ws = []
        for i in range(nr):
            lines, w = g_code(i, f"{r} + {i}")
            out += ["{"] + lines + [f"w{i} = {w};", "}"] if lines else [f"w{i} = {w};"]
            ws.append(f"w{i}")
        upd = "p[k]"
        for i in range(nr):
            upd = f"{fma}(w{i}, a{i}[k], {upd})"
        update = f"for (int64_t k = 0; k < {K}; k++) p[k] = {upd};"
        return [f"{t} {', '.join(ws)};", *out, "TG_SIMD", update]

    nblk = R // rb
    per = -(-nblk // nch) * rb          # rows per chunk, whole blocks
    em.n_kernels += 1
    name = f"{em.kernel_prefix}onepass{em.n_kernels}"
    params = [f"const {t}* restrict a", f"const {t}* restrict s"]
    params += [f"const {ctype(v.aval.dtype)}* restrict x{j}" for j, v in enumerate(ext)]
    params.append(f"{t}* restrict out")
    ind = "\n        "
    tail_rows = ""
    if R % rb:
        tail_rows = (f"    for (int64_t r = {nblk * rb}; r < {R}; r++) {{\n"
                     f"        {t}* restrict p = part + {nch - 1} * (int64_t){K};\n"
                     f"        {ind.join(block(1, 'r'))}\n    }}\n")
    part_decl = (f"{t}* part = out;" if nch == 1 else
                 f"{t}* part = ({t}*)malloc(sizeof({t}) * {nch * K});")
    combine = "" if nch == 1 else (
        f"    {parallel_for(K * nch)}\n"
        f"    for (int64_t k = 0; k < {K}; k++) {{\n"
        f"        {t} acc = part[k];\n"
        f"        for (int64_t c = 1; c < {nch}; c++) acc += part[c * {K} + k];\n"
        f"        out[k] = acc;\n    }}\n    free(part);\n")
    text = f"""/* A.T @ g(A @ X), {n} vector(s), A {R}x{K} read once (onepass.py) */
TG_KERNEL void {name}({", ".join(params)}) {{
    {part_decl}
    {parallel_for(R * K) if nch > 1 else ''}
    for (int64_t c = 0; c < {nch}; c++) {{
        {t}* restrict p = part + c * (int64_t){K};
        for (int64_t k = 0; k < {K}; k++) p[k] = 0;
        const int64_t r0 = c * {per}, r1 = r0 + {per} < {nblk * rb} ? r0 + {per} : {nblk * rb};
        for (int64_t r = r0; r < r1; r += {rb}) {{
            {(ind + "    ").join(block(rb, "r"))}
        }}
    }}
{tail_rows}{combine}}}"""
    em.kernels.append(text)
    ins = [em.read(a) for a in e.inputs]
    em.stmt(f"    {name}({', '.join(ins)}, {em.storage(e.outputs[0])});", e)


__all__ = ["emit"]
