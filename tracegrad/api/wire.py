"""Pickling compiled functions: a jit function or transform travels as its recipe plus, per
compiled signature, its traced graph as exact JSON; the receiver compiles that graph through its
own caches on first call (never a shipped ``.so``; graphs decode as data and are verified)."""

# Security: a pickle as such can run any code. Unpickle compiled functions only from sources
# you trust, as with any pickle (docs/distributed.md). What this module adds to a pickle is data:
# graphs decode without running code, are verified before use, and generated code quotes
# everything user-controlled (codegen's safe_text rules).
from __future__ import annotations

import importlib
import json
import threading
import uuid
import warnings
from collections import OrderedDict

from .. import options
from ..errors import TracegradError, TracegradWarning

FORMAT = 1
# options that change the program a graph compiles to; shipped so a worker can say when its own
# differ (opt level and backend are applied; the others are environment of the worker process)
SHAPING = ("TRACEGRAD_BACKEND", "TRACEGRAD_OPT_LEVEL", "TRACEGRAD_DISABLE_PASSES",
           "TRACEGRAD_NUM_THREADS", "TRACEGRAD_CFLAGS")
# wire id -> the function rebuilt here. Strong references: a worker's task drops its arguments
# when it ends, and the next task must find the compiled programs (most recently used kept)
_REBUILT: OrderedDict[str, object] = OrderedDict()
REBUILT_KEPT = 256
_LOCK = threading.Lock()


def wire_id(jf) -> str:
    """A process-independent name of ``jf``: every unpickling of it in one process returns one
    object, so its compiled programs are made once per worker, not once per task."""
    wid = jf.__dict__.get("_wire_id")
    if wid is None:
        wid = jf.__dict__.setdefault("_wire_id", uuid.uuid4().hex)
    return wid


def reduce_jit(jf):
    """``JitFunction.__reduce__``: rebuilt by ``rebuild`` from the recipe and the programs."""
    if "_diff" in jf.__dict__:  # a TransformFunction: made again by its transform
        recipe = getattr(jf, "_recipe", None)
        if recipe is None or recipe[0] not in _TRANSFORMS:
            raise TracegradError(
                f"{jf.__name__} cannot be pickled: only tg.jit, tg.grad, tg.value_and_grad and "
                "tg.jacobian functions travel. Pickle the user function instead and apply the "
                "transform where it is called")
        head = ("transform",) + tuple(recipe)
    else:
        ref = _module_attr(jf)
        head = ("attr",) + ref if ref is not None else \
            ("jit", jf.fn, jf.backend, jf.static_argnums, jf.donate_argnums, jf.opt_level)
    state = {"format": FORMAT, "id": wire_id(jf), "entries": shipped_entries(jf),
             "options": {k: options.get(k) for k in SHAPING}}
    return rebuild, (head, state)


def _module_attr(jf):
    """``(module, qualname)`` when that names ``jf`` itself (a ``@tg.jit`` decorated function:
    its own function is shadowed there, so only the decorated object can be found by name)."""
    mod, qual = getattr(jf, "__module__", None), getattr(jf, "__qualname__", None)
    if not mod or not qual or "<" in qual or mod == "__main__":
        return None
    try:
        obj = importlib.import_module(mod)
        for part in qual.split("."):
            obj = getattr(obj, part)
    except Exception:  # noqa: BLE001 - not importable by name: ship the function by value
        return None
    return (mod, qual) if obj is jf else None


def shipped_entries(jf) -> list:
    """``(signature, graph JSON text, out_tree, int_checks)`` per compiled signature whose traced
    graph the exact encoding can write; programs drawing from host generators (np.random) stay
    behind: the receiver traces them again against its own generators."""
    from ..random_host import HostKeyed
    from .program_cache import Uncacheable, encode_graph
    out = []
    for sig, entry in list(jf._cache.items()):
        if isinstance(entry.executable, HostKeyed):
            continue
        text = entry.__dict__.get("_wire_text")
        if text is None:  # encoded once per compiled signature: a task pickles it each step
            try:
                text = json.dumps(encode_graph(entry.traced_ir), separators=(",", ":"))
            except Uncacheable:
                text = ""
            entry.__dict__["_wire_text"] = text
        if not text:
            continue
        out.append((sig, text, entry.out_tree, tuple(entry.int_checks)))
    return out


def rebuild(head, state):
    """The unpickled function: the one this process already rebuilt under ``state["id"]``, or
    a new one made from ``head``; the shipped programs it lacks are filed for its first call."""
    if type(state) is not dict or state.get("format") != FORMAT:
        raise TracegradError("a pickled tracegrad function from another tracegrad version: "
                             "pickle it again with this one")
    wid = str(state["id"])
    with _LOCK:
        jf = _REBUILT.get(wid)
        if jf is not None:
            _REBUILT.move_to_end(wid)
    if jf is None:
        jf = _make(head)
        jf.__dict__["_wire_id"] = wid
        with _LOCK:
            jf = _REBUILT.setdefault(wid, jf)
            while len(_REBUILT) > REBUILT_KEPT:
                _REBUILT.popitem(last=False)
    _warn_options(state.get("options", {}))
    shipped = jf.__dict__.setdefault("_shipped", {})
    for sig, text, out_tree, int_checks in state["entries"]:
        if sig not in jf._cache and sig not in shipped:
            shipped[sig] = (str(text), out_tree, tuple(int_checks),
                            dict(state.get("options", {})))
    return jf


def _make(head):
    kind = head[0]
    if kind == "attr":
        return _resolve(head[1], head[2])
    if kind == "jit":
        # by name, not an import: api/jit.py imports this module (api imports one way)
        _, fn, backend, static_argnums, donate_argnums, opt_level = head
        return _resolve("tracegrad.api.jit", "JitFunction")(
            fn, backend=backend, static_argnums=static_argnums, donate_argnums=donate_argnums,
            opt_level=opt_level)
    if kind == "transform" and head[1] in _TRANSFORMS:
        _, name, fn, opts = head
        # grad(fn, argnums, has_aux, static_argnums); jacobian(fn, argnums, mode, static_argnums)
        return _resolve(_TRANSFORMS[name], name)(fn, *opts)
    raise TracegradError(f"unknown pickled tracegrad function kind {kind!r}")


def _resolve(module: str, qualname: str):
    obj = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


# the transforms whose functions travel, and the module defining each
_TRANSFORMS = {"grad": "tracegrad.api.transforms", "value_and_grad": "tracegrad.api.transforms",
               "jacobian": "tracegrad.api.jacobians"}


def _warn_options(sent: dict) -> None:
    """Options the worker does not share with the sender change its programs (or their
    rounding): say so once per difference instead of silently returning other bits."""
    for k in ("TRACEGRAD_DISABLE_PASSES", "TRACEGRAD_NUM_THREADS", "TRACEGRAD_CFLAGS"):
        if k in sent and str(sent[k]) != options.get(k) and (k, sent[k]) not in _WARNED:
            _WARNED.add((k, sent[k]))
            warnings.warn(f"tracegrad: a shipped function was compiled with {k}={sent[k]!r}, "
                          f"this process has {options.get(k)!r}: results may differ from the "
                          "sender's in the last bits (set the same value on the workers)",
                          TracegradWarning, stacklevel=2)


_WARNED: set = set()


def lower_shipped(jf, sig, statics):
    """The ``Lowered`` of a signature whose traced graph was shipped with ``jf``, compiled here
    (None when none was, or it does not fit the call: then ``jf`` traces as usual)."""
    shipped = jf.__dict__.get("_shipped")
    if not shipped:
        return None
    payload = shipped.pop(sig, None)
    if payload is None:
        return None
    from ..ir import verify
    from ..pytree import tree_unflatten
    from ..staging import Traced
    from .lowering import compile_traced
    from .program_cache import decode_graph
    text, out_tree, int_checks, sent = payload
    try:
        graph = decode_graph(json.loads(text))
        verify(graph)
    except Exception as exc:  # noqa: BLE001 - a damaged payload: trace again, never trust it
        warnings.warn(f"tracegrad: a shipped program did not decode ({exc}); tracing again",
                      TracegradWarning, stacklevel=3)
        return None
    if [(tuple(v.aval.shape), v.aval.dtype) for v in graph.inputs] != \
            [(tuple(s), d) for s, d, _ in sig.avals]:
        return None
    dyn, _ = tree_unflatten(sig.tree, [None] * len(sig.avals))
    backend = jf.backend
    if backend == "auto":
        backend = sent.get("TRACEGRAD_BACKEND", "auto")
    traced = Traced(graph, [], out_tree, sig.tree, int_checks, ())
    return compile_traced(traced, backend=backend,
                          opt_level=jf.opt_level or sent.get("TRACEGRAD_OPT_LEVEL"),
                          name=getattr(jf.fn, "__name__", "fn"),
                          donate=jf._donated_leaves(dyn, statics), trace_seconds=0.0)
