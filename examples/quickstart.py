"""Quickstart: jit-compile a plain NumPy function, check it against NumPy, show its IR and code."""
import numpy as np

import tracegrad as tg


@tg.jit
def f(x, y):
    return np.sum(np.tanh(x * y + np.sin(x)) * np.exp(-y * y))


rng = np.random.default_rng(0)
x = rng.standard_normal(1000)
y = rng.standard_normal(1000)

value = f(x, y)
expected = np.sum(np.tanh(x * y + np.sin(x)) * np.exp(-y * y))
print(f"tracegrad: {float(value):.15g}")
print(f"numpy:     {float(expected):.15g}")
assert np.allclose(value, expected, rtol=1e-12), "compiled result differs from NumPy"

lowered = f.lower(x, y)
print("\nIR after the pass pipeline:")
print(lowered.ir)
print("\nGenerated code:")
print(lowered.source)
print("stats:", {k: lowered.stats[k] for k in ("eqns", "kernels", "peak_bytes", "flops")})
