"""C lowering of ``random_bits`` (tracegrad/prims/random.py): Threefry-2x32 with 20 rounds in
uint32_t arithmetic, word for word the NumPy reference (tracegrad/prims/np_random.py: block
``j`` encrypts the counter ``(j mod 2**32, j >> 32)`` and gives words ``2j`` and ``2j + 1``)."""
from __future__ import annotations

from tracegrad.prims.np_random import PARITY, ROTATIONS, ROUNDS
from tracegrad.prims.random import random_bits_p

from .kernels import comment, nest, size
from .lowerings import ctype, register_lowering


def _rounds() -> list[str]:
    """The cipher's rounds, unrolled (the constants are NumPy's, so both backends agree)."""
    out = []
    for r in range(ROUNDS):
        rot = ROTATIONS[r % 8]
        out.append(f"x0 += x1; x1 = (x1 << {rot}) | (x1 >> {32 - rot}); x1 ^= x0;")
        if r % 4 == 3:
            i = r // 4 + 1
            out.append(f"x0 += ks{i % 3}; x1 += ks{(i + 1) % 3} + {i}u;")
    return out


# one definition per module, however many draws it has
HELPER = "\n".join([
    "#ifndef TG_THREEFRY2X32",
    "#define TG_THREEFRY2X32",
    "static inline void tg_threefry2x32(uint32_t ks0, uint32_t ks1, uint32_t c0, uint32_t c1,",
    "                                   uint32_t* y0, uint32_t* y1) {",
    f"    const uint32_t ks2 = ks0 ^ ks1 ^ 0x{PARITY:08X}u;",
    "    uint32_t x0 = c0 + ks0, x1 = c1 + ks1;",
    *["    " + line for line in _rounds()],
    "    *y0 = x0; *y1 = x1;",
    "}",
    "#endif"])


def emit_random_bits(em, e) -> None:
    key, o = e.inputs[0], e.outputs[0]
    nkeys = size(key.aval.shape[:-1])  # a batch of keys (vmap): one draw per key
    n = size(o.aval.shape) // nkeys    # (no elements at all never reaches an emitter)
    blocks = (n + 1) // 2
    em.n_kernels += 1
    kname = f"op{em.n_kernels}"
    body = ["uint32_t y0, y1;",
            # the key's low 32 bits per word, as the NumPy reference takes them
            ("tg_threefry2x32((uint32_t)key[2*b], (uint32_t)key[2*b + 1], (uint32_t)j, "
             "(uint32_t)((uint64_t)j >> 32), &y0, &y1);"),
            f"o[b*{n} + 2*j] = (int64_t)y0;",
            f"if (2*j + 1 < {n}) o[b*{n} + 2*j + 1] = (int64_t)y1;"]
    fn = [HELPER,
          f"/* {comment('threefry2x32 words')} */",
          (f"TG_KERNEL void {kname}(const {ctype(key.aval.dtype)}* restrict key, "
           "int64_t* restrict o) {")]
    # ~100 integer operations per block
    fn += nest([nkeys, blocks], body, names=["b", "j"], work=nkeys * blocks * 16)
    fn.append("}")
    em.kernels.append("\n".join(fn))
    em.stmt(f"    {kname}({em.read(key)}, {em.storage(o)});", e)


register_lowering(random_bits_p, emit=emit_random_bits)
