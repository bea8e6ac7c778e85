"""Python ints that do not fit the integer dtype they meet: raise as NumPy 2 does (NEP 50).

``int32_array + 2**40`` raises ``OverflowError`` in NumPy 2, while a literal ``2**40:i32`` in a
graph would wrap silently (C casts it, NumPy code raises only at run time). Checked while
tracing, so both backends refuse the same programs, at the user's line:
- literals reaching ``bind`` (``check_operands``);
- Python-int *arguments* (weak tracers): jit keys them by whether they fit int32 (``WIDE``),
  and converting a wide one to int32 raises;
- comparisons, where NumPy 2 does not raise but compares exactly: ``exact_comparison``;
- Python ints *computed* from such arguments (``x + n * 4``): Python would compute them exactly,
  so the trace keeps each one's expression over the arguments (``note_weak_int``), and a
  narrowing of one to an integer dtype becomes a check that jit runs on each call's values
  (``run_checks``): the value depends on the call, so it cannot be decided while tracing.
"""
from __future__ import annotations

import numpy as np

from .errors import IntegerOverflowError
from .ir import Lit

RANGES = {np.dtype("int32"): (-(2 ** 31), 2 ** 31 - 1),
          np.dtype("int64"): (-(2 ** 63), 2 ** 63 - 1)}
INT32, INT64 = np.dtype("int32"), np.dtype("int64")
WIDE = "wide"  # signature marker: a Python int argument outside int32's range


def fits(value: int, dtype: np.dtype) -> bool:
    lo, hi = RANGES[dtype]
    return lo <= value <= hi


def weak_kind(leaf, weak: bool):
    """The weakness entry of a jit signature: ``WIDE`` for a Python int outside int32 (so it
    gets its own trace, which can refuse to narrow it), else ``weak`` unchanged."""
    if weak and type(leaf) is int and not fits(leaf, INT32):
        return WIDE
    return weak


def _fix(dtype) -> str:
    return ("NumPy 2 raises OverflowError here too. Widen the array first (x.astype(np.int64)) "
            "when the value fits int64, or compute in floats" if dtype == INT32 else
            "NumPy 2 raises OverflowError here too (int64 is the widest integer); compute in "
            "floats")


def check_operands(prim, ins, params, args, src_fn) -> None:
    """Refuse an out-of-range int literal among ``ins``, or narrowing a wide Python-int
    argument to int32 (``convert``); ``src_fn()`` names the user's line."""
    for a in ins:
        if type(a) is Lit and type(a.value) is int and a.aval.dtype in RANGES and \
                not fits(a.value, a.aval.dtype):
            raise IntegerOverflowError(
                f"Python integer {a.value} out of bounds for {a.aval.dtype} (in {prim.name}); "
                f"{_fix(a.aval.dtype)}", src=src_fn())
    if prim.name == "convert":
        value = wide_value(args[0])
        if value is not None and params["new_dtype"] == "int32":
            raise IntegerOverflowError(
                f"the Python int argument {value} is out of bounds for int32 (it meets an int32 "
                f"array); {_fix(INT32)}", src=src_fn())
        note_consumed(args[:1], src_fn, np.dtype(params["new_dtype"]))


def wide_value(x):
    """The value of ``x`` when it is a weak tracer standing for a Python-int argument outside
    int32's range (see ``TraceContext.wide_ints``), else None."""
    ctx = getattr(x, "_ctx", None)
    if ctx is None or not getattr(x, "_weak", False):
        return None
    return ctx.wide_ints.get(id(x._var))


_BELOW_ALL = {"lt": True, "le": True, "gt": False, "ge": False}  # array OP value, value > max
_MIRROR = {"lt": "gt", "le": "ge", "gt": "lt", "ge": "le", "eq": "eq", "ne": "ne"}


def exact_comparison(prim: str, x1, x2, elementwise, full, shape_of, dtype_of):
    """NumPy 2 compares an integer array with any Python int exactly (``int32 < 2**40`` is all
    True, no error). Returns that result when a Python int literal, or a wide Python-int
    argument, is outside the array's integer dtype; else None (the ordinary comparison is
    exact). ``elementwise(prim, x1, x2, dtype=)`` compares at a given dtype."""
    for a, b in ((x1, x2), (x2, x1)):  # a Python-int argument (or an int computed from
        # them) that may not fit, against an int32 array: compare in int64
        expr = _expr(a)
        if (wide_value(a) is not None or (expr is not None and expr[0] not in ("in", "lit"))) \
                and type(b) is not int and dtype_of(b) == INT32:
            return elementwise(prim, x1, x2, dtype=INT64)
    py = [type(x) is int for x in (x1, x2)]
    if py[0] == py[1]:
        return None
    value, other = (x1, x2) if py[0] else (x2, x1)
    dt = dtype_of(other)
    if dt not in RANGES or fits(value, dt):
        return None
    if fits(value, INT64):
        return elementwise(prim, x1, x2, dtype=INT64)
    op = prim if py[1] else _MIRROR[prim]  # now "array op value"
    # beyond int64 every element compares the same way
    result = (op == "ne") if op in ("eq", "ne") else (_BELOW_ALL[op] == (value > 0))
    return full(shape_of(other), result, np.dtype("bool"))


# --- Python ints computed from Python-int arguments -----------------------------------------
_PY_OPS = {"add": lambda a, b: a + b, "subtract": lambda a, b: a - b,
           "multiply": lambda a, b: a * b, "floor_divide": lambda a, b: a // b,
           "remainder": lambda a, b: a % b, "power": lambda a, b: a ** b,
           "negative": lambda a: -a, "abs": abs}


def _expr(x):
    """The expression of a weak int over the call's argument leaves, or None."""
    if type(x) is int:
        return ("lit", x)
    ctx = getattr(x, "_ctx", None)
    if ctx is None or not getattr(x, "_weak", False):
        return None
    return ctx.weak_exprs.get(id(x._var))


def note_weak_int(op: str, out, operands) -> None:
    """Record ``out = op(*operands)`` when it is a Python int computed from Python ints and
    Python-int arguments (a weak int tracer), so a narrowing of it can be checked per call."""
    if op not in _PY_OPS or not getattr(out, "_weak", False) or out.dtype.kind != "i":
        return
    exprs = [_expr(o) for o in operands]
    if all(e is not None for e in exprs):
        out._ctx.weak_exprs[id(out._var)] = (op, *exprs)


def note_consumed(operands, src_fn, dtype=INT64) -> None:
    """Python ints computed from Python-int arguments among ``operands`` meet an array here
    (as ``dtype``): each call must check that the exact value fits ``dtype`` (an integer
    dtype), or int64 (for a float or bool ``dtype``: the trace computed the value in int64)."""
    for x in operands:
        expr = _expr(x)
        if expr is not None and expr[0] not in ("in", "lit"):
            x._ctx.int_checks.append((expr, dtype if dtype in RANGES else INT64, src_fn()))


def _evaluate(expr, leaves):
    kind = expr[0]
    if kind == "lit":
        return expr[1]
    if kind == "in":
        return leaves[expr[1]]
    return _PY_OPS[kind](*[_evaluate(e, leaves) for e in expr[1:]])


def run_checks(checks, leaves) -> None:
    """Raise ``IntegerOverflowError`` when a Python int computed from this call's arguments
    does not fit the integer dtype the trace narrowed it to (NumPy 2 raises there too)."""
    for expr, dtype, src in checks:
        try:
            value = _evaluate(expr, leaves)
        except (ArithmeticError, TypeError, ValueError):
            continue  # (n // 0 ...: not an overflow; the program's own result stands)
        if type(value) is int and not fits(value, dtype):
            raise IntegerOverflowError(
                f"the Python int {value}, computed from this call's Python-int arguments, is "
                f"out of bounds for {dtype}; {_fix(dtype)}", src=src)
