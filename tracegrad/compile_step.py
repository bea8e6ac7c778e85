"""``tg.compile(step_fn)``: capture a whole PyTorch-style training step (zero_grad, forward,
loss, backward, optimizer step) into one compiled program and replay it on later calls.

While capturing, tensors stay symbolic: ``backward()`` yields lazy gradients, in-place updates
(optimizer steps, ``zero_()``) are recorded as replacements of the leaves they write. The
program reads every leaf it needs and returns the step's results, the new values of written
leaves and the final ``.grad`` of touched parameters. A replay skips Python entirely: it gathers
the inputs (arguments, current leaf values, hyper-parameters, NumPy arrays the step reads, and
every random draw the step made, drawn again in the step's order: tensor/drawn.py), runs the
program and writes the outputs back in place. The guard is the arguments' signature plus tg's
state version (``train()``/``eval()``, ``requires_grad_``, new parameters): a change re-captures,
and the program itself is cached by structure, so that costs no recompilation.
"""
from __future__ import annotations

import functools
import importlib

import numpy as np

from . import options
from .errors import TracegradError
from .pytree import tree_flatten, tree_unflatten
from .random_host import CAPTURING
from .tensor import Tensor, _identity_copy, _skey, apply_op

T = importlib.import_module("tracegrad.tensor")  # the module (tg.tensor is the function)


class Capture:
    """What a step does to tensors that outlive it, recorded while it runs symbolically."""

    def __init__(self):
        self.start = next(T._serial)
        self.replaced: dict = {}   # id(leaf) -> (leaf, lazy tensor now standing for it)
        self.grads: dict = {}      # id(param) -> (param, its .grad before the step)
        self.providers: dict = {}  # id(leaf) -> (leaf, make): values read anew per replay
        self.draws: list = []      # random draws' makes, in draw order (tensor/drawn.py)
        self.drawn: dict = {}      # id(leaf) -> (leaf, its index in draws)
        self.arrays: dict = {}     # id(leaf) -> (leaf, NumPy array it copied): read per replay
        self.grad_reads: dict = {}  # id(param) -> (param, was None): .grad read before written

    def add_draw(self, leaf: Tensor, make) -> None:
        self.drawn[id(leaf)] = (leaf, len(self.draws))
        self.draws.append(make)

    def add_array(self, leaf: Tensor, src: np.ndarray) -> None:
        self.arrays[id(leaf)] = (leaf, src)

    def read_leaf(self, t: Tensor, how: str) -> None:
        """``t``'s value read as Python data (``how``) during the capture: frozen into every
        replay, so refused unless ``t`` is a constant the step itself made."""
        k = id(t)
        if t._serial >= self.start and k not in self.replaced and k not in self.arrays and \
                k not in self.drawn:
            return
        what = ("written by the step" if k in self.replaced else
                "drawn at random by the step" if k in self.drawn else
                "read from a NumPy array" if id(t) in self.arrays else
                "an argument or made before the step")
        raise TracegradError(
            f"reading a tensor's value ({how}) inside tg.compile, of a tensor {what}: the "
            "value read while capturing would be frozen into every replay (the replays run no "
            "Python). Compute with it as a tensor (x * scale, tg.where(cond, a, b)), or read it "
            "outside the step and pass the number in as an argument")

    def current(self, t: Tensor) -> Tensor:
        hit = self.replaced.get(id(t))
        return t if hit is None else hit[1]

    def replace(self, leaf: Tensor, value: Tensor) -> None:
        self.replaced[id(leaf)] = (leaf, value)

    def read_grad(self, p: Tensor) -> None:
        k = id(p)
        if k not in self.grads and k not in self.grad_reads:
            self.grad_reads[k] = (p, p._grad is None)

    def touch_grad(self, p: Tensor) -> None:
        if id(p) not in self.grads:
            self.grads[id(p)] = (p, p._grad)


class _Replay(Exception):
    """A guard failed while gathering inputs: capture again."""


class _Entry:
    """One captured step: the program, how to gather its inputs and where its outputs go."""

    def __init__(self, op, getters, in_avals, setters, out_tree, results, replayable,
                 grad_guards, draws):
        self.op = op
        self.draws = draws  # the step's random draws, made again in this order at each replay
        self.grad_guards = grad_guards  # (param, had no .grad): the step assumed that state
        self.getters = getters
        self.in_avals = in_avals
        self.setters = setters
        self.out_tree = out_tree
        self.results = results      # per returned leaf: output index, or ("const", value)
        self.replayable = replayable

    def run(self, arg_leaves, first=False):
        for p, was_none in self.grad_guards:
            if (p._grad is None) != was_none:
                raise _Replay
        vals, drawn = [], []
        for (kind, obj), (shape, dtype) in zip(self.getters, self.in_avals):
            if kind == "draw":  # filled below, once no guard can send us to capture again
                drawn.append((len(vals), obj, shape, dtype))
                vals.append(None)
                continue
            if kind == "arg":
                v = arg_leaves[obj]
                v = T._value_of(v) if isinstance(v, Tensor) else T._to_array(v, copy=False)
            elif kind == "leaf":
                v = obj._value
            elif kind == "provider":
                v = obj[0]._value if first else obj[1]()
            elif kind == "grad":
                g = obj._grad
                if g is None or g._node is not None:
                    raise _Replay
                v = g._value
            elif kind == "array":  # a NumPy array the step read: its current contents
                v = np.asarray(obj)
                if v.dtype != dtype:
                    v = v.astype(dtype)
            else:  # a constant computed before the capture
                v = obj
            if v.shape != shape or v.dtype != dtype:
                raise _Replay
            vals.append(v)
        if drawn:
            self._fill_draws(vals, drawn, first)
        elif self.draws and not first:
            for make in self.draws:  # draws the program does not read still advance generators
                make()
        outs = self.op.run(vals)
        n_res = sum(isinstance(r, int) for r in self.results)
        for (kind, obj), v in zip(self.setters, outs[n_res:]):
            if kind == "assign":
                np.copyto(obj._value, v)
            elif kind == "grad":
                g = Tensor._leaf(v)
                g._grad_of = obj
                obj._grad = g
        for kind, p in self.setters[len(outs) - n_res:]:
            p._grad = None  # ("grad_none", p): the step left .grad unset
        leaves = [Tensor._leaf(outs[r]) if isinstance(r, int) else r[1] for r in self.results]
        return tree_unflatten(self.out_tree, leaves)


    def _fill_draws(self, vals, drawn, first):
        """Every draw of the step, made again in the eager order (an unused one too: eagerly it
        advances its generator); at capture, the numbers the capture drew."""
        fresh = [make() for make in self.draws] if not first else None
        for i, (leaf, k), shape, dtype in drawn:
            v = leaf._value if first else fresh[k]
            if v.shape != shape or v.dtype != dtype:
                raise TracegradError(
                    f"{leaf._what} gave shape {v.shape} {v.dtype} on replay, {shape} {dtype} at "
                    "capture: a draw's shape must not depend on state the capture cannot see")
            vals[i] = v


class CompiledStep:
    """A step function captured into one compiled program; see ``tracegrad.compile``."""

    def __init__(self, fn):
        self.fn = fn
        self._cache: dict = {}
        self.hits = 0
        self.captures = 0
        functools.update_wrapper(self, fn)

    def _signature(self, leaves, tree):
        spec = []
        for x in leaves:
            if isinstance(x, Tensor):
                spec.append(("t", x.shape, x.dtype, x._rg))
            elif isinstance(x, (np.ndarray, np.generic)):
                spec.append(("a", np.shape(x), np.asarray(x).dtype))
            else:
                spec.append(("s", _skey(x)))
        return (tree, tuple(spec), T._STATE_VERSION[0], T._GRAD_ENABLED[0])

    def __call__(self, *args, **kwargs):
        if T._CAPTURE:
            return self.fn(*args, **kwargs)  # nested: part of the enclosing capture
        # a replay reads leaves' arrays and writes parameters in place: deferred writes land
        # first, and lazy tensors still held are computed from the values they were made of
        T._before_mutation()
        leaves, tree = tree_flatten((args, kwargs))
        try:
            sig = self._signature(leaves, tree)
            entries = self._cache.get(sig, [])
        except TypeError:
            sig, entries = None, []
        for entry in entries:  # several when guards differ (e.g. .grad set or not)
            if entry.replayable:
                try:
                    out = entry.run(leaves)
                    self.hits += 1
                    self._cache[sig] = self._cache.pop(sig)  # most recently used last
                    return out
                except _Replay:
                    pass
        entry, out = self._capture(leaves, tree)
        if sig is not None:
            self._cache.setdefault(sig, []).append(entry)
            del self._cache[sig][:-4]  # keep the few most recent variants
            limit = options.jit_cache_size()  # and the most recently used signatures
            while limit and len(self._cache) > limit:
                del self._cache[next(iter(self._cache))]
        return out

    def cache_info(self) -> dict:
        return {"hits": self.hits, "captures": self.captures, "entries": len(self._cache)}

    def __reduce__(self):
        # its programs read this process's tensors by identity: the receiver captures afresh
        # (the step function travels; its tensors arrive with it as copies)
        return compile, (self.fn,)

    def _capture(self, leaves, tree):
        self.captures += 1
        arg_pos, wrapped = {}, []
        for k, x in enumerate(leaves):
            if isinstance(x, Tensor):
                if x._node is not None:
                    x = Tensor._leaf(T._value_of(x), False)  # arguments are data
                arg_pos[id(x)] = k
            elif isinstance(x, (np.ndarray, np.generic)):
                x = Tensor._leaf(T._to_array(x, copy=False))
                arg_pos[id(x)] = k
            wrapped.append(x)
        T._before_mutation()
        cap = Capture()
        T._CAPTURE.append(cap)
        CAPTURING.append(cap)  # np.random draws become drawn leaves (tensor/drawn.py)
        try:
            args, kwargs = tree_unflatten(tree, wrapped)
            out = self.fn(*args, **kwargs)
            out_leaves, out_tree = tree_flatten(out)
            targets, results, setters = [], [], []

            def target(t):
                if t._node is None:  # a leaf: through a copy, so every output is computed
                    t = apply_op(_identity_copy, (t,), name="copy")
                targets.append(t)
                return len(targets) - 1

            for o in out_leaves:
                results.append(target(o) if isinstance(o, Tensor) else ("const", o))
            for leaf, val in cap.replaced.values():
                target(val)
                setters.append(("assign", leaf))
            tail = []
            for p, before in cap.grads.values():
                g = p._grad
                if g is before:
                    continue
                if g is None:
                    tail.append(("grad_none", p))
                else:
                    target(g)
                    setters.append(("grad", p))
        finally:
            CAPTURING.pop()
            T._CAPTURE.pop()
            for p, before in cap.grads.values():
                p._grad = before  # the program's run below applies the step's final state
        replayable = not any(id(leaf) in arg_pos for leaf, _ in cap.replaced.values()) and \
            not any(id(p) in arg_pos for p, _ in cap.grads.values())
        walk = T._Walk([t._node for t in targets], grad_mode=False)
        out_codes = tuple(walk.ref_code((t._node, t._index)) for t in targets)
        key = ("step", walk.key(), out_codes)
        op = T._program(key, lambda: T._forward_op(walk, out_codes, "compiled_step"),
                        "compiled_step")
        getters = []
        for r in walk.inputs:
            if type(r) is tuple:
                getters.append(("const", r[0].values[r[1]]))
            elif id(r) in arg_pos:
                getters.append(("arg", arg_pos[id(r)]))
            elif id(r) in cap.drawn:
                getters.append(("draw", cap.drawn[id(r)]))
            elif id(r) in cap.providers:
                getters.append(("provider", cap.providers[id(r)]))
            elif id(r) in cap.arrays and _unchanged(*cap.arrays[id(r)]):
                getters.append(("array", cap.arrays[id(r)][1]))
            elif r._serial >= cap.start and id(r) in cap.replaced:
                # made by the step and written in place by it: each call starts it afresh
                getters.append(("const", r._value.copy()))
            elif r._grad_of is not None and r._grad_of._grad is r and r._serial < cap.start:
                getters.append(("grad", r._grad_of))
            else:
                getters.append(("leaf", r))
        in_avals = [(tuple(s), d) for s, d in walk.key()[1]]
        guards = list(cap.grad_reads.values())
        entry = _Entry(op, getters, in_avals, setters + tail, out_tree, results, replayable,
                       guards, cap.draws)
        return entry, entry.run(leaves, first=True)


def _unchanged(leaf: Tensor, src: np.ndarray) -> bool:
    """Whether NumPy array ``src`` still holds what ``leaf`` copied from it during the capture:
    then a replay reads ``src`` (the caller may refill it between steps); if the step wrote it
    after reading it, each read keeps the copy it made (as eagerly)."""
    copy = leaf._value
    if src.shape != copy.shape:
        return False
    return bool(np.array_equal(src.astype(copy.dtype, copy=False), copy,
                               equal_nan=copy.dtype.kind in "fc"))


def compile(fn=None):
    """Capture ``fn`` (a training step written as in PyTorch) into one compiled program.

    The first call (per argument signature) runs ``fn`` symbolically and compiles; later calls
    replay the program without running ``fn``'s Python. ``fn`` must do the same tensor
    operations on every call (Python side effects run only while capturing) and read values
    only outside: return the loss and call ``.item()`` on the result.
    """
    if fn is None:
        return compile
    if not callable(fn):
        raise TracegradError(f"tg.compile expects a function, got {type(fn).__name__}")
    return CompiledStep(fn)
