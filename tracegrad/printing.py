"""The text form of graphs (jaxpr-like; names given at print time) and its parser.

``format_graph`` is deterministic: variables are named ``a b ... z ba bb ...`` in order of
definition, so dumps can be golden files. ``parse_graph`` reads the same text back (used by the
pass fixtures); constants larger than ``INLINE_CONST_LIMIT`` elements print as a digest and
cannot be parsed back.
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


def fmt_aval(aval: AVal) -> str:
    return str(aval)


def fmt_lit(lit: Lit) -> str:
    v = lit.value
    if isinstance(v, float):
        text = repr(v) if np.isfinite(v) else ("inf" if v > 0 else "-inf" if v < 0 else "nan")
    else:
        text = repr(v)
    return f"{text}:{dtypes.short_name(lit.aval.dtype)}"


def fmt_param(key: str, value) -> str:
    if isinstance(value, np.ndarray):
        if value.size <= INLINE_CONST_LIMIT:
            return f"{key}={value.tolist()!r}"
        digest = hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()[:12]
        return f"{key}=<{AVal(value.shape, value.dtype)} sha256:{digest}>"
    if isinstance(value, Graph):
        inner = format_graph(value).replace("\n", "\n    ")
        return f"{key}={inner}"
    if isinstance(value, np.dtype):
        return f"{key}={str(value)!r}"
    if callable(value):
        return f"{key}=<{getattr(value, '__name__', type(value).__name__)}>"
    return f"{key}={value!r}"


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
        lines.append(("  let " if i == 0 else "      ") + format_eqn(e, name, show_src))
    if not graph.eqns:
        lines.append("  let")
    outs = " ".join(fmt_lit(a) if isinstance(a, Lit) else name(a) for a in graph.outputs)
    lines.append(f"  in ( {outs} ) }}")
    return "\n".join(lines)


# --- parsing -------------------------------------------------------------------------------
_TYPE_RE = re.compile(r"^(f32|f64|i32|i64|bool)\[([0-9,]*)\]$")


def parse_aval(text: str) -> AVal:
    m = _TYPE_RE.match(text.strip())
    if not m:
        raise IRError(f"bad type {text!r}: expected e.g. f32[3,4], i64[] or bool[2]")
    shape = tuple(int(d) for d in m.group(2).split(",") if d)
    return AVal(shape, dtypes.FROM_SHORT[m.group(1)])


def _split_top(text: str) -> list[str]:
    """Split on spaces that are not inside brackets, parentheses or braces."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch in "([{<":
            depth += 1
        elif ch in ")]}>":
            depth -= 1
        if ch == " " and depth == 0:
            if cur:
                parts.append("".join(cur))
                cur = []
        else:
            cur.append(ch)
    if cur:
        parts.append("".join(cur))
    return parts


def _parse_lit(tok: str) -> Lit:
    value, short = tok.rsplit(":", 1)
    dt = dtypes.FROM_SHORT[short]
    if value in ("inf", "-inf", "nan"):
        v = float(value)
    else:
        v = ast.literal_eval(value)
    from .ir import make_lit
    return make_lit(v, dt)


def parse_graph(text: str) -> Graph:
    """Parse the text form printed by ``format_graph`` back into a Graph."""
    from .primitive import get_primitive

    body = text.strip()
    m = re.match(r"^\{\s*lambda(.*?)\.\s*\n(.*)\n\s*in \((.*)\)\s*\}$", body, re.S)
    if not m:
        raise IRError("not a graph: expected '{ lambda ... . let ... in ( ... ) }'")
    env: dict[str, Var] = {}

    def binder(tok):
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
    for raw in m.group(2).splitlines():
        line = raw.split("    #")[0].strip()
        if line.startswith("let"):
            line = line[3:].strip()
        if not line:
            continue
        lhs, rhs = line.split(" = ", 1)
        outs = [t for t in _split_top(lhs)]
        toks = _split_top(rhs)
        head = toks[0]
        pm = re.match(r"^([a-z_0-9]+)(\[.*\])?$", head, re.S)
        if not pm:
            raise IRError(f"bad equation {line!r}")
        prim = get_primitive(pm.group(1))
        out_vars = tuple(binder(t) for t in outs)
        params = _parse_params(pm.group(2)[1:-1] if pm.group(2) else "", out_vars)
        ins = tuple(atom(t) for t in toks[1:])
        eqns.append(Eqn(prim, ins, params, out_vars, None))
    outputs = tuple(atom(t) for t in _split_top(m.group(3).strip()))
    return Graph(inputs, tuple(eqns), outputs)


def _parse_params(text: str, out_vars) -> dict:
    params = {}
    for item in _split_top(text):
        key, value = item.split("=", 1)
        if value.startswith("<"):
            raise IRError(f"parameter {key} was printed as a digest ({value}); it cannot be "
                          "parsed back (only constants of at most "
                          f"{INLINE_CONST_LIMIT} elements print in full)")
        v = ast.literal_eval(value)
        if key == "value":
            v = np.array(v, dtype=out_vars[0].aval.dtype).reshape(out_vars[0].aval.shape)
            v.flags.writeable = False
        params[key] = v
    return params
