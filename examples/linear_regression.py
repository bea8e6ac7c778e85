"""Fit y = 3x - 2 (plus noise) with ``nn.Linear``, ``nn.MSELoss`` and ``optim.SGD``: the
training loop is written exactly as in PyTorch and runs on compiled programs."""
import numpy as np

import tracegrad as tg
from tracegrad import nn

tg.manual_seed(0)
rng = np.random.default_rng(0)
x = rng.uniform(-1, 1, (100, 1)).astype(np.float32)
y = (3 * x - 2 + 0.01 * rng.standard_normal((100, 1))).astype(np.float32)
x, y = tg.tensor(x), tg.tensor(y)

model = nn.Linear(1, 1)
criterion = nn.MSELoss()
optimizer = tg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
for epoch in range(200):
    optimizer.zero_grad()
    loss = criterion(model(x), y)
    loss.backward()
    optimizer.step()
w, b = model.weight.item(), model.bias.item()
print(f"learned y = {w:.3f} x + {b:.3f} (loss {loss.item():.2e})")
assert abs(w - 3) < 0.02 and abs(b + 2) < 0.02 and loss.item() < 1e-3
