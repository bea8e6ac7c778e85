"""``TransformFunction`` and the argument handling every differentiation transform shares:
static Python ints and ``static_argnums``, ``argnums`` checks, the flat leaves differentiated
and regrouping results."""
from __future__ import annotations

import numpy as np

from .. import dtypes
from ..errors import ArgumentError, GradientDTypeError, GradientError, TracegradError
from ..ir import AVal
from ..pytree import tree_flatten, tree_unflatten
from ..staging import call_user, leaf_aval, trace
from .jit import JitFunction, check_static, normalize_argnums
from .transform_cache import revalidate


def autodiff_passes():
    """``tracegrad.passes.autodiff``, imported at the first transform (not at import time)."""
    from tracegrad.passes import autodiff
    return autodiff


def is_static(v) -> bool:
    """Python ints and bools that are not differentiated are static: the function sees the
    value itself (``np.arange(n)``, ``if flag:``), and each value compiles once (the cache is
    keyed on it, as JAX's ``static_argnums``). Floats stay traced (one program for every
    value); NumPy scalars and arrays are always traced."""
    return type(v) in (int, bool)


def static_positions(args, kwargs, diff) -> tuple[dict, dict]:
    """``({position: value}, {keyword: value})`` of the static arguments of a call."""
    pos = {i: a for i, a in enumerate(args) if i not in diff and is_static(a)}
    kw = {k: v for k, v in kwargs.items() if is_static(v)}
    return pos, kw


def trace_static(fn, args, kwargs, diff=()):
    """Trace ``fn`` with its static arguments (see ``is_static``) passed as Python values.

    Their leaves still have (unused) graph inputs, so every leaf keeps its flat position."""
    pos, kw = static_positions(args, kwargs, set(diff))

    def rebuild(a, k):
        return call_user(fn, [pos.get(i, x) for i, x in enumerate(a)],
                         {**k, **kw})
    return trace(fn, args, kwargs, name=fn_name(fn), rebuild=rebuild)


def trace_for_ad(fn, args, kwargs, diff=()):
    """Trace ``fn`` and run the pre-differentiation passes (stabilize, cse, dce) on it."""
    from tracegrad.passes.registry import PRE_AD, run_pipeline
    tr = trace_static(fn, args, kwargs, diff)
    tr.graph, _ = run_pipeline(tr.graph, PRE_AD)
    return tr


class TransformFunction(JitFunction):
    """The compiled callable a transform returns: a ``JitFunction`` whose Python int and bool
    arguments outside ``diff`` (the differentiated positions; a function of the argument
    count) are static, keyed by type and value, and so are the arguments at
    ``static_argnums`` (any hashable value, keyed by ``identity.value_key``).

    ``respec(static_argnums)``, when given, makes the same transform with more static
    positions: ``tg.jit(tg.grad(f), static_argnums=...)`` uses it so that the inner body
    knows which arguments are not to be traced."""

    def __init__(self, fn, diff=lambda n: (), static_argnums=(), respec=None):
        super().__init__(fn, static_argnums=static_argnums)
        self._diff = diff
        self._respec = respec
        self._identity = None  # set by transform_cache.cached: (kind, fn, opts, key)

    def _split(self, args, kwargs):
        fixed = set(self._static_positions(len(args)))
        diff = set(self._diff(len(args)))
        if fixed & diff:
            raise ArgumentError(f"{self.__name__}: argument {min(fixed & diff)} is both "
                                "differentiated (argnums) and static (static_argnums)")
        pos, kw = static_positions(args, kwargs, diff)
        for i in fixed:
            check_static(i, args[i])
            pos[i] = args[i]
        statics = tuple((i, type(v), v) for i, v in sorted(pos.items())) + \
            tuple((k, type(v), v) for k, v in kw.items())
        if not statics:
            return tuple(args), kwargs, ()
        dyn = tuple(a for i, a in enumerate(args) if i not in pos)
        return dyn, {k: v for k, v in kwargs.items() if k not in kw}, statics

    def _lower(self, dyn, kwargs, statics):
        revalidate(self)  # a closure rebound since this was cached: it leaves the cache
        return super()._lower(dyn, kwargs, statics)


def static_nums(static_argnums, n: int, fname: str, argnums=None) -> tuple[int, ...]:
    """``static_argnums`` as sorted positions in ``range(n)``; a position that is also
    differentiated (``argnums``) is refused."""
    if not static_argnums:
        return ()
    try:
        nums = normalize_argnums(static_argnums, n, "static_argnums")
    except TracegradError as exc:
        raise ArgumentError(f"{fname}: {exc.args[0]}") from None
    if argnums is not None:
        both = {a % n for a in ((argnums,) if isinstance(argnums, int) else argnums)
                if isinstance(a, int) and -n <= a < n} & set(nums)
        if both:
            raise ArgumentError(f"{fname}: argument {min(both)} is both differentiated "
                                "(argnums) and static (static_argnums)")
    return nums


def split_statics(fn, args, nums):
    """``(g, dynamic args)``: ``g(*dynamic args)`` calls ``fn`` with the static arguments at
    positions ``nums`` put back. ``g`` is keyed (fn_identity) by ``fn`` and the static values,
    so re-making it for the same values finds the same cached transform."""
    if not nums:
        return fn, tuple(args)
    fixed = {}
    for i in nums:
        check_static(i, args[i])
        fixed[i] = args[i]

    def with_statics(*dyn, **kwargs):
        it = iter(dyn)
        full = [fixed[i] if i in fixed else next(it) for i in range(len(dyn) + len(fixed))]
        return call_user(fn, full, kwargs)
    with_statics.__name__ = fn_name(fn)
    with_statics.__qualname__ = getattr(fn, "__qualname__", with_statics.__name__)
    return with_statics, tuple(a for i, a in enumerate(args) if i not in fixed)


def dyn_argnums(argnums, nums, n: int):
    """``argnums`` (already checked, in ``range(n)``) as positions among the dynamic arguments
    once the static positions ``nums`` are taken out."""
    if not nums:
        return argnums
    dyn = [i for i in range(n) if i not in nums]
    if isinstance(argnums, int):
        return dyn.index(argnums % n)
    return tuple(dyn.index(a % n) for a in argnums)


def split_differentiated(fn, args, argnums, static_argnums, fname):
    """``(g, dynamic args, argnums among them)`` for a transform that differentiates
    ``argnums``: checks both position lists, takes the static arguments out (``split_statics``)
    and renumbers ``argnums`` among what is left."""
    nums = check_argnums(argnums, args, fname)
    snums = static_nums(static_argnums, len(args), fname, argnums)
    g, dyn = split_statics(fn, args, snums)
    return g, dyn, dyn_argnums(nums, snums, len(args))


def argnum_positions(argnums):
    """``diff`` for ``TransformFunction``: the in-range positions of ``argnums`` (out-of-range
    ones are reported by the transform's own check)."""
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums) \
        if isinstance(argnums, tuple) else ()
    return lambda n: {a % n for a in nums
                      if isinstance(a, int) and not isinstance(a, bool) and -n <= a < n}


def as_operands(leaves) -> list:
    """Argument leaves as operands of the traced graph: a Python scalar (under an enclosing
    trace the transform's body gets the caller's values as they are) becomes the 0-d array of
    the dtype it was traced with, so ``grad(lambda y: x * y)(2.0)`` inside another transform
    works as it does at the top level."""
    return [np.asarray(x, leaf_aval(x, "")[0].dtype) if type(x) in (bool, int, float) else x
            for x in leaves]


def leaf_ranges(args) -> list[tuple[int, int, object]]:
    """(start, stop, treedef) of each positional argument's leaves in the flat input list."""
    ranges, start = [], 0
    for a in args:
        leaves, td = tree_flatten(a)
        ranges.append((start, start + len(leaves), td))
        start += len(leaves)
    return ranges


def check_argnums(argnums, args, fname):
    if isinstance(argnums, bool) or not (isinstance(argnums, int) or (
            isinstance(argnums, tuple) and all(isinstance(a, int) and not isinstance(a, bool)
                                               for a in argnums))):
        raise GradientError(f"{fname}: argnums must be an int or a tuple of ints, got {argnums!r}")
    n = len(args)
    nums = (argnums,) if isinstance(argnums, int) else argnums
    for a in nums:
        if not -n <= a < n:
            raise GradientError(f"{fname}: argnums={argnums!r} but the function was called with "
                                f"{n} positional argument{'s' if n != 1 else ''}")
    return tuple(a % n for a in nums)


def wrt_leaves(args, nums, fname):
    ranges = leaf_ranges(args)
    wrt = []
    for i in nums:
        start, stop, _ = ranges[i]
        leaves = tree_flatten(args[i])[0]
        if not leaves:
            raise GradientError(f"{fname}: argument {i} has no arrays to differentiate")
        for j, leaf in enumerate(leaves):
            aval, _ = leaf_aval(leaf, f"argument {i}")
            if not dtypes.is_inexact(aval.dtype):
                raise GradientDTypeError(
                    f"{fname}: argument {i} has dtype {aval.dtype}; gradients are defined for "
                    "float and complex inputs only. Convert it (x.astype(np.float64)) or differentiate "
                    "with respect to another argument (argnums=...)")
        wrt.extend(range(start, stop))
    return wrt, ranges


def check_scalar_output(aval: AVal, fname: str):
    if aval.size != 1:
        raise GradientError(
            f"{fname} needs a scalar output, but the function returned shape {aval.shape}. "
            "Gradients are defined for one-element outputs: reduce it with .sum() or .mean(), "
            "or use tg.vjp(f, *args) and pass a cotangent of that shape to the returned "
            "function")
    if dtypes.is_complex(aval.dtype):
        raise GradientDTypeError(
            f"{fname} needs a real output, but the function returned {aval.dtype}: the gradient "
            "of a complex output is not one array. Differentiate a real quantity (np.real(z), "
            "np.abs(z)**2), or use tg.vjp(f, *args) and pull back a complex cotangent (the "
            "convention: docs/gradients.md, 'Complex numbers')")
    if not dtypes.is_float(aval.dtype):
        raise GradientDTypeError(
            f"{fname} needs a float output, but the function returned {aval.dtype}"
            + (" (a comparison): differentiate the quantity compared instead, or cast with "
               ".astype(np.float64) if a 0/1 value is meant" if dtypes.is_bool(aval.dtype)
               else ""))


def regroup(grads, nums, ranges, argnums):
    """The flat gradients of the leaves of arguments ``nums`` as one pytree per argument (one
    value when ``argnums`` is an int, else a tuple)."""
    out = []
    for i in nums:
        start, stop, td = ranges[i]
        off = _offset(ranges, nums, i)
        out.append(tree_unflatten(td, grads[off:off + stop - start]))
    return out[0] if isinstance(argnums, int) else tuple(out)


def _offset(ranges, nums, i):
    """Position of argument i's leaves in the concatenated gradient list."""
    off = 0
    for j in nums:
        if j == i:
            return off
        off += ranges[j][1] - ranges[j][0]
    raise AssertionError


def fn_name(fn) -> str:
    """The name of ``fn`` for messages and generated code."""
    return getattr(fn, "__name__", type(fn).__name__)


def compiled(body, name, diff=lambda n: (), static_argnums=(), respec=None) -> TransformFunction:
    """``body`` named ``name`` as a ``TransformFunction`` (``diff``, ``static_argnums``,
    ``respec``: see there)."""
    body.__name__ = name
    body.__qualname__ = name
    body.__tracegrad_body__ = True  # keyed by identity (fn_identity): made once per transform
    return TransformFunction(body, diff, static_argnums, respec)

