"""NumPy lowerings of loops and branches: each nested graph becomes a generated function in the
same module (defined above the function that uses it), and the equation a call of the runtime's
loop (``rt.run_scan``/``run_while``/``run_cond``, tracegrad/prims/loop_runtime.py) over it.
Code is generated once per body, whatever the trip count.
"""
from __future__ import annotations

from tracegrad.ir import replace_subgraphs, subgraphs
from tracegrad.prims import cond_p, scan_p, while_p

from .numpy_lowerings import register_lowering


def bind_subgraphs(e, consts: dict, prelude: list, owner: str) -> dict:
    """``e.params`` with each nested graph replaced by the name of a generated function
    (its source appended to ``prelude``, its constants added to ``consts``)."""
    if not subgraphs(e.params):
        return e.params
    from .numpy_emit import py_ident
    counter = iter(range(1 << 30))

    def compile_one(graph):
        name = py_ident(f"_{owner}_body{next(counter)}")
        source, body_consts = emit_function(graph, name)
        prelude.append(source)
        consts.update(body_consts)
        return name
    return replace_subgraphs(e.params, compile_one)


def emit_function(graph, name: str) -> tuple[str, dict]:
    """Source and constants of a function evaluating ``graph`` (no memory plan: a body's
    temporaries are NumPy's); constants are prefixed with the function's name."""
    if any(e.prim.name == "fused" for e in graph.eqns):
        from .numpy_plan import emit_numpy_planned
        source, consts, _ = emit_numpy_planned(graph, None, name, const_prefix=name)
    else:
        from .numpy_emit import emit_numpy
        source, consts = emit_numpy(graph, name, const_prefix=name)
    return source, consts


def _dtype(d) -> str:
    return f"np.{d.name}" if d.name != "bool" else "np.bool_"


def _scan(ins, out_avals, *, body, num_consts, num_carry, length, reverse, checkpoint):
    ys = out_avals[num_carry:]
    dts = "(" + "".join(f"{_dtype(a.dtype)}, " for a in ys) + ")"
    shapes = "(" + "".join(f"{a.shape[1:]!r}, " for a in ys) + ")"
    args = "".join(f", {a}" for a in ins)
    return (f"rt.run_scan({body}, {num_consts}, {num_carry}, {length}, {bool(reverse)}, {dts}, "
            f"{shapes}{args})")


def _while(ins, out_avals, *, cond, body, cond_nconsts, body_nconsts, max_iter):
    args = "".join(f", {a}" for a in ins)
    return (f"rt.run_while({cond}, {body}, {cond_nconsts}, {body_nconsts}, {max_iter!r}"
            f"{args})")


def _cond(ins, out_avals, *, branches):
    args = "".join(f", {a}" for a in ins)
    return f"rt.run_cond(({''.join(f'{b}, ' for b in branches)}){args})"


register_lowering(scan_p, _scan)
register_lowering(while_p, _while)
register_lowering(cond_p, _cond)
