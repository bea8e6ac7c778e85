"""Index and copy operations of the C backend, one kernel each: transpose, slice, rev, pad,
concatenate, gather, scatter_add, iota, cumsum, argmax/argmin (registered as C lowerings)."""
from __future__ import annotations

from tracegrad.ir import Lit
from tracegrad.prims import (argmax_p, argmin_p, concatenate_p, cumsum_p, gather_p, iota_p,
                             pad_p, rev_p, scatter_add_p, slice_p, transpose_p)

from . import bounds, tiling
from .kernels import index, nest, parallel_for, size, strides, team_size
from .lowerings import c_literal, ctype, register_lowering

def emit_transpose(em, e):
    x, o = e.inputs[0], e.outputs[0]
    perm = e.params["permutation"]
    ist = strides(x.aval.shape)
    ost = strides(o.aval.shape)
    src = index([(f"i{d}", ist[perm[d]]) for d in range(len(perm))])
    dst = index([(f"i{d}", ost[d]) for d in range(len(perm))])
    # a transpose reading x across rows runs in cache tiles (tiling.py)
    tiled = tiling.transpose_nest(x.aval.shape, perm, ctype(x.aval.dtype))
    _copy_kernel(em, e, o.aval.shape, [f"o[{dst}] = x[{src}];"], loops=tiled)

def _copy_kernel(em, e, shape, body, extra_inputs=(), loops=None):
    x, o = e.inputs[0], e.outputs[0]
    t_in, t_out = ctype(x.aval.dtype), ctype(o.aval.dtype)
    em.n_kernels += 1
    kname = f"op{em.n_kernels}"
    params = [f"const {t_in}* restrict x"] + [f"const {ctype(a.aval.dtype)}* restrict {n}"
                                              for n, a in extra_inputs]
    params.append(f"{t_out}* restrict o")
    fn = [f"TG_KERNEL void {kname}({', '.join(params)}) {{"]
    fn += loops if loops is not None else nest(shape, body)
    fn.append("}")
    em.kernels.append("\n".join(fn))
    args = [em.read(x)] + [em.read(a) for _, a in extra_inputs] + [em.storage(o)]
    em.stmt(f"    {kname}({', '.join(args)});", e)

def emit_slice(em, e):
    x, o = e.inputs[0], e.outputs[0]
    ist, ost = strides(x.aval.shape), strides(o.aval.shape)
    starts, steps = e.params["start_indices"], e.params["strides"]
    base = sum(s * st for s, st in zip(starts, ist))
    src = index([(f"i{d}", ist[d] * steps[d]) for d in range(len(ist))], base)
    dst = index([(f"i{d}", ost[d]) for d in range(len(ost))])
    _copy_kernel(em, e, o.aval.shape, [f"o[{dst}] = x[{src}];"])

def emit_rev(em, e):
    x = e.inputs[0]
    shape = x.aval.shape
    st = strides(shape)
    dims = set(e.params["dimensions"])
    base = sum((shape[d] - 1) * st[d] for d in dims)
    src = index([(f"i{d}", -st[d] if d in dims else st[d]) for d in range(len(st))],
                      base)
    dst = index([(f"i{d}", st[d]) for d in range(len(st))])
    _copy_kernel(em, e, shape, [f"o[{dst}] = x[{src}];"])

def emit_pad(em, e):
    x, pv, o = e.inputs[0], e.inputs[1], e.outputs[0]
    t = ctype(o.aval.dtype)
    out = em.storage(o)
    val = c_literal(pv) if isinstance(pv, Lit) else f"{em.read(pv)}[0]"
    at = em.plan.placed.get(id(x))
    if at is not None and at[0] is o:  # x was computed in its block: fill around it
        lo, hi = at[1], at[1] + x.aval.size
        em.stmt(f"    {{ {t} pv = {val}; for (int64_t i = 0; i < {lo}; i++) {out}[i] = pv; "
                f"for (int64_t i = {hi}; i < {o.aval.size}; i++) {out}[i] = pv; }}", e)
        return
    em.stmt(f"    {{ {t} pv = {val}; for (int64_t i = 0; i < {o.aval.size}; i++) "
              f"{out}[i] = pv; }}", e)
    if x.aval.size == 0:
        return
    ost = strides(o.aval.shape)
    ist = strides(x.aval.shape)
    lo, it = e.params["low"], e.params["interior"]
    dst = index([(f"i{d}", ost[d] * (it[d] + 1)) for d in range(len(ost))],
                      sum(l * s for l, s in zip(lo, ost)))
    src = index([(f"i{d}", ist[d]) for d in range(len(ist))])
    _strided_copy(em, x, out, t, dst, src)

def _strided_copy(em, x, out: str, t: str, dst: str, src: str, e=None):
    """A kernel copying every element of ``x`` to ``o[dst]`` (index expressions over the
    loop indices i0.. of x's shape); pad and concatenate place their operands this way."""
    em.n_kernels += 1
    kname = f"op{em.n_kernels}"
    fn = [f"TG_KERNEL void {kname}(const {t}* restrict x, {t}* restrict o) {{"]
    fn += nest(x.aval.shape, [f"o[{dst}] = x[{src}];"])
    fn.append("}")
    em.kernels.append("\n".join(fn))
    em.stmt(f"    {kname}({em.read(x)}, {out});", e)

def emit_concatenate(em, e):
    o = e.outputs[0]
    ax = e.params["dimension"]
    t = ctype(o.aval.dtype)
    out = em.storage(o)
    ost = strides(o.aval.shape)
    offset = 0
    first = True
    for x in e.inputs:
        at = em.plan.placed.get(id(x))
        if at is not None and at[0] is o:  # computed in its block already (views.py)
            offset += x.aval.shape[ax]
            continue
        if x.aval.size:
            ist = strides(x.aval.shape)
            dst = index([(f"i{d}", ost[d]) for d in range(len(ost))], offset * ost[ax])
            src = index([(f"i{d}", ist[d]) for d in range(len(ist))])
            _strided_copy(em, x, out, t, dst, src, e if first else None)
            first = False
        offset += x.aval.shape[ax]

def _index_row_kernel(em, e, params: str, prologue: list[str], row: str,
                      parallel: bool) -> tuple[str, int]:
    """A kernel looping over the index rows of ``idx`` (``b``), computing each row's ``base``
    offset into ``x``, then ``row`` for r in the trailing block. It returns 1 when an index is
    out of range (rows with one are skipped; bounds.py records the first and raises).
    Returns the kernel's name and the site number its call passes last."""
    x, idx = e.inputs[:2]
    k = idx.aval.shape[-1]
    nb = size(idx.aval.shape[:-1])
    r = size(x.aval.shape[k:])
    em.n_kernels += 1
    kname = f"op{em.n_kernels}"
    par = parallel_for(nb * r) + "\n    " if parallel and team_size(nb * r) >= 2 else ""
    fn = [f"TG_KERNEL int {kname}({params}, int site) {{", *prologue, "    int bad = 0;",
          f"    {par}for (int64_t b = 0; b < {nb}; b++) {{"]
    fn += ["        " + p for p in bounds.row_check(x, idx) + bounds.skip_row()]
    fn += ["        TG_SIMD", f"        for (int64_t r = 0; r < {r}; r++) {row}", "    }"]
    fn += bounds.report(x, idx) + ["}"]
    em.kernels.append("\n".join(fn))
    return kname, bounds.site(em, e)

def emit_gather(em, e):
    x, idx = e.inputs
    o = e.outputs[0]
    r = size(x.aval.shape[idx.aval.shape[-1]:])
    t, ti = ctype(x.aval.dtype), ctype(idx.aval.dtype)
    kname, site = _index_row_kernel(
        em, e, f"const {t}* restrict x, const {ti}* restrict ix, {t}* restrict o", [],
        f"o[b*{r} + r] = x[base + r];", parallel=True)
    em.stmt(f"    if ({kname}({em.read(x)}, {em.read(idx)}, {em.storage(o)}, {site})) "
            "return 1;", e)

def emit_scatter_add(em, e):
    x, idx, upd = e.inputs
    o = e.outputs[0]
    r = size(x.aval.shape[idx.aval.shape[-1]:])
    t, ti = ctype(x.aval.dtype), ctype(idx.aval.dtype)
    # sequential over index rows: duplicates accumulate in a fixed order (deterministic)
    kname, site = _index_row_kernel(
        em, e, f"const {t}* restrict x, const {ti}* restrict ix, const {t}* restrict u, "
        f"{t}* o", [f"    if (o != x) memcpy(o, x, {x.aval.nbytes});"],
        f"o[base + r] += u[b*{r} + r];", parallel=False)
    em.stmt(f"    if ({kname}({em.read(x)}, {em.read(idx)}, {em.read(upd)}, "
            f"{em.storage(o)}, {site})) return 1;", e)

def emit_iota(em, e):
    o = e.outputs[0]
    shape = o.aval.shape
    st = strides(shape)
    dim = e.params["dimension"]
    t = ctype(o.aval.dtype)
    em.n_kernels += 1
    kname = f"op{em.n_kernels}"
    dst = index([(f"i{d}", st[d]) for d in range(len(st))])
    fn = [f"TG_KERNEL void {kname}({t}* restrict o) {{"]
    fn += nest(shape, [f"o[{dst}] = ({t})i{dim};"])
    fn.append("}")
    em.kernels.append("\n".join(fn))
    em.stmt(f"    {kname}({em.storage(o)});", e)

def emit_cumsum(em, e):
    x, o = e.inputs[0], e.outputs[0]
    shape = x.aval.shape
    ax, rev = e.params["axis"], e.params["reverse"]
    st = strides(shape)
    outer = [d for d in range(len(shape)) if d != ax]
    t = ctype(x.aval.dtype)
    acc_t = "double" if t in ("float", "double") else \
        ("double _Complex" if t.endswith("_Complex") else "int64_t")
    n = shape[ax]
    base = index([(f"i{d}", st[d]) for d in outer])
    pos = f"(({n} - 1 - j) * {st[ax]})" if rev else f"(j * {st[ax]})"
    em.n_kernels += 1
    kname = f"op{em.n_kernels}"
    body = [f"{acc_t} acc = 0;", f"for (int64_t j = 0; j < {n}; j++) {{",
            f"    int64_t p = {base} + {pos}; acc += x[p]; o[p] = ({t})acc;", "}"]
    fn = [f"TG_KERNEL void {kname}(const {t}* restrict x, {t}* restrict o) {{"]
    fn += nest([shape[d] for d in outer], body, names=[f"i{d}" for d in outer])
    fn.append("}")
    em.kernels.append("\n".join(fn))
    em.stmt(f"    {kname}({em.read(x)}, {em.storage(o)});", e)

def _argext(em, e, better: str):
    x, o = e.inputs[0], e.outputs[0]
    shape = x.aval.shape
    ax = e.params["axis"]
    st = strides(shape)
    outer = [d for d in range(len(shape)) if d != ax]
    ost = strides([shape[d] for d in outer])
    t, to = ctype(x.aval.dtype), ctype(o.aval.dtype)
    n = shape[ax]
    em.n_kernels += 1
    kname = f"op{em.n_kernels}"
    base = " + ".join([f"o{k}*{st[d]}" for k, d in enumerate(outer)]) or "0"
    dst = " + ".join([f"o{k}*{ost[k]}" for k in range(len(outer))]) or "0"
    loops = []
    for k, d in enumerate(outer):
        loops.append("    " * (k + 1) + f"for (int64_t o{k} = 0; o{k} < {shape[d]}; o{k}++) {{")
    pad = "    " * (len(outer) + 1)
    isfloat = t in ("float", "double")
    nan_first = " || (v != v && best == best)" if isfloat else ""
    body = [f"{pad}int64_t b0 = {base}; {t} best = x[b0]; int64_t bi = 0;",
            f"{pad}for (int64_t j = 1; j < {n}; j++) {{ {t} v = x[b0 + j*{st[ax]}]; "
            f"if ((v {better} best){nan_first}) {{ best = v; bi = j; }} }}",
            f"{pad}o[{dst}] = ({to})bi;"]
    if isfloat:  # NumPy: the first NaN wins
        body.insert(1, f"{pad}if (best != best) {{ o[{dst}] = 0; }} else {{")
        body.append(f"{pad}}}")
    fn = [f"TG_KERNEL void {kname}(const {t}* restrict x, {to}* restrict o) {{"] + loops + body
    fn += ["    " * (k + 1) + "}" for k in reversed(range(len(outer)))] + ["}"]
    em.kernels.append("\n".join(fn))
    em.stmt(f"    {kname}({em.read(x)}, {em.storage(o)});", e)

def emit_argmax(em, e):
    _argext(em, e, ">")

def emit_argmin(em, e):
    _argext(em, e, "<")


for _prim, _emit in ((transpose_p, emit_transpose), (slice_p, emit_slice), (rev_p, emit_rev),
                     (pad_p, emit_pad), (concatenate_p, emit_concatenate),
                     (gather_p, emit_gather), (scatter_add_p, emit_scatter_add),
                     (iota_p, emit_iota), (cumsum_p, emit_cumsum), (argmax_p, emit_argmax),
                     (argmin_p, emit_argmin)):
    register_lowering(_prim, emit=_emit)
