"""``tracegrad rules``: every primitive's derivative as tracegrad derives it, and the
conventions at kinks (the table of docs/gradients.md, read from the docs so it cannot drift).

Elementwise partials come from the checked-in sympy table (``prims/derivatives_table.py``); the
other primitives are described by the kind of rule they have (``prims/derivatives.py``).
"""
from __future__ import annotations

import os
import re

from .argparsing import ArgParser
from .errors import CLIError

# The transpose each linear primitive's reverse rule applies (see prims/derivatives.py).
LINEAR = {
    "broadcast_in_dim": "reduce_sum over the broadcast axes, reshaped to the operand",
    "reduce_sum": "broadcast_in_dim back to the operand's shape",
    "reshape": "reshape back to the operand's shape",
    "transpose": "transpose by the inverse permutation",
    "slice": "pad with zeros (interior padding undoes strides)",
    "pad": "slice for the operand; the padding value gets the sum of the rest",
    "concatenate": "one slice per operand",
    "rev": "rev along the same dimensions",
    "gather": "scatter_add into zeros",
    "scatter_add": "the cotangent itself for the operand, gather for the updates",
    "cumsum": "cumsum in the opposite direction",
}
# Primitives whose rules are written by hand: (kind, rule).
HAND = {
    "dot_general": ("bilinear", ("one transpose per operand: dot_general of the cotangent with "
                                 "the other operand, then transpose")),
    "where": ("selection", ("the cotangent goes to a where c holds and to b elsewhere; c gets "
                            "none")),
    "convert": ("cast", ("float to float: the cotangent converted back; to or from int or "
                         "bool: zero")),
    "reduce_max": ("selection", "the cotangent split evenly among the maximal elements"),
    "reduce_min": ("selection", "the cotangent split evenly among the minimal elements"),
    "reduce_prod": ("product", "the product of the other elements (exact when some are zero)"),
    "custom_jvp_call": ("custom", "the user's tangent rule, traced; reverse mode transposes it"),
    "custom_vjp_call": ("custom", "the user's backward, traced; forward mode transposes it"),
    "fused": ("fused", "expanded back into its equations before differentiating"),
    # loops and branches (tracegrad/prims/control_rules.py): the derivative of a loop is a loop
    "scan": ("loop", ("forward: a scan carrying tangents beside the carry; reverse: a reverse "
                      "scan over the residuals the forward scan stacks (with checkpoint=k, "
                      "every k-th carry, the steps between recomputed)")),
    "while": ("loop", ("forward: a while carrying tangents; reverse only with max_iter: the "
                       "steps as a guarded scan over a bounded tape")),
    "cond": ("loop", "the taken branch's derivative (a cond over the branches' rules)"),
    # factorisations and solves (tracegrad/prims/linalg.py, linalg_svd.py; sources cited there)
    "cholesky": ("matrix", ("L^-T Phi(L^T dA_bar) L^-1 symmetrised (Murray 2016); forward: "
                            "L Phi(L^-1 dA L^-T)")),
    "triangular_solve": ("matrix", ("B_bar = A^-T X_bar (a triangular solve); A_bar = -B_bar X^T "
                                    "kept on A's triangle")),
    "solve": ("matrix", "B_bar = A^-T X_bar; A_bar = -B_bar X^T (Giles 2008)"),
    "slogdet": ("matrix", "logabsdet_bar A^-T (Giles 2008); the sign gets none"),
    "eigh": ("matrix", ("V (diag(w_bar) + F o (V^T V_bar)) V^T with F_ij = 1/(w_j - w_i) "
                        "(Giles 2008)")),
    "svd": ("matrix", "Townsend 2016's formula for U, S and V^T cotangents (distinct values)"),
    "qr": ("matrix", "Walter & Lehmann 2018 (square or tall matrices)"),
    "lu": ("matrix", "dL = L stril(X), dU = triu(X) U with X = L^-1 P dA U^-1, and its adjoint"),
    "eig": ("matrix", ("Giles 2008 for distinct eigenvalues, eigenvectors kept at unit norm "
                       "(complex results)")),
    # incomplete gamma/beta: the density in x; a shape parameter's derivative is refused
    "gammainc": ("special", "x: x^(a-1) e^-x / Gamma(a); a: a GradientError naming it"),
    "gammaincc": ("special", "x: -x^(a-1) e^-x / Gamma(a); a: a GradientError naming it"),
    "betainc": ("special", ("x: x^(a-1) (1-x)^(b-1) / B(a, b); a, b: a GradientError naming "
                            "them")),
}
_ORDER = ("elementwise", "linear", "bilinear", "selection", "cast", "product", "matrix", "special",
          "custom", "fused", "loop", "zero")


def describe_all() -> list[tuple[str, str, str]]:
    """``(primitive, kind, rule)`` for every registered primitive, sorted by kind then name."""
    from tracegrad import prims  # noqa: F401  (registers the primitives)
    from tracegrad.primitive import PRIMITIVES
    from tracegrad.prims import derivatives  # noqa: F401  (attaches the rules)
    from tracegrad.prims.derivatives_table import PARTIALS

    rows = []
    for name, p in PRIMITIVES.items():
        if p.nondiff:
            kind, rule = "zero", "non-differentiable: zero, by convention"
        elif name in PARTIALS:
            kind = "elementwise"
            rule = "   ".join(f"d/d{v} = {e}" for v, e in zip(("x", "y", "z"), PARTIALS[name]))
        elif name in LINEAR:
            kind, rule = "linear", "transpose: " + LINEAR[name]
        elif name in HAND:
            kind, rule = HAND[name]
        elif p.transpose is not None:
            kind, rule = "linear", "a transpose rule (tracegrad/prims/derivatives.py)"
        else:
            kind, rule = "hand-written", "jvp and vjp rules in tracegrad/prims/derivatives.py"
        rows.append((name, kind, rule))
    rank = {k: i for i, k in enumerate(_ORDER)}
    return sorted(rows, key=lambda r: (rank.get(r[1], len(_ORDER)), r[0]))


_HEADINGS = {
    "elementwise": ("elementwise: partial derivatives derived by sympy from each primitive's "
                    "scalar meaning\n  (x, y: the inputs, out: the output; forward mode "
                    "multiplies tangents by them, reverse mode cotangents)"),
    "linear": ("linear: forward mode applies the primitive to the tangent; reverse mode its "
               "transpose"),
    "bilinear": "bilinear",
    "selection": "selection",
    "cast": "casts",
    "product": "products",
    "custom": "custom rules (tg.Function, custom_vjp, custom_jvp, straight_through)",
    "fused": "fused kernels",
    "loop": "loops and branches (the derivative of a loop is a loop)",
    "zero": "zero gradient (stated in docs/gradients.md)",
}


def conventions_table() -> list[list[str]] | None:
    """The rows of the "Conventions" table of docs/gradients.md (None if the docs are not
    installed, as in a wheel)."""
    import tracegrad
    root = os.path.dirname(os.path.dirname(os.path.abspath(tracegrad.__file__)))
    path = os.path.join(root, "docs", "gradients.md")
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError:
        return None
    m = re.search(r"^## Conventions\s*$(.*?)(?=^## |\Z)", text, re.MULTILINE | re.DOTALL)
    if not m:
        return None
    rows = []
    for line in m.group(1).splitlines():
        line = line.strip()
        if not line.startswith("|") or re.fullmatch(r"\|[\s\-:|]+\|", line):
            continue
        cells = [c.strip().replace("`", "") for c in line.strip("|").split("|")]
        rows.append(cells)
    return rows or None


def render(names=()) -> str:
    from .stats import table

    rows = describe_all()
    if names:
        known = {r[0] for r in rows}
        for n in names:
            if n not in known:
                raise CLIError(f"no primitive {n!r}; primitives: {', '.join(sorted(known))}")
        rows = [r for r in rows if r[0] in names]
    out = [("Derivative rules of tracegrad's primitives "
            "(tracegrad/prims/derivatives_table.py, tracegrad/prims/derivatives.py)")]
    kinds = [k for k in _ORDER if any(r[1] == k for r in rows)]
    kinds += sorted({r[1] for r in rows} - set(kinds))
    for kind in kinds:
        out.append("")
        out.append(_HEADINGS.get(kind, kind))
        group = [r for r in rows if r[1] == kind]
        if kind == "zero":
            names_ = [r[0] for r in group]
            out.extend("  " + " ".join(names_[i:i + 10]) for i in range(0, len(names_), 10))
            continue
        out.extend("  " + line for line in table([(r[0], r[2]) for r in group]))
    if names:
        return "\n".join(out) + "\n"
    out.append("")
    conv = conventions_table()
    if conv is None:
        out.append("conventions: see docs/gradients.md in the tracegrad repository")
    else:
        out.append("conventions (docs/gradients.md)")
        out.extend("  " + line for line in table(conv))
    return "\n".join(out) + "\n"


def run(argv) -> int:
    p = ArgParser(prog="tracegrad rules",
                  description="Print every primitive's derivative rule and the gradient "
                              "conventions.")
    p.add_argument("names", nargs="*", metavar="PRIMITIVE", help="only these primitives")
    ns = p.parse_args(argv)
    import sys
    sys.stdout.write(render(ns.names))
    return 0
