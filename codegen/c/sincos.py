"""sin and cos of one float32 operand in one pass (every gradient of sin has both).

glibc's libmvec exports a vector sincosf only with vectors of output pointers
(``_ZGVeN16vvv_sincosf``: the vl4l4 one is internal), which scatters its results: 0.85 ns an
element on this machine where sinf and cosf called apart take 0.44 (and it differs from them
in the last bit of ~0.9% of elements). So a kernel that computes both computes them itself:
one range reduction to r in [-pi/4, pi/4] (k = rint(x 2/pi), x - k pi/2 with pi/2 in three
float parts by fused multiply-adds), the two minimax polynomials of Cephes' sinf/cosf on it,
and the quadrant's swap and signs: 0.24 ns an element, 1.56 ulp at most against float64 for
|x| <= 65536 (libmvec's sinf/cosf: 1.93; measured over every 7th float and in
tests/test_sincos.py). Beyond SINCOS_LIMIT (or a NaN or an infinity) the three-part reduction
is not accurate, so the loop also ORs ``!(|x| <= limit)`` into a flag, and a loop (or a chunk
of a reduction) that saw one runs again with the libm calls: results beyond the limit are
libm's. Only float32: a float64 pair keeps its two calls.
"""
from __future__ import annotations

import numpy as np

from tracegrad.ir import Lit
from tracegrad.prims import ELEMENTWISE

SINCOS_LIMIT = 65536.0
FLAG = "tg_big"

# always inlined into the loop: its outputs are locals, and a call would spill like libm's
SOURCE = """#ifndef TG_SINCOSF_DEFINED
#define TG_SINCOSF_DEFINED
static inline __attribute__((always_inline)) void tg_sincosf_pass(float x, float* s, float* c) {
    const float k = __builtin_rintf(x * 0.636619772367581f);   /* x = k pi/2 + r */
    float r = __builtin_fmaf(-k, 1.5707963705062866f, x);
    r = __builtin_fmaf(-k, -4.371138828673793e-08f, r);
    r = __builtin_fmaf(-k, -1.7151245100058819e-15f, r);
    const float r2 = r * r;
    const float sp = r + r * r2 * (-1.6666654611e-1f + r2 * (8.3321608736e-3f
                                                         + r2 * -1.9515295891e-4f));
    const float cp = 1.0f - 0.5f * r2 + r2 * r2 * (4.166664568298827e-2f
                      + r2 * (-1.388731625493765e-3f + r2 * 2.443315711809948e-5f));
    const int q = (int)k & 3;
    const float ss = (q & 1) ? cp : sp, cc = (q & 1) ? sp : cp;
    *s = x == 0.0f ? x : (q & 2) ? -ss : ss;   /* sin(-0) is -0 */
    *c = ((q + 1) & 2) ? -cc : cc;
}
#endif
"""


def pairs(eqns) -> dict[int, tuple]:
    """sin and cos equations of one float32 operand: id of each -> (sin eqn, cos eqn)."""
    sin_p, cos_p = ELEMENTWISE["sin"], ELEMENTWISE["cos"]
    first: dict = {}
    out: dict[int, tuple] = {}
    for e in eqns:
        if e.prim not in (sin_p, cos_p) or isinstance(e.inputs[0], Lit) or \
                np.dtype(e.inputs[0].aval.dtype) != np.float32:
            continue
        key = (id(e.inputs[0]), e.prim is sin_p)
        other = first.get((id(e.inputs[0]), e.prim is not sin_p))
        if other is not None and id(other) not in out:
            s, c = (e, other) if e.prim is sin_p else (other, e)
            out[id(s)] = out[id(c)] = (s, c)
        first.setdefault(key, e)
    return out


def statement(x: str, s: str, c: str) -> str:
    """The pair's statement: both values, and the flag for an operand out of range."""
    return (f"float {s}, {c}; tg_sincosf_pass({x}, &{s}, &{c}); "
            f"{FLAG} |= !(fabsf({x}) <= {SINCOS_LIMIT}f); /* sin and cos in one pass */")
