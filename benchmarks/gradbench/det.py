"""GradBench's det eval (cmpad's det_by_minor): the determinant of an l x l matrix by expansion
by minors along the first row, recursively, and its gradient.

The eval prescribes the algorithm (evals/det/README.md: the determinant "is done through
expansion by minors", O(l!) multiplications "as a source of floating point operations"; the
README allows a non-recursive refactoring, and every GradBench tool expands by minors). Its
validator only compares numbers, so np.linalg.det would pass, but it would not be this
benchmark.

Unrolled, the recursion traces e * l! equations. Here it is two loops over static index tables:

* the inner m x m minor (m = min(l - 1, INNER)) is the recursion's subtree, evaluated level by
  level from the leaves up, vectorised: the nodes at depth k are the ordered choices of k
  columns in lexicographic order, so a node's children are contiguous and
  ``V_k = sum_j (-1)^j M[k, rest_j] V_{k+1}[node, j]`` is one gather, one product and one
  row sum per level (O(m) equations; the same e * m! multiplications as the recursion);
* the outer p = l - m rows' column choices (each with its cofactor sign and the columns left
  for the minor) are the rows of a table that ``tg.scan`` runs over, BATCH choices a step, with
  ``checkpoint=1`` so reverse mode recomputes a step's tree instead of storing l! nodes.

The trace is O(l) equations; the tables hold about e * m! + m^2 l! / m! integers. The reference is
the closed form (``np.linalg.det``; the gradient is the cofactor matrix det(A) inv(A)^T).
"""
from __future__ import annotations

import itertools
import math
from functools import cache

import numpy as np

import tracegrad as tg

from .spec import Eval, Function, tolist

INNER = 7  # the subtree vectorised inside one scan step: 5040 leaves, about 13700 nodes
BATCH = 8  # outer column choices per scan step


@cache
def minor_tables(ell: int, inner: int, batch: int):
    """Static tables for ``det_by_minors``:

    * ``levels[k]``: (m! / (m-k)!, m - k) ints, for each ordered choice of k columns of the
      minor (lexicographic), the columns left, ascending (the children's order);
    * ``signs[k]``: (m - k,) the alternating cofactor signs of a level's children;
    * ``prefix``: (steps, batch, p) flat indices into A of the outer rows' chosen entries;
    * ``sign``: (steps, batch) the outer choices' cofactor signs;
    * ``minor``: (steps, batch, m, m) flat indices into A of each choice's minor.
    """
    m = min(ell - 1, inner)
    p = ell - m
    levels = []
    for k in range(m):
        rows = []
        for chosen in itertools.permutations(range(m), k):
            rows.append([c for c in range(m) if c not in chosen])
        levels.append(np.array(rows, dtype=np.int64).reshape(-1, m - k))
    signs = [np.array([(-1.0) ** j for j in range(m - k)]) for k in range(m)]
    prefix, sign, minor = [], [], []
    for chosen in itertools.permutations(range(ell), p):
        left, s = list(range(ell)), 0
        for c in chosen:
            s += left.index(c)  # the column's position in the minor it is expanded from
            left.remove(c)
        prefix.append([i * ell + c for i, c in enumerate(chosen)])
        sign.append((-1.0) ** s)
        minor.append([[(p + r) * ell + c for c in left] for r in range(m)])
    total = len(prefix)
    batch = math.gcd(total, batch)
    steps = total // batch
    return (tuple(levels), tuple(signs),
            np.array(prefix, dtype=np.int64).reshape(steps, batch, p),
            np.array(sign).reshape(steps, batch),
            np.array(minor, dtype=np.int64).reshape(steps, batch, m, m))


def minor_tree(minors, levels, signs):
    """Determinants of a batch of m x m matrices (b, m, m) by expansion by minors, level by
    level from the last row up (the recursion's tree, every node evaluated once). Written
    with array methods only, so the JAX and PyTorch peers run the same code on their arrays."""
    m = minors.shape[1]
    values = minors[:, m - 1, :][:, levels[m - 1][:, 0]]          # leaves: (b, m!)
    for k in range(m - 2, -1, -1):
        entries = minors[:, k, :][:, levels[k]]                    # (b, nodes_k, m - k)
        children = values.reshape(values.shape[0], levels[k].shape[0], m - k)
        values = (entries * children * signs[k]).sum(axis=2)
    return values[:, 0]


def _chosen_terms(a, levels, signs, idx, s, mi):
    """The outer choices' terms: sign * their chosen entries * their minors' determinants."""
    return s * a[idx].prod(axis=1) * minor_tree(a[mi], levels, signs)


def det_by_minors(a, ell):
    """det(A) for the row-major flat ``a`` (ell * ell,) by expansion by minors."""
    if ell == 1:
        return a[0]
    levels, signs, prefix, sign, minor = minor_tables(ell, INNER, BATCH)

    def step(total, choice):
        return total + np.sum(_chosen_terms(a, levels, signs, *choice)), None

    total, _ = tg.scan(step, np.zeros(()), (prefix, sign, minor), checkpoint=1)
    return total


def _prepare(inp):
    return (np.asarray(inp["A"], dtype=np.float64),), (int(inp["ell"]),)


def _build(grad):
    def build(backend, static):
        (ell,) = static
        f = (lambda a: det_by_minors(a, ell))
        return tg.jit(tg.grad(f) if grad else f, backend=backend)
    return build


def _reference(function, inp):
    """The closed form: det(A), and d det / dA = det(A) inv(A)^T (the cofactor matrix)."""
    a, ell = np.asarray(inp["A"], dtype=np.float64), int(inp["ell"])
    a = a.reshape(ell, ell)
    d = np.linalg.det(a)
    if function == "primal":
        return float(d)
    return (d * np.linalg.inv(a).T).reshape(-1).tolist()


def _generate(ell, seed):
    # GradBench: np.random.seed(31337); A = np.random.rand(ell * ell) for each ell in turn
    # (here one generator per size, the same distribution)
    return {"A": np.random.default_rng(seed).random(ell * ell).tolist(), "ell": ell}


# --- peers (peers.py lists them): the same tables and tree, each library's own loop ------------
TORCH_CHUNK = 64  # outer choices per PyTorch call: fewer Python steps, bounded memory


def peer_table(peer: str) -> dict:
    return {"det": {"primal": _jax_entry(False), "gradient": _jax_entry(True)} if peer == "jax"
            else {"primal": _torch_entry(False), "gradient": _torch_entry(True)}}


def _jax_entry(grad):
    def entry(static):
        import jax
        import jax.numpy as jnp
        (ell,) = static

        def det(a):
            if ell == 1:
                return a[0]
            levels, signs, prefix, sign, minor = minor_tables(ell, INNER, BATCH)

            @jax.checkpoint  # recompute a step's tree in the backward pass (as tracegrad does)
            def step(total, choice):
                return total + jnp.sum(_chosen_terms(a, levels, signs, *choice)), None
            return jax.lax.scan(step, jnp.zeros(()), (prefix, sign, minor))[0]
        jf = jax.jit(jax.grad(det) if grad else det)
        return (lambda arrays: [jnp.asarray(x) for x in arrays],
                lambda a: jax.block_until_ready(jf(a)))
    return entry


def _torch_entry(grad):
    def entry(static):
        import torch
        from torch.utils.checkpoint import checkpoint
        (ell,) = static
        levels, signs, prefix, sign, minor = minor_tables(ell, INNER, TORCH_CHUNK)
        levels = [torch.from_numpy(t) for t in levels]
        signs = [torch.from_numpy(t) for t in signs]
        chunks = [(torch.from_numpy(prefix[i]), torch.from_numpy(sign[i]),
                   torch.from_numpy(minor[i])) for i in range(len(prefix))]

        def det(a):
            if ell == 1:
                return a[0]
            total = a.new_zeros(())
            for idx, s, mi in chunks:
                # checkpoint: autograd would otherwise keep every chunk's tree (GBs at l=11)
                terms = (checkpoint(_chosen_terms, a, levels, signs, idx, s, mi,
                                    use_reentrant=False) if a.requires_grad
                         else _chosen_terms(a, levels, signs, idx, s, mi))
                total = total + terms.sum()
            return total

        def call(a):
            if not grad:
                with torch.no_grad():
                    return det(a)
            leaf = a.detach().requires_grad_(True)
            return torch.autograd.grad(det(leaf), leaf)[0]
        return (lambda arrays: [torch.from_numpy(np.ascontiguousarray(x)) for x in arrays],
                call)
    return entry


DET = Eval(
    name="det",
    functions={"primal": Function("objective", _build(False)),
               "gradient": Function("gradient", _build(True))},
    prepare=_prepare, post=lambda f, r, i: tolist(r), generate=_generate,
    sizes=[5, 6, 7, 8, 9, 10, 11], quick_sizes=[1, 3, 4, 9], bench_sizes=[5, 8, 11],
    reference=_reference, describe=lambda ell: f"l={ell}")
