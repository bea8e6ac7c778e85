"""The NumPy emitter on the corners the case rows do not reach: literals that alone decide an
equation's dtype, names that are not valid Python, and the choice of ``np.matmul``.

Each test holds the generated function's raw return values (before the executable's final
cast) to the graph's declared avals.
"""
from __future__ import annotations

import numpy as np
import pytest

from tracegrad.codegen.executable import NumpyExecutable
from tracegrad.codegen.numpy_emit import emit_numpy, py_ident
from tracegrad.interpreter import eval_graph
from tracegrad.ir import AVal, Eqn, Graph, Var, verify
from tracegrad.primitive import get_primitive
from tracegrad.printing import parse_graph


def run_raw(graph: Graph, *args) -> list[np.ndarray]:
    """The generated function's own outputs, checked against the graph's avals."""
    exe = NumpyExecutable(verify(graph))
    outs = exe._fn(*args)
    for o, aval in zip(outs, graph.out_avals):
        o = np.asarray(o)
        assert (o.dtype, o.shape) == (aval.dtype, aval.shape), exe.source
    return [np.asarray(o) for o in outs]


@pytest.mark.parametrize("text", [
    # only the literals say float32: bare Python floats would make np.where return float64
    "{ lambda a:bool[3] .\n  let b:f32[3] = where a 1.5:f32 -2.0:f32\n  in ( b ) }",
    "{ lambda a:bool[3] .\n  let b:i32[3] = where a 7:i32 0:i32\n  in ( b ) }",
    # an identity of a literal is the literal itself, then used as an operand
    "{ lambda a:f32[] .\n  let b:f32[] = stop_gradient 0.1:f32\n      c:f32[] = add b 0.2:f32\n"
    "      d:f32[] = mul c a\n  in ( d ) }",
    "{ lambda  .\n  let a:f32[] = add 0.1:f32 0.2:f32\n  in ( a ) }",
    "{ lambda a:f32[2] .\n  let b:f32[3] = pad[high=(1,) interior=(0,) low=(0,)] a 0.5:f32\n"
    "  in ( b ) }",
])
def test_literals_keep_their_dtype(text):
    graph = parse_graph(text)
    args = [np.array([True, False, True]) if v.aval.dtype == bool
            else np.ones(v.aval.shape, v.aval.dtype) for v in graph.inputs]
    got = run_raw(graph, *args)
    want = eval_graph(graph, args, check=True)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("name, ident", [("not", "not_"), ("np", "np_"), ("rt", "rt_"),
                                         ("lambda", "lambda_"), ("<lambda>", "_lambda_"),
                                         ("3d", "fn_3d"), ("loss", "loss")])
def test_function_names_become_identifiers(name, ident):
    assert py_ident(name) == ident
    graph = parse_graph("{ lambda a:f64[2] .\n  let b:f64[2] = neg a\n  in ( b ) }")
    exe = NumpyExecutable(graph, name)
    np.testing.assert_array_equal(exe(np.ones(2))[0], -np.ones(2))


def _dot_graph(a_shape, b_shape, dn):
    a, b = Var(AVal(a_shape, np.dtype("float64"))), Var(AVal(b_shape, np.dtype("float64")))
    prim = get_primitive("dot_general")
    (out_aval,) = prim.abstract_eval([a.aval, b.aval], dimension_numbers=dn)
    out = Var(out_aval)
    return Graph((a, b), (Eqn(prim, (a, b), {"dimension_numbers": dn}, (out,)),), (out,))


MATMUL = (((1,), (0,)), ((), ()))


@pytest.mark.parametrize("a_shape, b_shape, dn, is_matmul", [
    ((2, 3), (3, 4), MATMUL, True),
    ((2, 3), (3,), MATMUL, True),
    ((3,), (3, 4), (((0,), (0,)), ((), ())), True),
    ((2, 3, 4), (4, 5), (((2,), (0,)), ((), ())), True),   # matmul broadcasts a's leading axes
    ((2, 3, 4), (3, 5), MATMUL, False),                    # a's middle axis: not a matmul
    ((2, 3), (3, 4, 5), MATMUL, False),                    # a 3-d b would be a batch
    ((2, 3, 4), (2, 4, 5), (((2,), (1,)), ((0,), (0,))), False),
])
def test_matmul_only_where_it_is_the_contraction(a_shape, b_shape, dn, is_matmul):
    graph = _dot_graph(a_shape, b_shape, dn)
    source, _ = emit_numpy(graph)
    assert ("np.matmul(" in source) == is_matmul, source
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(a_shape), rng.standard_normal(b_shape)
    (got,) = run_raw(graph, a, b)
    (want,) = eval_graph(graph, [a, b], check=True)
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_generated_lines_stay_single_lines():
    """Every equation is one source line with its IR comment, whatever its parameters print."""
    graph = parse_graph("{ lambda a:f64[2,2] .\n  let b:f64[2,2] = add a a\n  in ( b a ) }")
    source, _ = emit_numpy(graph, "f")
    lines = source.splitlines()
    assert lines[2].strip().startswith("b = np.add(a, a)  # b:f64[2,2] = add a a")
    assert lines[-1].strip() == "return (b, a)"
