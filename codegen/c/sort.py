"""``argsort`` in C: each line along the axis is copied with its positions into scratch space
and sorted by libc's qsort with a total, stable order (value, then position; NaN after every
number, as NumPy sorts), so equal values keep their order whatever qsort's algorithm is."""
from __future__ import annotations

from tracegrad.prims import argsort_p

from .kernels import index, strides
from .lowerings import ctype, register_lowering


def _comparator(t: str, dt: str, isfloat: bool) -> str:
    """The key type and comparator of one dtype, defined once per program (a guard macro:
    several argsorts of one dtype share them)."""
    nan = ("    int an = a->v != a->v, bn = b->v != b->v;\n"
           "    if (an | bn) { if (an != bn) return an ? 1 : -1; }\n"
           "    else ") if isfloat else "    "
    return (f"#ifndef TG_SORTKEY_{dt}\n#define TG_SORTKEY_{dt}\n"
            f"typedef struct {{ {t} v; int64_t i; }} tg_sortkey_{dt};\n"
            f"static int tg_sortcmp_{dt}(const void* pa, const void* pb) {{\n"
            f"    const tg_sortkey_{dt}* a = pa; const tg_sortkey_{dt}* b = pb;\n"
            f"{nan}if (a->v != b->v) return a->v < b->v ? -1 : 1;\n"
            f"    return (a->i > b->i) - (a->i < b->i);\n}}\n#endif")


def emit_argsort(em, e):
    x, o = e.inputs[0], e.outputs[0]
    shape = x.aval.shape
    ax = e.params["axis"]
    dt = str(x.aval.dtype)
    t = ctype(x.aval.dtype)
    st = strides(shape)
    outer = [d for d in range(len(shape)) if d != ax]
    n = shape[ax]
    scratch, _ = em.scratch(n * 16)  # {value (<= 8 bytes), int64 position}
    em.kernels.append(_comparator(t, dt, dt.startswith("float")))
    em.n_kernels += 1
    kname = f"op{em.n_kernels}"
    base = index([(f"i{d}", st[d]) for d in outer])
    lines = [f"TG_KERNEL void {kname}(const {t}* restrict x, int64_t* restrict o, "
             f"tg_sortkey_{dt}* restrict keys) {{"]
    pad = "    "
    for d in outer:
        lines.append(f"{pad}for (int64_t i{d} = 0; i{d} < {shape[d]}; i{d}++)")
    lines += [f"{pad}{{ const int64_t b = {base};",
              f"{pad}  for (int64_t j = 0; j < {n}; j++) {{ keys[j].v = x[b + j*{st[ax]}]; "
              f"keys[j].i = j; }}",
              f"{pad}  qsort(keys, {n}, sizeof(tg_sortkey_{dt}), tg_sortcmp_{dt});",
              f"{pad}  for (int64_t j = 0; j < {n}; j++) o[b + j*{st[ax]}] = keys[j].i; }}",
              "}"]
    em.kernels.append("\n".join(lines))
    em.stmt(f"    {kname}({em.read(x)}, {em.storage(o)}, "
            f"(tg_sortkey_{dt}*){scratch});", e)


register_lowering(argsort_p, emit=emit_argsort)
