"""The text form of graphs: print -> parse -> print is the identity on every case row and on whole
functions, names are deterministic, literals and small constants survive the trip (inf, nan,
ints, bools), large constants refuse to parse, and ``verify`` rejects broken graphs.
"""
from __future__ import annotations

import math
import zlib
from contextlib import contextmanager

import numpy as np
import pytest

import tracegrad
from tracegrad import lax
from tracegrad.codegen.executable import NumpyExecutable
from tracegrad.codegen.numpy_lowerings import register_lowering, unregister_lowering
from tracegrad.errors import IRError
from tracegrad.interpreter import eval_graph
from tracegrad.ir import AVal, Eqn, Graph, Lit, Var, make_lit, verify
from tracegrad.primitive import PRIMITIVES, Primitive, Traits, get_primitive
from tracegrad.printing import INLINE_CONST_LIMIT, format_graph, parse_graph

from cases import CASES, make_args, shapes_id

F64 = np.dtype("float64")
F32 = np.dtype("float32")

PARAMS = [pytest.param(case, shape_set, dtype, id=f"{case.id}-{shapes_id(shape_set)}-{dtype}")
          for case in CASES for shape_set in case.shapes for dtype in case.dtypes]


def traced(fn, *args) -> Graph:
    return tracegrad.make_ir(fn, stage="traced")(*args)


def assert_same_values(got, want):
    """Bit-for-bit: a parsed graph must compute exactly what the original computes."""
    assert len(got) == len(want)
    for g, w in zip(got, want):
        g, w = np.asarray(g), np.asarray(w)
        assert (g.dtype, g.shape) == (w.dtype, w.shape)
        np.testing.assert_array_equal(g, w)


def assert_round_trips(graph: Graph, args=None) -> Graph:
    """parse(print(g)) verifies, prints identically (also from the dump with source comments)
    and, given arguments, evaluates to the same values. Returns the parsed graph."""
    text = format_graph(graph)
    parsed = parse_graph(text)
    verify(parsed)
    assert format_graph(parsed) == text
    assert format_graph(parse_graph(format_graph(graph, show_src=True))) == text
    if args is not None:
        assert_same_values(eval_graph(parsed, args), eval_graph(graph, args))
    return parsed


# --- every case row ----------------------------------------------------------------------
@pytest.mark.parametrize("case, shape_set, dtype", PARAMS)
def test_case_graph_round_trips(case, shape_set, dtype):
    rng = np.random.default_rng(zlib.crc32(f"print/{case.id}/{shape_set}/{dtype}".encode()))
    args = make_args(case, shape_set, dtype, rng)
    graph = traced(case.fn, *args)
    verify(graph)
    if "sha256:" in format_graph(graph):  # a constant too large to print (see below)
        with pytest.raises(IRError, match="digest"):
            parse_graph(format_graph(graph))
        return
    assert_round_trips(graph, args)


# --- whole functions ---------------------------------------------------------------------
def _mlp(x, w1, b1, w2):
    h = np.tanh(x @ w1 + b1)
    return np.sum((h @ w2) ** 2) / x.shape[0]


def _softmax_xent(logits, labels):
    z = logits - np.max(logits, axis=-1, keepdims=True)
    logp = z - np.log(np.sum(np.exp(z), axis=-1, keepdims=True))
    return -np.mean(logp[np.arange(logits.shape[0]), labels])


def _layernorm(x, g, b):
    mu = np.mean(x, axis=-1, keepdims=True)
    var = np.mean((x - mu) ** 2, axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + 1e-5) * g + b


_SMALL = np.array([1.5, -np.inf, np.nan, 0.0])


def _mixed(x, n):
    y = np.where(x > 0, x, 0.1 * x)
    y = np.concatenate([y[::2], y[1:2]], axis=0) * _SMALL[:1]
    return y.cumsum(), (n * 3) // 2, x.argmax(), np.float32(2.5)


def _whole_programs():
    rng = np.random.default_rng(7)
    return {
        "mlp": (_mlp, (rng.standard_normal((4, 3)), rng.standard_normal((3, 5)),
                       rng.standard_normal(5), rng.standard_normal((5, 2)))),
        "softmax-xent": (_softmax_xent, (rng.standard_normal((4, 6)),
                                         rng.integers(0, 6, 4))),
        "layernorm": (_layernorm, (rng.standard_normal((3, 8)).astype(np.float32),
                                   np.ones(8, np.float32), np.zeros(8, np.float32))),
        "mixed": (_mixed, (rng.standard_normal(6), np.arange(3, dtype=np.int32))),
    }


@pytest.mark.parametrize("name", sorted(_whole_programs()))
def test_whole_function_round_trips(name):
    fn, args = _whole_programs()[name]
    graph = traced(fn, *args)
    assert_round_trips(graph, list(args))
    lowered = tracegrad.jit(fn, backend="numpy").lower(*args)
    assert_round_trips(lowered.ir, list(args))


def test_str_of_a_graph_is_its_text_form():
    graph = traced(_mlp, *_whole_programs()["mlp"][1])
    assert str(graph) == repr(graph) == format_graph(graph)


# --- names -------------------------------------------------------------------------------
def _tiny(a, b):
    return lax.reduce_sum(lax.tanh(lax.mul(a, b)), (0,))


def test_names_follow_definition_order():
    x = np.ones(3, np.float32)
    assert format_graph(traced(_tiny, x, x)) == (
        "{ lambda a:f32[3] b:f32[3] .\n"
        "  let c:f32[3] = mul a b\n"
        "      d:f32[3] = tanh c\n"
        "      e:f32[] = reduce_sum[axes=(0,)] d\n"
        "  in ( e ) }")


def test_names_are_deterministic():
    """Tracing the same function twice (fresh Vars, fresh jit objects) prints the same text."""
    fn, args = _whole_programs()["softmax-xent"]
    first = format_graph(traced(fn, *args))
    second = format_graph(traced(fn, *args))
    assert first == second
    jitted = [tracegrad.jit(fn, backend="numpy").lower(*args) for _ in range(2)]
    assert str(jitted[0].ir) == str(jitted[1].ir)
    assert jitted[0].source == jitted[1].source


def _chain(x, n):
    for _ in range(n):
        x = lax.add(x, 1.0)
    return x


def test_names_that_are_keywords_or_modules():
    """Past ~200 variables, names such as `if`, `in`, `is`, `np`, `or`, `rt` appear, and past
    7559 `let`: the text still parses and the generated Python still compiles."""
    x = np.zeros(2)
    graph = traced(lambda x: _chain(x, 7600), x)
    text = format_graph(graph)
    for name in ("if", "in", "is", "np", "or", "rt", "def", "for", "let"):
        assert f"\n      {name}:f64[2] = add" in text
    assert_round_trips(graph)
    out = NumpyExecutable(graph)(x)
    np.testing.assert_array_equal(out[0], np.full(2, 7600.0))


# --- literals ----------------------------------------------------------------------------
LITERAL_GRAPH = """\
{ lambda a:f64[3] b:i64[3] c:bool[3] d:f32[3] .
  let e:f64[3] = max a -inf:f64
      f:f64[3] = min e inf:f64
      g:bool[3] = ne f nan:f64
      h:i64[3] = add b -9223372036854775807:i64
      i:i64[3] = mul h 0:i64
      j:bool[3] = and c True:bool
      k:bool[3] = or j False:bool
      l:f64[3] = mul f 5e-324:f64
      m:f64[3] = add l -0.0:f64
      n:f64[3] = mul m 1.7976931348623157e+308:f64
      o:f32[3] = add d 0.1:f32
      p:f64[3] = where g n 2.5:f64
  in ( p i k o 3:i32 nan:f32 True:bool ) }"""


def test_literals_round_trip_exactly():
    graph = parse_graph(LITERAL_GRAPH)
    verify(graph)
    assert format_graph(graph) == LITERAL_GRAPH
    lits = {str(lit.value): lit for e in graph.eqns for lit in e.inputs if isinstance(lit, Lit)}
    assert lits["-inf"].value == -math.inf and type(lits["-inf"].value) is float
    assert math.isnan(lits["nan"].value)
    assert lits["-9223372036854775807"].value == -(2**63 - 1)
    assert lits["True"].value is True and lits["False"].value is False
    assert lits["5e-324"].value == 5e-324  # the smallest subnormal survives repr
    assert math.copysign(1.0, lits["-0.0"].value) == -1.0
    assert [type(a.value) for a in graph.outputs[4:]] == [int, float, bool]


def test_literal_graph_runs_the_same_everywhere():
    graph = parse_graph(LITERAL_GRAPH)
    args = [np.array([1.0, -2.0, np.inf]), np.array([1, 2, 3]), np.array([True, False, True]),
            np.array([0.5, 1.5, -2.5], np.float32)]
    want = eval_graph(graph, args, check=True)
    assert [np.asarray(w).dtype for w in want] == [F64, np.int64, bool, F32, np.int32, F32, bool]
    assert_same_values(NumpyExecutable(graph)(*args), want)


def test_lits_built_in_code_print_like_parsed_ones():
    assert format_graph(Graph((), (), (make_lit(np.float32(0.5), F32), make_lit(np.inf, F64),
                                       make_lit(np.int64(7), np.dtype("int32"))))) == \
        "{ lambda  .\n  let\n  in ( 0.5:f32 inf:f64 7:i32 ) }"


# --- constants ---------------------------------------------------------------------------
def _small_constants():
    rng = np.random.default_rng(3)
    return {
        "f64-special": np.array([1.5, -np.inf, np.inf, np.nan, -0.0, 1e-310]),
        "f32-random": rng.standard_normal((2, 3)).astype(np.float32),
        "i32": np.array([[-2**31, 0], [7, 2**31 - 1]], np.int32),
        "i64": np.array([2**62, -5], np.int64),
        "bool": np.array([[True], [False]]),
        "empty-0x3": np.zeros((0, 3), np.float32),
        "empty-2x0": np.zeros((2, 0), np.int64),
        "limit": np.arange(INLINE_CONST_LIMIT, dtype=np.float64).reshape(4, 4),
    }


@pytest.mark.parametrize("name", sorted(_small_constants()))
def test_small_constants_parse_back_equal(name):
    value = _small_constants()[name]
    graph = traced(lambda: value)
    (eqn,) = graph.eqns
    assert eqn.prim.name == "constant"
    parsed = assert_round_trips(graph)
    back = parsed.eqns[0].params["value"]
    assert (back.dtype, back.shape) == (value.dtype, value.shape)
    np.testing.assert_array_equal(back, value)  # NaNs compare equal here
    assert np.array_equal(np.signbit(back), np.signbit(value))  # -0.0 stays negative
    assert not back.flags.writeable  # constants are immutable like the graph


def test_large_constants_print_a_digest_and_refuse_to_parse():
    value = np.arange(INLINE_CONST_LIMIT + 1, dtype=np.float64)
    text = format_graph(traced(lambda x: lax.add(x, value), np.ones(INLINE_CONST_LIMIT + 1)))
    assert "sha256:" in text and str(INLINE_CONST_LIMIT + 1) in text
    with pytest.raises(IRError, match="digest"):
        parse_graph(text)


def test_numpy_scalar_params_print_as_python_values():
    """np.int64 in params would print as ``np.int64(2)``, which does not parse."""
    a = Var(AVal((4, 6), F64))
    out = Var(AVal((2, 6), F64))
    eqn = Eqn(get_primitive("slice"), (a,), dict(start_indices=(np.int64(0), 0),
                                                limit_indices=(np.int64(4), 6),
                                                strides=(np.int32(2), 1)), (out,))
    graph = verify(Graph((a,), (eqn,), (out,)))
    text = format_graph(graph)
    assert "np." not in text
    assert_round_trips(graph, [np.arange(24.0).reshape(4, 6)])


# --- graphs as parameters ----------------------------------------------------------------
class _Double(tracegrad.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * 2

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * x


def test_nested_graph_params_round_trip():
    """A custom-rule call carries its forward and backward graphs as parameters; they print
    indented inside the equation (with the source comment after them) and parse back."""
    x = np.arange(3.0)
    graph = traced(lambda x: lax.reduce_sum(_Double.apply(x), (0,)), x)
    assert any(isinstance(v, Graph) for e in graph.eqns for v in e.params.values())
    parsed = assert_round_trips(graph, [x])
    nested = [v for e in parsed.eqns for v in e.params.values() if isinstance(v, Graph)]
    assert nested and all(verify(g) for g in nested)


def test_verify_checks_nested_graphs():
    x = np.arange(3.0)
    graph = traced(lambda x: _Double.apply(x), x)
    (call,) = [e for e in graph.eqns if any(isinstance(v, Graph) for v in e.params.values())]
    key = next(k for k, v in call.params.items() if isinstance(v, Graph))
    body = call.params[key]
    broken = Graph(body.inputs, body.eqns, (Var(body.outputs[0].aval),) + body.outputs[1:])
    bad = Graph(graph.inputs, tuple(e.replace(params={**e.params, key: broken}) if e is call
                                    else e for e in graph.eqns), graph.outputs)
    with pytest.raises(IRError, match=f"in parameter {key}: graph outputs"):
        verify(bad)


# --- multiple outputs --------------------------------------------------------------------
@contextmanager
def temporary_primitive():
    """A two-output primitive registered only for the duration of a test (no built-in
    primitive has several outputs yet; the printer, parser, verifier, interpreter and
    emitter must all handle them)."""
    prim = Primitive(
        "test_two_outputs", kind="elementwise",
        abstract_eval=lambda x: [x, x.update(dtype=np.dtype(bool))],
        impl=lambda x: (x * 2, x > 0),
        multiple_results=True, traits=Traits())
    register_lowering(prim, lambda ins, oa: f"({ins[0]} * 2, {ins[0]} > 0)")
    try:
        yield prim
    finally:
        unregister_lowering(prim)
        del PRIMITIVES[prim.name]


def test_multi_output_equations_round_trip_and_run():
    with temporary_primitive() as prim:
        a = Var(AVal((3,), F64))
        b, c = Var(AVal((3,), F64)), Var(AVal((3,), np.dtype(bool)))
        d = Var(AVal((3,), F64))
        graph = verify(Graph((a,), (Eqn(prim, (a,), {}, (b, c)),
                                    Eqn(get_primitive("where"), (c, b, a), {}, (d,))), (d, c)))
        text = format_graph(graph)
        assert "\n  let b:f64[3] c:bool[3] = test_two_outputs a\n" in text
        x = np.array([-1.0, 0.5, 2.0])
        assert_round_trips(graph, [x])
        want = [np.where(x > 0, 2 * x, x), x > 0]
        assert_same_values(eval_graph(graph, [x], check=True), want)
        assert_same_values(NumpyExecutable(graph)(x), want)


# --- parse errors ------------------------------------------------------------------------
@pytest.mark.parametrize("text, match", [
    ("{ lambda a:f32[3] .\n  let b:f32[3] = frobnicate a\n  in ( b ) }", "unknown primitive"),
    ("{ lambda a:f32[3] .\n  let a:f32[3] = neg a\n  in ( a ) }", "defined twice"),
    ("{ lambda a:f32[3] .\n  let b:f32[3] = add a c\n  in ( b ) }", "before it is defined"),
    ("{ lambda a:f32[3] .\n  let b:f32[3] = neg b\n  in ( b ) }", "before it is defined"),
    ("{ lambda a:f16[3] .\n  let\n  in ( a ) }", "bad type"),
    ("{ lambda a:f32[3] .\n  let b:f32[3] = add a 1.0:f16\n  in ( b ) }", "bad literal"),
    ("{ lambda a:f32[3] .\n  let b:f32[3] = add a __import__('os'):f32\n  in ( b ) }",
     "cannot parse"),
    ("lambda a: a", "not a graph"),
])
def test_parse_errors_are_ir_errors(text, match):
    with pytest.raises(IRError, match=match):
        parse_graph(text)


# --- verify ------------------------------------------------------------------------------
def _p(name):
    return get_primitive(name)


def _vars(*avals):
    return [Var(a) for a in avals]


V3 = AVal((3,), F64)


def test_verify_accepts_a_good_graph():
    a, b, c = _vars(V3, V3, V3)
    verify(Graph((a,), (Eqn(_p("neg"), (a,), {}, (b,)), Eqn(_p("add"), (b, a), {}, (c,))),
                 (c, a, make_lit(1.0, F64))))


def test_verify_catches_use_before_definition():
    a, b, c = _vars(V3, V3, V3)
    graph = Graph((a,), (Eqn(_p("add"), (a, c), {}, (b,)), Eqn(_p("neg"), (a,), {}, (c,))), (b,))
    with pytest.raises(IRError, match="variable c used before it is defined") as info:
        verify(graph)
    assert "equation 0 `b:f64[3] = add a c`" in str(info.value)  # named as in the dump


def test_verify_catches_undefined_outputs():
    a, b = _vars(V3, V3)
    with pytest.raises(IRError, match="graph outputs: variable b used before"):
        verify(Graph((a,), (), (b,)))


def test_verify_catches_double_definition():
    a, b = _vars(V3, V3)
    twice = Graph((a,), (Eqn(_p("neg"), (a,), {}, (b,)), Eqn(_p("exp"), (a,), {}, (b,))), (b,))
    with pytest.raises(IRError, match="equation 1 .*variable b defined twice"):
        verify(twice)
    shadows_input = Graph((a,), (Eqn(_p("neg"), (a,), {}, (a,)),), (a,))
    with pytest.raises(IRError, match="defined twice"):
        verify(shadows_input)
    with pytest.raises(IRError, match="defined twice"):
        verify(Graph((a, a), (), (a,)))


@pytest.mark.parametrize("out_aval", [AVal((2,), F64), AVal((3,), F32), AVal((), F64)],
                         ids=str)
def test_verify_catches_wrong_output_aval(out_aval):
    a, b = _vars(V3, out_aval)
    with pytest.raises(IRError, match=r"outputs \[.*\] but the rule gives \['f64\[3\]'\]"):
        verify(Graph((a,), (Eqn(_p("add"), (a, a), {}, (b,)),), (b,)))


def test_verify_catches_rule_failures():
    a, b, c = _vars(V3, AVal((3,), F32), V3)
    with pytest.raises(IRError, match="shape/dtype rule failed"):
        verify(Graph((a, b), (Eqn(_p("add"), (a, b), {}, (c,)),), (c,)))
    with pytest.raises(IRError, match="shape/dtype rule failed"):
        verify(Graph((a,), (Eqn(_p("neg"), (a, a), {}, (c,)),), (c,)))  # wrong arity


def test_verify_catches_implicit_scalar_broadcast():
    """Only scalar literals broadcast; a scalar variable needs an explicit broadcast_in_dim."""
    a, s, c = _vars(V3, AVal((), F64), V3)
    with pytest.raises(IRError, match="broadcast_in_dim"):
        verify(Graph((a, s), (Eqn(_p("mul"), (a, s), {}, (c,)),), (c,)))
    verify(Graph((a,), (Eqn(_p("mul"), (a, make_lit(2.0, F64)), {}, (c,)),), (c,)))


@pytest.mark.parametrize("lit", [Lit(np.float64(1.0), AVal((), F64)), Lit(1, AVal((), F64)),
                                 Lit(1.0, AVal((3,), F64)), Lit(True, AVal((), np.dtype("int64")))],
                         ids=["numpy-scalar", "int-for-float", "non-scalar", "bool-for-int"])
def test_verify_catches_bad_literals(lit):
    a, c = _vars(V3, V3)
    dt = lit.aval.dtype
    a = Var(AVal((3,), dt))
    c = Var(AVal((3,), dt))
    with pytest.raises(IRError, match="literal"):
        verify(Graph((a,), (Eqn(_p("add"), (a, lit), {}, (c,)),), (c,)))
