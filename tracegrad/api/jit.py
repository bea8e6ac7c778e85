"""``jit``: trace once per call signature (pytree structure, leaf shapes, dtypes and weakness,
static argument values), lower (lowering.py) and cache the executable. Calls under an active
trace are inlined instead, so transforms compose in any order."""
from __future__ import annotations

import dataclasses
import functools
import inspect
import threading
import time
from dataclasses import dataclass, field

import numpy as np

from .. import options
from ..dtypes import SHORT_NAMES
from ..errors import ArgumentError, TracegradError
from ..identity import same_value, value_key
from ..int_range import WIDE, weak_kind
from ..int_range import run_checks as run_int_checks
from ..ir import AVal
from ..pytree import TreeDef, keystr, tree_flatten, tree_paths, tree_unflatten
from ..source_info import check_callable, names_caller, user_src_with_text
from ..staging import as_array, call_user, leaf_aval, trace
from ..tracer import Tracer, is_tracing
from .lowering import Lowered, compile_traced
from .wire import lower_shipped, reduce_jit

BACKENDS = ("auto", "numpy", "c")


def normalize_argnums(argnums, n: int, what: str) -> tuple[int, ...]:
    if argnums is None:
        return ()
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    out = []
    for a in nums:
        if not isinstance(a, int) or isinstance(a, bool):
            raise TracegradError(f"{what} must be ints, got {a!r}")
        if not -n <= a < n:
            raise TracegradError(f"{what}={argnums!r} is out of range for a call with {n} "
                                 "positional arguments")
        out.append(a % n)
    return tuple(sorted(set(out)))


@dataclass(frozen=True)
class Signature:
    """What a compiled entry is specialised on."""

    tree: TreeDef
    avals: tuple          # (shape, dtype, weak) per dynamic leaf
    # (position or keyword, type, value) per static argument; compared through static_key,
    # never by ==, which merges 0.0 with -0.0 and makes a NaN differ from itself
    statics: tuple = field(compare=False)
    names: tuple = field(default=(), compare=False)  # readable name per leaf, for messages
    static_key: tuple = field(default=(), repr=False)  # set from statics: see __post_init__

    def __post_init__(self):
        object.__setattr__(self, "static_key", _static_key(self.statics))

    def leaf_name(self, i: int) -> str:
        return self.names[i] if i < len(self.names) else f"argument leaf {i}"

    def describe_change(self, new: "Signature") -> str:
        if self.static_key != new.static_key:
            old_s = {k: (t, v) for k, t, v in self.statics}
            new_s = {k: (t, v) for k, t, v in new.statics}
            for k in sorted(set(old_s) | set(new_s), key=str):
                a, b = old_s.get(k), new_s.get(k)
                if (a is None) != (b is None) or (a is not None and
                                                  not same_value(a[1], b[1])):
                    what = f"static argument {k if isinstance(k, int) else repr(k)}"
                    fa = "(not passed)" if a is None else repr(a[1])
                    fb = "(not passed)" if b is None else repr(b[1])
                    if a is not None and b is not None and (fa == fb or (
                            a[0] is not b[0] and _py_equal(a[1], b[1]))):
                        fa, fb = f"{a[0].__name__} {fa}", f"{b[0].__name__} {fb}"
                    return f"{what} changed: {fa} -> {fb}"
            return "static arguments changed"
        if self.tree != new.tree:
            return f"pytree structure changed: {self.tree} -> {new.tree}"
        for i, (a, b) in enumerate(zip(self.avals, new.avals)):
            name = new.leaf_name(i)
            if a[0] != b[0]:
                return f"shape of {name} changed: {a[0]} -> {b[0]}"
            if a[1] != b[1]:
                return f"dtype of {name} changed: {a[1]} -> {b[1]}"
            if a[2] != b[2]:
                kind = {True: "a Python scalar", False: "an array",
                        WIDE: "a Python int outside int32's range"}
                return f"{name} changed from {kind[a[2]]} to {kind[b[2]]}"
        return "signature changed"


def _static_key(statics) -> tuple:
    """The cache key of the static arguments: each value by ``identity.value_key`` (type and
    bit pattern, element by element in tuples), so ``-0.0`` and ``0.0`` compile apart and a
    NaN static hits its own entry."""
    return tuple((k, value_key(v)) for k, _, v in statics)


def _py_equal(a, b) -> bool:
    """``a == b`` in Python's sense (2 == 2.0), for naming the types when values look alike."""
    try:
        return bool(a == b)
    except Exception:
        return False


MISS_REASONS_KEPT = 256  # the most recent miss reasons CacheInfo keeps


@dataclass
class CacheInfo:
    hits: int = 0
    misses: int = 0
    miss_reasons: list = field(default_factory=list)  # one string per recent miss
    currsize: int = 0
    maxsize: int = 0       # TRACEGRAD_JIT_CACHE_SIZE when the last entry was added (0: none)
    evictions: int = 0     # entries dropped as least recently used
    # per cached signature, oldest first: the backend answering its calls ("c", "numpy"), or
    # a background build's state ("numpy: C building in the background", "c: built in the
    # background"; codegen/c/background.py)
    backends: list = field(default_factory=list)

    def __repr__(self) -> str:
        return (f"CacheInfo(hits={self.hits}, misses={self.misses}, currsize={self.currsize}, "
                f"maxsize={self.maxsize}, evictions={self.evictions}, "
                f"miss_reasons={self.miss_reasons}, backends={self.backends})")


class JitFunction:
    """A function compiled per call signature; see ``tracegrad.jit``.

    The signature is the pytree structure of the dynamic arguments, each leaf's shape, dtype and
    weakness (a Python scalar promotes like one), and the type and value of each static
    argument. Each distinct signature is traced and compiled once and cached.
    """

    def __init__(self, fn, *, backend="auto", static_argnums=(), donate_argnums=(),
                 opt_level=None, transform=None):
        if backend not in BACKENDS:
            raise ArgumentError(f"backend must be one of {BACKENDS}, got {backend!r}")
        check_callable(fn, "the function given to tg.jit")
        _check_opt_level(opt_level)
        respec = getattr(fn, "_respec", None)
        if static_argnums and respec is not None:
            # jit(grad(f), static_argnums=...): the inner transform must not trace them either
            fn = respec(_as_int_tuple(static_argnums, "static_argnums"))
        self.fn = fn
        self.backend = backend
        self.static_argnums = _as_int_tuple(static_argnums, "static_argnums")
        self.donate_argnums = _as_int_tuple(donate_argnums, "donate_argnums")
        self.opt_level = opt_level
        self._params = _positional_params(fn)
        self._cache: dict[Signature, Lowered] = {}
        self._fast: dict[tuple, Lowered] = {}  # (shape, dtype) per ndarray argument -> entry
        self._info = CacheInfo()
        self._last_sig: Signature | None = None
        self._first_reason = "first call"  # a cached transform says why it was made anew
        self._lock = threading.RLock()  # held while compiling a signature
        # updated=(): copying fn.__dict__ would overwrite this object's own state when fn is
        # itself a JitFunction (jit(value_and_grad(f)) shared the inner cache and backend)
        functools.update_wrapper(self, fn, updated=())

    # --- signature ----------------------------------------------------------------------------
    def _static_positions(self, n_args: int) -> tuple[int, ...]:
        if not self.static_argnums:
            return ()
        # positions count the function's positional parameters, so a static argument left at
        # its default or passed by keyword is still found
        return normalize_argnums(self.static_argnums, max(n_args, len(self._params)),
                                  "static_argnums")

    def _split(self, args, kwargs):
        """``(dynamic positional args, dynamic kwargs, statics)``; statics are
        ``(position or keyword, type, value)`` and form part of the cache key."""
        positions = self._static_positions(len(args))
        if not positions:
            return tuple(args), kwargs, ()
        static_vals = []
        kwargs = dict(kwargs)
        for i in positions:
            if i < len(args):
                key, v = i, args[i]
            elif i < len(self._params) and self._params[i] in kwargs:
                key = self._params[i]
                v = kwargs.pop(key)
            else:
                continue  # not passed: the default is used, and it needs no tracing
            check_static(key, v)
            static_vals.append((key, type(v), v))
        dyn = tuple(a for i, a in enumerate(args) if i not in positions)
        return dyn, kwargs, tuple(static_vals)

    def _signature(self, dyn, kwargs, statics) -> tuple[Signature, list]:
        leaves, tree = tree_flatten((dyn, kwargs))
        avals = []
        for i, leaf in enumerate(leaves):
            # the common, fast case (leaf_aval refuses more than staging.MAX_RANK dimensions)
            if type(leaf) is np.ndarray and leaf.dtype in SHORT_NAMES and leaf.ndim <= 32:
                avals.append((leaf.shape, leaf.dtype, False))
                continue
            try:
                aval, weak = leaf_aval(leaf, "")
            except TracegradError:
                name = self._leaf_names(tree, statics)[i]
                fn_name = getattr(self.fn, "__name__", type(self.fn).__name__)
                leaf_aval(leaf, f"{name} (a leaf of the arguments of {fn_name})")
                raise
            # a Python int outside int32 gets its own trace (it must not narrow to int32)
            avals.append((aval.shape, aval.dtype, weak_kind(leaf, weak)))
        return Signature(tree, tuple(avals), statics), leaves

    def _leaf_names(self, tree: TreeDef, statics) -> list[str]:
        """Readable names of the dynamic leaves: ``x``, ``params['w']``, ``batch[0]``."""
        static_pos = {k for k, _, _ in statics if isinstance(k, int)}
        n_dyn = len(tree.children[0].children)
        positions = [i for i in range(n_dyn + len(static_pos)) if i not in static_pos]
        names = []
        for path in tree_paths(tree):
            if path[0] == 0:
                pos = positions[path[1]]
                base = self._params[pos] if pos < len(self._params) else f"args[{pos}]"
                names.append(base + keystr(path[2:]))
            else:
                names.append(str(path[1]) + keystr(path[2:]))
        return names

    def _rebuild(self, statics):
        positions = {k: v for k, _, v in statics if isinstance(k, int)}
        keywords = {k: v for k, _, v in statics if isinstance(k, str)}

        def rebuild(dyn_args, kwargs):
            args, it = [], iter(dyn_args)
            for i in range(len(dyn_args) + len(positions)):
                args.append(positions[i] if i in positions else next(it))
            return call_user(self.fn, args, {**kwargs, **keywords})
        return rebuild

    # --- calling ------------------------------------------------------------------------------
    def __call__(self, *args, **kwargs):
        if is_tracing():
            # Under another transform: trace straight through (the enclosing one compiles).
            return self.fn(*args, **kwargs)
        if not kwargs:
            # fast path: positional ndarrays only, keyed on (shape, dtype) without pytree work
            key = self._fast_key(args)
            entry = self._fast.get(key) if key is not None else None
            if entry is not None:
                self._info.hits += 1
                entry.last_use = self._info.hits
                outs = entry.executable(*args)
                return outs[0] if entry.out_tree.kind == "leaf" else \
                    tree_unflatten(entry.out_tree, outs)
        try:
            dyn, kwargs, statics = self._split(args, kwargs)
            sig, leaves = self._signature(dyn, kwargs, statics)
            entry = self._cache.get(sig)
            if entry is None:
                entry = self._compile(sig, dyn, kwargs, statics)
            else:
                self._info.hits += 1
                entry.last_use = self._info.hits
        except TracegradError as exc:
            # a bad argument, or an error of a transform (argnums, a non-scalar output...)
            # that names no traced line: name the line of the call
            raise exc.with_src(user_src_with_text(2))
        if not kwargs:
            key = self._fast_key(args)
            if key is not None and self._cache.get(sig) is entry:  # (not evicted meanwhile)
                self._fast[key] = entry
        if entry.int_checks:  # Python ints computed from Python-int arguments must fit
            try:
                run_int_checks(entry.int_checks, leaves)
            except TracegradError as exc:
                raise exc.with_src(user_src_with_text(2))
        flat = [x if type(x) is np.ndarray else as_array(x, AVal(s, d))
                for x, (s, d, _) in zip(leaves, sig.avals)]
        outs = entry.executable(*flat)
        return tree_unflatten(entry.out_tree, outs)

    def _fast_key(self, args):
        """``((shape, dtype), ...)`` when every argument is a plain ndarray of a traced dtype
        and none is static; else None (the general path handles it)."""
        if self.static_argnums:
            return None
        key = []
        for a in args:
            if type(a) is not np.ndarray or a.dtype not in SHORT_NAMES:
                return None
            key.append((a.shape, a.dtype))
        return tuple(key)

    def _compile(self, sig, dyn, kwargs, statics) -> Lowered:
        # One thread compiles a signature while the others calling with it wait and then use
        # its entry (the lock is re-entrant: tracing may call back into this function).
        with self._lock:
            entry = self._cache.get(sig)
            if entry is not None:
                self._info.hits += 1
                return entry
            sig = dataclasses.replace(sig, names=tuple(self._leaf_names(sig.tree, statics)))
            reason = self._first_reason if self._last_sig is None else \
                self._last_sig.describe_change(sig)
            # a program shipped with a pickled function (wire.py) compiles without tracing
            entry = lower_shipped(self, sig, statics) or \
                self._lower(dyn, kwargs, statics)  # a failed trace is not cached or counted
            self._info.misses += 1
            self._info.miss_reasons.append(reason)
            del self._info.miss_reasons[:-MISS_REASONS_KEPT]
            entry.last_use = self._info.hits
            self._cache[sig] = entry
            self._evict(options.jit_cache_size())
            self._last_sig = sig
            self._info.currsize = len(self._cache)
            return entry

    def _evict(self, maxsize: int) -> None:
        """Drop least recently used entries beyond ``maxsize`` (0: no bound), from both maps,
        so their executables (and generated sources, loaded kernels' wrappers) can be freed."""
        self._info.maxsize = maxsize
        while maxsize and len(self._cache) > maxsize:
            old_sig = min(self._cache, key=lambda s: self._cache[s].last_use)
            old = self._cache.pop(old_sig)
            for k in [k for k, e in self._fast.items() if e is old]:
                del self._fast[k]
            self._info.evictions += 1

    def _lower(self, dyn, kwargs, statics) -> Lowered:
        t0 = time.perf_counter()
        traced = trace(self.fn, dyn, kwargs, name=getattr(self.fn, "__name__", "fn"),
                       rebuild=self._rebuild(statics))
        return compile_traced(traced, backend=self.backend, opt_level=self.opt_level,
                              name=getattr(self.fn, "__name__", "fn"),
                              donate=self._donated_leaves(dyn, statics),
                              trace_seconds=time.perf_counter() - t0)

    def _donated_leaves(self, dyn, statics) -> tuple[int, ...]:
        """Flat input positions of the leaves of the donated positional arguments."""
        if not self.donate_argnums:
            return ()
        static_pos = {k for k, _, _ in statics if isinstance(k, int)}
        n = len(dyn) + len(static_pos)
        donated = set(normalize_argnums(self.donate_argnums, n, "donate_argnums"))
        if donated & static_pos:
            raise TracegradError("an argument cannot be both static and donated "
                                 f"(static_argnums={self.static_argnums}, "
                                 f"donate_argnums={self.donate_argnums})")
        leaves, start, pos = [], 0, [i for i in range(n) if i not in static_pos]
        for i, a in zip(pos, dyn):
            k = len(tree_flatten(a)[0])
            if i in donated:
                leaves.extend(range(start, start + k))
            start += k
        return tuple(leaves)

    def lower(self, *args, **kwargs) -> Lowered:
        """The ``Lowered`` entry for these arguments (compiled now unless cached):
        ``.ir``, ``.source``, ``.stats``."""
        try:
            dyn, kwargs, statics = self._split(args, kwargs)
            sig, _ = self._signature(dyn, kwargs, statics)
            entry = self._cache.get(sig)
            return entry if entry is not None else self._compile(sig, dyn, kwargs, statics)
        except TracegradError as exc:
            raise exc.with_src(user_src_with_text(2))

    def cache_info(self) -> CacheInfo:
        self._info.backends = [getattr(e.executable, "state", e.executable.backend)
                               for e in list(self._cache.values())]
        return self._info

    def cache_clear(self) -> None:
        self._cache.clear()
        self._fast.clear()
        self._info = CacheInfo()
        self._last_sig = None

    def __repr__(self) -> str:
        return f"<tracegrad.jit of {getattr(self.fn, '__qualname__', self.fn)!r}>"

    def __reduce__(self):
        # pickles as recipe + traced graphs, never as compiled code (wire.py)
        return reduce_jit(self)


def _as_int_tuple(nums, what: str) -> tuple:
    if nums is None:
        return ()
    if isinstance(nums, int):
        nums = (nums,)
    elif isinstance(nums, (tuple, list)):
        nums = tuple(nums)
    else:
        raise ArgumentError(f"{what} must be an int or a tuple of ints, got {nums!r}")
    for a in nums:
        if not isinstance(a, int) or isinstance(a, bool):
            raise ArgumentError(f"{what} must be ints, got {a!r}")
    return nums


def _check_opt_level(level) -> None:
    """``opt_level``: None (TRACEGRAD_OPT_LEVEL), a pipeline name, or a list of pass names."""
    from tracegrad.passes.registry import PIPELINES
    if level is None or (isinstance(level, str) and level in PIPELINES):  # a list: unhashable
        return
    if isinstance(level, (list, tuple)) and all(isinstance(n, str) for n in level):
        return  # pass names: checked against the registry when the pipeline runs
    raise ArgumentError(f"opt_level must be one of {sorted(PIPELINES)} (or a list of pass "
                        f"names), got {level!r}")


def _positional_params(fn) -> list[str]:
    """Names of ``fn``'s positional parameters (empty when its signature is unknown)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return []
    return [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]


def check_static(key, v) -> None:
    where = f"static argument {key}" if isinstance(key, int) else f"static argument {key!r}"
    if isinstance(v, (np.ndarray, Tracer)):
        raise TracegradError(f"{where} is an array; static arguments must be hashable Python "
                             "values (drop it from static_argnums to trace it instead)")
    try:
        hash(v)
    except TypeError:
        raise TracegradError(
            f"{where} ({type(v).__name__}) is unhashable; static arguments are part of the "
            "cache key, so pass a hashable value (a tuple instead of a list, for example)") \
            from None



@names_caller
def jit(fn=None, *, backend="auto", static_argnums=(), donate_argnums=(), opt_level=None):
    """Compile ``fn`` per call signature. Usable as ``@jit`` and ``@jit(backend="numpy")``."""
    if fn is None:
        return lambda f: JitFunction(f, backend=backend, static_argnums=static_argnums,
                                     donate_argnums=donate_argnums, opt_level=opt_level)
    check_callable(fn, "the function given to tg.jit")
    return JitFunction(fn, backend=backend, static_argnums=static_argnums,
                       donate_argnums=donate_argnums, opt_level=opt_level)
