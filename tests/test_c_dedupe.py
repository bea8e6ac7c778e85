"""Repeated kernels are defined once (codegen/c/dedupe.py): a Python loop unrolled by tracing
emits the same loop nest per step, and the C module must hold one function per distinct text
(issue 13: fluidsim's 2,306 kernel functions were 28 distinct ones, each optimized again by
the C compiler). The numbers must not change: a call only gets another name."""
from __future__ import annotations

import re

import numpy as np

import tracegrad as tg
from tracegrad.codegen.c.dedupe import dedupe

_FN = re.compile(r"^TG_KERNEL \w+ (\w+)\(.*?^\}", re.M | re.S)
_COMMENT = re.compile(r"/\*.*?\*/", re.S)


def _kernel_texts(source: str) -> dict[str, str]:
    """name -> text, with the name and comments taken out, of every TG_KERNEL function."""
    out = {}
    for m in _FN.finditer(source):
        text = _COMMENT.sub("", m.group(0)).replace(m.group(1) + "(", "\0(", 1)
        out[m.group(1)] = re.sub(r"[ \t]+\n", "\n", text)
    return out


def assert_kernels_distinct_and_defined(source: str) -> None:
    """The invariant: no two kernel functions share a text, and every kernel called from the
    program is defined."""
    texts = _kernel_texts(source)
    seen: dict[str, str] = {}
    for name, text in texts.items():
        assert text not in seen, f"{name} repeats {seen[text]}"
        seen[text] = name
    start = source.index("static int tg_program(")
    body = source[start:source.index("\n}\n", start)]
    called = set(re.findall(r"\b((?:op|kernel)\d+)\(", _COMMENT.sub("", body)))
    assert called <= set(texts), sorted(called - set(texts))


def rolls(steps=6, n=16):
    """Steps of the same rolls and elementwise updates (fluidsim's shape of program)."""
    def loss(v, f):
        for _ in range(steps):
            v = 0.25 * (np.roll(v, 1, axis=0) + np.roll(v, -1, axis=0)
                        + np.roll(v, 1, axis=1) + np.roll(v, -1, axis=1)) + 0.1 * f
            f = np.where(v > 0, np.roll(f, 1, axis=1), np.roll(f, -1, axis=1))
        return np.sum((v - f) ** 2)
    rng = np.random.default_rng(3)
    return loss, (rng.standard_normal((n, n)), rng.standard_normal((n, n)))


def test_unrolled_steps_define_each_kernel_once_and_match_numpy():
    loss, args = rolls()
    src = tg.jit(tg.value_and_grad(loss), backend="c").lower(*args).source
    assert_kernels_distinct_and_defined(src)
    start = src.index("static int tg_program(")
    calls = re.findall(r"^\s+(?:if \()?((?:op|kernel)\d+)\(", src[start:], re.M)
    # 6 steps of the same equations: far fewer definitions than calls
    assert len(set(calls)) * 3 <= len(calls), (len(set(calls)), len(calls))
    got = tg.jit(tg.value_and_grad(loss), backend="c")(*args)
    want = tg.jit(tg.value_and_grad(loss), backend="numpy")(*args)
    np.testing.assert_allclose(got[0], want[0], rtol=1e-12)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-10, atol=1e-12)


def test_gradients_of_many_autograd_like_programs_keep_the_invariant():
    """Every kernel text once, over programs with loops of different bodies (lstm-like
    matmuls and reductions, elementwise chains, rank-0 arithmetic)."""
    def lstm_like(w, xs):
        h = np.zeros((2, 4))
        total = 0.0
        for t in range(5):
            h = np.tanh(np.concatenate([xs[t], h], axis=1) @ w)
            m = np.max(h, axis=1, keepdims=True)
            total = total + np.sum(np.log(np.sum(np.exp(h - m), axis=1)) + m[:, 0])
        return total / 5.0

    def scalars(a):
        s = a[0]
        for i in range(1, 8):
            s = s * 0.5 + np.exp(-a[i]) / (1.0 + s * s)
        return s
    rng = np.random.default_rng(0)
    for fn, args in ((lstm_like, (rng.standard_normal((7, 4)), rng.standard_normal((5, 2, 3)))),
                     (scalars, (rng.standard_normal(8),))):
        jf = tg.jit(tg.value_and_grad(fn), backend="c")
        assert_kernels_distinct_and_defined(jf.lower(*args).source)
        got, want = jf(*args), tg.jit(tg.value_and_grad(fn), backend="numpy")(*args)
        np.testing.assert_allclose(got[0], want[0], rtol=1e-12)
        np.testing.assert_allclose(got[1], want[1], rtol=1e-10, atol=1e-12)


def test_dedupe_keys_on_the_whole_text_and_renames_every_call():
    k1 = "TG_KERNEL void op1(const double* restrict x, double* o) {\n    o[0] = x[0]; /* a */\n}"
    k2 = "TG_KERNEL void op2(const double* restrict x, double* o) {\n    o[0] = x[0]; /* b */\n}"
    k3 = "TG_KERNEL void op3(const double* x, double* o) {\n    o[0] = x[0];\n}"  # no restrict
    body = "static void loop1_body(double* a) {\n    op2(a, a + 1);\n}"  # calls a dropped one
    pair = "static int cmp(const void* a, const void* b) {\n    return 0;\n}\n" \
           "static void op4(double* x) {\n    qsort(x, 2, 8, cmp);\n}"  # two functions: kept
    pair2 = pair.replace("op4", "op5")
    lines = ["    op1(in0, out0);", "    op2(in0, out1); /* op2(x) */", "    op3(in0, out2);",
             "    loop1_body(arena);", "    op5(out0);"]
    kept, new_lines, dropped = dedupe([k1, k2, k3, body, pair, pair2], lines)
    assert dropped == 1
    assert kept == [k1, k3, body.replace("op2(", "op1("), pair, pair2]
    assert new_lines[1].startswith("    op1(in0, out1);") and new_lines[2] == lines[2]
    assert new_lines[4] == "    op5(out0);"
    assert dedupe([k1, k3], lines) == ([k1, k3], lines, 0)
