"""Turn a partial-derivative expression of the derivative table into IR (no sympy at run time).

Expressions are Python syntax over ``x``, ``y`` (inputs) and ``out`` (the output), with the
functions of ``functions()``; constants stay Python scalars so they become weak literals of the
operand dtype. ``x**2`` is emitted as ``x*x`` (exact and cheaper than pow).

The functions come from the elementwise registry: a primitive whose scalar meaning is ``f(x)``
(or ``f(x, y)``) is what sympy's ``f`` means (``cosh(x)`` in ``sinh``'s partial is ``cosh``,
``Abs`` is ``abs``, ``Max`` is ``max``), so a new elementwise primitive needs no row here. Only
names no primitive's scalar meaning spells are listed by hand (``_SPECIAL``).
"""
from __future__ import annotations

import ast
import math
import re
from functools import lru_cache

import numpy as np

from ..primitive import is_traced
from ..thread_local import ThreadLocalList
from . import ops

_APPLICATION = re.compile(r"([A-Za-z_]\w*)\((?:x|x, y)\)")  # a scalar meaning "f(x)", "f(x, y)"


def _special():
    """Names sympy (or a stated override, passes/symbolic.py) writes that no primitive's
    scalar meaning is an application of: ``sign`` and ``floor`` are nondiff primitives (no
    scalar meaning) that appear in others' partials (``Abs``, ``rem``); ``sigmoid`` is declared
    by its formula; the rest are guards of the overrides."""
    return {"sign": ops.sign, "floor": ops.floor, "sigmoid": ops.sigmoid,
            "where": _where, "isinf": _isinf, "nan_to_zero": _nan_to_zero,
            "besseli": _besseli}


def _besseli(nu, z):
    """sympy's besseli(nu, z) at the orders with a primitive (i0, i1: scalar meanings
    ``besseli(0, x)``, ``besseli(1, x)``, which the f(x) rule cannot name)."""
    return {0: ops.i0, 1: ops.i1}[nu](z)


@lru_cache(maxsize=None)
def functions() -> dict:
    """Function name in a partial expression -> the IR operation it means. Built on first use
    (the declaring modules import this file before the registry is complete)."""
    from .elementwise import ELEMENTWISE
    table = {}
    for prim in ELEMENTWISE.values():
        m = _APPLICATION.fullmatch(prim.scalar or "")
        if m is not None:
            if m.group(1) in table:
                raise ValueError(f"two elementwise primitives have the scalar meaning "
                                 f"{prim.scalar!r}")
            table[m.group(1)] = ops.ELEMENTWISE_OPS[prim.name]
    return {**table, **_special()}


def _isinf(z):
    return ops.eq(ops.abs(z), float("inf"))


def _nan_to_zero(z):
    """z, with 0 where z is NaN (z != z); a guard that keeps z's derivative wherever z is a
    number, so a partial stays smooth (unlike where(z == c, 0, z) at z == c)."""
    return ops.select(ops.ne(z, z), 0, z)


def _where(c, a, b):
    if not is_traced(c) and np.ndim(c) == 0:
        # a condition on literals only (y == 0 with a literal exponent) is known now: take
        # the branch (a scalar condition cannot select between full-shape branches anyway)
        return a if bool(c) else b
    if a is b:
        return a  # both branches one value (the guard did not apply to a literal exponent)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        ref = c
        a = ops.full(ops.shape_of(ref), a, _float_dtype[0])
    return ops.select(c, a, b)


# dtype of the operands being differentiated (set per evaluation, per thread)
_float_dtype = ThreadLocalList([None])


@lru_cache(maxsize=None)
def _parse(expr: str) -> ast.AST:
    return ast.parse(expr, mode="eval").body


def evaluate(expr: str, env: dict, dtype):
    """Evaluate ``expr`` with ``env`` (names to tracers/arrays/literals) as IR operations."""
    _float_dtype[0] = dtype
    return _eval(_parse(expr), env, functions())


def _const(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _eval(node, env, funcs):
    lax = ops  # the strict IR-level operations (same contract as tracegrad.lax)
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id == "pi":
            return math.pi
        return env[node.id]
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        v = _eval(node.operand, env, funcs)
        return -v if _const(v) else lax.neg(v)
    if isinstance(node, ast.BinOp):
        if isinstance(node.op, ast.Pow) and isinstance(node.right, ast.Constant) \
                and node.right.value == 2:
            base = _eval(node.left, env, funcs)
            return base * base if _const(base) else lax.mul(base, base)
        a, b = _eval(node.left, env, funcs), _eval(node.right, env, funcs)
        if _const(a) and _const(b):
            return {ast.Add: a + b, ast.Sub: a - b, ast.Mult: a * b,
                    ast.Div: a / b if b else math.copysign(math.inf, a),
                    ast.Pow: a ** b}[type(node.op)]
        op = {ast.Add: lax.add, ast.Sub: lax.sub, ast.Mult: lax.mul, ast.Div: lax.div,
              ast.Pow: lax.pow}[type(node.op)]
        if isinstance(node.op, ast.Div) and _const(a) and not isinstance(a, float):
            a = float(a)  # 1/y: a float literal (div needs float operands)
        return op(a, b)
    if isinstance(node, ast.Call):
        name = node.func.id
        args = [_eval(a, env, funcs) for a in node.args]
        if all(_const(a) for a in args) and name != "where":
            return getattr(math, name)(*args)
        return funcs[name](*args)
    if isinstance(node, ast.Compare):
        a = _eval(node.left, env, funcs)
        b = _eval(node.comparators[0], env, funcs)
        op = {ast.Gt: lax.gt, ast.Lt: lax.lt, ast.Eq: lax.eq, ast.GtE: lax.ge,
              ast.LtE: lax.le}[type(node.ops[0])]
        return op(a, b)
    raise ValueError(f"unsupported expression node {ast.dump(node)}")
