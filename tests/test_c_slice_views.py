"""C backend: a slice that is one contiguous block of its operand is a view (pointer + offset),
not a copy kernel; every slice, view or not, gives NumPy's values wherever it sits (an
intermediate, a program output, under a reshape, in a loop body, next to in-place writes)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import tracegrad as tg

from c_support import needs_c

pytestmark = needs_c


def _program(src: str) -> str:
    start = src.index("static int tg_program(")
    return src[start:src.index("\n}\n", start)]


def test_contiguous_slices_are_views_not_copies():
    # y[:-1] and y[1:] of a vector, rows 1..3 of a matrix: blocks of the operand's buffer
    def f(y, m):
        return np.sum(np.exp(y[1:]) * y[:-1]) + np.sum(np.tanh(m[1:3]))
    y, m = np.linspace(0.1, 1, 9), np.arange(20.0).reshape(5, 4) / 20
    jf = tg.jit(f, backend="c")
    np.testing.assert_allclose(jf(y, m), f(y, m), rtol=1e-13)
    prog = _program(jf.lower(y, m).source)
    assert "(in0 + 1)" in prog and "(in1 + 4)" in prog and "= slice[" not in prog


def test_rk4_step_in_a_scan_reads_its_carry_through_views():
    # GradBench's ode: concatenate([x[:1], x[1:] * y[:-1]]) four times per step
    def ode(x):
        def f(y):
            return np.concatenate([x[:1], x[1:] * y[:-1]])

        def step(i, y):
            k1 = f(y)
            k2 = f(y + 0.05 * k1)
            return y + 0.1 * (k1 + k2)
        return tg.fori_loop(0, 5, step, np.zeros_like(x))
    x = np.linspace(0.2, 0.9, 4000)
    want = tg.jit(ode, backend="numpy")(x)
    jf = tg.jit(ode, backend="c")
    np.testing.assert_allclose(jf(x), want, rtol=1e-14)
    src = jf.lower(x).source
    body = src[src.index("TG_KERNEL int tg_scan"):]
    body = body[:body.index("\n}\n")]
    # the carry's y[:-1] is the carry itself: no copy kernel (a view emits no statement)
    assert "= slice[" not in body
    g = tg.jit(tg.grad(lambda v: ode(v)[-1]), backend="c")(x)
    np.testing.assert_allclose(g, tg.jit(tg.grad(lambda v: ode(v)[-1]), backend="numpy")(x),
                               rtol=1e-12)


def test_a_returned_slice_is_copied_out_and_its_base_still_planned():
    def f(x):
        e = np.exp(x)                    # planned intermediate
        return e[2:5], e[1:].reshape(3, 3), np.sin(e)[:, None][4:6]
    x = np.linspace(0, 1, 10)
    got = tg.jit(f, backend="c")(x)
    for a, b in zip(got, f(x)):
        np.testing.assert_allclose(a, b, rtol=1e-14)


def test_a_view_keeps_its_base_alive_against_in_place_writes():
    # e's slot must not be reused or written in place while its view v is still read
    def f(x):
        e = np.exp(x)
        v = e[: x.size - 1]
        w = np.tanh(e[1:])               # e dies here in program order, v lives on
        return np.sum(v * w) + np.sum((w * 2 + 1) * v)
    x = np.linspace(-1, 1, 5000)
    np.testing.assert_allclose(tg.jit(f, backend="c")(x), f(x), rtol=1e-12)


@st.composite
def _slices(draw):
    rank = draw(st.integers(1, 3))
    shape = tuple(draw(st.integers(1, 5)) for _ in range(rank))
    idx = []
    for n in shape:
        a = draw(st.integers(0, n - 1))
        b = draw(st.integers(a + 1, n))
        s = draw(st.sampled_from([1, 1, 1, 2]))
        idx.append(slice(a, b, s))
    return shape, tuple(idx), draw(st.sampled_from(["out", "mid", "reshape", "loop"]))


@settings(max_examples=40, deadline=None, derandomize=True, database=None)
@given(_slices())
def test_every_slice_agrees_with_numpy(case):
    """The class: any slice (a view or a copy) wherever it sits."""
    shape, idx, where = case
    x = np.arange(1, 1 + int(np.prod(shape)), dtype=np.float64).reshape(shape) / 7

    def f(x):
        e = np.exp(x) * 1.5
        s = e[idx]
        if where == "out":
            return s, e
        if where == "reshape":
            return s.reshape(-1), np.sum(e)
        if where == "loop":
            # slices of the carry inside the body, and of the loop's result
            # bounded terms (a mean of sin * tanh): an ill-conditioned body such as
            # sum(sin(c) * c) made last-bit differences of libm's and NumPy's sin grow ~100x a
            # step (C 2.2e-13 off 50-digit arithmetic, NumPy 1.8e-14, on (4, 2)[2:4, 0:2])
            return tg.fori_loop(0, 3, lambda i, c: c * 0.5 + np.mean(np.sin(c)[idx] *
                                                                     np.tanh(c[idx])),
                                e)[idx] + np.sum(s)
        return np.sum(np.cos(s) * 2) + np.sum(e)
    want = f(x) if where != "loop" else tg.jit(f, backend="numpy")(x)
    got = tg.jit(f, backend="c")(x)
    for a, b in zip(np.atleast_1d(got) if where == "mid" else got,
                    np.atleast_1d(want) if where == "mid" else want):
        np.testing.assert_allclose(a, b, rtol=1e-13)


@pytest.mark.parametrize("index,view", [((slice(1, 3),), True),
                                        ((slice(None), slice(1, None)), False),
                                        ((2, slice(1, 3)), True), ((slice(0, 4, 2),), False)])
def test_which_slices_are_views(index, view):
    from codegen.c.views import slice_view_offset
    x = np.ones((4, 5))
    ir = tg.jit(lambda x: np.exp(x)[index] * 2, backend="c").lower(x).ir
    eqn = next(e for e in ir.eqns if e.prim.name == "slice")
    assert (slice_view_offset(eqn) is not None) == view


def _calls(src: str, fn: str) -> str:
    start = src.index(f"TG_KERNEL int {fn}") if fn != "tg_program" else \
        src.index("static int tg_program(")
    return src[start:src.index("\n}\n", start)]


def test_concatenate_operand_is_computed_in_its_block():
    # x[1:] * y[:-1] is computed straight into the concatenate's buffer: no copy of it
    def f(x, y):
        c = np.concatenate([x[:1], x[1:] * y[:-1]])
        return np.exp(c) + c * 2
    x, y = np.linspace(0.1, 1, 6000), np.linspace(1, 2, 6000)
    jf = tg.jit(f, backend="c")
    np.testing.assert_allclose(jf(x, y), f(x, y), rtol=1e-14)
    prog = _calls(jf.lower(x, y).source, "tg_program")
    calls = [ln.strip() for ln in prog.splitlines() if ln.strip().startswith("op")]
    # the product writes at offset 1 of the result; the only copy is the one-element head
    assert len(calls) == 2 and calls[0].endswith(" + 1));"), calls


def test_pad_operand_is_computed_in_its_block():
    def f(x):
        p = np.pad(np.sin(x) * x, (0, 3))
        return p * 2 + 1
    x = np.linspace(0, 1, 5000)
    jf = tg.jit(f, backend="c")
    np.testing.assert_allclose(jf(x), f(x), rtol=1e-14)
    prog = _calls(jf.lower(x).source, "tg_program")
    # sin(x) * x is written into the pad's buffer; only the 3 padded elements are filled
    assert "for (int64_t i = 5000; i < 5003; i++)" in prog
    assert not [ln for ln in prog.splitlines() if ln.strip().startswith("op")]


@st.composite
def _assemblies(draw):
    n = draw(st.integers(1, 4))
    rows = draw(st.sampled_from([1, 1, 3]))
    parts = [draw(st.integers(0, 4)) for _ in range(n)]
    kinds = [draw(st.sampled_from(["computed", "input", "shared", "returned"])) for _ in parts]
    pad = (draw(st.integers(0, 3)), draw(st.integers(0, 3)))
    return rows, parts, kinds, pad, draw(st.booleans())


@settings(max_examples=40, deadline=None, derandomize=True, database=None)
@given(_assemblies())
def test_every_assembly_agrees_with_numpy(case):
    """The class: concatenates (leading axis 1 or not) and pads of computed, input, shared
    and returned operands, nested, in place or copied, against NumPy."""
    rows, parts, kinds, pad, nest = case
    xs = [np.arange(1.0, 1 + rows * (k + 1)).reshape(rows, k + 1)[:, :k] / 9 for k in parts]

    def f(*xs):
        ops, extra = [], []
        for x, kind in zip(xs, kinds):
            v = x if kind == "input" else np.sin(x) * 2
            if kind == "shared":
                extra.append(np.sum(v * v))
            if kind == "returned":
                extra.append(v)
            ops.append(v)
        c = np.concatenate(ops, axis=1)
        if nest:
            c = np.concatenate([np.cos(c) + 1, c * 3], axis=1)
        p = np.pad(np.tanh(c) * 3, ((0, 0), pad))
        return (np.exp(c) + 1, p * 2, *extra)
    got = tg.jit(f, backend="c")(*xs)
    for a, b in zip(got, f(*xs)):
        np.testing.assert_allclose(a, b, rtol=1e-13, atol=1e-15)
