"""The first autograd example of every PyTorch tutorial: y = x**2 + 3x + 1 at x = 2 has
dy/dx = 2x + 3 = 7. Operations on ``tg.tensor`` record a graph; ``backward()`` compiles its
gradient program and accumulates into ``x.grad``."""
import tracegrad as tg

x = tg.tensor([2.0], requires_grad=True)
y = x**2 + 3 * x + 1
y.backward()
print(f"y = {y.item()}, dy/dx = {x.grad.item()}")
assert y.item() == 11.0 and x.grad.item() == 7.0

# gradients accumulate across backward calls until zeroed
y = x**2 + 3 * x + 1
y.backward()
print(f"after a second backward: x.grad = {x.grad.item()} (7 + 7)")
assert x.grad.item() == 14.0
x.grad.zero_()
assert x.grad.item() == 0.0
