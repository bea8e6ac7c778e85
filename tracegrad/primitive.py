"""The ``Primitive`` declaration and the registry of every primitive.

A primitive declares in one place: its shape/dtype rule, its reference implementation (the
interpreter), its NumPy source lowering, and its derivative (filled in by ``tracegrad.prims``).
"""
from __future__ import annotations

from typing import Any, Callable

from .ir import AVal

PRIMITIVES: dict[str, "Primitive"] = {}


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
