"""Per-pass fixtures: IR text before and after each rule (parsed, passed, printed), one row per
rule; a coverage check that every rule of simplify and stabilize has a row."""
from __future__ import annotations

import pytest

from tracegrad.passes.dce import dce
from tracegrad.passes.registry import PASSES, _load_passes
from tracegrad.printing import parse_graph

_load_passes()

FIXTURES = [
    ('simplify', 'x * 1 -> x',
     '{ lambda a:f64[3] .\n  let b:f64[3] = mul a 1.0:f64\n  in ( b ) }',
     '{ lambda a:f64[3] .\n  let\n  in ( a ) }'),
    ('simplify', 'x * -1 -> neg x',
     '{ lambda a:f64[3] .\n  let b:f64[3] = mul -1.0:f64 a\n  in ( b ) }',
     '{ lambda a:f64[3] .\n  let b:f64[3] = neg a\n  in ( b ) }'),
    ('simplify', "x + (-0.0) -> x (floats; x + 0 for ints: -0.0 + 0.0 is +0.0, so not +0.0)",
     '{ lambda a:f32[2] .\n  let b:f32[2] = add -0.0:f32 a\n  in ( b ) }',
     '{ lambda a:f32[2] .\n  let\n  in ( a ) }'),
    ('simplify', 'x - 0 -> x',
     '{ lambda a:i32[2] .\n  let b:i32[2] = sub a 0:i32\n  in ( b ) }',
     '{ lambda a:i32[2] .\n  let\n  in ( a ) }'),
    ('simplify', '(-0.0) - x -> neg x (floats; 0 - x for ints: 0.0 - 0.0 is +0.0, neg -0.0)',
     '{ lambda a:f64[2] .\n  let b:f64[2] = sub -0.0:f64 a\n  in ( b ) }',
     '{ lambda a:f64[2] .\n  let b:f64[2] = neg a\n  in ( b ) }'),
    ('simplify', 'x / 1 -> x',
     '{ lambda a:f64[2] .\n  let b:f64[2] = div a 1.0:f64\n  in ( b ) }',
     '{ lambda a:f64[2] .\n  let\n  in ( a ) }'),
    ('simplify', 'neg(neg x) -> x',
     '{ lambda a:f64[2] .\n  let b:f64[2] = neg a\n      c:f64[2] = neg b\n  in ( c ) }',
     '{ lambda a:f64[2] .\n  let\n  in ( a ) }'),
    ('simplify', 'x + neg(y) -> x - y',
     '{ lambda a:f64[2] b:f64[2] .\n  let c:f64[2] = neg b\n      d:f64[2] = add a c\n  in ( d ) }',
     '{ lambda a:f64[2] b:f64[2] .\n  let c:f64[2] = sub a b\n  in ( c ) }'),
    ('simplify', 'x - neg(y) -> x + y',
     '{ lambda a:f64[2] b:f64[2] .\n  let c:f64[2] = neg b\n      d:f64[2] = sub a c\n  in ( d ) }',
     '{ lambda a:f64[2] b:f64[2] .\n  let c:f64[2] = add a b\n  in ( c ) }'),
    ('simplify', 'x * (1 / y) -> x / y (one rounding instead of two)',
     '{ lambda a:f64[2] b:f64[2] .\n  let c:f64[2] = div 1.0:f64 b\n      d:f64[2] = mul a c\n  in ( d ) }',
     '{ lambda a:f64[2] b:f64[2] .\n  let c:f64[2] = div a b\n  in ( c ) }'),
    ('simplify', 'x ** 1 -> x',
     '{ lambda a:f64[2] .\n  let b:f64[2] = pow a 1.0:f64\n  in ( b ) }',
     '{ lambda a:f64[2] .\n  let\n  in ( a ) }'),
    ('simplify', "x ** 2 -> x * x (exact; NumPy's power rounds the same)",
     '{ lambda a:f64[2] .\n  let b:f64[2] = pow a 2.0:f64\n  in ( b ) }',
     '{ lambda a:f64[2] .\n  let b:f64[2] = mul a a\n  in ( b ) }'),
    ('simplify', 'x ** 3 -> x * x * x (may differ from pow by one rounding)',
     '{ lambda a:f64[2] .\n  let b:f64[2] = pow a 3.0:f64\n  in ( b ) }',
     '{ lambda a:f64[2] .\n  let b:f64[2] = mul a a\n      c:f64[2] = mul b a\n  in ( c ) }'),
    ('simplify', 'x ** 0.5 -> sqrt x (sqrt(-0.0) is -0.0 where pow gives +0.0)',
     '{ lambda a:f64[2] .\n  let b:f64[2] = pow a 0.5:f64\n  in ( b ) }',
     '{ lambda a:f64[2] .\n  let b:f64[2] = sqrt a\n  in ( b ) }'),
    ('simplify', 'x ** -1 -> 1 / x',
     '{ lambda a:f64[2] .\n  let b:f64[2] = pow a -1.0:f64\n  in ( b ) }',
     '{ lambda a:f64[2] .\n  let b:f64[2] = div 1.0:f64 a\n  in ( b ) }'),
    ('simplify', 'where(c, x, x) -> x',
     '{ lambda a:bool[2] b:f64[2] .\n  let c:f64[2] = where a b b\n  in ( c ) }',
     '{ lambda a:bool[2] b:f64[2] .\n  let\n  in ( b ) }'),
    ('simplify', 'where(not c, a, b) -> where(c, b, a)',
     '{ lambda a:bool[2] b:f64[2] c:f64[2] .\n  let d:bool[2] = not a\n      e:f64[2] = where d b c\n  in ( e ) }',
     '{ lambda a:bool[2] b:f64[2] c:f64[2] .\n  let d:f64[2] = where a c b\n  in ( d ) }'),
    ('simplify', 'convert to the same dtype -> x',
     "{ lambda a:f32[2] .\n  let b:f32[2] = convert[new_dtype='float32'] a\n  in ( b ) }",
     '{ lambda a:f32[2] .\n  let\n  in ( a ) }'),
    ('simplify', 'reshape(reshape x) -> reshape x; reshape to the same shape -> x',
     '{ lambda a:f64[6] .\n  let b:f64[2,3] = reshape[new_sizes=(2, 3)] a\n      c:f64[3,2] = reshape[new_sizes=(3, 2)] b\n      d:f64[6] = reshape[new_sizes=(6,)] a\n  in ( c d ) }',
     '{ lambda a:f64[6] .\n  let b:f64[3,2] = reshape[new_sizes=(3, 2)] a\n  in ( b a ) }'),
    ('simplify', 'transpose(transpose x) -> one transpose (or x)',
     '{ lambda a:f64[2,3,4] .\n  let b:f64[3,2,4] = transpose[permutation=(1, 0, 2)] a\n      c:f64[2,3,4] = transpose[permutation=(1, 0, 2)] b\n      d:f64[4,3,2] = transpose[permutation=(2, 0, 1)] b\n  in ( c d ) }',
     '{ lambda a:f64[2,3,4] .\n  let b:f64[4,3,2] = transpose[permutation=(2, 1, 0)] a\n  in ( a b ) }'),
    ('simplify', 'broadcast to its own shape -> x',
     '{ lambda a:f64[2] .\n  let b:f64[2] = broadcast_in_dim[broadcast_dimensions=(0,) shape=(2,)] a\n  in ( b ) }',
     '{ lambda a:f64[2] .\n  let\n  in ( a ) }'),
    ('simplify', 'broadcast(broadcast x) -> one broadcast',
     '{ lambda a:f64[2] .\n  let b:f64[3,2] = broadcast_in_dim[broadcast_dimensions=(1,) shape=(3, 2)] a\n      c:f64[4,3,2] = broadcast_in_dim[broadcast_dimensions=(1, 2) shape=(4, 3, 2)] b\n  in ( c ) }',
     '{ lambda a:f64[2] .\n  let b:f64[4,3,2] = broadcast_in_dim[broadcast_dimensions=(2,) shape=(4, 3, 2)] a\n  in ( b ) }'),
    ('simplify', 'broadcast of a literal to shape () -> the literal',
     '{ lambda a:f64[] .\n  let b:f64[] = broadcast_in_dim[broadcast_dimensions=() shape=()] 2.0:f64\n      c:f64[] = mul a b\n  in ( c ) }',
     '{ lambda a:f64[] .\n  let b:f64[] = mul a 2.0:f64\n  in ( b ) }'),
    ('simplify', 'elementwise op of broadcast(literal) -> op of literal',
     '{ lambda b:f64[3] .\n  let c:f64[3] = broadcast_in_dim[broadcast_dimensions=() shape=(3,)] 2.0:f64\n      d:f64[3] = mul c b\n  in ( d ) }',
     '{ lambda a:f64[3] .\n  let b:f64[3] = mul 2.0:f64 a\n  in ( b ) }'),
    ('simplify', 'elementwise op of literals -> broadcast literal',
     '{ lambda a:f64[3] .\n  let b:f64[3] = broadcast_in_dim[broadcast_dimensions=() shape=(3,)] 1.0:f64\n      c:bool[3] = eq b 0.0:f64\n      d:f64[3] = where c 0.0:f64 a\n  in ( d ) }',
     '{ lambda a:f64[3] .\n  let\n  in ( a ) }'),
    ('simplify', 'where(True, a, b) -> a; where(False, a, b) -> b',
     '{ lambda a:f64[3] b:f64[3] .\n  let c:bool[3] = broadcast_in_dim[broadcast_dimensions=() shape=(3,)] True:bool\n      d:f64[3] = where c a b\n  in ( d ) }',
     '{ lambda a:f64[3] b:f64[3] .\n  let\n  in ( a ) }'),
    ('simplify', 'dot_general with a rank-0 operand -> mul (a scaling)',
     '{ lambda a:f64[3] .\n  let b:f64[3] = dot_general[dimension_numbers=(((), ()), ((), ()))] 2.0:f64 a\n  in ( b ) }',
     '{ lambda a:f64[3] .\n  let b:f64[3] = mul a 2.0:f64\n  in ( b ) }'),
    ('simplify', 'transpose(dot_general(x, y)) swapping the free axes -> dot_general(y, x) '
     '(the BLAS may sum in another order)',
     '{ lambda a:f64[3,1] b:f64[3,4] .\n  let c:f64[1,4] = dot_general[dimension_numbers=(((0,), (0,)), ((), ()))] a b\n      d:f64[4,1] = transpose[permutation=(1, 0)] c\n  in ( d ) }',
     '{ lambda a:f64[3,1] b:f64[3,4] .\n  let c:f64[4,1] = dot_general[dimension_numbers=(((0,), (0,)), ((), ()))] b a\n  in ( c ) }'),
    ('simplify', 'dot_general(transpose(x), y) -> dot_general(x, y) (the transpose folds into the '
     'contracted axes: a BLAS flag instead of a copy)',
     '{ lambda a:f64[4,3] b:f64[2,3] .\n  let c:f64[3,4] = transpose[permutation=(1, 0)] a\n      d:f64[2,4] = dot_general[dimension_numbers=(((1,), (0,)), ((), ()))] b c\n  in ( d ) }',
     '{ lambda a:f64[4,3] b:f64[2,3] .\n  let c:f64[2,4] = dot_general[dimension_numbers=(((1,), (1,)), ((), ()))] b a\n  in ( c ) }'),
    ('simplify', 'sum of broadcast(scalar) over all axes -> scalar * count',
     '{ lambda a:f64[] .\n  let b:f64[2,3] = broadcast_in_dim[broadcast_dimensions=() shape=(2, 3)] a\n      c:f64[] = reduce_sum[axes=(0, 1)] b\n  in ( c ) }',
     '{ lambda a:f64[] .\n  let b:f64[] = mul a 6.0:f64\n  in ( b ) }'),
    ('stabilize', 'log(1 + x) -> log1p(x)',
     '{ lambda a:f64[2] .\n  let b:f64[2] = add 1.0:f64 a\n      c:f64[2] = log b\n  in ( c ) }',
     '{ lambda a:f64[2] .\n  let b:f64[2] = log1p a\n  in ( b ) }'),
    ('stabilize', 'exp(x) - 1 -> expm1(x)',
     '{ lambda a:f64[2] .\n  let b:f64[2] = exp a\n      c:f64[2] = sub b 1.0:f64\n  in ( c ) }',
     '{ lambda a:f64[2] .\n  let b:f64[2] = expm1 a\n  in ( b ) }'),
    ('stabilize', 'log1p(exp(x)) -> softplus(x)',
     '{ lambda a:f64[2] .\n  let b:f64[2] = exp a\n      c:f64[2] = add b 1.0:f64\n      d:f64[2] = log c\n  in ( d ) }',
     '{ lambda a:f64[2] .\n  let b:f64[2] = softplus a\n  in ( b ) }'),
    ('stabilize', '1 / (1 + exp(-x)) -> sigmoid(x)',
     '{ lambda a:f64[2] .\n  let b:f64[2] = neg a\n      c:f64[2] = exp b\n      d:f64[2] = add 1.0:f64 c\n      e:f64[2] = div 1.0:f64 d\n  in ( e ) }',
     '{ lambda a:f64[2] .\n  let b:f64[2] = sigmoid a\n  in ( b ) }'),
    ('stabilize', 'log(sigmoid(x)) -> -softplus(-x)',
     '{ lambda a:f64[2] .\n  let b:f64[2] = sigmoid a\n      c:f64[2] = log b\n  in ( c ) }',
     '{ lambda a:f64[2] .\n  let b:f64[2] = neg a\n      c:f64[2] = softplus b\n      d:f64[2] = neg c\n  in ( d ) }'),
    ('stabilize', 'log(1 - sigmoid(x)) -> -softplus(x)',
     '{ lambda a:f64[2] .\n  let b:f64[2] = sigmoid a\n      c:f64[2] = sub 1.0:f64 b\n      d:f64[2] = log c\n  in ( d ) }',
     '{ lambda a:f64[2] .\n  let b:f64[2] = softplus a\n      c:f64[2] = neg b\n  in ( c ) }'),
    ('stabilize', 'log1p(-sigmoid(x)) -> -softplus(x)',
     '{ lambda a:f64[2] .\n  let b:f64[2] = sigmoid a\n      c:f64[2] = neg b\n      d:f64[2] = log1p c\n  in ( d ) }',
     '{ lambda a:f64[2] .\n  let b:f64[2] = softplus a\n      c:f64[2] = neg b\n  in ( c ) }'),
    ('stabilize', 'log(sum(exp(x))) -> max-shifted logsumexp',
     '{ lambda a:f64[2,3] .\n  let b:f64[2,3] = exp a\n      c:f64[2] = reduce_sum[axes=(1,)] b\n      d:f64[2] = log c\n  in ( d ) }',
     '{ lambda a:f64[2,3] .\n  let b:f64[2] = reduce_max[axes=(1,)] a\n      c:f64[2] = abs b\n      d:bool[2] = lt c inf:f64\n      e:f64[2] = where d b 0.0:f64\n      f:f64[2] = stop_gradient e\n      g:f64[2,3] = broadcast_in_dim[broadcast_dimensions=(0,) shape=(2, 3)] f\n      h:f64[2,3] = sub a g\n      i:f64[2,3] = exp h\n      j:f64[2] = reduce_sum[axes=(1,)] i\n      k:f64[2] = log j\n      l:f64[2] = add k f\n  in ( l ) }'),
    ('stabilize', 'log(softmax(x)) -> x - logsumexp(x) (log-softmax)',
     '{ lambda a:f64[3] .\n  let b:f64[3] = exp a\n      c:f64[] = reduce_sum[axes=(0,)] b\n      d:f64[3] = broadcast_in_dim[broadcast_dimensions=() shape=(3,)] c\n      e:f64[3] = div b d\n      f:f64[3] = log e\n  in ( f ) }',
     '{ lambda a:f64[3] .\n  let b:f64[] = reduce_max[axes=(0,)] a\n      c:f64[] = abs b\n      d:bool[] = lt c inf:f64\n      e:f64[] = where d b 0.0:f64\n      f:f64[] = stop_gradient e\n      g:f64[3] = broadcast_in_dim[broadcast_dimensions=() shape=(3,)] f\n      h:f64[3] = sub a g\n      i:f64[3] = exp h\n      j:f64[] = reduce_sum[axes=(0,)] i\n      k:f64[] = log j\n      l:f64[] = add k f\n      m:f64[3] = broadcast_in_dim[broadcast_dimensions=() shape=(3,)] l\n      n:f64[3] = sub a m\n  in ( n ) }'),
    ('stabilize', 'log(sum(exp(x - m))) + m, m = max(x) -> logsumexp(x) (the shift gets no gradient)',
     '{ lambda a:f64[2,3] .\n  let b:f64[2] = reduce_max[axes=(1,)] a\n      c:f64[2,3] = broadcast_in_dim[broadcast_dimensions=(0,) shape=(2, 3)] b\n      d:f64[2,3] = sub a c\n      e:f64[2,3] = exp d\n      f:f64[2] = reduce_sum[axes=(1,)] e\n      g:f64[2] = log f\n      h:f64[2] = add g b\n  in ( h ) }',
     '{ lambda a:f64[2,3] .\n  let b:f64[2] = reduce_max[axes=(1,)] a\n      c:f64[2] = abs b\n      d:bool[2] = lt c inf:f64\n      e:f64[2] = where d b 0.0:f64\n      f:f64[2] = stop_gradient e\n      g:f64[2,3] = broadcast_in_dim[broadcast_dimensions=(0,) shape=(2, 3)] f\n      h:f64[2,3] = sub a g\n      i:f64[2,3] = exp h\n      j:f64[2] = reduce_sum[axes=(1,)] i\n      k:f64[2] = log j\n      l:f64[2] = add k f\n  in ( l ) }'),
    ('stabilize', '(x - m) - log(sum(exp(x - m))), m = max(x) -> x - logsumexp(x) (log-softmax)',
     '{ lambda a:f64[2,3] .\n  let b:f64[2] = reduce_max[axes=(1,)] a\n      c:f64[2,3] = broadcast_in_dim[broadcast_dimensions=(0,) shape=(2, 3)] b\n      d:f64[2,3] = sub a c\n      e:f64[2,3] = exp d\n      f:f64[2] = reduce_sum[axes=(1,)] e\n      g:f64[2] = log f\n      h:f64[2,3] = broadcast_in_dim[broadcast_dimensions=(0,) shape=(2, 3)] g\n      i:f64[2,3] = sub d h\n  in ( i ) }',
     '{ lambda a:f64[2,3] .\n  let b:f64[2] = reduce_max[axes=(1,)] a\n      c:f64[2] = abs b\n      d:bool[2] = lt c inf:f64\n      e:f64[2] = where d b 0.0:f64\n      f:f64[2] = stop_gradient e\n      g:f64[2,3] = broadcast_in_dim[broadcast_dimensions=(0,) shape=(2, 3)] f\n      h:f64[2,3] = sub a g\n      i:f64[2,3] = exp h\n      j:f64[2] = reduce_sum[axes=(1,)] i\n      k:f64[2] = log j\n      l:f64[2] = add k f\n      m:f64[2,3] = broadcast_in_dim[broadcast_dimensions=(0,) shape=(2, 3)] l\n      n:f64[2,3] = sub a m\n  in ( n ) }'),
    ('stabilize', 'exp(x) / sum(exp(x)) -> exp(x - max) / sum(exp(x - max)) (stable softmax)',
     '{ lambda a:f64[3] .\n  let b:f64[3] = exp a\n      c:f64[] = reduce_sum[axes=(0,)] b\n      d:f64[3] = broadcast_in_dim[broadcast_dimensions=() shape=(3,)] c\n      e:f64[3] = div b d\n  in ( e ) }',
     '{ lambda a:f64[3] .\n  let b:f64[] = reduce_max[axes=(0,)] a\n      c:f64[] = abs b\n      d:bool[] = lt c inf:f64\n      e:f64[] = where d b 0.0:f64\n      f:f64[] = stop_gradient e\n      g:f64[3] = broadcast_in_dim[broadcast_dimensions=() shape=(3,)] f\n      h:f64[3] = sub a g\n      i:f64[3] = exp h\n      j:f64[] = reduce_sum[axes=(0,)] i\n      k:f64[3] = broadcast_in_dim[broadcast_dimensions=() shape=(3,)] j\n      l:f64[3] = div i k\n  in ( l ) }'),
    ('constfold', 'fold literals and constants',
     '{ lambda a:f64[2] .\n  let b:f64[2] = constant[value=[1.0, 4.0]]\n      c:f64[2] = sqrt b\n      d:f64[2] = add a c\n      e:f64[] = add 2.0:f64 3.0:f64\n      f:f64[2] = mul d e\n  in ( f ) }',
     '{ lambda a:f64[2] .\n  let b:f64[2] = constant[value=[1.0, 2.0]]\n      c:f64[2] = add a b\n      d:f64[2] = mul c 5.0:f64\n  in ( d ) }'),
    ('cse', 'same equation twice',
     '{ lambda a:f64[2] .\n  let b:f64[2] = sin a\n      c:f64[2] = sin a\n      d:f64[2] = add b c\n  in ( d ) }',
     '{ lambda a:f64[2] .\n  let b:f64[2] = sin a\n      c:f64[2] = add b b\n  in ( c ) }'),
    ('dce', 'unused equations go',
     '{ lambda a:f64[2] .\n  let b:f64[2] = sin a\n      c:f64[2] = cos a\n  in ( b ) }',
     '{ lambda a:f64[2] .\n  let b:f64[2] = sin a\n  in ( b ) }'),
]


@pytest.mark.parametrize("pass_name,rule,before,after", FIXTURES,
                         ids=[f"{p}:{r}" for p, r, _, _ in FIXTURES])
def test_fixture(pass_name, rule, before, after):
    graph = parse_graph(before)
    result = dce(PASSES[pass_name].fn(graph))
    assert str(result) == after


def _docs(rules):
    return {r.doc for rs in rules.values() for r in rs}


@pytest.mark.parametrize("module", ["simplify", "stabilize"])
def test_every_rule_has_a_fixture(module):
    import importlib
    rules = importlib.import_module(f"tracegrad.passes.{module}").RULES
    covered = {r for p, r, _, _ in FIXTURES if p == module}
    assert _docs(rules) <= covered, f"rules without a fixture: {_docs(rules) - covered}"
