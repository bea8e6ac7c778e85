"""Tracing: ``Tracer`` values record primitive applications into a ``TraceContext``.

``bind(prim, *args)`` is the one entry point: with no tracer among the arguments it runs the
primitive's reference implementation eagerly; otherwise it appends an equation to the innermost
trace involved. Tracers of an enclosing (still active) trace that show up in an inner trace are
captured as extra inputs of the inner graph, so nested transforms (``grad(grad(f))``) compose.
"""
from __future__ import annotations

import itertools
import sys
from typing import Any

import numpy as np

from . import dtypes
from .errors import (ArgumentError, TracegradError,
                     TracerArrayConversionError, TracerBoolError, UnsupportedAttributeError,
                     UnsupportedOperationError)
from .int_range import check_operands as check_int_operands, note_consumed, note_weak_int
from .ir import AVal, Eqn, Graph, Lit, Var, make_lit
from .primitive import install_graph_transforms as _install_graph_transforms
from .primitive import install_tracing as _install_tracing
from .primitive import may_raise
from .source_info import _is_library, user_src, user_src_with_text
from .subclasses import plain_array
from .thread_local import ThreadLocalList
from .tracer_methods import NdarrayMethods

_level_counter = itertools.count(1)
_ACTIVE: ThreadLocalList = ThreadLocalList()  # TraceContexts of this thread, innermost last
_SRC_OVERRIDE = ThreadLocalList()  # source line given to equations built by passes
# (opened, closed): run as any trace opens and closes; numpy/intercept.py counts them to keep
# its np.array/np.r_ wrappers installed exactly while some thread traces
_TRACE_HOOKS: list = [lambda: None, lambda: None]


def install_trace_hooks(opened, closed) -> None:
    _TRACE_HOOKS[:] = [opened, closed]


def current_trace() -> TraceContext | None:
    """The innermost trace this thread is recording into, or None outside every trace."""
    items = _ACTIVE.items
    return items[-1] if items else None


def is_tracing() -> bool:
    """Whether this thread is inside a trace (cheap: jit's per-call fast path asks it)."""
    return bool(_ACTIVE.items)


def active_traces() -> list[TraceContext]:
    """This thread's open traces, outermost first (a copy: traces may open and close meanwhile)."""
    return list(_ACTIVE.items)


class src_scope:
    """Equations bound inside ``with src_scope(src):`` carry ``src`` (the user's line of the
    forward equation a derivative rule is expanding), not the line of the library code."""

    def __init__(self, src: str | None):
        self.src = src

    def __enter__(self):
        _SRC_OVERRIDE.append(self.src)

    def __exit__(self, *exc):
        _SRC_OVERRIDE.pop()


class TraceContext:
    """Collects the equations of one function being traced."""

    def __init__(self, name: str = "trace"):
        self.level = next(_level_counter)
        self.name = name
        self.inputs: list[Var] = []
        self.eqns: list[Eqn] = []
        self.captured: dict[int, tuple[Any, Var]] = {}  # id(outer tracer) -> (tracer, inner var)
        self.const_vars: dict[int, tuple[np.ndarray, Var]] = {}
        # id(input var) -> value, for Python-int arguments outside int32 (see int_range.py)
        self.wide_ints: dict[int, int] = {}
        # id(var) -> expression over the argument leaves, for Python ints computed from
        # Python-int arguments; and the (expression, dtype, src) narrowings to check per call
        self.weak_exprs: dict[int, tuple] = {}
        self.int_checks: list[tuple] = []
        self.active = False
        # a body that may not run (a while body, a cond branch, a scan of 0 steps): an
        # equation that may raise is kept in it, never recorded in an enclosing trace (bind)
        self.conditional = False

    def __enter__(self) -> "TraceContext":
        self.active = True
        _ACTIVE.append(self)
        _TRACE_HOOKS[0]()
        return self

    def __exit__(self, *exc) -> None:
        self.active = False
        _ACTIVE.remove(self)
        _TRACE_HOOKS[1]()

    def new_input(self, aval: AVal, hint: str | None = None, weak: bool = False) -> "Tracer":
        v = Var(aval, hint)
        self.inputs.append(v)
        return Tracer(self, v, weak)

    def atom(self, x) -> Var | Lit:
        """The IR operand for ``x`` in this trace: a var, a literal or a new constant equation."""
        if isinstance(x, Tracer):
            if x._ctx is self:
                return x._var
            if not x._ctx.active:
                raise TracegradError(
                    "a traced value escaped the function it was traced in (it was stored in a "
                    "global or an object and used later); return it instead", src=user_src())
            key = id(x)
            hit = self.captured.get(key)
            if hit is None:
                hit = (x, Var(x._var.aval))
                self.captured[key] = hit
            return hit[1]
        if isinstance(x, Lit):
            return x
        if isinstance(x, np.ndarray) and type(x) is not np.ndarray:
            # np.matrix, masked arrays...: refused unless they keep ndarray's meaning
            x = plain_array(x, f"a closed-over {x.ndim}-d array", src=user_src_with_text(3))
        if isinstance(x, np.ndarray) and x.ndim > 0:
            hit = self.const_vars.get(id(x))
            if hit is None:
                from .prims.sources import constant_p
                arr = np.array(x, dtype=dtypes.canonical(x.dtype, what="closed-over array"))
                arr.flags.writeable = False
                v = Var(AVal(arr.shape, arr.dtype))
                self.eqns.append(Eqn(constant_p, (), {"value": arr}, (v,), user_src(3)))
                hit = (x, v)  # keep x alive so id(x) stays unique while this trace lives
                self.const_vars[id(x)] = hit
            return hit[1]
        if isinstance(x, (np.ndarray, np.generic)):
            return make_lit(x.item(), dtypes.canonical(x.dtype, what="scalar"))
        raise TracegradError(f"cannot use {type(x).__name__} {x!r} as an operand; pass arrays")

    def to_graph(self, outputs: list, meta: dict | None = None) -> tuple[Graph, list]:
        """Finish the trace: the graph (explicit inputs, then captured ones), captured tracers."""
        outs = []
        for o in outputs:
            a = self.atom(o)
            outs.append(a)
        captured = list(self.captured.values())
        graph = Graph(tuple(self.inputs) + tuple(v for _, v in captured), tuple(self.eqns),
                      tuple(outs), meta or {})
        return graph, [t for t, _ in captured]


def innermost_context(args) -> TraceContext | None:
    best = None
    for a in args:
        if isinstance(a, Tracer) and (best is None or a._ctx.level > best.level):
            best = a._ctx
    return best


def bind(prim, *args, _src: str | None = None, _ctx: TraceContext | None = None, **params):
    """Apply ``prim`` to ``args``: eagerly on arrays, or as a new equation on tracers.

    ``_ctx`` forces recording into a trace even when no argument is traced (constants built
    inside a traced function, such as ``zeros``, stay one small equation instead of an array).
    """
    ctx = innermost_context(args)
    if _ctx is not None and (ctx is None or _ctx.level > ctx.level):
        ctx = _ctx
    if ctx is not None and _ACTIVE.items and _ACTIVE.items[-1].level > ctx.level:
        # operands of an enclosing trace only: recorded there, the equation leaves the bodies
        # being traced (loop-invariant code motion at trace time). Out of a body that may not
        # run, one that can raise would run where the program never runs it: it stays in the
        # outermost such body (passes/hoist.py moves it out guarded; test_hoist_raising.py)
        skip = next((t for t in _ACTIVE.items if t.conditional and t.level > ctx.level), None)
        if skip is not None and may_raise(
                prim, [a.aval if isinstance(a, Lit) else _aval_of(a) for a in args], params):
            ctx = skip
    if ctx is None:
        vals = [np.asarray(a.value, a.aval.dtype) if isinstance(a, Lit) else a for a in args]
        try:
            out = prim.impl(*vals, **params)
        except TracegradError as exc:  # a run-time check (an index's bounds): name the line
            raise exc.with_src(_src or (_SRC_OVERRIDE[-1] if _SRC_OVERRIDE else None))
        if prim.multiple_results:
            avals = prim.abstract_eval([_aval_of(v) for v in vals], **params)
            return [np.asarray(o, dtype=av.dtype) for o, av in zip(out, avals)]
        return out
    ins = tuple(ctx.atom(a) for a in args)
    # a Python int that does not fit its integer dtype raises as in NumPy 2, never wraps
    check_int_operands(prim, ins, params, args,
                       lambda: _src or user_src_with_text(3))
    try:
        out_avals = prim.abstract_eval([a.aval for a in ins], **params)
    except TracegradError as exc:  # a shape/dtype rule refused: name the user's line
        raise exc.with_src(_src or user_src_with_text(2))
    outs = tuple(Var(av) for av in out_avals)
    if _src is None:
        _src = _SRC_OVERRIDE[-1] if _SRC_OVERRIDE else user_src(2)
    ctx.eqns.append(Eqn(prim, ins, params, outs, _src))
    tracers = [Tracer(ctx, v) for v in outs]
    return tracers if prim.multiple_results else tracers[0]


def _aval_of(x) -> AVal:
    if isinstance(x, Tracer):
        return x._var.aval
    a = np.asarray(x)
    return AVal(a.shape, dtypes.canonical(a.dtype))


def aval_of(x) -> AVal:
    """Abstract value of a tracer, array, or Python scalar (scalars get NumPy's default dtypes)."""
    return _aval_of(x)


_np_layer = None  # tracegrad.numpy, set when it is imported (it imports this module)


def _tnp():
    global _np_layer
    if _np_layer is None:
        from . import numpy as mod
        _np_layer = mod
    return _np_layer


class Tracer(NdarrayMethods):
    """A traced array: static shape and dtype, no data. Operators build IR equations."""

    # _view (unset for most): how this array aliases another, for x[idx] = v (numpy/inplace.py)
    __slots__ = ("_ctx", "_var", "_weak", "_view", "__weakref__")
    __array_priority__ = 1000

    def __init__(self, ctx: TraceContext, var: Var, weak: bool = False):
        self._ctx = ctx
        self._var = var
        # weak: stands for a Python scalar argument, so it promotes like one (NEP 50)
        self._weak = weak

    # --- static attributes -------------------------------------------------------------
    @property
    def aval(self) -> AVal:
        return self._var.aval

    @property
    def shape(self) -> tuple[int, ...]:
        return self._var.aval.shape

    @property
    def dtype(self) -> np.dtype:
        return self._var.aval.dtype

    @property
    def ndim(self) -> int:
        return len(self._var.aval.shape)

    @property
    def size(self) -> int:
        return self._var.aval.size

    def __len__(self) -> int:
        if not self.shape:
            raise ArgumentError(f"len() of a 0-d traced array {self.aval} (NumPy raises too); "
                                "use x.size or x.shape", src=user_src_with_text(2))
        return self.shape[0]

    def __iter__(self):
        if not self.shape:
            raise ArgumentError(f"iteration over a 0-d traced array {self.aval} (NumPy raises "
                                "too); use x[None] for a 1-element array",
                                src=user_src_with_text(2))
        return (self[i] for i in range(self.shape[0]))

    def __repr__(self) -> str:
        return f"Tracer<{self.aval}>"

    def __format__(self, spec: str) -> str:
        if not spec:
            return repr(self)
        self._concrete_error(f"formatting with {spec!r}")

    # --- conversions that need a concrete value -----------------------------------------
    def _concrete_error(self, what: str):
        from .indexing import assignment_into_array_error
        err = assignment_into_array_error(self)  # y[i] = x with y a NumPy array
        if err is not None:
            raise err
        raise TracerBoolError(
            f"{what} needs a concrete value, but this is a traced array {self.aval} whose value is "
            "only known when the compiled function runs. Use np.where(cond, a, b) for a "
            "data-dependent choice, or mark the argument static with static_argnums=(...) if "
            "it is a configuration value", src=user_src_with_text(3))

    def __bool__(self):
        from .indexing import assignment_into_array_error
        err = assignment_into_array_error(self)
        if err is not None:
            raise err
        raise TracerBoolError(
            "Python control flow (`if`/`while`/`bool()`/`and`/`or`) needs a concrete value, but "
            f"this is a traced array {self.aval} whose value is only known when the compiled "
            "function runs. Write the branch or loop with tracegrad's control flow, traced once "
            "and differentiable:\n"
            "    y = tg.cond(x > 0, lambda x: np.sin(x), lambda x: -x, x)      # if/else\n"
            "    x = tg.while_loop(lambda x: abs(f(x)) > 1e-9, newton_step, x0,  # while\n"
            "                      max_iter=50)\n"
            "(np.where(c, a, b) for an elementwise choice; static_argnums=(...) if the value is "
            "a configuration setting)", src=user_src_with_text(2))

    def _known(self):
        """The value when it does not depend on the arguments (numpy/known_values.py)."""
        from .numpy.known_values import known_value
        return known_value(self)

    def __int__(self):
        value = self._known()
        if value is not None:
            return int(value)
        self._concrete_error("int()")

    def __float__(self):
        value = self._known()
        if value is not None:
            return float(value)
        self._concrete_error("float()")

    def __complex__(self):
        self._concrete_error("complex()")

    def __index__(self):
        self._concrete_error("using a traced value as a Python index or size (range(), a "
                             "shape, or indexing a NumPy array or list)")

    def item(self):
        value = self._known()
        if value is not None:
            return value.item()
        self._concrete_error(".item()")

    def tolist(self):
        self._concrete_error(".tolist()")

    def __array__(self, dtype=None, copy=None):
        value = self._known()  # np.int64(x), y[i] = x ... of a value known while tracing
        if value is not None:
            return np.asarray(value, dtype=dtype)
        from .indexing import assignment_into_array_error
        err = assignment_into_array_error(self)  # y[a:b] = x with y a NumPy array
        if err is not None:
            raise err
        raise TracerArrayConversionError(
            f"np.asarray/np.array was called on a traced array {self.aval} (directly, or by a "
            "NumPy function given a list of traced arrays, or by indexing a NumPy array with a "
            "traced index). Inside a traced function keep values as arrays: use np.stack(...) "
            "to build an array from traced values, tracegrad.numpy.asarray(table)[i] or "
            "tracegrad.numpy.take(table, i, axis=0) to index a NumPy array with a traced index, "
            "or compute the value outside the function (np.int64(x)/np.float32(x) of a traced "
            "array: x.astype(np.int64))", src=user_src_with_text(2))

    def __hash__(self):
        raise ArgumentError("traced arrays are unhashable (as NumPy arrays are), so they cannot "
                            "be dict keys or set members; key on a static value instead (mark "
                            "it with static_argnums=(...))", src=user_src_with_text(2))

    # --- NumPy dispatch protocols ------------------------------------------------------
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return _tnp()._dispatch_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        return _tnp()._dispatch_function(func, args, kwargs)

    # --- methods and operators (all delegate to tracegrad.numpy) ------------------------
    def __getitem__(self, idx):
        return _tnp().inplace.getitem(self, idx)  # basic indexing records a view

    def __setitem__(self, idx, value):
        # rewritten as x.at[idx].set(v) with NumPy's aliasing; arguments refuse (inplace.py)
        _tnp().inplace.setitem(self, idx, value)

    @property
    def at(self):
        """``x.at[idx].set(v)`` / ``.add(v)``: functional updates (see indexing.AtIndexer)."""
        from .indexing import AtIndexer
        return AtIndexer(self)

    @property
    def T(self):
        return _tnp().transpose(self)

    @property
    def mT(self):
        return _tnp().swapaxes(self, -1, -2)

    @property
    def real(self):
        return _tnp().real(self) if self.dtype.kind == "c" else self

    @property
    def imag(self):
        return _tnp().imag(self)

    @property
    def itemsize(self) -> int:
        return self.dtype.itemsize

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize


    def __getattr__(self, name):
        # only reached for names Tracer lacks: name the ndarray method instead of a bare
        # AttributeError (still an AttributeError, so hasattr() keeps working)
        if not name.startswith("_") and hasattr(np.ndarray, name):
            raise UnsupportedAttributeError(
                f"ndarray.{name} is not supported on traced arrays (in-place methods such as "
                ".sort()/.fill() cannot be traced, and data-dependent ones such as .nonzero() "
                "have no static shape)", src=user_src_with_text(2))
        if name.startswith("_"):  # protocol probes (hasattr(x, "__array_namespace__")...)
            raise AttributeError(f"'Tracer' object has no attribute {name!r}")
        raise UnsupportedAttributeError(f"traced arrays, like NumPy arrays, have no attribute "
                                        f"{name!r}", src=user_src_with_text(2))

    def copy(self, order="C"):
        return _tnp().copy(self)  # a new array object: x[i] = v on it leaves self alone

    def detach(self):
        from .lax import stop_gradient
        return stop_gradient(self)

    # Operators. On values that stand for Python scalars (weak tracers, Python numbers) Python
    # itself would compute a Python number, which is weak again: ``x_f32 * (s * 2)`` with a
    # Python float argument ``s`` stays float32, as it does in NumPy. NumPy functions
    # (np.exp(s), ...) return NumPy scalars, which are strong; they are not operators.
    def __neg__(self):
        out = _weak_if(_tnp().negative(self), self)
        if type(out) is Tracer and out._weak:
            note_weak_int("negative", out, (self,))
        return out

    def __pos__(self):
        # +x is a new array in NumPy (x[i] = v on it leaves x alone); +n stays a weak scalar
        return self if self._weak else _tnp().copy(self)

    def __abs__(self):
        out = _weak_if(_tnp().abs(self), self)
        if type(out) is Tracer and out._weak:
            note_weak_int("abs", out, (self,))
        return out

    def __invert__(self):
        return _tnp().invert(self)

    def __divmod__(self, o):
        return _tnp().divmod(self, o)

    def __rdivmod__(self, o):
        return _tnp().divmod(o, self)

    def __matmul__(self, o):
        return _tnp().matmul(self, o)

    def __rmatmul__(self, o):
        return _tnp().matmul(o, self)

    def __and__(self, o):
        return _tnp().bitwise_and(self, o)

    def __rand__(self, o):
        return _tnp().bitwise_and(o, self)

    def __or__(self, o):
        return _tnp().bitwise_or(self, o)

    def __ror__(self, o):
        return _tnp().bitwise_or(o, self)

    def __xor__(self, o):
        return _tnp().bitwise_xor(self, o)

    def __rxor__(self, o):
        return _tnp().bitwise_xor(o, self)

    # bit shifts have no primitive: say so (the operators are not left undefined, which would
    # surface as "unsupported operand type(s)" naming the internal Tracer class)
    def __lshift__(self, o):
        _no_shift("<<", "np.left_shift", "multiply by 2**k")

    __rlshift__ = __lshift__

    def __rshift__(self, o):
        _no_shift(">>", "np.right_shift", "floor-divide by 2**k")

    __rrshift__ = __rshift__


def _no_shift(op: str, fn: str, fix: str):
    raise UnsupportedOperationError(f"the bit shift {op} ({fn}) is not supported on traced "
                                    f"arrays; {fix} instead", src=user_src_with_text(3))


def _is_weak(x) -> bool:
    return (isinstance(x, Tracer) and x._weak) or (
        isinstance(x, (bool, int, float)) and not isinstance(x, np.generic))


def _weak_if(out, *operands):
    """Mark ``out`` weak when every operand stands for a Python scalar."""
    if isinstance(out, Tracer) and all(_is_weak(o) for o in operands):
        out._weak = True
    return out


def _defers(o) -> bool:
    """Whether a binary operator should return NotImplemented so ``o``'s reflected method
    runs: ``o`` is a foreign array type that takes part in NumPy's protocols itself
    (``__array_ufunc__`` = None, or its own ``__array_ufunc__``, as xarray and pandas define),
    which is the rule ndarray's own operators follow."""
    if isinstance(o, (Tracer, np.ndarray, np.generic, int, float, bool, list, tuple)):
        return False
    return hasattr(type(o), "__array_ufunc__")


def _note_ints(op: str, out, operands) -> None:
    """Python-int arithmetic on Python-int arguments: a weak result keeps its expression; a
    strong one (it met an array) makes each call check the exact value fits (int_range.py)."""
    if type(out) is Tracer and out._weak:
        note_weak_int(op, out, operands)
    elif out is not NotImplemented:
        note_consumed(operands, lambda: user_src_with_text(4))


def _binary_operator(tnp_name: str):
    def op(self, o):
        if _defers(o):
            return NotImplemented
        out = _weak_if(getattr(_tnp(), tnp_name)(self, o), self, o)
        _note_ints(tnp_name, out, (self, o))
        return out

    def rop(self, o):
        if _defers(o):
            return NotImplemented
        out = _weak_if(getattr(_tnp(), tnp_name)(o, self), self, o)
        _note_ints(tnp_name, out, (o, self))
        return out
    return op, rop


for _dunder, _tnp_name in [("add", "add"), ("sub", "subtract"), ("mul", "multiply"),
                           ("truediv", "true_divide"), ("floordiv", "floor_divide"),
                           ("mod", "remainder"), ("pow", "power")]:
    _op, _rop = _binary_operator(_tnp_name)
    _op.__name__, _rop.__name__ = f"__{_dunder}__", f"__r{_dunder}__"
    setattr(Tracer, _op.__name__, _op)
    setattr(Tracer, _rop.__name__, _rop)
def _augmented_operator(dunder: str, symbol: str):
    """``x op= v``: NumPy writes x in place, which only differs from rebinding the name when
    another array shares x's memory; numpy/inplace.py's ``augmented`` decides and writes."""
    binary = getattr(Tracer, f"__{dunder}__")

    def iop(self, o):
        out = binary(self, o)
        # tracegrad's own code (derivative rules, the NumPy layer) keeps functional rebinding
        if out is NotImplemented or self._weak or _is_library(sys._getframe(1).f_code.co_filename):
            return out
        return _tnp().inplace.augmented(self, out, symbol)
    iop.__name__ = f"__i{dunder}__"
    return iop


for _dunder, _symbol in [("add", "+"), ("sub", "-"), ("mul", "*"), ("truediv", "/"),
                         ("floordiv", "//"), ("mod", "%"), ("pow", "**"), ("matmul", "@"),
                         ("and", "&"), ("or", "|"), ("xor", "^")]:
    setattr(Tracer, f"__i{_dunder}__", _augmented_operator(_dunder, _symbol))
for _dunder, _tnp_name in [("lt", "less"), ("le", "less_equal"), ("gt", "greater"),
                           ("ge", "greater_equal"), ("eq", "equal"), ("ne", "not_equal")]:
    _op, _ = _binary_operator(_tnp_name)
    _op.__name__ = f"__{_dunder}__"
    setattr(Tracer, _op.__name__, _op)


# np.random draws while tracing raise instead of being frozen (random_guard.py); installed once,
# here, because every trace starts in this module
from . import random_guard as _random_guard  # noqa: E402

_random_guard.install()


def _is_tracer(x) -> bool:
    return isinstance(x, Tracer)


# Primitive.bind (the IR layer, which never imports this module) reaches bind through this hook
_install_tracing(bind=bind, current_trace=current_trace, aval_of=aval_of, is_traced=_is_tracer)
_install_graph_transforms(TraceContext=TraceContext)
