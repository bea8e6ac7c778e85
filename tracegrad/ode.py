"""``tg.odeint(func, y0, t, *args)``: SciPy's ``odeint`` signature (``func(y, t, *args)``), solved
by an adaptive Dormand-Prince 5(4) method written with tracegrad's loops (a ``scan`` over the
output times, a ``while_loop`` of accepted/rejected steps inside each interval), differentiated
by the adjoint method: the backward pass integrates the adjoint ODE backwards in time with the
same solver, so memory does not grow with the number of steps (Pontryagin; Chen et al. 2018).

Values ``func`` closes over from an enclosing trace are found by tracing it once and passed as
extra parameters, so they receive gradients like ``args`` do (a closure is not frozen).
"""
from __future__ import annotations

import numpy as np

from . import numpy as tnp
from .control_flow import scan, while_loop
from .custom import custom_vjp
from .errors import ArgumentError
from .interpreter import eval_graph
from .source_info import user_src_with_text
from .tracer import TraceContext, aval_of

# Dormand-Prince 5(4): nodes, stages, 5th-order weights and (5th - 4th)-order error weights
_C = (0.0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1.0, 1.0)
_A = ((), (1 / 5,), (3 / 40, 9 / 40), (44 / 45, -56 / 15, 32 / 9),
      (19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729),
      (9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656),
      (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84))
_B5 = (35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0.0)
_B4 = (5179 / 57600, 0.0, 7571 / 16695, 393 / 640, -92097 / 339200, 187 / 2100, 1 / 40)
_E = tuple(b5 - b4 for b5, b4 in zip(_B5, _B4))
SAFETY, MIN_FACTOR, MAX_FACTOR = 0.9, 0.2, 10.0


def _rms(x):
    return tnp.sqrt(tnp.mean(x * x))


def _dopri_step(f, y, fy, t, dt):
    """One Dormand-Prince step: (y at t + dt, f there (first stage of the next step), the local
    error estimate)."""
    ks = [fy]
    for i in range(1, 7):
        yi = y + dt * sum(a * k for a, k in zip(_A[i], ks) if a != 0.0)
        ks.append(f(yi, t + _C[i] * dt))
    y_new = y + dt * sum(b * k for b, k in zip(_B5, ks) if b != 0.0)
    err = dt * sum(e * k for e, k in zip(_E, ks) if e != 0.0)
    return y_new, ks[-1], err


def _initial_step(f, y0, f0, t0, rtol, atol):
    """Hairer, Norsett & Wanner's starting step (Solving ODEs I, II.4)."""
    scale = atol + tnp.abs(y0) * rtol
    d0, d1 = _rms(y0 / scale), _rms(f0 / scale)
    h0 = tnp.where((d0 < 1e-5) | (d1 < 1e-5), 1e-6, 0.01 * d0 / tnp.maximum(d1, 1e-300))
    f1 = f(y0 + h0 * f0, t0 + h0)
    d2 = _rms((f1 - f0) / scale) / h0
    big = tnp.maximum(d1, d2)
    h1 = tnp.where(big <= 1e-15, tnp.maximum(1e-6, h0 * 1e-3), (0.01 / tnp.maximum(big, 1e-300))
                   ** (1.0 / 5))
    return tnp.minimum(100 * h0, h1)


def _solve(f, y0, ts, rtol, atol, mxstep, hmax):
    """y at each time of ``ts`` (1-D, increasing), y0 at ts[0]; y0 is a 1-D vector."""
    f0 = f(y0, ts[0])
    dt0 = _initial_step(f, y0, f0, ts[0], rtol, atol)

    def interval(carry, target):
        def not_there(c):
            y, fy, t, dt, n = c
            return (t < target) & (n < mxstep)

        def attempt(c):
            y, fy, t, dt, n = c
            h = tnp.minimum(tnp.minimum(dt, target - t), hmax)  # land on the output time
            y1, f1, err = _dopri_step(f, y, fy, t, h)
            tol = atol + rtol * tnp.maximum(tnp.abs(y), tnp.abs(y1))
            ratio = _rms(err / tol)
            ok = ratio <= 1.0
            factor = tnp.clip(SAFETY * tnp.where(ratio > 0, ratio, 1.0) ** -0.2, MIN_FACTOR,
                              MAX_FACTOR)
            factor = tnp.where(ratio > 0, factor, MAX_FACTOR)
            # a step shortened to land on the target does not shrink the next one
            new_dt = tnp.where(ok & (h < dt), dt, h * factor)
            t1 = tnp.where(ok, tnp.where(target - (t + h) <= 0, target, t + h), t)
            return (tnp.where(ok, y1, y), tnp.where(ok, f1, fy), t1, new_dt, n + 1)
        y, fy, t, dt = carry
        y, fy, t, dt, _ = while_loop(not_there, attempt, (y, fy, t, dt, np.int32(0)))
        return (y, fy, t, dt), y
    _, ys = scan(interval, (y0, f0, ts[0], dt0), ts[1:])
    return tnp.concatenate([y0[None], ys], axis=0)


class _Flat:
    """A pytree of arrays as one 1-D vector (the solver's state) and back."""

    def __init__(self, avals):
        self.avals = avals
        self.sizes = [int(np.prod(a.shape)) for a in avals]

    def ravel(self, xs):
        parts = [tnp.reshape(x, (-1,)) for x in xs]
        return parts[0] if len(parts) == 1 else tnp.concatenate(parts)

    def unravel(self, v):
        out, start = [], 0
        for a, n in zip(self.avals, self.sizes):
            out.append(tnp.reshape(v[start:start + n], a.shape))
            start += n
        return out


def odeint(func, y0, t, *args, rtol=1.4e-8, atol=1.4e-8, mxstep=10_000, hmax=np.inf):
    """Integrate ``dy/dt = func(y, t, *args)`` from ``y0`` at ``t[0]``; returns ``y`` at every
    time of ``t`` (shape ``(len(t),) + y0.shape``), as ``scipy.integrate.odeint``. Traced,
    differentiable in ``y0``, ``t``, ``args`` and any value ``func`` closes over (adjoint
    method). ``mxstep`` caps the steps per output interval; ``hmax`` the step size."""
    src = user_src_with_text(2)
    y0 = tnp.asarray(y0)
    t = tnp.asarray(t)
    if aval_of(t).ndim != 1 or aval_of(t).shape[0] < 1:
        raise ArgumentError("odeint: t must be a 1-D array of output times (t[0] is y0's)",
                            src=src)
    dt = aval_of(y0).dtype if aval_of(y0).dtype.kind == "f" else np.dtype("float64")
    y0, t = y0.astype(dt), t.astype(dt)
    args = tuple(tnp.asarray(a) for a in args)
    # closure conversion: trace func once; what it reads from enclosing traces becomes params
    with TraceContext("odeint dynamics") as ctx:
        ins = [ctx.new_input(aval_of(y0)), ctx.new_input(aval_of(t[0]))] + \
            [ctx.new_input(aval_of(a)) for a in args]
        out = tnp.asarray(func(*ins))
        if aval_of(out).shape != aval_of(y0).shape:
            raise ArgumentError(f"odeint: func returned shape {aval_of(out).shape}, but y has "
                                f"shape {aval_of(y0).shape}", src=src)
        graph, captured = ctx.to_graph([out.astype(dt)])
    params = list(args) + list(captured)

    def dynamics(y, tt, ps):
        return eval_graph(graph, [y, tt] + list(ps))[0]
    return _odeint(dynamics, float(rtol), float(atol), int(mxstep), float(hmax))(y0, t, *params)


def _odeint(dynamics, rtol, atol, mxstep, hmax):
    shape = None

    def forward(y0, ts, *ps):
        nonlocal shape
        shape = aval_of(y0).shape
        flat_y0 = tnp.reshape(y0, (-1,))
        ys = _solve(lambda y, tt: tnp.reshape(dynamics(tnp.reshape(y, shape), tt, ps), (-1,)),
                    flat_y0, ts, rtol, atol, mxstep, hmax)
        return tnp.reshape(ys, (aval_of(ts).shape[0],) + shape)

    solve = custom_vjp(forward)

    def fwd(y0, ts, *ps):
        ys = forward(y0, ts, *ps)
        return ys, (ys, ts) + tuple(ps)

    def bwd(res, g):
        ys, ts, ps = res[0], res[1], res[2:]
        flat = _Flat([aval_of(ys[0])] + [aval_of(p) for p in ps])
        n = aval_of(ts).shape[0]

        def aug(state, s, ps_):  # the adjoint system in reversed time s = -t
            y, a = state[0], state[1]
            from .api import vjp
            f_y, pull = vjp(lambda yy, *pp: dynamics(yy, -s, pp), y, *ps_)
            grads = pull(a)
            return [-f_y] + [grads[0]] + list(grads[1:])

        def interval(carry, i):
            a, ps_bar = carry[0], list(carry[1:])
            y_i = ys[i]
            a = a + g[i]
            state = flat.ravel([y_i, a] + [tnp.zeros_like(p) for p in ps])
            aug_flat = _Flat([aval_of(y_i), aval_of(a)] + [aval_of(p) for p in ps])

            def rhs(v, s):
                parts = aug_flat.unravel(v)
                d = aug([parts[0], parts[1]], s, ps)
                return aug_flat.ravel(d)
            path = _solve(rhs, state, tnp.stack([-ts[i], -ts[i - 1]]), rtol, atol, mxstep, hmax)
            parts = aug_flat.unravel(path[1])
            a_new = parts[1]
            t_bar = tnp.sum(g[i] * dynamics(y_i, ts[i], ps))
            return (a_new,) + tuple(pb + d for pb, d in zip(ps_bar, parts[2:])), t_bar
        init = (tnp.zeros_like(ys[0]),) + tuple(tnp.zeros_like(p) for p in ps)
        if n > 1:
            carry, t_bars = scan(interval, init, tnp.arange(n - 1, 0, -1))
        else:
            carry, t_bars = init, tnp.zeros((0,), ys.dtype)
        # ys[0] is y0 whatever t[0] is, so t[0]'s cotangent is minus the adjoint carried back
        # to t0 (without g[0]) against f(y0, t0); t[i]'s (i >= 1, produced for i = n-1 .. 1)
        # is g[i] . f(y_i, t_i)
        t0_bar = -tnp.sum(carry[0] * dynamics(ys[0], ts[0], ps))
        a0 = carry[0] + g[0]
        ts_bar = tnp.concatenate([t0_bar[None], t_bars[::-1]]) if n > 1 else t0_bar[None]
        return (a0, ts_bar) + tuple(carry[1:])

    solve.defvjp(fwd, bwd)
    return solve
