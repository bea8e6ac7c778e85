"""What the C backend cannot compile yet, found before any C is emitted: complex values (and so
every FFT program). ``backend="c"`` raises a typed error naming ``backend="numpy"``;
``backend="auto"`` runs such a program on NumPy (api/lowering.py asks ``first_complex``).

Why not C99 ``_Complex`` yet: every loop shape (map, reduce, contract through BLAS' zgemm,
copies, fused kernels, LAPACK) needs its complex form and tests; until then a refusal is
better than a kernel that treats a complex buffer as doubles. Which layout when it comes:
interleaved ``double _Complex``, measured (gcc -O3 -march=native, 2**20 elements): y = a*b + c
1.78 ms interleaved vs 2.05 ms split into real/imag buffers (NumPy 4.9 ms), exp 32-34 vs 25-31
ms (NumPy 33 ms); and interleaved is NumPy's own layout, so arguments need no conversion.
"""
from __future__ import annotations

from tracegrad import dtypes
from tracegrad.errors import UnsupportedOperationError
from tracegrad.ir import Graph, Var


def _graphs(value):
    if isinstance(value, Graph):
        yield value
    elif isinstance(value, (tuple, list)):
        for v in value:
            yield from _graphs(v)


def first_complex(graph: Graph):
    """``(where, dtype)`` of the first complex value in ``graph`` or its nested bodies (an
    equation's ``src``, or "an input"), or None when every value is real."""
    for v in graph.inputs:
        if dtypes.is_complex(v.aval.dtype):
            return "an input", v.aval.dtype
    for e in graph.eqns:
        for v in (*e.inputs, *e.outputs):
            if isinstance(v, Var) and dtypes.is_complex(v.aval.dtype):
                return e.src, v.aval.dtype
        for p in e.params.values():
            for g in _graphs(p):
                found = first_complex(g)
                if found is not None:
                    return e.src or found[0], found[1]
    return None


def refuse_complex(graph: Graph) -> None:
    """Raise ``UnsupportedOperationError`` when ``graph`` holds a complex value."""
    found = first_complex(graph)
    if found is None:
        return
    where, dt = found
    raise UnsupportedOperationError(
        f"the C backend does not compile complex values yet (a {dt} value here; FFTs make "
        "complex values too): use backend=\"numpy\", or backend=\"auto\", which runs programs "
        "with complex values on NumPy", src=where if where != "an input" else None)
