"""Cache-blocked loop nests for copies whose operand is read transposed (C backend).

A transpose written as a plain nest walks the output in row order and reads the operand with a
stride of a whole row per element: every read misses the cache line (and, past 4 KB rows, the
TLB entry) that the previous read used. 1000x1000 float32 `A.T` took 655 us one thread where
NumPy's copy takes 78 us. Here the nest runs over tiles of the two axes concerned (the output's
last axis, and the output axis that reads the operand's contiguous axis): one tile's reads (TB
runs of TA contiguous elements) and writes (TA runs of TB) both stay in L1. Inside a tile the
output's contiguous axis is innermost (SIMD), so the stores stream and the loads come from lines
already brought in by the tile's first column.

The permutation is first coalesced: operand axes that stay adjacent and in order in the output
are one axis (vmap's gather moves a (26, 10000, 3) operand to (10000, 3, 26): a 2-D transpose of
26 x 30000), and axes of extent 1 are dropped. A permutation that keeps the operand's last axis
last needs no tiles (its innermost loop already reads contiguously): ``transpose_nest`` returns
None and the caller keeps its plain nest.

Tiles are chosen by size alone (not by the team), the parallel loop runs over all tiles (so a
transpose with a short axis still splits), and the values are copied unchanged: the result is
the same bits for any tile size and any team.
"""
from __future__ import annotations

from .kernels import POLL_MIN_ELEMENTS, parallel_for, size, strides

TILE = 32          # elements per side of a square tile; measured on the 2-CPU EPYC (48 KB L1d),
                   # 1000x1000 and 4096x1024 float32/float64 one thread: see the commit message
TILE_ELEMENTS = TILE * TILE   # a tile against a short axis is stretched along the other to this


def coalesce(shape, perm) -> tuple[list[int], list[int]]:
    """(operand shape, permutation) with extent-1 axes dropped and operand axes that stay
    adjacent and in order in the output merged; the copy they describe is the same."""
    keep = [d for d in range(len(shape)) if shape[d] != 1]
    renum = {d: k for k, d in enumerate(keep)}
    shp = [shape[d] for d in keep]
    prm = [renum[d] for d in perm if d in renum]
    groups: list[list[int]] = []   # runs of operand axes, in output order
    for d in prm:
        if groups and groups[-1][-1] + 1 == d:
            groups[-1].append(d)
        else:
            groups.append([d])
    order = sorted(range(len(groups)), key=lambda g: groups[g][0])  # groups in operand order
    new_shape = [size([shp[d] for d in groups[g]]) for g in order]
    rank = {g: k for k, g in enumerate(order)}
    return new_shape, [rank[g] for g in range(len(groups))]


def tile_sides(na: int, nb: int) -> tuple[int, int]:
    """(rows, columns) of a tile over output axes of extents ``na`` (the one reading the
    operand's contiguous axis) and ``nb`` (the output's last): TILE x TILE, stretched along one
    axis when the other is shorter, so a tile still moves about TILE_ELEMENTS values."""
    ta, tb = min(na, TILE), min(nb, TILE)
    if tb < TILE:
        ta = min(na, max(TILE, TILE_ELEMENTS // tb))
    elif ta < TILE:
        tb = min(nb, max(TILE, TILE_ELEMENTS // ta))
    return ta, tb


def transpose_nest(shape, perm, t: str, indent="    ") -> list[str] | None:
    """The tiled loop nest of ``o = transpose(x, perm)`` (x of ``shape``, row-major, pointers
    to C type ``t`` named ``x`` and ``o``), or None when the coalesced permutation keeps x's
    last axis last."""
    shp, prm = coalesce(shape, perm)
    m = len(prm)
    if m < 2 or prm[-1] == m - 1:
        return None
    oshape = [shp[d] for d in prm]
    ist, ost = strides(shp), strides(oshape)
    a = prm.index(m - 1)               # the output axis reading x's contiguous axis
    b = m - 1                          # the output's contiguous axis
    outer = [d for d in range(m) if d not in (a, b)]
    na, nb = oshape[a], oshape[b]
    ta, tb = tile_sides(na, nb)
    nta, ntb = -(-na // ta), -(-nb // tb)
    ntiles = size([oshape[d] for d in outer]) * nta * ntb
    total = size(oshape)
    par = parallel_for(total)
    poll = total >= POLL_MIN_ELEMENTS
    p = indent + "    "
    lines = [indent + "{", indent + "TG_POLL_DECL"] if poll else []
    if par:
        lines.append(indent + par)
    lines += [f"{indent}for (int64_t tg_t = 0; tg_t < {ntiles}; tg_t++) {{"]
    if poll:
        lines.append(p + "TG_POLL_SKIP")
    # tile number -> (outer indices, tile column, tile row): the tiles reading one band of
    # x's rows are adjacent, so a band's pages are read once, in order (rows of tiles along
    # the output instead visit every page of x per band: 4096x1024 float32 4.4 -> 2.8 ms)
    lines += [f"{p}int64_t tg_r = tg_t;",
              f"{p}const int64_t tg_a0 = (tg_r % {nta}) * {ta}; tg_r /= {nta};",
              f"{p}const int64_t tg_b0 = (tg_r % {ntb}) * {tb}; tg_r /= {ntb};",
              f"{p}const int64_t tg_a1 = tg_a0 + {ta} < {na} ? tg_a0 + {ta} : {na};",
              f"{p}const int64_t tg_b1 = tg_b0 + {tb} < {nb} ? tg_b0 + {tb} : {nb};",
              f"{p}int64_t tg_xo = 0, tg_oo = 0;"]
    for d in reversed(outer):
        lines.append(f"{p}{{ const int64_t tg_i = tg_r % {oshape[d]}; tg_r /= {oshape[d]}; "
                     f"tg_xo += tg_i * {ist[prm[d]]}; tg_oo += tg_i * {ost[d]}; }}")
    lines += [f"{p}for (int64_t tg_ia = tg_a0; tg_ia < tg_a1; tg_ia++) {{",
              f"{p}    const {t}* restrict tg_x = x + tg_xo + tg_ia;",
              f"{p}    {t}* restrict tg_o = o + tg_oo + tg_ia * {ost[a]};",
              f"{p}    TG_SIMD",
              (f"{p}    for (int64_t tg_ib = tg_b0; tg_ib < tg_b1; tg_ib++) "
               f"tg_o[tg_ib] = tg_x[tg_ib * {ist[prm[b]]}];"),
              f"{p}}}", f"{indent}}}"]
    if poll:
        lines.append(indent + "}")
    return lines



def emit_copy_kernel(em, shape, perm, t: str, src: str, dst: str) -> bool:
    """Emit a kernel copying ``src`` (row-major, of ``shape``) transposed by ``perm`` into
    ``dst`` through the tiled nest, and its call; False (nothing emitted) when the permutation
    keeps the last axis last. BLAS' canonical-layout copies of an operand take this way."""
    lines = transpose_nest(shape, perm, t)
    if lines is None:
        return False
    em.n_kernels += 1
    kname = f"op{em.n_kernels}"
    head = f"TG_KERNEL void {kname}(const {t}* restrict x, {t}* restrict o) {{"
    em.kernels.append("\n".join([head, *lines, "}"]))
    em.stmt(f"    {kname}({src}, {dst});")
    return True
