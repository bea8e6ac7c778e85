"""``tg.nn``: PyTorch-style layers, containers and losses on ``tg.Tensor``."""
from __future__ import annotations

from . import (
                      functional,  # noqa: F401
                      init,  # noqa: F401
                      utils,  # noqa: F401
)
from .modules import (  # noqa: F401
                      GELU,
                      BCEWithLogitsLoss,
                      CrossEntropyLoss,
                      Dropout,
                      Flatten,
                      Identity,
                      L1Loss,
                      LayerNorm,
                      LeakyReLU,
                      Linear,
                      LogSoftmax,
                      Module,
                      ModuleList,
                      MSELoss,
                      NLLLoss,
                      Parameter,
                      ReLU,
                      Sequential,
                      Sigmoid,
                      SiLU,
                      Softmax,
                      Softplus,
                      Tanh,
)
from .layers import (  # noqa: F401
                     AvgPool2d,
                     BatchNorm1d,
                     BatchNorm2d,
                     BCELoss,
                     Conv1d,
                     Conv2d,
                     Embedding,
                     MaxPool2d,
                     SmoothL1Loss,
)
from .recurrent import GRU, LSTM, RNN, GRUCell, LSTMCell, RNNCell  # noqa: F401
