"""The ``lu`` primitive in C (tracegrad/prims/linalg_lu.py): LAPACK getrf on a column-major
copy of each matrix (row-major a is A^T to LAPACK, and the factors of A^T are not those of A),
then the packed factors back in row-major, the 0-based pivots and the permutation they make.
A singular matrix factors (info > 0: a zero pivot), as SciPy's lu_factor with a warning."""
from __future__ import annotations

from tracegrad.prims.linalg_lu import lu_p

from .lapack import _index, _lint_bytes, _start, _use
from .lowerings import register_lowering


def helpers(t: str, used: set) -> str:
    """The lu helper of dtype ``t`` when this module calls it."""
    p = "s" if t == "float" else "d"
    if ("lu", p) not in used:
        return ""
    return f"""
/* buf: n*n column-major scratch, ipiv: n */
static void tg_la_lu_{p}(const {t}* a, {t}* lu, int32_t* piv, int64_t* perm, int64_t n,
                        int64_t batch, {t}* buf, tg_lint* ipiv) {{
    for (int64_t bi = 0; bi < batch; bi++) {{
        tg_lint nn = (tg_lint)n, info = 0;
        const {t}* m = a + bi*n*n;
        {t}* o = lu + bi*n*n;
        int32_t* pv = piv + bi*n;
        int64_t* pm = perm + bi*n;
        if (n == 0) continue;
        for (int64_t r = 0; r < n; r++) for (int64_t c = 0; c < n; c++) buf[r + c*n] = m[r*n + c];
        ((tg_getrf_t)tg_lapack[{_index('getrf', t)}])(&nn, &nn, buf, &nn, ipiv, &info);
        for (int64_t r = 0; r < n; r++) for (int64_t c = 0; c < n; c++) o[r*n + c] = buf[r + c*n];
        for (int64_t r = 0; r < n; r++) {{ pv[r] = (int32_t)(ipiv[r] - 1); pm[r] = r; }}
        for (int64_t r = 0; r < n; r++) {{
            int64_t j = pv[r], s = pm[r]; pm[r] = pm[j]; pm[j] = s;
        }}
    }}
}}
"""


def emit_lu(em, e):
    (a,), (lu, piv, perm) = e.inputs, e.outputs
    t, p, n, batch = _start(em, a)
    _use(em, "lu", p)
    buf, off = em.scratch(max(n * n, 1) * a.aval.dtype.itemsize)
    ipiv, off = em.scratch(max(n, 1) * _lint_bytes(), off)
    em.stmt(f"    tg_la_lu_{p}({em.read(a)}, {em.storage(lu)}, {em.storage(piv)}, "
            f"{em.storage(perm)}, {n}, {batch}, ({t}*){buf}, (tg_lint*){ipiv});", e)


register_lowering(lu_p, emit=emit_lu)
