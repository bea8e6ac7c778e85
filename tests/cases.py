"""One row per primitive: the table every primitive-level test is driven from.

Each ``Case`` says how to call a primitive through its ``tracegrad.lax`` wrapper, the same thing
in plain NumPy, the argument shapes and dtypes it is tested at and the input domain to draw
from; forward tests, printing tests and (later) gradient tests all iterate over ``CASES``.
Every primitive in ``tracegrad.primitive.PRIMITIVES`` has at least one row (test_registry.py).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

from tracegrad import lax
from tracegrad.prims.conv import conv as prim_conv
from tracegrad.prims.sort import argsort as prim_argsort

# --- dtype groups ------------------------------------------------------------------------
F32, F64, I32, I64, BOOL = "float32", "float64", "int32", "int64", "bool"
FLOAT = (F32, F64)
INT = (I32, I64)
NUM = FLOAT + INT
ALL = NUM + (BOOL,)
C64, C128 = "complex64", "complex128"
COMPLEX = (C64, C128)  # drawn as domain + 1j * U(-1, 1); on C too (FFT rows: a typed refusal)

# Domains a drawn argument can come from. Floats: see ``_draw_float``; integers use small ranges
# with the same meaning (so pow/prod stay far from overflow); bools ignore the domain.
DOMAINS = ("real", "positive", "unit", "ge1", "nonzero", "away_from_int", "bool", "index",
           "index_neg", "index_oob")
# index domains: "index" in [0, n), "index_neg" in [-n, 0), "index_oob" in range but for one
# entry outside [-n, n) (tests/test_index_bounds.py: every backend raises IndexError naming it)
INDEX_DOMAINS = ("index", "index_neg", "index_oob")

NOARGS = [()]  # the one shape set of a function of no arguments (constant, iota)


@dataclass(frozen=True)
class Case:
    """One way of calling one primitive.

    ``shapes``: list of shape sets, one shape per argument. ``dtypes``: the dtypes the row is
    tested at; an argument's dtype is that dtype unless ``arg_dtypes`` fixes it (indices,
    predicates). ``domain``: one entry of ``DOMAINS`` per argument. ``differentiable``: whether
    the result has a nonzero derivative worth checking against finite differences in the
    row's float arguments. ``linear_args``: arguments in which ``fn`` is linear, jointly, while
    the others are held fixed (what a transpose rule may be asked to transpose); with
    ``bilinear`` it is linear in each of them separately instead (``mul``, ``dot_general``:
    only one of the two may vary at a time). ``post`` adjusts drawn
    arguments jointly when a domain is a property of several of them (``rem``'s kinks are
    where ``x / y`` is an integer). ``name`` tells rows of one primitive apart.
    """

    prim: str
    fn: Callable
    numpy_ref: Callable
    shapes: list
    dtypes: tuple
    domain: tuple
    differentiable: bool = True
    linear_args: tuple = ()
    bilinear: bool = False
    arg_dtypes: tuple = ()
    post: Callable | None = None
    name: str = ""

    @property
    def id(self) -> str:
        return f"{self.prim}-{self.name}" if self.name else self.prim

    @property
    def arity(self) -> int:
        return len(self.domain)

    def arg_dtype(self, i: int, dtype) -> np.dtype:
        fixed = self.arg_dtypes[i] if i < len(self.arg_dtypes) else None
        return np.dtype(fixed if fixed is not None else dtype)


def shapes_id(shape_set) -> str:
    """Readable test-id fragment for a shape set: ``[2,3][3]``, ``[]`` for a scalar."""
    if not shape_set:
        return "noargs"
    return "".join("[" + ",".join(map(str, s)) + "]" for s in shape_set)


# --- drawing inputs ----------------------------------------------------------------------
def _draw_float(domain: str, shape, rng) -> np.ndarray:
    if domain == "real":
        return rng.uniform(-2.0, 2.0, shape)
    if domain == "positive":
        return rng.uniform(0.5, 2.0, shape)
    if domain == "unit":
        return rng.uniform(-0.9, 0.9, shape)
    if domain == "ge1":
        return rng.uniform(1.1, 3.0, shape)
    if domain == "nonzero":
        return rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
    if domain == "away_from_int":
        # k + f with f in [0.1, 0.4] or [0.6, 0.9]: away from integers (floor, ceil, rem kinks)
        # and from half-integers (where rint breaks ties)
        f = rng.uniform(0.1, 0.4, shape) + rng.choice([0.0, 0.5], shape)
        return rng.integers(-3, 4, shape) + f
    raise ValueError(f"unknown float domain {domain!r}")


_INT_RANGES = {"real": (-5, 5), "positive": (1, 5), "unit": (0, 0), "ge1": (2, 5),
               "nonzero": (1, 5), "away_from_int": (-9, 9)}


def _draw_int(domain: str, shape, rng) -> np.ndarray:
    lo, hi = _INT_RANGES[domain]
    out = rng.integers(lo, hi + 1, shape)
    if domain == "nonzero":
        out = out * rng.choice([-1, 1], shape)
    return out


def _draw_index(domain: str, shape, operand_shape, rng) -> np.ndarray:
    """Indices ``(..., k)``: component ``j`` is valid for axis ``j`` of argument 0 (except one
    entry for ``index_oob``)."""
    k = shape[-1]
    out = np.zeros(shape, dtype=np.int64)
    if domain == "index_oob":
        if not int(np.prod(shape[:-1])):
            raise ValueError(f"indices {shape} have no entry to put out of range")
        valid = [n if n else 1 for n in operand_shape[:k]]  # (a bad entry goes to an empty axis)
        out = _draw_index("index", shape, tuple(valid) + tuple(operand_shape[k:]), rng)
        b = tuple(int(rng.integers(0, d)) for d in shape[:-1])
        j = int(rng.integers(0, k))
        n = operand_shape[j]
        out[b + (j,)] = n + int(rng.integers(0, 3)) if rng.random() < 0.5 else \
            -n - 1 - int(rng.integers(0, 3))
        return out
    for j in range(k):
        n = operand_shape[j]
        if n == 0:
            if int(np.prod(shape[:-1])):
                raise ValueError(f"cannot draw indices {shape} into an empty axis of "
                                 f"{operand_shape}")
            continue
        lo, hi = (-n, 0) if domain == "index_neg" else (0, n)
        out[..., j] = rng.integers(lo, hi, shape[:-1])
    return out


def make_args(case: Case, shape_set, dtype, rng: np.random.Generator) -> list[np.ndarray]:
    """Arrays for ``case.fn`` with the shapes of ``shape_set``, drawn from the row's domains."""
    args = []
    for i, (shape, domain) in enumerate(zip(shape_set, case.domain)):
        dt = case.arg_dtype(i, dtype)
        shape = tuple(shape)
        if domain in INDEX_DOMAINS:
            a = _draw_index(domain, shape, tuple(shape_set[0]), rng)
        elif dt.kind == "b":
            a = rng.random(shape) < 0.5
        elif dt.kind in "iu":
            a = _draw_int(domain, shape, rng)
        elif dt.kind == "c":  # the real part from the domain: positive stays off log's cut
            a = _draw_float(domain, shape, rng) + 1j * rng.uniform(-1.0, 1.0, shape)
        else:
            a = _draw_float(domain, shape, rng)
        args.append(np.asarray(a).astype(dt))  # np.asarray: 0-d arrays, never Python scalars
    if case.post is not None:
        args = [np.asarray(a) for a in case.post(*args)]
    return args


# --- elementwise rows --------------------------------------------------------------------
S1 = [(), (0,), (1,), (3,), (2, 1, 3)]  # one operand: scalar, empty, size-1, vector, 3-d


def _same(n):
    return [(s,) * n for s in S1]


def _erf_ref(x):
    return np.vectorize(math.erf, otypes=[x.dtype])(x)


def _sigmoid_ref(x):
    return 1.0 / (1.0 + np.exp(-x))


# name, lax function, numpy reference, dtypes, domain, differentiable, linear_args
_UNARY = [
    ("neg", lax.neg, np.negative, NUM, "real", True, (0,)),
    ("abs", lax.abs, np.abs, NUM, "nonzero", True, ()),
    ("sign", lax.sign, np.sign, NUM, "real", False, ()),
    ("floor", lax.floor, np.floor, FLOAT, "away_from_int", False, ()),
    ("ceil", lax.ceil, np.ceil, FLOAT, "away_from_int", False, ()),
    ("round", lax.round, np.rint, FLOAT, "away_from_int", False, ()),
    ("exp", lax.exp, np.exp, FLOAT, "real", True, ()),
    ("exp2", lax.exp2, np.exp2, FLOAT, "real", True, ()),
    ("log", lax.log, np.log, FLOAT, "positive", True, ()),
    ("log2", lax.log2, np.log2, FLOAT, "positive", True, ()),
    ("log1p", lax.log1p, np.log1p, FLOAT, "unit", True, ()),
    ("expm1", lax.expm1, np.expm1, FLOAT, "real", True, ()),
    ("sqrt", lax.sqrt, np.sqrt, FLOAT, "positive", True, ()),
    ("sin", lax.sin, np.sin, FLOAT, "real", True, ()),
    ("cos", lax.cos, np.cos, FLOAT, "real", True, ()),
    ("tan", lax.tan, np.tan, FLOAT, "unit", True, ()),  # poles at +-pi/2 stay outside
    ("tanh", lax.tanh, np.tanh, FLOAT, "real", True, ()),
    ("sinh", lax.sinh, np.sinh, FLOAT, "real", True, ()),
    ("cosh", lax.cosh, np.cosh, FLOAT, "real", True, ()),
    ("arcsin", lax.arcsin, np.arcsin, FLOAT, "unit", True, ()),
    ("arccos", lax.arccos, np.arccos, FLOAT, "unit", True, ()),
    ("arctan", lax.arctan, np.arctan, FLOAT, "real", True, ()),
    ("arcsinh", lax.arcsinh, np.arcsinh, FLOAT, "real", True, ()),
    ("arctanh", lax.arctanh, np.arctanh, FLOAT, "unit", True, ()),
    ("arccosh", lax.arccosh, np.arccosh, FLOAT, "ge1", True, ()),
    ("sigmoid", lax.sigmoid, _sigmoid_ref, FLOAT, "real", True, ()),
    ("erf", lax.erf, _erf_ref, FLOAT, "real", True, ()),
    ("softplus", lax.softplus, lambda x: np.log1p(np.exp(x)), FLOAT, "real", True, ()),
    # scipy.special's functions (tracegrad/scipy/special.py): SciPy is the reference
    ("gammaln", lax.gammaln, lambda x: _sc().gammaln(x), FLOAT, "positive", True, ()),
    ("digamma", lax.digamma, lambda x: _sc().psi(x), FLOAT, "positive", True, ()),
    ("erfc", lax.erfc, lambda x: _sc().erfc(x), FLOAT, "real", True, ()),
    ("erfinv", lax.erfinv, lambda x: _sc().erfinv(x), FLOAT, "unit", True, ()),
    ("gamma", lax.gamma, lambda x: _sc().gamma(x), FLOAT, "positive", True, ()),
    ("i0", lax.i0, lambda x: _sc().i0(x), FLOAT, "real", True, ()),
    ("i1", lax.i1, lambda x: _sc().i1(x), FLOAT, "real", True, ()),
    ("erfcx", lax.erfcx, lambda x: _sc().erfcx(x), FLOAT, "real", True, ()),
    ("not", lax.logical_not, np.logical_not, (BOOL,), "real", False, ()),
]


def _sc():
    import scipy.special
    return scipy.special


def _polygamma_rows() -> list[Case]:
    """polygamma(n, x) at literal orders n (its partial in n is 0 by convention: n is an
    integer, so finite differences in n mean nothing)."""
    return [Case("polygamma", lambda x, n=n: lax.polygamma(float(n), x),
                 lambda x, n=n: _sc().polygamma(n, x).astype(x.dtype), _same(1), FLOAT,
                 ("positive",), name=f"n{n}") for n in (0, 1, 3)]


def _rem_post(x, y):
    """x = y * (k + f): x / y stays away from integers, where rem jumps (floats only)."""
    return (x * y, y) if x.dtype.kind == "f" else (x, y)


def _ties_post(x, y):
    """Make every other element of y equal to x, so eq/le/ge see ties in every dtype."""
    y = np.array(y, copy=True)
    y.flat[::2] = np.asarray(x).flat[::2]
    return x, y


# name, lax function, numpy reference, dtypes, domains, differentiable, linear_args, post
_BINARY = [
    ("add", lax.add, np.add, NUM, ("real", "real"), True, (0, 1), None),
    ("sub", lax.sub, np.subtract, NUM, ("real", "real"), True, (0, 1), None),
    ("mul", lax.mul, np.multiply, NUM, ("real", "real"), True, (0, 1), None),  # bilinear
    ("div", lax.div, np.true_divide, FLOAT, ("real", "nonzero"), True, (0,), None),
    ("max", lax.max, np.maximum, ALL, ("real", "real"), True, (), None),
    ("min", lax.min, np.minimum, ALL, ("real", "real"), True, (), None),
    ("rem", lax.rem, np.remainder, NUM, ("away_from_int", "nonzero"), True, (), _rem_post),
    ("floor_divide", lax.floor_divide, np.floor_divide, NUM, ("real", "nonzero"), False, (),
     None),
    ("atan2", lax.atan2, np.arctan2, FLOAT, ("real", "positive"), True, (), None),
    ("logaddexp", lax.logaddexp, np.logaddexp, FLOAT, ("real", "real"), True, (), None),
    ("logaddexp2", lax.logaddexp2, np.logaddexp2, FLOAT, ("real", "real"), True, (), None),
    ("hypot", lax.hypot, np.hypot, FLOAT, ("real", "real"), True, (), None),
    ("lt", lax.lt, np.less, ALL, ("real", "real"), False, (), _ties_post),
    ("le", lax.le, np.less_equal, ALL, ("real", "real"), False, (), _ties_post),
    ("gt", lax.gt, np.greater, ALL, ("real", "real"), False, (), _ties_post),
    ("ge", lax.ge, np.greater_equal, ALL, ("real", "real"), False, (), _ties_post),
    ("eq", lax.eq, np.equal, ALL, ("real", "real"), False, (), _ties_post),
    ("ne", lax.ne, np.not_equal, ALL, ("real", "real"), False, (), _ties_post),
    ("and", lax.logical_and, np.logical_and, (BOOL,), ("real", "real"), False, (), None),
    ("or", lax.logical_or, np.logical_or, (BOOL,), ("real", "real"), False, (), None),
    ("xor", lax.logical_xor, np.logical_xor, (BOOL,), ("real", "real"), False, (), None),
]


# the table's primitives NumPy also defines on complex (dtype classes cnumeric/inexact/anyc)
_ON_COMPLEX = ("neg", "add", "sub", "mul", "div", "exp", "log", "sqrt", "sin", "cos", "tanh",
               "tan", "sinh", "cosh", "log1p", "expm1", "exp2", "log2", "eq", "ne", "abs")


def _cx(name, dts):
    return dts + COMPLEX if name in _ON_COMPLEX else dts


def _const_like(x, value):
    """A constant operand of ``x``'s shape and dtype (a row's fixed parameter)."""
    return np.full(np.shape(x), value, dtype=np.dtype(getattr(x, "dtype", np.float64)))


def _elementwise_rows() -> list[Case]:
    rows = []
    for name, fn, ref, dts, dom, diff, lin in _UNARY:
        rows.append(Case(name, fn, ref, _same(1), _cx(name, dts), (dom,), diff, lin))
    for name, fn, ref, dts, dom, diff, lin, post in _BINARY:
        rows.append(Case(name, fn, ref, _same(2), _cx(name, dts), dom, diff, lin,
                         bilinear=name == "mul", post=post))
    # real, imag, conj: complex values apart (identity / zero / identity on reals)
    rows += [Case("real", lax.real, np.real, _same(1), FLOAT + COMPLEX, ("real",),
                  linear_args=(0,)),
             Case("imag", lax.imag, lambda x: np.array(np.imag(x)), _same(1), FLOAT + COMPLEX,
                  ("real",), linear_args=(0,)),
             Case("conj", lax.conj, np.conjugate, _same(1), FLOAT + COMPLEX, ("real",),
                  linear_args=(0,)),
             Case("pow", lax.pow, np.power, _same(2), COMPLEX, ("positive", "real"), False,
                  name="complex")]  # gradients: tests/test_complex.py (FD in re and im)
    rows += _polygamma_rows()
    # incomplete gamma/beta: derivative in x only (a shape parameter's is a GradientError), so
    # no all-argument finite differences here; tests/test_special_incomplete.py checks x's
    rows += [Case("gammainc", lax.gammainc, lambda a, x: _sc().gammainc(a, x), _same(2), FLOAT,
                  ("positive", "positive"), False),
             Case("gammaincc", lax.gammaincc, lambda a, x: _sc().gammaincc(a, x), _same(2),
                  FLOAT, ("positive", "positive"), False),
             Case("betainc", lax.betainc, lambda a, b, x: _sc().betainc(a, b, x), _same(3),
                  FLOAT, ("positive", "positive", "unit"), False,
                  post=lambda a, b, x: (a, b, np.abs(x))),  # x in [0, 0.9]
             # differentiable in x, the shape parameters held fixed (constants of the row)
             Case("gammainc", lambda x: lax.gammainc(_const_like(x, 2.5), x),
                  lambda x: _sc().gammainc(2.5, x).astype(x.dtype), _same(1), FLOAT,
                  ("positive",), name="x"),
             Case("gammaincc", lambda x: lax.gammaincc(_const_like(x, 0.7), x),
                  lambda x: _sc().gammaincc(0.7, x).astype(x.dtype), _same(1), FLOAT,
                  ("positive",), name="x"),
             Case("betainc", lambda x: lax.betainc(_const_like(x, 2.0), _const_like(x, 3.5), x),
                  lambda x: _sc().betainc(2.0, 3.5, x).astype(x.dtype), _same(1), FLOAT,
                  ("unit",), name="x")]
    rows += [
        # pow splits by dtype: a float exponent needs a positive base, ints a positive exponent
        Case("pow", lax.pow, np.power, _same(2), FLOAT, ("positive", "real"), name="float"),
        Case("pow", lax.pow, np.power, _same(2), INT, ("real", "positive"), False, name="int"),
        Case("where", lax.select, lambda c, x, y: np.where(c, x, y), _same(3), ALL,
             ("bool", "real", "real"), linear_args=(1, 2), arg_dtypes=(BOOL, None, None)),
        Case("stop_gradient", lax.stop_gradient, lambda x: np.array(x, copy=True), _same(1),
             ALL, ("real",), False),
    ]
    # smooth binary primitives at their ties x == y, where a max/abs lowering had its kink:
    # every derivative order must hold there too (test_second_order runs these rows)
    rows += [Case(name, fn, ref, _same(2), FLOAT, ("real", "real"), post=_ties_post,
                  name="ties")
             for name, fn, ref in (("logaddexp", lax.logaddexp, np.logaddexp),
                                   ("logaddexp2", lax.logaddexp2, np.logaddexp2),
                                   ("hypot", lax.hypot, np.hypot))]
    # Python scalars in lax calls become literals of the other operand's dtype: one row each
    # for a literal on either side, which is also what the printer and emitter must handle.
    rows += [
        Case("add", lambda x: lax.add(x, 2), lambda x: x + x.dtype.type(2), _same(1), NUM,
             ("real",), name="literal"),  # affine, not linear
        Case("sub", lambda x: lax.sub(1, x), lambda x: x.dtype.type(1) - x, _same(1), NUM,
             ("real",), name="literal-first"),
        Case("mul", lambda x: lax.mul(3, x), lambda x: x.dtype.type(3) * x, _same(1), NUM,
             ("real",), linear_args=(0,), name="literal-first"),
        Case("div", lambda x: lax.div(x, 4.0), lambda x: x / x.dtype.type(4), _same(1), FLOAT,
             ("real",), linear_args=(0,), name="literal"),
        Case("pow", lambda x: lax.pow(x, 2), lambda x: x ** x.dtype.type(2), _same(1), NUM,
             ("real",), name="literal-square"),
        Case("max", lambda x: lax.max(x, 0), lambda x: np.maximum(x, x.dtype.type(0)),
             _same(1), NUM, ("nonzero",), name="literal-relu"),
        Case("lt", lambda x: lax.lt(x, 1), lambda x: x < x.dtype.type(1), _same(1), NUM,
             ("real",), False, name="literal"),
        Case("where", lambda c, x: lax.select(c, x, 0),
             lambda c, x: np.where(c, x, x.dtype.type(0)), _same(2), ALL, ("bool", "real"),
             linear_args=(1,), arg_dtypes=(BOOL, None), name="literal-branch"),
    ]
    for target in ALL + COMPLEX:
        floaty = target in FLOAT
        fn, ref = _convert_fns(target)
        # same dtype: no equation at all; complex -> real is real_p first (its own row)
        sources = ALL + (tuple(d for d in COMPLEX if target in COMPLEX))
        rows.append(Case("convert", fn, ref, _same(1),
                         tuple(d for d in sources if d != target),
                         ("real",), floaty, (0,) if floaty else (), name=f"to-{target}"))
    return rows


def _convert_fns(target):
    return (lambda x: lax.convert(x, target)), (lambda x: x.astype(target))


# --- structural rows ---------------------------------------------------------------------
def _bcast_ref(shape, dims):
    def ref(x):
        missing = tuple(d for d in range(len(shape)) if d not in dims)
        return np.broadcast_to(np.expand_dims(x, missing), shape).copy()
    return ref


def _pad_ref(low, high, interior):
    """Pad by scattering x to positions lo + i * (interior + 1): independent of rt.pad."""
    def ref(x, v):
        shape = tuple(lo + hi + (d + (d - 1) * it if d else 0)
                      for d, lo, hi, it in zip(x.shape, low, high, interior))
        out = np.full(shape, v, dtype=x.dtype)
        pos = [lo + np.arange(d) * (it + 1) for d, lo, it in zip(x.shape, low, interior)]
        out[np.ix_(*pos)] = x
        return out
    return ref


def _nd(x, f):
    """A per-axis parameter tuple for x: ``f(axis)`` for every axis."""
    return tuple(f(i) for i in range(len(x.shape)))


_RESHAPE_TO = {(): (1, 1), (1,): (), (2, 3): (3, 2), (6,): (2, 1, 3), (0, 3): (3, 0, 1),
               (2, 3, 4): (4, 6)}


def _gather_ref(x, idx):
    return x[tuple(idx[..., j] for j in range(idx.shape[-1]))]


def _scatter_add_ref(x, idx, upd):
    out = np.array(x, copy=True)
    k = idx.shape[-1]
    for b in np.ndindex(*idx.shape[:-1]):  # one index tuple at a time: duplicates accumulate
        out[tuple(idx[b][:k])] += upd[b]
    return out


def _structural_rows() -> list[Case]:
    def low(x):
        return _nd(x, lambda i: i + 1)

    def high(x):
        return _nd(x, lambda i: x.ndim - i)

    rows = [
        Case("broadcast_in_dim",
             lambda x: lax.broadcast_in_dim(x, (2,) + x.shape, tuple(range(1, x.ndim + 1))),
             lambda x: np.broadcast_to(x, (2,) + x.shape).copy(),
             [((),), ((0,),), ((1,),), ((3,),), ((2, 3),)], ALL, ("real",),
             linear_args=(0,), name="new-leading-axis"),
        Case("broadcast_in_dim",
             lambda x: lax.broadcast_in_dim(x, tuple(3 if d == 1 else d for d in x.shape),
                                            tuple(range(x.ndim))),
             lambda x: np.broadcast_to(x, tuple(3 if d == 1 else d for d in x.shape)).copy(),
             [((1,),), ((2, 1),), ((1, 1, 4),), ((1, 0),)], ALL, ("real",),
             linear_args=(0,), name="expand-size-1"),
        Case("broadcast_in_dim",
             lambda x: lax.broadcast_in_dim(x, (x.shape[0], 4, x.shape[1]), (0, 2)),
             lambda x: _bcast_ref((x.shape[0], 4, x.shape[1]), (0, 2))(x),
             [((2, 3),), ((0, 3),), ((1, 1),)], ALL, ("real",), linear_args=(0,),
             name="middle-axis"),
        Case("broadcast_in_dim", lambda x: lax.add(x, lax.full(x.shape, 2, x.dtype)),
             lambda x: x + x.dtype.type(2), _same(1), NUM, ("real",), name="literal-operand"),
        Case("reshape", lambda x: lax.reshape(x, _RESHAPE_TO[x.shape]),
             lambda x: np.reshape(x, _RESHAPE_TO[x.shape]),
             [(s,) for s in _RESHAPE_TO], ALL, ("real",), linear_args=(0,)),
        Case("transpose", lambda x: lax.transpose(x, tuple(reversed(range(x.ndim)))),
             lambda x: np.transpose(x), [((2, 3),), ((0, 3),), ((1, 3),), ((2, 3, 4),)],
             ALL, ("real",), linear_args=(0,), name="reverse"),
        Case("transpose", lambda x: lax.transpose(x, (1, 2, 0)),
             lambda x: np.transpose(x, (1, 2, 0)), [((2, 3, 4),), ((2, 0, 1),)], ALL,
             ("real",), linear_args=(0,), name="rotate"),
        Case("slice", lambda x: lax.slice(x, _nd(x, lambda i: min(1, x.shape[i])), x.shape),
             lambda x: x[tuple(slice(min(1, d), d) for d in x.shape)],
             [((3,),), ((2, 4),), ((1, 5),), ((0, 3),)], ALL, ("real",), linear_args=(0,),
             name="drop-first"),
        Case("slice", lambda x: lax.slice(x, _nd(x, lambda i: 0), x.shape, _nd(x, lambda i: 2)),
             lambda x: x[tuple(slice(0, d, 2) for d in x.shape)],
             [((5,),), ((4, 7),), ((0, 3),), ((1, 1),)], ALL, ("real",), linear_args=(0,),
             name="stride-2"),
        Case("slice", lambda x: lax.slice(x, _nd(x, lambda i: 1), _nd(x, lambda i: x.shape[i] - 1),
                                          _nd(x, lambda i: 3)),
             lambda x: x[tuple(slice(1, d - 1, 3) for d in x.shape)],
             [((8,),), ((6, 5),), ((2, 9),)], ALL, ("real",), linear_args=(0,),
             name="offset-stride-3"),
        Case("pad", lambda x: lax.pad(x, 0, low(x), high(x)),
             lambda x: _pad_ref(low(x), high(x), _nd(x, lambda i: 0))(x, 0),
             [((0,),), ((1,),), ((3,),), ((2, 3),), ((2, 0, 1),)], ALL, ("real",),
             linear_args=(0,), name="edges"),
        Case("pad", lambda x: lax.pad(x, 0, _nd(x, lambda i: 0), _nd(x, lambda i: 1),
                                      _nd(x, lambda i: i + 1)),
             lambda x: _pad_ref(_nd(x, lambda i: 0), _nd(x, lambda i: 1),
                                _nd(x, lambda i: i + 1))(x, 0),
             [((0,),), ((1,),), ((3,),), ((2, 3),), ((2, 0, 1),)], ALL, ("real",),
             linear_args=(0,), name="interior"),
        Case("pad", lambda x, v: lax.pad(x, v, low(x), _nd(x, lambda i: 0), _nd(x, lambda i: 1)),
             lambda x, v: _pad_ref(low(x), _nd(x, lambda i: 0), _nd(x, lambda i: 1))(x, v),
             [((3,), ()), ((2, 3), ()), ((0,), ())], ALL, ("real", "real"),
             linear_args=(0, 1), name="traced-value"),
        Case("concatenate", lambda x, y: lax.concatenate([x, y], 0),
             lambda x, y: np.concatenate([x, y], 0),
             [((2,), (3,)), ((0,), (2,)), ((1,), (1,)), ((2, 3), (1, 3)), ((0, 2), (0, 2))],
             ALL, ("real", "real"), linear_args=(0, 1), name="axis0"),
        Case("concatenate", lambda x, y, z: lax.concatenate([x, y, z], 1),
             lambda x, y, z: np.concatenate([x, y, z], 1),
             [((2, 1), (2, 0), (2, 3)), ((0, 1), (0, 2), (0, 1)), ((1, 2, 3), (1, 1, 3),
                                                                 (1, 2, 3))],
             ALL, ("real", "real", "real"), linear_args=(0, 1, 2), name="axis1-three"),
        Case("rev", lambda x: lax.rev(x, (0,)), lambda x: np.flip(x, 0),
             [((0,),), ((1,),), ((4,),), ((2, 3),)], ALL, ("real",), linear_args=(0,),
             name="axis0"),
        Case("rev", lambda x: lax.rev(x, (0, 2)), lambda x: np.flip(x, (0, 2)),
             [((2, 3, 4),), ((1, 0, 2),)], ALL, ("real",), linear_args=(0,), name="axes02"),
        Case("gather", lax.gather, _gather_ref,
             [((5,), (3, 1)), ((4, 3), (2, 1)), ((4, 3), (2, 2, 1)), ((4,), (0, 1)),
              ((1,), (1, 1)), ((0, 3), (0, 1))],
             ALL, ("real", "index"), linear_args=(0,), arg_dtypes=(None, I64), name="k1"),
        Case("gather", lax.gather, _gather_ref,
             [((4, 3), (5, 2)), ((2, 3, 4), (2, 2)), ((2, 3, 4), (3, 2, 2)), ((1, 1), (1, 2))],
             ALL, ("real", "index"), linear_args=(0,), arg_dtypes=(None, I64), name="k2"),
        Case("gather", lax.gather, _gather_ref, [((5, 3), (4, 1)), ((3, 2, 2), (2, 2, 3))],
             NUM, ("real", "index"), linear_args=(0,), arg_dtypes=(None, I32),
             name="int32-indices"),
        # the primitive's documented contract: negative indices wrap, as in NumPy
        Case("gather", lax.gather, _gather_ref, [((5,), (4, 1)), ((4, 3), (3, 2))], NUM,
             ("real", "index_neg"), linear_args=(0,), arg_dtypes=(None, I64),
             name="negative-indices"),
        Case("scatter_add", lax.scatter_add, _scatter_add_ref,
             [((5,), (7, 1), (7,)), ((4, 3), (2, 1), (2, 3)), ((4,), (0, 1), (0,)),
              ((3, 2), (2, 2, 1), (2, 2, 2))],
             NUM, ("real", "index", "real"), linear_args=(0, 2), arg_dtypes=(None, I64, None),
             name="k1"),
        Case("scatter_add", lax.scatter_add, _scatter_add_ref,
             [((4, 3), (6, 2), (6,)), ((2, 3, 4), (3, 2), (3, 4)), ((2, 2), (5, 2), (5,))],
             NUM, ("real", "index", "real"), linear_args=(0, 2), arg_dtypes=(None, I32, None),
             name="k2-int32"),
    ]
    # index/copy operations are dtype-agnostic: every row that takes float64 takes complex too
    return [replace(c, dtypes=c.dtypes + COMPLEX) if F64 in c.dtypes else c for c in rows]


# --- reductions --------------------------------------------------------------------------
def _last(x):
    return (x.ndim - 1,)


def _all(x):
    return tuple(range(x.ndim))


def _reduce_fns(fn, ref, axes, keep_dtype):
    def f(x):
        return fn(x, axes(x))

    def r(x):
        return ref(x, axis=axes(x), dtype=x.dtype) if keep_dtype else ref(x, axis=axes(x))
    return f, r


def _arg_fns(fn, ref, axis, index_dtype):
    return ((lambda x: fn(x, axis(x), index_dtype)),
            (lambda x: ref(x, axis=axis(x)).astype(index_dtype)))


def _reduction_rows() -> list[Case]:
    rows = []
    # shapes per axes choice; reduce_max/min get no zero-size reduced axis (no identity)
    sum_shapes = {"axis0": [((0,),), ((1,),), ((4,),), ((2, 3),), ((0, 3),), ((2, 0),)],
                  "last": [((2, 3),), ((3, 0),), ((2, 3, 4),)],
                  "all": [((4,),), ((2, 3),), ((2, 0, 3),), ((1, 1, 1),)],
                  "axes02": [((2, 3, 4),), ((0, 2, 1),)]}
    max_shapes = {"axis0": [((1,),), ((4,),), ((2, 3),), ((3, 0),)],
                  "last": [((2, 3),), ((0, 3),), ((2, 3, 4),)],
                  "all": [((4,),), ((2, 3),), ((1, 1, 1),)]}
    axes_of = {"axis0": lambda x: (0,), "last": _last, "all": _all, "axes02": lambda x: (0, 2)}
    specs = [("reduce_sum", lax.reduce_sum, np.sum, NUM + COMPLEX, sum_shapes, (0,)),
             ("reduce_prod", lax.reduce_prod, np.prod, NUM + COMPLEX,
              {k: v for k, v in sum_shapes.items() if k != "axes02"}, ()),
             ("reduce_max", lax.reduce_max, np.max, ALL, max_shapes, ()),
             ("reduce_min", lax.reduce_min, np.min, ALL, max_shapes, ())]
    for prim, fn, ref, dts, shapes, lin in specs:
        for which, shape_list in shapes.items():
            ax = axes_of[which]
            keep_dtype = prim in ("reduce_sum", "reduce_prod")  # NumPy would widen int32
            f, r = _reduce_fns(fn, ref, ax, keep_dtype)
            rows.append(Case(prim, f, r, shape_list, dts, ("real",), linear_args=lin, name=which))
    for prim, fn, ref in (("argmax", lax.argmax, np.argmax), ("argmin", lax.argmin, np.argmin)):
        f, r = _arg_fns(fn, ref, lambda x: 0, I64)
        rows.append(Case(prim, f, r, [((1,),), ((5,),), ((2, 3),), ((3, 0),)], ALL, ("real",),
                         False, name="axis0"))
        f, r = _arg_fns(fn, ref, lambda x: x.ndim - 1, I32)
        rows.append(Case(prim, f, r, [((2, 3),), ((0, 4),), ((2, 3, 4),)], ALL, ("real",),
                         False, name="last-int32"))
    cumsum_shapes = [((0,),), ((1,),), ((5,),), ((2, 3),), ((0, 3),)]
    rows.append(Case("cumsum", lambda x: lax.cumsum(x, 0),
                     lambda x: np.cumsum(x, 0, dtype=x.dtype), cumsum_shapes, NUM, ("real",),
                     linear_args=(0,), name="axis0"))
    rows.append(Case("cumsum", lambda x: lax.cumsum(x, x.ndim - 1, reverse=True),
                     lambda x: np.flip(np.cumsum(np.flip(x, -1), -1, dtype=x.dtype), -1),
                     cumsum_shapes, NUM, ("real",), linear_args=(0,), name="last-reverse"))
    return rows


# --- contraction -------------------------------------------------------------------------
def _einsum_ref(dn):
    """dot_general through einsum subscripts: an independent statement of its axis order."""
    (lc, rc), (lb, rb) = dn

    def ref(a, b):
        letters = iter("abcdefghijklmnopqrstuvwxyz")
        sa, sb = [None] * a.ndim, [None] * b.ndim
        for i, j in list(zip(lb, rb)) + list(zip(lc, rc)):
            sa[i] = sb[j] = next(letters)
        sa = [s or next(letters) for s in sa]
        sb = [s or next(letters) for s in sb]
        out = [sa[i] for i in lb] + [s for i, s in enumerate(sa) if i not in lb + lc] + \
              [s for j, s in enumerate(sb) if j not in rb + rc]
        return np.einsum(f"{''.join(sa)},{''.join(sb)}->{''.join(out)}", a, b)
    return ref


_DOTS = [
    # name, dimension numbers ((lhs contracting, rhs contracting), (lhs batch, rhs batch)), shapes
    ("matmul", (((1,), (0,)), ((), ())),
     [((2, 3), (3, 4)), ((1, 3), (3, 1)), ((0, 3), (3, 2)), ((2, 0), (0, 3)), ((2, 3), (3, 0))]),
    ("matvec", (((1,), (0,)), ((), ())), [((2, 3), (3,)), ((0, 3), (3,))]),
    ("vecmat", (((0,), (0,)), ((), ())), [((3,), (3, 4)), ((1,), (1, 2))]),
    ("vector-dot", (((0,), (0,)), ((), ())), [((3,), (3,)), ((0,), (0,)), ((1,), (1,))]),
    ("batched-matmul", (((2,), (1,)), ((0,), (0,))),
     [((2, 3, 4), (2, 4, 5)), ((0, 3, 4), (0, 4, 2)), ((1, 1, 1), (1, 1, 1))]),
    ("tensordot-2", (((1, 2), (0, 1)), ((), ())), [((2, 3, 4), (3, 4, 5)), ((2, 0, 4), (0, 4, 1))]),
    ("lhs-axis0-rhs-axis1", (((0,), (1,)), ((), ())), [((3, 2), (4, 3)), ((3, 1), (0, 3))]),
    # a 3-d lhs contracting its middle axis is not np.matmul (regression: it was emitted so)
    ("lhs-middle-axis", (((1,), (0,)), ((), ())), [((2, 3, 4), (3, 5)), ((2, 3, 3), (3, 3))]),
    ("rhs-3d", (((1,), (0,)), ((), ())), [((2, 3), (3, 2, 2))]),
    ("batch-and-two-contracting", (((2, 3), (1, 2)), ((0,), (0,))), [((2, 3, 4, 5), (2, 4, 5, 6))]),
    ("outer", (((), ()), ((), ())), [((2,), (3,)), ((), ()), ((0,), (2,)), ((2, 1), (3,))]),
    ("batch-only", (((), ()), ((0,), (0,))), [((3, 2), (3, 4)), ((3,), (3,))]),
]


def _contraction_rows() -> list[Case]:
    return [Case("dot_general", _dot_fn(dn), _einsum_ref(dn), shapes, NUM + COMPLEX,
                 ("real", "real"),
                 linear_args=(0, 1), bilinear=True, name=name)
            for name, dn, shapes in _DOTS]


def _dot_fn(dn):
    return lambda a, b: lax.dot_general(a, b, dn)


# --- sources -----------------------------------------------------------------------------
def _const(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    if dt.kind == "b":
        return rng.random(shape) < 0.5
    if dt.kind in "iu":
        return rng.integers(-100, 100, shape).astype(dt)
    return rng.standard_normal(shape).astype(dt)


def _source_rows() -> list[Case]:
    rows = []
    for dt in ALL:
        c = _returns(_const((2, 3), dt))
        rows.append(Case("constant", c, c, NOARGS, (dt,), (), False, name=f"small-{dt}"))
    big = _const((5, 5), F64, 1)  # more elements than the printer inlines
    empty = _const((0, 3), F32, 2)
    one = _const((1,), I32, 3)
    c23 = _const((2, 3), F64, 4)
    rows += [
        Case("constant", lambda: big, lambda: big, NOARGS, (F64,), (), False, name="large"),
        Case("constant", lambda: empty, lambda: empty, NOARGS, (F32,), (), False, name="empty"),
        Case("constant", lambda: one, lambda: one, NOARGS, (I32,), (), False, name="size-1"),
        # a closed-over array used as an operand (bound in the generated module's namespace)
        Case("constant", lambda x: lax.mul(x, c23), lambda x: x * c23, [((2, 3),)], (F64,),
             ("real",), False, linear_args=(0,), name="operand"),
    ]
    iota_specs = [((5,), 0), ((2, 3), 1), ((2, 3), 0), ((0, 3), 0), ((2, 0), 1), ((1,), 0)]
    for dt in NUM:
        f, r = _iota_fns(iota_specs, dt)
        rows.append(Case("iota", f, r, NOARGS, (dt,), (), False, name=dt))
    # the key drawn from [-5, 5]: negative words check that only their low 32 bits count
    # (and a batch of keys, as vmap makes: one draw per key; an empty batch)
    rows.append(Case("random_bits", _random_bits_fn, _random_bits_ref,
                     [((2,),), ((3, 2),), ((0, 2),)], INT, ("real",), False))
    return rows


_RANDOM_SHAPES = [(2, 3), (5,), (1,), (0, 3), ()]  # odd counts use half a Threefry block


def _random_bits_fn(key):
    from tracegrad.prims.random import random_bits_p
    from tracegrad.tracer import bind
    return tuple(bind(random_bits_p, key, shape=s) for s in _RANDOM_SHAPES)


def _random_bits_ref(key):
    from tracegrad.prims.np_random import threefry_bits
    return tuple(threefry_bits(key, s) for s in _RANDOM_SHAPES)


def _returns(value):
    return lambda: value


def _iota_fns(specs, dtype):
    """Several iotas in one function (one graph with several outputs)."""
    return (lambda: tuple(lax.iota(s, k, dtype) for s, k in specs),
            lambda: tuple(np.indices(s, dtype=dtype)[k] for s, k in specs))


# --- convolution and sort order (prims/conv.py, prims/sort.py) ----------------------------
def _conv_ref(strides, padding, lhs_dil, rhs_dil, groups):
    """Shift-and-add over kernel offsets on an explicitly dilated, padded (or cropped) input:
    an independent statement of conv's meaning (no sliding windows, no tensordot)."""
    def ref(x, w):
        nd = x.ndim - 2
        xd = np.zeros(x.shape[:2] + tuple((s - 1) * d + 1 if s else 0
                                          for s, d in zip(x.shape[2:], lhs_dil)), x.dtype)
        xd[(slice(None),) * 2 + tuple(slice(None, None, d) for d in lhs_dil)] = x
        for i, (lo, hi) in enumerate(padding):
            ax = 2 + i
            xd = np.concatenate([np.zeros(xd.shape[:ax] + (max(lo, 0),) + xd.shape[ax + 1:],
                                          x.dtype), xd,
                                 np.zeros(xd.shape[:ax] + (max(hi, 0),) + xd.shape[ax + 1:],
                                          x.dtype)], axis=ax)
            xd = np.take(xd, range(-min(lo, 0), xd.shape[ax] + min(hi, 0)), axis=ax)
        k = w.shape[2:]
        outs = [max(0, (xd.shape[2 + i] - (k[i] - 1) * rhs_dil[i] - 1) // strides[i] + 1)
                for i in range(nd)]
        og, cg = w.shape[0] // groups, w.shape[1]
        out = np.zeros((x.shape[0], w.shape[0], *outs), x.dtype)
        for offs in np.ndindex(*k):
            sl = tuple(slice(o * d, o * d + s * (m - 1) + 1, s)
                       for o, d, s, m in zip(offs, rhs_dil, strides, outs))
            for g in range(groups):
                patch = xd[(slice(None), slice(g * cg, (g + 1) * cg)) + sl]
                wk = w[(slice(g * og, (g + 1) * og), slice(None)) + offs]
                out[:, g * og:(g + 1) * og] += np.einsum("nc...,oc->no...", patch, wk)
        return out
    return ref


_CONVS = [  # name, (strides, padding, lhs dilation, rhs dilation, groups), shapes
    ("2d", ((1, 1), ((0, 0), (0, 0)), (1, 1), (1, 1), 1),
     [((2, 3, 5, 4), (4, 3, 2, 2)), ((0, 3, 5, 4), (4, 3, 2, 2)), ((1, 1, 1, 1), (1, 1, 1, 1))]),
    ("2d-stride-pad-dilation-groups", ((2, 1), ((1, 2), (0, 1)), (1, 1), (2, 1), 2),
     [((2, 4, 7, 6), (6, 2, 3, 2))]),
    ("1d-input-dilation-crop", ((1,), ((2, -1),), (2,), (1,), 1), [((2, 3, 5), (2, 3, 2))]),
]


def _conv_rows() -> list[Case]:
    return [Case("conv", (lambda x, w, p=p: prim_conv(x, w, *p)), _conv_ref(*p), shapes, FLOAT,
                 ("real", "real"), linear_args=(0, 1), bilinear=True, name=name)
            for name, p, shapes in _CONVS]


def _argsort_rows() -> list[Case]:
    shapes = [((3, 4),), ((0, 3),), ((1, 5),)]
    return [Case("argsort", (lambda x, a=axis: prim_argsort(x, a)),
                 (lambda x, a=axis: np.argsort(x, axis=a, kind="stable")), shapes, ALL,
                 ("real",), differentiable=False, name=f"axis{axis}") for axis in (0, 1)]


from cases_control import control_rows  # noqa: E402

CASES: list[Case] = (control_rows(Case, FLOAT) + _elementwise_rows() + _structural_rows() + _reduction_rows()
                     + _contraction_rows() + _source_rows() + _conv_rows() + _argsort_rows())

from cases_linalg import linalg_rows  # noqa: E402  (the linalg primitives' rows)
CASES += linalg_rows(Case)
from cases_fft import fft_rows  # noqa: E402  (the fft primitive's rows)
CASES += fft_rows(Case)

CASES_BY_PRIM: dict[str, list[Case]] = {}
for _c in CASES:
    CASES_BY_PRIM.setdefault(_c.prim, []).append(_c)
