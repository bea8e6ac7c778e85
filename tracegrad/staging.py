"""Turning a Python function and example arguments into a Graph: flattening pytrees, building
the signature key of a call, tracing under a fresh context.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass

import numpy as np

from . import dtypes
from .errors import ArgumentError, DTypeError, IntegerOverflowError, TracegradError
from .int_range import WIDE, weak_kind
from .ir import AVal, Graph, Lit
from .pytree import TreeDef, tree_flatten, tree_unflatten
from .subclasses import plain_array
from .tracer import TraceContext, Tracer

_PY_SCALAR_DTYPES = {bool: dtypes.bool_, int: dtypes.int64, float: dtypes.float64,
                     complex: dtypes.complex128}
_INT64_MIN, _INT64_MAX = -(2 ** 63), 2 ** 63 - 1
# NumPy arrays may have 64 dimensions, but np.broadcast (which shape inference uses) takes 32
MAX_RANK = 32


def leaf_aval(x, where: str) -> tuple[AVal, bool]:
    """``(aval, weak)`` of an argument leaf; raises a TracegradError naming ``where`` otherwise."""
    if isinstance(x, np.ndarray):
        if type(x) is not np.ndarray:  # np.matrix, masked arrays: refused (subclasses.py)
            plain_array(x, where or "an argument")
        dt = x.dtype
        if dt not in dtypes.SHORT_NAMES:
            raise DTypeError(f"{where} has dtype {dt}; tracegrad traces float32, float64, int32, "
                             "int64, bool, complex64 and complex128 arrays (convert it with "
                             ".astype first)")
        if x.ndim > MAX_RANK:
            _too_many_dims(x.ndim, where)
        return AVal(x.shape, dt), False
    if isinstance(x, Tracer):
        return x.aval, x._weak
    t = type(x)
    if t in _PY_SCALAR_DTYPES:
        if t is int and not _INT64_MIN <= x <= _INT64_MAX:
            raise IntegerOverflowError(f"{where} is the Python int {x}, which does not fit in "
                                       "int64 (tracegrad's widest integer); pass it as a float")
        return AVal((), _PY_SCALAR_DTYPES[t]), True
    if isinstance(x, np.generic):
        return AVal((), dtypes.canonical(x.dtype, what=where)), False
    if hasattr(x, "__array__") and not isinstance(x, (str, bytes)):
        arr = np.asarray(x)
        return AVal(arr.shape, dtypes.canonical(arr.dtype, what=where)), False
    raise TracegradError(
        f"{where} is a {type(x).__name__} ({_short_repr(x)}), not an array: traced functions take "
        "NumPy arrays, Python numbers, or tuples/lists/dicts of them. Pass configuration values "
        "such as strings with static_argnums=(...)")


def _too_many_dims(ndim: int, where: str):
    from .errors import ShapeError
    raise ShapeError(f"{where or 'an argument'} has {ndim} dimensions; tracegrad traces arrays "
                     f"of up to {MAX_RANK} (NumPy's broadcasting limit): reshape it to fewer "
                     "dimensions before the call")


def _short_repr(x) -> str:
    r = repr(x)
    return r if len(r) < 40 else r[:37] + "..."


def as_array(x, aval: AVal):
    """The concrete array passed to an executable for a leaf (Python scalars become 0-d arrays;
    an accepted ndarray subclass, a plain ndarray view)."""
    if type(x) is np.ndarray:
        return x
    if isinstance(x, np.ndarray):
        return x.view(np.ndarray)
    return np.asarray(x, dtype=aval.dtype)


def call_user(fn, args, kwargs):
    """``fn(*args, **kwargs)``, where a call that does not fit ``fn``'s signature (too few or
    too many arguments, an unknown keyword) raises ``ArgumentError`` naming the signature
    rather than a TypeError from inside tracegrad. A TypeError raised by ``fn``'s own body,
    when the arguments do fit, passes through unchanged."""
    try:
        return fn(*args, **kwargs)
    except TracegradError:
        raise
    except ValueError as exc:
        # NumPy reports ``y[i] = tracer`` (y an ndarray) as "setting an array element with a
        # sequence", raised from the typed error the tracer raised: pass that one on
        from .errors import TracerAssignmentError
        if isinstance(exc.__cause__, TracerAssignmentError):
            raise exc.__cause__ from None
        raise
    except TypeError:
        try:
            sig = inspect.signature(fn)
            sig.bind(*args, **kwargs)
        except TypeError as bind_error:
            name = getattr(fn, "__qualname__", "") or getattr(fn, "__name__", "")
            if not name or "<locals>" in name:
                name = getattr(fn, "__name__", type(fn).__name__)
            raise ArgumentError(f"{name}{sig} was called with {len(args)} positional "
                                f"argument{'s' if len(args) != 1 else ''}"
                                f"{' and keywords ' + ', '.join(kwargs) if kwargs else ''}: "
                                f"{bind_error}") from None
        except ValueError:  # no signature to check against (a builtin): not ours to explain
            pass
        raise


@dataclass
class Traced:
    graph: Graph
    captured: list          # tracers of an enclosing trace the function closed over
    out_tree: TreeDef
    in_tree: TreeDef
    # Python ints computed from Python-int arguments and narrowed to an integer dtype:
    # (expression over the argument leaves, dtype, src), checked on each call (int_range.py)
    int_checks: tuple = ()
    # host generators whose draws read hidden key inputs after the argument leaves, in input
    # order (random_host.py): the executable fills them at each call
    host_random: tuple = ()


def trace(fn, dyn_args: tuple, dyn_kwargs: dict, *, name: str = "trace",
          rebuild=None) -> Traced:
    """Trace ``fn`` on abstract versions of the array leaves of ``(dyn_args, dyn_kwargs)``.

    ``rebuild(args, kwargs)`` maps the traced dynamic arguments back to the full call (it puts
    static arguments back in place); by default the dynamic arguments are the call.
    """
    from .random_host import HostRandom
    from .tracer import is_tracing
    from .scipy.routing import install as install_scipy_routes
    install_scipy_routes()  # SciPy functions that np.asarray their inputs reach tracegrad's
    leaves, in_tree = tree_flatten((dyn_args, dyn_kwargs))
    top = not is_tracing()
    with TraceContext(name) as ctx:
        if top:  # a top-level program: np.random draws inside read keys it is given per call
            ctx.host_random = HostRandom()
        tracers = []
        for i, leaf in enumerate(leaves):
            aval, weak = leaf_aval(leaf, f"argument leaf {i}")
            t = ctx.new_input(aval, weak=weak)
            if weak_kind(leaf, weak) == WIDE:  # narrowing it to int32 must raise (int_range.py)
                ctx.wide_ints[id(t._var)] = leaf
            if weak and type(leaf) is int:  # ints computed from it are checked per call
                ctx.weak_exprs[id(t._var)] = ("in", i)
            tracers.append(t)
        args, kwargs = tree_unflatten(in_tree, tracers)
        out = (rebuild or (lambda a, k: call_user(fn, a, k)))(args, kwargs)
        out_leaves, out_tree = tree_flatten(out)
        for i, o in enumerate(out_leaves):
            # a Lit: a constant output of an inner graph (e.g. jvp of a function of static ints)
            if not (isinstance(o, (Tracer, Lit, np.ndarray, np.generic, bool, int, float))):
                raise TracegradError(
                    f"the traced function returned a {type(o).__name__} as output leaf {i}; "
                    "return arrays (or tuples/lists/dicts of arrays)")
        out_atoms = [o if isinstance(o, (Tracer, Lit)) else _const_leaf(o) for o in out_leaves]
        graph, captured = ctx.to_graph(out_atoms)
    host = ctx.host_random.generators() if top else ()
    return Traced(graph, captured, out_tree, in_tree, tuple(ctx.int_checks), host)


def _const_leaf(o):
    """A constant output: a literal for scalars (exact dtype), else a constant array."""
    from .ir import make_lit
    if type(o) in _PY_SCALAR_DTYPES:  # (np.float64 is a float subclass: it is handled below)
        return make_lit(o, _PY_SCALAR_DTYPES[type(o)])
    a = np.asarray(o)
    if a.ndim == 0:
        return make_lit(a.item(), dtypes.canonical(a.dtype))
    return a
