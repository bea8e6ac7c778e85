"""What the C backend cannot compile yet, found before any C is emitted: complex values in
primitives without a complex C form (today ``eig``'s complex outputs; FFTs call numpy.fft,
fft.py; other complex linear algebra is refused earlier, by the primitives' dtype checks).
``backend="c"`` raises a typed error naming ``backend="numpy"``; ``backend="auto"`` runs such a
program on NumPy (api/lowering.py asks ``first_complex``).

Complex values are interleaved C99 ``double _Complex`` / ``float _Complex`` (complex_c.py),
chosen by measurement (gcc -O3 -march=native, 2**20 elements): y = a*b + c 1.78 ms
interleaved vs 2.05 ms split into real/imag buffers (NumPy 4.9 ms), exp 32-34 vs 25-31 ms
(NumPy 33 ms); and interleaved is NumPy's own layout, so arguments need no conversion.
``C_COMPLEX`` lists the primitives whose C lowering handles complex operands: anything else
holding a complex value is refused, never emitted as a kernel reading complex as real.
"""
from __future__ import annotations

from tracegrad import dtypes
from tracegrad.errors import UnsupportedOperationError
from tracegrad.ir import Graph, Var
from tracegrad.prims import (broadcast_in_dim_p, concatenate_p, cond_p, constant_p, cumsum_p,
                             dot_general_p, fused_p, gather_p, pad_p, reduce_prod_p,
                             reduce_sum_p, reshape_p, rev_p, scan_p, scatter_add_p, slice_p,
                             transpose_p, while_p)
from tracegrad.prims.fft import fft_p

from . import complex_c

# primitives whose C handles complex operands: the elementwise forms of complex_c, kernel
# structure (broadcasts, views, fusion, whose bodies are checked one by one), sum and product
# epilogues, and the copies, which move elements of any ctype
C_COMPLEX = frozenset(complex_c.SCALAR) | {
    broadcast_in_dim_p, reshape_p, fused_p, reduce_sum_p, reduce_prod_p, constant_p,
    transpose_p, slice_p, rev_p, pad_p, concatenate_p, gather_p, scatter_add_p,
    dot_general_p,  # cgemm/zgemm (blas_complex.py)
    cumsum_p,
    scan_p, while_p, cond_p,  # C functions of their bodies, whose equations are checked here
    fft_p}  # numpy.fft (pocketfft) called through the C-API (fft.py)


def _graphs(value):
    if isinstance(value, Graph):
        yield value
    elif isinstance(value, (tuple, list)):
        for v in value:
            yield from _graphs(v)


def first_complex(graph: Graph):
    """``(where, dtype, primitive name)`` of the first complex value in ``graph`` or its nested
    bodies that the C backend cannot compile (``where``: the equation's ``src``, or None), or
    None when it can compile every one (``C_COMPLEX``)."""
    for e in graph.eqns:
        cx = next((v.aval.dtype for v in (*e.inputs, *e.outputs)
                   if isinstance(v, Var) and dtypes.is_complex(v.aval.dtype)), None)
        if cx is not None and e.prim not in C_COMPLEX:
            return e.src, cx, e.prim.name
        for p in e.params.values():
            for g in _graphs(p):  # fused kernels' and loops' bodies, equation by equation
                found = first_complex(g)
                if found is not None:
                    return (found[0] or e.src, *found[1:])
    return None


def refuse_complex(graph: Graph) -> None:
    """Raise ``UnsupportedOperationError`` when ``graph`` holds a complex value in a primitive
    without a complex C form, naming that primitive."""
    found = first_complex(graph)
    if found is None:
        return
    where, dt, name = found
    raise UnsupportedOperationError(
        f"the C backend has no complex form of {name!r} yet (a {dt} value here): use "
        "backend=\"numpy\", or backend=\"auto\", which runs such programs on NumPy",
        src=where)
