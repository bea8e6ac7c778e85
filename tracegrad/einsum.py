"""``einsum`` on the primitives: diagonals and lone labels are reduced first, then operands are
contracted pairwise, left to right, with ``dot_general`` (batch labels lead), then transposed.
"""
from __future__ import annotations

from . import dtypes, lax
from .errors import ShapeError, UnsupportedOperationError
from .source_info import user_src_with_text

_SPARE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def from_sublists(args) -> tuple[str, list]:
    """NumPy's second form: ``einsum(a, [0, 1], b, [1, 2], [0, 2])`` -> ``"AB,BC->AC", [a, b]``."""
    args = list(args)
    out_list = args.pop() if len(args) % 2 else None
    ops, terms = args[0::2], args[1::2]

    def term(sub):
        parts = []
        for k in sub:
            if k is Ellipsis:
                parts.append("...")
            elif isinstance(k, int) and 0 <= k < len(_SPARE):
                parts.append(_SPARE[k])  # A-Z then a-z: label order is int order
            else:
                raise ShapeError(f"einsum: subscript {k!r} in a sublist must be an int in "
                                 "[0, 52) or Ellipsis", src=user_src_with_text(5))
        return "".join(parts)
    text = ",".join(term(t) for t in terms)
    if out_list is not None:
        text += "->" + term(out_list)
    return text, ops


def _parse(subscripts: str, shapes):
    s = subscripts.replace(" ", "")
    if "->" in s:
        lhs, out = s.split("->")
        explicit = True
    else:
        lhs, out, explicit = s, None, False
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise ShapeError(f"einsum: {len(terms)} operand subscripts for {len(shapes)} operands",
                         src=user_src_with_text(4))
    # '...' becomes spare letters (ones the subscripts do not use), one per broadcast dimension
    n_ell = max((len(sh) - len(t.replace("...", "")) for t, sh in zip(terms, shapes)
                 if "..." in t), default=0)
    ell = "".join(c for c in _SPARE if c not in s)[:n_ell]
    fixed = []
    for t, sh in zip(terms, shapes):
        if "..." in t:
            k = len(sh) - len(t.replace("...", ""))
            t = t.replace("...", ell[n_ell - k:])
        if len(t) != len(sh):
            raise ShapeError(f"einsum: subscripts {t!r} do not match operand shape {sh}",
                             src=user_src_with_text(4))
        fixed.append(t)
    if explicit:
        out = out.replace("...", ell)
    else:
        counts = {}
        for t in fixed:
            for c in t:
                counts[c] = counts.get(c, 0) + 1
        out = ell + "".join(sorted(c for c, n in counts.items() if n == 1 and c not in ell))
    for c in "".join(fixed) + out:
        if not (c.isalpha()):
            raise UnsupportedOperationError(f"einsum: bad subscript character {c!r}",
                                            src=user_src_with_text(4))
    if len(set(out)) != len(out):
        raise ShapeError(f"einsum: output subscripts {out!r} repeat a label",
                         src=user_src_with_text(4))
    return fixed, out


def einsum(subscripts, *operands):
    from . import numpy as tnp
    if not isinstance(subscripts, str):
        subscripts, operands = from_sublists((subscripts,) + operands)
        operands = [tnp._as_operand(o) for o in operands]
    shapes = [lax.shape_of(o) for o in operands]
    terms, out = _parse(subscripts, shapes)
    sizes: dict[str, int] = {}
    for t, sh in zip(terms, shapes):
        for c, d in zip(t, sh):
            have = sizes.setdefault(c, d)
            if have != d and 1 not in (have, d):
                raise ShapeError(f"einsum: label {c!r} has sizes {have} and {d} in "
                                 f"{subscripts!r} with operand shapes {shapes}",
                                 src=user_src_with_text(3))
            sizes[c] = max(have, d)
    ops, _ = tnp._prepare_no_broadcast(list(operands))
    all_bool = all(dtypes.is_bool(lax.dtype_of(o)) for o in ops)
    if all_bool:  # NumPy contracts bools with logical and/or: count in int64, then test != 0
        ops = [lax.convert(o, dtypes.int64) for o in ops]
    # size-1 dimensions broadcast against the label's size (NumPy's rule)
    ops = [lax.broadcast_in_dim(o, tuple(sizes[c] for c in t), tuple(range(len(t))))
           if tuple(sizes[c] for c in t) != tuple(lax.shape_of(o)) else o
           for o, t in zip(ops, terms)]
    labels = [list(t) for t in terms]
    # 1. repeated labels inside one operand: take the diagonal
    for k in range(len(ops)):
        while len(set(labels[k])) != len(labels[k]):
            lab = labels[k]
            c = next(c for c in lab if lab.count(c) > 1)
            p = lab.index(c)
            q = lab.index(c, p + 1)
            ops[k] = tnp.diagonal(ops[k], 0, p, q)
            labels[k] = [x for i, x in enumerate(lab) if i not in (p, q)] + [c]

    def needed_after(k):
        need = set(out)
        for j in range(k + 1, len(ops)):
            need |= set(labels[j])
        return need

    def sum_lonely(x, lab, keep):
        axes = [i for i, c in enumerate(lab) if c not in keep]
        return lax.reduce_sum(x, axes), [c for c in lab if c in keep]

    acc, acc_lab = sum_lonely(ops[0], labels[0], needed_after(0) | set())
    for k in range(1, len(ops)):
        keep = needed_after(k)
        b, b_lab = sum_lonely(ops[k], labels[k], keep | set(acc_lab))
        acc, acc_lab = sum_lonely(acc, acc_lab, keep | set(b_lab))
        batch = [c for c in acc_lab if c in b_lab and c in keep]
        contract = [c for c in acc_lab if c in b_lab and c not in keep]
        a_rest = [c for c in acc_lab if c not in batch]
        b_rest = [c for c in b_lab if c not in batch]
        at = lax.transpose(acc, [acc_lab.index(c) for c in batch + a_rest])
        bt = lax.transpose(b, [b_lab.index(c) for c in batch + b_rest])
        a_order, b_order = batch + a_rest, batch + b_rest
        nb = len(batch)
        acc = lax.dot_general(at, bt, ((tuple(a_order.index(c) for c in contract),
                                        tuple(b_order.index(c) for c in contract)),
                                       (tuple(range(nb)), tuple(range(nb)))))
        acc_lab = batch + [c for c in a_rest if c not in contract] + \
            [c for c in b_rest if c not in contract]
    acc, acc_lab = sum_lonely(acc, acc_lab, set(out))
    if sorted(acc_lab) != sorted(out):
        raise ShapeError(f"einsum: output subscripts {out!r} name labels not in the inputs",
                         src=user_src_with_text(3))
    acc = lax.transpose(acc, [acc_lab.index(c) for c in out])
    return lax.ne(acc, 0) if all_bool else acc
