"""``tg.optim``: SGD, Adam, AdamW, RMSprop and Adagrad with PyTorch's update rules
(learning-rate schedules: ``tg.optim.lr_scheduler``, in ``optim_schedulers.py``).

Each parameter group's update is one recorded operation over all its parameters, gradients and
state, so it runs as one compiled program (cached by shapes) and is captured whole by
``tg.compile``. Hyper-parameters enter the program as a small array read at every step, so
changing ``param_groups[i]["lr"]`` (a schedule) takes effect without recompiling.
"""
from __future__ import annotations

import importlib

import numpy as np

from . import numpy as tnp
from .errors import TracegradError
from .tensor import Tensor, apply_op, dynamic_leaf, no_grad

T = importlib.import_module("tracegrad.tensor")  # the module (tg.tensor is the function)


class Optimizer:
    """Base class: ``param_groups`` (dicts with "params" and hyper-parameters), ``state`` (per
    parameter: leaf tensors), ``zero_grad()``, ``step()``.

    When a group's parameters share a dtype, each state buffer is one flat array (the
    per-parameter state tensors are views into it) and a step whose parameters all have
    gradients updates the concatenation in one pass: a handful of large array operations
    instead of a dozen small ones per parameter (PyTorch's "foreach" idea).
    """

    _hyper_names: tuple = ()   # dynamic hyper-parameters, in the order the rule reads them
    _state_names: tuple = ()   # per-parameter state tensors (zeros shaped like the parameter)
    _counts_steps = False      # keeps a step counter (per group) for bias corrections

    def __init__(self, params, defaults: dict):
        self.defaults = dict(defaults)
        self.param_groups: list = []
        self.state: dict = {}
        self._gstate: list = []  # per group: flat state buffers and the step counter
        if isinstance(params, Tensor):
            raise TracegradError("optimizer params must be an iterable of tensors (e.g. "
                                 "model.parameters()), not one tensor")
        params = list(params)
        if not params:
            raise TracegradError("optimizer got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        for g in groups:
            self.add_param_group(g)

    def add_param_group(self, group: dict) -> None:
        group = dict(group)
        ps = group["params"]
        ps = [ps] if isinstance(ps, Tensor) else list(ps)
        for p in ps:
            if not isinstance(p, Tensor) or p._node is not None:
                what = "a computed tensor" if isinstance(p, Tensor) else type(p).__name__
                raise TracegradError(f"optimizers update leaf tensors (parameters); got {what}")
            if not np.issubdtype(p.dtype, np.floating):
                raise TracegradError(f"optimizers update float tensors, got {p.dtype}")
            if p in self.state:
                raise TracegradError("a parameter appears in more than one parameter group")
        group["params"] = ps
        for k, v in self.defaults.items():
            group.setdefault(k, v)
        self._validate(group)
        dts = {p.dtype for p in ps}
        dt = next(iter(dts)) if len(dts) == 1 else np.dtype(np.float32)
        gstate = {"flat": None, "step": None}
        if self._counts_steps:
            gstate["step"] = Tensor._leaf(np.zeros((), dt))
        if len(dts) == 1:
            n = sum(p.numel() for p in ps)
            gstate["flat"] = {name: Tensor._leaf(np.zeros(n, dt)) for name in self._state_names}
        offset = 0
        for p in ps:
            st = {}
            for name in self._state_names:
                if gstate["flat"] is not None:  # a view: flat updates show per parameter
                    buf = gstate["flat"][name]._value
                    st[name] = Tensor._leaf(buf[offset:offset + p.numel()].reshape(p.shape))
                else:
                    st[name] = Tensor._leaf(np.zeros(p.shape, p.dtype))
            if gstate["step"] is not None:
                st["step"] = gstate["step"]
            self.state[p] = st
            offset += p.numel()
        self.param_groups.append(group)
        self._gstate.append(gstate)
        T.bump_state_version()

    def _validate(self, group) -> None:
        if group.get("lr", 0.0) < 0.0:
            raise TracegradError(f"invalid learning rate {group['lr']}")

    def zero_grad(self, set_to_none: bool = True) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none:
                    p.grad = None
                else:
                    T.zero_grad_of(p)

    def _static(self, group) -> tuple:
        """Hashable choices that change the update's structure (not its numbers)."""
        return ()

    def step(self, closure=None):
        """Update every parameter that has a gradient; ``closure`` re-evaluates the loss."""
        loss = None
        if closure is not None:
            with T.enable_grad():
                loss = closure()
        for group, gstate in zip(self.param_groups, self._gstate):
            self._step_group(group, gstate)
        return loss

    def _step_group(self, group, gstate) -> None:
        params = [p for p in group["params"] if p.grad is not None]
        if not params:
            return
        cap = T._capture()
        if cap is None:
            T._before_mutation()  # held lazy tensors keep the values of the old parameters
        flat = gstate["flat"] is not None and len(params) == len(group["params"])
        if flat:
            states = tuple(gstate["flat"][n] for n in self._state_names)
        else:
            states = tuple(tuple(self.state[p][n] for n in self._state_names) for p in params)
        hyper = dynamic_leaf(lambda g=group: np.array([float(g[n]) for n in self._hyper_names],
                                                      np.float64))
        with no_grad():
            new_params, new_states, new_step = apply_op(
                _flat_update if flat else _param_update,
                (type(self)._rule, tuple(params), tuple(p.grad for p in params), states,
                 gstate["step"], hyper, self._static(group)),
                name=f"{type(self).__name__}_step")
        targets = list(zip(params, new_params))
        if flat:
            targets += list(zip(states, new_states))
        else:
            targets += [(s, v) for st, vs in zip(states, new_states) for s, v in zip(st, vs)]
        if new_step is not None:
            targets.append((gstate["step"], new_step))
        if cap is not None:  # inside tg.compile: the writes become outputs of the program
            for leaf, v in targets:
                cap.replace(leaf, v)
            return
        T._materialize([v for _, v in targets])
        for leaf, v in targets:  # in place: parameters and state views keep their identity
            np.copyto(leaf._value, T._value_of(v))

    @staticmethod
    def _rule(p, g, states, h, t, static):
        """``(new p, new states)`` from parameter ``p``, gradient ``g``, ``states``, the
        hyper-parameters ``h`` (0-d, p's dtype) and the new step count ``t``."""
        raise NotImplementedError

    def state_dict(self) -> dict:
        index = {}
        groups = []
        for g in self.param_groups:
            ids = []
            for p in g["params"]:
                index.setdefault(id(p), len(index))
                ids.append(index[id(p)])
            groups.append({**{k: v for k, v in g.items() if k != "params"}, "params": ids})
        state = {index[id(p)]: {k: np.array(t._value) for k, t in s.items()}
                 for p, s in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, sd: dict) -> None:
        params = [p for g in self.param_groups for p in g["params"]]
        for g, sg in zip(self.param_groups, sd["param_groups"]):
            g.update({k: v for k, v in sg.items() if k != "params"})
        T._before_mutation()
        for i, s in sd["state"].items():
            for k, v in s.items():
                np.copyto(self.state[params[int(i)]][k]._value, v)

    def __repr__(self) -> str:
        hyper = ", ".join(f"{k}={v}" for k, v in self.defaults.items())
        return f"{type(self).__name__}({hyper})"


def _hyper(hyper, n, dt):
    """The hyper-parameters as 0-d values of the parameters' dtype (float32 stays float32)."""
    return [tnp.astype(hyper[i], dt) for i in range(n)]


def _flat_update(rule, params, grads, states, step, hyper, static):
    """One pass over the concatenated parameters of a group (states are flat buffers)."""
    dt = params[0].dtype

    def flat(xs):
        xs = [tnp.reshape(tnp.astype(x, dt), (-1,)) for x in xs]
        return xs[0] if len(xs) == 1 else tnp.concatenate(xs)
    t = step + 1.0 if step is not None else None
    new_p, new_s = rule(flat(params), flat(grads), states, _hyper(hyper, hyper.shape[0], dt), t,
                        static)
    outs, off = [], 0
    for p in params:
        n = int(np.prod(p.shape, dtype=np.int64))
        outs.append(tnp.reshape(new_p[off:off + n], p.shape))
        off += n
    return tuple(outs), tuple(new_s), t


def _param_update(rule, params, grads, states, step, hyper, static):
    """Parameter by parameter (a subset has gradients, or the dtypes differ)."""
    hs: dict = {}
    t = step + 1.0 if step is not None else None
    new_p, new_s = [], []
    for p, g, st in zip(params, grads, states):
        h = hs.get(p.dtype)
        if h is None:
            h = hs[p.dtype] = _hyper(hyper, hyper.shape[0], p.dtype)
        tp = tnp.astype(t, p.dtype) if t is not None else None
        a, b = rule(p, tnp.astype(g, p.dtype), st, h, tp, static)
        new_p.append(a)
        new_s.append(tuple(b))
    return tuple(new_p), tuple(new_s), t


class SGD(Optimizer):
    """``p -= lr * g`` with optional weight decay (g += wd * p), momentum (buf = m * buf + g)
    and Nesterov momentum, as ``torch.optim.SGD`` (dampening 0)."""

    _hyper_names = ("lr", "momentum", "weight_decay")

    def __init__(self, params, lr=1e-3, momentum=0.0, weight_decay=0.0, nesterov=False):
        if nesterov and momentum <= 0:
            raise TracegradError("Nesterov momentum needs momentum > 0")
        if momentum < 0 or weight_decay < 0:
            raise TracegradError("momentum and weight_decay must be >= 0")
        self._state_names = ("momentum_buffer",) if momentum > 0 else ()
        super().__init__(params, {"lr": lr, "momentum": momentum, "weight_decay": weight_decay,
                                  "nesterov": nesterov})

    def _static(self, group):
        return (group["momentum"] > 0, bool(group["nesterov"]), group["weight_decay"] > 0)

    @staticmethod
    def _rule(p, g, states, h, t, static):
        use_m, nesterov, use_wd = static
        lr, m, wd = h
        if use_wd:
            g = g + wd * p
        if not use_m:
            return p - lr * g, ()
        buf = m * states[0] + g
        step = g + m * buf if nesterov else buf
        return p - lr * step, (buf,)


class Adam(Optimizer):
    """Adam with bias correction, as ``torch.optim.Adam`` (L2 ``weight_decay`` added to g).
    The step count is kept per parameter group."""

    _hyper_names = ("lr", "beta1", "beta2", "eps", "weight_decay")
    _state_names = ("exp_avg", "exp_avg_sq")
    _counts_steps = True
    _decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        if not (0.0 <= betas[0] < 1.0 and 0.0 <= betas[1] < 1.0):
            raise TracegradError(f"invalid betas {betas}: each must be in [0, 1)")
        super().__init__(params, {"lr": lr, "betas": tuple(betas), "eps": eps,
                                  "weight_decay": weight_decay})

    def add_param_group(self, group: dict) -> None:
        super().add_param_group(group)
        g = self.param_groups[-1]
        g["beta1"], g["beta2"] = g["betas"]

    def step(self, closure=None):
        for g in self.param_groups:  # betas may have been reassigned as a pair
            g["beta1"], g["beta2"] = g["betas"]
        return super().step(closure)

    def _static(self, group):
        return (group["weight_decay"] > 0, self._decoupled)

    @staticmethod
    def _rule(p, g, states, h, t, static):
        use_wd, decoupled = static
        lr, b1, b2, eps, wd = h
        m, v = states
        if use_wd and decoupled:
            p = p * (1.0 - lr * wd)
        elif use_wd:
            g = g + wd * p
        m = b1 * m + (1.0 - b1) * g
        v = b2 * v + (1.0 - b2) * (g * g)
        # bias corrections are scalars: fold them into two scalars before touching arrays
        step_size = lr / (1.0 - b1 ** t)
        inv_sqrt_bc2 = 1.0 / tnp.sqrt(1.0 - b2 ** t)
        denom = tnp.sqrt(v) * inv_sqrt_bc2 + eps
        return p - step_size * (m / denom), (m, v)


class AdamW(Adam):
    """Adam with decoupled weight decay (``p *= 1 - lr * wd`` before the step)."""

    _decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr, betas, eps, weight_decay)


class RMSprop(Optimizer):
    """RMSprop as ``torch.optim.RMSprop``: sq = alpha*sq + (1-alpha)*g^2; p -= lr*g/(sqrt(sq)+eps);
    optional momentum, centering and weight decay."""

    _hyper_names = ("lr", "alpha", "eps", "weight_decay", "momentum")

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False):
        names = ["square_avg"]
        if momentum > 0:
            names.append("momentum_buffer")
        if centered:
            names.append("grad_avg")
        self._state_names = tuple(names)
        super().__init__(params, {"lr": lr, "alpha": alpha, "eps": eps,
                                  "weight_decay": weight_decay, "momentum": momentum,
                                  "centered": centered})

    def _static(self, group):
        return (group["weight_decay"] > 0, group["momentum"] > 0, bool(group["centered"]))

    @staticmethod
    def _rule(p, g, states, h, t, static):
        use_wd, use_m, centered = static
        lr, alpha, eps, wd, mom = h
        if use_wd:
            g = g + wd * p
        sq = alpha * states[0] + (1.0 - alpha) * (g * g)
        out = [sq]
        if centered:
            ga = alpha * states[-1] + (1.0 - alpha) * g
            avg = tnp.sqrt(sq - ga * ga) + eps
        else:
            avg = tnp.sqrt(sq) + eps
        if use_m:
            buf = mom * states[1] + g / avg
            out.append(buf)
            p = p - lr * buf
        else:
            p = p - lr * (g / avg)
        if centered:
            out.append(ga)
        return p, tuple(out)


class Adagrad(Optimizer):
    """Adagrad as ``torch.optim.Adagrad``: clr = lr / (1 + (t - 1) * lr_decay); g += wd * p;
    sum += g^2; p -= clr * g / (sqrt(sum) + eps). ``sum`` starts at
    ``initial_accumulator_value``; the step count is kept per parameter group."""

    _hyper_names = ("lr", "lr_decay", "weight_decay", "eps")
    _state_names = ("sum",)
    _counts_steps = True

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                 initial_accumulator_value=0.0, eps=1e-10):
        if lr_decay < 0 or weight_decay < 0 or initial_accumulator_value < 0 or eps < 0:
            raise TracegradError("Adagrad: lr_decay, weight_decay, initial_accumulator_value "
                                 "and eps must be >= 0")
        super().__init__(params, {"lr": lr, "lr_decay": lr_decay, "weight_decay": weight_decay,
                                  "initial_accumulator_value": initial_accumulator_value,
                                  "eps": eps})

    def add_param_group(self, group: dict) -> None:
        super().add_param_group(group)
        g = self.param_groups[-1]
        v = float(g["initial_accumulator_value"])
        if v:
            for p in g["params"]:  # flat buffers are shared: each view is filled once
                self.state[p]["sum"]._value[...] = v

    def _static(self, group):
        return (group["weight_decay"] > 0,)

    @staticmethod
    def _rule(p, g, states, h, t, static):
        (use_wd,) = static
        lr, lr_decay, wd, eps = h
        if use_wd:
            g = g + wd * p
        clr = lr / (1.0 + (t - 1.0) * lr_decay)
        s = states[0] + g * g
        return p - clr * (g / (tnp.sqrt(s) + eps)), (s,)


# ``tg.optim.lr_scheduler`` (and ``from tracegrad.optim.lr_scheduler import StepLR``)
from . import optim_schedulers as lr_scheduler  # noqa: E402
import sys as _sys  # noqa: E402

_sys.modules.setdefault(__name__ + ".lr_scheduler", lr_scheduler)
del _sys
