"""A custom autograd ``Function`` (PyTorch style) that doubles its input: the forward and the
backward rule are traced into one node of the graph and compiled like everything else."""
import numpy as np

import tracegrad as tg


class Double(tg.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * 2

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_tensors
        return grad_output * 2


x = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
y = Double.apply(x)
y.sum().backward()
print("Double.apply(x) =", y.numpy(), " d/dx sum =", x.grad.numpy())
assert np.array_equal(y.numpy(), [2.0, 4.0, 6.0])
assert np.array_equal(x.grad.numpy(), [2.0, 2.0, 2.0])

# the same Function inside a larger expression: d/dx sum(Double(x)**2) = 8x
x.grad = None
(Double.apply(x) ** 2).sum().backward()
print("d/dx sum(Double(x)**2) =", x.grad.numpy())
assert np.array_equal(x.grad.numpy(), [8.0, 16.0, 24.0])
