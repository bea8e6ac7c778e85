"""The ``fft`` primitive on the C backend: a call of NumPy's pocketfft (``numpy.fft``) through
the CPython C-API, the same call the NumPy backend makes, so both backends give the same bits.

FFTW is not installed here (``ldconfig -p | grep fftw`` is empty), and a hand-written C FFT
would be slower than pocketfft. Each FFT equation (top level or in a loop body) becomes one
statement ``if (tg_fft_call(...)) return 1;`` whose helper, with the GIL held (re-acquired by
``PyGILState_Ensure``: the program body may run without it, module.py), wraps the input buffer
as an array without copying (a read-only memoryview, ``numpy.frombuffer``, ``reshape``), calls
``numpy.fft.fftn/ifftn(a, None, axes, norm, out)`` or ``rfft/irfft(a, n, axis, norm, out)``
with ``out`` the planned output buffer wrapped the same way (NumPy 2 keeps single precision,
so the IR's dtype is NumPy's and the NumPy backend's ``astype`` is no cast). A Python
exception stays set and the program returns 1, which ``tg_run`` turns into the call's
exception. The functions are looked up once per module, at its first FFT call.

Measured (sum(abs(rfft(x))), x 64x1024 float64, best of 7x50): C 105 us, NumPy backend
112 us, NumPy eager 110 us, of which rfft alone 85 us. Copying NumPy's result into the
planned buffer instead of passing ``out=`` cost C 11 us (116-118 us).
"""
from __future__ import annotations

from tracegrad.prims.fft import KINDS, fft_p

from .lowerings import register_lowering

_HELPER = r"""#ifndef TG_FFT_HELPER
#define TG_FFT_HELPER
/* numpy.fft through the C-API (codegen/c/fft.py): [0..3] fftn ifftn rfft irfft, then
   numpy.frombuffer; looked up at the module's first FFT, under the GIL */
static PyObject* tg_fft_fns[5] = {NULL, NULL, NULL, NULL, NULL};

static int tg_fft_setup(void) {
    static const char* const names[5] = {"fftn", "ifftn", "rfft", "irfft", "frombuffer"};
    PyObject* np;
    PyObject* npfft;
    int i;
    if (tg_fft_fns[4] != NULL) return 0;
    np = PyImport_ImportModule("numpy");
    npfft = np ? PyImport_ImportModule("numpy.fft") : NULL;
    for (i = 0; npfft != NULL && i < 5; i++) {
        PyObject* f = PyObject_GetAttrString(i < 4 ? npfft : np, names[i]);
        if (f == NULL) break;
        tg_fft_fns[i] = f;  /* kept for the module's life */
    }
    Py_XDECREF(npfft); Py_XDECREF(np);
    return tg_fft_fns[4] != NULL ? 0 : -1;
}

/* an array over n elements of dtype at p (no copy), of shape (a tuple) */
static PyObject* tg_fft_view(void* p, Py_ssize_t nbytes, int writable, const char* dtype,
                             PyObject* shape) {
    PyObject* mv = PyMemoryView_FromMemory((char*)p, nbytes, writable ? PyBUF_WRITE : PyBUF_READ);
    PyObject* flat = mv ? PyObject_CallFunction(tg_fft_fns[4], "Os", mv, dtype) : NULL;
    PyObject* r = flat ? PyObject_CallMethod(flat, "reshape", "(O)", shape) : NULL;
    Py_XDECREF(flat); Py_XDECREF(mv);
    return r;
}

/* y = numpy.fft.<kind>(x, ...) copied into out; 0, or -1 with a Python exception set.
   axes: the transformed axes (one for rfft/irfft, whose length is n) */
static int tg_fft_call(int kind, const void* x, Py_ssize_t xbytes, const char* xdt,
                       void* out, Py_ssize_t obytes, const char* odt, int ndim,
                       const int64_t* xshape, const int64_t* oshape, int naxes,
                       const int64_t* axes, int64_t n, const char* norm) {
    PyGILState_STATE gil = PyGILState_Ensure();
    PyObject *xs = NULL, *os = NULL, *ax = NULL, *a = NULL, *o = NULL, *r = NULL;
    int i, rc = -1;
    if (tg_fft_setup() < 0) goto done;
    xs = PyTuple_New(ndim); os = PyTuple_New(ndim); ax = PyTuple_New(naxes);
    if (xs == NULL || os == NULL || ax == NULL) goto done;
    for (i = 0; i < ndim; i++) {
        PyTuple_SET_ITEM(xs, i, PyLong_FromLongLong(xshape[i]));
        PyTuple_SET_ITEM(os, i, PyLong_FromLongLong(oshape[i]));
    }
    for (i = 0; i < naxes; i++) PyTuple_SET_ITEM(ax, i, PyLong_FromLongLong(axes[i]));
    if (PyErr_Occurred()) goto done;
    a = tg_fft_view((void*)x, xbytes, 0, xdt, xs);
    o = a ? tg_fft_view(out, obytes, 1, odt, os) : NULL;
    if (o == NULL) goto done;
    /* straight into the output buffer (out=: NumPy 2's transforms are gufuncs writing the
       IR's dtype, NumPy's result dtype; were it to overlap the input, which the plan never
       does (no in-place pairs for fft), the ufunc machinery would copy the input first) */
    if (kind < 2)  /* fftn / ifftn (a, s, axes, norm, out) */
        r = PyObject_CallFunction(tg_fft_fns[kind], "OOOsO", a, Py_None, ax, norm, o);
    else           /* rfft / irfft (a, n, axis, norm, out) */
        r = PyObject_CallFunction(tg_fft_fns[kind], "OLLsO", a, (long long)n,
                                  (long long)axes[0], norm, o);
    rc = r ? 0 : -1;
done:
    Py_XDECREF(r); Py_XDECREF(o); Py_XDECREF(a);
    Py_XDECREF(ax); Py_XDECREF(os); Py_XDECREF(xs);
    PyGILState_Release(gil);  /* an exception stays set in this thread's state */
    return rc;
}
#endif"""


def _ints(values) -> str:
    return "(const int64_t[]){" + ", ".join(f"{int(v)}LL" for v in values) + "}"


def emit_fft(em, e):
    x, o = e.inputs[0], e.outputs[0]
    p = e.params
    kind, axes, lengths = p["kind"], tuple(p["axes"]), tuple(p["lengths"])
    assert p["norm"] in ("backward", "ortho", "forward")  # a C string literal as it is
    if _HELPER not in em.kernels:  # one module: loop bodies share the parent's kernel list
        em.kernels.append(_HELPER)
    xs, os = x.aval.shape, o.aval.shape  # at least one axis: the one transformed
    em.stmt(f"    if (tg_fft_call({KINDS.index(kind)}, {em.read(x)}, {x.aval.nbytes}, "
            f"\"{x.aval.dtype}\", {em.storage(o)}, {o.aval.nbytes}, \"{o.aval.dtype}\", "
            f"{len(x.aval.shape)}, {_ints(xs)}, {_ints(os)}, {len(axes)}, {_ints(axes)}, "
            f"{int(lengths[0])}LL, \"{p['norm']}\")) return 1;", e)


register_lowering(fft_p, emit=emit_fft)
