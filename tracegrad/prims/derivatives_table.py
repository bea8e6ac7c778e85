"""Partial derivatives of the elementwise primitives, derived by sympy from each
primitive's scalar meaning (see passes/symbolic.py, which regenerates this file).

Expressions use the inputs ``x``, ``y`` and the output ``out``; they are turned into IR by
``tracegrad/prims/partials.py``. Generated file: edit passes/symbolic.py, not this.
"""
PARTIALS = {
    'abs': ('sign(x)',),
    'add': ('1', '1'),
    'arccos': ('-1/sqrt(1 - x**2)',),
    'arccosh': ('1/sqrt(x**2 - 1)',),
    'arcsin': ('1/sqrt(1 - x**2)',),
    'arcsinh': ('1/sqrt(x**2 + 1)',),
    'arctan': ('1/(x**2 + 1)',),
    'arctanh': ('-1/(x**2 - 1)',),
    'atan2': ('y/(x**2 + y**2)', '-x/(x**2 + y**2)'),
    'cos': ('-sin(x)',),
    'cosh': ('sinh(x)',),
    'div': ('1/y', '-out/y'),
    'erf': ('2*exp(-x**2)/sqrt(pi)',),
    'exp': ('out',),
    'exp2': ('out*log(2)',),
    'expm1': ('out + 1',),
    'hypot': ('where(isinf(x), sign(x), x/where(out == 0, 1, out))', 'where(isinf(y), sign(y), y/where(out == 0, 1, out))'),
    'log': ('1/x',),
    'log1p': ('1/(x + 1)',),
    'log2': ('1/(x*log(2))',),
    'logaddexp': ('sigmoid(nan_to_zero(x - y))', 'sigmoid(nan_to_zero(y - x))'),
    'logaddexp2': ('sigmoid(nan_to_zero(x - y)*log(2))', 'sigmoid(nan_to_zero(y - x)*log(2))'),
    'max': ('where(x > y, 1, where(x == y, 0.5, 0))', 'where(y > x, 1, where(x == y, 0.5, 0))'),
    'min': ('where(x < y, 1, where(x == y, 0.5, 0))', 'where(y < x, 1, where(x == y, 0.5, 0))'),
    'mul': ('y', 'x'),
    'neg': ('-1',),
    'pow': ('y*where(x == 0, where(y == 0, 1, x**(y - 1)), x**(y - 1))', 'out*log(where(x == 0, 1, x))'),
    'rem': ('1', '-floor(x/y)'),
    'sigmoid': ('out*(1 - out)',),
    'sin': ('cos(x)',),
    'sinh': ('cosh(x)',),
    'softplus': ('sigmoid(x)',),
    'sqrt': ('0.5/out',),
    'sub': ('1', '-1'),
    'tan': ('1 + out**2',),
    'tanh': ('1 - out**2',),
}
