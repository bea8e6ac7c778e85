"""A few vectors times one large matrix in C, reading the matrix once: the products
passes/merge_products.py makes (``[x; v] @ A.T`` for ``A @ x`` and ``A @ v``), and any product
with 2-8 rows (or columns) on one side.

Why not BLAS: OpenBLAS's sgemm with 2 rows packs the whole large matrix first, and gemv takes
one vector. Measured on the 2-core AMD EPYC (Zen, AVX-512), OpenBLAS 0.3.31 (Haswell kernels),
one thread, 1000x1000 float32, CPU time: one sgemv 37-40 us, two sgemv 75-90 us, sgemm with
n=2 165 us (172 with the other layout: 225 us), these loops 46-52 us for two vectors.

Two loop forms, by the large matrix ``G``'s layout (row-major):

- ``dot`` (``G`` is [R, K], contracted along its rows): ``out[q][r] = sum_k v[q][k] G[r][k]``;
  a block of rows times every vector, the block's rows read once from memory and the vectors
  from L1; a SIMD reduction per accumulator (its order differs from BLAS's in the last bits).
- ``axpy`` (``G`` is [K, R]): ``out[q][r] += v[q][k] G[k][r]`` over k, one chunk of columns at a
  time with its accumulators on the stack (L1), each row chunk of ``G`` read once.

Both split their rows (chunks) over the team ``kernels.parallel_for`` gives the work."""
from __future__ import annotations

from .kernels import parallel_for

MAX_VECTORS = 8          # more rows than this: an ordinary product (gemm reads G once anyway)
MIN_MATRIX_ELEMENTS = 1 << 14   # smaller matrices: a BLAS call as before (see applies)


def applies(t: str, M: int, N: int, K: int, la: str, lrb: str) -> bool:
    """Whether ``emit`` takes a (per batch) ``M x K`` by ``K x N`` real product: one side has
    2-``MAX_VECTORS`` contiguous rows (the lhs in "N" layout, or the rhs transposed), and the
    other side is large enough that reading it once is what the time is."""
    if t not in ("float", "double"):
        return False
    if 2 <= M <= MAX_VECTORS and la == "N":
        return N * K >= MIN_MATRIX_ELEMENTS
    return 2 <= N <= MAX_VECTORS and lrb == "N" and M * K >= MIN_MATRIX_ELEMENTS


def emit(em, t: str, nb: int, M: int, N: int, K: int, la: str, lrb: str,
         pa: str, pb: str, out: str) -> None:
    """The kernel and its calls for ``out[bi] = op(A[bi]) op(B[bi])`` (see ``applies``)."""
    if 2 <= M <= MAX_VECTORS and la == "N":   # vectors: A's rows; out[q*N + r]
        n, vec, mat, R, form, oq, orr = M, pa, pb, N, ("dot" if lrb == "N" else "axpy"), N, 1
    else:                                      # vectors: B's rows (B is N x K); out[r*N + q]
        n, vec, mat, R, form, oq, orr = N, pb, pa, M, ("dot" if la == "N" else "axpy"), 1, N
    em.n_kernels += 1
    name = f"{em.kernel_prefix}mv{em.n_kernels}"
    text = (_dot if form == "dot" else _axpy)(name, t, n, R, K, oq, orr)
    em.kernels.append(text)
    em.stmt(f"    /* {n} vectors x a {R}x{K} matrix read once ({form} form) */\n"
            f"    for (int64_t bi = 0; bi < {nb}; bi++)\n"
            f"        {name}(({t}*){mat} + bi*{R * K}, ({t}*){vec} + bi*{n * K},"
            f" {out} + bi*{M * N});")


def _dot(name: str, t: str, n: int, R: int, K: int, oq: int, orr: int) -> str:
    rb = max(1, 16 // n)      # rows per block: rb * n accumulators in registers (2 vectors:
    # 4 rows 48-51 us, 8 rows 47, 16 rows 57 (spills), 1000x1000 float32, one thread)
    nblk = R // rb
    acc = [f"s{i}_{q}" for i in range(rb) for q in range(n)]
    rows = "".join(f"        const {t}* restrict g{i} = g + (r + {i}) * {K};\n" for i in range(rb))
    loads = " ".join(f"const {t} a{i} = g{i}[k];" for i in range(rb))
    fma = "fmaf" if t == "float" else "fma"
    fmas = " ".join(f"s{i}_{q} = {fma}(a{i}, v[{q * K} + k], s{i}_{q});"
                    for i in range(rb) for q in range(n))
    stores = " ".join(f"out[{q * oq} + (r + {i}) * {orr}] = s{i}_{q};"
                      for i in range(rb) for q in range(n))
    tail_acc = ", ".join(f"u{q} = 0" for q in range(n))
    tail_fma = " ".join(f"u{q} = {fma}(a, v[{q * K} + k], u{q});" for q in range(n))
    tail_store = " ".join(f"out[{q * oq} + r * {orr}] = u{q};" for q in range(n))
    return f"""/* {n} vectors x a {R}x{K} matrix, rows of it times each vector (multi_gemv.py) */
TG_KERNEL void {name}(const {t}* restrict g, const {t}* restrict v, {t}* restrict out) {{
    {parallel_for(R * K)}
    for (int64_t b = 0; b < {nblk}; b++) {{
        const int64_t r = b * {rb};
{rows}        {t} {", ".join(f"{a} = 0" for a in acc)};
        TG_SIMD_RED(reduction(+: {", ".join(acc)}))
        for (int64_t k = 0; k < {K}; k++) {{
            {loads}
            {fmas}
        }}
        {stores}
    }}
    for (int64_t r = {nblk * rb}; r < {R}; r++) {{
        const {t}* restrict g0 = g + r * {K};
        {t} {tail_acc};
        TG_SIMD_RED(reduction(+: {", ".join(f"u{q}" for q in range(n))}))
        for (int64_t k = 0; k < {K}; k++) {{ const {t} a = g0[k]; {tail_fma} }}
        {tail_store}
    }}
}}"""


def _axpy(name: str, t: str, n: int, R: int, K: int, oq: int, orr: int) -> str:
    ch = 1024 if t == "float" else 512   # columns per chunk: n * ch accumulators in L1
    nch = (R + ch - 1) // ch
    weights = " ".join(f"const {t} w{q} = v[{q * K} + k];" for q in range(n))
    fma = "fmaf" if t == "float" else "fma"
    fmas = " ".join(f"acc[{q}][j] = {fma}(w{q}, a, acc[{q}][j]);" for q in range(n))
    return f"""/* {n} vectors x a {K}x{R} matrix, its rows scaled into accumulators (multi_gemv.py) */
TG_KERNEL void {name}(const {t}* restrict g, const {t}* restrict v, {t}* restrict out) {{
    {parallel_for(R * K)}
    for (int64_t c = 0; c < {nch}; c++) {{
        const int64_t r0 = c * {ch}, len = {R} - r0 < {ch} ? {R} - r0 : {ch};
        {t} acc[{n}][{ch}];
        for (int q = 0; q < {n}; q++) for (int64_t j = 0; j < len; j++) acc[q][j] = 0;
        for (int64_t k = 0; k < {K}; k++) {{
            const {t}* restrict gk = g + k * {R} + r0;
            {weights}
            TG_SIMD
            for (int64_t j = 0; j < len; j++) {{ const {t} a = gk[j]; {fmas} }}
        }}
        for (int q = 0; q < {n}; q++)
            for (int64_t j = 0; j < len; j++) out[q * {oq} + (r0 + j) * {orr}] = acc[q][j];
    }}
}}"""


__all__ = ["MAX_VECTORS", "applies", "emit"]
