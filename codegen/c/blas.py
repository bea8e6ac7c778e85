"""``dot_general`` in C: float contractions call OpenBLAS's sgemm/dgemm (complex ones cgemm/zgemm,
blas_complex.py) (with the transposes
that match the operands' memory layout, one call per batch element; gemv when one side has a
single free row or column); an operand whose
contracted and free axes are interleaved is first copied into scratch space in the canonical
order. Integer contractions (no BLAS type), and float ones with a dimension the LP64 BLAS
cannot take (above INT_MAX, other than a tall lhs, which goes in row blocks), run a plain loop
with 64-bit indices."""
from __future__ import annotations

from tracegrad.prims import dot_general_p

from . import multi_gemv, tiling
from .lowerings import ctype, register_lowering

# Largest M, N, K (and leading dimension) passed to the LP64 BLAS, whose sizes are C ints; a
# module constant so tests can lower it and run the row-block and loop paths on small arrays.
BLAS_INT_MAX = 2 ** 31 - 1


def _strides(shape):
    st, acc = [], 1
    for d in reversed(shape):
        st.append(acc)
        acc *= d
    return list(reversed(st))


def _size(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def _layout(shape, batch, contract, free):
    """'N' if the non-batch axes are free-then-contract, 'T' if contract-then-free (in the
    paired order), else None (needs a copy)."""
    rest = [d for d in range(len(shape)) if d not in batch]
    if rest == list(free) + list(contract):
        return "N"
    if rest == list(contract) + list(free):
        return "T"
    return None


def emit_dot(em, e):
    a, b = e.inputs
    o = e.outputs[0]
    (lc, rc), (lb, rb) = e.params["dimension_numbers"]
    lc, rc, lb, rb = list(lc), list(rc), list(lb), list(rb)
    # contract in ascending order of lhs axes (the pairing is kept)
    pairs = sorted(zip(lc, rc))
    lc, rc = [p[0] for p in pairs], [p[1] for p in pairs]
    sa, sb = a.aval.shape, b.aval.shape
    fa = [d for d in range(len(sa)) if d not in lc and d not in lb]
    fb = [d for d in range(len(sb)) if d not in rc and d not in rb]
    nb = _size([sa[d] for d in lb])
    M, K, N = _size([sa[d] for d in fa]), _size([sa[d] for d in lc]), _size([sb[d] for d in fb])
    t = ctype(o.aval.dtype)
    out = em.storage(o)
    pa, pb = em.read(a), em.read(b)
    la = _layout(sa, lb, lc, fa)
    lrb = _layout(sb, rb, rc, fb)   # rhs: "N" = free-then-contract = N x K, so B^T
    off = 0
    em.stmt(f"    /* contraction: batch {nb}, M {M}, K {K}, N {N} */", e)
    if la is None:
        pa, off = _copy_canonical(em, e, a, lb + fa + lc, off)
        la = "N"
    if lrb is None:
        pb, off = _copy_canonical(em, e, b, rb + rc + fb, off)
        lrb = "T"  # contract-then-free: K x N, i.e. no transpose for B
    trans_b = "TgTrans" if lrb == "N" else "TgNoTrans"
    ldb = K if lrb == "N" else N
    trans_a = "TgNoTrans" if la == "N" else "TgTrans"
    lda = K if la == "N" else M
    if M * N == 0:
        return
    if K == 0:
        em.stmt(f"    memset({out}, 0, {o.aval.nbytes});")
        return
    # The BLAS is LP64: M, N, K and the leading dimensions are C ints. Beyond INT_MAX they
    # would be truncated, so a too-tall lhs (only M too big, rows contiguous) is multiplied in
    # row blocks, and anything else too large runs the 64-bit loop below.
    fits = max(M, N, K) <= BLAS_INT_MAX
    row_blocks = not fits and la == "N" and max(N, K) <= BLAS_INT_MAX
    if t.endswith("_Complex") and fits:  # cgemm/zgemm (blas_complex.py)
        from .blas_complex import gemm_call
        em.stmt(gemm_call(em, t, nb, M, N, K, trans_a, trans_b, pa, pb, out, lda, ldb))
        return
    if fits and multi_gemv.applies(t, M, N, K, la, lrb):  # 2-8 rows: the matrix read once
        multi_gemv.emit(em, t, nb, M, N, K, la, lrb, pa, pb, out)
        return
    if t in ("float", "double") and (fits or row_blocks):
        em.uses_blas = True
        gemm = "tg_sgemm" if t == "float" else "tg_dgemm"  # through set_blas's addresses
        one, zero = ("1.0f", "0.0f") if t == "float" else ("1.0", "0.0")
        if fits and (N == 1 or M == 1):
            _emit_gemv(em, t, nb, M, N, K, la, lrb, pa, pb, out, o.aval.nbytes)
            return
        if fits:
            em.stmt(f"    for (int64_t bi = 0; bi < {nb}; bi++)\n"
                    f"        {gemm}(TgRowMajor, {trans_a}, {trans_b}, {M}, {N}, {K}, {one},\n"
                    f"            ({t}*){pa} + bi*{M * K}, {lda}, ({t}*){pb} + bi*{K * N}, {ldb},"
                    f" {zero}, {out} + bi*{M * N}, {N});")
            return
        block = BLAS_INT_MAX
        em.stmt(f"    for (int64_t bi = 0; bi < {nb}; bi++)\n"
                f"      for (int64_t m0 = 0; m0 < {M}; m0 += {block}) {{\n"
                f"        int64_t mm = {M} - m0 < {block} ? {M} - m0 : {block};\n"
                f"        {gemm}(TgRowMajor, TgNoTrans, {trans_b}, (int)mm, {N}, {K}, {one},\n"
                f"            ({t}*){pa} + bi*{M * K} + m0*{K}, {K}, ({t}*){pb} + bi*{K * N},"
                f" {ldb}, {zero}, {out} + bi*{M * N} + m0*{N}, {N});\n"
                f"      }}")
        return
    acc = "double" if t in ("float", "double") else \
        ("double _Complex" if t.endswith("_Complex") else "int64_t")
    ia = f"m*{K} + k" if la == "N" else f"k*{M} + m"
    ib = f"n*{K} + k" if lrb == "N" else f"k*{N} + n"
    em.stmt(f"    for (int64_t bi = 0; bi < {nb}; bi++)\n"
            f"      for (int64_t m = 0; m < {M}; m++)\n"
            f"        for (int64_t n = 0; n < {N}; n++) {{\n"
            f"          {acc} s = 0;\n"
            f"          for (int64_t k = 0; k < {K}; k++) s += ({acc})(({t}*){pa})[bi*{M * K} + "
            f"{ia}] * (({t}*){pb})[bi*{K * N} + {ib}];\n"
            f"          {out}[bi*{M * N} + m*{N} + n] = ({t})s;\n"
            f"        }}")


def _emit_gemv(em, t, nb, M, N, K, la, lrb, pa, pb, out, nbytes):
    """A product with one output column (N == 1) or row (M == 1) is a matrix-vector product:
    gemv reads the matrix once in place where gemm with one column packs it first (3-4x slower
    for a 1000x1000 float32 matrix). The vector operand is contiguous in either layout. The
    output is zeroed first: with beta = 0 some OpenBLAS versions scale the old contents by 0,
    which keeps a NaN left in the arena."""
    gemv = "tg_sgemv" if t == "float" else "tg_dgemv"
    one, zero = ("1.0f", "0.0f") if t == "float" else ("1.0", "0.0")
    if N == 1:  # out[M] = op(A) x: A is M x K ("N") or K x M ("T"), row-major
        mat, vec, rows = pa, pb, (M, K) if la == "N" else (K, M)
        trans = "TgNoTrans" if la == "N" else "TgTrans"
        mstride, vstride = M * K, K * N
    else:  # out[N] = x op(B): B is N x K ("N") or K x N ("T")
        mat, vec, rows = pb, pa, (N, K) if lrb == "N" else (K, N)
        trans = "TgNoTrans" if lrb == "N" else "TgTrans"
        mstride, vstride = K * N, M * K
    r, c = rows
    em.stmt(f"    memset({out}, 0, {nbytes});\n"
            f"    for (int64_t bi = 0; bi < {nb}; bi++)\n"
            f"        {gemv}(TgRowMajor, {trans}, {r}, {c}, {one}, ({t}*){mat} + bi*{mstride}, {c},"
            f" ({t}*){vec} + bi*{vstride}, 1, {zero}, {out} + bi*{M * N}, 1);")


def _copy_canonical(em, e, x, order, off):
    """Copy ``x`` transposed to axis ``order`` into scratch; return (pointer, next offset)."""
    shape = x.aval.shape
    t = ctype(x.aval.dtype)
    ptr, nxt = em.scratch(x.aval.nbytes, off)
    ist = _strides(shape)
    nshape = [shape[d] for d in order]
    ost = _strides(nshape)
    src = " + ".join(f"j{k}*{ist[d]}" for k, d in enumerate(order)) or "0"
    dst = " + ".join(f"j{k}*{ost[k]}" for k in range(len(order))) or "0"
    if tiling.emit_copy_kernel(em, shape, order, t, em.read(x), f"({t}*){ptr}"):
        return f"(({t}*){ptr})", nxt  # a transposed read: in cache tiles (tiling.py)
    loops = "".join(f"for (int64_t j{k} = 0; j{k} < {n}; j{k}++) " for k, n in enumerate(nshape))
    em.stmt(f"    {{ const {t}* restrict s = {em.read(x)}; {t}* restrict d = ({t}*){ptr};\n"
            f"      {loops}d[{dst}] = s[{src}]; }}")
    return f"(({t}*){ptr})", nxt


_BLAS_DECLS = """
/* gemm through addresses given by set_blas (codegen/c/blas_lib.py): NumPy's own OpenBLAS
   (ILP64: 64-bit sizes) when found, else scipy-openblas32's (LP64: 32-bit sizes) */
enum TG_CBLAS_ORDER { TgRowMajor = 101 };
enum TG_CBLAS_TRANSPOSE { TgNoTrans = 111, TgTrans = 112 };
typedef void (*tg_sgemm64_t)(int32_t, int32_t, int32_t, int64_t, int64_t, int64_t, float, const float*,
                             int64_t, const float*, int64_t, float, float*, int64_t);
typedef void (*tg_dgemm64_t)(int32_t, int32_t, int32_t, int64_t, int64_t, int64_t, double, const double*,
                             int64_t, const double*, int64_t, double, double*, int64_t);
typedef void (*tg_sgemm32_t)(int32_t, int32_t, int32_t, int32_t, int32_t, int32_t, float, const float*,
                             int32_t, const float*, int32_t, float, float*, int32_t);
typedef void (*tg_dgemm32_t)(int32_t, int32_t, int32_t, int32_t, int32_t, int32_t, double, const double*,
                             int32_t, const double*, int32_t, double, double*, int32_t);
static void* tg_blas_s = NULL;
static void* tg_blas_d = NULL;
static int64_t tg_blas_ilp64 = 0;
static void tg_sgemm(int32_t o, int32_t ta, int32_t tb, int64_t m, int64_t n, int64_t k, float al,
                     const float* a, int64_t lda, const float* b, int64_t ldb, float be,
                     float* c, int64_t ldc) {
    if (tg_blas_ilp64) ((tg_sgemm64_t)tg_blas_s)(o, ta, tb, m, n, k, al, a, lda, b, ldb, be, c, ldc);
    else ((tg_sgemm32_t)tg_blas_s)(o, ta, tb, (int32_t)m, (int32_t)n, (int32_t)k, al, a,
                                   (int32_t)lda, b, (int32_t)ldb, be, c, (int32_t)ldc);
}
static void tg_dgemm(int32_t o, int32_t ta, int32_t tb, int64_t m, int64_t n, int64_t k, double al,
                     const double* a, int64_t lda, const double* b, int64_t ldb, double be,
                     double* c, int64_t ldc) {
    if (tg_blas_ilp64) ((tg_dgemm64_t)tg_blas_d)(o, ta, tb, m, n, k, al, a, lda, b, ldb, be, c, ldc);
    else ((tg_dgemm32_t)tg_blas_d)(o, ta, tb, (int32_t)m, (int32_t)n, (int32_t)k, al, a,
                                   (int32_t)lda, b, (int32_t)ldb, be, c, (int32_t)ldc);
}
typedef void (*tg_sgemv64_t)(int32_t, int32_t, int64_t, int64_t, float, const float*, int64_t,
                             const float*, int64_t, float, float*, int64_t);
typedef void (*tg_dgemv64_t)(int32_t, int32_t, int64_t, int64_t, double, const double*, int64_t,
                             const double*, int64_t, double, double*, int64_t);
typedef void (*tg_sgemv32_t)(int32_t, int32_t, int32_t, int32_t, float, const float*, int32_t,
                             const float*, int32_t, float, float*, int32_t);
typedef void (*tg_dgemv32_t)(int32_t, int32_t, int32_t, int32_t, double, const double*, int32_t,
                             const double*, int32_t, double, double*, int32_t);
static void* tg_blas_sv = NULL;
static void* tg_blas_dv = NULL;
static void tg_sgemv(int32_t o, int32_t ta, int64_t m, int64_t n, float al, const float* a,
                     int64_t lda, const float* x, int64_t ix, float be, float* y, int64_t iy) {
    if (tg_blas_ilp64) ((tg_sgemv64_t)tg_blas_sv)(o, ta, m, n, al, a, lda, x, ix, be, y, iy);
    else ((tg_sgemv32_t)tg_blas_sv)(o, ta, (int32_t)m, (int32_t)n, al, a, (int32_t)lda, x,
                                    (int32_t)ix, be, y, (int32_t)iy);
}
static void tg_dgemv(int32_t o, int32_t ta, int64_t m, int64_t n, double al, const double* a,
                     int64_t lda, const double* x, int64_t ix, double be, double* y, int64_t iy) {
    if (tg_blas_ilp64) ((tg_dgemv64_t)tg_blas_dv)(o, ta, m, n, al, a, lda, x, ix, be, y, iy);
    else ((tg_dgemv32_t)tg_blas_dv)(o, ta, (int32_t)m, (int32_t)n, al, a, (int32_t)lda, x,
                                    (int32_t)ix, be, y, (int32_t)iy);
}
static PyObject* tg_set_blas(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
    if (nargs != 5) { PyErr_SetString(PyExc_TypeError, "set_blas(sgemm, dgemm, ilp64, sgemv, dgemv)"); return NULL; }
    tg_blas_s = PyLong_AsVoidPtr(args[0]);
    tg_blas_d = PyLong_AsVoidPtr(args[1]);
    tg_blas_ilp64 = (int64_t)PyLong_AsLong(args[2]);
    tg_blas_sv = PyLong_AsVoidPtr(args[3]);
    tg_blas_dv = PyLong_AsVoidPtr(args[4]);
    if (PyErr_Occurred()) return NULL;
    Py_RETURN_NONE;
}
#define TG_HAS_BLAS 1
"""


register_lowering(dot_general_p, emit=emit_dot)
