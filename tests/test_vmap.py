"""tg.vmap: every row of the primitive table and every corpus program, batched, equals a Python
loop over the examples (NumPy backend per row; the C backend on all rows in one program), with
some arguments mapped and others shared; composition with grad/jvp/jit/vmap; in_axes/out_axes
pytrees; the errors. (Batching rules: beside each primitive; the pass: passes/vmap.py.)"""
from __future__ import annotations

import numpy as np
import pytest

import tracegrad as tg
from tracegrad.codegen.c.unsupported import first_complex
from tracegrad.errors import ArgumentError, ShapeError
from tracegrad.pytree import tree_flatten

from c_support import needs_c
from cases import CASES, make_args, shapes_id
from programs import PROGRAMS

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")
B = 3


def _compare(got, ref):
    for g, r in zip(tree_flatten(got)[0], tree_flatten(ref)[0]):
        g, r = np.asarray(g), np.asarray(r)
        assert g.shape == r.shape and g.dtype == r.dtype, (g.shape, r.shape, g.dtype, r.dtype)
        if g.dtype.kind in "iub":
            np.testing.assert_array_equal(g, r)
        else:
            tol = dict(rtol=2e-5, atol=1e-5) if g.dtype == np.float32 else \
                dict(rtol=1e-11, atol=1e-12)
            np.testing.assert_allclose(g, r, equal_nan=True, **tol)


def _stacked(case, shape_set, dtype, seed):
    """B draws of the row's arguments; mapped: the first argument, or all of them."""
    draws = [make_args(case, shape_set, dtype, np.random.default_rng(seed + i))
             for i in range(B)]
    return draws


def _loop(fn, draws, mapped):
    outs = []
    for d in draws:
        args = [d[i] if m else draws[0][i] for i, m in enumerate(mapped)]
        outs.append(fn(*args))
    leaves = [tree_flatten(o)[0] for o in outs]
    return [np.stack([np.asarray(x[k]) for x in leaves]) for k in range(len(leaves[0]))]


def _mapped_args(draws, mapped):
    return [np.stack([d[i] for d in draws]) if m else draws[0][i] for i, m in enumerate(mapped)]


def _row_params():
    out = []
    for c in CASES:
        if not c.arity:
            continue  # constants and iota: nothing to map
        s = sorted(c.shapes, key=lambda s: -sum(int(np.prod(x)) for x in s))[0]
        dt = c.dtypes[-1]
        for mapped in {(True,) * c.arity, (True,) + (False,) * (c.arity - 1),
                       (False,) * (c.arity - 1) + (True,)}:
            tag = "".join("m" if m else "s" for m in mapped)
            out.append(pytest.param(c, s, dt, mapped, id=f"{c.id}-{shapes_id(s)}-{dt}-{tag}"))
    return out


@pytest.mark.parametrize("case,shape_set,dtype,mapped", _row_params())
def test_every_row_batched_equals_a_loop(case, shape_set, dtype, mapped):
    draws = _stacked(case, shape_set, dtype, 0)
    in_axes = tuple(0 if m else None for m in mapped)
    got = tg.jit(tg.vmap(case.fn, in_axes=in_axes))(*_mapped_args(draws, mapped))
    _compare(got, _loop(case.fn, draws, mapped))


@needs_c
def test_every_row_batched_on_c_in_one_program():
    """All rows (every argument mapped) in one C program, so the table costs one compile."""
    rows, fns, argv = [], [], []
    for c in CASES:
        real = [d for d in c.dtypes if np.dtype(d).kind != "c"]
        if not c.arity or not real:
            continue
        s = sorted(c.shapes, key=lambda s: -sum(int(np.prod(x)) for x in s))[0]
        draws = _stacked(c, s, real[-1], 1)
        if first_complex(tg.jit(tg.vmap(c.fn), backend="numpy").lower(
                *_mapped_args(draws, (True,) * c.arity)).ir) is not None:
            continue  # C refuses complex values (fft rows): test_c_backend checks the error
        rows.append((c, draws))
        fns.append(tg.vmap(c.fn))
        argv.append(_mapped_args(draws, (True,) * c.arity))

    def everything(*flat):
        outs, k = [], 0
        for f, a in zip(fns, argv):
            outs.append(f(*flat[k:k + len(a)]))
            k += len(a)
        return tuple(outs)
    flat = [x for a in argv for x in a]
    got = tg.jit(everything, backend="c")(*flat)
    for (c, draws), g in zip(rows, got):
        try:
            _compare(g, _loop(c.fn, draws, (True,) * c.arity))
        except AssertionError as exc:
            raise AssertionError(f"row {c.id}: {exc}") from None


@pytest.mark.parametrize("prog", PROGRAMS, ids=[p.name for p in PROGRAMS])
def test_corpus_programs_batched_equal_a_loop(prog):
    draws = [prog.make_args(np.random.default_rng(i)) for i in range(B)]
    mapped = (True,) * len(draws[0])
    ok = all(isinstance(a, np.ndarray) for a in draws[0])
    if not ok:
        pytest.skip("a Python-scalar argument: mapped over arrays only")
    got = tg.jit(tg.vmap(prog.fn))(*_mapped_args(draws, mapped))
    _compare(got, _loop(prog.fn, draws, mapped))


def loss(w, x, y):
    return np.sum((np.tanh(x @ w) - y) ** 2)


def test_per_example_gradients():
    rng = np.random.default_rng(0)
    w, x, y = rng.normal(size=(3, 4)), rng.normal(size=(6, 3)), rng.normal(size=(6, 4))
    per = tg.jit(tg.vmap(tg.grad(loss), in_axes=(None, 0, 0)))(w, x, y)
    ref = np.stack([tg.grad(loss)(w, x[i], y[i]) for i in range(6)])
    _compare(per, ref)
    _compare(per.sum(0), tg.grad(loss)(w, x, y))  # the batch gradient is their sum


def test_compositions_in_every_order():
    rng = np.random.default_rng(1)
    xs = rng.normal(size=(4, 3))

    def f(x):
        return np.sum(np.sin(x) * x[0])
    ref_g = np.stack([tg.grad(f)(x) for x in xs])
    _compare(tg.vmap(tg.grad(f))(xs), ref_g)                    # vmap of grad, eager
    _compare(tg.jit(tg.vmap(tg.grad(f)))(xs), ref_g)            # under jit
    _compare(tg.grad(lambda xs: tg.vmap(f)(xs).sum())(xs), ref_g)   # grad of vmap
    t = rng.normal(size=(4, 3))
    _, jv = tg.jvp(tg.vmap(f), (xs,), (t,))
    _compare(jv, np.array([tg.jvp(f, (x,), (u,))[1] for x, u in zip(xs, t)]))
    nested = tg.vmap(tg.vmap(lambda a, b: a * b + np.cos(a)), in_axes=(0, None))
    a, b = rng.normal(size=(2, 5, 3)), rng.normal(size=(5, 3))
    _compare(tg.jit(nested)(a, b), a * b + np.cos(a))


def test_in_axes_out_axes_pytrees_and_none():
    rng = np.random.default_rng(2)
    p = {"w": rng.normal(size=(3, 2)), "b": rng.normal(size=2)}
    xs = rng.normal(size=(3, 5))  # examples along axis 1

    def f(params, x):
        return {"out": x @ params["w"] + params["b"], "norm": np.sum(x * x)}
    got = tg.vmap(f, in_axes=({"w": None, "b": None}, 1), out_axes={"out": 1, "norm": 0})(p, xs)
    for i in range(5):
        r = f(p, xs[:, i])
        _compare(got["out"][:, i], r["out"])
        _compare(got["norm"][i], r["norm"])
    c = tg.vmap(lambda x: np.ones(2), axis_size=4, in_axes=None)(np.zeros(1))
    assert c.shape == (4, 2)


def test_vmap_errors_are_typed_and_name_the_structure():
    with pytest.raises(ArgumentError, match="in_axes has 1 entries"):
        tg.vmap(lambda a, b: a + b, in_axes=(0,))(np.zeros(2), np.zeros(2))
    with pytest.raises(ShapeError, match="different sizes"):
        tg.vmap(lambda a, b: a + b)(np.zeros(2), np.zeros(3))
    with pytest.raises(ArgumentError, match="does not match the structure"):
        tg.vmap(lambda p: p["w"], in_axes=({"v": 0},))({"w": np.zeros(2)})
    with pytest.raises(ShapeError, match="axis_size"):
        tg.vmap(lambda a: a, in_axes=None)(np.zeros(2))


def test_cond_with_a_batched_predicate_selects_or_loops_visibly():
    def small(x):
        return tg.cond(np.sum(x) > 0, lambda v: v * 2.0, lambda v: -v, x)

    def big(x):
        def heavy(v):
            return tg.while_loop(lambda c: c[1] < 3, lambda c: (np.sin(c[0]), c[1] + 1),
                                 (v, np.int32(0)))[0]
        return tg.cond(np.sum(x) > 0, heavy, lambda v: -v, x)
    xs = np.array([[1.0, 2.0], [-1.0, -3.0], [0.5, -0.1]])
    for f in (small, big):
        _compare(tg.jit(tg.vmap(f))(xs), np.stack([f(x) for x in xs]))
    prims_small = {e.prim.name for e in tg.make_ir(tg.vmap(small))(xs).eqns}
    prims_big = {e.prim.name for e in tg.make_ir(tg.vmap(big))(xs).eqns}
    assert "where" in prims_small and "cond" not in prims_small
    assert "scan" in prims_big  # a loop over the examples: the loop branch never runs needlessly


def test_while_loop_batched_runs_each_example_its_own_iterations():
    def halve_until_small(x):
        return tg.while_loop(lambda v: v > 1.0, lambda v: v * 0.5, x)
    xs = np.array([0.5, 3.0, 100.0])
    _compare(tg.jit(tg.vmap(halve_until_small))(xs), np.array([0.5, 0.75, 100 / 128]))


def test_hessian_program_size_does_not_grow_with_the_parameters():
    rng = np.random.default_rng(3)
    counts = []
    for n in (10, 100, 400):
        a, x = rng.normal(size=(20, n)) / np.sqrt(n), rng.normal(size=n)

        def f(x):
            return np.sum(np.log1p(np.exp(a @ x)))
        counts.append(len(tg.make_ir(tg.hessian(f))(x).eqns))
        s = 1 / (1 + np.exp(-(a @ x)))
        _compare(tg.jit(tg.hessian(f))(x), a.T @ (a * (s * (1 - s))[:, None]))
    assert max(counts) - min(counts) <= 4, counts  # not one program per parameter
    assert max(counts) < 40


@pytest.mark.parametrize("mode", ["fwd", "rev"])
def test_jacobian_modes_batched(mode):
    rng = np.random.default_rng(4)
    x, w = rng.normal(size=(3, 2)), rng.normal(size=(2, 5))

    def f(x, w):
        return np.tanh(x @ w)
    jx, jw = tg.jacobian(f, argnums=(0, 1), mode=mode)(x, w)
    named = (tg.jacfwd if mode == "fwd" else tg.jacrev)(f, argnums=(0, 1))(x, w)
    eps = 1e-6
    for k, (arg, j) in enumerate(((x, jx), (w, jw))):
        _compare(named[k], j)
        for idx in np.ndindex(arg.shape):
            d = np.zeros_like(arg)
            d[idx] = eps
            args_p = [x + d, w] if k == 0 else [x, w + d]
            args_m = [x - d, w] if k == 0 else [x, w - d]
            fd = (f(*args_p) - f(*args_m)) / (2 * eps)
            np.testing.assert_allclose(j[(...,) + idx], fd, rtol=1e-6, atol=1e-8)


def test_tensor_front_vmap_gets_closed_over_gradients():
    w = tg.randn(3, 4, requires_grad=True)
    x = tg.randn(5, 3)
    out = tg.func.vmap(lambda xi: (xi @ w).tanh().sum())(x)
    xv, wv = x.numpy().astype(np.float64), w.detach().numpy().astype(np.float64)
    np.testing.assert_allclose(out.detach().numpy(), np.tanh(xv @ wv).sum(1), rtol=1e-5)
    out.sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), xv.T @ (1 - np.tanh(xv @ wv) ** 2), rtol=1e-4,
                               atol=1e-5)


def test_tensor_front_per_example_gradients_torch_func_style():
    w = tg.randn(3, 4, requires_grad=True)
    x = tg.randn(5, 3)

    def loss(w, xi):
        return ((xi @ w).tanh() ** 2).sum()
    per = tg.func.vmap(tg.func.grad(loss), in_axes=(None, 0))(w.detach(), x)
    wv, xv = w.detach().numpy().astype(np.float64), x.numpy().astype(np.float64)
    t = np.tanh(xv @ wv)
    ref = np.einsum("bi,bj->bij", xv, 2 * t * (1 - t ** 2))
    np.testing.assert_allclose(per.numpy(), ref, rtol=1e-4, atol=1e-5)
