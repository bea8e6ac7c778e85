"""The ``fft`` primitive on the C backend (codegen/c/fft.py: numpy.fft called through the
C-API): every fft row of tests/cases.py and every transform of test_fft.py bit-for-bit against
the NumPy backend (the same pocketfft call), gradients, an FFT in a scan body, programs that
release the GIL run from two threads, and a Python exception raised by numpy.fft becoming the
call's exception (top level and in a loop body), never a re-run or a returned buffer.
"""
from __future__ import annotations

import threading

import numpy as np
import pytest

import tracegrad as tg

from cases import CASES, make_args, shapes_id
from c_support import needs_c
from test_fft import COMPLEX_IN, FORWARD, X, Z, _loss

pytestmark = needs_c

FFT_ROWS = [pytest.param(c, s, dt, id=f"{c.id}-{shapes_id(s)}-{dt}")
            for c in CASES if c.prim == "fft" for s in c.shapes for dt in c.dtypes]


def _both(f, *args):
    return tg.jit(f, backend="c")(*args), tg.jit(f, backend="numpy")(*args)


def _same_bits(got, want):
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


def test_every_fft_row_of_the_table_is_here():
    assert len(FFT_ROWS) >= 20  # cases_fft's 9 rows x shapes x float32/float64


@pytest.mark.parametrize("case, shape_set, dtype", FFT_ROWS)
def test_fft_rows_on_c_are_the_numpy_backends_bits(case, shape_set, dtype):
    args = make_args(case, shape_set, dtype, np.random.default_rng(0))
    fn = tg.jit(case.fn, backend="c")
    assert fn.lower(*args).stats["backend"] == "c"
    _same_bits(fn(*args), tg.jit(case.fn, backend="numpy")(*args))


@pytest.mark.parametrize("name, f", FORWARD, ids=[n for n, _ in FORWARD])
@pytest.mark.parametrize("dtype", [np.complex128, np.complex64])
def test_transforms_on_c_are_the_numpy_backends_bits(name, f, dtype):
    _same_bits(*_both(f, Z.astype(dtype)))


@pytest.mark.parametrize("name, f", COMPLEX_IN, ids=[n for n, _ in COMPLEX_IN])
def test_gradients_on_c_match_the_numpy_backend(name, f):
    """The transposes (fft of the cotangent, rfft with Hermitian weights) run on C too; the
    elementwise kernels around them may round differently from NumPy's loops by an ulp."""
    g = tg.grad(lambda a: _loss(f(a)))
    got, want = _both(g, Z)
    assert got.dtype == want.dtype
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)


def test_gradient_of_a_real_signal_through_rfft_on_c():
    g = tg.value_and_grad(lambda x: np.sum(np.abs(np.fft.rfft(x, axis=0, norm="ortho")) ** 3))
    (v, got), (w, want) = _both(g, X)
    np.testing.assert_allclose(v, w, rtol=1e-13)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-13)


def _scan_fft(x):
    def step(c, row):
        y = np.fft.irfft(np.fft.rfft(row + c) * 0.5, n=row.shape[0])
        return y, np.abs(np.fft.fft(y + 1j * c))
    return tg.scan(step, x[0], x)


def test_fft_in_a_scan_body_on_c():
    fn = tg.jit(_scan_fft, backend="c")
    ir = fn.lower(X).ir
    assert any(e.prim.name == "scan" and any(b.prim.name == "fft" for b in
                                             e.params["body"].eqns) for e in ir.eqns)
    got, want = fn(X), tg.jit(_scan_fft, backend="numpy")(X)
    for g, w in zip(got, want):
        _same_bits(g, w)
    gg = tg.grad(lambda x: np.sum(_scan_fft(x)[1] ** 2))
    np.testing.assert_allclose(*_both(gg, X), rtol=1e-12, atol=1e-13)


def test_auto_runs_fft_programs_on_c(monkeypatch):
    monkeypatch.setenv("TRACEGRAD_BACKEND", "auto")
    f = tg.jit(lambda x: np.abs(np.fft.rfft(x)), backend="auto")
    assert f.lower(X).stats["backend"] == "c"
    _same_bits(f(X), tg.jit(lambda x: np.abs(np.fft.rfft(x)), backend="numpy")(X))


def test_programs_that_release_the_gil_call_numpy_from_two_threads():
    """Big enough to run without the GIL (module.RELEASE_GIL_MIN_FLOPS): the FFT statement
    takes it back (PyGILState_Ensure) while another thread runs the same program."""
    x = np.random.default_rng(1).normal(size=(64, 256))
    prog = lambda x: np.sum(np.abs(np.fft.rfft(np.tanh(x) * 2.0 + x)), axis=1)  # noqa: E731
    f = tg.jit(prog, backend="c")
    assert "Py_BEGIN_ALLOW_THREADS" in f.lower(x).source
    want = tg.jit(prog, backend="numpy")(x)
    results, errors = [], []

    def work():
        try:
            for _ in range(20):
                results.append(f(x))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 40
    for r in results:
        np.testing.assert_allclose(r, want, rtol=1e-12)


class _Boom(RuntimeError):
    pass


@pytest.mark.parametrize("where", ["top level", "scan body"])
def test_a_python_exception_in_numpy_fft_is_the_calls_exception(monkeypatch, where):
    """numpy.fft raising (memory, a patched function) stops the program at that statement and
    raises in the caller, once: tg_run must not take the early return for a Ctrl-C and re-run.
    The functions are looked up at the module's first FFT, so the patch is in place before a
    module of a shape no other test compiles runs for the first time."""
    x = np.ones((3, 13)) * (2.0 if where == "top level" else 3.0)
    if where == "top level":
        g = tg.jit(lambda x: np.abs(np.fft.rfft(x)) * 2.0, backend="c")
    else:
        g = tg.jit(lambda x: tg.scan(lambda c, r: (c + np.abs(np.fft.rfft(r)).sum(), c),
                                     0.0, x), backend="c")
    g.lower(x)  # traced and built with NumPy's rfft; the module has not run yet
    calls = []

    def boom(*args, **kwargs):
        calls.append(args)
        raise _Boom("pocketfft failed")
    monkeypatch.setattr(np.fft, "rfft", boom)
    with pytest.raises(_Boom, match="pocketfft failed"):
        g(x)
    assert len(calls) == 1  # not re-run
