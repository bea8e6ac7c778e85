"""Gumbel-softmax: a differentiable relaxation of drawing a category. With the reparameterised
sample softmax((logits + g) / tau), g ~ Gumbel(0, 1), the expected reward of a choice can be
maximised by gradient descent on the logits; the straight-through variant uses the hard one-hot
sample forward and the soft sample's gradient backward."""
import numpy as np

import tracegrad as tg
from tracegrad.nn import functional as F

tg.manual_seed(0)
rng = np.random.default_rng(0)
reward = tg.tensor([1.0, 3.0, 0.5, 2.0])  # category 1 pays best
logits = tg.zeros(4, requires_grad=True)
opt = tg.optim.Adam([logits], lr=0.1)


def gumbel_softmax(logits, tau=0.5, hard=False, batch=64):
    u = rng.uniform(1e-9, 1.0, (batch,) + logits.shape).astype(np.float32)
    g = -np.log(-np.log(u))                      # Gumbel(0, 1) noise, a constant input
    soft = F.softmax((logits + g) / tau, dim=-1)
    if not hard:
        return soft
    hard_onehot = F.one_hot(soft.argmax(-1), logits.shape[-1]).astype(np.float32)
    return hard_onehot + soft - soft.detach()    # forward: one-hot; backward: soft


for step in range(150):
    opt.zero_grad()
    sample = gumbel_softmax(logits, hard=step % 2 == 1)
    loss = -(sample * reward).sum(-1).mean()     # maximise the expected reward
    loss.backward()
    opt.step()

probs = F.softmax(logits, dim=-1).numpy()
print("learned choice probabilities:", np.round(probs, 3))
assert probs.argmax() == 1 and probs[1] > 0.9
