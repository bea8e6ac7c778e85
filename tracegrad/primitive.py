"""The ``Primitive`` declaration and the registry of every primitive.

A primitive declares in one place: its shape/dtype rule, its reference implementation (the
interpreter), its NumPy source lowering, its ``Traits`` (what passes and backends ask of it) and
its derivative (filled in by ``tracegrad.prims``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .ir import AVal

PRIMITIVES: dict[str, "Primitive"] = {}

# Value-range classes read by passes/ranges.py (``Traits.range``).
RANGE_KINDS = ("any", "unit", "hull", "exploding", "singular")


@dataclass(frozen=True)
class Traits:
    """What passes and backends ask of a primitive, stated where it is declared (never a set of
    names in a pass: a misspelt trait is an AttributeError, a forgotten one is the default).

    ``view``           the NumPy backend evaluates it as a view of its first operand (no storage
                       of its own): memory planning extends the operand's life instead;
    ``reduction``      an axis reduction writing one array (``out=``-capable, a kernel epilogue
                       in C);
    ``epilogue``       fusion may end an elementwise kernel in it (a reduction of the chain);
    ``out_capable``    elementwise, and a backend can evaluate it straight into a planned buffer;
    ``flops``          does arithmetic (False: pure data movement, costed at 0 flops);
    ``foldable``       constant folding may evaluate it on constants (False where folding would
                       only make big constants, or the result is not a plain function of inputs);
    ``scalar_operand`` accepts a scalar literal operand in place of a broadcast literal;
    ``literal_fold``   the simplifier evaluates it when every operand is a literal;
    ``piecewise``      its partials state conventions at kinks that sympy cannot check pointwise;
    ``mask_zero_ct``   a partial can be inf/NaN at finite inputs: reverse mode masks it to 0
                       where the cotangent is 0 (docs/gradients.md);
    ``ad_only``        an identity that only matters to differentiation (dropped after it);
    ``body_param``     for calls and kernels: the parameter holding the graph run inline;
    ``range``          value-range class for passes/ranges.py: ``unit`` (output in [0, 1]),
                       ``hull`` (within its operands' bounds), ``exploding`` (may overflow unless
                       bounds prove otherwise), ``singular`` (may be non-finite at finite
                       inputs), ``any`` (handled by the pass or unknown);
    ``bounds``         (lo, hi) of the output for any finite input, if fixed (tanh, sigmoid ...).
    """
    view: bool = False
    reduction: bool = False
    epilogue: bool = False
    out_capable: bool = False
    flops: bool = True
    foldable: bool = True
    scalar_operand: bool = False
    literal_fold: bool = False
    piecewise: bool = False
    mask_zero_ct: bool = False
    ad_only: bool = False
    body_param: str | None = None
    range: str = "any"
    bounds: tuple[float, float] | None = None

    def __post_init__(self):
        if self.range not in RANGE_KINDS:
            raise ValueError(f"Traits.range must be one of {RANGE_KINDS}, got {self.range!r}")


class Primitive:
    """One operation of the IR.

    ``kind`` is one of ``elementwise``, ``structural`` (index/copy), ``reduction``,
    ``contraction``, ``source`` (no inputs: constants, iota) or ``custom``.

    Derivative fields (exactly one style applies, see DESIGN.md section 4):
      ``scalar``     elementwise meaning as a sympy-parsable expression in ``x``, ``y`` (inputs);
                     partials come from the derivative table (``prims/derivatives_table.py``);
      ``transpose``  for linear primitives: ``transpose(cts, *inputs, **params)`` -> input cts;
      ``jvp``/``vjp``: hand-written rules for the rest;
      ``nondiff``    True when the gradient is zero by convention (stated in docs/gradients.md).
    """

    def __init__(self, name: str, *, kind: str,
                 abstract_eval: Callable[..., list[AVal]],
                 impl: Callable[..., Any],
                 numpy_src: Callable[..., str],
                 traits: Traits,
                 multiple_results: bool = False,
                 scalar: str | None = None,
                 nondiff: bool = False,
                 linear_args: tuple[int, ...] = (),
                 doc: str = ""):
        self.name = name
        self.kind = kind
        self._abstract_eval = abstract_eval
        self.impl = impl
        self.numpy_src = numpy_src
        if not isinstance(traits, Traits):
            raise TypeError(f"primitive {name!r}: traits must be a Traits, got {traits!r}")
        self.traits = traits
        self.multiple_results = multiple_results
        self.scalar = scalar
        self.nondiff = nondiff
        self.linear_args = linear_args
        self.doc = doc
        # Derivative rules, attached by tracegrad.prims.* (and the autodiff passes).
        self.jvp = None
        self.vjp = None
        self.transpose = None
        if name in PRIMITIVES:
            raise ValueError(f"primitive {name!r} declared twice")
        PRIMITIVES[name] = self

    def abstract_eval(self, in_avals: list[AVal], **params) -> list[AVal]:
        return list(self._abstract_eval(*in_avals, **params))

    def __repr__(self) -> str:
        return self.name

    def __reduce__(self):  # pickles by name, so graphs can be sent between processes
        return (get_primitive, (self.name,))


def get_primitive(name: str) -> Primitive:
    from . import prims  # noqa: F401  (registers every declaration)
    return PRIMITIVES[name]
