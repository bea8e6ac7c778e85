"""The ``Primitive`` declaration and the registry of every primitive.

A primitive declares in one place: its shape/dtype rule, its reference implementation (the
interpreter), its ``Traits`` (what passes and backends ask of it) and,
beside it in the declaring file, its derivative rules (``defjvp``/``defvjp``/``deftranspose``,
keyed by the primitive object).

``Primitive.bind`` applies a primitive. The IR layer does not know about tracing: the tracing
layer (``tracegrad/tracer.py``) installs itself with ``install_tracing`` when it is imported;
until then ``bind`` evaluates eagerly with the reference implementation.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from . import dtypes
from .ir import AVal, Lit, subgraphs

PRIMITIVES: dict[str, "Primitive"] = {}

# Value-range classes read by passes/ranges.py (``Traits.range``).
RANGE_KINDS = ("any", "unit", "index", "hull", "exploding", "singular")


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
                       ``index`` (a position along an axis: [0, extent - 1]: iota, argmax),
                       ``hull`` (within its operands' bounds), ``exploding`` (may overflow unless
                       bounds prove otherwise), ``singular`` (may be non-finite at finite
                       inputs), ``any`` (handled by the pass or unknown);
    ``bounds``         (lo, hi) of the output for any finite input, if fixed (tanh, sigmoid ...);
    ``index_operands`` positions of integer operands whose values index another operand's axes
                       (gather, scatter_add): valid in [-n, n) as NumPy's, anything else raises
                       IndexError on every backend (tests/test_index_bounds.py checks each);
    ``may_raise``      some operand values make it raise (IndexError, LinAlgError ...) where
                       NumPy would too: ``True``, or ``"int"`` for integer operands only (integer
                       ``pow`` with a negative exponent). Code motion moves such an equation only
                       where it is sure to run anyway (never out of a loop that may run zero
                       times, never out of a branch: ``eqn_may_raise``; tests/test_hoist_raising.py);
    ``cost``           per-element work in units of one L1 load or store, for choices between
                       recomputing a value and storing it (passes/cost.op_weight): 1 plain
                       arithmetic, comparisons and selects, 4 a division or square root, 8
                       (the default) transcendental and libm calls.
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
    index_operands: tuple[int, ...] = ()
    may_raise: bool | str = False
    cost: int = 8

    def __post_init__(self):
        if self.range not in RANGE_KINDS:
            raise ValueError(f"Traits.range must be one of {RANGE_KINDS}, got {self.range!r}")
        if self.may_raise not in (False, True, "int"):
            raise ValueError(f"Traits.may_raise must be False, True or 'int', got "
                             f"{self.may_raise!r}")
        if self.index_operands and self.may_raise is not True:
            raise ValueError("a primitive with index_operands raises IndexError out of range: "
                             "declare may_raise=True")


def eqn_may_raise(e) -> bool:
    """Whether running equation ``e`` can raise on some values of its operands (``may_raise``)."""
    return may_raise(e.prim, [a.aval for a in e.inputs], e.params)


def may_raise(prim, in_avals, params) -> bool:
    """Whether ``prim`` applied to operands of types ``in_avals`` can raise on some values: its
    ``Traits.may_raise`` (``"int"``: when an operand is an integer), or any equation of a graph
    nested in ``params`` (a loop or branch whose body can raise). Code motion asks this before
    running an equation where the program might not have run it."""
    t = prim.traits.may_raise
    if t is True or (t == "int" and any(np.dtype(a.dtype).kind in "iu" for a in in_avals)):
        return True
    return any(eqn_may_raise(s) for _, g in subgraphs(params) for s in g.eqns)


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
        if not isinstance(traits, Traits):
            raise TypeError(f"primitive {name!r}: traits must be a Traits, got {traits!r}")
        self.traits = traits
        self.multiple_results = multiple_results
        self.scalar = scalar
        self.nondiff = nondiff
        self.linear_args = linear_args
        self.doc = doc
        if name in PRIMITIVES:
            raise ValueError(f"primitive {name!r} declared twice")
        PRIMITIVES[name] = self
        if nondiff:  # zero by convention: stated here, once, for every nondiff primitive
            defjvp(self, _zero_jvp)
            defvjp(self, _zero_vjp)

    def abstract_eval(self, in_avals: list[AVal], **params) -> list[AVal]:
        return list(self._abstract_eval(*in_avals, **params))

    def bind(self, *args, **params):
        """Apply the primitive: eagerly on arrays, or as a new equation inside a trace (the
        tracing layer's ``bind``; ``_ctx``/``_src`` pass through to it)."""
        return _TRACING.bind(self, *args, **params)

    # derivative rules, read from the registries (declared beside the primitive)
    @property
    def jvp(self):
        return JVP_RULES.get(self)

    @property
    def vjp(self):
        return VJP_RULES.get(self)

    @property
    def transpose(self):
        return TRANSPOSE_RULES.get(self)

    def __repr__(self) -> str:
        return self.name

    def __reduce__(self):  # pickles by name, so graphs can be sent between processes
        return (get_primitive, (self.name,))


def get_primitive(name: str) -> Primitive:
    from . import prims  # noqa: F401  (registers every declaration)
    return PRIMITIVES[name]


# --- derivative rules, keyed by the primitive object ------------------------------------------
# Shapes (``None`` is a symbolic zero):
#   jvp(primals, tangents, outs, **params) -> output tangents
#   vjp(cts, primals, outs, **params) -> input cotangents
#   transpose: the vjp of a linear primitive (the same signature)
JVP_RULES: dict[Primitive, Callable] = {}
VJP_RULES: dict[Primitive, Callable] = {}
TRANSPOSE_RULES: dict[Primitive, Callable] = {}


def _register(table: dict, what: str, prim: Primitive, rule: Callable) -> Callable:
    if not isinstance(prim, Primitive):
        raise TypeError(f"{what} rules are keyed by a Primitive, got {prim!r}")
    if prim in table:
        raise ValueError(f"primitive {prim.name!r} already has a {what} rule")
    table[prim] = rule
    return rule


def defjvp(prim: Primitive, rule: Callable) -> Callable:
    return _register(JVP_RULES, "jvp", prim, rule)


def defvjp(prim: Primitive, rule: Callable) -> Callable:
    return _register(VJP_RULES, "vjp", prim, rule)


def deftranspose(prim: Primitive, rule: Callable) -> Callable:
    return _register(TRANSPOSE_RULES, "transpose", prim, rule)


# --- batching rules (vmap), keyed by the primitive object ---------------------------------------
#   batch(args, batched, size, **params) -> what ``bind`` returns, every output carrying the batch
#   along axis 0; ``batched[i]`` says whether ``args[i]`` carries it (at axis 0) or is shared.
# Primitives without operands (constants, iota) have nothing to batch and need none.
BATCH_RULES: dict[Primitive, Callable] = {}


def defbatch(prim: Primitive, rule: Callable) -> Callable:
    return _register(BATCH_RULES, "batching", prim, rule)


# Primitives with nested graphs (loops, branches) differentiate their bodies, and want more
# than the per-equation rules above give:
#   jvp_full(primals, tangents, **params) -> (outputs, output tangents): one new equation
#       computing both (a loop whose carry holds the tangents), instead of the primal equation
#       plus a second loop recomputing it;
#   vjp_fwd(primals, **params) -> (outputs, backward): the forward emitted with whatever
#       residuals the backward needs (a scan stacks them per step); ``backward(cts)`` -> input
#       cts. The autodiff pass prefers these when a primitive has them.
JVP_FULL_RULES: dict[Primitive, Callable] = {}
VJP_FWD_RULES: dict[Primitive, Callable] = {}


def defjvp_full(prim: Primitive, rule: Callable) -> Callable:
    return _register(JVP_FULL_RULES, "jvp_full", prim, rule)


def defvjp_fwd(prim: Primitive, rule: Callable) -> Callable:
    return _register(VJP_FWD_RULES, "vjp_fwd", prim, rule)


class _GraphTransforms:
    """What rules of primitives with nested graphs call to build new graphs, installed by the
    layers that own them (the IR layer imports neither): ``TraceContext`` (the tracing layer:
    a scope recording equations; see tracegrad/tracer.py) and ``jvp_inline``,
    ``forward_sweep``, ``backward_sweep``, ``vjp_inline`` (passes/autodiff.py)."""

    def __getattr__(self, name):
        raise RuntimeError(f"internal: graph transform {name!r} used before the layer that "
                           "provides it was imported")


GRAPH_TRANSFORMS = _GraphTransforms()


def install_graph_transforms(**fns) -> None:
    for name, fn in fns.items():
        setattr(GRAPH_TRANSFORMS, name, fn)


def _zero_jvp(primals, tangents, outs, **params):
    return [None] * len(outs)


def _zero_vjp(cts, primals, outs, **params):
    return [None] * len(primals)


# --- the hook through which the tracing layer receives every bind --------------------------------
def _eager_bind(prim: Primitive, *args, _src=None, _ctx=None, **params):
    """Reference evaluation on arrays (what tracer.bind does outside every trace)."""
    vals = [np.asarray(a.value, a.aval.dtype) if isinstance(a, Lit) else a for a in args]
    out = prim.impl(*vals, **params)
    if prim.multiple_results:
        avals = prim.abstract_eval([_eager_aval(v) for v in vals], **params)
        return [np.asarray(o, dtype=av.dtype) for o, av in zip(out, avals)]
    return out


def _eager_aval(x) -> AVal:
    a = np.asarray(x)
    return AVal(a.shape, dtypes.canonical(a.dtype))


class _Tracing:
    """The tracing layer's entry points, as installed (eager defaults until then)."""
    bind: Callable = staticmethod(_eager_bind)
    current_trace: Callable = staticmethod(lambda: None)
    aval_of: Callable = staticmethod(_eager_aval)
    is_traced: Callable = staticmethod(lambda x: False)


_TRACING = _Tracing()


def install_tracing(*, bind: Callable, current_trace: Callable, aval_of: Callable,
                    is_traced: Callable) -> None:
    """Called once by ``tracegrad/tracer.py``: ``bind(prim, *args, _src=, _ctx=, **params)``,
    ``current_trace()`` (the innermost open trace or None), ``aval_of(x)`` and
    ``is_traced(x)``."""
    _TRACING.bind = bind
    _TRACING.current_trace = current_trace
    _TRACING.aval_of = aval_of
    _TRACING.is_traced = is_traced


def current_trace():
    """The innermost trace this thread records into, or None (then ``bind`` is eager)."""
    return _TRACING.current_trace()


def aval_of(x) -> AVal:
    """Abstract value of a traced value, array or Python scalar (literals: their own)."""
    return x.aval if isinstance(x, Lit) else _TRACING.aval_of(x)


def is_traced(x) -> bool:
    return _TRACING.is_traced(x)
