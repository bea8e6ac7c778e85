"""``detach()`` cuts a value from the graph; ``requires_grad`` decides what gets a gradient;
``no_grad`` records nothing."""
import numpy as np

import tracegrad as tg

a = tg.tensor([1.0, 2.0], requires_grad=True)
b = a * 2            # requires grad (computed from a)
c = b.detach()       # same values, treated as a constant
loss = (b * c).sum()  # d/da = 2 * c = 4a
loss.backward(retain_graph=True)  # b's graph is used again below
print("with detach:    a.grad =", a.grad.numpy())
assert np.array_equal(a.grad.numpy(), [4.0, 8.0])
assert not c.requires_grad and b.requires_grad

a.grad = None
(b * b).sum().backward()  # without detach: d/da (2a)^2 = 8a
print("without detach: a.grad =", a.grad.numpy())
assert np.array_equal(a.grad.numpy(), [8.0, 16.0])

w = tg.tensor([3.0])                 # requires_grad=False: a constant
w.requires_grad_()                   # ... now a leaf that receives gradients
(w * w).sum().backward()
assert w.grad.item() == 6.0

with tg.no_grad():
    z = a * 3
print("under no_grad: z.requires_grad =", z.requires_grad)
assert not z.requires_grad
