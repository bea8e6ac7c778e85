"""The text form of graphs (jaxpr-like; names given at print time) and its parser.

``format_graph`` is deterministic: variables are named ``a b ... z ba bb ...`` in order of
definition, so dumps can be golden files. ``parse_graph`` reads the same text back (used by the
pass fixtures): ``parse_graph(format_graph(g))`` prints as ``g`` does. Constants larger than
``INLINE_CONST_LIMIT`` elements print as a digest and cannot be parsed back (``IRError``).
"""
from __future__ import annotations

import ast
import hashlib
import re

import numpy as np

from . import dtypes
from .errors import IRError
from .ir import AVal, Eqn, Graph, Lit, Var

INLINE_CONST_LIMIT = 16


class Namer:
    """Gives each Var a short name the first time it is seen: a..z, ba..bz, ..."""

    def __init__(self):
        self.names: dict[int, str] = {}

    def __call__(self, v: Var) -> str:
        n = self.names.get(id(v))
        if n is None:
            n = _name(len(self.names))
            self.names[id(v)] = n
        return n


def _name(i: int) -> str:
    letters = "abcdefghijklmnopqrstuvwxyz"
    s = letters[i % 26]
    i //= 26
    while i:
        s = letters[i % 26] + s
        i //= 26
    return s


def _py(value):
    """NumPy scalars (also inside tuples and lists) as Python ones: ``repr(np.int64(3))`` is
    ``np.int64(3)`` in NumPy 2, which would not parse back."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return tuple(_py(v) for v in value)
    if isinstance(value, list):
        return [_py(v) for v in value]
    return value


def _fmt_float(v: float) -> str:
    return repr(v) if np.isfinite(v) else ("inf" if v > 0 else "-inf" if v < 0 else "nan")


def fmt_lit(lit: Lit) -> str:
    v = _py(lit.value)
    if isinstance(v, float):
        text = _fmt_float(v)
    elif isinstance(v, complex):  # both parts as floats (signed zeros, inf, nan round-trip)
        text = f"complex({_fmt_float(v.real)}, {_fmt_float(v.imag)})"
    else:
        text = repr(v)
    return f"{text}:{dtypes.short_name(lit.aval.dtype)}"


def fmt_param(key: str, value) -> str:
    if isinstance(value, np.ndarray):
        if value.size <= INLINE_CONST_LIMIT:
            return f"{key}={value.tolist()!r}"
        digest = hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()[:12]
        return f"{key}=<{AVal(value.shape, value.dtype)} sha256:{digest}>"
    if isinstance(value, Graph):  # nested lines: 2 deeper than the equation (see format_graph)
        inner = format_graph(value).replace("\n", "\n  ")
        return f"{key}={inner}"
    if isinstance(value, tuple) and value and all(isinstance(g, Graph) for g in value):
        inner = ",\n".join(format_graph(g) for g in value).replace("\n", "\n  ")
        return f"{key}=({inner})"
    if isinstance(value, np.dtype):
        return f"{key}={str(value)!r}"
    if callable(value):
        return f"{key}=<{getattr(value, '__name__', type(value).__name__)}>"
    return f"{key}={_py(value)!r}"


def format_eqn(e: Eqn, name, show_src: bool = False) -> str:
    outs = " ".join(f"{name(o)}:{o.aval}" for o in e.outputs)
    params = ""
    if e.params:
        params = "[" + " ".join(fmt_param(k, e.params[k]) for k in sorted(e.params)) + "]"
    args = " ".join(fmt_lit(a) if isinstance(a, Lit) else name(a) for a in e.inputs)
    line = f"{outs} = {e.prim.name}{params}" + (f" {args}" if args else "")
    if show_src and e.src:
        line += f"    # {e.src}"
    return line


def format_graph(graph: Graph, *, show_src: bool = False, namer: Namer | None = None) -> str:
    name = namer or Namer()
    ins = " ".join(f"{name(v)}:{v.aval}" for v in graph.inputs)
    lines = [f"{{ lambda {ins} ."]
    for i, e in enumerate(graph.eqns):
        # a nested graph's lines start at the equation's column (6) plus fmt_param's 2, so its
        # `let` sits 4 columns right of the equation that holds it, at every depth
        text = format_eqn(e, name, show_src).replace("\n", "\n      ")
        lines.append(("  let " if i == 0 else "      ") + text)
    if not graph.eqns:
        lines.append("  let")
    outs = " ".join(fmt_lit(a) if isinstance(a, Lit) else name(a) for a in graph.outputs)
    lines.append(f"  in ( {outs} ) }}")
    return "\n".join(lines)


# --- parsing -------------------------------------------------------------------------------
_TYPE_RE = re.compile(r"^(f32|f64|i32|i64|bool|c64|c128)\[([0-9,]*)\]$")


def parse_aval(text: str) -> AVal:
    m = _TYPE_RE.match(text.strip())
    if not m:
        raise IRError(f"bad type {text!r}: expected e.g. f32[3,4], i64[] or bool[2]")
    shape = tuple(int(d) for d in m.group(2).split(",") if d)
    return AVal(shape, dtypes.FROM_SHORT[m.group(1)])


def split_top_level(text: str, sep: str = " ", brackets: str = "([{<") -> list[str]:
    """Split ``text`` on ``sep`` where it is not inside brackets (pairs of ``brackets`` with
    their closers); empty parts between repeated separators are dropped."""
    closers = {"(": ")", "[": "]", "{": "}", "<": ">"}
    opening, closing = set(brackets), {closers[b] for b in brackets}
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch in opening:
            depth += 1
        elif ch in closing:
            depth -= 1
        if ch == sep and depth == 0:
            if cur:
                parts.append("".join(cur).strip())
                cur = []
        else:
            cur.append(ch)
    if cur:
        parts.append("".join(cur).strip())
    return parts


def _split_top(text: str) -> list[str]:
    """Split on spaces that are not inside brackets, parentheses or braces."""
    return split_top_level(text, " ")


_NAMED_FLOATS = {"inf": float("inf"), "nan": float("nan")}


def _literal(text: str):
    """``ast.literal_eval`` that also reads ``inf`` and ``nan`` (as ``repr`` prints them inside
    constants and tuples); nothing else is evaluated."""
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        raise IRError(f"cannot parse the value {text!r}") from exc

    def conv(node):
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name) and node.id in _NAMED_FLOATS:
            return _NAMED_FLOATS[node.id]
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            v = conv(node.operand)
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                return -v if isinstance(node.op, ast.USub) else v
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                node.func.id == "complex" and len(node.args) == 2 and not node.keywords:
            re_, im = conv(node.args[0]), conv(node.args[1])  # fmt_lit's complex(re, im)
            if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (re_, im)):
                return complex(re_, im)
        if isinstance(node, ast.Tuple):
            return tuple(conv(e) for e in node.elts)
        if isinstance(node, ast.List):
            return [conv(e) for e in node.elts]
        raise IRError(f"cannot parse the value {text!r}: only numbers, strings, bools, None, "
                      "inf, nan, complex(re, im), tuples and lists may appear")
    return conv(tree)


def _parse_lit(tok: str) -> Lit:
    from .ir import make_lit

    value, short = tok.rsplit(":", 1)
    if short not in dtypes.FROM_SHORT:
        raise IRError(f"bad literal {tok!r}: expected value:type with a type among "
                      f"{sorted(dtypes.FROM_SHORT)}")
    v = _literal(value)
    if not isinstance(v, (bool, int, float, complex)):
        raise IRError(f"bad literal {tok!r}: not a number")
    return make_lit(v, dtypes.FROM_SHORT[short])


def _logical_lines(text: str) -> list[str]:
    """Equation lines, joining the continuation lines of a parameter that is a nested graph
    (its braces are still open at the end of a physical line)."""
    out, cur, depth = [], [], 0
    for raw in text.splitlines():
        # drop `# file:line` comments (nested graphs print without them, so any line may have
        # one: it follows the last line of an equation with a graph parameter)
        line = raw.split("    #")[0]
        cur.append(line)
        for ch in line:
            if ch in "([{":
                depth += 1
            elif ch in ")]}":
                depth -= 1
        if depth <= 0:
            out.append("\n".join(cur).strip())
            cur, depth = [], 0
    if cur:
        out.append("\n".join(cur).strip())
    return out


def parse_graph(text: str) -> Graph:
    """Parse the text form printed by ``format_graph`` back into a Graph.

    Raises ``IRError`` for malformed text, unknown primitives, names defined twice or used before
    their definition, and constants printed as digests. The result is not verified: pass it to
    ``verify`` to check the types.
    """
    from . import prims  # noqa: F401  (registers every primitive)
    from .primitive import PRIMITIVES

    body = text.strip()
    m = re.match(r"^\{\s*lambda(.*?)\.\s*\n(.*)\n\s*in \((.*)\)\s*\}$", body, re.S)
    if not m:
        raise IRError("not a graph: expected '{ lambda ... . let ... in ( ... ) }'")
    env: dict[str, Var] = {}

    def binder(tok):
        if ":" not in tok:
            raise IRError(f"expected name:type, got {tok!r}")
        name, ty = tok.split(":", 1)
        if name in env:
            raise IRError(f"variable {name} defined twice")
        v = Var(parse_aval(ty))
        env[name] = v
        return v

    def atom(tok):
        if ":" in tok:
            return _parse_lit(tok)
        if tok not in env:
            raise IRError(f"variable {tok} used before it is defined")
        return env[tok]

    inputs = tuple(binder(t) for t in _split_top(m.group(1).strip()))
    eqns = []
    for line in _logical_lines(m.group(2)):
        # the first equation follows `let`; a variable may itself be called `let` (`let:f32[]`)
        if line == "let":
            continue
        if line.startswith("let "):
            line = line[4:].strip()
        if " = " not in line:
            raise IRError(f"bad equation {line!r}: expected 'outputs = primitive inputs'")
        lhs, rhs = line.split(" = ", 1)
        outs = _split_top(lhs)
        toks = _split_top(rhs)
        pm = re.match(r"^([a-z_0-9]+)(\[.*\])?$", toks[0] if toks else "", re.S)
        if not pm:
            raise IRError(f"bad equation {line!r}")
        if pm.group(1) not in PRIMITIVES:
            raise IRError(f"unknown primitive {pm.group(1)!r} in {line!r}")
        prim = PRIMITIVES[pm.group(1)]
        ins = tuple(atom(t) for t in toks[1:])  # before binding: no equation reads its outputs
        out_vars = tuple(binder(t) for t in outs)
        params = _parse_params(pm.group(2)[1:-1] if pm.group(2) else "", out_vars)
        eqns.append(Eqn(prim, ins, params, out_vars, None))
    outputs = tuple(atom(t) for t in _split_top(m.group(3).strip()))
    return Graph(inputs, tuple(eqns), outputs)


def _parse_params(text: str, out_vars) -> dict:
    params = {}
    for item in _split_top(text):
        if "=" not in item:
            raise IRError(f"bad parameter {item!r}: expected key=value")
        key, value = item.split("=", 1)
        if value.startswith("<"):
            raise IRError(f"parameter {key} was printed as a digest ({value}); it cannot be "
                          "parsed back (only constants of at most "
                          f"{INLINE_CONST_LIMIT} elements print in full)")
        if value.startswith("{"):
            params[key] = parse_graph(value)  # a nested graph (custom-rule calls, loop bodies)
            continue
        if value.startswith("({"):  # a tuple of graphs (cond's branches)
            parts = split_top_level(value[1:-1].strip(), sep=",")
            params[key] = tuple(parse_graph(p.strip()) for p in parts if p.strip())
            continue
        v = _literal(value)
        if key == "value":
            aval = out_vars[0].aval
            try:
                v = np.array(v, dtype=aval.dtype).reshape(aval.shape)
            except ValueError as exc:
                raise IRError(f"constant {value} does not fit its type {aval}") from exc
            v.flags.writeable = False
        params[key] = v
    return params
