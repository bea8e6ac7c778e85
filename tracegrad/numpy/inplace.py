"""``x[idx] = v`` inside a traced function, rewritten functionally with NumPy's aliasing.

A traced array is a ``Tracer`` object, and NumPy's array identity is that object's identity:
``x[idx] = v`` computes ``x.at[idx].set(v)`` and points the same object at the new value, so
every Python name bound to ``x`` sees the update, as in NumPy. Views are the other half of
NumPy's aliasing: the results of basic indexing, reshape, transpose & co. (``VIEW_FUNCTIONS``)
record their root array and a function recomputing them from it (``note_view``). Writing into
a root recomputes its live views from the new value; writing into a view writes the root at the
positions the view shows (the view function applied to an ``arange`` of the root finds them)
and then recomputes every view. So the functional program computes what NumPy's in-place one
does, and gradients flow through the updates (they are ``scatter``/``where`` equations).

Refused, naming the user's line and the fix: writing into an argument of the traced function
or into a view of one (the caller's array cannot change: ``ImmutableArrayError`` naming
``.at``), into a value captured from an enclosing trace, into a closed-over NumPy array made a
traced constant, and into a read-only view (``broadcast_to``, ``diagonal``: NumPy refuses too).
"""
from __future__ import annotations

import weakref

import numpy as _np

from ..errors import ImmutableArrayError
from ..source_info import user_src_with_text
from ..tracer import Tracer, current_trace

# NumPy functions returning a view of their first argument; the read-only ones refuse writes
VIEW_FUNCTIONS = frozenset({
    "reshape", "ravel", "transpose", "permute_dims", "swapaxes", "moveaxis", "rollaxis",
    "squeeze", "expand_dims", "atleast_1d", "atleast_2d", "atleast_3d", "flip", "fliplr",
    "flipud", "rot90", "split", "array_split", "hsplit", "vsplit", "dsplit", "real", "asarray",
    "diagonal", "broadcast_to", "matrix_transpose"})
READ_ONLY = frozenset({"diagonal", "broadcast_to"})
# ``_view`` of a new array object that owns its value although its var may still be an
# argument's (x.copy(), np.array(x)): writable. A view's ``_view`` is (root, fn, read_only).
OWNED = ()


def _views(ctx) -> list:
    views = ctx.__dict__.get("_tg_views")
    if views is None:
        views = ctx._tg_views = []
    return views


def note_view(out, base, fn, read_only=False) -> None:
    """Record that tracer(s) ``out`` are views of tracer ``base``: ``fn(b)`` recomputes them
    (the same structure: one array, or a list for the split family) from a new ``b``."""
    if type(base) is not Tracer or not base._ctx.active:
        return
    root, path = base, fn
    parent = getattr(base, "_view", None)
    if parent:  # a view of a view: keep one level, relative to the root
        root, inner, ro = parent
        read_only = read_only or ro
        path = (lambda b, f=fn, g=inner: f(g(b)))
    views = _views(base._ctx)
    items = out if isinstance(out, (list, tuple)) else [out]
    for k, v in enumerate(items):
        if type(v) is not Tracer or v is root:
            continue
        sub = path if not isinstance(out, (list, tuple)) else \
            (lambda b, p=path, k=k: p(b)[k])
        v._view = (root, sub, read_only)
        views.append(weakref.ref(v))


def getitem(x, idx):
    """``x[idx]``: basic indexing gives a view of ``x``, advanced indexing a copy (NumPy)."""
    from .gather import _getitem
    out = _getitem(x, idx)
    if _is_basic(idx):
        note_view(out, x, lambda b, i=idx: b[i])
    return out


def _is_basic(idx) -> bool:
    items = idx if isinstance(idx, tuple) else (idx,)
    return all(i is None or i is Ellipsis or isinstance(i, (slice, int, _np.integer))
               and not isinstance(i, (bool, _np.bool_)) for i in items)


def setitem(x, idx, value) -> None:
    """``x[idx] = value`` on tracer ``x`` (see the module docstring)."""
    ctx = current_trace()
    parent = getattr(x, "_view", None) or None
    root = x if parent is None else parent[0]
    _check_writable(x, root, ctx, parent is not None and parent[2])
    from .gather import at
    from .manipulation import reshape
    if parent is None:
        new_root = at(root)[idx].set(value)
    else:
        # the root positions this view shows, in the view's shape; the write lands there
        positions = parent[1](_np.arange(root.size, dtype=_np.int64).reshape(root.shape))
        if isinstance(idx, Tracer) or (isinstance(idx, tuple) and
                                       any(isinstance(i, Tracer) for i in idx)):
            from . import asarray
            positions = asarray(positions)
        sel = positions[idx]
        flat = at(reshape(root, (-1,)))[sel].set(value)
        new_root = reshape(flat, root.shape)
    root._var = new_root._var
    _refresh(root)


def _refresh(root) -> None:
    """Recompute every live view of ``root`` from its new value (NumPy's views see writes)."""
    views = _views(root._ctx)
    alive = []
    for ref in views:
        v = ref()
        if v is None:
            continue
        alive.append(ref)
        rec = v._view
        if rec[0] is root:
            v._var = rec[1](root)._var
    views[:] = alive


def _check_writable(x, root, ctx, read_only) -> None:
    src = user_src_with_text(4)
    what = "x" if root is x else "a view of x"
    if read_only:
        raise ImmutableArrayError(
            f"x[...] = v on a read-only view {x.aval} (np.broadcast_to and np.diagonal return "
            "read-only views; NumPy raises 'assignment destination is read-only' too); copy it "
            "first (y = x.copy()) or update the array it views", src=src)
    if ctx is None or root._ctx is not ctx:
        raise ImmutableArrayError(
            f"x[...] = v on {what} {root.aval} that belongs to an enclosing trace (a value "
            "closed over by a loop body, a branch or an inner transform): that array cannot be "
            "changed from here. Return the updated copy instead: y = x.at[idx].set(v) "
            "(or tg.at(x)[idx].set(v))", src=src)
    if getattr(root, "_view", None) is OWNED:
        return
    if any(v is root._var for v in ctx.inputs):
        raise ImmutableArrayError(
            f"in-place assignment x[...] = v on {what} {root.aval} that is an argument of the "
            "traced function: the caller's array cannot be changed by a compiled function. Use "
            "the functional update x = x.at[idx].set(v) (or .add(v); tg.at(x)[idx].set(v) for "
            "NumPy arrays too), copy first (x = x.copy(); x[idx] = v), or build the result "
            "with np.where(mask, v, x)", src=src)
    if any(v is root._var for _, v in ctx.const_vars.values()):
        raise ImmutableArrayError(
            f"x[...] = v on {what} {root.aval} that is a NumPy array closed over by the traced "
            "function (made a traced constant by tracegrad.numpy.asarray): writing it would "
            "change that global array. Copy it first (x = np.array(table)), or use "
            "x = x.at[idx].set(v)", src=src)
