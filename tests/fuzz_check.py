"""The checks run on each random program (``fuzz_programs.Program``): forward on every backend
and pipeline against NumPy eager, gradients against finite differences and forward against
reverse mode. Each check raises ``AssertionError`` with the program's source, so a failure
reads as a ready-made regression test.

What is compared, and why the tolerances are what they are:

* forward: the interpreter (``eval_graph``, with every intermediate's aval checked) on the
  traced graph and on the ``O0`` and ``O2`` pipelines' graphs; the NumPy backend at ``O0`` and
  ``O2``; the C backend at ``O0`` and ``O2`` (``check_c_batch``, several programs per compile).
  Shapes and dtypes exactly, ints and bools exactly, floats within ``8 * err`` where ``err`` is
  the generator's rounding-error bound of that output.
* gradients (float64 programs): ``s(args) = sum_k <w_k, out_k>`` for random ``w_k``; reverse
  mode at ``O0`` and ``O2`` and forward mode in one random direction ``v``; ``<grad s, v>``
  must equal ``jvp(s)(v)`` to 1e-9 of ``sum |grad s| |v|`` (both are exact derivatives up to
  rounding, at kinks too, when the two modes use the same conventions), and it must equal the
  Richardson-extrapolated central difference unless the difference quotients at ``h`` and
  ``h / 2`` disagree (then a kink or jump lies within ``h`` and finite differences say nothing).
"""
from __future__ import annotations

import warnings

import numpy as np
from tracegrad.passes import run_pipeline

import tracegrad as tg
from tracegrad.interpreter import eval_graph
from tracegrad.pytree import tree_flatten
from tracegrad.staging import trace

LEVELS = ("O0", "O2")
TINY = 1e-300


class FuzzFailure(AssertionError):
    pass


def _fail(prog_text: str, what: str, detail: str):
    raise FuzzFailure(f"{what}: {detail}\n--- program ---\n{prog_text}")


def eager(fn, args):
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [np.asarray(o) for o in fn(*args)]


def compare_outputs(got, ref, vals, prog_text: str, what: str) -> None:
    got = list(got)
    if len(got) != len(ref):
        _fail(prog_text, what, f"{len(got)} outputs, NumPy eager has {len(ref)}")
    for i, (g, r, v) in enumerate(zip(got, ref, vals)):
        g = np.asarray(g)
        if g.shape != r.shape or g.dtype != r.dtype:
            _fail(prog_text, what, f"output {i} is {g.dtype}{list(g.shape)}, NumPy eager gives "
                                   f"{r.dtype}{list(r.shape)}")
        if g.dtype.kind != "f":
            if not np.array_equal(g, r):
                _fail(prog_text, what, f"output {i} differs from NumPy eager:\n{g}\nvs\n{r}")
            continue
        tol = 8 * v.err + TINY
        diff = np.abs(g.astype(np.float64) - r.astype(np.float64))
        bad = ~(diff <= tol) & ~(np.isnan(g) & np.isnan(r))
        if bad.any():
            j = np.unravel_index(np.argmax(np.where(bad, diff, -1)), g.shape) if g.ndim else ()
            _fail(prog_text, what, f"output {i} at {j}: {g[j]!r} vs NumPy eager {r[j]!r} "
                                   f"(|diff| {diff[j]:.3g} > tolerance {tol:.3g}; "
                                   f"{int(bad.sum())} of {g.size} elements off)")


def check_forward(prog, args=None, ref=None) -> None:
    """Interpreter (traced, O0, O2 graphs) and NumPy backend (O0, O2) against NumPy eager."""
    fn = prog.function()
    args = prog.make_args() if args is None else args
    ref = eager(fn, args) if ref is None else ref
    text = str(prog)
    traced = trace(fn, tuple(args), {})
    leaves = tree_flatten(tuple(args))[0]
    graphs = {"traced": traced.graph}
    for level in LEVELS:
        graphs[level], _ = run_pipeline(traced.graph, level, check=True)
    for name, graph in graphs.items():
        with np.errstate(all="ignore"):
            outs = eval_graph(graph, leaves, check=True)
        compare_outputs(outs, ref, prog.out_vals, text, f"interpreter on the {name} graph")
    for level in LEVELS:
        got = tg.jit(fn, backend="numpy", opt_level=level)(*args)
        compare_outputs(got, ref, prog.out_vals, text, f"NumPy backend at {level}")
    # once more with the inputs in other memory layouts, checking they are never written
    odd = relayout_args(args, prog.seed)
    before = _copies(odd)
    got = tg.jit(fn, backend="numpy")(*odd)
    what = "NumPy backend on non-contiguous/read-only/misaligned inputs"
    compare_outputs(got, ref, prog.out_vals, text, what)
    check_untouched_and_fresh(odd, before, got, text, what)


# --- memory layouts of the inputs ---------------------------------------------------------------
LAYOUTS = ("C", "F", "strided", "reversed", "readonly", "misaligned")


def relayout(x, how: str):
    """``x``'s values in another memory layout (non-contiguous, Fortran order, negative
    strides, read-only, or at an address that is not a multiple of the item size)."""
    if not isinstance(x, np.ndarray) or how == "C":
        return x
    if how == "F" and x.ndim >= 2:  # (np.asfortranarray would make a 0-d array 1-d)
        return np.asfortranarray(x)
    if how == "strided" and x.ndim:
        big = np.zeros(x.shape[:-1] + (2 * x.shape[-1],), x.dtype)
        big[..., ::2] = x
        return big[..., ::2]
    if how == "reversed" and x.ndim:
        return np.flip(np.flip(x).copy())
    if how == "misaligned" and x.dtype.itemsize > 1:
        buf = np.zeros(x.nbytes + 1, np.uint8)
        out = np.frombuffer(buf.data, dtype=x.dtype, count=x.size, offset=1).reshape(x.shape)
        out[...] = x
        out.flags.writeable = False  # and read-only: frombuffer views are easy to make so
        return out
    out = x.copy()
    out.flags.writeable = False
    return out


def relayout_args(args, seed: int) -> list:
    rng = np.random.default_rng(seed)
    return [relayout(a, LAYOUTS[rng.integers(len(LAYOUTS))]) for a in args]


def check_untouched_and_fresh(args, before, outs, prog_text: str, what: str) -> None:
    """Inputs are never written; outputs share memory with no input and no other output."""
    for i, (a, b) in enumerate(zip(args, before)):
        if isinstance(a, np.ndarray) and not np.array_equal(a, b, equal_nan=a.dtype.kind == "f"):
            _fail(prog_text, what, f"input a{i} was written")
    arrays = [a for a in args if isinstance(a, np.ndarray)]
    for k, o in enumerate(outs):
        o = np.asarray(o)
        if not o.flags.writeable:
            _fail(prog_text, what, f"output {k} is read-only")
        for a in arrays:
            if o.size and np.shares_memory(o, a):
                _fail(prog_text, what, f"output {k} shares memory with an input")
        for j, o2 in enumerate(outs[:k]):
            if o.size and isinstance(o2, np.ndarray) and np.shares_memory(o, o2):
                _fail(prog_text, what, f"outputs {j} and {k} share memory")


def _copies(args):
    return [np.array(a, copy=True) if isinstance(a, np.ndarray) else a for a in args]


# --- gradients --------------------------------------------------------------------------------
def grad_setup(prog):
    """(float argument positions, scalar projection fn, weights) or None when the program has no
    float64 argument or no float64 output to differentiate."""
    fpos = tuple(i for i, a in enumerate(prog.args) if a.dtype == "float64")
    outs = [k for k, v in enumerate(prog.out_vals) if v.dtype == "float64"]
    if not fpos or not outs:
        return None
    rng = np.random.default_rng(prog.seed + 1)
    ws = {k: rng.standard_normal(prog.out_vals[k].shape) for k in outs}
    fn = prog.function()

    def scalar(*args):
        o = fn(*args)
        total = 0.0
        for k, w in ws.items():
            total = total + np.sum(o[k] * w)
        return total
    return fpos, scalar, ws


def directional_fd(scalar, args, fpos, v, h):
    def at(t):
        shifted = list(args)
        for i, d in zip(fpos, v):
            shifted[i] = args[i] + t * d
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return float(scalar(*shifted))
    return (at(h) - at(-h)) / (2 * h)


def mode_tolerance(prog, float64_rel: float) -> float:
    """Relative tolerance between two differentiation modes. Reverse and forward mode round at
    different points, so a derivative that passes through float32 (an ``astype(np.float32)``,
    a float32 argument) agrees only to float32 rounding: the long profile once flagged
    <grad, v> = 0.009833367556 vs jvp(v) = 0.009833367708 (1.6e-8 relative) through a float32
    cast, where 1e-9 was asked (tests/test_regressions.py)."""
    low = "float32" in prog.source or any(a.dtype == "float32" for a in prog.args)
    return max(float64_rel, 64 * 2.0 ** -24) if low else float64_rel


def quotients_converge(ds, noise: float, agree: float) -> bool:
    """Whether difference quotients at steps h, h/2, h/4, h/8 can be trusted: each halving
    must shrink the change at least twofold (a smooth function's error falls as h**2), or all
    agree to rounding. A kink crossed at some |t0| < h adds about c * t0 / step to each
    quotient, a change that grows as the step halves; with three quotients only, several kinks
    crossed at different t0 (thousands of values fed by one argument through a product) once
    looked convergent and failed a correct gradient (tests/test_regressions.py)."""
    steps = [abs(a - b) for a, b in zip(ds, ds[1:])]
    shrinking = all(later <= 0.5 * earlier + noise for earlier, later in zip(steps, steps[1:]))
    return shrinking or abs(ds[0] - ds[-1]) <= noise + agree


def _sparse(v, rng, k: int = 8):
    """``v`` with all but ``k`` random elements set to zero."""
    if v.size <= k:
        return v
    keep = np.zeros(v.size, bool)
    keep[rng.choice(v.size, k, replace=False)] = True
    return np.where(keep.reshape(v.shape), v, 0.0)


def check_gradients(prog, args=None) -> dict:
    """Reverse (O0, O2) vs forward mode vs finite differences in one random direction.
    Returns ``{"fd": checked?, "rev": {level: grads}}``."""
    setup = grad_setup(prog)
    if setup is None:
        return {"fd": False, "rev": None}
    fpos, scalar, _ = setup
    text = str(prog)
    args = prog.make_args() if args is None else args
    rng = np.random.default_rng(prog.seed + 2)
    v = [rng.standard_normal(np.shape(args[i])) for i in fpos]
    rev = {}
    for level in LEVELS:
        g = tg.jit(tg.grad(scalar, argnums=fpos), backend="numpy", opt_level=level)(*args)
        for i, gi in zip(fpos, g):
            gi = np.asarray(gi)
            if gi.shape != np.shape(args[i]) or gi.dtype != np.float64:
                _fail(text, f"gradient at {level}", f"gradient of a{i} is {gi.dtype}"
                                                     f"{list(gi.shape)}, the argument "
                                                     f"{np.asarray(args[i]).dtype}"
                                                     f"{list(np.shape(args[i]))}")
        rev[level] = [np.asarray(gi) for gi in g]
    scale = sum(float(np.sum(np.abs(gi) * np.abs(vi))) for gi, vi in zip(rev["O2"], v))
    for gi0, gi2 in zip(rev["O0"], rev["O2"]):
        if not np.allclose(gi0, gi2, rtol=1e-9, atol=1e-9 * (1 + scale)):
            _fail(text, "gradient O0 vs O2", f"{gi0} vs {gi2}")
    d_rev = sum(float(np.sum(gi * vi)) for gi, vi in zip(rev["O2"], v))
    tangents = tuple(v[fpos.index(i)] if i in fpos else np.zeros(np.shape(a))
                     for i, a in enumerate(args))
    _, d_fwd = tg.jvp(scalar, tuple(args), tangents)
    d_fwd = float(d_fwd)
    if not abs(d_rev - d_fwd) <= mode_tolerance(prog, 1e-9) * (scale + abs(d_fwd)) + 1e-12:
        _fail(text, "reverse vs forward mode", f"<grad, v> = {d_rev!r} but jvp(v) = {d_fwd!r} "
                                               f"(scale {scale:.3g})")
    # finite differences along a sparse copy of v (at most 8 elements per argument): a dense
    # step through a large array crosses the kinks of some elements (maximum, abs, floor)
    v_fd = [_sparse(vi, rng) for vi in v]
    d_fd = sum(float(np.sum(gi * vi)) for gi, vi in zip(rev["O2"], v_fd))
    scale_fd = sum(float(np.sum(np.abs(gi) * np.abs(vi))) for gi, vi in zip(rev["O2"], v_fd))
    h = 1e-4
    d1, d2, d3, d4 = (directional_fd(scalar, args, fpos, v_fd, h / k) for k in (1, 2, 4, 8))
    fd = (4 * d3 - d2) / 3  # Richardson: cancels the h**2 term
    # rounding noise of a difference quotient: eps * (sum of |terms| of s) / step
    outs = eager(prog.function(), args)
    mag = sum(float(np.sum(np.abs(outs[k]) * np.abs(w))) for k, w in setup[2].items())
    noise = 64 * 2.0 ** -53 * (mag + 1) / (h / 8)
    smooth = quotients_converge((d1, d2, d3, d4), noise, 1e-10 * (scale_fd + abs(d3)))
    tol = abs(d2 - d3) + noise + 1e-7 * (scale_fd + abs(fd)) + 1e-12
    if smooth and not abs(d_fd - fd) <= tol:
        _fail(text, "gradient vs finite differences",
              f"<grad, v> = {d_fd!r}, central differences {fd!r} (h {h}: {d1!r}, "
              f"h/2: {d2!r}, h/4: {d3!r}; tolerance {tol:.3g})")
    return {"fd": smooth, "rev": rev}


def check_second_order(prog, args=None) -> bool:
    """Hessian-vector products: forward-over-reverse (``tg.hvp``) against reverse-over-reverse
    (``grad`` of ``<grad s, v>``), and against central differences of the gradient. Returns
    whether the finite-difference comparison was made (it is skipped near kinks)."""
    setup = grad_setup(prog)
    if setup is None:
        return False
    fpos, scalar, _ = setup
    text = str(prog)
    args = prog.make_args() if args is None else args
    rng = np.random.default_rng(prog.seed + 3)
    v = [rng.standard_normal(np.shape(args[i])) for i in fpos]
    u = [rng.standard_normal(np.shape(args[i])) for i in fpos]

    def sub(*f):  # s as a function of the float arguments only
        full = list(args)
        for i, x in zip(fpos, f):
            full[i] = x
        return scalar(*full)
    fargs = tuple(args[i] for i in fpos)
    n = len(fpos)
    argnums = tuple(range(n)) if n > 1 else 0
    hv = tg.hvp(sub, fargs, tuple(v))
    hv = list(hv) if n > 1 else [hv]

    def g_dot_v(*f):
        g = tg.grad(sub, argnums=argnums)(*f)
        g = g if n > 1 else (g,)
        total = 0.0
        for gi, vi in zip(g, v):
            total = total + np.sum(gi * vi)
        return total
    rr = tg.grad(g_dot_v, argnums=argnums)(*fargs)
    rr = list(rr) if n > 1 else [rr]
    d_fr = sum(float(np.sum(np.asarray(h) * ui)) for h, ui in zip(hv, u))
    d_rr = sum(float(np.sum(np.asarray(h) * ui)) for h, ui in zip(rr, u))
    scale = sum(float(np.sum(np.abs(np.asarray(h)) * np.abs(ui))) for h, ui in zip(hv, u))
    if not abs(d_fr - d_rr) <= mode_tolerance(prog, 1e-8) * (scale + abs(d_rr)) + 1e-10:
        _fail(text, "hvp: forward-over-reverse vs reverse-over-reverse",
              f"<Hv, u> = {d_fr!r} vs {d_rr!r} (scale {scale:.3g})")
    grad_fn = tg.jit(tg.grad(sub, argnums=argnums), backend="numpy")

    def gu(t):  # <grad s(x + t v), u>
        g = grad_fn(*(x + t * vi for x, vi in zip(fargs, v)))
        g = g if n > 1 else (g,)
        return sum(float(np.sum(np.asarray(gi) * ui)) for gi, ui in zip(g, u))
    h = 1e-4
    d1, d2, d3, d4 = ((gu(h / k) - gu(-h / k)) / (2 * h / k) for k in (1, 2, 4, 8))
    fd = (4 * d3 - d2) / 3
    gscale = sum(float(np.sum(np.abs(ui))) for ui in u) * (1 + max(
        float(np.max(np.abs(np.asarray(gi)), initial=0)) for gi in rr))
    noise = 64 * 2.0 ** -53 * gscale / (h / 8)
    smooth = quotients_converge((d1, d2, d3, d4), noise, 1e-10 * (scale + abs(d3)))
    tol = abs(d2 - d3) + noise + 1e-6 * (scale + abs(fd)) + 1e-10
    if smooth and not abs(d_fr - fd) <= tol:
        _fail(text, "hvp vs finite differences of the gradient",
              f"<Hv, u> = {d_fr!r}, differences {fd!r} (h {h}: {d1!r}, h/2: {d2!r}, "
              f"h/4: {d3!r}; tolerance {tol:.3g})")
    return smooth


# --- the C backend, several programs per compile -----------------------------------------------
def batch_function(progs):
    """One function running every program on its own slice of a flat argument list."""
    fns = [p.function() for p in progs]
    counts = [len(p.args) for p in progs]

    def batch(*flat):
        outs, k = [], 0
        for f, n in zip(fns, counts):
            outs.extend(f(*flat[k:k + n]))
            k += n
        return tuple(outs)
    return batch


def check_c_batch(progs, args_list=None, grads=None) -> None:
    """The C backend at O0 and O2 on all programs in one compile per level, and the gradient
    of the sum of their projections (one more compile) against the NumPy backend's."""
    args_list = [p.make_args() for p in progs] if args_list is None else args_list
    refs = [eager(p.function(), a) for p, a in zip(progs, args_list)]
    flat = [x for a in args_list for x in a]
    batch = batch_function(progs)
    for level in LEVELS:
        # at O2 the inputs come in other memory layouts (and must not be written)
        call_args = flat if level == "O0" else relayout_args(flat, progs[0].seed)
        before = _copies(call_args)
        got = list(tg.jit(batch, backend="c", opt_level=level)(*call_args))
        check_untouched_and_fresh(call_args, before, got, "\n".join(map(str, progs)),
                                  f"C backend at {level}")
        k = 0
        for p, ref in zip(progs, refs):
            n = len(ref)
            compare_outputs(got[k:k + n], ref, p.out_vals, str(p), f"C backend at {level} "
                            f"(in a batch of {len(progs)})")
            k += n
    # gradients: the sum of the programs' projections, w.r.t. every float64 argument
    setups, k = [], 0
    for p in progs:
        s = grad_setup(p)
        if s is not None:
            setups.append((p, s, k))
        k += len(p.args)
    if not setups:
        return
    wrt = tuple(off + i for _, (fpos, _, _), off in setups for i in fpos)

    def total(*flat_args):
        acc = 0.0
        for p, (fpos, scalar, _), off in setups:
            acc = acc + scalar(*flat_args[off:off + len(p.args)])
        return acc
    got = tg.jit(tg.grad(total, argnums=wrt), backend="c")(*flat)
    want = tg.jit(tg.grad(total, argnums=wrt), backend="numpy")(*flat)
    j = 0
    for p, (fpos, _, _), off in setups:
        for i in fpos:
            g, w = np.asarray(got[j]), np.asarray(want[j])
            j += 1
            scale = float(np.max(np.abs(w), initial=0.0))
            if g.shape != w.shape or g.dtype != w.dtype or not np.allclose(
                    g, w, rtol=1e-9, atol=1e-9 * (1 + scale)):
                _fail(str(p), "C gradient vs NumPy backend gradient",
                      f"a{i}: {g!r} vs {w!r}")
