"""tg.vmap never materialises a shared constant at the batch size: an operand the mapped function
builds from NumPy values (np.ones(3), a jacfwd basis, a zero tangent) is broadcast by one
equation on the small constant, so compile time and the program's size do not grow with the
number of examples (GradBench's ba: vmap(jacfwd) over 31,843 observations spent 18 s compiling
(P, 15, 3) constants, minutes at 1.2 million). Broadcasts up to the constant-folding limit are
still evaluated, as the constfold pass would fold them."""
from __future__ import annotations

import numpy as np
import pytest

import tracegrad as tg


def _largest_constant(graph) -> int:
    largest = 0
    for eqn in graph.eqns:
        for value in eqn.params.values():
            if isinstance(value, np.ndarray):
                largest = max(largest, value.size)
            if hasattr(value, "eqns"):
                largest = max(largest, _largest_constant(value))
    return largest


def _sin_times(c, x):
    return np.sin(c) * x


PROGRAMS = {
    "shared constant operand": (lambda c: c * np.ones(3), 1),
    "constant plus zeros_like": (lambda c: c + np.zeros_like(c) + np.arange(3.0), 1),
    "jacfwd basis": (tg.jacfwd(_sin_times, argnums=(0, 1)), 2),
    "jvp with a constant tangent":
        (lambda c, x: tg.jvp(lambda c: _sin_times(c, x), (c,), (np.ones(3),))[1], 2),
}


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_vmap_shared_constants_are_not_materialised_per_example(name):
    fn, nargs = PROGRAMS[name]
    batch = 30000  # x 3 and x 15 exceed the constant-folding limit (2**16 elements)
    args = (np.linspace(0.1, 1.0, 3 * batch).reshape(batch, 3), np.linspace(1, 2, batch))[:nargs]
    for stage in ("traced", "optimized"):
        graph = tg.make_ir(tg.vmap(fn), stage=stage)(*args)
        assert _largest_constant(graph) < batch, (name, stage, graph)
    # and the batched program still computes what a loop over the examples computes
    got = tg.jit(tg.vmap(fn))(*args)
    want = [fn(*(a[i] for a in args)) for i in range(3)]
    for g, w in zip(tg.pytree.tree_flatten(got)[0], zip(*[tg.pytree.tree_flatten(x)[0]
                                                          for x in want])):
        np.testing.assert_allclose(np.asarray(g)[:3], np.stack(w), rtol=1e-12)
