"""A graph is freed by ``backward()``; a second backward needs ``retain_graph=True`` the first
time (and then the gradients add up)."""
import tracegrad as tg

x = tg.tensor(3.0, requires_grad=True)
y = x * x
y.backward(retain_graph=True)
y.backward()
print("dy/dx twice:", x.grad.item())
assert x.grad.item() == 12.0  # 6 + 6

try:
    y.backward()  # the graph was freed by the last call
except tg.GradientError as err:
    print("third backward:", str(err).splitlines()[0])
    assert "retain_graph" in str(err)
else:
    raise AssertionError("a third backward must fail")
