"""One row per (rule, program) for tests/test_rule_near_miss.py: where each rule of simplify and
stabilize fires, and near-misses where it must not (axes permuted, a broadcast along the wrong
dimension, keepdims or not, another dtype, another operand, another literal).

A program is either IR text (simplify: the patterns are easiest to state on the IR) or a NumPy
function with its arguments (stabilize: the shapes users write), traced before the pass runs.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

import numpy as np

import tracegrad as tg
from tracegrad.interpreter import eval_graph
from tracegrad.ir import Graph, verify
from tracegrad.passes.registry import _load_passes
from tracegrad.passes.rewrite import rewrite_fixpoint
from tracegrad.printing import parse_graph

_load_passes()  # every pass registered, whichever test imports this first


@dataclass(frozen=True)
class Case:
    module: str          # "simplify" or "stabilize"
    rule: str            # the rule's one-line doc
    fires: bool          # True: the rule must fire; False: a near-miss it must leave alone
    name: str
    program: object      # IR text, or a NumPy function
    shapes: tuple = ()   # argument shapes (float64) for a function
    grad: object = False  # True: check the gradient against finite differences;
    # "stop_gradient": against the gradient derived without stabilize (a stop_gradient is not
    # what finite differences see)

    @property
    def id(self) -> str:
        return f"{self.module}:{'fires' if self.fires else 'miss'}:{self.name}"


def rule_tables() -> dict:
    return {m: {r.doc for rs in importlib.import_module(f"tracegrad.passes.{m}").RULES.values()
                for r in rs} for m in ("simplify", "stabilize")}


def ir(inputs: str, *lines: str, out: str) -> str:
    body = "\n      ".join(lines)
    return f"{{ lambda {inputs} .\n  let {body}\n  in ( {out} ) }}"


def _args_for(graph, rng) -> list:
    out = []
    for v in graph.inputs:
        shape, dt = v.aval.shape, np.dtype(v.aval.dtype)
        if dt.kind == "b":
            out.append(rng.random(shape) < 0.5)
        elif dt.kind in "iu":
            out.append(rng.integers(-5, 6, shape).astype(dt))
        else:
            out.append(rng.normal(size=shape).astype(dt))
    return out


def run_case(case: Case) -> None:
    rng = np.random.default_rng(0)
    if isinstance(case.program, str):
        graph = verify(parse_graph(case.program))
        args = _args_for(graph, rng)
        expected = [np.asarray(v) for v in eval_graph(graph, args)]
    else:
        args = [rng.normal(size=s) * 2.0 for s in case.shapes]
        graph = tg.make_ir(case.program, stage="traced")(*args)
        ref = case.program(*args)
        expected = [np.asarray(r) for r in (ref if isinstance(ref, tuple) else (ref,))]
    rules = importlib.import_module(f"tracegrad.passes.{case.module}").RULES
    hits: dict = {}
    out = verify(rewrite_fixpoint(graph, rules, hits=hits))
    assert (case.rule in hits) == case.fires, (
        f"rule {case.rule!r} {'did not fire' if case.fires else 'fired on a near-miss'}; "
        f"rules that fired: {sorted(hits)}\nbefore:\n{graph}\nafter:\n{out}")
    got = eval_graph(out, args)
    for g, e in zip(got, expected):
        g = np.asarray(g)
        assert g.shape == e.shape and g.dtype == e.dtype, (g.shape, g.dtype, e.shape, e.dtype)
        np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12, equal_nan=True)
    if case.module == "simplify" and isinstance(case.program, str) and \
            not any(e.prim.name in ("dot_general", "reduce_sum") for e in graph.eqns):
        # (a sum's zero is +0.0 however its terms are signed: dot -> mul may flip it, as
        # NumPy's own reductions do between BLAS and pairwise summation)
        _check_special_values(graph, out)
    if case.grad:
        _check_gradient(case, args, expected[0].shape)


SPECIAL = (0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 2.5)


def _check_special_values(before, after) -> None:
    """A simplification is an identity on every float, not only on normal ones: signed zeros,
    infinities and NaN give the same results (the sign of a zero included: 1 / (0 - x) at
    x = 0 is +inf, and atan2(0 - x, -1) is pi, not -pi)."""
    args = []
    for v in before.inputs:
        shape, dt = v.aval.shape, np.dtype(v.aval.dtype)
        if dt.kind != "f":
            args.append(_args_for(Graph((v,), (), ()), np.random.default_rng(1))[0])
            continue
        n = int(np.prod(shape))
        args.append(np.resize(np.array(SPECIAL, dt), n).reshape(shape))
    with np.errstate(all="ignore"):
        want = [np.asarray(r) for r in eval_graph(before, args)]
        got = [np.asarray(r) for r in eval_graph(after, args)]
    for g, e in zip(got, want):
        if e.dtype.kind != "f":
            np.testing.assert_array_equal(g, e)
            continue
        assert np.array_equal(np.isnan(g), np.isnan(e)), (args, g, e)
        ok = ~np.isnan(e)
        assert np.array_equal(np.signbit(g[ok]), np.signbit(e[ok])), \
            f"the rewrite changes a sign (of a zero or an infinity) at {args}: {g} vs {e}"
        np.testing.assert_allclose(g[ok], e[ok], rtol=1e-12, atol=0)


def _check_gradient(case: Case, args, out_shape) -> None:
    """Against finite differences; a program with a stop_gradient (whose derivative is not the
    finite difference by design) against its gradient derived with stabilize switched off."""
    from tracegrad.testing import check_grads
    w = np.linspace(0.5, 2.0, int(np.prod(out_shape)) or 1).reshape(out_shape)

    def loss(*xs):
        return np.sum(case.program(*xs) * w)

    if case.grad != "stop_gradient":
        check_grads(loss, tuple(args))
        return
    from unittest import mock

    from tracegrad.passes import registry
    argnums = tuple(range(len(args)))
    got = tg.grad(loss, argnums=argnums)(*args)
    with mock.patch.object(registry, "PRE_AD", [p for p in registry.PRE_AD if p != "stabilize"]):
        ref = tg.grad(loss, argnums=argnums)(*args)
    for g, r in zip(got, ref):
        np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-12)


# --- simplify (IR text) ------------------------------------------------------------------------
F3, F3B = "a:f64[3]", "a:f64[3] b:f64[3]"


_TDOT = ("transpose(dot_general(x, y)) swapping the free axes -> dot_general(y, x) "
         "(the BLAS may sum in another order)")


_TOP = ("dot_general(transpose(x), y) -> dot_general(x, y) (the transpose folds into the "
        "contracted axes: a BLAS flag instead of a copy)")


def _s(rule, fires, name, program):
    return Case("simplify", rule, fires, name, program)


SIMPLIFY = [
    _s("x * 1 -> x", True, "mul_one", ir(F3, "b:f64[3] = mul a 1.0:f64", out="b")),
    _s("x * 1 -> x", False, "mul_two", ir(F3, "b:f64[3] = mul a 2.0:f64", out="b")),
    _s("x * 1 -> x", False, "mul_var", ir(F3B, "c:f64[3] = mul a b", out="c")),
    _s("x * -1 -> neg x", True, "mul_minus_one", ir(F3, "b:f64[3] = mul -1.0:f64 a", out="b")),
    _s("x * -1 -> neg x", False, "mul_minus_two", ir(F3, "b:f64[3] = mul a -2.0:f64", out="b")),
    _s("x + (-0.0) -> x (floats; x + 0 for ints: -0.0 + 0.0 is +0.0, so not +0.0)", True,
       "add_zero", ir(F3, "b:f64[3] = add -0.0:f64 a", out="b")),
    _s("x + (-0.0) -> x (floats; x + 0 for ints: -0.0 + 0.0 is +0.0, so not +0.0)", True,
       "add_int_zero", ir("a:i32[2]", "b:i32[2] = add a 0:i32", out="b")),
    _s("x + (-0.0) -> x (floats; x + 0 for ints: -0.0 + 0.0 is +0.0, so not +0.0)", False,
       "add_plus_zero", ir(F3, "b:f64[3] = add a 0.0:f64", out="b")),
    _s("x + (-0.0) -> x (floats; x + 0 for ints: -0.0 + 0.0 is +0.0, so not +0.0)", False,
       "add_one", ir(F3, "b:f64[3] = add a 1.0:f64", out="b")),
    _s("x - 0 -> x", True, "sub_zero", ir("a:i32[2]", "b:i32[2] = sub a 0:i32", out="b")),
    _s("x - 0 -> x", False, "zero_minus", ir(F3, "b:f64[3] = sub 0.0:f64 a", out="b")),
    _s("x - 0 -> x", False, "sub_neg_zero", ir(F3, "b:f64[3] = sub a -0.0:f64", out="b")),
    _s("(-0.0) - x -> neg x (floats; 0 - x for ints: 0.0 - 0.0 is +0.0, neg -0.0)", True,
       "zero_sub", ir(F3, "b:f64[3] = sub -0.0:f64 a", out="b")),
    _s("(-0.0) - x -> neg x (floats; 0 - x for ints: 0.0 - 0.0 is +0.0, neg -0.0)", True,
       "int_zero_sub", ir("a:i32[2]", "b:i32[2] = sub 0:i32 a", out="b")),
    _s("(-0.0) - x -> neg x (floats; 0 - x for ints: 0.0 - 0.0 is +0.0, neg -0.0)", False,
       "plus_zero_sub", ir(F3, "b:f64[3] = sub 0.0:f64 a", out="b")),
    _s("(-0.0) - x -> neg x (floats; 0 - x for ints: 0.0 - 0.0 is +0.0, neg -0.0)", False,
       "one_sub", ir(F3, "b:f64[3] = sub 1.0:f64 a", out="b")),
    _s("x / 1 -> x", True, "div_one", ir(F3, "b:f64[3] = div a 1.0:f64", out="b")),
    _s("x / 1 -> x", False, "one_div", ir(F3, "b:f64[3] = div 1.0:f64 a", out="b")),
    _s("neg(neg x) -> x", True, "neg_neg", ir(F3, "b:f64[3] = neg a", "c:f64[3] = neg b",
                                              out="c")),
    _s("neg(neg x) -> x", False, "neg_abs", ir(F3, "b:f64[3] = abs a", "c:f64[3] = neg b",
                                               out="c")),
    _s("x + neg(y) -> x - y", True, "add_neg", ir(F3B, "c:f64[3] = neg b", "d:f64[3] = add a c",
                                                  out="d")),
    _s("x + neg(y) -> x - y", False, "add_abs", ir(F3B, "c:f64[3] = abs b",
                                                   "d:f64[3] = add a c", out="d")),
    _s("x - neg(y) -> x + y", True, "sub_neg", ir(F3B, "c:f64[3] = neg b", "d:f64[3] = sub a c",
                                                  out="d")),
    _s("x - neg(y) -> x + y", False, "neg_sub", ir(F3B, "c:f64[3] = neg b", "d:f64[3] = sub c a",
                                                   out="d")),
    _s("x * (1 / y) -> x / y (one rounding instead of two)", True, "mul_recip",
       ir(F3B, "c:f64[3] = div 1.0:f64 b", "d:f64[3] = mul a c", out="d")),
    _s("x * (1 / y) -> x / y (one rounding instead of two)", False, "mul_two_over",
       ir(F3B, "c:f64[3] = div 2.0:f64 b", "d:f64[3] = mul a c", out="d")),
    _s("x * (1 / y) -> x / y (one rounding instead of two)", False, "mul_y_over_two",
       ir(F3B, "c:f64[3] = div b 2.0:f64", "d:f64[3] = mul a c", out="d")),
    _s("x ** 1 -> x", True, "pow_one", ir(F3, "b:f64[3] = pow a 1.0:f64", out="b")),
    _s("x ** 1 -> x", False, "one_pow", ir(F3, "b:f64[3] = pow 1.0:f64 a", out="b")),
    _s("x ** 2 -> x * x (exact; NumPy's power rounds the same)", True, "pow_two",
       ir(F3, "b:f64[3] = pow a 2.0:f64", out="b")),
    _s("x ** 2 -> x * x (exact; NumPy's power rounds the same)", False, "two_pow",
       ir(F3, "b:f64[3] = pow 2.0:f64 a", out="b")),
    _s("x ** 3 -> x * x * x (may differ from pow by one rounding)", True, "pow_three",
       ir(F3, "b:f64[3] = pow a 3.0:f64", out="b")),
    _s("x ** 3 -> x * x * x (may differ from pow by one rounding)", False, "pow_three_int",
       ir("a:i32[3]", "b:i32[3] = pow a 3:i32", out="b")),
    _s("x ** 0.5 -> sqrt x (sqrt(-0.0) is -0.0 where pow gives +0.0)", True, "pow_half",
       ir(F3, "b:f64[3] = pow a 0.5:f64", out="b")),
    _s("x ** 0.5 -> sqrt x (sqrt(-0.0) is -0.0 where pow gives +0.0)", False, "half_pow",
       ir(F3, "b:f64[3] = pow 0.5:f64 a", out="b")),
    _s("x ** -1 -> 1 / x", True, "pow_minus_one", ir(F3, "b:f64[3] = pow a -1.0:f64", out="b")),
    _s("x ** -1 -> 1 / x", False, "pow_minus_one_and_a_half",
       ir(F3, "b:f64[3] = pow a -1.5:f64", out="b")),
    _s("where(c, x, x) -> x", True, "where_same",
       ir("a:bool[3] b:f64[3]", "c:f64[3] = where a b b", out="c")),
    _s("where(c, x, x) -> x", False, "where_other",
       ir("a:bool[3] b:f64[3] c:f64[3]", "d:f64[3] = where a b c", out="d")),
    _s("where(not c, a, b) -> where(c, b, a)", True, "where_not",
       ir("a:bool[3] b:f64[3] c:f64[3]", "d:bool[3] = not a", "e:f64[3] = where d b c",
          out="e")),
    _s("where(not c, a, b) -> where(c, b, a)", False, "where_not_in_branch",
       ir("a:bool[3] b:bool[3] c:bool[3]", "d:bool[3] = not b", "e:bool[3] = where a d c",
          out="e")),
    _s("convert to the same dtype -> x", True, "convert_same",
       ir("a:f32[2]", "b:f32[2] = convert[new_dtype='float32'] a", out="b")),
    _s("convert to the same dtype -> x", False, "convert_other",
       ir("a:f32[2]", "b:f64[2] = convert[new_dtype='float64'] a", out="b")),
    _s("reshape(reshape x) -> reshape x; reshape to the same shape -> x", True, "reshape_chain",
       ir("a:f64[6]", "b:f64[2,3] = reshape[new_sizes=(2, 3)] a",
          "c:f64[3,2] = reshape[new_sizes=(3, 2)] b", out="c")),
    _s("reshape(reshape x) -> reshape x; reshape to the same shape -> x", False,
       "reshape_of_transpose",
       ir("a:f64[2,3]", "b:f64[3,2] = transpose[permutation=(1, 0)] a",
          "c:f64[6] = reshape[new_sizes=(6,)] b", out="c")),
    _s("transpose(transpose x) -> one transpose (or x)", True, "transpose_chain",
       ir("a:f64[2,3,4]", "b:f64[3,2,4] = transpose[permutation=(1, 0, 2)] a",
          "c:f64[4,3,2] = transpose[permutation=(2, 0, 1)] b", out="c")),
    _s("transpose(transpose x) -> one transpose (or x)", False, "transpose_of_reshape",
       ir("a:f64[6]", "b:f64[2,3] = reshape[new_sizes=(2, 3)] a",
          "c:f64[3,2] = transpose[permutation=(1, 0)] b", out="c")),
    _s("broadcast to its own shape -> x", True, "bcast_identity",
       ir("a:f64[2]", "b:f64[2] = broadcast_in_dim[broadcast_dimensions=(0,) shape=(2,)] a",
          out="b")),
    _s("broadcast to its own shape -> x", False, "bcast_size_one",
       ir("a:f64[1,3]",
          "b:f64[3,3] = broadcast_in_dim[broadcast_dimensions=(0, 1) shape=(3, 3)] a",
          out="b")),
    _s("broadcast(broadcast x) -> one broadcast", True, "bcast_chain",
       ir("a:f64[2]", "b:f64[3,2] = broadcast_in_dim[broadcast_dimensions=(1,) shape=(3, 2)] a",
          "c:f64[4,3,2] = broadcast_in_dim[broadcast_dimensions=(1, 2) shape=(4, 3, 2)] b",
          out="c")),
    _s("broadcast(broadcast x) -> one broadcast", True, "bcast_chain_other_axis",
       ir("a:f64[3]", "b:f64[3,3] = broadcast_in_dim[broadcast_dimensions=(1,) shape=(3, 3)] a",
          "c:f64[3,2,3] = broadcast_in_dim[broadcast_dimensions=(0, 2) shape=(3, 2, 3)] b",
          out="c")),
    _s("broadcast(broadcast x) -> one broadcast", False, "bcast_transpose_bcast",
       ir("a:f64[3]", "b:f64[3,2] = broadcast_in_dim[broadcast_dimensions=(0,) shape=(3, 2)] a",
          "c:f64[2,3] = transpose[permutation=(1, 0)] b",
          "d:f64[4,2,3] = broadcast_in_dim[broadcast_dimensions=(1, 2) shape=(4, 2, 3)] c",
          out="d")),
    _s("broadcast of a literal to shape () -> the literal", True, "bcast_lit_scalar",
       ir("a:f64[]", "b:f64[] = broadcast_in_dim[broadcast_dimensions=() shape=()] 2.0:f64",
          "c:f64[] = mul a b", out="c")),
    _s("broadcast of a literal to shape () -> the literal", False, "bcast_lit_vector",
       ir("a:f64[3]", "b:f64[3] = broadcast_in_dim[broadcast_dimensions=() shape=(3,)] 2.0:f64",
          out="b a")),
    _s("elementwise op of broadcast(literal) -> op of literal", True, "op_bcast_lit",
       ir(F3, "c:f64[3] = broadcast_in_dim[broadcast_dimensions=() shape=(3,)] 2.0:f64",
          "d:f64[3] = mul c a", out="d")),
    _s("elementwise op of broadcast(literal) -> op of literal", False, "op_bcast_var",
       ir("a:f64[3] b:f64[]",
          "c:f64[3] = broadcast_in_dim[broadcast_dimensions=() shape=(3,)] b",
          "d:f64[3] = mul c a", out="d")),
    _s("elementwise op of broadcast(literal) -> op of literal", True, "op_splat_constant",
       ir(F3, "c:f64[3] = constant[value=[1.5, 1.5, 1.5]]", "d:f64[3] = mul a c", out="d")),
    _s("elementwise op of broadcast(literal) -> op of literal", False, "op_constant_not_splat",
       ir(F3, "c:f64[3] = constant[value=[1.5, 1.5, 2.5]]", "d:f64[3] = mul a c", out="d")),
    _s("elementwise op of broadcast(literal) -> op of literal", False,
       "op_constant_mixed_signed_zeros",  # equal by ==, not by bits: no one literal is it
       ir(F3, "c:f64[3] = constant[value=[0.0, -0.0, 0.0]]", "d:f64[3] = add a c", out="d")),
    _s("elementwise op of literals -> broadcast literal", True, "fold_lits",
       ir(F3, "b:f64[3] = broadcast_in_dim[broadcast_dimensions=() shape=(3,)] 1.0:f64",
          "c:f64[3] = add b 2.0:f64", "d:f64[3] = mul c a", out="d")),
    _s("elementwise op of literals -> broadcast literal", False, "fold_var",
       ir(F3, "b:f64[3] = add a 2.0:f64", out="b")),
    _s("where(True, a, b) -> a; where(False, a, b) -> b", True, "where_true",
       ir(F3B, "c:bool[3] = broadcast_in_dim[broadcast_dimensions=() shape=(3,)] True:bool",
          "d:f64[3] = where c a b", out="d")),
    _s("where(True, a, b) -> a; where(False, a, b) -> b", False, "where_bcast_var",
       ir("a:f64[3] b:f64[3] c:bool[]",
          "d:bool[3] = broadcast_in_dim[broadcast_dimensions=() shape=(3,)] c",
          "e:f64[3] = where d a b", out="e")),
    _s("dot_general with a rank-0 operand -> mul (a scaling)", True, "dot_scalar",
       ir("a:f64[3] b:f64[]",
          "c:f64[3] = dot_general[dimension_numbers=(((), ()), ((), ()))] b a", out="c")),
    _s("dot_general with a rank-0 operand -> mul (a scaling)", False, "dot_size_one",
       ir("a:f64[1] b:f64[3]",
          "c:f64[1,3] = dot_general[dimension_numbers=(((), ()), ((), ()))] a b", out="c")),
    _s("dot_general with a rank-0 operand -> mul (a scaling)", False, "dot_vectors",
       ir("a:f64[3] b:f64[3]",
          "c:f64[] = dot_general[dimension_numbers=(((0,), (0,)), ((), ()))] a b", out="c")),
    _s(_TOP, True, "x_times_a_transposed",  # X @ A.T: A read along its rows
       ir("a:f64[4,3] b:f64[2,3]", "c:f64[3,4] = transpose[permutation=(1, 0)] a",
          "d:f64[2,4] = dot_general[dimension_numbers=(((1,), (0,)), ((), ()))] b c", out="d")),
    _s(_TOP, True, "transposed_lhs_batched",  # batch axis kept in front, inner axes swapped
       ir("a:f64[2,5,3] b:f64[2,5,4]", "c:f64[2,3,5] = transpose[permutation=(0, 2, 1)] a",
          "d:f64[2,3,4] = dot_general[dimension_numbers=(((2,), (1,)), ((0,), (0,)))] c b",
          out="d")),
    _s(_TOP, True, "transpose_with_another_reader",  # the transpose stays for its other reader
       ir("a:f64[4,3] b:f64[2,3]", "c:f64[3,4] = transpose[permutation=(1, 0)] a",
          "d:f64[2,4] = dot_general[dimension_numbers=(((1,), (0,)), ((), ()))] b c",
          "e:f64[3,4] = neg c", out="d e")),
    _s(_TOP, False, "transpose_reorders_free_axes",  # the output's axes would come out permuted
       ir("a:f64[4,5,3] b:f64[3]", "c:f64[5,4,3] = transpose[permutation=(1, 0, 2)] a",
          "d:f64[5,4] = dot_general[dimension_numbers=(((2,), (0,)), ((), ()))] c b", out="d")),
    _s(_TOP, False, "transpose_moves_the_batch_axis",  # batch axes must lead the operand
       ir("a:f64[5,2,3] b:f64[2,3,4]", "c:f64[2,5,3] = transpose[permutation=(1, 0, 2)] a",
          "d:f64[2,5,4] = dot_general[dimension_numbers=(((2,), (1,)), ((0,), (0,)))] c b",
          out="d")),
    _s(_TDOT, True, "transpose_of_vecmat",  # the HVP's cotangent row times A
       ir("a:f64[3,1] b:f64[3,4]",
          "c:f64[1,4] = dot_general[dimension_numbers=(((0,), (0,)), ((), ()))] a b",
          "d:f64[4,1] = transpose[permutation=(1, 0)] c", out="d")),
    _s(_TDOT, True, "transpose_of_batched_matmul",
       ir("a:f64[2,3,5] b:f64[2,5,4]",
          "c:f64[2,3,4] = dot_general[dimension_numbers=(((2,), (1,)), ((0,), (0,)))] a b",
          "d:f64[2,4,3] = transpose[permutation=(0, 2, 1)] c", out="d")),
    _s(_TDOT, True, "transpose_of_outer_multi_free",
       ir("a:f64[2,3] b:f64[4]",
          "c:f64[2,3,4] = dot_general[dimension_numbers=(((), ()), ((), ()))] a b",
          "d:f64[4,2,3] = transpose[permutation=(2, 0, 1)] c", out="d")),
    _s(_TDOT, False, "transpose_of_dot_with_another_reader",  # would compute the product twice
       ir("a:f64[3,2] b:f64[3,4]",
          "c:f64[2,4] = dot_general[dimension_numbers=(((0,), (0,)), ((), ()))] a b",
          "d:f64[4,2] = transpose[permutation=(1, 0)] c",
          "e:f64[2,4] = neg c", out="d e")),
    _s(_TDOT, False, "transpose_moves_batch_axis",
       ir("a:f64[2,3,5] b:f64[2,5,4]",
          "c:f64[2,3,4] = dot_general[dimension_numbers=(((2,), (1,)), ((0,), (0,)))] a b",
          "d:f64[3,2,4] = transpose[permutation=(1, 0, 2)] c", out="d")),
    _s(_TDOT, False, "transpose_within_lhs_free_block",
       ir("a:f64[2,3] b:f64[4]",
          "c:f64[2,3,4] = dot_general[dimension_numbers=(((), ()), ((), ()))] a b",
          "d:f64[4,3,2] = transpose[permutation=(2, 1, 0)] c", out="d")),
    _s(_TDOT, False, "transpose_of_reduce_not_dot",
       ir("a:f64[2,3,4]", "b:f64[2,3] = reduce_sum[axes=(2,)] a",
          "c:f64[3,2] = transpose[permutation=(1, 0)] b", out="c")),
    _s("sum of broadcast(scalar) over all axes -> scalar * count", True, "sum_bcast_all",
       ir("a:f64[]", "b:f64[2,3] = broadcast_in_dim[broadcast_dimensions=() shape=(2, 3)] a",
          "c:f64[] = reduce_sum[axes=(0, 1)] b", out="c")),
    _s("sum of broadcast(scalar) over all axes -> scalar * count", True,
       "sum_bcast_int_literal_wraps",
       ir("a:i32[4096]",
          "b:i32[4096] = broadcast_in_dim[broadcast_dimensions=() shape=(4096,)] 1048577:i32",
          "c:i32[] = reduce_sum[axes=(0,)] b", "d:i32[4096] = add a 1:i32", out="c d")),
    _s("sum of broadcast(scalar) over all axes -> scalar * count", False, "sum_bcast_one_axis",
       ir("a:f64[]", "b:f64[2,3] = broadcast_in_dim[broadcast_dimensions=() shape=(2, 3)] a",
          "c:f64[3] = reduce_sum[axes=(0,)] b", out="c")),
    _s("sum of broadcast(scalar) over all axes -> scalar * count", False, "sum_bcast_vector",
       ir("a:f64[3]", "b:f64[2,3] = broadcast_in_dim[broadcast_dimensions=(1,) shape=(2, 3)] a",
          "c:f64[] = reduce_sum[axes=(0, 1)] b", out="c")),
]


# --- stabilize (NumPy functions, traced) --------------------------------------------------------
def _sig(x):
    return 1 / (1 + np.exp(-x))


def _t(rule, fires, name, fn, shapes=((3, 3),), grad=False):
    return Case("stabilize", rule, fires, name, fn, tuple(shapes), grad)


SQ = ((3, 3),)
TWO = ((3, 3), (3, 3))
LOG1P = "log(1 + x) -> log1p(x)"
EXPM1 = "exp(x) - 1 -> expm1(x)"
SOFTPLUS = "log1p(exp(x)) -> softplus(x)"
SIGMOID = "1 / (1 + exp(-x)) -> sigmoid(x)"
LOGSIG = "log(sigmoid(x)) -> -softplus(-x)"
LOG1MSIG = "log(1 - sigmoid(x)) -> -softplus(x)"
LOG1PNEGSIG = "log1p(-sigmoid(x)) -> -softplus(x)"
LSE = "log(sum(exp(x))) -> max-shifted logsumexp"
LOGSOFTMAX = "log(softmax(x)) -> x - logsumexp(x) (log-softmax)"
HAND_LSE = ("log(sum(exp(x - m))) + m, m = max(x) -> logsumexp(x) (the shift gets no "
            "gradient)")
HAND_LOGSOFTMAX = ("(x - m) - log(sum(exp(x - m))), m = max(x) -> x - logsumexp(x) "
                   "(log-softmax)")
SOFTMAX = "exp(x) / sum(exp(x)) -> exp(x - max) / sum(exp(x - max)) (stable softmax)"
sg = tg.stop_gradient


def _max1(x):
    return x.max(1, keepdims=True)


STABILIZE = [
    _t(LOG1P, True, "log_one_plus", lambda x: np.log(1 + np.abs(x))),
    _t(LOG1P, False, "log_two_plus", lambda x: np.log(2 + np.abs(x))),
    _t(LOG1P, False, "log_x_plus_y", lambda x, y: np.log(np.abs(x) + np.abs(y)), TWO),
    _t(EXPM1, True, "exp_minus_one", lambda x: np.exp(x) - 1, grad=True),
    _t(EXPM1, False, "one_minus_exp", lambda x: 1 - np.exp(x)),
    _t(EXPM1, False, "exp_minus_two", lambda x: np.exp(x) - 2),
    _t(SOFTPLUS, True, "log1p_exp", lambda x: np.log1p(np.exp(x)), grad=True),
    _t(SOFTPLUS, False, "log1p_tanh", lambda x: np.log1p(np.tanh(np.abs(x)))),
    _t(SIGMOID, True, "sigmoid", _sig, grad=True),
    _t(SIGMOID, False, "no_neg", lambda x: 1 / (1 + np.exp(x))),
    _t(SIGMOID, False, "two_plus", lambda x: 1 / (2 + np.exp(-x))),
    _t(SIGMOID, False, "two_over", lambda x: 2 / (1 + np.exp(-x))),
    _t(LOGSIG, True, "log_sigmoid", lambda x: np.log(_sig(x)), grad=True),
    _t(LOGSIG, False, "log_tanh", lambda x: np.log(np.tanh(np.abs(x)) + 1.5)),
    _t(LOG1MSIG, True, "log_one_minus_sigmoid", lambda x: np.log(1 - _sig(x)), grad=True),
    _t(LOG1MSIG, False, "log_two_minus_sigmoid", lambda x: np.log(2 - _sig(x))),
    _t(LOG1PNEGSIG, True, "log1p_neg_sigmoid", lambda x: np.log1p(-_sig(x)), grad=True),
    _t(LOG1PNEGSIG, False, "log1p_sigmoid", lambda x: np.log1p(_sig(x))),
    _t(LSE, True, "logsumexp_axis1", lambda x: np.log(np.sum(np.exp(x), axis=1)), grad=True),
    _t(LSE, False, "log_sum_exp_times_y", lambda x, y: np.log(np.sum(np.exp(x) * np.abs(y), 1)),
       TWO),
    _t(LSE, False, "log_max_exp", lambda x: np.log(np.max(np.exp(x), 1))),
    # softmax: keepdims, and a legal non-keepdims broadcast of an axis-0 sum (rows align)
    _t(SOFTMAX, True, "softmax_keepdims",
       lambda x: np.exp(x) / np.sum(np.exp(x), axis=1, keepdims=True), grad=True),
    _t(SOFTMAX, True, "softmax_axis0", lambda x: np.exp(x) / np.sum(np.exp(x), axis=0),
       grad=True),
    _t(SOFTMAX, True, "softmax_3d_axes02",
       lambda x: np.exp(x) / np.sum(np.exp(x), axis=(0, 2), keepdims=True), ((2, 3, 2),)),
    _t(SOFTMAX, False, "sum_axis1_broadcast_along_axis0",
       lambda x: np.exp(x) / np.sum(np.exp(x), axis=1), grad=True),
    _t(SOFTMAX, False, "sum_axis0_put_back_along_axis1",
       lambda x: np.exp(x) / np.sum(np.exp(x), axis=0)[:, None], grad=True),
    _t(SOFTMAX, False, "sum_transposed",
       lambda x: np.exp(x) / np.sum(np.exp(x), axis=1, keepdims=True).T),
    _t(SOFTMAX, False, "other_operand",
       lambda x, y: np.exp(x) / np.sum(np.exp(y), axis=1, keepdims=True), TWO),
    _t(SOFTMAX, False, "stop_gradient_denominator",
       lambda x: np.exp(x) / sg(np.sum(np.exp(x), axis=1, keepdims=True)), grad="stop_gradient"),
    _t(SOFTMAX, False, "3d_sum_axes12_broadcast_along_axis2",
       lambda x: np.exp(x) / np.sum(np.exp(x), axis=(1, 2)), ((2, 2, 2),)),
    _t(SOFTMAX, True, "3d_sum_axes01_broadcast_along_axis2",
       lambda x: np.exp(x) / np.sum(np.exp(x), axis=(0, 1)), ((2, 2, 2),)),
    _t(LOGSOFTMAX, True, "log_softmax_keepdims",
       lambda x: np.log(np.exp(x) / np.sum(np.exp(x), axis=1, keepdims=True)), grad=True),
    _t(LOGSOFTMAX, False, "sum_axis0_broadcast_along_axis1",
       lambda x: np.log(np.exp(x) / np.sum(np.exp(x), axis=0)[:, None]), grad=True),
    _t(LOGSOFTMAX, False, "log_of_sum_axis1_broadcast_along_axis0",
       lambda x: np.log(np.exp(x) / np.sum(np.exp(x), axis=1))),
    _t(HAND_LSE, True, "hand_shifted_keepdims_max",
       lambda x: np.log(np.sum(np.exp(x - _max1(x)), 1)) + _max1(x)[:, 0], grad=True),
    _t(HAND_LSE, False, "hand_shifted_both_stop_gradient_already_canonical",
       lambda x: np.log(np.sum(np.exp(x - sg(_max1(x))), 1)) + sg(_max1(x))[:, 0],
       grad="stop_gradient"),
    _t(HAND_LSE, False, "max_broadcast_along_axis0",
       lambda x: np.log(np.sum(np.exp(x - x.max(1)), 1)) + x.max(1), grad=True),
    _t(HAND_LSE, False, "max_over_other_axis",
       lambda x: np.log(np.sum(np.exp(x - x.max(0, keepdims=True)), 1)) + x.max(0), grad=True),
    _t(HAND_LSE, False, "added_max_over_other_axis",
       lambda x: np.log(np.sum(np.exp(x - _max1(x)), 1)) + x.max(0), grad=True),
    _t(HAND_LSE, False, "only_shift_stop_gradient",
       lambda x: np.log(np.sum(np.exp(x - sg(_max1(x))), 1)) + _max1(x)[:, 0],
       grad="stop_gradient"),
    _t(HAND_LSE, False, "only_added_max_stop_gradient",
       lambda x: np.log(np.sum(np.exp(x - _max1(x)), 1)) + sg(_max1(x))[:, 0],
       grad="stop_gradient"),
    _t(HAND_LOGSOFTMAX, True, "hand_log_softmax",
       lambda x: (x - _max1(x)) - np.log(np.sum(np.exp(x - _max1(x)), 1))[:, None], grad=True),
    _t(HAND_LOGSOFTMAX, False, "lse_broadcast_along_axis0",
       lambda x: (x - _max1(x)) - np.log(np.sum(np.exp(x - _max1(x)), 1)), grad=True),
    _t(HAND_LOGSOFTMAX, False, "shift_over_other_axis",
       lambda x: (x - x.max(0, keepdims=True))
       - np.log(np.sum(np.exp(x - x.max(0, keepdims=True)), 1))[:, None], grad=True),
    _t(HAND_LOGSOFTMAX, False, "outer_shift_other_axis",
       lambda x: (x - x.max(0, keepdims=True))
       - np.log(np.sum(np.exp(x - _max1(x)), 1))[:, None], grad=True),
    _t(HAND_LOGSOFTMAX, False, "stop_gradient_in_one_shift",
       lambda x: (x - sg(_max1(x))) - np.log(np.sum(np.exp(x - _max1(x)), 1))[:, None],
       grad="stop_gradient"),
]

CASES = SIMPLIFY + STABILIZE
