"""C loop and branch bodies take exactly the module constants they declared. The bodies of one
equation (a while's condition and body, a cond's branches) are emitted one after the other
into the module's shared constant list, and each call passed every constant registered since
its body began, so a condition was called with the body's constants too (gcc: too many
arguments to tg_while4). Found by GradBench's saddle eval: jacfwd of a while loop whose body
calls jacfwd (the batched while's body reads constant tangent bases)."""
from __future__ import annotations

import numpy as np
import pytest

import tracegrad as tg


def _while_in_jacfwd(p1):
    g = tg.jacfwd(lambda p: np.sum((p - p1) ** 2))

    def body(s):
        x, i = s
        return x - 0.1 * g(x), i + 1
    x, _ = tg.while_loop(lambda s: s[1] < 5, body, (np.zeros(2), np.int64(0)), max_iter=10)
    return np.sum(x * x)


def _while_with_constants_in_both(x):
    # the condition and the body each read a constant array of their own
    lim, step = np.array([3.0, 4.0, 5.0]), np.array([0.5, 0.25, 0.125])
    return tg.while_loop(lambda v: np.sum(v < lim) > 0, lambda v: v + step, x, max_iter=100)


def _branches_with_constants(k, x):
    a, b, c = np.array([1.0, 2.0, 3.0]), np.array([4.0, 5.0, 6.0]), np.array([7.0, 8.0, 9.0])
    return tg.switch(k, [lambda v: v * a, lambda v: v + b, lambda v: v - c], x)


CASES = {
    "jacfwd over a while calling jacfwd":
        (tg.jacfwd(_while_in_jacfwd), (np.array([1.0, 2.0]),)),
    "while: condition and body constants": (_while_with_constants_in_both, (np.zeros(3),)),
    "switch: a constant per branch": (_branches_with_constants, (np.int32(1), np.ones(3))),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_c_bodies_get_their_own_constants(name):
    fn, args = CASES[name]
    want = tg.jit(fn, backend="numpy")(*args)
    got = tg.jit(fn, backend="c")(*args)
    np.testing.assert_allclose(got, want, rtol=1e-12)
