"""The C backend at every size where its generated code changes shape, against NumPy.

The C emitter (codegen/c/kernels.py) and the compiler under it take different paths by size:
vector loops and their remainders (4, 8, 16 lanes), GCC's unrolling and versioning limits
(the llsq failure of issue 11 item 7 showed from k = 127 on), arena slots rounded to 64 bytes,
the OpenMP threshold ``PARALLEL_MIN_ELEMENTS`` (2**15) and its multiples (team sizes), static
thread splits of a loop shorter than the team, and the interrupt polling / strip-mining sizes.
``threshold_dims`` collects them from the emitter's own constants, so a new constant moves the
tests with it. Three ways in:

* directed kernels (broadcast-reading reductions, in-place chains, every reduction layout,
  index kernels, contractions) at each threshold size, several sizes per compile;
* random programs of the fuzzer (tests/fuzz_programs.py) drawing their dimensions from those
  sizes, and programs holding several gradients of one function (the BA failure of item 7:
  identical kernels of two gradients, merged by the compiler);
* every elementwise primitive at mixed dtype (a float32 program computing in float64 and the
  other way round; int32/int64 likewise; issue 11 item 8e).

CI runs a few seconds of each; ``pytest -m fuzz`` runs the long profile.
"""
from __future__ import annotations

import numpy as np
import pytest
from c_source_check import restrict_violations
from fuzz_check import batch_function, check_c_batch, eager
from fuzz_programs import MAX_SIZE, programs
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tracegrad as tg
from tracegrad.codegen.c import kernels as c_kernels
from c_support import needs_c

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


VECTOR_LANES = (4, 8, 16)          # AVX2 doubles, AVX2 floats / AVX-512 doubles, AVX-512 floats
POWERS = (32, 64, 128, 256)        # 63/64/65 ... 255/256/257 (GCC's unroll and peel limits)


def threshold_sizes() -> list[int]:
    """Element counts at which the C emitter changes the loop it emits (each -1, 0, +1)."""
    marks = set(VECTOR_LANES) | set(POWERS)
    par = c_kernels.PARALLEL_MIN_ELEMENTS
    marks |= {par, 2 * par, 3 * par}  # one more thread per PARALLEL_MIN_ELEMENTS of work
    for name in ("POLL_MIN_ELEMENTS", "STRIP_MIN_ELEMENTS", "STRIP_BLOCK"):
        if hasattr(c_kernels, name):
            marks.add(getattr(c_kernels, name))
    return sorted({m + d for m in marks for d in (-1, 0, 1) if m + d >= 1})


def threshold_dims(limit: int = MAX_SIZE) -> tuple[int, ...]:
    """Dimensions for random programs: the threshold sizes a fuzz value may have, and small
    dims so that 2-D products land near the thresholds too (128 * 256 = 2**15)."""
    return tuple(d for d in [1, 2, 3] + threshold_sizes() if d <= limit)


# --- directed kernels at every threshold ------------------------------------------------------
def _kernels(x, y, R, idx):
    """One of each kernel layout the emitter has, over 1-D ``x, y`` (n,) and ``R`` (m, n).
    Each kernel has operands of its own that die there, so the memory plan may offer their
    slots to its results (the in-place writes of issue 11 item 7)."""
    outs = [
        np.sum(-x * R, axis=1) + y[0],            # broadcast-reading reduction (llsq)
        np.sum(R * (y * 0.5), axis=0),            # reduction over a leading axis (general)
        np.sum(np.sin(x) * y),                    # full reduction: per-thread partials
        np.max(x * y), np.min(R),                 # max/min with their NaN flags
        np.exp(x * 0.25) * y + (x - y),           # elementwise chain writing in place
        np.cumsum(-y), np.argmax(R, axis=1),      # index kernels
        x[idx], R @ y, R.T @ R[:, :3],            # gather, gemv, transposed gemm (scratch)
        np.concatenate([x * 3, y]), np.sqrt(np.abs(x)) ** 0.5 + x ** 2,
    ]
    # materialised values (a cumsum, a product) feeding elementwise kernels whose results are
    # intermediates again: candidates for in-place writes
    c = np.cumsum(x * 0.1)
    d = R @ (y * 0.5)
    outs += [np.cumsum(np.tanh(c) * y), (np.sin(d) * d) @ R + (np.cos(d) + d) @ R]
    return tuple(outs)


def _shapes(n: int) -> list[tuple[int, int]]:
    """(m, n) pairs for ``R``: square while small (the row sums then have the aval of ``-x``,
    so the plan may pair them in place, as in llsq), else 1 or 3 rows of about n."""
    return [(n, n)] if n <= 300 else [(1, n), (3, max(1, n // 3))]


def _check_directed(sizes, dtype, rng, levels=("O0", "O2")) -> None:
    cases = []
    for n in sizes:
        for m, k in _shapes(n):
            x = rng.uniform(-2, 2, k).astype(dtype)
            y = rng.uniform(-2, 2, k).astype(dtype)
            R = rng.uniform(-2, 2, (m, k)).astype(dtype)
            idx = rng.integers(-k, k, min(k, 300))
            cases.append((x, y, R, idx))
    flat = [a for c in cases for a in c]

    def all_kernels(*flat):
        return tuple(o for i in range(0, len(flat), 4) for o in _kernels(*flat[i:i + 4]))
    want = [eager(_kernels, c) for c in cases]
    for level in levels:
        jf = tg.jit(all_kernels, backend="c", opt_level=level)
        assert restrict_violations(jf.lower(*flat).source) == []
        got = jf(*flat)
        assert len(got) == sum(len(w) for w in want)
        j = 0
        for c, ws in zip(cases, want):
            for kk, w in enumerate(ws):
                g = np.asarray(got[j])
                j += 1
                where = f"kernel {kk} at x{list(c[0].shape)} R{list(c[2].shape)} ({level})"
                assert g.shape == w.shape and g.dtype == w.dtype, where
                if w.dtype.kind != "f":
                    np.testing.assert_array_equal(g, w, err_msg=where)
                    continue
                # sums (and running sums) of up to n terms: rounding grows with n and with
                # the size of the partial sums; a wrong loop is off by O(1)
                eps = np.finfo(dtype).eps
                mag = max(1.0, float(np.max(np.abs(w), initial=0.0)))
                np.testing.assert_allclose(g, w, rtol=64 * eps,
                                           atol=16 * eps * c[2].size * mag, err_msg=where)


# CI: the vector-lane and unroll sizes at O2 (several sizes per compile: a compile costs about
# 0.5 s per size); the long profile: every size at both levels
SMALL_CI = {"float64": (15, 16, 17, 63, 64, 65, 127, 128, 129, 255, 256, 257),
            "float32": (7, 8, 9, 31, 32, 33)}


@needs_c
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_directed_kernels_at_small_thresholds(dtype):
    _check_directed(SMALL_CI[dtype], np.dtype(dtype), np.random.default_rng(0), ("O2",))


@needs_c
def test_directed_kernels_at_the_parallel_threshold(monkeypatch):
    """Across the OpenMP threshold on 3 threads (which split nothing evenly, and leave a
    thread without rows when a loop has 1 or 2)."""
    monkeypatch.setenv("TRACEGRAD_NUM_THREADS", "3")
    par = c_kernels.PARALLEL_MIN_ELEMENTS
    _check_directed([par - 1, par, par + 1], np.float64, np.random.default_rng(1), ("O2",))


@pytest.mark.fuzz
@needs_c
@pytest.mark.parametrize("threads", ["1", "2", "3", "5"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_long_directed_kernels_at_every_threshold(dtype, threads, monkeypatch):
    """Every threshold size, polling and strip-mining sizes (millions of elements) included,
    at both levels and several thread counts: long profile only."""
    monkeypatch.setenv("TRACEGRAD_NUM_THREADS", threads)
    sizes = threshold_sizes()
    for k in range(0, len(sizes), 8):
        _check_directed(sizes[k:k + 8], np.dtype(dtype), np.random.default_rng(k))


# --- random programs at threshold sizes -------------------------------------------------------
_COMMON = {"deadline": None, "suppress_health_check": list(HealthCheck), "print_blob": True}
CI = settings(max_examples=2, derandomize=True, database=None, **_COMMON)
LONG = settings(max_examples=200, **_COMMON)


@needs_c
@CI
@given(st.lists(programs(max_steps=8, dims=threshold_dims()), min_size=4, max_size=4))
def test_random_programs_at_thresholds(batch):
    check_c_batch(batch)
    _check_source(batch)


@pytest.mark.fuzz
@needs_c
@LONG
@given(st.lists(programs(max_steps=14, dims=threshold_dims()), min_size=6, max_size=6))
def test_long_random_programs_at_thresholds(batch):
    check_c_batch(batch)
    _check_source(batch)


def _check_source(batch) -> None:
    """The batch's program (compiled by check_c_batch, so from the cache) breaks no
    ``restrict`` promise (tests/c_source_check.py)."""
    flat = [x for p in batch for x in p.make_args()]
    for level in ("O0", "O2"):
        src = tg.jit(batch_function(batch), backend="c", opt_level=level).lower(*flat).source
        assert restrict_violations(src) == [], "\n".join(map(str, batch))


def check_several_gradients(progs, n_grads: int = 3) -> None:
    """``n_grads`` gradients of each program (projections with different weights, so the
    gradient kernels are identical code over different constants) in one C function, against
    the NumPy backend's."""
    specs = []
    for p in progs:
        fpos = tuple(i for i, a in enumerate(p.args) if a.dtype == "float64")
        outs = [k for k, v in enumerate(p.out_vals) if v.dtype == "float64"]
        if not fpos or not outs:
            continue
        rng = np.random.default_rng(p.seed + 7)
        for _ in range(n_grads):
            ws = {k: rng.standard_normal(p.out_vals[k].shape) for k in outs}
            specs.append((p, fpos, ws))
    if not specs:
        return
    args = {id(p): p.make_args() for p in progs}
    flat, offset = [], {}
    for p in progs:
        offset[id(p)] = len(flat)
        flat += args[id(p)]

    def scalar_of(p, ws):
        fn = p.function()

        def s(*a):
            o = fn(*a)
            total = 0.0
            for k, w in ws.items():
                total = total + np.sum(o[k] * w)
            return total
        return s

    def grads(*flat_args):
        out = []
        for p, fpos, ws in specs:
            a = flat_args[offset[id(p)]:offset[id(p)] + len(p.args)]
            out.append(tg.grad(scalar_of(p, ws), argnums=fpos)(*a))
        return tuple(out)
    jf = tg.jit(grads, backend="c")
    assert restrict_violations(jf.lower(*flat).source) == [], "\n".join(map(str, progs))
    got = jf(*flat)
    want = tg.jit(grads, backend="numpy")(*flat)
    for (p, fpos, _), g, w in zip(specs, got, want):
        for i, gi, wi in zip(fpos, g, w):
            gi, wi = np.asarray(gi), np.asarray(wi)
            scale = float(np.max(np.abs(wi), initial=0.0))
            assert gi.shape == wi.shape and np.allclose(
                gi, wi, rtol=1e-9, atol=1e-9 * (1 + scale)), \
                f"gradient of a{i}: {gi!r} vs NumPy backend {wi!r}\n--- program ---\n{p}"


@needs_c
@CI
@given(st.lists(programs(max_steps=8, grad_safe=True, dims=threshold_dims(4096)),
                min_size=3, max_size=3))
def test_several_gradients_in_one_c_function(batch):
    check_several_gradients(batch)


@pytest.mark.fuzz
@needs_c
@LONG
@given(st.lists(programs(max_steps=14, grad_safe=True), min_size=3, max_size=3))
def test_long_several_gradients_in_one_c_function(batch):
    check_several_gradients(batch)


# --- every elementwise primitive at mixed dtype ----------------------------------------------
def _mixed_rows(program_dt: str, compute_dt: str):
    from cases import CASES

    from tracegrad.primitive import PRIMITIVES
    return [c for c in CASES if PRIMITIVES[c.prim].kind == "elementwise"
            and c.prim != "convert" and compute_dt in c.dtypes]


MIXED = [("float32", "float64"), ("float64", "float32"), ("int32", "int64"),
         ("int64", "int32")]


@needs_c
@pytest.mark.parametrize("program_dt,compute_dt", MIXED)
def test_every_elementwise_primitive_at_mixed_dtype(program_dt, compute_dt):
    """A ``program_dt`` program computing each elementwise primitive in ``compute_dt`` (one
    fused kernel whose inputs and outputs have another dtype than its body)."""
    from cases import make_args
    rows = _mixed_rows(program_dt, compute_dt)
    rng = np.random.default_rng(3)
    shape = (37,)  # a vector loop and its remainder
    per_row = []
    for c in rows:
        a = make_args(c, [shape] * c.arity, compute_dt, rng)
        fixed = [c.arg_dtype(i, compute_dt) != np.dtype(compute_dt) for i in range(c.arity)]
        per_row.append([x if f else x.astype(program_dt) for x, f in zip(a, fixed)])

    def run(*flat):
        outs, k = [], 0
        for c, a in zip(rows, per_row):
            xs = [x if f else x.astype(compute_dt)
                  for x, f in zip(flat[k:k + len(a)],
                                  [c.arg_dtype(i, compute_dt) != np.dtype(compute_dt)
                                   for i in range(c.arity)])]
            r = c.fn(*xs)
            outs.append(r.astype(program_dt) if r.dtype == np.dtype(compute_dt) else r)
            k += len(a)
        return tuple(outs)
    flat = [x for a in per_row for x in a]
    got = tg.jit(run, backend="c")(*flat)
    for c, a, g in zip(rows, per_row, got):
        xs = [x if c.arg_dtype(i, compute_dt) != np.dtype(compute_dt) else x.astype(compute_dt)
              for i, x in enumerate(a)]
        with np.errstate(all="ignore"):
            r = np.asarray(c.numpy_ref(*xs))
        want = r.astype(program_dt) if r.dtype == np.dtype(compute_dt) else r
        g = np.asarray(g)
        assert g.dtype == want.dtype and g.shape == want.shape, c.id
        if want.dtype.kind == "f":
            f32 = "float32" in (program_dt, compute_dt)
            np.testing.assert_allclose(g, want, rtol=2e-6 if f32 else 1e-12,
                                       atol=1e-6 if f32 else 1e-13, err_msg=c.id)
        else:
            np.testing.assert_array_equal(g, want, err_msg=c.id)
