"""tracegrad: trace NumPy functions into a typed IR, differentiate and compile them.

``import tracegrad as tg``; ``tg.jit``, ``tg.grad``, ... (see API.md). Importing stays light:
sympy and networkx load only when a pass really needs them.
"""
from __future__ import annotations

from . import numpy  # noqa: F401  (tracegrad.numpy: the traced NumPy namespace)
from .numpy import at  # noqa: F401,E402  (tg.at(x)[idx].set(v): functional updates)
from .api import (grad, hessian, hvp, jacfwd, jacobian, jacrev, jit, jvp, make_ir, value_and_grad,  # noqa: F401
                  vjp, vmap, transform_cache_clear, transform_cache_info)
from .errors import (ArgumentError, CompileError, DomainError, DTypeError,  # noqa: F401
                     GradientError, IRError, LinAlgError, ShapeError,
                     TracegradError, TracerArrayConversionError, TracerBoolError,
                     TracegradWarning, UnsupportedOperationError)
from .ir import AVal, Eqn, Graph, Lit, Var, verify  # noqa: F401
from .lax import stop_gradient  # noqa: F401
from . import random  # noqa: F401,E402  (tg.random: explicit-key draws)
from .control_flow import checkpoint, cond, fori_loop, scan, switch, while_loop  # noqa: F401
from .printing import parse_graph  # noqa: F401
from .version import __version__  # noqa: F401
from .custom import Function, custom_jvp, custom_vjp, straight_through  # noqa: F401,E402
from .ode import odeint  # noqa: F401,E402
# PyTorch-style front (tensor/, nn/, optim.py, data.py, compile_step.py)
from .tensor import autograd  # noqa: E402
from .tensor import (Tensor, arange, as_tensor, enable_grad, from_numpy, is_grad_enabled,  # noqa: F401,E402
                     is_tensor, manual_seed, no_grad, ones, ones_like, rand, randn,
                     set_grad_enabled, tensor, zeros, zeros_like)
from .tensor import float32, float64, int32, int64, bool_  # noqa: F401,E402
from . import data, nn, optim  # noqa: F401,E402
from .compile_step import compile  # noqa: F401,E402
# PyTorch's namespace (issue 18): dtype and device names, the rest of the creation functions,
# the functional math (tg.sin, tg.sum(x, dim), tg.cat, ...), tg.func. None of these replaces a
# name above: tg.grad / tg.jacobian / tg.hessian keep their API.md meaning; the torch meanings
# are tg.autograd.grad and tg.func.grad / jacrev / jacfwd / hessian (docs/tensor.md).
from .tensor.device import (bool, cuda, device, double, float, int, long)  # noqa: F401,E402,A004
from .tensor.creation import (empty, empty_like, eye, full, full_like, linspace,  # noqa: F401,E402
                              logspace, rand_like, randint, randn_like)
from .tensor.functions import (abs, acos, add, allclose, argmax, argmin, asin,  # noqa: F401,E402,A004
                               atan, cat, ceil, clamp, clip, concat, concatenate, cos, cosh,
                               cumsum, div, divide, dot, exp, exp2, expm1, flatten, floor, log,
                               log10, log1p, log2, log_softmax, matmul, max, maximum, mean, min,
                               minimum, mm, mul, multiply, neg, norm, numel, outer, permute, pow,
                               prod, relu, reshape, round, rsqrt, sigmoid, sign, sin, sinh,
                               softmax, sqrt, square, squeeze, stack, std, sub, subtract, sum, t,
                               tan, tanh, transpose, unsqueeze, var, where)
from .tensor import func  # noqa: E402
import sys as _sys  # noqa: E402
# `from tracegrad.autograd import Function` / `from tracegrad.func import grad`, as with torch
_sys.modules.setdefault(__name__ + ".autograd", autograd)
_sys.modules.setdefault(__name__ + ".func", func)
del _sys
# tg.save / tg.load: state dicts as .npz, never pickle (issue 18 item 2)
from .tensor.serialization import SerializationError, load, save  # noqa: F401,E402


def __getattr__(name):
    # tg.distributed (the optional Dask extra) loads on first use, never with `import tracegrad`
    if name == "distributed":
        import importlib
        return importlib.import_module(__name__ + ".distributed")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
