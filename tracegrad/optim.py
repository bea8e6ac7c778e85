"""``tg.optim``: SGD, Adam, AdamW and RMSprop with PyTorch's update rules.

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
from .tensor import Tensor, _apply, dynamic_leaf, no_grad

T = importlib.import_module("tracegrad.tensor")  # the module (tg.tensor is the function)


class Optimizer:
    """Base class: ``param_groups`` (dicts with "params" and hyper-parameters), ``state`` (per
    parameter: leaf tensors), ``zero_grad()``, ``step()``."""

    _hyper_names: tuple = ()   # dynamic hyper-parameters, in the order _update reads them
    _state_names: tuple = ()   # per-parameter state tensors (zeros shaped like the parameter)

    def __init__(self, params, defaults: dict):
        self.defaults = dict(defaults)
        self.param_groups: list = []
        self.state: dict = {}
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
        group["params"] = ps
        for k, v in self.defaults.items():
            group.setdefault(k, v)
        self._validate(group)
        for p in ps:
            if id(p) not in {id(q) for q in self.state}:
                self.state[p] = {n: Tensor._leaf(np.zeros(p.shape if n != "step" else (),
                                                          p.dtype))
                                 for n in self._state_names}
        self.param_groups.append(group)
        T.bump_state_version()

    def _validate(self, group) -> None:
        if group.get("lr", 0.0) < 0.0:
            raise TracegradError(f"invalid learning rate {group['lr']}")

    def zero_grad(self, set_to_none: bool = True) -> None:
        for group in self.param_groups:
            for p in group["params"]:
                if set_to_none:
                    p.grad = None
                elif p.grad is not None:
                    p.grad.zero_()

    def _static(self, group) -> tuple:
        """Hashable choices that change the update's structure (not its numbers)."""
        return ()

    def step(self, closure=None):
        """Update every parameter that has a gradient; ``closure`` re-evaluates the loss."""
        loss = None
        if closure is not None:
            with T.enable_grad():
                loss = closure()
        for group in self.param_groups:
            self._step_group(group)
        return loss

    def _step_group(self, group) -> None:
        params = [p for p in group["params"] if p.grad is not None]
        if not params:
            return
        cap = T._capture()
        if cap is None:
            T._before_mutation()  # held lazy tensors keep the values of the old parameters
        states = [tuple(self.state[p][n] for n in self._state_names) for p in params]
        hyper = dynamic_leaf(lambda g=group: np.array([float(g[n]) for n in self._hyper_names],
                                                      np.float64))
        with no_grad():
            new_params, new_states = _apply(
                type(self)._update, (tuple(params), tuple(p.grad for p in params),
                                     tuple(states), hyper, self._static(group)),
                name=f"{type(self).__name__}_step")
        if cap is not None:  # inside tg.compile: the writes become outputs of the program
            for p, v in zip(params, new_params):
                cap.replace(p, v)
            for st, vs in zip(states, new_states):
                for s, v in zip(st, vs):
                    cap.replace(s, v)
            return
        outs = list(new_params) + [v for vs in new_states for v in vs]
        T._materialize(outs)
        for p, v in zip(params, new_params):
            np.copyto(p._value, T._value_of(v))
        for st, vs in zip(states, new_states):
            for s, v in zip(st, vs):
                s._value = T._value_of(v)

    @staticmethod
    def _update(params, grads, states, hyper, static):
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
        for i, s in sd["state"].items():
            for k, v in s.items():
                np.copyto(self.state[params[int(i)]][k]._value, v)

    def __repr__(self) -> str:
        hyper = ", ".join(f"{k}={v}" for k, v in self.defaults.items())
        return f"{type(self).__name__}({hyper})"


def _h(hyper, p, i):
    """Hyper-parameter i in the parameter's dtype (so float32 updates stay float32)."""
    return tnp.astype(hyper[i], p.dtype)


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
    def _update(params, grads, states, hyper, static):
        use_m, nesterov, use_wd = static
        new_p, new_s = [], []
        for p, g, st in zip(params, grads, states):
            lr, m, wd = (_h(hyper, p, i) for i in range(3))
            if use_wd:
                g = g + wd * p
            if use_m:
                buf = m * st[0] + g
                g = g + m * buf if nesterov else buf
                new_s.append((buf,))
            else:
                new_s.append(())
            new_p.append(p - lr * g)
        return tuple(new_p), tuple(new_s)


class Adam(Optimizer):
    """Adam with bias correction, as ``torch.optim.Adam`` (L2 ``weight_decay`` added to g)."""

    _hyper_names = ("lr", "beta1", "beta2", "eps", "weight_decay")
    _state_names = ("exp_avg", "exp_avg_sq", "step")
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
    def _update(params, grads, states, hyper, static):
        use_wd, decoupled = static
        new_p, new_s = [], []
        for p, g, (m, v, step) in zip(params, grads, states):
            lr, b1, b2, eps, wd = (_h(hyper, p, i) for i in range(5))
            if use_wd and decoupled:
                p = p * (1.0 - lr * wd)
            elif use_wd:
                g = g + wd * p
            step = step + 1.0
            m = b1 * m + (1.0 - b1) * g
            v = b2 * v + (1.0 - b2) * (g * g)
            bc1 = 1.0 - b1 ** step
            bc2 = 1.0 - b2 ** step
            denom = tnp.sqrt(v) / tnp.sqrt(bc2) + eps
            new_p.append(p - (lr / bc1) * (m / denom))
            new_s.append((m, v, step))
        return tuple(new_p), tuple(new_s)


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
    def _update(params, grads, states, hyper, static):
        use_wd, use_m, centered = static
        new_p, new_s = [], []
        for p, g, st in zip(params, grads, states):
            lr, alpha, eps, wd, mom = (_h(hyper, p, i) for i in range(5))
            st = list(st)
            if use_wd:
                g = g + wd * p
            sq = alpha * st[0] + (1.0 - alpha) * (g * g)
            out = [sq]
            if centered:
                ga = alpha * st[-1] + (1.0 - alpha) * g
                avg = tnp.sqrt(sq - ga * ga) + eps
            else:
                avg = tnp.sqrt(sq) + eps
            if use_m:
                buf = mom * st[1] + g / avg
                out.append(buf)
                p = p - lr * buf
            else:
                p = p - lr * (g / avg)
            if centered:
                out.append(ga)
            new_p.append(p)
            new_s.append(tuple(out))
        return tuple(new_p), tuple(new_s)
