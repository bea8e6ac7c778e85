"""A straight-through estimator: the forward pass rounds (whose true gradient is zero almost
everywhere), the backward pass pretends it was the identity, so a quantised parameter still
learns."""
import numpy as np

import tracegrad as tg

round_st = tg.straight_through(np.round)  # value of round, gradient of the identity

x = tg.tensor([0.3, 1.7, -2.4], requires_grad=True)
y = round_st(x)
(y * tg.tensor([1.0, 2.0, 3.0])).sum().backward()
print("round(x) =", y.numpy(), " surrogate gradient =", x.grad.numpy())
assert np.array_equal(y.numpy(), [0.0, 2.0, -2.0])
assert np.array_equal(x.grad.numpy(), [1.0, 2.0, 3.0])

# learn a weight whose rounded value must hit a target: plain rounding would never move it
w = tg.tensor([0.2], requires_grad=True)
opt = tg.optim.SGD([w], lr=0.5)
for _ in range(20):
    opt.zero_grad()
    loss = ((round_st(w) - 4.0) ** 2).sum()
    loss.backward()
    opt.step()
print(f"quantised weight after training: round({w.item():.3f}) = {np.round(w.item())}")
assert np.round(w.item()) == 4.0
