"""Fused elementwise kernels run over row chunks in the NumPy backend's memory-planned code.

A fused kernel emitted as one whole-array ufunc per operation streams every intermediate
through memory: W1's kernel is 21 passes over 16 MB arrays, each value written to DRAM and
read back. Run over chunks of leading-axis rows (about ``CHUNK_ELEMENTS`` elements each), a
value internal to the kernel lives in a chunk-sized scratch array that stays in the L2 cache
from the operation that writes it to the ones that read it; only the kernel's operands and
outputs touch the full arrays (W1: 25 -> 13 ms on one thread).

Every element goes through the same operations in the same order, so elementwise results are
bit for bit those of the whole-array form, and so are reductions along trailing axes (each row
is reduced whole, within one chunk). A reduction over every axis (a sum, max or min to one
value) is taken per chunk and the chunks' partial results combined: exact for max and min, for
a sum a different order of the same additions (the C backend's order differs too).

A kernel qualifies when every operation is elementwise over one shape (operands of that shape
or 0-d), a broadcast of one of the kernel's operands to that shape (made once before the loop,
from a copy, and sliced per chunk), or such a reduction whose result no operation of the kernel
reads; each writes through an ``out=`` form, and at least ``MIN_KEPT`` values stay in scratch. Scratch arrays are reused along the kernel once their value is dead,
never as an output of the operation reading them (``where`` cannot write over its operand).
"""
from __future__ import annotations

import math

import numpy as np

from tracegrad.ir import Lit, Var
from tracegrad.prims.reductions import reduce_max_p, reduce_min_p, reduce_sum_p

from .numpy_lowerings import lowering

CHUNK_ELEMENTS = 32768        # 128 KB of float32 per scratch value: a few stay in L2
MIN_CHUNKS = 4                # smaller kernels gain nothing from the loop's overhead
# values a kernel must keep in scratch for the loop to pay: each chunk costs ~1.5 us per
# operation, and one value kept out of memory saves a write and a read. W3's kernel (one kept
# value, 64 chunks of 32 rows) ran 0.05-0.3 ms slower chunked; W1 (15 kept) twice as fast.
MIN_KEPT = 2
# the ufunc that combines two partials of each full reduction, keyed by primitive
_FULL_REDUCTIONS = {reduce_sum_p: "np.add", reduce_max_p: "np.maximum",
                    reduce_min_p: "np.minimum"}


def _is_row_reduction(be, shape) -> bool:
    axes = tuple(be.params.get("axes", ()))
    return bool(axes) and 0 not in axes and be.inputs[0].aval.shape == shape


def _is_full_reduction(be, shape) -> bool:
    axes = tuple(sorted(be.params.get("axes", ())))
    return (be.prim in _FULL_REDUCTIONS and axes == tuple(range(len(shape)))
            and be.inputs[0].aval.shape == shape)


def chunk_rows(e) -> int | None:
    """Rows per chunk for fused equation ``e``, or None when it is not run in chunks."""
    body = e.params["body"]
    if not body.eqns:
        return None
    shape = None
    for be in body.eqns:
        if be.prim.kind == "elementwise" and not be.prim.multiple_results:
            shape = tuple(be.outputs[0].aval.shape)
            break
    if not shape or shape[0] < 2:
        return None
    row = math.prod(shape[1:])
    rows = max(1, CHUNK_ELEMENTS // max(row, 1))
    if shape[0] < MIN_CHUNKS * rows:
        return None
    read_in_body = {id(a) for be in body.eqns for a in be.inputs if isinstance(a, Var)}
    inputs = {id(a) for a in body.inputs}
    broadcast_only = set(inputs)  # inputs read by broadcasts alone may have any shape
    for be in body.eqns:
        if not _is_input_broadcast(be, shape, inputs):
            broadcast_only -= {id(a) for a in be.inputs if isinstance(a, Var)}
    for a in body.inputs:
        if a.aval.shape not in (shape, ()) and id(a) not in broadcast_only:
            return None
    for be in body.eqns:
        if be.prim.multiple_results:
            return None
        if _is_input_broadcast(be, shape, inputs):
            continue
        for a in be.inputs:
            if isinstance(a, Var) and a.aval.shape not in (shape, ()):
                return None
        if be.prim.kind == "elementwise":
            if tuple(be.outputs[0].aval.shape) != shape:
                return None
            if lowering(be.prim).into is None and not _plain_call(be):
                return None
        elif be.prim.traits.reduction and _is_row_reduction(be, shape):
            if lowering(be.prim).into is None:
                return None
        elif be.prim.traits.reduction and _is_full_reduction(be, shape):
            if id(be.outputs[0]) in read_in_body:
                return None
        else:
            return None
    outputs = {id(v) for v in body.outputs if isinstance(v, Var)}
    kept = sum(be.prim.kind == "elementwise" and id(be.outputs[0]) not in outputs
               for be in body.eqns)
    if kept < MIN_KEPT:
        return None  # too few values stay in scratch to pay for the loop's overhead
    return rows


def _is_input_broadcast(be, shape, inputs) -> bool:
    """A broadcast to the kernel's shape of one of its operands (or a literal): made once
    before the loop, a view, and sliced per chunk like an operand of that shape."""
    a = be.inputs[0]
    return (be.prim.name == "broadcast_in_dim" and tuple(be.outputs[0].aval.shape) == shape
            and (isinstance(a, Lit) or id(a) in inputs))


def _plain_call(be) -> bool:
    """The lowering is a ``np.``/``rt.`` call that takes ``out=`` (the emitter appends it)."""
    from .numpy_plan import _CALL
    from .safe_text import plain_params
    ins = ["x"] * len(be.inputs)
    expr = lowering(be.prim).expr(ins, [o.aval for o in be.outputs], **plain_params(be.params))
    return _CALL.match(expr) is not None


def emit_chunked(e, rows: int, ctx) -> list[str]:
    """Source lines running fused equation ``e`` over chunks of ``rows`` rows. ``ctx`` is the
    planned emitter's state: ``names`` (id -> source text, the body inputs already bound),
    ``full_target(var)`` (the planned/donated buffer text of a kernel output, or None),
    ``operand(atom, ins_of)`` and ``with_out(eqn, ins, expr, out)``, ``inner`` (the body's
    namer) and ``prefix``. Returns the lines; ``ctx.bound`` gets (var, text) of every output
    written to a full array, for the caller's frees bookkeeping."""
    from .numpy_emit import Operand, py_ident, py_literal
    from .safe_text import plain_params
    body = e.params["body"]
    shape = tuple(next(be.outputs[0].aval.shape for be in body.eqns
                       if be.prim.kind == "elementwise"))
    n = shape[0]
    outputs = {id(v) for v in body.outputs if isinstance(v, Var)}
    last_use: dict[int, int] = {}
    for i, be in enumerate(body.eqns):
        for a in be.inputs:
            if isinstance(a, Var):
                last_use[id(a)] = i
    k = ctx.prefix
    pre, loop, tail_fix, post = [], [], [], []
    chunk_text: dict[int, str] = {}   # id(var) -> its text inside the loop
    scratch_free: dict[str, list[str]] = {}
    scratch_all: list[tuple[str, str, str]] = []  # (name, dtype, shape text)
    holder: dict[int, str] = {}
    inputs = {id(a) for a in body.inputs}
    for bv in body.inputs:
        outer = ctx.names[id(bv)]
        chunk_text[id(bv)] = f"{outer}[_c0:_c1]" if bv.aval.shape == shape else outer
    for i, be in enumerate(body.eqns):
        o = be.outputs[0]
        oname = py_ident(k + ctx.inner(o))
        ins = [Operand(py_literal(a, ctx.lit_typed(a, be)), a.aval) if isinstance(a, Lit)
               else Operand(chunk_text[id(a)], a.aval) for a in be.inputs]
        params = plain_params(be.params)
        if _is_input_broadcast(be, shape, inputs):
            if isinstance(be.inputs[0], Var):
                # a copy: the plan may give the operand's slot, once it is dead, to an output
                # of this kernel, which the loop writes while later chunks still read it
                ins = [Operand(f"np.array({ins[0]})", ins[0].aval)] + ins[1:]
            pre.append(f"{oname} = {lowering(be.prim).expr(ins, [o.aval], **params)}")
            chunk_text[id(o)] = f"{oname}[_c0:_c1]"
            if id(o) in outputs:  # returned as it is: the whole broadcast view
                ctx.bound.append((o, oname, True))
            continue
        if be.prim.traits.reduction and _is_full_reduction(be, shape):
            expr = lowering(be.prim).expr(ins, [o.aval], **params)
            comb = _FULL_REDUCTIONS[be.prim]
            loop.append(f"_p = {expr}")
            loop.append(f"{oname} = _p if _c0 == 0 else {comb}({oname}, _p)")
            ctx.bound.append((o, oname, False))
            chunk_text[id(o)] = oname
        else:
            if id(o) in outputs:
                full = ctx.full_target(o)
                if full is None:
                    full = oname
                    pre.append(f"{oname} = np.empty({tuple(o.aval.shape)!r}, "
                               f"np.{o.aval.dtype})")
                    ctx.bound.append((o, oname, False))
                else:
                    ctx.bound.append((o, full, True))
                target = f"{full}[_c0:_c1]"
                post.append((o, full))
            else:
                dt = str(o.aval.dtype)
                free = scratch_free.setdefault(dt, [])
                if free:
                    target = free.pop()
                else:
                    target = f"_{k}s{len(scratch_all)}"
                    scratch_all.append((target, dt, f"({rows},) + {tuple(shape[1:])!r}"))
                holder[id(o)] = target
            expr = lowering(be.prim).expr(ins, [o.aval], **params)
            stmt = ctx.with_out(be, ins, expr, target)
            loop.append(stmt)
            chunk_text[id(o)] = target
        for a in be.inputs:  # scratch of values dead after this operation is free again
            if isinstance(a, Var) and id(a) in holder and last_use.get(id(a)) == i \
                    and id(a) not in outputs:
                scratch_free.setdefault(str(a.aval.dtype), []).append(holder.pop(id(a)))
    ctx.scratch_bytes = sum(rows * math.prod(shape[1:]) * np.dtype(dt).itemsize
                            for _, dt, _ in scratch_all)
    for name, dt, shp in scratch_all:
        pre.append(f"{name} = np.empty({shp}, np.{dt})")
        tail_fix.append(f"{name} = {name}[:_c1 - _c0]")
    ind = "    "
    out = [ind + p for p in pre]
    out.append(f"{ind}for _c0 in range(0, {n}, {rows}):  # {rows}-row chunks: scratch stays in cache")
    out.append(f"{ind}    _c1 = min(_c0 + {rows}, {n})")
    if tail_fix and n % rows:
        out.append(f"{ind}    if _c1 - _c0 != {rows}:  # the last, shorter chunk")
        out += [f"{ind}        {t}" for t in tail_fix]
    out += [f"{ind}    {stmt}" for stmt in loop]
    if scratch_all:
        out.append(f"{ind}del {', '.join(nm for nm, _, _ in scratch_all)}")
    return out
