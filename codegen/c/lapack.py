"""The linear-algebra primitives in C: LAPACK's potrf (cholesky), getrf/getrs (solve, slogdet),
syevd (eigh), gesdd (svd), geqrf/orgqr (qr) and BLAS's trsm (triangular_solve), one call per
matrix of a batch; no factorisation is written as a loop here.

Which LAPACK: the one inside NumPy's own OpenBLAS (``scipy_dpotrf_64_`` ..., ILP64), the library
``blas_lib.blas_functions`` already chose for the matrix products, else scipy-openblas32's
(LP64). Measured against SciPy's ``cython_lapack`` capsules (see the commit message): the same
factorisation speed, but importing SciPy's LAPACK costs ~0.1 s and loads a second OpenBLAS whose
thread pool fights NumPy's on a small machine (blas_lib.py). Generated modules receive the
addresses through ``set_lapack`` (the same pattern as ``set_blas``), so nothing is linked.

Layout: our matrices are row-major, LAPACK's column-major, so LAPACK sees each matrix
transposed. potrf with uplo 'U' on A^T is the lower factor of A in row-major; getrf factors
A^T, and getrs with trans 'T' solves A x = b; syevd gets a transposed copy (A itself, column-
major, lower triangle: what np.linalg.eigh hands LAPACK, so both backends agree to rounding);
gesdd and geqrf/orgqr likewise get column-major copies, and their factors are transposed back.

A matrix that is not positive definite or is exactly singular, or on which LAPACK does not
converge, records its equation ("site") and batch index; the executable then raises
``tracegrad.LinAlgError``, as the NumPy backend does (tracegrad/prims/linalg_np.py), instead of
returning the NaN the failed matrix was given. slogdet of a singular matrix is (0, -inf), as
NumPy's.
"""
from __future__ import annotations

import ctypes
import re
from functools import lru_cache

import numpy as np

from tracegrad.prims.linalg import (cholesky_p, eigh_p, slogdet_p, solve_p,
                                    triangular_solve_p)
from tracegrad.prims.linalg_svd import qr_p, svd_p

from .lowerings import ctype, register_lowering

# slot order of set_lapack's addresses: each routine in s then d precision
ROUTINES = ("potrf", "getrf", "getrs", "syevd", "trsm", "gesdd", "geqrf", "orgqr")


@lru_cache(maxsize=1)
def lapack_functions() -> tuple[int, ...]:
    """Addresses of ``ROUTINES`` (s, d for each) from the BLAS library the products use."""
    from .blas_lib import _addr, blas_functions
    _, _, ilp64, path = blas_functions()
    lib = ctypes.CDLL(path)
    out = []
    for r in ROUTINES:
        for p in "sd":
            if r == "trsm":
                name = f"scipy_cblas_{p}trsm64_" if ilp64 else f"scipy_cblas_{p}trsm"
            else:
                name = f"scipy_{p}{r}_64_" if ilp64 else f"scipy_{p}{r}_"
            out.append(_addr(getattr(lib, name)))
    return tuple(out)


def _index(routine: str, t: str) -> int:
    return ROUTINES.index(routine) * 2 + (t == "double")


def prepare_module(module):
    """Give a loaded module that calls LAPACK its addresses; return its ``run`` checked for
    failures: a matrix a factorisation cannot take raises ``tracegrad.LinAlgError`` (as NumPy
    raises ``LinAlgError``; the same messages as the NumPy backend, linalg_np.MESSAGES)."""
    module.set_lapack(*lapack_functions())
    run, status = module.run, module.lapack_status

    def checked(*args):
        run(*args)
        failed = status()
        if failed is not None:
            raise _failure(*failed)
    return checked


def _failure(site: str, flat: int):
    from tracegrad.prims.linalg_np import failure
    name, src, batch = site.split("|", 2)
    shape = tuple(int(d) for d in batch.split(",") if d)
    index = tuple(int(i) for i in np.unravel_index(flat, shape)) if shape else ()
    return failure(name, index, src or None)


def _site(em, e) -> int:
    """Number this equation's LAPACK call: its primitive, the user's line and batch shape, read
    back when it fails (``lapack_status``)."""
    sites = em.__dict__.setdefault("lapack_sites", [])
    batch = e.inputs[0].aval.shape[:-2]
    sites.append(f"{e.prim.name}|{e.src or ''}|{','.join(map(str, batch))}")
    return len(sites) - 1


def _c_string(text: str) -> str:
    """A C string literal of ``text``, every byte escaped (user text: file names)."""
    return '"' + "".join(f"\\x{b:02x}" for b in text.encode()) + '"' if text else '""'


def _helpers(t: str, used: set) -> str:
    """The C helpers of dtype ``t`` this module calls (``used``: (name, s/d) pairs), each one
    loop over a batch of LAPACK calls; only those, to keep the module's compile time down."""
    p = "s" if t == "float" else "d"
    i = {r: _index(r, t) for r in ROUTINES}
    text = f"""
static void tg_la_nan_{p}({t}* x, int64_t n) {{ for (int64_t i = 0; i < n; i++) x[i] = NAN; }}

static void tg_la_cholesky_{p}(int site, const {t}* a, {t}* out, int64_t n, int64_t batch) {{
    for (int64_t bi = 0; bi < batch; bi++) {{
        {t}* m = out + bi*n*n;
        tg_lint nn = (tg_lint)n, info = 0;
        char uplo = 'U';
        memmove(m, a + bi*n*n, (size_t)(n*n) * sizeof({t}));
        ((tg_potrf_t)tg_lapack[{i['potrf']}])(&uplo, &nn, m, &nn, &info, 1);
        if (info != 0) {{ tg_la_fail(site, bi); tg_la_nan_{p}(m, n*n); continue; }}
        for (int64_t r = 0; r < n; r++) for (int64_t c = r + 1; c < n; c++) m[r*n + c] = 0;
    }}
}}

static void tg_la_trisolve_{p}(int site, const {t}* a, const {t}* b, {t}* out, int64_t n, int64_t k,
                              int64_t batch, int lower, int trans) {{
    for (int64_t bi = 0; bi < batch; bi++) {{
        const {t}* m = a + bi*n*n;
        {t}* x = out + bi*n*k;
        int singular = 0;
        memmove(x, b + bi*n*k, (size_t)(n*k) * sizeof({t}));
        for (int64_t d = 0; d < n; d++) singular |= m[d*n + d] == 0;
        if (singular) {{ tg_la_fail(site, bi); tg_la_nan_{p}(x, n*k); continue; }}
        ((tg_trsm_{p}_t)tg_lapack[{i['trsm']}])(101, 141, lower ? 122 : 121, trans ? 112 : 111,
                                         131, (tg_lint)n, (tg_lint)k, 1, m, (tg_lint)n, x,
                                         (tg_lint)k);
    }}
}}

/* lu: n*n scratch, ipiv: n, bt: n*k (b column-major) */
static void tg_la_solve_{p}(int site, const {t}* a, const {t}* b, {t}* out, int64_t n, int64_t k,
                           int64_t batch, int trans, {t}* lu, tg_lint* ipiv, {t}* bt) {{
    for (int64_t bi = 0; bi < batch; bi++) {{
        tg_lint nn = (tg_lint)n, kk = (tg_lint)k, info = 0;
        char tr = trans ? 'N' : 'T';  /* lu holds A^T: 'T' solves A x = b */
        {t}* x = out + bi*n*k;
        memcpy(lu, a + bi*n*n, (size_t)(n*n) * sizeof({t}));
        for (int64_t r = 0; r < n; r++) for (int64_t c = 0; c < k; c++)
            bt[r + c*n] = b[bi*n*k + r*k + c];
        ((tg_getrf_t)tg_lapack[{i['getrf']}])(&nn, &nn, lu, &nn, ipiv, &info);
        if (info != 0) {{ tg_la_fail(site, bi); tg_la_nan_{p}(x, n*k); continue; }}
        ((tg_getrs_t)tg_lapack[{i['getrs']}])(&tr, &nn, &kk, lu, &nn, ipiv, bt, &nn, &info, 1);
        for (int64_t r = 0; r < n; r++) for (int64_t c = 0; c < k; c++)
            x[r*k + c] = bt[r + c*n];
    }}
}}

static void tg_la_slogdet_{p}(const {t}* a, {t}* sign, {t}* logdet, int64_t n, int64_t batch,
                             {t}* lu, tg_lint* ipiv) {{
    for (int64_t bi = 0; bi < batch; bi++) {{
        tg_lint nn = (tg_lint)n, info = 0;
        double s = 1, l = 0;
        if (n > 0) {{
            memcpy(lu, a + bi*n*n, (size_t)(n*n) * sizeof({t}));
            ((tg_getrf_t)tg_lapack[{i['getrf']}])(&nn, &nn, lu, &nn, ipiv, &info);
            for (int64_t d = 0; d < n; d++) {{
                double u = lu[d*n + d];
                if (ipiv[d] != d + 1) s = -s;
                if (u < 0) s = -s;
                l += log(fabs(u));
            }}
            if (info > 0) {{ s = 0; l = -INFINITY; }}
        }}
        sign[bi] = ({t})s;
        logdet[bi] = ({t})l;
    }}
}}

/* buf: n*n, work: lwork, iwork: liwork (syevd's minimum sizes for eigenvectors) */
static void tg_la_eigh_{p}(int site, const {t}* a, {t}* w, {t}* v, int64_t n, int64_t batch,
                          {t}* buf,
                          {t}* work, tg_lint lwork, tg_lint* iwork, tg_lint liwork) {{
    for (int64_t bi = 0; bi < batch; bi++) {{
        tg_lint nn = (tg_lint)n, info = 0;
        char jobz = 'V', uplo = 'L';
        const {t}* m = a + bi*n*n;
        {t}* vec = v + bi*n*n;
        for (int64_t r = 0; r < n; r++) for (int64_t c = 0; c < n; c++) buf[c*n + r] = m[r*n + c];
        ((tg_syevd_t)tg_lapack[{i['syevd']}])(&jobz, &uplo, &nn, buf, &nn, w + bi*n, work, &lwork,
                                          iwork, &liwork, &info, 1, 1);
        if (info != 0) {{
            tg_la_fail(site, bi); tg_la_nan_{p}(w + bi*n, n); tg_la_nan_{p}(vec, n*n); continue;
        }}
        for (int64_t r = 0; r < n; r++) for (int64_t c = 0; c < n; c++) vec[r*n + c] = buf[c*n + r];
    }}
}}

/* column-major copies in buf (m*n); u: m x um, vt: vn x n (row-major out); ub, vb: their
   column-major scratch; gesdd's work and iwork */
static void tg_la_svd_{p}(int site, const {t}* a, {t}* u, {t}* s, {t}* vt, int64_t m, int64_t n,
                         int64_t batch, int full, {t}* buf, {t}* ub, {t}* vb, {t}* work,
                         tg_lint lwork, tg_lint* iwork) {{
    int64_t k = m < n ? m : n, um = full ? m : k, vn = full ? n : k;
    for (int64_t bi = 0; bi < batch; bi++) {{
        tg_lint mm = (tg_lint)m, nn = (tg_lint)n, ldu = (tg_lint)m, info = 0;
        tg_lint ldvt = (tg_lint)(vn > 0 ? vn : 1);
        char jobz = full ? 'A' : 'S';
        const {t}* x = a + bi*m*n;
        {t}* uo = u + bi*m*um; {t}* vo = vt + bi*vn*n; {t}* so = s + bi*k;
        if (k == 0) {{  /* np.linalg.svd of an empty matrix: identity factors */
            for (int64_t i = 0; i < m*um; i++) uo[i] = (i / um == i % um);
            for (int64_t i = 0; i < vn*n; i++) vo[i] = (i / n == i % n);
            continue;
        }}
        for (int64_t r = 0; r < m; r++) for (int64_t c = 0; c < n; c++) buf[r + c*m] = x[r*n + c];
        ((tg_gesdd_t)tg_lapack[{i['gesdd']}])(&jobz, &mm, &nn, buf, &mm, so, ub, &ldu, vb, &ldvt,
                                          work, &lwork, iwork, &info, 1);
        if (info != 0) {{
            tg_la_fail(site, bi);
            tg_la_nan_{p}(uo, m*um); tg_la_nan_{p}(so, k); tg_la_nan_{p}(vo, vn*n); continue;
        }}
        for (int64_t r = 0; r < m; r++) for (int64_t c = 0; c < um; c++) uo[r*um + c] = ub[r + c*m];
        for (int64_t r = 0; r < vn; r++) for (int64_t c = 0; c < n; c++) vo[r*n + c] = vb[r + c*vn];
    }}
}}

/* buf: m*n column-major, tau: k, work: lwork */
static void tg_la_qr_{p}(int site, const {t}* a, {t}* q, {t}* r, int64_t m, int64_t n,
                        int64_t batch,
                        {t}* buf, {t}* tau, {t}* work, tg_lint lwork) {{
    int64_t k = m < n ? m : n;
    for (int64_t bi = 0; bi < batch; bi++) {{
        tg_lint mm = (tg_lint)m, nn = (tg_lint)n, kk = (tg_lint)k, info = 0;
        const {t}* x = a + bi*m*n;
        {t}* qo = q + bi*m*k; {t}* ro = r + bi*k*n;
        for (int64_t i = 0; i < m; i++) for (int64_t j = 0; j < n; j++) buf[i + j*m] = x[i*n + j];
        ((tg_geqrf_t)tg_lapack[{i['geqrf']}])(&mm, &nn, buf, &mm, tau, work, &lwork, &info);
        if (info != 0) {{
            tg_la_fail(site, bi); tg_la_nan_{p}(qo, m*k); tg_la_nan_{p}(ro, k*n); continue;
        }}
        for (int64_t i = 0; i < k; i++) for (int64_t j = 0; j < n; j++)
            ro[i*n + j] = j >= i ? buf[i + j*m] : 0;
        ((tg_orgqr_t)tg_lapack[{i['orgqr']}])(&mm, &kk, &kk, buf, &mm, tau, work, &lwork, &info);
        if (info != 0) {{ tg_la_fail(site, bi); tg_la_nan_{p}(qo, m*k); continue; }}
        for (int64_t i = 0; i < m; i++) for (int64_t j = 0; j < k; j++) qo[i*k + j] = buf[i + j*m];
    }}
}}
"""
    keep = []
    for part in text.split("\n\n"):
        m = re.search(r"static void tg_la_(\w+)_([sd])\(", part)
        if m is None or m.group(1) == "nan" or (m.group(1), m.group(2)) in used:
            keep.append(part)
    return "\n\n".join(keep)



def decls(em) -> str:
    """The LAPACK declarations and helpers of a module whose equations call LAPACK ('' if none);
    the integer width follows the library (ILP64: 64-bit)."""
    if not getattr(em, "uses_lapack", False):
        return ""
    from .blas_lib import blas_functions
    ilp64 = blas_functions()[2]
    lint = "int64_t" if ilp64 else "int32_t"
    n = 2 * len(ROUTINES)
    # (a last empty entry: a program whose only LAPACK call is slogdet has no site)
    sites = ", ".join([_c_string(t) for t in getattr(em, "lapack_sites", [])] + ['""'])
    head = f"""
/* LAPACK through addresses given by set_lapack (codegen/c/lapack.py): Fortran calling
   convention (arguments by address, a trailing length per character argument) */
typedef {lint} tg_lint;
static void* tg_lapack[{n}];
typedef void (*tg_potrf_t)(const char*, const tg_lint*, void*, const tg_lint*, tg_lint*, size_t);
typedef void (*tg_getrf_t)(const tg_lint*, const tg_lint*, void*, const tg_lint*, tg_lint*,
                           tg_lint*);
typedef void (*tg_getrs_t)(const char*, const tg_lint*, const tg_lint*, const void*,
                           const tg_lint*, const tg_lint*, void*, const tg_lint*, tg_lint*,
                           size_t);
typedef void (*tg_syevd_t)(const char*, const char*, const tg_lint*, void*, const tg_lint*,
                           void*, void*, const tg_lint*, tg_lint*, const tg_lint*, tg_lint*,
                           size_t, size_t);
typedef void (*tg_gesdd_t)(const char*, const tg_lint*, const tg_lint*, void*, const tg_lint*,
                           void*, void*, const tg_lint*, void*, const tg_lint*, void*,
                           const tg_lint*, tg_lint*, tg_lint*, size_t);
typedef void (*tg_geqrf_t)(const tg_lint*, const tg_lint*, void*, const tg_lint*, void*, void*,
                           const tg_lint*, tg_lint*);
typedef void (*tg_orgqr_t)(const tg_lint*, const tg_lint*, const tg_lint*, void*,
                           const tg_lint*, const void*, void*, const tg_lint*, tg_lint*);
typedef void (*tg_trsm_s_t)(int32_t, int32_t, int32_t, int32_t, int32_t, tg_lint, tg_lint,
                            float, const float*, tg_lint, float*, tg_lint);
typedef void (*tg_trsm_d_t)(int32_t, int32_t, int32_t, int32_t, int32_t, tg_lint, tg_lint,
                            double, const double*, tg_lint, double*, tg_lint);
/* failures: the first site (equation) and batch index of this thread's call that failed;
   lapack_status() reports and clears it, and the executable raises LinAlgError */
static const char* const tg_la_sites[] = {{ {sites} }};
static __thread int tg_la_site = -1;
static __thread int64_t tg_la_batch = 0;
static void tg_la_fail(int site, int64_t bi) {{
    if (tg_la_site < 0) {{ tg_la_site = site; tg_la_batch = bi; }}
}}
static PyObject* tg_lapack_status(PyObject* self, PyObject* unused) {{
    PyObject* r;
    if (tg_la_site < 0) Py_RETURN_NONE;
    r = Py_BuildValue("(sL)", tg_la_sites[tg_la_site], (long long)tg_la_batch);
    tg_la_site = -1;
    return r;
}}
static PyObject* tg_set_lapack(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {{
    Py_ssize_t i;
    if (nargs != {n}) {{
        PyErr_SetString(PyExc_TypeError, "set_lapack: {n} addresses");
        return NULL;
    }}
    for (i = 0; i < {n}; i++) tg_lapack[i] = PyLong_AsVoidPtr(args[i]);
    if (PyErr_Occurred()) return NULL;
    Py_RETURN_NONE;
}}
"""
    used = getattr(em, "lapack_used", set())
    from .lapack_lu import helpers as lu_helpers
    return head + "".join(_helpers(t, used) + lu_helpers(t, used) for t in ("float", "double")
                          if any(p == ("s" if t == "float" else "d") for _, p in used))


METHOD = ('{"set_lapack", (PyCFunction)(void(*)(void))tg_set_lapack, METH_FASTCALL, '
          '"LAPACK addresses"},\n'
          '    {"lapack_status", (PyCFunction)tg_lapack_status, METH_NOARGS, '
          '"the failed site and batch index, or None"},')


def method(em) -> str:
    return METHOD if getattr(em, "uses_lapack", False) else ""


# --- the emitters -------------------------------------------------------------------------------
def _start(em, a):
    """Mark the module as calling LAPACK (and the BLAS: its thread settings apply); return
    (C type, s/d suffix, order n, batch count) of the square operand ``a``."""
    em.uses_lapack = True
    em.uses_blas = True
    t = ctype(a.aval.dtype)
    n = a.aval.shape[-1]
    batch = 1
    for d in a.aval.shape[:-2]:
        batch *= d
    return t, "s" if t == "float" else "d", n, batch


def _use(em, helper: str, p: str) -> None:
    """Record that this module calls helper ``tg_la_<helper>_<p>`` (decls emits only those)."""
    em.__dict__.setdefault("lapack_used", set()).add((helper, p))


def _lint_bytes() -> int:
    from .blas_lib import blas_functions
    return 8 if blas_functions()[2] else 4


def emit_cholesky(em, e):
    (a,), (o,) = e.inputs, e.outputs
    t, p, n, batch = _start(em, a)
    _use(em, "cholesky", p)
    em.stmt(f"    tg_la_cholesky_{p}({_site(em, e)}, {em.read(a)}, {em.storage(o)}, {n}, "
            f"{batch});", e)


def emit_triangular_solve(em, e):
    (a, b), (o,) = e.inputs, e.outputs
    t, p, n, batch = _start(em, a)
    _use(em, "trisolve", p)
    k = b.aval.shape[-1]
    em.stmt(f"    tg_la_trisolve_{p}({_site(em, e)}, {em.read(a)}, {em.read(b)}, "
            f"{em.storage(o)}, {n}, {k}, "
            f"{batch}, {int(e.params['lower'])}, {int(e.params['transpose_a'])});", e)


def emit_solve(em, e):
    (a, b), (o,) = e.inputs, e.outputs
    t, p, n, batch = _start(em, a)
    _use(em, "solve", p)
    k = b.aval.shape[-1]
    size = a.aval.dtype.itemsize
    lu, off = em.scratch(n * n * size)
    bt, off = em.scratch(n * k * size, off)
    ipiv, off = em.scratch(n * _lint_bytes(), off)
    em.stmt(f"    tg_la_solve_{p}({_site(em, e)}, {em.read(a)}, {em.read(b)}, {em.storage(o)}, "
            f"{n}, {k}, {batch}, "
            f"{int(e.params['transpose_a'])}, ({t}*){lu}, (tg_lint*){ipiv}, ({t}*){bt});", e)


def emit_slogdet(em, e):
    (a,), (sign, logdet) = e.inputs, e.outputs
    t, p, n, batch = _start(em, a)
    _use(em, "slogdet", p)
    size = a.aval.dtype.itemsize
    lu, off = em.scratch(max(n * n, 1) * size)
    ipiv, off = em.scratch(max(n, 1) * _lint_bytes(), off)
    em.stmt(f"    tg_la_slogdet_{p}({em.read(a)}, {em.storage(sign)}, {em.storage(logdet)}, {n}, "
            f"{batch}, ({t}*){lu}, (tg_lint*){ipiv});", e)


def emit_eigh(em, e):
    (a,), (w, v) = e.inputs, e.outputs
    t, p, n, batch = _start(em, a)
    _use(em, "eigh", p)
    size = a.aval.dtype.itemsize
    lwork, liwork = 1 + 6 * n + 2 * n * n, 3 + 5 * n  # syevd's minimum with eigenvectors
    buf, off = em.scratch(n * n * size)
    work, off = em.scratch(lwork * size, off)
    iwork, off = em.scratch(liwork * _lint_bytes(), off)
    em.stmt(f"    tg_la_eigh_{p}({_site(em, e)}, {em.read(a)}, {em.storage(w)}, {em.storage(v)}, "
            f"{n}, {batch}, "
            f"({t}*){buf}, ({t}*){work}, {lwork}, (tg_lint*){iwork}, {liwork});", e)


def _matrix_dims(em, a):
    """(C type, suffix, m, n, batch) of a rectangular operand (marks the module as above)."""
    em.uses_lapack = True
    em.uses_blas = True
    t = ctype(a.aval.dtype)
    m, n = a.aval.shape[-2:]
    batch = 1
    for d in a.aval.shape[:-2]:
        batch *= d
    return t, "s" if t == "float" else "d", m, n, batch


def emit_svd(em, e):
    (a,), (u, s, vt) = e.inputs, e.outputs
    t, p, m, n, batch = _matrix_dims(em, a)
    _use(em, "svd", p)
    full = bool(e.params["full_matrices"])
    k, mx = min(m, n), max(m, n)
    um, vn = (m, n) if full else (k, k)
    size = a.aval.dtype.itemsize
    lwork = 5 * k * k + 9 * k + mx + 64  # above gesdd's minimum for jobz 'S' and 'A'
    buf, off = em.scratch(max(m * n, 1) * size)
    ub, off = em.scratch(max(m * um, 1) * size, off)
    vb, off = em.scratch(max(vn * n, 1) * size, off)
    work, off = em.scratch(lwork * size, off)
    iwork, off = em.scratch(max(8 * k, 1) * _lint_bytes(), off)
    em.stmt(f"    tg_la_svd_{p}({_site(em, e)}, {em.read(a)}, {em.storage(u)}, {em.storage(s)}, "
            f"{em.storage(vt)}, "
            f"{m}, {n}, {batch}, {int(full)}, ({t}*){buf}, ({t}*){ub}, ({t}*){vb}, ({t}*){work}, "
            f"{lwork}, (tg_lint*){iwork});", e)


def emit_qr(em, e):
    (a,), (q, r) = e.inputs, e.outputs
    t, p, m, n, batch = _matrix_dims(em, a)
    _use(em, "qr", p)
    size = a.aval.dtype.itemsize
    lwork = 64 * max(m, n, 1) + 64  # blocked Householder: n * block size
    buf, off = em.scratch(max(m * n, 1) * size)
    tau, off = em.scratch(max(min(m, n), 1) * size, off)
    work, off = em.scratch(lwork * size, off)
    em.stmt(f"    tg_la_qr_{p}({_site(em, e)}, {em.read(a)}, {em.storage(q)}, {em.storage(r)}, "
            f"{m}, {n}, {batch}, "
            f"({t}*){buf}, ({t}*){tau}, ({t}*){work}, {lwork});", e)


register_lowering(svd_p, emit=emit_svd)
register_lowering(qr_p, emit=emit_qr)
register_lowering(cholesky_p, emit=emit_cholesky)
register_lowering(triangular_solve_p, emit=emit_triangular_solve)
register_lowering(solve_p, emit=emit_solve)
register_lowering(slogdet_p, emit=emit_slogdet)
register_lowering(eigh_p, emit=emit_eigh)
from . import lapack_lu  # noqa: E402,F401  (the lu primitive: getrf)
from . import linalg_eig  # noqa: E402,F401  (eig: refused, complex results)
