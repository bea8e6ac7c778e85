"""The torch namespace on ``tracegrad`` (issue 18 item 1), table-driven against NumPy: dtype and
device names, creation functions, the functional math with ``dim``/``keepdim``, in-place
methods under ``no_grad``, ``tg.autograd.Function``/``grad`` and ``tg.func``. A completeness
test fails when a name is exported without a row here."""
from __future__ import annotations

import numpy as np
import pytest

import tracegrad as tg
from tracegrad.tensor import functions as TF

A = np.array([[0.5, -1.25, 2.0], [1.5, 0.25, -0.75]], np.float32)
P = np.abs(A) + 0.5  # positive, for log/sqrt/pow
U = np.clip(A, -0.9, 0.9)  # inside (-1, 1), for asin/acos


def _np(x):
    return np.asarray(x)


# name -> (call on tg, expected NumPy value)
MATH = {
    "sin": (lambda: tg.sin(tg.tensor(A)), np.sin(A)),
    "cos": (lambda: tg.cos(tg.tensor(A)), np.cos(A)),
    "tan": (lambda: tg.tan(tg.tensor(U)), np.tan(U)),
    "sinh": (lambda: tg.sinh(tg.tensor(A)), np.sinh(A)),
    "cosh": (lambda: tg.cosh(tg.tensor(A)), np.cosh(A)),
    "asin": (lambda: tg.asin(tg.tensor(U)), np.arcsin(U)),
    "acos": (lambda: tg.acos(tg.tensor(U)), np.arccos(U)),
    "atan": (lambda: tg.atan(tg.tensor(A)), np.arctan(A)),
    "exp": (lambda: tg.exp(tg.tensor(A)), np.exp(A)),
    "exp2": (lambda: tg.exp2(tg.tensor(A)), np.exp2(A)),
    "expm1": (lambda: tg.expm1(tg.tensor(A)), np.expm1(A)),
    "log": (lambda: tg.log(tg.tensor(P)), np.log(P)),
    "log1p": (lambda: tg.log1p(tg.tensor(P)), np.log1p(P)),
    "log2": (lambda: tg.log2(tg.tensor(P)), np.log2(P)),
    "log10": (lambda: tg.log10(tg.tensor(P)), np.log10(P)),
    "sqrt": (lambda: tg.sqrt(tg.tensor(P)), np.sqrt(P)),
    "rsqrt": (lambda: tg.rsqrt(tg.tensor(P)), 1 / np.sqrt(P)),
    "tanh": (lambda: tg.tanh(tg.tensor(A)), np.tanh(A)),
    "sigmoid": (lambda: tg.sigmoid(tg.tensor(A)), 1 / (1 + np.exp(-A))),
    "relu": (lambda: tg.relu(tg.tensor(A)), np.maximum(A, 0)),
    "abs": (lambda: tg.abs(tg.tensor(A)), np.abs(A)),
    "sign": (lambda: tg.sign(tg.tensor(A)), np.sign(A)),
    "square": (lambda: tg.square(tg.tensor(A)), A * A),
    "neg": (lambda: tg.neg(tg.tensor(A)), -A),
    "floor": (lambda: tg.floor(tg.tensor(A)), np.floor(A)),
    "ceil": (lambda: tg.ceil(tg.tensor(A)), np.ceil(A)),
    "round": (lambda: tg.round(tg.tensor(A)), np.round(A)),
    "sum": (lambda: tg.sum(tg.tensor(A), dim=1, keepdim=True), A.sum(1, keepdims=True)),
    "mean": (lambda: tg.mean(tg.tensor(A), 0), A.mean(0)),
    "prod": (lambda: tg.prod(tg.tensor(A), dim=1), A.prod(1)),
    "var": (lambda: tg.var(tg.tensor(A), dim=1), A.var(1, ddof=1)),
    "std": (lambda: tg.std(tg.tensor(A), dim=0), A.std(0, ddof=1)),
    "argmax": (lambda: tg.argmax(tg.tensor(A), dim=1), A.argmax(1)),
    "argmin": (lambda: tg.argmin(tg.tensor(A)), A.argmin()),
    "cumsum": (lambda: tg.cumsum(tg.tensor(A), dim=1), A.cumsum(1)),
    "norm": (lambda: tg.norm(tg.tensor(A)), np.linalg.norm(A)),
    "clamp": (lambda: tg.clamp(tg.tensor(A), min=-1.0, max=1.0), np.clip(A, -1, 1)),
    "clip": (lambda: tg.clip(tg.tensor(A), -0.5, 0.5), np.clip(A, -0.5, 0.5)),
    "pow": (lambda: tg.pow(tg.tensor(P), 3), P ** 3),
    "matmul": (lambda: tg.matmul(tg.tensor(A), tg.tensor(A.T)), A @ A.T),
    "mm": (lambda: tg.mm(tg.tensor(A.T), tg.tensor(A)), A.T @ A),
    "dot": (lambda: tg.dot(tg.tensor(A[0]), tg.tensor(A[1])), A[0] @ A[1]),
    "outer": (lambda: tg.outer(tg.tensor(A[0]), tg.tensor(A[1])), np.outer(A[0], A[1])),
    "reshape": (lambda: tg.reshape(tg.tensor(A), (3, 2)), A.reshape(3, 2)),
    "flatten": (lambda: tg.flatten(tg.tensor(A)), A.reshape(-1)),
    "squeeze": (lambda: tg.squeeze(tg.tensor(A[None])), A),
    "unsqueeze": (lambda: tg.unsqueeze(tg.tensor(A), -1), A[..., None]),
    "permute": (lambda: tg.permute(tg.tensor(A), (1, 0)), A.T),
    "transpose": (lambda: tg.transpose(tg.tensor(A), 0, 1), A.T),
    "t": (lambda: tg.t(tg.tensor(A)), A.T),
    "softmax": (lambda: tg.softmax(tg.tensor(A), dim=1),
                np.exp(A) / np.exp(A).sum(1, keepdims=True)),
    "log_softmax": (lambda: tg.log_softmax(tg.tensor(A), dim=1),
                    A - np.log(np.exp(A).sum(1, keepdims=True))),
    "numel": (lambda: tg.numel(tg.tensor(A)), 6),
    "max": (lambda: tg.max(tg.tensor(A), 1).values, A.max(1)),
    "min": (lambda: tg.min(tg.tensor(A)), A.min()),
    "maximum": (lambda: tg.maximum(tg.tensor(A), tg.tensor(P - 1)), np.maximum(A, P - 1)),
    "minimum": (lambda: tg.minimum(tg.tensor(A), 0.0), np.minimum(A, 0)),
    "cat": (lambda: tg.cat([tg.tensor(A), tg.tensor(P)], dim=1), np.concatenate([A, P], 1)),
    "concat": (lambda: tg.concat([tg.tensor(A), A], 0), np.concatenate([A, A], 0)),
    "concatenate": (lambda: tg.concatenate((A, tg.tensor(P))), np.concatenate([A, P])),
    "stack": (lambda: tg.stack([tg.tensor(A), tg.tensor(P)], dim=1), np.stack([A, P], 1)),
    "where": (lambda: tg.where(tg.tensor(A) > 0, tg.tensor(A), 0.0), np.where(A > 0, A, 0)),
    "add": (lambda: tg.add(tg.tensor(A), P, alpha=2), A + 2 * P),
    "sub": (lambda: tg.sub(tg.tensor(A), P), A - P),
    "subtract": (lambda: tg.subtract(tg.tensor(A), 1.0, alpha=3), A - 3),
    "mul": (lambda: tg.mul(tg.tensor(A), P), A * P),
    "multiply": (lambda: tg.multiply(tg.tensor(A), 2.0), A * 2),
    "div": (lambda: tg.div(tg.tensor(A), P), A / P),
    "divide": (lambda: tg.divide(A, tg.tensor(P)), A / P),
    "allclose": (lambda: tg.allclose(tg.tensor(A), A + 1e-9), True),
}


@pytest.mark.parametrize("name", list(MATH))
def test_math_function_matches_numpy(name):
    got, want = MATH[name][0](), MATH[name][1]
    np.testing.assert_allclose(_np(got), want, rtol=1e-6, atol=1e-6)
    if isinstance(got, tg.Tensor) and np.asarray(want).dtype.kind == "f":
        assert got.dtype == np.float32  # float32 in, float32 out (as in PyTorch)


def test_math_functions_are_differentiable():
    x = tg.tensor(P, requires_grad=True)
    y = tg.sum(tg.log(x) * tg.sin(x), dim=1).sum()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), np.sin(P) / P + np.log(P) * np.cos(P),
                               rtol=1e-5)


CREATION = {
    "zeros": (lambda: tg.zeros(2, 3, device="cpu"), np.zeros((2, 3), np.float32)),
    "ones": (lambda: tg.ones((2,), dtype=tg.float64), np.ones(2)),
    "empty": (lambda: tg.empty(2, 2).shape, (2, 2)),
    "full": (lambda: tg.full((2, 2), 1.5), np.full((2, 2), 1.5, np.float32)),
    "full_int": (lambda: tg.full((3,), 7), np.full(3, 7, np.int64)),
    "arange": (lambda: tg.arange(5), np.arange(5, dtype=np.int64)),
    "arange_float": (lambda: tg.arange(0, 1, 0.25), np.arange(0, 1, 0.25, dtype=np.float32)),
    "linspace": (lambda: tg.linspace(-1, 1, 5), np.linspace(-1, 1, 5, dtype=np.float32)),
    "logspace": (lambda: tg.logspace(0, 2, 3), np.array([1, 10, 100], np.float32)),
    "eye": (lambda: tg.eye(3), np.eye(3, dtype=np.float32)),
    "eye_rect": (lambda: tg.eye(2, 3, dtype=tg.double), np.eye(2, 3)),
    "tensor": (lambda: tg.tensor([1.0, 2.0], dtype=tg.float, device=tg.device("cpu")),
               np.array([1, 2], np.float32)),
    "as_tensor": (lambda: tg.as_tensor([1, 2], device="cpu"), np.array([1, 2], np.int64)),
    "from_numpy": (lambda: tg.from_numpy(np.arange(3.0)), np.arange(3.0)),
    "zeros_like": (lambda: tg.zeros_like(tg.tensor(A)), np.zeros_like(A)),
    "ones_like": (lambda: tg.ones_like(tg.tensor(A), dtype=tg.float64), np.ones(A.shape)),
    "full_like": (lambda: tg.full_like(tg.tensor(A), 3.0), np.full_like(A, 3)),
    "empty_like": (lambda: tg.empty_like(tg.tensor(A)).shape, A.shape),
    "rand_like": (lambda: tg.rand_like(tg.tensor(A)).shape, A.shape),
    "randn_like": (lambda: tg.randn_like(tg.tensor(A), dtype=tg.float64).dtype, np.float64),
}


@pytest.mark.parametrize("name", list(CREATION))
def test_creation_matches_numpy(name):
    got, want = CREATION[name][0](), CREATION[name][1]
    if isinstance(want, (tuple, type)) or isinstance(want, np.dtype):
        assert got == want
        return
    assert isinstance(got, tg.Tensor) and got.dtype == want.dtype, (got.dtype, want.dtype)
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-6)


def test_random_creation_is_seeded_and_in_range():
    tg.manual_seed(3)
    a = tg.randn((), dtype=tg.float, requires_grad=True)
    r = tg.rand(1000)
    k = tg.randint(2, 5, (1000,))
    k1 = tg.randint(4, size=(10,))
    tg.manual_seed(3)
    assert tg.randn(()).item() == a.item() and a.requires_grad and a.shape == ()
    assert r.dtype == np.float32 and 0 <= r.numpy().min() and r.numpy().max() < 1
    assert k.dtype == np.int64 and set(k.tolist()) == {2, 3, 4}
    assert 0 <= k1.numpy().min() and k1.numpy().max() < 4


def test_dtype_names_are_numpy_dtypes():
    table = {"float32": np.float32, "float": np.float32, "float64": np.float64,
             "double": np.float64, "int64": np.int64, "long": np.int64, "int32": np.int32,
             "int": np.int32, "bool": np.bool_}
    for name, want in table.items():
        assert getattr(tg, name) == np.dtype(want), name
    x = tg.tensor([1.5, -2.0])
    assert x.to(tg.double).dtype == np.float64 and x.to(tg.long).tolist() == [1, -2]
    assert x.to("cpu", tg.float64).dtype == np.float64
    assert x.to(tg.tensor([1])).dtype == np.int64  # to(other): other's dtype
    assert x.to(tg.bool).dtype == np.bool_


def test_device_is_cpu():
    d = tg.device("cpu")
    assert d == "cpu" and d == tg.device("cpu:0") and repr(d) == "device(type='cpu')"
    assert tg.zeros(2).device == d and tg.zeros(2).device == "cpu"
    x = tg.ones(2, device=d)
    assert x.to(d) is x and x.to(device="cpu") is x and x.cpu() is x


def test_inplace_methods_on_leaves_under_no_grad():
    w = tg.tensor([1.0, 2.0], requires_grad=True)
    with tg.no_grad():
        assert w.add_(tg.tensor([1.0, 1.0]), alpha=2) is w
        w.mul_(2.0)
        w.sub_(1.0)
    np.testing.assert_array_equal(w.numpy(), [5.0, 7.0])
    with pytest.raises(tg.GradientError, match="no_grad"):
        w.add_(1.0)
    w.grad = tg.ones(2)
    w.grad.zero_()
    assert w.grad.tolist() == [0.0, 0.0] and w.requires_grad


def test_tensor_methods_with_torch_names():
    x = tg.tensor(A)
    assert x.view(3, 2).shape == (3, 2) and x.view(-1).shape == (6,)
    assert x.unsqueeze(0).squeeze(0).shape == (2, 3) and x.t().shape == (3, 2)
    np.testing.assert_allclose(x.mm(x.t()).numpy(), A @ A.T, rtol=1e-6)
    np.testing.assert_allclose(x.pow(2).sum(1).numpy(), (A ** 2).sum(1), rtol=1e-6)
    np.testing.assert_allclose(x.clamp(min=0).numpy(), np.maximum(A, 0))
    assert x.sum().item() == pytest.approx(float(A.sum())) and x.tolist() == A.tolist()
    # float ** integer tensor keeps the float dtype (PyTorch; NumPy would give float64)
    assert tg.linspace(0, 1, 4).unsqueeze(-1).pow(tg.tensor([1, 2, 3])).dtype == np.float32


def test_autograd_function_and_grad():
    from tracegrad.autograd import Function
    assert tg.autograd.Function is tg.Function is Function

    class Cube(tg.autograd.Function):
        @staticmethod
        def forward(ctx, z):
            ctx.save_for_backward(z)
            return z ** 3

        @staticmethod
        def backward(ctx, g):
            z, = ctx.saved_tensors
            return g * 3 * z ** 2

    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = Cube.apply(x).sum()
    (g,) = tg.autograd.grad(y, (x,), create_graph=True, retain_graph=True)
    np.testing.assert_allclose(g.numpy(), [3.0, 12.0])
    (gg,) = tg.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(gg.numpy(), [6.0, 12.0])
    assert x.grad is None  # tg.autograd.grad does not touch .grad


def test_func_transforms():
    from tracegrad.func import grad, hessian, jacfwd, jacrev
    x = tg.tensor([0.5, -1.0, 2.0])
    np.testing.assert_allclose(grad(lambda v: (v ** 3).sum())(x).numpy(), 3 * x.numpy() ** 2)
    jac = jacrev(lambda v: tg.sin(v) * v[0])(x).numpy()
    xv = x.numpy()
    want = np.diag(np.cos(xv) * xv[0])
    want[:, 0] += np.sin(xv)
    np.testing.assert_allclose(jac, want, rtol=1e-6)
    np.testing.assert_allclose(jacfwd(lambda v: tg.sin(v) * v[0])(x).numpy(), want, rtol=1e-6)
    np.testing.assert_allclose(hessian(lambda v: (v ** 3).sum() + v[0] * v[1])(x).numpy(),
                               np.diag(6 * xv) + np.array([[0, 1, 0], [1, 0, 0], [0, 0, 0]]),
                               rtol=1e-6)
    gx, gy = grad(lambda a, b: (a * b).sum(), argnums=(0, 1))(x, tg.ones(3))
    np.testing.assert_allclose(gx.numpy(), 1.0) and np.testing.assert_allclose(gy.numpy(), xv)
    g, aux = grad(lambda v: ((v ** 2).sum(), "aux"), has_aux=True)(x)
    assert aux == "aux" and g.tolist() == (2 * xv).tolist()
    unused = grad(lambda a, b: a.sum(), argnums=1)(x, tg.ones(3))
    assert unused.tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(tg.GradientError, match="one-element"):
        grad(lambda v: v * 2)(x)
    # torch.func.vmap: per-example values of a function of tensors (docs/vmap.md)
    per = tg.func.vmap(lambda v: (v * v).sum())(tg.tensor([[1.0, 2.0], [3.0, 4.0]]))
    assert per.tolist() == [5.0, 25.0]


def test_api_names_keep_their_meaning():
    """Torch names that collide with API.md stay JAX-style on the top level."""
    import tracegrad.api as api
    assert tg.grad is api.grad and tg.hessian is api.hessian and tg.jacobian is api.jacobian
    np.testing.assert_allclose(tg.grad(lambda v: (v ** 2).sum())(np.ones(2)), [2.0, 2.0])


def test_every_exported_torch_name_has_a_row():
    """Adding a name to the functional namespace without a row above fails here."""
    exported = set(TF._METHOD_NAMES) | {"max", "min", "cat", "concat", "concatenate", "stack",
                                        "where", "maximum", "minimum", "add", "sub", "mul",
                                        "div", "subtract", "multiply", "divide", "outer",
                                        "allclose"}
    public = {n for n in vars(TF) if not n.startswith("_") and callable(getattr(TF, n))
              and getattr(getattr(TF, n), "__module__", "") == TF.__name__}
    assert public <= exported, public - exported
    assert exported <= set(MATH), exported - set(MATH)
    for n in exported:
        assert getattr(tg, n) is getattr(TF, n), n
