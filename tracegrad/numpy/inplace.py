"""``x[idx] = v`` inside a traced function, rewritten functionally with NumPy's aliasing.

A traced array is a ``Tracer`` object, and NumPy's array identity is that object's identity:
``x[idx] = v`` computes ``x.at[idx].set(v)`` and points the same object at the new value, so
every Python name bound to ``x`` sees the update, as in NumPy. Views are the other half of
NumPy's aliasing: the results of basic indexing, reshape, transpose & co. (``VIEW_FUNCTIONS``)
record their root array and a function recomputing them from it (``note_view``); whether a
result is a view, a read-only view or a copy is NumPy's own answer on a stand-in array of the
root's layout. Writing into a root recomputes its live views from the new value; writing into
a view writes the root at the positions the view shows (the stand-in's byte offsets) and then
recomputes every view. ``x op= v`` in user code writes a local ``x`` in place too. So the
functional program computes what NumPy's in-place one does, and gradients flow through the
updates (they are ``scatter``/``where`` equations). Limitation: an argument's ``x op= v``
rebinds the name (the caller's array is not changed; a view sharing it refuses).

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

# NumPy functions that may return a view of their first argument (NumPy itself then decides,
# on a stand-in array: note_view); tests/test_array_building.py checks every registered
# function against NumPy's answer, so a function missing here fails there
VIEW_FUNCTIONS = frozenset({
    "reshape", "ravel", "transpose", "permute_dims", "swapaxes", "moveaxis", "rollaxis",
    "squeeze", "expand_dims", "atleast_1d", "atleast_2d", "atleast_3d", "flip", "fliplr",
    "flipud", "rot90", "split", "array_split", "hsplit", "vsplit", "dsplit", "real", "asarray",
    "diagonal", "broadcast_to", "matrix_transpose", "real_if_close", "broadcast_arrays"})
# ``_view`` of a new array object that owns its value although its var may still be an
# argument's (x.copy(), np.array(x)): writable. A view's ``_view`` is
# (root, fn, read_only, its NumPy stand-in, the root's stand-in): see note_view.
OWNED = ()


def _table(ctx, root) -> list:
    """``[weakref to root's shadow or None, weak references to its views]`` in its trace (keyed
    by id: a live view holds its root, so the id is not reused while one lives)."""
    table = ctx.__dict__.get("_tg_views")
    if table is None:
        table = ctx._tg_views = {}
    entry = table.get(id(root))
    if entry is None:
        entry = table[id(root)] = [None, []]
    return entry


def _root_shadow(root, entry):
    """NumPy's stand-in for ``root``'s memory: a C-ordered uint8 ``np.empty`` (its pages are
    never touched: only views of it are made), so a byte offset is a flat position. Held by
    the views' records; kept weakly here, so it goes when the last view does."""
    sh = entry[0]() if entry[0] is not None else None
    if sh is None:
        sh = _np.empty(root.shape, _np.uint8)
        entry[0] = weakref.ref(sh)
    return sh


def note_view(out, base, np_call, fn) -> None:
    """Record ``out`` (a tracer, or a list for the split family) as what NumPy's function
    makes of tracer ``base``: ``np_call(a)`` is that NumPy call on an ndarray, ``fn(b)``
    recomputes ``out`` from a new traced ``b``. NumPy decides on a stand-in array of the root's
    layout: a result sharing its memory is a view (read-only when NumPy's is), anything else a
    new array that owns its value (``reshape`` of a transposed view copies, as in NumPy)."""
    if type(base) is not Tracer or not base._ctx.active:
        return
    parent = getattr(base, "_view", None)
    if parent:  # a view of a view: recorded relative to the root
        root, inner, _, base_shadow, root_shadow = parent
        path = (lambda b, f=fn, g=inner: f(g(b)))
        entry = _table(root._ctx, root)
    else:
        root, path = base, fn
        entry = _table(root._ctx, root)
        base_shadow = root_shadow = _root_shadow(root, entry)
    try:
        shadows = np_call(base_shadow)
    except Exception:  # NumPy refuses what tracegrad accepted: no aliasing to model
        return
    many = isinstance(out, (list, tuple))
    items, shadows = (out, shadows) if many else ([out], [shadows])
    for k, (v, sh) in enumerate(zip(items, shadows)):
        if type(v) is not Tracer or v is root or v is base:
            continue
        # NumPy's views of the stand-in name it as their base (a copy owns its memory)
        if not (isinstance(sh, _np.ndarray) and (sh.base is root_shadow or sh is root_shadow)):
            v._view = OWNED  # NumPy copied
            continue
        sub = (lambda b, p=path, k=k: p(b)[k]) if many else path
        v._view = (root, sub, not sh.flags.writeable, sh, root_shadow)
        entry[1].append(weakref.ref(v))


def note_function_view(out, args, kwargs, name, public) -> None:
    """``out = np.<name>(*args, **kwargs)``, a NumPy function that may return a view of its
    first argument (``VIEW_FUNCTIONS``), as ``note_view`` records it."""
    if any(type(a) is Tracer for a in args[1:]) or \
            any(type(a) is Tracer for a in kwargs.values()):
        return  # atleast_1d(x, y) & co.: several arrays, not modelled (each a new array)
    np_fn = getattr(_np, name)
    np_fn = getattr(np_fn, "_implementation", np_fn)  # past NumPy's dispatch: it is an ndarray
    note_view(out, args[0], lambda a: np_fn(a, *args[1:], **kwargs),
              lambda b: public(b, *args[1:], **kwargs))


def own_result(out, args):
    """The result of a NumPy function that returns a new array (not in ``VIEW_FUNCTIONS``):
    a tracer that is one of ``args`` or a view made inside the function becomes a new array
    object owning its value, so writing it never reaches the argument (``np.meshgrid(x)``
    builds its result from a reshape of ``x``; ``np.copy`` may return its own operand)."""
    if type(out) is Tracer:
        if getattr(out, "_view", None) or any(
                out is a or (type(a) in (list, tuple) and any(out is b for b in a))
                for a in args):  # (np.concatenate([x]) may return x)
            fresh = Tracer(out._ctx, out._var, out._weak)
            fresh._view = OWNED
            return fresh
        return out
    if type(out) in (list, tuple) and any(type(o) is Tracer for o in out):
        return type(out)(own_result(o, args) for o in out)
    return out


def getitem(x, idx):
    """``x[idx]``: basic indexing gives a view of ``x``, advanced indexing a copy (NumPy)."""
    from .gather import _getitem
    out = _getitem(x, idx)
    if _is_basic(idx):
        note_view(out, x, lambda a, i=idx: a[i], lambda b, i=idx: b[i])
    return out


def _is_basic(idx) -> bool:
    items = idx if isinstance(idx, tuple) else (idx,)
    return all(i is None or i is Ellipsis or isinstance(i, (slice, int, _np.integer))
               and not isinstance(i, (bool, _np.bool_)) for i in items)


def _positions(shadow, root_shadow) -> _np.ndarray:
    """The root's flat positions a view shows, shaped as the view: its byte offset in the
    root's uint8 stand-in plus index times stride along each axis."""
    pos = _np.asarray(shadow.__array_interface__["data"][0] -
                      root_shadow.__array_interface__["data"][0], dtype=_np.int64)
    for k, (n, stride) in enumerate(zip(shadow.shape, shadow.strides)):
        step = _np.arange(n, dtype=_np.int64) * stride
        pos = pos + step.reshape((n,) + (1,) * (shadow.ndim - k - 1))
    return _np.broadcast_to(pos, shadow.shape)


def setitem(x, idx, value) -> None:
    """``x[idx] = value`` on tracer ``x`` (see the module docstring)."""
    ctx = current_trace()
    parent = getattr(x, "_view", None) or None
    root = x if parent is None else parent[0]
    err = _write_error(x, root, ctx, parent is not None and parent[2])
    if err is not None:
        raise err
    from . import asarray, astype, broadcast_to
    from .gather import at
    from .manipulation import reshape
    traced = isinstance(idx, Tracer) or (isinstance(idx, tuple) and
                                         any(isinstance(i, Tracer) for i in idx))
    # the root positions x shows, in x's shape; the write lands on positions[idx]
    positions = _np.arange(root.size, dtype=_np.int64).reshape(root.shape) if parent is None \
        else _positions(parent[3], parent[4])
    sel = None if traced else positions[idx]
    if sel is not None and sel.size == root.size and \
            (sel.ravel() == _np.arange(root.size)).all():
        # x[...] = v, x += v: every element in order, so the value is replaced outright (no
        # gather and where over the whole array)
        new_root = reshape(broadcast_to(astype(value, root.dtype), sel.shape), root.shape)
    elif parent is None:
        new_root = _box_write(root, idx, value, sel)
        if new_root is None:
            new_root = at(root)[idx].set(value)
    else:
        sel = asarray(positions)[idx] if traced else sel
        flat = at(reshape(root, (-1,)))[sel].set(value)
        new_root = reshape(flat, root.shape)
    root._var = new_root._var
    _refresh(root)


def _box_write(root, idx, value, sel):
    """``root`` with ``value`` written at a basic index (ints, slices, None, Ellipsis): the
    value padded into place (pad's interior padding is the slice step) and one ``where`` on a
    static mask; a gather of the values over the whole array otherwise (``.at[].set``). None
    for any other index."""
    items = list(idx) if isinstance(idx, tuple) else [idx]
    if not _is_basic(tuple(items)) or sum(i is Ellipsis for i in items) > 1:
        return None
    real = sum(i is not None and i is not Ellipsis for i in items)
    if real > root.ndim:
        return None
    k = items.index(Ellipsis) if Ellipsis in items else len(items)
    items[k:k + (Ellipsis in items)] = [slice(None)] * (root.ndim - real)
    low, high, interior, box, flips = [], [], [], [], []
    for item in (i for i in items if i is not None):
        d = root.shape[len(low)]
        if isinstance(item, slice):
            start, stop, step = item.indices(d)
            n = len(range(start, stop, step))
        else:
            start, n, step = int(item) % d, 1, 1
        if n == 0:
            return root  # nothing selected: NumPy writes nothing
        first = start if step > 0 else start + (n - 1) * step
        flips.append(step < 0)
        low.append(first)
        high.append(d - (first + (n - 1) * abs(step) + 1))
        interior.append(abs(step) - 1)
        box.append(n)
    from . import asarray, astype, broadcast_to, reshape, where
    from .. import lax
    v = reshape(broadcast_to(astype(asarray(value), root.dtype), sel.shape), tuple(box))
    v = lax.rev(v, tuple(a for a, f in enumerate(flips) if f))
    mask = _np.zeros(root.shape, bool)
    mask[idx] = True
    return where(mask, lax.pad(v, 0, low, high, interior), root)


def _refresh(root) -> None:
    """Recompute every live view of ``root`` from its new value (NumPy's views see writes)."""
    views = _table(root._ctx, root)[1]
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


def has_live_views(x) -> bool:
    table = x._ctx.__dict__.get("_tg_views")
    entry = table.get(id(x)) if table else None
    refs = entry[1] if entry else None
    if not refs:
        return False
    return any(v is not None and v._view[0] is x for v in (r() for r in refs))


def augmented(x, out, op: str):
    """``x op= v`` in the user's code, ``out = x op v`` computed: NumPy writes ``x`` in place,
    so every name, list entry and view sharing ``x`` sees it; a local array is written so
    (setitem). An argument (or a closed-over or enclosing-trace value) cannot be written: its
    name is rebound to ``out`` as before, unless a view shares it, where rebinding would
    differ from NumPy and the write is refused. A result NumPy would not cast back into ``x``
    (float into int) raises as NumPy's ``same_kind`` rule does."""
    if x._weak or type(out) is not Tracer:
        return out
    parent = getattr(x, "_view", None) or None
    root = x if parent is None else parent[0]
    if _write_error(x, root, current_trace(), False) is not None and \
            parent is None and not has_live_views(x):
        return out
    if not _np.can_cast(out.dtype, x.dtype, casting="same_kind"):
        from ..errors import DTypeError
        raise DTypeError(f"x {op}= v: the result {out.dtype} cannot be cast back into x's "
                         f"{x.dtype} with NumPy's casting rule 'same_kind' (NumPy raises too); "
                         f"write x = x {op} v for a new array", src=user_src_with_text(3))
    setitem(x, Ellipsis, out)
    return x


def _write_error(x, root, ctx, read_only):
    """Why ``x`` (whose memory is ``root``'s) cannot be written here, or None."""
    what = "x" if root is x else "a view of x"
    if read_only:
        return ImmutableArrayError(
            f"x[...] = v on a read-only view {x.aval} (np.broadcast_to and np.diagonal return "
            "read-only views; NumPy raises 'assignment destination is read-only' too); copy it "
            "first (y = x.copy()) or update the array it views", src=user_src_with_text(4))
    if ctx is None or root._ctx is not ctx:
        return ImmutableArrayError(
            f"x[...] = v on {what} {root.aval} that belongs to an enclosing trace (a value "
            "closed over by a loop body, a branch or an inner transform): that array cannot be "
            "changed from here. Return the updated copy instead: y = x.at[idx].set(v) "
            "(or tg.at(x)[idx].set(v))", src=user_src_with_text(4))
    if getattr(root, "_view", None) is OWNED:
        return None
    if any(v is root._var for v in ctx.inputs):
        return ImmutableArrayError(
            f"in-place assignment x[...] = v on {what} {root.aval} that is an argument of the "
            "traced function: the caller's array cannot be changed by a compiled function. Use "
            "the functional update x = x.at[idx].set(v) (or .add(v); tg.at(x)[idx].set(v) for "
            "NumPy arrays too), copy first (x = x.copy(); x[idx] = v), or build the result "
            "with np.where(mask, v, x)", src=user_src_with_text(4))
    if any(v is root._var for _, v in ctx.const_vars.values()):
        return ImmutableArrayError(
            f"x[...] = v on {what} {root.aval} that is a NumPy array closed over by the traced "
            "function (made a traced constant by tracegrad.numpy.asarray): writing it would "
            "change that global array. Copy it first (x = np.array(table)), or use "
            "x = x.at[idx].set(v)", src=user_src_with_text(4))
    return None
