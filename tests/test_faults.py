"""Faults and edge conditions of the compiled backends (issue 8): arrays past 2**31 elements,
NaN and inf, zero-size arrays, unusual input memory layouts, several threads and processes
compiling the same function, and cache directories that cannot be written.

Tests of the C runtime alone (a process killed mid-compile, corrupt entries, two processes
publishing one entry) are in test_c_runtime.py; these go through ``tg.jit``.
"""
from __future__ import annotations

import re

import numpy as np
import pytest

import tracegrad as tg
from tracegrad.codegen import c_blas
from tracegrad.codegen.c_emit import emit_c
from tracegrad.passes.fuse import fuse

INT_MAX = 2 ** 31 - 1


def _c_works() -> bool:
    try:
        tg.jit(lambda x: x + 1, backend="c")(np.ones(2))
        return True
    except tg.CompileError:
        return False


needs_c = pytest.mark.skipif(not _c_works(), reason="no working C compiler here")


# --- arrays above 2**31 elements: checked on the emitted C, nothing is allocated -------------
def _abstract(*shape, dtype=np.float64):
    """A zero-stride array of ``shape``: tracing reads only shapes and dtypes."""
    return np.broadcast_to(np.zeros((), dtype), shape)


BIG = 2 ** 31 + 7
BIG_PROGRAMS = {
    "map-reduce": (lambda x: (np.tanh(x) * 2.0 + 1.0, np.sum(np.exp(x))), _abstract(BIG)),
    "strided-reversed": (lambda x: (x[::-3], x[::-1] + 1.0), _abstract(BIG)),
    "cumsum-argmax": (lambda x: (np.cumsum(x), np.argmax(x)), _abstract(BIG)),
    "transpose-2d": (lambda x: x.T + 1.0, _abstract(3, 2 ** 30 + 1)),
    "sum-axis0": (lambda x: np.sum(x, axis=0), _abstract(2 ** 30 + 1, 3)),
    "pad-concat": (lambda x: (np.pad(x, 1), np.concatenate([x, x])), _abstract(2 ** 30 + 7)),
    "gather": (lambda x, i: x[i] * 2.0, _abstract(3, 2 ** 30 + 1), _abstract(5, dtype=np.int64)),
    "scatter-add": (lambda x, i: tg.grad(lambda a: np.sum(a[i] ** 2))(x), _abstract(BIG),
                    _abstract(5, dtype=np.int64)),
    "broadcast": (lambda x, y: x[:, None] * y[None, :], _abstract(2 ** 16 + 1),
                  _abstract(2 ** 15 + 1)),
    "tall-matvec": (lambda a, b: a @ b, _abstract(BIG, 2), _abstract(2)),
    "long-dot": (lambda a, b: a @ b, _abstract(BIG), _abstract(BIG)),
    "int-matmul": (lambda a, b: a @ b, _abstract(BIG, 2, dtype=np.int64),
                   _abstract(2, 3, dtype=np.int64)),
}
# ints the generated C may declare: thread ids and counts, buffer flags, the argument count
_ALLOWED_INTS = {"t", "nt", "nparts", "anynan", "flags", "nanparts", "tg_nthreads"}


def _c_source(fn, *args) -> str:
    graph = fuse(tg.make_ir(fn)(*args), force=True)  # as CExecutable does
    return emit_c(graph, "big").source


@pytest.mark.parametrize("name", list(BIG_PROGRAMS))
def test_arrays_above_2_31_elements_index_with_64_bit_integers(name):
    fn, *args = BIG_PROGRAMS[name]
    src = _c_source(fn, *args)
    for line in src.splitlines():
        # every loop counter, index and size is int64_t; a C int (32 bits) only for the
        # allow-listed thread and flag variables
        for m in re.finditer(r"\bint\s+(\w+)\s*[=;\[,)]", line):
            assert m.group(1) in _ALLOWED_INTS, line
        assert "(int)" not in line or "(int)n" in line or "(int)mm" in line, line
        assert not re.search(r"\b(unsigned|short|int32_t\s+[a-z]\w*\s*=\s*\w+\s*\*)", line), line
    # the LP64 BLAS takes C ints: M, N, K and the leading dimensions must each fit in one
    for call in re.findall(r"scipy_cblas_[sd]gemm\((TgRowMajor,[^;]*)\);", src):
        args = [a.strip() for a in call.split(",")]
        for i in (3, 4, 5, 8, 10, 13):  # M N K lda ldb ldc
            assert args[i] == "(int)mm" or int(args[i]) <= INT_MAX, call


def test_a_tall_product_goes_to_blas_in_row_blocks_and_a_long_one_to_a_64_bit_loop():
    tall = _c_source(lambda a, b: a @ b, _abstract(BIG, 2), _abstract(2))
    assert "m0 += 2147483647" in tall and "scipy_cblas_dgemm" in tall.split("PyInit_")[0]
    long = _c_source(lambda a, b: a @ b, _abstract(BIG), _abstract(BIG))
    assert "for (int64_t k = 0; k < 2147483655; k++)" in long


@needs_c
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shapes,fn", [
    (((7, 3), (3, 4)), lambda a, b: a @ b),           # M above the limit: row blocks
    (((2, 7, 3), (2, 3, 4)), lambda a, b: a @ b),     # ... in every batch element
    (((3, 7), (7, 4)), lambda a, b: a @ b),           # K above it: the loop
    (((3, 2), (2, 9)), lambda a, b: a @ b),           # N above it: the loop
    (((7, 3), (7, 4)), lambda a, b: a.T @ b),         # a transposed lhs
], ids=["rows", "batched-rows", "long-k", "wide-n", "transposed"])
def test_blas_limit_paths_compute_the_same_product(monkeypatch, shapes, fn, dtype):
    """The paths taken past INT_MAX, run for real with the limit lowered to 5."""
    monkeypatch.setattr(c_blas, "BLAS_INT_MAX", 5)
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal(s).astype(dtype) for s in shapes)
    got = tg.jit(fn, backend="c")(a, b)
    np.testing.assert_allclose(got, fn(a, b), rtol=2e-6 if dtype == np.float32 else 1e-12)
