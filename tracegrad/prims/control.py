"""Loop and branch primitives: ``scan``, ``while`` and ``cond`` carry nested graphs in their
parameters (DESIGN.md section 10, "Sub-graphs").

  scan[body num_consts num_carry length reverse checkpoint] consts... init... xs...
      body: (consts..., carry..., x slices...) -> (carry..., y slices...)
      -> (final carry..., ys...) where ys stack the y slices along a new leading axis.
      ``reverse`` walks t = length-1 .. 0 (ys[t] is still step t's slice); ``checkpoint``
      (0: off) is how many steps reverse mode recomputes between stored carries.
  while[cond body cond_nconsts body_nconsts max_iter] cond_consts... body_consts... init...
      cond: (cond_consts..., carry...) -> bool[]; body: (body_consts..., carry...) -> carry...
      ``max_iter`` (None: unbounded) caps the number of iterations; with it the loop is
      differentiable in reverse mode (a bounded tape).
  cond[branches] index operands...
      branches: a tuple of graphs (operands...) -> outputs, all of one signature; ``index``
      (int32 scalar) picks one, clamped to the valid range as ``lax.switch`` does.

The shape rules check what the nested graphs promise (carry types equal in and out ...), so a
malformed loop is an ``IRError`` at ``verify``; the friendly errors that name the user's line
come earlier, from ``tracegrad/control_flow.py``. The derivative rules are in
``control_rules.py`` beside this file (they build new nested graphs).
"""
from __future__ import annotations

from ..errors import IRError
from ..ir import AVal, Graph
from ..primitive import Primitive, Traits
from .loop_runtime import run_cond, run_scan, run_while


def _check(ok: bool, what: str) -> None:
    if not ok:
        raise IRError(what)


def _fmt(avals) -> str:
    return "(" + ", ".join(str(a) for a in avals) + ")"


# --- scan --------------------------------------------------------------------------------------
def scan_slices(body: Graph, num_consts: int, num_carry: int) -> tuple[list, list]:
    """The avals of one step's ``x`` slices (body inputs) and ``y`` slices (body outputs)."""
    return body.in_avals[num_consts + num_carry:], body.out_avals[num_carry:]


def _scan_rule(*avals, body, num_consts, num_carry, length, reverse, checkpoint):
    _check(isinstance(body, Graph), "scan: body must be a Graph")
    _check(isinstance(length, int) and length >= 0, f"scan: length {length!r} is not a count")
    _check(len(avals) == len(body.inputs),
           f"scan: {len(avals)} operands but the body takes {len(body.inputs)}")
    ins = body.in_avals
    consts, init, xs = (avals[:num_consts], avals[num_consts:num_consts + num_carry],
                        avals[num_consts + num_carry:])
    _check(list(consts) == ins[:num_consts],
           f"scan: constants {_fmt(consts)} but the body takes {_fmt(ins[:num_consts])}")
    carry_in = ins[num_consts:num_consts + num_carry]
    carry_out = body.out_avals[:num_carry]
    _check(list(init) == carry_in and carry_out == carry_in,
           f"scan: the carry must keep its types: init {_fmt(init)}, body takes "
           f"{_fmt(carry_in)} and returns {_fmt(carry_out)}")
    x_slices, y_slices = scan_slices(body, num_consts, num_carry)
    for x, s in zip(xs, x_slices):
        _check(x.shape[:1] == (length,) and AVal(x.shape[1:], x.dtype) == s,
               f"scan: xs operand {x} is not {length} steps of {s}")
    return list(init) + [AVal((length,) + y.shape, y.dtype) for y in y_slices]


def _scan_impl(*args, body, num_consts, num_carry, length, reverse, checkpoint):
    from ..interpreter import eval_graph
    return run_scan(lambda *a: eval_graph(body, list(a)), num_consts, num_carry, length,
                    reverse, [o.dtype for o in body.out_avals[num_carry:]],
                    [o.shape for o in body.out_avals[num_carry:]], *args)


scan_p = Primitive(
    "scan", kind="control", abstract_eval=_scan_rule, impl=_scan_impl, multiple_results=True,
    doc="body: (consts, carry, x slices) -> (carry, y slices), run `length` times",
    traits=Traits(foldable=False))


# --- while -------------------------------------------------------------------------------------
def _while_rule(*avals, cond, body, cond_nconsts, body_nconsts, max_iter):
    _check(isinstance(cond, Graph) and isinstance(body, Graph),
           "while: cond and body must be Graphs")
    _check(max_iter is None or (isinstance(max_iter, int) and max_iter >= 0),
           f"while: max_iter {max_iter!r} is not a count")
    cc, bc, init = (avals[:cond_nconsts], avals[cond_nconsts:cond_nconsts + body_nconsts],
                    avals[cond_nconsts + body_nconsts:])
    _check(list(cc) + list(init) == cond.in_avals,
           f"while: cond takes {_fmt(cond.in_avals)}, given {_fmt(list(cc) + list(init))}")
    _check(list(bc) + list(init) == body.in_avals,
           f"while: body takes {_fmt(body.in_avals)}, given {_fmt(list(bc) + list(init))}")
    _check(cond.out_avals == [AVal((), _BOOL)],
           f"while: cond must return one bool[] scalar, returns {_fmt(cond.out_avals)}")
    _check(body.out_avals == list(init),
           f"while: the carry must keep its types: init {_fmt(init)}, body returns "
           f"{_fmt(body.out_avals)}")
    return list(init)


def _while_impl(*args, cond, body, cond_nconsts, body_nconsts, max_iter):
    from ..interpreter import eval_graph
    return run_while(lambda *a: eval_graph(cond, list(a)), lambda *a: eval_graph(body, list(a)),
                     cond_nconsts, body_nconsts, max_iter, *args)


while_p = Primitive(
    "while", kind="control", abstract_eval=_while_rule, impl=_while_impl, multiple_results=True,
    doc="repeat body on the carry while cond holds (at most max_iter times when given)",
    traits=Traits(foldable=False))


# --- cond --------------------------------------------------------------------------------------
def _cond_rule(index, *avals, branches):
    _check(isinstance(branches, tuple) and len(branches) >= 1 and
           all(isinstance(b, Graph) for b in branches), "cond: branches must be a tuple of Graphs")
    _check(index.shape == () and index.dtype == _INT32,
           f"cond: the index must be an i32[] scalar, got {index}")
    first = branches[0]
    for k, b in enumerate(branches):
        _check(b.in_avals == list(avals),
               f"cond: branch {k} takes {_fmt(b.in_avals)}, given {_fmt(avals)}")
        _check(b.out_avals == first.out_avals,
               f"cond: branch {k} returns {_fmt(b.out_avals)} but branch 0 returns "
               f"{_fmt(first.out_avals)}")
    return list(first.out_avals)


def _cond_impl(index, *args, branches):
    from ..interpreter import eval_graph
    return run_cond([lambda *a, b=b: eval_graph(b, list(a)) for b in branches], index, *args)


cond_p = Primitive(
    "cond", kind="control", abstract_eval=_cond_rule, impl=_cond_impl, multiple_results=True,
    doc="run branches[index] on the operands (index clamped to the branches)",
    traits=Traits(foldable=False))


def _dtypes():
    import numpy as np
    return np.dtype("bool"), np.dtype("int32")


_BOOL, _INT32 = _dtypes()

from . import control_rules  # noqa: E402,F401  (the derivative rules, keyed by these primitives)
from . import control_batching  # noqa: E402,F401  (their batching rules)
