"""Higher-order gradients: ``create_graph=True`` makes the gradient itself a differentiable
tensor (the gradient program is an ordinary graph, so the same pass differentiates it again)."""
import tracegrad as tg

x = tg.tensor(3.0, requires_grad=True)
y = x**3
(dy,) = tg.autograd.grad(y, x, create_graph=True)     # 3x^2 = 27
(d2y,) = tg.autograd.grad(dy, x, create_graph=True)   # 6x = 18
(d3y,) = tg.autograd.grad(d2y, x)                     # 6
print(f"y = x^3 at 3: y' = {dy.item()}, y'' = {d2y.item()}, y''' = {d3y.item()}")
assert (dy.item(), d2y.item(), d3y.item()) == (27.0, 18.0, 6.0)

# the same with backward(create_graph=True) and .grad
z = tg.tensor(2.0, requires_grad=True)
(z**4).backward(create_graph=True)   # z.grad = 4 z^3 = 32, differentiable
g = z.grad
z.grad = None
g.backward()                         # d/dz 4 z^3 = 12 z^2 = 48
print(f"z^4 at 2: first derivative {g.item()}, second {z.grad.item()}")
assert g.item() == 32.0 and z.grad.item() == 48.0
