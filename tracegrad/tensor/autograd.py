"""``Tensor.backward()`` and ``tg.autograd.grad``: reverse mode over the lazy tensor DAG.

The DAG behind the outputs is re-emitted as one forward graph and differentiated by the same
pass as ``tg.grad`` (``passes.autodiff.vjp_inline``); the resulting program is cached by the
DAG's structure, so a training loop derives and compiles its backward program once. Eagerly the
program runs at once; with ``create_graph=True`` (or inside ``tg.compile``) its outputs are
lazy tensors, so gradients can be differentiated again.
"""
from __future__ import annotations

import numpy as np

from .. import dtypes, lax
from ..custom import Function, FunctionCtx  # noqa: F401  (tg.autograd.Function, as in PyTorch)
from ..errors import GradientDTypeError, GradientError
from ..ir import AVal
from ..tracer import TraceContext
from . import lazy as L
from .core import Tensor
from .grad_mode import is_grad_enabled
from .lazy import apply_op

_RETAINED = L.IdWeakSet()  # non-leaf tensors asked to retain_grad()


def retain(t) -> None:
    _RETAINED.add(t)


def _identity(x):
    return x


def _check_roots(roots, gradients):
    out = []
    for r, g in zip(roots, gradients):
        if not isinstance(r, Tensor):
            raise GradientError(f"backward() needs tensors, got {type(r).__name__}")
        if not r._rg:
            raise GradientError(
                "this tensor does not require grad and has no grad_fn: none of the tensors it "
                "was computed from has requires_grad=True (or it was computed under no_grad / "
                "detached), so there is nothing to differentiate")
        if g is None:
            if r.numel() != 1:
                # PyTorch's wording ("grad can be implicitly created only for scalar
                # outputs"): what its users search for
                raise GradientError(
                    f"grad can be implicitly created only for scalar outputs: backward() "
                    f"without a gradient argument needs a scalar (one-element) output, but this "
                    f"tensor has shape {r.shape}. Reduce it first (loss.sum() or loss.mean()), "
                    "or pass a gradient of that shape: y.backward(gradient)")
            if not dtypes.is_float(r.dtype):
                raise GradientDTypeError(f"backward() needs a float output, got {r.dtype}")
        elif tuple(np.shape(g)) != r.shape:
            raise GradientError(f"the gradient passed to backward() has shape "
                                f"{tuple(np.shape(g))}, but the output has shape {r.shape}")
        if r._node is None:  # a leaf root: d(x)/d(x) through an identity operation
            r = apply_op(_identity, (r,), name="identity")
        out.append(r)
    return out


def _gradient_tensor(g, like):
    if isinstance(g, Tensor):
        return g.astype(like.dtype) if g.dtype != like.dtype else g
    return Tensor._leaf(np.asarray(g, dtype=like.dtype))


def _vjp(roots, gradients, targets, retain_graph, create_graph, co_materialise, also=()):
    """Differentiate ``roots`` (seeded with ``gradients``; None means ones).

    ``targets`` are tensors to differentiate with respect to (None: every leaf with
    requires_grad reached); ``also`` are non-leaf tensors whose gradients are wanted when the
    roots depend on them (retain_grad). Returns ``(targets, grads)``; grads are arrays, or lazy
    tensors when ``create_graph`` or inside ``tg.compile``; None for a target the roots do not
    use.
    """
    cap = L._capture()
    lazy = create_graph or cap is not None
    roots = _check_roots(roots, gradients)
    walk = L._Walk([r._node for r in roots], grad_mode=True)
    ins = walk.inputs
    if targets is None:
        targets = [r for r in ins if type(r) is not tuple and r._rg]
    targets = list(targets) + [t for t in also if t._node is not None
                               and id(t._node) in walk.pos and t._rg]
    wrt, probes, found = [], [], []
    for t in targets:
        if t._node is None:
            k = walk.in_pos.get(id(t))
            found.append(k is not None)
            if k is not None:
                wrt.append(k)
        else:
            p = walk.pos.get(id(t._node))
            found.append(p is not None)
            if p is not None:
                probes.append((p, t._index))
    root_ids = {id(r) for r in roots}
    extras = []
    if co_materialise and not lazy:
        # lazy tensors the user still holds whose values this program computes anyway
        extras = [t for t in list(L._PENDING) if id(t) not in root_ids and t._node is not None
                  and t._node.values[t._index] is None and id(t._node) in walk.pos]
    root_codes = tuple(walk.ref_code((r._node, r._index)) for r in roots)
    extra_codes = tuple(walk.ref_code((t._node, t._index)) for t in extras)
    seeded = tuple(g is not None for g in gradients)
    key = ("bwd", walk.key(), root_codes, extra_codes, tuple(wrt), tuple(probes), seeded)
    op = L._program(key, lambda: _backward_op(walk, roots, root_codes, extra_codes, wrt, probes,
                                              seeded), "tensor_backward")
    probe_avals = [walk.nodes[p].op.out_avals[j] for p, j in probes]
    grads_given = [_gradient_tensor(g, r) for g, r in zip(gradients, roots) if g is not None]
    n_out = len(roots) + len(extras)
    if lazy:
        probe_leaves = [Tensor._leaf(np.zeros(av.shape, av.dtype)) for av in probe_avals]
        refs = list(ins) + probe_leaves
        for g in grads_given:
            refs.append(g if g._node is None else (g._node, g._index))
        outs = L._node_outputs(op, tuple(refs), create_graph and is_grad_enabled())
        grads = outs[n_out:]
    else:
        vals = walk.input_values() + [np.zeros(av.shape, av.dtype) for av in probe_avals] + \
            [L._value_of(g) for g in grads_given]
        outs = op.run(vals)
        for t, v in zip(list(roots) + extras, outs[:n_out]):
            if t._node.values[t._index] is None:
                L.store_value(t, v)
                L._PENDING.discard(t)
        grads = outs[n_out:]
    if not (retain_graph if retain_graph is not None else create_graph):
        for node in walk.nodes:
            if node.requires_grad:
                node.freed = True
    it = iter(grads)
    return targets, [next(it) if f else None for f in found]


def _backward_op(walk, roots, root_codes, extra_codes, wrt, probes, seeded):
    from tracegrad.passes.autodiff import vjp_inline
    in_avals = walk.input_avals()
    probe_avals = [walk.nodes[p].op.out_avals[j] for p, j in probes]
    with TraceContext("tensor_forward") as ctx:
        ins = [ctx.new_input(av) for av in in_avals]
        pins = [ctx.new_input(av) for av in probe_avals]
        resolve = walk.build(ins, {pj: v for pj, v in zip(probes, pins)})
        fwd, _ = ctx.to_graph([resolve(c) for c in root_codes + extra_codes])
    n_in = len(in_avals)
    wrt_all = list(wrt) + list(range(n_in, n_in + len(probes)))
    with TraceContext("tensor_backward") as ctx:
        xs = [ctx.new_input(av) for av in in_avals + probe_avals]
        cts = []
        for r, s in zip(roots, seeded):
            av = AVal(r.shape, r.dtype)
            cts.append(ctx.new_input(av) if s else lax.full(av.shape, 1.0, av.dtype))
        cts += [None] * len(extra_codes)
        outs, grads = vjp_inline(fwd, xs, cts, wrt_all)
        graph, _ = ctx.to_graph(list(outs) + list(grads))
    return L._Op(graph, None, "tensor_backward")


def _accumulate(t, g, create_graph):
    """``t.grad += g`` (in place for a concrete gradient, as PyTorch does)."""
    cur = t.grad
    if isinstance(g, Tensor):
        t.grad = g if cur is None else cur + g
    elif cur is None:
        t.grad = Tensor._leaf(g)
    elif cur._node is None and not L._CAPTURE:
        cur._value += g
    else:
        t.grad = cur + Tensor._leaf(g)


def run_backward(roots, gradients, retain_graph=None, create_graph=False, inputs=None):
    """``backward()`` of several roots at once (``tg.autograd.backward``)."""
    targets = None
    if inputs is not None:
        targets = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    also = list(_RETAINED) if inputs is None and _RETAINED else ()
    tg, grads = _vjp(roots, gradients, targets, retain_graph, create_graph, True, also)
    if not create_graph and not L._CAPTURE:
        L._before_mutation()  # .grad arrays change in place below
    for t, g in zip(tg, grads):
        if g is not None:
            _accumulate(t, g, create_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=False):
    """``tg.autograd.grad``: gradients of ``outputs`` w.r.t. ``inputs`` (a tuple), without
    touching ``.grad``. ``create_graph=True`` returns differentiable tensors."""
    outs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    ins = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    if grad_outputs is None:
        gos = [None] * len(outs)
    else:
        gos = [grad_outputs] if not isinstance(grad_outputs, (list, tuple)) else \
            list(grad_outputs)
    _, grads = _vjp(outs, gos, ins, retain_graph, create_graph, False)
    result = []
    for t, g in zip(ins, grads):
        if g is None:
            if not allow_unused:
                raise GradientError(
                    f"one of the differentiated tensors (shape {t.shape}) was not used to "
                    "compute the outputs; pass allow_unused=True to get None for it")
            result.append(None)
        else:
            result.append(g if isinstance(g, Tensor) else Tensor._leaf(g))
    return tuple(result)


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """``tg.autograd.backward``: backward of several outputs in one program."""
    ts = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    gs = [None] * len(ts) if grad_tensors is None else (
        [grad_tensors] if not isinstance(grad_tensors, (list, tuple)) else list(grad_tensors))
    run_backward(ts, gs, retain_graph, create_graph, inputs)
