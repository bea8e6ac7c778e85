"""Sympy derivation of elementwise partial derivatives (the source of prims/derivatives_table.py).

Each elementwise primitive declares its scalar meaning (``Primitive.scalar``) in sympy syntax over
``x`` and ``y``. Here sympy differentiates it; where the result can be written in terms of the
output ``out`` (``tanh' = 1 - out**2``) or sympy's form is poor, a stated override is used instead,
and ``check_override`` proves the override equal to sympy's derivative at random points.
sympy is imported only here, never by ``import tracegrad`` nor by a jit call.

Run ``python -m tracegrad.passes.symbolic --write`` to regenerate the checked-in table.
"""
from __future__ import annotations

import random
import sys

# Preferred forms: in terms of the output where that saves work, or stated conventions.
# Conventions at kinks (documented in docs/gradients.md): abs'(0) = 0; max/min ties split evenly.
OVERRIDES: dict[str, tuple[str, ...]] = {
    "exp": ("out",),
    "exp2": ("out*log(2)",),
    "expm1": ("out + 1",),
    "sqrt": ("0.5/out",),
    "tan": ("1 + out**2",),
    "tanh": ("1 - out**2",),
    "sigmoid": ("out*(1 - out)",),
    "softplus": ("sigmoid(x)",),
    "abs": ("sign(x)",),
    "max": ("where(x > y, 1, where(x == y, 0.5, 0))", "where(y > x, 1, where(x == y, 0.5, 0))"),
    "min": ("where(x < y, 1, where(x == y, 0.5, 0))", "where(y < x, 1, where(x == y, 0.5, 0))"),
    "div": ("1/y", "-out/y"),
    # d/dy x**y = log(x) x**y; log(1) at x == 0 keeps 0**y's gradient finite (it is 0 for y > 0).
    # d/dx at x == y == 0 is 0 (x**0 is the constant 1), where y * x**(y - 1) is 0 * inf
    "pow": ("y*where(x == 0, where(y == 0, 1, x**(y - 1)), x**(y - 1))",
            "out*log(where(x == 0, 1, x))"),
    "rem": ("1", "-floor(x/y)"),
    "arccosh": ("1/sqrt(x**2 - 1)",),
    # d/dx log(e^x + e^y) = sigmoid(x - y): bounded, smooth through the tie x == y; x - y is
    # NaN only for equal infinities, where the result is that infinity and each input gets 1/2
    "logaddexp": ("sigmoid(nan_to_zero(x - y))", "sigmoid(nan_to_zero(y - x))"),
    "logaddexp2": ("sigmoid(nan_to_zero(x - y)*log(2))", "sigmoid(nan_to_zero(y - x)*log(2))"),
    # d/dx hypot = x / hypot: 0 at the origin (as the max/where lowering gave), sign(x) for an
    # infinite x (inf / inf would be NaN)
    "hypot": ("where(isinf(x), sign(x), x/where(out == 0, 1, out))",
              "where(isinf(y), sign(y), y/where(out == 0, 1, out))"),
    # special functions: sympy writes psi as polygamma(0, x); digamma is its own primitive
    "gammaln": ("digamma(x)",),
    "gamma": ("out*digamma(x)",),
    "erfinv": ("sqrt(pi)*exp(out**2)/2",),
    # the order n is an integer (NaN elsewhere): its partial is 0 by convention (piecewise)
    "polygamma": ("0", "polygamma(x + 1, y)"),
    # I1' = (I0 + I2)/2 = I0 - I1/x, whose limit at 0 is 1/2
    "i1": ("where(x == 0, 0.5, besseli(0, x) - out/where(x == 0, 1, x))",),
    "erfcx": ("2*x*out - 2/sqrt(pi)",),
}


# where check_override draws x for primitives undefined at its usual points (1.1 .. 1.9)
CHECK_X = {"erfinv": (-0.9, 0.9)}


def is_piecewise(name: str) -> bool:
    """Overrides that sympy cannot check pointwise (piecewise conventions, ``Traits.piecewise``);
    checked by tests instead."""
    from tracegrad.primitive import get_primitive
    return get_primitive(name).traits.piecewise

INPUT_NAMES = ("x", "y")


def _sympy():
    import sympy
    return sympy


def derive(name: str, scalar: str, arity: int) -> tuple[str, ...]:
    """Sympy's partial derivatives of ``scalar`` w.r.t. each input, as strings."""
    sp = _sympy()
    syms = sp.symbols("x y", real=True)
    expr = sp.sympify(scalar, locals={"x": syms[0], "y": syms[1]})
    return tuple(str(sp.simplify(sp.diff(expr, syms[i]))) for i in range(arity))


def table(prims=None) -> dict[str, tuple[str, ...]]:
    """The partials of every differentiable elementwise primitive (overrides applied)."""
    from tracegrad.prims import ELEMENTWISE

    out = {}
    for name, prim in sorted(ELEMENTWISE.items()):
        if prim.scalar is None:
            continue
        arity = 2 if _uses_y(prim.scalar) else 1
        out[name] = OVERRIDES.get(name) or derive(name, prim.scalar, arity)
    return out


def _uses_y(scalar: str) -> bool:
    import re
    return re.search(r"\by\b", scalar) is not None


def check_override(name: str, scalar: str, partials: tuple[str, ...], trials: int = 20) -> float:
    """Largest relative difference between ``partials`` and sympy's derivatives at random points."""
    sp = _sympy()
    x, y, out = sp.symbols("x y out", real=True)
    expr = sp.sympify(scalar, locals={"x": x, "y": y})
    rng = random.Random(0)
    worst = 0.0
    for i, p in enumerate(partials):
        exact = sp.diff(expr, (x, y)[i])
        # guards (where, isinf, nan_to_zero) take their generic branch at the finite,
        # nonzero check points, as the structural ``out == 0`` does in sympy
        mine = sp.sympify(p, locals={"x": x, "y": y, "out": out,
                                     "sigmoid": lambda z: 1 / (1 + sp.exp(-z)),
                                     "where": lambda c, a, b: sp.Piecewise((a, c), (b, True)),
                                     "isinf": lambda z: sp.false,
                                     "nan_to_zero": lambda z: z})
        for _ in range(trials):
            vals = {x: rng.uniform(*CHECK_X.get(name, (1.1, 1.9))), y: rng.uniform(0.2, 0.9)}
            vals[out] = expr.subs(vals)
            a = float(exact.subs(vals).evalf())
            b = float(mine.subs(vals).evalf())
            worst = max(worst, abs(a - b) / max(1.0, abs(a)))
    return worst


def render(tab: dict[str, tuple[str, ...]]) -> str:
    lines = ['"""Partial derivatives of the elementwise primitives, derived by sympy from each',
             "primitive's scalar meaning (see passes/symbolic.py, which regenerates this file).",
             "",
             "Expressions use the inputs ``x``, ``y`` and the output ``out``; they are turned into IR by",
             "``tracegrad/prims/partials.py``. Generated file: edit passes/symbolic.py, not this.",
             '"""',
             "PARTIALS = {"]
    for name in sorted(tab):
        lines.append(f"    {name!r}: {tab[name]!r},")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    text = render(table())
    if "--write" in argv:
        import os
        path = os.path.join(os.path.dirname(__file__), "..", "tracegrad", "prims",
                            "derivatives_table.py")
        with open(path, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
