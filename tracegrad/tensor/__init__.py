"""``tg.Tensor``, the PyTorch-style front: operations record a lazy DAG, and values and gradients
come from compiled programs built from it (cached by the DAG's structure, never by values).

One job per module: ``lazy`` (the graph, program caches, evaluation, ``apply_op``, deferred
in-place writes), ``walk`` (the DAG behind some tensors and its structural key), ``tape``
(the same key built as operations are recorded, so a steady loop walks nothing), ``pending``
(weak collections of tensors), ``grad_mode``, ``core`` (the ``Tensor`` class), ``methods``
(its array methods), ``ops`` (operation bodies), ``creation`` (``tensor``, ``zeros``, ...),
``autograd`` (``backward``), and PyTorch's namespace: ``device`` (dtype/device names), ``functions`` (``tg.sin``,
``tg.cat``, ...), ``func`` (``tg.func.grad``, ``jacrev``, ...).
The names below are this package's interface, for ``nn``, ``optim``, ``data``, ``compile_step``.
"""
from __future__ import annotations

from .grad_mode import (_GRAD_ENABLED, _GradMode, enable_grad, is_grad_enabled,  # noqa: F401
                        no_grad, set_grad_enabled)
from .lazy import (_CACHE_LIMIT, _CAPTURE, _FLAT_TREES, _FLAT_TYPES,  # noqa: F401
                   _MAX_LAZY_DEPTH, _OP_CACHE, _PENDING, _PROGRAMS, _STATE_VERSION, IdWeakSet,
                   Node, _before_mutation, _capture, _compile_graph, _flat_tree, _forward_op,
                   _freed_error, _has_tensor, _leaf_for_array, _materialize,
                   _no_values_in_capture, _node_outputs, _Op, _program, _remember, _serial,
                   _skey, _trace_op, _value_of, _Walk, _WRITES, apply_op, bump_state_version,
                   defer_write, flush, tensor_op)
from .core import (_META_FUNCS, GradFn, Tensor, _canon_dtype, _rebuild,  # noqa: F401
                   _tensor_free, _to_array, zero_grad_of)
from .methods import _dim, _MaxResult, TensorMethods  # noqa: F401
from .ops import (_as_dtype, _assign_like, _call_function, _call_ufunc,  # noqa: F401
                  _full_like, _getitem, _identity_copy, _norm, _relu, _set_item, _shape_of,
                  _stop_gradient, tnp_add, tnp_div, tnp_mul, tnp_sub)
from .creation import (_RNG, _make, _shape_args, arange, as_tensor, bool_,  # noqa: F401
                       default_generator, dynamic_leaf, float32, float64, from_numpy, full,
                       int32, int64, is_tensor, manual_seed, ones, ones_like, rand, randn,
                       tensor, zeros, zeros_like)
from . import control  # noqa: F401,E402  (registers tg.scan & co on tensors with control_flow)
