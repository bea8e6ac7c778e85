"""Quickstart: jit-compile a plain NumPy function and its gradient, check both against NumPy and
finite differences, and show the IR and the generated code."""
import numpy as np

import tracegrad as tg
from tracegrad.testing import check_grads


def f(x, y):
    return np.sum(np.tanh(x * y + np.sin(x)) * np.exp(-y * y))


rng = np.random.default_rng(0)
x = rng.standard_normal(1000)
y = rng.standard_normal(1000)

f_jit = tg.jit(f)                                   # C when a compiler works, else NumPy
value = f_jit(x, y)
expected = f(x, y)
print(f"tracegrad ({f_jit.lower(x, y).stats['backend']} backend): {float(value):.15g}")
print(f"numpy eager:                {float(expected):.15g}")
assert np.allclose(value, expected, rtol=1e-12), "compiled result differs from NumPy"

vg = tg.jit(tg.value_and_grad(f, argnums=(0, 1)))  # forward and both gradients, one program
value, (gx, gy) = vg(x, y)
report = check_grads(f, (x[:5], y[:5]), order=2)    # against finite differences, both modes
print(f"gradient checked: worst relative error {report['worst']['rel_err']:.1e}")

lowered = tg.jit(tg.value_and_grad(f), backend="numpy").lower(x, y)
print("\nIR of value_and_grad after the pass pipeline:")
print(lowered.ir)
print("\nGenerated NumPy code:")
print(lowered.source)
print("stats:", {k: lowered.stats[k] for k in ("eqns", "kernels", "peak_bytes", "flops")})
