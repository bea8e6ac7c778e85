"""A sum of a product over free axes is the product of the summed operands:
``sum_n (A @ B)[.., n, ..] = (sum_n A[.., n, ..]) @ B`` (the product is linear in each operand).

Reverse mode makes this pattern whenever a value broadcast along an axis feeds a product: the
gradient of ``mu`` in ``(x[None] - mu[:, None]) @ Q`` is ``-sum_n (G @ Q^T)`` over the n points,
a batched product of the full cotangent G (k, n, d) followed by a sum over n. Summing G first
leaves a (k, d) @ (d, d) product: n times fewer flops, and the (k, n, d) result is never written.

What is rewritten: ``reduce_sum`` over axes that are all free axes of a ``dot_general``'s result
(not batch axes), possibly through a chain of ``neg`` and ``mul`` by a rank-0 value (linear in the
product, commuting with the sum), where the product and every chain value have no other reader.
The reduced axes of each operand are summed before the product (both operands when the axes
come from both sides: ``sum_ij sum_k A_ik B_kj = sum_k (sum_i A_ik)(sum_j B_kj)``), and the
chain is applied to the smaller product. Inexact dtypes only (integer sums would reassociate
exactly, but nothing needs them).
"""
from __future__ import annotations

from tracegrad import dtypes
from tracegrad.ir import Lit

from .bodies import in_bodies
from .registry import register
from .rewrite import Rule, rewrite_fixpoint


def _linear_step(e):
    """(kind, rank-0 factor, position of the operand, the operand) if ``e`` is linear in one
    operand with a rank-0 factor (``neg v``, ``mul c v``), else None."""
    if e.prim.name == "neg":
        return ("neg", None, 0, e.inputs[0])
    if e.prim.name == "mul" and len(e.inputs) == 2:
        for pos in (0, 1):
            v, other = e.inputs[pos], e.inputs[1 - pos]
            if other.aval.shape == () and v.aval.shape == e.outputs[0].aval.shape and \
                    other.aval.dtype == v.aval.dtype and v.aval.shape != ():
                return ("mul", other, pos, v)
    return None


def _renumber(dims, removed) -> tuple:
    return tuple(d - sum(1 for r in removed if r < d) for d in dims)


def _sum_of_product(e, b):
    x = e.inputs[0]
    if isinstance(x, Lit) or not dtypes.is_inexact(x.aval.dtype):
        return None
    chain, v = [], x
    while True:
        p = b.producer(v)
        if p is None or b.uses(v) != 1:
            return None
        if p.prim.name == "dot_general":
            break
        step = _linear_step(p)
        if step is None or isinstance(step[3], Lit):
            return None
        chain.append(step[:3])
        v = step[3]
    lhs, rhs = p.inputs
    (lc, rc), (lb, rb) = p.params["dimension_numbers"]
    lfree = [d for d in range(len(lhs.aval.shape)) if d not in lc and d not in lb]
    rfree = [d for d in range(len(rhs.aval.shape)) if d not in rc and d not in rb]
    out_axes = [("b", d) for d in lb] + [("l", d) for d in lfree] + [("r", d) for d in rfree]
    axes = e.params["axes"]
    if not axes or any(out_axes[a][0] == "b" for a in axes):
        return None  # a sum over a batch axis is a contraction: not this rule
    lsum = tuple(sorted(out_axes[a][1] for a in axes if out_axes[a][0] == "l"))
    rsum = tuple(sorted(out_axes[a][1] for a in axes if out_axes[a][0] == "r"))
    if lsum:
        lhs = b.add("reduce_sum", lhs, axes=lsum)
    if rsum:
        rhs = b.add("reduce_sum", rhs, axes=rsum)
    params = dict(p.params)
    params["dimension_numbers"] = ((_renumber(lc, lsum), _renumber(rc, rsum)),
                                   (_renumber(lb, lsum), _renumber(rb, rsum)))
    out = b.add("dot_general", lhs, rhs, **params)
    for kind, other, pos in reversed(chain):
        if kind == "neg":
            out = b.add("neg", out)
        else:
            out = b.add("mul", *((out, other) if pos == 0 else (other, out)))
    return (out,)


RULES = {"reduce_sum": [Rule(_sum_of_product, "sum over a product's free axes -> product of "
                                              "the summed operand")]}


@register("sum-products", "a sum over a product's free axes sums the operand first "
                          "(sum_n (A @ B) = (sum_n A) @ B)")
@in_bodies
def sum_products(graph):
    return rewrite_fixpoint(graph, RULES)
