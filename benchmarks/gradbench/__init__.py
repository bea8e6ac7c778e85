"""tracegrad as a GradBench tool (github gradbench/gradbench), issue 19 item 5.

* ``python -m benchmarks.gradbench.tool``: speaks GradBench's JSON protocol on stdin/stdout
  (one message a line: start, define, evaluate with min_runs/min_seconds, analysis), so the
  ``gradbench`` runner can drive it as a tool.
* ``python -m benchmarks.gradbench``: the local runner. It generates each eval's inputs as the
  eval does, validates every tracegrad answer against an independent NumPy reference, and times
  tracegrad's objective, gradient and first call against JAX and PyTorch when installed.

Each eval is written as a NumPy user would write it (loops through tg.fori_loop, tg.scan and
tg.while_loop); see
simple.py, gmm.py, ba.py, ht.py, lstm.py, det.py, particle.py and saddle.py.
EVALS lists them in GradBench's order.
"""
from __future__ import annotations

from .ba import BA
from .det import DET
from .gmm import GMM
from .ht import HT
from .lstm import LSTM
from .particle import PARTICLE
from .saddle import SADDLE
from .simple import KMEANS, LLSQ, LSE, ODE

EVALS = {ev.name: ev for ev in (GMM, LSE, LLSQ, KMEANS, ODE, BA, HT, LSTM, DET, PARTICLE,
                                SADDLE)}
