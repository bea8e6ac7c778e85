"""Random well-typed NumPy programs for the fuzz tests, and the checks run on each of them.

A program is straight-line Python source over ``np.*`` calls (``Program.source``), exec'd into
a plain function: NumPy eager runs it as the reference, tracegrad traces the very same function.
While drawing a program, every value carries its shape, dtype, an interval containing all its
elements and a bound on its rounding error (``Val``); ops are only drawn where they are defined
and well conditioned on that interval, and the error bound sets the tolerance of comparisons.
That is what lets random programs be compared tightly without false alarms:

* discontinuous ops (comparisons, floor, sign, casts to int, argmax) only see exactly computed
  values (``err == 0``), so NumPy and tracegrad can never fall on different sides of a jump;
* float results are compared with ``|got - ref| <= 8 * err + tiny`` (both sides are within
  ``err`` of the exact value, with a factor 4 of slack for libm differences);
* ints and bools, shapes and dtypes must match exactly.

The strategies are ordinary hypothesis strategies (``programs()``, ``batches()``), so failures
shrink to a short program whose source goes straight into ``tests/test_regressions.py``.
"""
from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import dataclass, field

import numpy as np
from hypothesis import strategies as st

EPS = {"float32": 2.0 ** -24, "float64": 2.0 ** -53}
ULPS = 8           # libm (glibc, libmvec, NumPy's SIMD loops) is within 4 ulp; twice that
MAX_BOUND = 1e4    # values stay in [-1e4, 1e4]: no overflow, and errors stay meaningful
# relative error (err / max(1, bound)) a value may carry and still be compared meaningfully
MAX_REL_ERR = {"float32": 1e-3, "float64": 1e-9}
INT_BOUND = 2 ** 20  # integer values stay far from int32 overflow (C's is undefined)
MAX_SIZE = 200_000   # elements per value: large enough for the C backend's threaded loops
# dims of "large" programs: vector remainders (33, 130), and loops past the C backend's
# PARALLEL_MIN_ELEMENTS (2**15) that run on several threads
LARGE_DIMS = (1, 2, 33, 130, 1000, 40_000)
FLOATS = ("float32", "float64")
INTS = ("int32", "int64")


@dataclass(frozen=True)
class Val:
    """What the generator knows of a value: every element lies in [lo, hi] and within err of
    the exactly computed result."""

    shape: tuple
    dtype: str
    lo: float
    hi: float
    err: float = 0.0
    weak: bool = False   # a Python scalar argument (promotes like a literal)

    @property
    def bound(self) -> float:
        return max(abs(self.lo), abs(self.hi))

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def kind(self) -> str:
        return "l" if self.dtype == "literal" else np.dtype(self.dtype).kind  # f i b, l: literal

    @property
    def exact(self) -> bool:
        return self.err == 0.0


@dataclass(frozen=True)
class ArgSpec:
    shape: tuple
    dtype: str
    lo: float
    hi: float
    python: bool = False  # passed as a Python scalar, not an array


@dataclass(frozen=True)
class Program:
    """A random program: argument specs, body lines (``vN = ...``) and the returned names."""

    args: tuple          # ArgSpec per parameter a0, a1, ...
    lines: tuple         # source lines of the body
    outputs: tuple       # names returned
    out_vals: tuple      # Val per output (tolerances)
    seed: int = 0
    fn: object = field(default=None, compare=False, repr=False)

    @property
    def source(self) -> str:
        params = ", ".join(f"a{i}" for i in range(len(self.args)))
        body = "".join(f"    {ln}\n" for ln in self.lines)
        ret = ", ".join(self.outputs) + ("," if len(self.outputs) == 1 else "")
        return f"def prog({params}):\n{body}    return ({ret})\n"

    def function(self):
        if self.fn is None:
            ns = {"np": np, **_loop_namespace()}
            exec(compile(self.source, f"<fuzz program {self.seed}>", "exec"), ns)  # noqa: S102
            object.__setattr__(self, "fn", ns["prog"])
        return self.fn

    def make_args(self, seed: int | None = None) -> list:
        rng = np.random.default_rng(self.seed if seed is None else seed)
        return [draw_array(a, rng) for a in self.args]

    def __str__(self) -> str:
        specs = ", ".join(f"a{i}: {'Python ' + a.dtype if a.python else a.dtype}"
                          f"{'' if a.python else list(a.shape)} in [{a.lo}, {a.hi}]"
                          for i, a in enumerate(self.args))
        return f"# seed {self.seed}; {specs}\n{self.source}"


def draw_array(a: ArgSpec, rng):
    if a.dtype == "bool":
        out = rng.random(a.shape) < 0.5
    elif a.dtype in INTS:
        out = rng.integers(int(a.lo), int(a.hi) + 1, a.shape).astype(a.dtype)
    else:
        out = rng.uniform(a.lo, a.hi, a.shape).astype(a.dtype)
    return out.item() if a.python else out


# ---------------------------------------------------------------------------------------------
# the generator


class Reject(Exception):
    """This op does not apply here (domain, shapes, conditioning); the generator draws another."""


def _fmt(x) -> str:
    return repr(float(x)) if isinstance(x, float) else repr(x)


class Gen:
    """State of one program being drawn: values (by name), argument specs, body lines."""

    def __init__(self, draw, float_dt: str, allow_zero_size: bool, grad_safe: bool,
                 large: bool = False, large_dims: tuple = LARGE_DIMS):
        self.draw = draw
        self.large = large
        self.large_dims = large_dims
        self.float_dt = float_dt
        self.allow_zero = allow_zero_size
        self.grad_safe = grad_safe  # float64 only: no float32 anywhere (finite differences)
        self.vals: dict[str, Val] = {}
        self.order: list[str] = []
        self.args: list[ArgSpec] = []
        self.lines: list[str] = []

    # --- values -------------------------------------------------------------------------------
    def new_arg(self, shape, dtype, lo, hi, scalar: bool = False) -> str:
        """A new parameter; ``scalar``: passed as a Python float/int/bool (weakly typed)."""
        if int(np.prod(shape, dtype=np.int64)) > MAX_SIZE:
            raise Reject("too large")
        name = f"a{len(self.args)}"
        if scalar:
            self.args.append(ArgSpec((), dtype, lo, hi, python=True))
            self.vals[name] = Val((), dtype, lo, hi, 0.0, weak=True)
            self.order.append(name)
            return name
        self.args.append(ArgSpec(tuple(shape), dtype, lo, hi))
        self.vals[name] = Val(tuple(shape), dtype, lo, hi, 0.0)
        self.order.append(name)
        return name

    def emit(self, code: str, val: Val) -> str:
        """Add ``vN = code`` after checking ``val`` against NumPy's own shape and dtype rules."""
        if val.size > MAX_SIZE:
            raise Reject("too large")
        if not (val.bound <= (INT_BOUND if val.kind == "i" else MAX_BOUND)):
            raise Reject("out of range")
        if val.kind == "f" and val.err > MAX_REL_ERR[val.dtype] * max(1.0, val.bound):
            raise Reject("too inaccurate to compare")
        if val.kind == "f" and self.grad_safe and val.dtype != "float64":
            raise Reject("float32 in a gradient program")
        shape, dtype = self.probe(code)
        if shape != val.shape or dtype != val.dtype:
            # the generator's rules must agree with NumPy's; a mismatch is a bug in this file
            raise AssertionError(f"generator predicted {val.dtype}{list(val.shape)} for {code} "
                                 f"but NumPy gives {dtype}{list(shape)}")
        if self.last_probe_python:
            # Python arithmetic on Python scalar arguments (a1 + a1) gives a Python scalar,
            # which promotes weakly and has no array methods
            val = dataclasses.replace(val, weak=True)
        name = f"v{len(self.lines)}"
        self.lines.append(f"{name} = {code}")
        self.vals[name] = val
        self.order.append(name)
        return name

    def probe(self, code: str):
        env = {"np": np, **_loop_namespace()}
        for n, v in self.vals.items():
            if n in code:
                mid = v.lo + 0.375 * (v.hi - v.lo)  # inside, and rarely 0 (1 / x of a scalar)
                env[n] = np.full(v.shape, round(mid) if v.kind == "i" else mid, v.dtype)
                if v.weak:
                    env[n] = env[n].item()
        try:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                out = eval(code, env)
        except (ValueError, IndexError, TypeError, AttributeError, ArithmeticError,
                MemoryError) as e:
            # NumPy refuses (or a Python scalar has no such method): not a valid program
            raise Reject(str(e)) from None
        self.last_probe_python = isinstance(out, (bool, int, float))
        out = np.asarray(out)
        return tuple(out.shape), str(out.dtype)

    @staticmethod
    def check_size(shape) -> tuple:
        """``shape``, or Reject before anything of that size is allocated (the probe would)."""
        if int(np.prod(shape, dtype=np.float64)) > MAX_SIZE:
            raise Reject("too large")
        return tuple(shape)

    def pick(self, pred=lambda v: True) -> str:
        """A value satisfying ``pred``, recent ones first (hypothesis shrinks toward the last)."""
        names = [n for n in reversed(self.order) if pred(self.vals[n])]
        if not names:
            raise Reject("no operand")
        return names[self.draw(st.integers(0, len(names) - 1))]

    # --- drawing helpers ---------------------------------------------------------------------
    def dim(self) -> int:
        if self.large and self.draw(st.booleans()):
            return self.draw(st.sampled_from(self.large_dims))
        if self.allow_zero and self.draw(st.integers(0, 7)) == 0:
            return 0
        return self.draw(st.integers(1, 5))

    def shape(self, max_rank=3) -> tuple:
        rank = self.draw(st.integers(0, max_rank))
        return tuple(self.dim() for _ in range(rank))

    def interval(self) -> tuple[float, float]:
        return self.draw(st.sampled_from([(-2.0, 2.0), (0.5, 2.0), (-1.0, 1.0), (-3.0, 0.5)]))

    def float_arg(self, shape) -> str:
        lo, hi = self.interval()
        return self.new_arg(shape, self.float_dt, lo, hi)

    def broadcast_partner_shape(self, shape) -> tuple:
        """A shape that broadcasts with ``shape`` (some dims 1, some leading dims dropped or
        added)."""
        out = list(shape)
        drop = self.draw(st.integers(0, len(out)))
        out = out[drop:]
        out = [1 if self.draw(st.booleans()) else d for d in out]
        if drop == 0 and self.draw(st.integers(0, 3)) == 0 and len(shape) < 3:
            out = [self.dim()] + out
        return tuple(out)

    def axis(self, ndim: int, negative_ok=True) -> int:
        ax = self.draw(st.integers(0, ndim - 1))
        return ax - ndim if negative_ok and self.draw(st.booleans()) else ax


def eps(dtype) -> float:
    return EPS.get(str(dtype), 0.0)


def result_dtype(*dts) -> str:
    return str(np.result_type(*[np.dtype(d) for d in dts]))


def float_result(dt: str) -> str:
    """The dtype NumPy computes a transcendental in for an operand of dtype ``dt``."""
    return dt if dt in FLOATS else "float64"


def rounding(val_dtype: str, bound: float, ulps: float = 1.0) -> float:
    return ulps * eps(val_dtype) * max(bound, 1e-300)


def _conv_err(v: Val, to: str) -> float:
    """Error introduced by converting ``v`` to ``to`` (a float32 rounding, or none)."""
    if v.kind == "l":  # a Python scalar literal: rounded once to the operation's dtype
        return abs(float(np.asarray(v.lo).astype(to)) - v.lo) if np.dtype(to).kind == "f" else 0
    if to == "float32" and v.dtype != "float32":
        return v.err + (eps("float32") * v.bound if (v.kind == "f" or v.bound > 2 ** 24) else 0)
    return v.err


# --- elementwise unary -------------------------------------------------------------------------
# name -> (code, domain(lo, hi), image(lo, hi), lipschitz(lo, hi), ulps); domain failures are
# rescued by feeding np.square(x) + 0.5 (positive) or np.tanh(x) * 0.9 (inside (-1, 1)).
def _mono(f):
    return lambda lo, hi: (min(f(lo), f(hi)), max(f(lo), f(hi)))


UNARY = {
    "neg": ("np.negative({})", None, lambda lo, hi: (-hi, -lo), lambda lo, hi: 1.0, 0),
    "abs": ("np.abs({})", None,
            lambda lo, hi: (0.0 if lo <= 0 <= hi else min(abs(lo), abs(hi)), max(-lo, hi)),
            lambda lo, hi: 1.0, 0),
    "square": ("np.square({})", None,
               lambda lo, hi: (0.0 if lo <= 0 <= hi else min(lo * lo, hi * hi),
                               max(lo * lo, hi * hi)),
               lambda lo, hi: 2 * max(abs(lo), abs(hi)), 1),
    "sin": ("np.sin({})", None, lambda lo, hi: (-1.0, 1.0), lambda lo, hi: 1.0, ULPS),
    "cos": ("np.cos({})", None, lambda lo, hi: (-1.0, 1.0), lambda lo, hi: 1.0, ULPS),
    "tanh": ("np.tanh({})", None, _mono(math.tanh), lambda lo, hi: 1.0, ULPS),
    "arctan": ("np.arctan({})", None, _mono(math.atan), lambda lo, hi: 1.0, ULPS),
    "arcsinh": ("np.arcsinh({})", None, _mono(math.asinh), lambda lo, hi: 1.0, ULPS),
    "exp": ("np.exp({})", lambda lo, hi: hi <= 6, _mono(math.exp),
            lambda lo, hi: math.exp(hi), ULPS),
    "expm1": ("np.expm1({})", lambda lo, hi: hi <= 6, _mono(math.expm1),
              lambda lo, hi: math.exp(hi), ULPS),
    "log": ("np.log({})", lambda lo, hi: lo >= 0.1, _mono(math.log), lambda lo, hi: 1 / lo, ULPS),
    "log1p": ("np.log1p({})", lambda lo, hi: lo >= -0.8, _mono(math.log1p),
              lambda lo, hi: 1 / (1 + lo), ULPS),
    "sqrt": ("np.sqrt({})", lambda lo, hi: lo >= 0.1, _mono(math.sqrt),
             lambda lo, hi: 0.5 / math.sqrt(lo), 1),
    "reciprocal": ("np.reciprocal({})", lambda lo, hi: lo >= 0.25 or hi <= -0.25,
                   _mono(lambda x: 1 / x), lambda lo, hi: 1 / min(abs(lo), abs(hi)) ** 2, 1),
    "sinh": ("np.sinh({})", lambda lo, hi: max(-lo, hi) <= 5, _mono(math.sinh),
             lambda lo, hi: math.cosh(max(-lo, hi)), ULPS),
    "cosh": ("np.cosh({})", lambda lo, hi: max(-lo, hi) <= 5,
             lambda lo, hi: (1.0 if lo <= 0 <= hi else min(math.cosh(lo), math.cosh(hi)),
                             max(math.cosh(lo), math.cosh(hi))),
             lambda lo, hi: math.sinh(max(-lo, hi)) + 1e-300, ULPS),
    "arcsin": ("np.arcsin({})", lambda lo, hi: max(-lo, hi) <= 0.9, _mono(math.asin),
               lambda lo, hi: 1 / math.sqrt(1 - max(-lo, hi) ** 2), ULPS),
    "arctanh": ("np.arctanh({})", lambda lo, hi: max(-lo, hi) <= 0.9, _mono(math.atanh),
                lambda lo, hi: 1 / (1 - max(-lo, hi) ** 2), ULPS),
    "tan": ("np.tan({})", lambda lo, hi: max(-lo, hi) <= 1.2, _mono(math.tan),
            lambda lo, hi: 1 + math.tan(max(-lo, hi)) ** 2, ULPS),
    "arccos": ("np.arccos({})", lambda lo, hi: max(-lo, hi) <= 0.9, _mono(math.acos),
               lambda lo, hi: 1 / math.sqrt(1 - max(-lo, hi) ** 2), ULPS),
    "arccosh": ("np.arccosh({} + 1.0)", lambda lo, hi: lo >= 0.1,
                _mono(lambda x: math.acosh(x + 1)),
                lambda lo, hi: 1 / math.sqrt((lo + 1) ** 2 - 1), ULPS + 1),
    "exp2": ("np.exp2({})", lambda lo, hi: hi <= 8, _mono(math.exp2),
             lambda lo, hi: math.log(2) * math.exp2(hi), ULPS),
    "log2": ("np.log2({})", lambda lo, hi: lo >= 0.1, _mono(math.log2),
             lambda lo, hi: 1 / (lo * math.log(2)), ULPS),
    "log10": ("np.log10({})", lambda lo, hi: lo >= 0.1, _mono(math.log10),
              lambda lo, hi: 1 / (lo * math.log(10)), ULPS),
    "cube": ("{} ** 3", None, _mono(lambda x: x ** 3),
             lambda lo, hi: 3 * max(lo * lo, hi * hi), 2),
    "sigmoid": ("1.0 / (1.0 + np.exp(-{}))", lambda lo, hi: lo >= -30,
                _mono(lambda x: 1 / (1 + math.exp(-x))), lambda lo, hi: 0.25, ULPS + 2),
    "pow_half": ("np.power({}, 1.5)", lambda lo, hi: lo >= 0.1, _mono(lambda x: x ** 1.5),
                 lambda lo, hi: 1.5 * math.sqrt(hi), ULPS),
    "clip": ("np.clip({}, -0.5, 0.75)", None,
             lambda lo, hi: (min(max(lo, -0.5), 0.75), max(min(hi, 0.75), -0.5)),
             lambda lo, hi: 1.0, 0),
}
UNARY_ORDER = ["tanh"] + sorted(set(UNARY) - {"tanh"})
# discontinuous: only on exactly computed operands; image is rounded outward
JUMPS = {
    "floor": ("np.floor({})", lambda lo, hi: (math.floor(lo), math.floor(hi))),
    "ceil": ("np.ceil({})", lambda lo, hi: (math.ceil(lo), math.ceil(hi))),
    "rint": ("np.rint({})", lambda lo, hi: (math.floor(lo), math.ceil(hi))),
    "sign": ("np.sign({})", lambda lo, hi: (-1.0, 1.0)),
}


def op_unary(g: Gen):
    name = g.draw(st.sampled_from(UNARY_ORDER))
    code, dom = UNARY[name][:2]
    x = g.pick(lambda v: v.kind in "fi")
    v = g.vals[x]
    if dom is not None and not dom(v.lo, v.hi):
        # rescue the domain: np.square(x) + 0.5 is positive, np.tanh(x) * 0.75 inside (-1, 1)
        if g.draw(st.booleans()):
            inner = f"(np.square({x}) + 0.5)"
            s = _apply_unary(v, UNARY["square"], g.probe(f"np.square({x})")[1])
            dt = g.probe(inner)[1]
            v = Val(v.shape, dt, s.lo + 0.5, s.hi + 0.5,
                    _conv_err(s, dt) + rounding(dt, s.hi + 1))
        else:
            inner = f"(np.tanh({x}) * 0.75)"
            t = _apply_unary(v, UNARY["tanh"], g.probe(f"np.tanh({x})")[1])
            v = Val(v.shape, t.dtype, t.lo * 0.75, t.hi * 0.75, t.err + rounding(t.dtype, 1))
        if not dom(v.lo, v.hi):
            raise Reject("domain")
        x = inner
    full = code.format(x)
    return g.emit(full, _apply_unary(v, UNARY[name], g.probe(full)[1]))


def _apply_unary(v: Val, spec, dt: str) -> Val:
    """The Val of a unary op applied to ``v``, computed in ``dt`` (as NumPy decided)."""
    _, _, image, lip, ulps = spec
    lo, hi = image(v.lo, v.hi)
    if np.dtype(dt).kind != "f":
        return Val(v.shape, dt, math.floor(lo), math.ceil(hi), 0.0)
    err = _conv_err(v, dt) * lip(v.lo, v.hi) + rounding(dt, max(abs(lo), abs(hi)), ulps)
    return Val(v.shape, dt, lo, hi, err)


def op_jump(g: Gen):
    name = g.draw(st.sampled_from(sorted(JUMPS)))
    code, image = JUMPS[name]
    kinds = "f" if name != "sign" else "fi"
    x = g.pick(lambda v: v.kind in kinds and v.exact)
    v = g.vals[x]
    lo, hi = image(v.lo, v.hi)
    return g.emit(code.format(x), Val(v.shape, v.dtype, float(lo), float(hi), 0.0))


# --- elementwise binary ------------------------------------------------------------------------
def _partner(g: Gen, x: str, kinds="fi", exact=False) -> str:
    """Second operand for a binary op with ``x``: an existing value that broadcasts with it, a
    new argument of a broadcasting shape, or a Python scalar literal."""
    v = g.vals[x]
    how = g.draw(st.sampled_from(["existing", "new", "literal", "self", "scalar-arg"]))
    if how == "self":
        return x
    if how == "scalar-arg":
        if v.kind == "f" or "i" not in kinds:
            return g.new_arg((), "float64", -2.0, 2.0, scalar=True)
        return g.new_arg((), "int64", -4, 4, scalar=True)
    if how == "literal":
        if v.kind == "f" or g.draw(st.booleans()):
            lit = g.draw(st.sampled_from([0.5, 2.0, -1.25, 3.0, 0.1]))
        else:
            lit = g.draw(st.sampled_from([2, -3, 1, 5]))
        return repr(lit)
    if how == "existing":
        def ok(w):
            if w.kind not in kinds or (exact and not w.exact):
                return False
            try:
                np.broadcast_shapes(v.shape, w.shape)
                return True
            except ValueError:
                return False
        return g.pick(ok)
    shape = g.broadcast_partner_shape(v.shape)
    kind = g.draw(st.sampled_from([k for k in kinds]))
    if kind == "f":
        return g.float_arg(shape)
    if kind == "b":
        return g.new_arg(shape, "bool", 0, 1)
    return g.new_arg(shape, g.draw(st.sampled_from(INTS)), -5, 5)


def _operand(g: Gen, ref: str) -> Val:
    """Val of a name or a literal (literals are weak: they take the other operand's dtype)."""
    if ref in g.vals:
        return g.vals[ref]
    val = float(ref)
    return Val((), "literal", val, val, 0.0)


BINARY = ["add", "sub", "mul", "div", "maximum", "minimum", "arctan2", "hypot", "logaddexp",
          "power"]


def op_binary(g: Gen):
    name = g.draw(st.sampled_from(BINARY))
    x = g.pick(lambda v: v.kind in "fi")
    y = _partner(g, x)
    if g.draw(st.booleans()):
        x, y = y, x
    if x not in g.vals and y not in g.vals:
        raise Reject("two literals")
    a, b = _operand(g, x), _operand(g, y)
    shape = g.check_size(np.broadcast_shapes(*(v.shape for v in (a, b))))
    code = {"add": "{} + {}", "sub": "{} - {}", "mul": "{} * {}", "div": "{} / {}",
            "maximum": "np.maximum({}, {})", "minimum": "np.minimum({}, {})",
            "arctan2": "np.arctan2({}, {})", "hypot": "np.hypot({}, {})",
            "logaddexp": "np.logaddexp({}, {})", "power": "np.power({}, {})"}[name].format(x, y)
    _, dt = g.probe(code)
    if name == "power" and np.dtype(dt).kind == "i":
        raise Reject("integer power")  # negative exponents raise in NumPy
    ea, eb = _conv_err(a, dt), _conv_err(b, dt)
    A, B = a.bound, b.bound
    if name in ("add", "sub"):
        lo, hi = (a.lo + b.lo, a.hi + b.hi) if name == "add" else (a.lo - b.hi, a.hi - b.lo)
        err = ea + eb + rounding(dt, max(abs(lo), abs(hi)))
    elif name == "mul":
        cs = [p * q for p in (a.lo, a.hi) for q in (b.lo, b.hi)]
        lo, hi = min(cs), max(cs)
        err = A * eb + B * ea + ea * eb + rounding(dt, max(abs(lo), abs(hi)))
    elif name == "div":
        if not (b.lo >= 0.25 or b.hi <= -0.25):
            raise Reject("denominator near 0")
        if np.dtype(dt).kind != "f":
            raise Reject("integer true division is float")
        m = min(abs(b.lo), abs(b.hi))
        cs = [p / q for p in (a.lo, a.hi) for q in (b.lo, b.hi)]
        lo, hi = min(cs), max(cs)
        err = ea / m + A * eb / (m * m) * 1.01 + rounding(dt, max(abs(lo), abs(hi)))
    elif name in ("maximum", "minimum"):
        f = max if name == "maximum" else min
        lo, hi = f(a.lo, b.lo), f(a.hi, b.hi)
        err = max(ea, eb)
    elif name == "arctan2":
        if not b.lo >= 0.25:
            raise Reject("arctan2 needs a positive second operand")
        lo, hi = -math.pi / 2, math.pi / 2
        err = (ea + eb) / b.lo + rounding(dt, 2, ULPS)
    elif name == "hypot":
        if not (a.lo >= 0.25 or b.lo >= 0.25):
            raise Reject("hypot away from (0, 0)")
        lo, hi = 0.0, A + B
        err = ea + eb + rounding(dt, hi, ULPS)
    elif name == "logaddexp":
        lo, hi = max(a.lo, b.lo), max(a.hi, b.hi) + math.log(2)
        err = ea + eb + rounding(dt, max(abs(lo), abs(hi)) + 1, ULPS)
    else:  # power: positive base, moderate exponent
        if not (a.lo >= 0.25 and a.hi <= 3 and B <= 3):
            raise Reject("power domain")
        cs = [p ** q for p in (a.lo, a.hi) for q in (b.lo, b.hi)]
        lo, hi = min(cs), max(cs)
        err = B * hi / a.lo * ea + max(abs(math.log(a.lo)), abs(math.log(a.hi))) * hi * eb \
            + rounding(dt, hi, ULPS)
    if np.dtype(dt).kind != "f":
        err = 0.0
        if name in ("arctan2", "hypot", "logaddexp"):
            raise AssertionError("float op with integer result")
        lo, hi = math.floor(lo), math.ceil(hi)
    return g.emit(code, Val(shape, dt, lo, hi, err))


def op_int_divmod(g: Gen):
    """floor_divide / remainder (NumPy's floored semantics): on ints, or on exact floats with a
    divisor away from 0 (they jump where x / y is an integer)."""
    name = g.draw(st.sampled_from(["floor_divide", "remainder"]))
    x = g.pick(lambda v: v.kind in "fi" and v.exact)
    y = _partner(g, x, exact=True)
    a, b = g.vals[x], _operand(g, y)
    g.check_size(np.broadcast_shapes(a.shape, b.shape))
    code = f"np.{name}({x}, {y})"
    _, dt = g.probe(code)
    if np.dtype(dt).kind == "f" and not min(abs(b.lo), abs(b.hi)) >= 0.5 or \
            np.dtype(dt).kind == "f" and b.lo < 0 < b.hi:
        raise Reject("float divisor near 0")
    if np.dtype(dt).kind == "f" and (not a.exact or not b.exact):
        raise Reject("inexact")
    if name == "remainder":
        lo, hi = -b.bound, b.bound
    else:
        m = 1.0 if np.dtype(dt).kind == "i" else min(abs(b.lo), abs(b.hi))
        lo, hi = -a.bound / m - 1, a.bound / m + 1
    if np.dtype(dt).kind == "i":
        lo, hi = math.floor(lo), math.ceil(hi)
    shape = np.broadcast_shapes(a.shape, b.shape)
    return g.emit(code, Val(shape, dt, lo, hi, 0.0))


def op_compare(g: Gen):
    name = g.draw(st.sampled_from(["<", "<=", ">", ">=", "==", "!="]))
    x = g.pick(lambda v: v.exact)
    y = _partner(g, x, kinds="fib", exact=True)
    a, b = g.vals[x], _operand(g, y)
    if (a.kind == "b") != (b.kind == "b") and b.dtype != "literal":
        raise Reject("bool against number")
    if a.kind == "b" and b.dtype == "literal":
        raise Reject("bool against literal")
    shape = g.check_size(np.broadcast_shapes(a.shape, b.shape))
    return g.emit(f"({x} {name} {y})", Val(shape, "bool", 0, 1, 0.0))


def op_logical(g: Gen):
    name = g.draw(st.sampled_from(["logical_and", "logical_or", "logical_xor", "logical_not"]))
    x = g.pick(lambda v: v.kind == "b")
    if name == "logical_not":
        return g.emit(f"np.logical_not({x})", g.vals[x])
    y = _partner(g, x, kinds="b")
    if y not in g.vals:
        raise Reject("literal")
    shape = g.check_size(np.broadcast_shapes(g.vals[x].shape, g.vals[y].shape))
    return g.emit(f"np.{name}({x}, {y})", Val(shape, "bool", 0, 1, 0.0))


def op_where(g: Gen):
    c = g.pick(lambda v: v.kind == "b")
    x = g.pick(lambda v: v.kind in "fi")
    y = _partner(g, x)
    a, b, cv = g.vals[x], _operand(g, y), g.vals[c]
    try:
        shape = g.check_size(np.broadcast_shapes(cv.shape, a.shape, b.shape))
    except ValueError:
        raise Reject("shapes") from None
    code = f"np.where({c}, {x}, {y})"
    _, dt = g.probe(code)
    err = max(_conv_err(a, dt), _conv_err(b, dt) if b.dtype != "literal" else 0.0)
    if y not in g.vals and np.dtype(dt).kind == "f" and dt == "float32":
        err = max(err, rounding(dt, b.bound))
    lo, hi = min(a.lo, b.lo), max(a.hi, b.hi)
    return g.emit(code, Val(shape, dt, lo, hi, err if np.dtype(dt).kind == "f" else 0.0))


def op_astype(g: Gen):
    x = g.pick()
    v = g.vals[x]
    targets = ["float64", "int32", "int64", "bool"] + ([] if g.grad_safe else ["float32"])
    to = g.draw(st.sampled_from([t for t in targets if t != v.dtype]))
    kind = np.dtype(to).kind
    if v.kind == "f" and kind in "ib":
        if not v.exact:
            raise Reject("cast of an inexact float to int jumps")
        lo, hi = (math.trunc(v.lo), math.trunc(v.hi)) if kind == "i" else (0, 1)
        return g.emit(f"{x}.astype(np.{to})", Val(v.shape, to, lo, hi, 0.0))
    if kind == "b":
        return g.emit(f"{x}.astype(np.{to})", Val(v.shape, to, 0, 1, 0.0))
    err = _conv_err(v, to) if kind == "f" else 0.0
    if kind == "f" and to == "float32" and v.kind == "f":
        err = v.err + rounding("float32", v.bound)
    return g.emit(f"{x}.astype(np.{to})", Val(v.shape, to, v.lo, v.hi, err))


# --- reductions --------------------------------------------------------------------------------
def _axes(g: Gen, v: Val, allow_tuple=True):
    """(code fragment, reduced axes, reduced count)."""
    how = g.draw(st.sampled_from(["none", "int", "tuple"] if allow_tuple else ["none", "int"]))
    if v.ndim == 0 or how == "none":
        return "", tuple(range(v.ndim)), v.size
    if how == "int" or v.ndim == 1:
        ax = g.axis(v.ndim)
        return f", axis={ax}", (ax % v.ndim,), v.shape[ax]
    k = g.draw(st.integers(1, v.ndim))
    axes = tuple(g.draw(st.permutations(range(v.ndim)))[:k])
    axes_code = tuple(a - v.ndim if g.draw(st.booleans()) else a for a in axes)
    n = int(np.prod([v.shape[a] for a in axes]))
    return f", axis={axes_code!r}", axes, n


def _reduced_shape(v: Val, axes, keepdims: bool) -> tuple:
    return tuple((1 if i in axes else d) for i, d in enumerate(v.shape) if keepdims or i not in axes)


def op_reduce(g: Gen):
    name = g.draw(st.sampled_from(["sum", "mean", "max", "min", "prod", "var"]))
    x = g.pick(lambda v: v.kind in "fib" if name in ("sum", "max", "min") else v.kind in "fi")
    v = g.vals[x]
    frag, axes, n = _axes(g, v)
    keep = g.draw(st.booleans())
    shape = _reduced_shape(v, axes, keep)
    kd = ", keepdims=True" if keep else ""
    code = f"np.{name}({x}{frag}{kd})"
    _, dt = g.probe(code)
    out_size = int(np.prod(shape, dtype=np.int64))
    if name in ("max", "min") and n == 0 and out_size:
        raise Reject("max of nothing")
    if name in ("mean", "var") and n == 0:
        raise Reject("mean of nothing is nan")  # NaN handling has its own tests
    ev = _conv_err(v, dt)
    if name == "sum":
        lo, hi = (v.lo * n, v.hi * n) if v.kind != "b" else (0, n)
        err = n * ev + rounding(dt, n * n * v.bound)
    elif name == "mean":
        lo, hi = v.lo, v.hi
        err = ev + rounding(dt, n * v.bound + v.bound)
    elif name in ("max", "min"):
        lo, hi, err = v.lo, v.hi, ev
    elif name == "prod":
        if n > 6 or v.bound > 2.5:
            raise Reject("prod range")
        hi = v.bound ** n
        lo = -hi if v.lo < 0 else v.lo ** n
        err = n * max(v.bound, 1) ** max(n - 1, 0) * ev + rounding(dt, hi * n + 1e-300)
    else:  # var
        hi = (v.hi - v.lo) ** 2 / 4 * 1.0001
        lo = 0.0
        err = 4 * v.bound * ev + rounding(dt, 4 * n * v.bound ** 2 + v.bound)
    if np.dtype(dt).kind != "f":
        lo, hi, err = math.floor(lo), math.ceil(hi), 0.0
    if v.kind == "b" and name in ("max", "min"):
        lo, hi = 0, 1
    return g.emit(code, Val(shape, dt, lo, hi, err))


def op_arg_reduce(g: Gen):
    name = g.draw(st.sampled_from(["argmax", "argmin"]))
    x = g.pick(lambda v: v.exact and v.size > 0)
    v = g.vals[x]
    if v.ndim and g.draw(st.booleans()):
        ax = g.axis(v.ndim)
        if v.shape[ax] == 0:
            raise Reject("empty axis")
        shape = tuple(d for i, d in enumerate(v.shape) if i != ax % v.ndim)
        return g.emit(f"np.{name}({x}, axis={ax})", Val(shape, "int64", 0, v.shape[ax] - 1))
    return g.emit(f"np.{name}({x})", Val((), "int64", 0, max(v.size - 1, 0)))


def op_any_all(g: Gen):
    name = g.draw(st.sampled_from(["any", "all"]))
    x = g.pick(lambda v: v.kind == "b")
    v = g.vals[x]
    frag, axes, _ = _axes(g, v)
    return g.emit(f"np.{name}({x}{frag})", Val(_reduced_shape(v, axes, False), "bool", 0, 1))


def op_cumsum(g: Gen):
    x = g.pick(lambda v: v.kind in "fi" and v.ndim > 0)
    v = g.vals[x]
    ax = g.axis(v.ndim)
    n = v.shape[ax]
    code = f"np.cumsum({x}, axis={ax})"
    _, dt = g.probe(code)
    lo, hi = min(v.lo * n, v.lo), max(v.hi * n, v.hi)
    err = n * _conv_err(v, dt) + rounding(dt, n * n * v.bound)
    return g.emit(code, Val(v.shape, dt, lo, hi, err if np.dtype(dt).kind == "f" else 0.0))


# --- structure ---------------------------------------------------------------------------------
def _factor_shape(g: Gen, size: int) -> tuple:
    if size == 0:
        return g.draw(st.sampled_from([(0,), (0, 3), (2, 0), (0, 1, 2)]))
    dims, rest = [], size
    for _ in range(g.draw(st.integers(0, 3))):
        divisors = [d for d in range(1, rest + 1) if rest % d == 0]
        d = g.draw(st.sampled_from(divisors))
        dims.append(d)
        rest //= d
    if rest != 1 or not dims:
        dims.append(rest)
    return tuple(dims)


def op_reshape(g: Gen):
    x = g.pick()
    v = g.vals[x]
    new = _factor_shape(g, v.size)
    shown = list(new)
    if v.size and new and g.draw(st.booleans()):
        shown[g.draw(st.integers(0, len(new) - 1))] = -1
    style = g.draw(st.booleans())
    code = f"{x}.reshape({tuple(shown)!r})" if style else f"np.reshape({x}, {tuple(shown)!r})"
    return g.emit(code, Val(new, v.dtype, v.lo, v.hi, v.err))


def op_transpose(g: Gen):
    x = g.pick(lambda v: v.ndim >= 2)
    v = g.vals[x]
    how = g.draw(st.sampled_from(["T", "perm", "swap", "move"]))
    if how == "T":
        return g.emit(f"{x}.T", Val(v.shape[::-1], v.dtype, v.lo, v.hi, v.err))
    if how == "perm":
        perm = tuple(g.draw(st.permutations(range(v.ndim))))
        return g.emit(f"np.transpose({x}, {perm!r})",
                      Val(tuple(v.shape[p] for p in perm), v.dtype, v.lo, v.hi, v.err))
    a, b = g.axis(v.ndim), g.axis(v.ndim)
    s = list(v.shape)
    if how == "swap":
        s[a], s[b] = s[b], s[a]
        return g.emit(f"np.swapaxes({x}, {a}, {b})", Val(tuple(s), v.dtype, v.lo, v.hi, v.err))
    d = s.pop(a % v.ndim)
    s.insert(b % v.ndim, d)
    return g.emit(f"np.moveaxis({x}, {a}, {b})", Val(tuple(s), v.dtype, v.lo, v.hi, v.err))


def op_expand_squeeze(g: Gen):
    x = g.pick()
    v = g.vals[x]
    ones = [i for i, d in enumerate(v.shape) if d == 1]
    if ones and g.draw(st.booleans()):
        ax = g.draw(st.sampled_from(ones))
        shape = tuple(d for i, d in enumerate(v.shape) if i != ax)
        return g.emit(f"np.squeeze({x}, axis={ax})", Val(shape, v.dtype, v.lo, v.hi, v.err))
    if v.ndim >= 3:
        raise Reject("rank")
    ax = g.draw(st.integers(0, v.ndim))
    s = list(v.shape)
    s.insert(ax, 1)
    if g.draw(st.booleans()):
        idx = ", ".join([":"] * ax + ["None"])
        return g.emit(f"{x}[{idx}]", Val(tuple(s), v.dtype, v.lo, v.hi, v.err))
    return g.emit(f"np.expand_dims({x}, {ax})", Val(tuple(s), v.dtype, v.lo, v.hi, v.err))


def op_broadcast_to(g: Gen):
    x = g.pick(lambda v: v.ndim <= 2)
    v = g.vals[x]
    s = [g.dim() if d == 1 and g.draw(st.booleans()) else d for d in v.shape]
    if g.draw(st.booleans()):
        s = [g.dim()] + s
    g.check_size(s)
    return g.emit(f"np.broadcast_to({x}, {tuple(s)!r})", Val(tuple(s), v.dtype, v.lo, v.hi,
                                                             v.err))


def op_flip(g: Gen):
    x = g.pick(lambda v: v.ndim >= 1)
    v = g.vals[x]
    if g.draw(st.booleans()):
        return g.emit(f"np.flip({x})", v)
    return g.emit(f"np.flip({x}, axis={g.axis(v.ndim)})", v)


def _slice_for(g: Gen, n: int) -> tuple[str, int]:
    """A slice of an axis of length n as code, and the length it selects."""
    kind = g.draw(st.sampled_from(["full", "range", "step", "neg"]))
    if kind == "full":
        return ":", n
    step = {"range": 1, "step": g.draw(st.sampled_from([2, 3])),
            "neg": g.draw(st.sampled_from([-1, -2]))}[kind]
    start = g.draw(st.one_of(st.none(), st.integers(-n - 1, n + 1)))
    stop = g.draw(st.one_of(st.none(), st.integers(-n - 1, n + 1)))
    sl = slice(start, stop, step)
    length = len(range(n)[sl])
    text = f"{'' if start is None else start}:{'' if stop is None else stop}" + \
        (f":{step}" if step != 1 else "")
    return text, length


def op_basic_index(g: Gen):
    x = g.pick(lambda v: v.ndim >= 1)
    v = g.vals[x]
    parts, shape = [], []
    axes = list(v.shape)
    if g.draw(st.integers(0, 3)) == 0 and v.ndim >= 2:
        # a leading Ellipsis: index the last axis only
        n = axes[-1]
        if n and g.draw(st.booleans()):
            i = g.draw(st.integers(-n, n - 1))
            code, shape = f"{x}[..., {i}]", axes[:-1]
        else:
            text, length = _slice_for(g, n)
            code, shape = f"{x}[..., {text}]", axes[:-1] + [length]
        return g.emit(code, Val(tuple(shape), v.dtype, v.lo, v.hi, v.err))
    k = g.draw(st.integers(1, v.ndim))
    for n in axes[:k]:
        choice = g.draw(st.sampled_from(["int", "slice", "slice", "none"]))
        if choice == "none":
            parts.append("None")
            shape.append(1)
            choice = "slice"
        if choice == "int" and n:
            parts.append(str(g.draw(st.integers(-n, n - 1))))
        else:
            text, length = _slice_for(g, n)
            parts.append(text)
            shape.append(length)
    shape += axes[k:]
    return g.emit(f"{x}[{', '.join(parts)}]", Val(tuple(shape), v.dtype, v.lo, v.hi, v.err))


def _index_array(g: Gen, n: int, shape) -> str:
    """Integer indices into an axis of length n: an int argument or a constant array."""
    dt = g.draw(st.sampled_from(INTS))
    if g.draw(st.booleans()):
        return g.new_arg(shape, dt, -n, n - 1)
    rng = np.random.default_rng(g.draw(st.integers(0, 2 ** 16)))
    vals = rng.integers(-n, n, shape)
    return f"np.array({vals.tolist()!r}, dtype=np.{dt})"


def op_gather(g: Gen):
    x = g.pick(lambda v: v.ndim >= 1 and all(v.shape))
    v = g.vals[x]
    how = g.draw(st.sampled_from(["axis0", "axis1", "take", "two", "along"]))
    ishape = g.draw(st.sampled_from([(3,), (2, 2), (1,), (4,)]))
    if how == "axis0":
        idx = _index_array(g, v.shape[0], ishape)
        return g.emit(f"{x}[{idx}]", Val(ishape + v.shape[1:], v.dtype, v.lo, v.hi, v.err))
    if how == "axis1" and v.ndim >= 2:
        idx = _index_array(g, v.shape[1], ishape)
        shape = v.shape[:1] + ishape + v.shape[2:]
        return g.emit(f"{x}[:, {idx}]", Val(shape, v.dtype, v.lo, v.hi, v.err))
    if how == "take":
        ax = g.axis(v.ndim)
        idx = _index_array(g, v.shape[ax], ishape)
        a = ax % v.ndim
        shape = v.shape[:a] + ishape + v.shape[a + 1:]
        return g.emit(f"np.take({x}, {idx}, axis={ax})", Val(shape, v.dtype, v.lo, v.hi, v.err))
    if how == "two" and v.ndim >= 2:
        i0 = _index_array(g, v.shape[0], ishape)
        i1 = _index_array(g, v.shape[1], ishape[-1:])
        return g.emit(f"{x}[{i0}, {i1}]", Val(ishape + v.shape[2:], v.dtype, v.lo, v.hi, v.err))
    if how == "along":
        ax = g.axis(v.ndim)
        a = ax % v.ndim
        ishape = tuple(d if i != a else g.draw(st.integers(1, 4)) for i, d in enumerate(v.shape))
        idx = _index_array(g, v.shape[a], ishape)
        return g.emit(f"np.take_along_axis({x}, {idx}, axis={ax})",
                      Val(ishape, v.dtype, v.lo, v.hi, v.err))
    raise Reject("rank")


def _join_dtype_val(g, parts, dt, shape) -> Val:
    vals = [g.vals[p] for p in parts]
    return Val(shape, dt, min(v.lo for v in vals), max(v.hi for v in vals),
               max(_conv_err(v, dt) for v in vals) if np.dtype(dt).kind == "f" else 0.0)


def op_concat(g: Gen):
    x = g.pick(lambda v: v.ndim >= 1)
    v = g.vals[x]
    how = g.draw(st.sampled_from(["concat", "stack"]))
    ax = g.axis(v.ndim)
    a = ax % v.ndim
    if how == "stack":
        ax = g.draw(st.integers(-v.ndim - 1, v.ndim))
        y = g.pick(lambda w: w.shape == v.shape and w.kind in ("fi" if v.kind != "b" else "b"))
        if y == x and g.draw(st.booleans()):
            y = g.float_arg(v.shape) if v.kind == "f" else y
        code = f"np.stack([{x}, {y}], axis={ax})"
        s = list(v.shape)
        s.insert(ax % (v.ndim + 1), 2)
        _, dt = g.probe(code)
        return g.emit(code, _join_dtype_val(g, [x, y], dt, tuple(s)))
    shape_y = tuple(g.dim() if i == a else d for i, d in enumerate(v.shape))
    y = g.pick(lambda w: w.ndim == v.ndim and all(
        p == q for i, (p, q) in enumerate(zip(w.shape, v.shape)) if i != a)
        and (w.kind == "b") == (v.kind == "b")) if g.draw(st.booleans()) else (
        g.float_arg(shape_y) if v.kind == "f" else
        g.new_arg(shape_y, v.dtype, 0 if v.kind == "b" else -5, 1 if v.kind == "b" else 5))
    order = [x, y] if g.draw(st.booleans()) else [y, x]
    code = f"np.concatenate([{', '.join(order)}], axis={ax})"
    s = list(v.shape)
    s[a] = v.shape[a] + g.vals[y].shape[a]
    _, dt = g.probe(code)
    return g.emit(code, _join_dtype_val(g, [x, y], dt, tuple(s)))


def op_pad(g: Gen):
    x = g.pick(lambda v: v.ndim >= 1 and v.kind != "b")
    v = g.vals[x]
    widths = tuple((g.draw(st.integers(0, 2)), g.draw(st.integers(0, 2))) for _ in v.shape)
    c = g.draw(st.sampled_from([0, 1, -2]))
    shape = tuple(d + lo + hi for d, (lo, hi) in zip(v.shape, widths))
    return g.emit(f"np.pad({x}, {widths!r}, constant_values={c})",
                  Val(shape, v.dtype, min(v.lo, c), max(v.hi, c), v.err))


def op_tile_repeat(g: Gen):
    x = g.pick(lambda v: 1 <= v.ndim <= 2)
    v = g.vals[x]
    k = g.draw(st.integers(1, 3))
    if g.draw(st.booleans()):
        ax = g.axis(v.ndim)
        s = list(v.shape)
        s[ax] *= k
        return g.emit(f"np.repeat({x}, {k}, axis={ax})", Val(tuple(s), v.dtype, v.lo, v.hi,
                                                             v.err))
    s = list(v.shape)
    s[-1] *= k
    return g.emit(f"np.tile({x}, {k})", Val(tuple(s), v.dtype, v.lo, v.hi, v.err))


def op_roll_diff(g: Gen):
    x = g.pick(lambda v: v.ndim >= 1 and v.kind in "fi")
    v = g.vals[x]
    ax = g.axis(v.ndim)
    if g.draw(st.booleans()):
        shift = g.draw(st.integers(-3, 3))
        return g.emit(f"np.roll({x}, {shift}, axis={ax})", v)
    if v.shape[ax] == 0:
        raise Reject("empty")
    s = list(v.shape)
    s[ax] -= 1
    err = 2 * v.err + rounding(v.dtype, 2 * v.bound) if v.kind == "f" else 0.0
    return g.emit(f"np.diff({x}, axis={ax})", Val(tuple(s), v.dtype, v.lo - v.hi, v.hi - v.lo,
                                                 err))


# --- contractions ------------------------------------------------------------------------------
def _contract_val(dt, shape, k, a: Val, b: Val) -> Val:
    ea, eb = _conv_err(a, dt), _conv_err(b, dt)
    hi = k * a.bound * b.bound
    if np.dtype(dt).kind != "f":
        return Val(shape, dt, -math.ceil(hi), math.ceil(hi), 0.0)
    err = k * (a.bound * eb + b.bound * ea + ea * eb) + rounding(dt, k * hi + 1e-300)
    return Val(shape, dt, -hi, hi, err)


def _other(g: Gen, shape, like: Val) -> str:
    """An operand of exactly ``shape``: an existing value of it, or a new argument."""
    want = tuple(shape)
    cands = [n for n in g.order if g.vals[n].shape == want and g.vals[n].kind in "fi"]
    if cands and g.draw(st.booleans()):
        return g.draw(st.sampled_from(cands))
    if like.kind == "i" and g.draw(st.booleans()):
        return g.new_arg(want, like.dtype, -3, 3)
    return g.float_arg(want)


def op_matmul(g: Gen):
    x = g.pick(lambda v: v.ndim >= 1 and v.kind in "fi")
    v = g.vals[x]
    k = v.shape[-1]
    m = g.dim()
    form = g.draw(st.sampled_from(["vec", "mat", "batched"]))
    if form == "vec":
        ys = (k,)
    elif form == "mat":
        ys = (k, m)
    else:
        ys = (g.dim() if v.ndim < 3 else 1, k, m) if v.ndim >= 2 else (2, k, m)
    y = _other(g, ys, v)
    swap = v.ndim >= 2 and form == "vec" and g.draw(st.booleans())
    style = g.draw(st.sampled_from(["@", "np.matmul", "np.dot"])) if (
        v.ndim <= 2 and len(ys) <= 2) else "@"
    a, b = (y, x) if swap else (x, y)
    if swap and v.shape[-2] != k:
        # (k,) @ (..., k, n): a vector on the left contracts the second-to-last axis
        raise Reject("shapes")
    sa, sb = g.vals[a].shape, g.vals[b].shape
    try:
        batch = np.broadcast_shapes(sa[:-2], sb[:-2])
    except ValueError:
        raise Reject("shapes") from None
    g.check_size(batch + (sa[-2] if len(sa) >= 2 else 1, sb[-1] if len(sb) >= 2 else 1))
    code = f"{a} @ {b}" if style == "@" else f"{style}({a}, {b})"
    shape, dt = g.probe(code)
    return g.emit(code, _contract_val(dt, shape, k, v, g.vals[y]))


def op_einsum(g: Gen):
    x = g.pick(lambda v: v.kind in "fi" and v.ndim >= 1)
    v = g.vals[x]
    letters = "ijklmn"
    xs = letters[:v.ndim]
    dims = dict(zip(xs, v.shape))
    shared = [c for c in xs if g.draw(st.booleans())]
    new = ["p", "q"][:g.draw(st.integers(0, 2))]
    for c in new:
        dims[c] = g.dim()
    ys = "".join(g.draw(st.permutations(shared + new))) if shared + new else ""
    y = _other(g, tuple(dims[c] for c in ys), v)
    pool = sorted(set(xs) | set(ys))
    out = "".join(c for c in g.draw(st.permutations(pool)) if g.draw(st.booleans()))
    k = int(np.prod([dims[c] for c in pool if c not in out]))
    g.check_size([dims[c] for c in out])
    code = f"np.einsum('{xs},{ys}->{out}', {x}, {y})"
    shape, dt = g.probe(code)
    return g.emit(code, _contract_val(dt, shape, max(k, 1), v, g.vals[y]))


def op_tensordot(g: Gen):
    x = g.pick(lambda v: v.kind in "fi" and v.ndim >= 1)
    v = g.vals[x]
    n = g.draw(st.integers(0, min(2, v.ndim)))
    ys = v.shape[v.ndim - n:] + tuple(g.dim() for _ in range(g.draw(st.integers(0, 1))))
    y = _other(g, ys, v)
    how = g.draw(st.sampled_from(["tensordot", "outer"]))
    if how == "outer":
        g.check_size((v.size, int(np.prod(ys))))
        code = f"np.outer({x}, {y})"
        k = 1
    else:
        g.check_size(v.shape[:v.ndim - n] + ys[n:])
        code = f"np.tensordot({x}, {y}, axes={n})"
        k = int(np.prod(v.shape[v.ndim - n:]))
    shape, dt = g.probe(code)
    return g.emit(code, _contract_val(dt, shape, max(k, 1), v, g.vals[y]))


OPS = {
    "unary": (op_unary, 6), "binary": (op_binary, 6), "reduce": (op_reduce, 3),
    "index": (op_basic_index, 3), "gather": (op_gather, 2), "matmul": (op_matmul, 2),
    "einsum": (op_einsum, 1), "tensordot": (op_tensordot, 1), "reshape": (op_reshape, 2),
    "transpose": (op_transpose, 2), "expand": (op_expand_squeeze, 1),
    "broadcast_to": (op_broadcast_to, 1), "flip": (op_flip, 1), "concat": (op_concat, 2),
    "pad": (op_pad, 1), "tile": (op_tile_repeat, 1), "roll_diff": (op_roll_diff, 1),
    "cumsum": (op_cumsum, 1), "where": (op_where, 2), "compare": (op_compare, 2),
    "logical": (op_logical, 1), "astype": (op_astype, 2), "jump": (op_jump, 1),
    "divmod": (op_int_divmod, 1), "argreduce": (op_arg_reduce, 1), "anyall": (op_any_all, 1),
    "stable_pattern": (lambda g: _op_stable_pattern(g), 1),
    "loop": (lambda g: _op_loop(g), 1),
}
_OP_CHOICES = [name for name, (_, w) in OPS.items() for _ in range(w)]


def _op_loop(g: Gen):
    # scan / while_loop / cond lines (tests/fuzz_loops.py, which builds on this module)
    from fuzz_loops import op_loop
    return op_loop(g)


def _loop_namespace() -> dict:
    """``scan``, ``while_loop``, ``cond`` for program sources: tracegrad's on traced values, a
    plain Python loop on arrays (tests/fuzz_loops.py)."""
    from fuzz_loops import LOOP_NAMESPACE
    return LOOP_NAMESPACE


def _op_stable_pattern(g: Gen):
    # softmax / logsumexp / log1p ... shapes, right and near-miss (tests/fuzz_patterns.py),
    # imported here when first drawn: that module builds on this one
    from fuzz_patterns import op_stable_pattern
    return op_stable_pattern(g)


@st.composite
def programs(draw, max_steps: int = 8, grad_safe: bool | None = None,
             allow_zero_size: bool | None = None, dims: tuple | None = None):
    """A random program. ``grad_safe``: float64 only (for finite differences); by default
    drawn. Integer, bool and float32 values appear unless ``grad_safe``. ``dims``: the sizes
    a "large" program draws its dimensions from (every program is large then; by default
    ``LARGE_DIMS`` for one program in eight)."""
    g = start_program(draw, grad_safe, allow_zero_size, dims)
    n = draw(st.integers(1, max_steps))
    tries = 0
    while len(g.lines) < n and tries < 4 * n:
        tries += 1
        op = draw(st.sampled_from(_OP_CHOICES))
        try:
            OPS[op][0](g)
        except Reject:
            pass
    return finish_program(draw, g)


def start_program(draw, grad_safe: bool | None = None,
                  allow_zero_size: bool | None = None, dims: tuple | None = None) -> Gen:
    """A ``Gen`` with its dtype and size regime drawn and the first argument(s) made."""
    if grad_safe is None:
        grad_safe = draw(st.booleans())
    float_dt = "float64" if grad_safe else draw(st.sampled_from(FLOATS))
    if allow_zero_size is None:
        allow_zero_size = draw(st.integers(0, 9)) == 0
    large = dims is not None or draw(st.integers(0, 7)) == 0
    g = Gen(draw, float_dt, allow_zero_size, grad_safe, large, dims or LARGE_DIMS)
    first = g.shape()
    while int(np.prod(first, dtype=np.int64)) > MAX_SIZE:
        first = first[1:]
    try:
        if not grad_safe and draw(st.integers(0, 4)) == 0:
            g.new_arg(first, draw(st.sampled_from(INTS)), -6, 6)
            g.float_arg(g.broadcast_partner_shape(first))
        else:
            g.float_arg(first)
    except Reject:
        from hypothesis import reject
        reject()  # no valid first arguments for this draw (e.g. a too-large partner shape)
    return g


def finish_program(draw, g: Gen) -> Program:
    """The drawn body as a ``Program``: outputs chosen, seed drawn."""
    if not g.lines:
        g.emit("a0 * 2", Val(g.vals["a0"].shape, g.vals["a0"].dtype,
                              2 * g.vals["a0"].lo, 2 * g.vals["a0"].hi, 0.0))
    # outputs: the last value, and perhaps a few earlier ones (the rest is dead code for dce)
    outs = [g.order[-1]]
    body = [f"v{i}" for i in range(len(g.lines))]
    for name in body[:-1]:
        if draw(st.integers(0, 3)) == 0:
            outs.append(name)
    # an argument returned as it is, or a value returned twice: outputs must still be fresh
    # arrays that share memory with no input and no other output
    if draw(st.integers(0, 7)) == 0:
        outs.append(draw(st.sampled_from([f"a{i}" for i in range(len(g.args))] + outs)))
    seed = draw(st.integers(0, 2 ** 31 - 1))
    return Program(tuple(g.args), tuple(g.lines), tuple(outs),
                   tuple(g.vals[o] for o in outs), seed)
