"""Helpers for users' compiled-kernel tests: gradients against finite differences, and backends
against each other and against NumPy eager.

``check_grads`` evaluates in float64 with Richardson-extrapolated central differences (error
O(h**4)), so tolerances can be tight; on failure it names the worst element, its absolute and
relative error and the tolerance used. Complex arguments are perturbed in their real and their
imaginary direction, and complex outputs are projected by ``Re(u * out)`` with a complex ``u``
(the convention of docs/gradients.md), so neither is skipped.
"""
from __future__ import annotations

import numpy as np

from .errors import ArgumentError, TracegradError
from .pytree import tree_flatten, tree_unflatten
from .source_info import check_callable, names_caller


class GradientCheckError(AssertionError):
    """A derivative that disagrees with finite differences (the message has the details)."""


def _float_leaf_positions(args):
    leaves, tree = tree_flatten(tuple(args))
    pos = [i for i, x in enumerate(leaves) if np.asarray(x).dtype.kind in "fc"]
    return leaves, tree, pos


_WIDE = {"f": np.float64, "c": np.complex128}


def _to_f64(args):
    leaves, tree = tree_flatten(tuple(args))
    out = [np.array(x, dtype=_WIDE[np.asarray(x).dtype.kind])
           if np.asarray(x).dtype.kind in _WIDE else x for x in leaves]
    return tree_unflatten(tree, out)


def _project(fn, u_leaves):
    """Scalar u . fn(*args) for a fixed random cotangent u (matches fn's output structure)."""
    from . import numpy as tnp

    def scalar(*args):
        out_leaves, _ = tree_flatten(fn(*args))
        total = 0.0
        for o, u in zip(out_leaves, u_leaves):
            if u is None:
                continue
            if np.iscomplexobj(u):  # a complex output: the real loss Re(u * out)
                term = tnp.real(tnp.sum(tnp.multiply(tnp.astype(o, np.complex128), u)))
            else:
                term = tnp.sum(tnp.multiply(tnp.astype(o, np.float64), u))
            total = tnp.add(total, term)
        return total
    return scalar


def _random_cotangent(fn, args, rng):
    out_leaves, _ = tree_flatten(fn(*args))
    us = []
    for o in out_leaves:
        o = np.asarray(o)
        us.append(rng.standard_normal(o.shape) if o.dtype.kind == "f" else
                  rng.standard_normal(o.shape) + 1j * rng.standard_normal(o.shape)
                  if o.dtype.kind == "c" else None)
    return us


def _numeric_partial(scalar_fn, leaves, tree, leaf, index, h, direction=1.0):
    def at(delta):
        shifted = [np.array(x, copy=True) if i == leaf else x for i, x in enumerate(leaves)]
        shifted[leaf][index] += delta * direction  # direction 1j: a complex leaf's imaginary part
        return float(scalar_fn(*tree_unflatten(tree, shifted)))

    def central(step):
        return (at(step) - at(-step)) / (2 * step)
    d1, d2 = central(h), central(h / 2)
    return (4 * d2 - d1) / 3  # Richardson: cancels the h**2 error term


@names_caller
def check_grads(fn, args, order: int = 1, modes=("rev", "fwd"), rtol: float | None = None,
                atol: float | None = None, eps: float = 1e-3, max_elements: int = 64,
                seed: int = 0) -> dict:
    """Check ``fn``'s derivatives (w.r.t. every float argument) against finite differences.

    ``order=2`` also checks the derivative of the gradient. Each mode's derivative of
    ``u . fn(*args)`` (``u`` a random cotangent) is compared element by element with central
    differences (at most ``max_elements`` sampled elements per argument). Returns a report dict;
    raises ``GradientCheckError`` naming the worst element on failure.
    """
    from .api import grad, jit, jvp
    check_callable(fn, "check_grads' fn")
    _check_args(args, "check_grads")
    if order not in (1, 2):
        raise ArgumentError("check_grads: order must be 1 or 2")
    if isinstance(modes, str) or not isinstance(modes, (tuple, list)):
        raise ArgumentError(f"check_grads: modes must be a tuple such as ('rev', 'fwd'), got "
                            f"{modes!r}")
    for m in modes:
        if m not in ("rev", "fwd"):
            raise ArgumentError(f"check_grads: unknown mode {m!r} (use 'rev' and/or 'fwd')")
    for name, v in (("rtol", rtol), ("atol", atol), ("eps", eps)):
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
            raise ArgumentError(f"check_grads: {name} must be a number, got {v!r}")
    rtol = 1e-6 if rtol is None else rtol
    atol = 1e-8 if atol is None else atol
    rng = np.random.default_rng(seed)
    args = _to_f64(args)
    leaves, tree, pos = _float_leaf_positions(args)
    if not pos:
        raise TracegradError("check_grads: no float or complex arguments to differentiate")
    u = _random_cotangent(fn, args, rng)
    scalar = _project(fn, u)
    # one compiled forward-mode function, reused for every basis tangent
    jvp_scalar = jit(lambda a, t: jvp(scalar, a, t)[1])
    report = {"worst": None, "checked": 0, "rtol": rtol, "atol": atol}

    # analytic derivatives of the scalar projection, per mode, as flat leaf lists
    analytic = {}
    float_args = [i for i, a in enumerate(args)
                  if any(np.asarray(x).dtype.kind in "fc" for x in tree_flatten(a)[0])]
    if "rev" in modes:
        g = grad(scalar, argnums=tuple(float_args))(*args)
        analytic["rev"] = _leaves_for(g, float_args, args)
    worst = (0.0, None)
    for leaf in pos:
        x = np.asarray(leaves[leaf])
        idxs = list(np.ndindex(x.shape))
        if len(idxs) > max_elements:
            pick = rng.choice(len(idxs), max_elements, replace=False)
            idxs = [idxs[i] for i in sorted(pick)]
        directions = (1.0, 1j) if x.dtype.kind == "c" else (1.0,)
        for idx, direction in ((i, d) for i in idxs for d in directions):
            num = _numeric_partial(scalar, leaves, tree, leaf, idx, eps * max(1.0, abs(x[idx])),
                                   direction)
            for mode in modes:
                if mode == "rev":  # a complex gradient is dL/dx - i dL/dy
                    g = complex(np.asarray(analytic["rev"][leaf])[idx])
                    val = g.real if direction == 1.0 else -g.imag
                else:
                    tangent_leaves = [np.zeros(np.shape(v), _WIDE.get(np.asarray(v).dtype.kind,
                                                                       np.float64))
                                      for v in leaves]
                    tangent_leaves[leaf][idx] = direction
                    val = float(jvp_scalar(tuple(args), tree_unflatten(tree, tangent_leaves)))
                err = abs(val - num)
                tol = atol + rtol * abs(num)
                report["checked"] += 1
                if err / max(tol, 1e-300) > worst[0]:
                    worst = (err / tol, dict(mode=mode, leaf=leaf, index=idx, analytic=val,
                                             numeric=num, abs_err=err,
                                             rel_err=err / max(abs(num), 1e-300), tol=tol))
    report["worst"] = worst[1]
    if worst[0] > 1.0:
        w = worst[1]
        raise GradientCheckError(
            f"{w['mode']}-mode derivative of argument leaf {w['leaf']} at index {w['index']}: "
            f"analytic {w['analytic']:.17g} vs numeric {w['numeric']:.17g} "
            f"(abs err {w['abs_err']:.3g}, rel err {w['rel_err']:.3g}, tolerance "
            f"atol {atol} + rtol {rtol} * |numeric| = {w['tol']:.3g})")
    if order == 2:
        first = grad(scalar, argnums=tuple(float_args))

        def gradient_fn(*a):
            return first(*a)
        report["order2"] = check_grads(gradient_fn, args, order=1, modes=modes, rtol=rtol * 10,
                                       atol=atol * 10, eps=eps, max_elements=max_elements,
                                       seed=seed + 1)
    return report


def _leaves_for(g, float_args, args):
    """Map a grad result (tuple per float arg) to the flat leaf positions of ``args``."""
    per_arg = g if isinstance(g, tuple) else (g,)
    out = {}
    offset = 0
    for i, a in enumerate(args):
        n = len(tree_flatten(a)[0])
        if i in float_args:
            gl = tree_flatten(per_arg[float_args.index(i)])[0]
            for k in range(n):
                out[offset + k] = gl[k]
        offset += n
    return out


def _check_args(args, who: str) -> None:
    if not isinstance(args, (tuple, list)):
        raise ArgumentError(f"{who}: args must be a tuple of the function's arguments, e.g. "
                            f"(x,) for one argument; got {type(args).__name__}")


@names_caller
def assert_backends_agree(fn, args, rtol: float = 1e-12, atol: float = 0.0,
                          backends=("numpy", "c")) -> dict:
    """Run ``fn`` on each available backend and as NumPy eager; assert all results agree.

    Returns ``{backend: outputs}``; a backend that is not available here is reported under
    ``"skipped"`` rather than failing.
    """
    from .api import jit
    from .errors import CompileError, UnsupportedOperationError
    check_callable(fn, "assert_backends_agree's fn")
    _check_args(args, "assert_backends_agree")
    eager = fn(*args)
    results = {"eager": eager, "skipped": {}}
    for b in backends:
        try:
            results[b] = jit(fn, backend=b)(*args)
        except (UnsupportedOperationError, CompileError) as exc:
            if b == "c":
                results["skipped"][b] = str(exc).splitlines()[0]
                continue
            raise
    ref_leaves, ref_tree = tree_flatten(eager)
    for b in backends:
        if b not in results:
            continue
        leaves, t = tree_flatten(results[b])
        if t != ref_tree:
            raise AssertionError(f"backend {b}: output structure {t} differs from eager "
                                 f"{ref_tree}")
        for i, (x, r) in enumerate(zip(leaves, ref_leaves)):
            x, r = np.asarray(x), np.asarray(r)
            if x.shape != r.shape:
                raise AssertionError(f"backend {b}, output {i}: shape {x.shape} vs eager {r.shape}")
            np.testing.assert_allclose(x, r, rtol=rtol, atol=atol,
                                       err_msg=f"backend {b}, output {i} differs from NumPy eager")
    return results
