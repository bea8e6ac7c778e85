"""tg.nn layers of issue 18 item 2 against NumPy references written from PyTorch's formulas
(and against PyTorch itself when ``torch`` imports): losses, Embedding, Conv1d/2d, pooling,
BatchNorm. Forward values, parameter layout and defaults, and gradients (finite differences in
float64 on the functional forms via ``tg.testing.check_grads``, and the front's backward)."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import tracegrad as tg
from tracegrad import nn
from tracegrad.errors import TracegradError
from tracegrad.nn import functional as F
from tracegrad.testing import check_grads

RNG = np.random.default_rng(0)

try:  # optional cross-check
    import torch
except ImportError:  # pragma: no cover - depends on the environment
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed")


def _red(x, reduction):
    return {"mean": np.mean, "sum": np.sum, "none": lambda a: a}[reduction](x)


# --- losses, softmax, flatten, embedding -------------------------------------------------------
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_losses_match_numpy(reduction):
    x = RNG.standard_normal((4, 5))
    y = RNG.standard_normal((4, 5))
    p = 1 / (1 + np.exp(-x))
    t = (RNG.random((4, 5)) > 0.5).astype(np.float64)
    cls = RNG.integers(0, 5, 4)
    logp = x - np.log(np.exp(x).sum(1, keepdims=True))
    cases = [
        (nn.L1Loss(reduction), (x, y), np.abs(x - y)),
        (nn.SmoothL1Loss(reduction), (x, y),
         np.where(np.abs(x - y) < 1, 0.5 * (x - y) ** 2, np.abs(x - y) - 0.5)),
        (nn.SmoothL1Loss(reduction, beta=0.3), (x, y),
         np.where(np.abs(x - y) < 0.3, 0.5 * (x - y) ** 2 / 0.3, np.abs(x - y) - 0.15)),
        (nn.SmoothL1Loss(reduction, beta=0.0), (x, y), np.abs(x - y)),
        (nn.BCELoss(reduction), (p, t), -(t * np.log(p) + (1 - t) * np.log(1 - p))),
        (nn.BCEWithLogitsLoss(reduction), (x, t), -(t * np.log(p) + (1 - t) * np.log(1 - p))),
        (nn.NLLLoss(reduction=reduction), (logp, cls), -logp[np.arange(4), cls]),
    ]
    for mod, args, ref in cases:
        got = mod(*(tg.tensor(a) for a in args)).numpy()
        np.testing.assert_allclose(got, _red(ref, reduction), rtol=1e-10, atol=1e-12,
                                   err_msg=type(mod).__name__)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss_weight_and_ignore_index_as_pytorch(reduction):
    logp = RNG.standard_normal((6, 4))
    t = np.array([0, 3, 2, 1, 3, 7])  # 7: the ignore_index below (out of range, yet fine)
    w = np.array([0.5, 2.0, 1.0, 3.0])
    ok = t != 7
    per = np.zeros(6)
    ws = np.where(ok, w[np.where(ok, t, 0)], 0.0)
    per[ok] = -logp[np.arange(6)[ok], t[ok]] * ws[ok]
    ref = {"none": per, "sum": per.sum(), "mean": per.sum() / ws.sum()}[reduction]
    got = nn.NLLLoss(tg.tensor(w), ignore_index=7, reduction=reduction)(
        tg.tensor(logp), tg.tensor(t))
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-12)
    # the default ignore_index is -100, as PyTorch's
    t2 = np.array([0, 3, -100, 1, -100, 2])
    keep = t2 != -100
    full = np.where(keep, -logp[np.arange(6), np.where(keep, t2, 0)], 0.0)
    ref = {"none": full, "sum": full.sum(), "mean": full.sum() / keep.sum()}[reduction]
    got = F.nll_loss(tg.tensor(logp), tg.tensor(t2), reduction=reduction).numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-12)
    t_valid = np.where(keep, t2, 0)
    check_grads(lambda a: F.nll_loss(a, t_valid, w, None, 2, None, reduction), (logp,),
                modes=("rev",))


def test_bce_clamps_log_at_minus_100_as_pytorch():
    p = tg.tensor(np.array([0.0, 1.0, 0.5]))
    t = tg.tensor(np.array([1.0, 0.0, 1.0]))
    got = F.binary_cross_entropy(p, t, "none").numpy()
    np.testing.assert_allclose(got, [100.0, 100.0, math.log(2)])


def test_loss_gradients_finite_differences():
    x = RNG.standard_normal((3, 4))
    y = RNG.standard_normal((3, 4))
    t = (RNG.random((3, 4)) > 0.5).astype(np.float64)
    p = 0.1 + 0.8 * RNG.random((3, 4))
    for fn, args in [
        (lambda a, b: F.smooth_l1_loss(a, b, "sum", 0.5), (x, y)),
        (lambda a, b: F.l1_loss(a, b, "mean"), (x, y)),
        (lambda a: F.binary_cross_entropy(a, t, "mean"), (p,)),
        (lambda a: F.binary_cross_entropy_with_logits(a, t, "sum"), (x,)),
        (lambda a: F.softmax(a, 0), (x,)),
        (lambda a: F.log_softmax(a, 0), (x,)),
    ]:
        check_grads(fn, args, modes=("rev",))


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_softmax_modules_and_flatten(dim):
    x = RNG.standard_normal((3, 4, 2))
    e = np.exp(x - x.max(dim, keepdims=True))
    ref = e / e.sum(dim, keepdims=True)
    np.testing.assert_allclose(nn.Softmax(dim)(tg.tensor(x)).numpy(), ref, rtol=1e-12)
    np.testing.assert_allclose(nn.LogSoftmax(dim)(tg.tensor(x)).numpy(), np.log(ref),
                               rtol=1e-10)
    assert nn.Flatten()(tg.tensor(x)).shape == (3, 8)
    assert nn.Flatten(0, 1)(tg.tensor(x)).shape == (12, 2)


def test_embedding_gather_padding_idx_and_init():
    tg.manual_seed(0)
    emb = nn.Embedding(10, 3, padding_idx=-1)
    w = emb.weight.numpy()
    assert emb.padding_idx == 9 and w.shape == (10, 3) and np.all(w[9] == 0)
    assert abs(np.std(nn.Embedding(1000, 20).weight.numpy()) - 1) < 0.05  # N(0, 1)
    idx = np.array([[1, 9, 3], [3, 3, 0]])
    out = emb(tg.tensor(idx))
    np.testing.assert_array_equal(out.numpy(), w[idx])
    out.sum().backward()
    g = emb.weight.grad.numpy()
    ref = np.zeros_like(w)
    np.add.at(ref, idx[idx != 9], 1.0)  # repeated indices add; the padding row gets nothing
    np.testing.assert_array_equal(g, ref)
    with pytest.raises(TracegradError):
        F.embedding(tg.tensor(np.array([0.5])), emb.weight)


# --- convolution -------------------------------------------------------------------------------
def conv_ref(x, w, b, stride, padding, dilation):
    """Direct loops over output positions (the definition, independent of the lowering)."""
    nd = x.ndim - 2
    xp = np.pad(x, ((0, 0), (0, 0)) + tuple((p, p) for p in padding))
    k = w.shape[2:]
    outs = [(xp.shape[2 + i] - dilation[i] * (k[i] - 1) - 1) // stride[i] + 1 for i in range(nd)]
    y = np.zeros((x.shape[0], w.shape[0], *outs))
    for pos in itertools.product(*(range(o) for o in outs)):
        sl = tuple(slice(pos[i] * stride[i], pos[i] * stride[i] + dilation[i] * (k[i] - 1) + 1,
                         dilation[i]) for i in range(nd))
        patch = xp[(slice(None), slice(None)) + sl]
        y[(slice(None), slice(None)) + pos] = np.tensordot(patch, w, axes=(
            list(range(1, nd + 2)), list(range(1, nd + 2))))
    return y + (b.reshape((1, -1) + (1,) * nd) if b is not None else 0)


CONV_CASES = [  # (stride, padding, dilation, bias)
    (1, 0, 1, True), (2, 1, 1, True), (1, 2, 2, False), (3, 1, 2, True), (2, 0, 1, False),
]


@pytest.mark.parametrize("stride,padding,dilation,bias", CONV_CASES)
def test_conv2d_matches_direct_loops_and_gradients(stride, padding, dilation, bias):
    x = RNG.standard_normal((2, 3, 9, 8))
    w = RNG.standard_normal((4, 3, 3, 2))
    b = RNG.standard_normal(4) if bias else None
    s, p, d = (stride, stride), (padding, padding), (dilation, dilation)
    got = F.conv2d(tg.tensor(x), tg.tensor(w), None if b is None else tg.tensor(b), stride,
                   padding, dilation).numpy()
    np.testing.assert_allclose(got, conv_ref(x, w, b, s, p, d), rtol=1e-10, atol=1e-10)
    args = (x, w) if b is None else (x, w, b)
    check_grads(lambda *a: F.conv2d(*a[:2], a[2] if len(a) > 2 else None, stride, padding,
                                    dilation), args, modes=("rev",))


@pytest.mark.parametrize("stride,padding,dilation,bias", CONV_CASES)
def test_conv1d_matches_direct_loops_and_gradients(stride, padding, dilation, bias):
    x = RNG.standard_normal((2, 3, 11))
    w = RNG.standard_normal((5, 3, 3))
    b = RNG.standard_normal(5) if bias else None
    got = F.conv1d(x, w, b, stride, padding, dilation)
    np.testing.assert_allclose(got, conv_ref(x, w, b, (stride,), (padding,), (dilation,)),
                               rtol=1e-10, atol=1e-10)
    check_grads(lambda a, c: F.conv1d(a, c, b, stride, padding, dilation), (x, w),
                modes=("rev",))


def test_conv_same_padding_asymmetric_kernel_and_module_layout():
    tg.manual_seed(0)
    m = nn.Conv2d(3, 6, (3, 4), padding="same")
    assert m.weight.shape == (6, 3, 3, 4) and m.bias.shape == (6,)
    bound = 1 / math.sqrt(3 * 12)  # PyTorch: kaiming_uniform(a=sqrt 5) = U(+-1/sqrt(fan_in))
    assert bound * 0.9 < np.abs(m.weight.numpy()).max() <= bound
    assert np.abs(m.bias.numpy()).max() <= bound
    x = RNG.standard_normal((1, 3, 7, 9)).astype(np.float32)
    y = m(tg.tensor(x))
    assert y.shape == (1, 6, 7, 9)
    # PyTorch's 'same': total padding d*(k-1), the extra element on the right/bottom
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 2)))
    ref = conv_ref(xp, m.weight.numpy().astype(np.float64), m.bias.numpy(), (1, 1), (0, 0),
                   (1, 1))
    np.testing.assert_allclose(y.numpy(), ref, rtol=1e-4, atol=1e-5)
    m1 = nn.Conv1d(2, 3, 5, bias=False)
    assert m1.weight.shape == (3, 2, 5) and m1.bias is None
    with pytest.raises(TracegradError, match="divisible by groups"):
        nn.Conv2d(4, 6, 3, groups=4)
    with pytest.raises(TracegradError):
        F.conv2d(tg.tensor(x), m.weight, None, 2, "same")


@pytest.mark.parametrize("groups,cin,cout", [(2, 4, 6), (3, 3, 3)])
def test_grouped_conv_is_per_group_convolution(groups, cin, cout):
    x = RNG.standard_normal((2, cin, 7, 6))
    w = RNG.standard_normal((cout, cin // groups, 3, 2))
    b = RNG.standard_normal(cout)
    cg, og = cin // groups, cout // groups
    ref = np.concatenate([conv_ref(x[:, g * cg:(g + 1) * cg], w[g * og:(g + 1) * og],
                                   b[g * og:(g + 1) * og], (2, 1), (1, 1), (1, 2))
                          for g in range(groups)], axis=1)
    got = F.conv2d(x, w, b, (2, 1), 1, (1, 2), groups)
    np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-10)
    check_grads(lambda a, c: F.conv2d(a, c, b, (2, 1), 1, (1, 2), groups), (x, w),
                modes=("rev",))
    m = nn.Conv1d(cin, cout, 3, groups=groups)
    assert m.weight.shape == (cout, cin // groups, 3)
    assert np.abs(m.weight.numpy()).max() <= 1 / math.sqrt(cin // groups * 3)


def test_conv_lowers_to_one_conv_primitive():
    """F.conv2d is one ``conv`` equation (im2col + one gemm per block in C), not one slice or
    product per kernel offset."""
    g = tg.make_ir(lambda a, c: F.conv2d(a, c, None, 1, 1))(np.zeros((2, 3, 6, 6)),
                                                            np.zeros((4, 3, 3, 3)))
    text = str(g)
    assert text.count(" conv[") == 1 and "slice[" not in text and "dot_general[" not in text, \
        text


# --- pooling -----------------------------------------------------------------------------------
def pool_ref(x, k, s, p, d, op, fill):
    xp = np.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])), constant_values=fill)
    outs = [(x.shape[2 + i] + 2 * p[i] - d[i] * (k[i] - 1) - 1) // s[i] + 1 for i in range(2)]
    y = np.zeros(x.shape[:2] + tuple(outs))
    for i, j in itertools.product(range(outs[0]), range(outs[1])):
        win = xp[:, :, i * s[0]:i * s[0] + d[0] * (k[0] - 1) + 1:d[0],
                 j * s[1]:j * s[1] + d[1] * (k[1] - 1) + 1:d[1]]
        y[:, :, i, j] = op(win.reshape(win.shape[:2] + (-1,)))
    return y


@pytest.mark.parametrize("k,s,p,d", [(2, None, 0, 1), (3, 2, 1, 1), ((3, 2), (1, 2), (1, 0), 1),
                                     (2, 1, 1, 2)])
def test_max_pool2d_matches_numpy_and_gradient(k, s, p, d):
    x = RNG.standard_normal((2, 3, 7, 8))
    kk = (k, k) if isinstance(k, int) else k
    ss = kk if s is None else ((s, s) if isinstance(s, int) else s)
    pp = (p, p) if isinstance(p, int) else p
    got = F.max_pool2d(tg.tensor(x), k, s, p, d).numpy()
    np.testing.assert_array_equal(got, pool_ref(x, kk, ss, pp, (d, d),
                                                lambda w: w.max(-1), -np.inf))
    # small eps: a step of 1e-3 can swap two near-equal maxima of a window (a kink)
    check_grads(lambda a: F.max_pool2d(a, k, s, p, d), (x,), modes=("rev",), eps=1e-6,
                rtol=1e-5, atol=1e-7)
    assert nn.MaxPool2d(k, s, p, d)(tg.tensor(x)).shape == got.shape


def test_max_pool2d_tie_gradient_goes_to_first_max():
    """Documented convention (PyTorch's CPU kernel): the whole gradient of a window goes to
    its first maximum in row-major order; overlapping windows add."""
    x = tg.tensor(np.ones((1, 1, 2, 3)), requires_grad=True)
    F.max_pool2d(x, 2, 1).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[[[1, 1, 0], [0, 0, 0]]]])


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize("k,s,p", [(2, None, 0), (3, 2, 1), ((3, 2), (2, 1), (1, 1))])
def test_avg_pool2d_matches_numpy_and_gradient(k, s, p, count_include_pad):
    x = RNG.standard_normal((2, 2, 7, 6))
    kk = (k, k) if isinstance(k, int) else k
    ss = kk if s is None else ((s, s) if isinstance(s, int) else s)
    pp = (p, p) if isinstance(p, int) else p
    got = F.avg_pool2d(tg.tensor(x), k, s, p, False, count_include_pad).numpy()
    sums = pool_ref(x, kk, ss, pp, (1, 1), lambda w: w.sum(-1), 0.0)
    if count_include_pad:
        ref = sums / (kk[0] * kk[1])
    else:
        ref = sums / pool_ref(np.ones_like(x), kk, ss, pp, (1, 1), lambda w: w.sum(-1), 0.0)
    np.testing.assert_allclose(got, ref, rtol=1e-12)
    check_grads(lambda a: F.avg_pool2d(a, k, s, p, False, count_include_pad), (x,),
                modes=("rev",))
    assert nn.AvgPool2d(k, s, p)(tg.tensor(x)).shape == got.shape


def _torch_out(size, k, s, p, d, ceil):
    """PyTorch's pooling_output_shape (written out independently of the implementation)."""
    num = size + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil else 0)
    out = num // s + 1
    if ceil and (out - 1) * s >= size + p:
        out -= 1
    return out


def avg_pool_torch_loops(x, k, s, p, ceil, include_pad, divisor=None):
    """PyTorch's CPU avg_pool2d loops: the divisor counts the window clipped to the padded
    input (include_pad) or to the input itself."""
    H, W = x.shape[2:]
    oh, ow = (_torch_out(n, k[i], s[i], p[i], 1, ceil) for i, n in enumerate((H, W)))
    y = np.zeros(x.shape[:2] + (oh, ow))
    for i, j in itertools.product(range(oh), range(ow)):
        hs, ws = i * s[0] - p[0], j * s[1] - p[1]
        he, we = min(hs + k[0], H + p[0]), min(ws + k[1], W + p[1])
        pool = (he - hs) * (we - ws)
        hs, ws, he, we = max(hs, 0), max(ws, 0), min(he, H), min(we, W)
        div = divisor or (pool if include_pad else (he - hs) * (we - ws))
        y[:, :, i, j] = x[:, :, hs:he, ws:we].sum((2, 3)) / div
    return y


def max_pool_torch_loops(x, k, s, p, d, ceil):
    H, W = x.shape[2:]
    oh, ow = (_torch_out(n, k[i], s[i], p[i], d[i], ceil) for i, n in enumerate((H, W)))
    y = np.full(x.shape[:2] + (oh, ow), -np.inf)
    for i, j in itertools.product(range(oh), range(ow)):
        for a, b in itertools.product(range(k[0]), range(k[1])):
            r, c = i * s[0] - p[0] + a * d[0], j * s[1] - p[1] + b * d[1]
            if 0 <= r < H and 0 <= c < W:
                y[:, :, i, j] = np.maximum(y[:, :, i, j], x[:, :, r, c])
    return y


@pytest.mark.parametrize("ceil", [False, True])
@pytest.mark.parametrize("shape,k,s,p", [((7, 6), (3, 3), (2, 2), (1, 1)),
                                         ((8, 9), (2, 3), (2, 2), (0, 1)),
                                         ((5, 5), (3, 2), (3, 2), (1, 0)),
                                         ((6, 7), (4, 4), (3, 3), (2, 1))])
def test_pooling_matches_pytorch_loops_including_ceil_mode(shape, k, s, p, ceil):
    x = RNG.standard_normal((2, 2) + shape)
    for include_pad in (True, False):
        got = F.avg_pool2d(tg.tensor(x), k, s, p, ceil, include_pad).numpy()
        np.testing.assert_allclose(got, avg_pool_torch_loops(x, k, s, p, ceil, include_pad),
                                   rtol=1e-12)
    got = F.avg_pool2d(tg.tensor(x), k, s, p, ceil, True, 5).numpy()
    np.testing.assert_allclose(got, avg_pool_torch_loops(x, k, s, p, ceil, True, 5), rtol=1e-12)
    for d in ((1, 1), (2, 1)):
        got = F.max_pool2d(tg.tensor(x), k, s, p, d, ceil).numpy()
        np.testing.assert_array_equal(got, max_pool_torch_loops(x, k, s, p, d, ceil))
    check_grads(lambda a: F.avg_pool2d(a, k, s, p, ceil, False), (x,), modes=("rev",))
    check_grads(lambda a: F.max_pool2d(a, k, s, p, 1, ceil), (x,), modes=("rev",), eps=1e-6,
                rtol=1e-5, atol=1e-7)


def test_pool_padding_larger_than_half_kernel_is_an_error():
    with pytest.raises(TracegradError, match="half the kernel"):
        F.max_pool2d(tg.zeros(1, 1, 4, 4), 2, 1, 2)


# --- batch norm --------------------------------------------------------------------------------
@pytest.mark.parametrize("cls,shape", [(nn.BatchNorm1d, (6, 3)), (nn.BatchNorm1d, (4, 3, 5)),
                                       (nn.BatchNorm2d, (4, 3, 5, 2))])
def test_batchnorm_train_eval_running_stats(cls, shape):
    bn = cls(3, momentum=0.2, dtype=np.float64)
    assert [n for n, _ in bn.named_buffers()] == ["running_mean", "running_var",
                                                    "num_batches_tracked"]
    np.testing.assert_array_equal(bn.weight.numpy(), 1)
    np.testing.assert_array_equal(bn.bias.numpy(), 0)
    bn.weight.data[:] = [1.5, 0.5, 2.0]
    bn.bias.data[:] = [0.1, -0.2, 0.3]
    axes = (0,) + tuple(range(2, len(shape)))
    cshape = (1, 3) + (1,) * (len(shape) - 2)
    rm, rv = np.zeros(3), np.ones(3)
    for step in range(3):
        x = RNG.standard_normal(shape) * 2 + 1
        y = bn(tg.tensor(x)).numpy()
        mu, var = x.mean(axes), x.var(axes)
        ref = (x - mu.reshape(cshape)) / np.sqrt(var.reshape(cshape) + 1e-5)
        ref = ref * bn.weight.numpy().reshape(cshape) + bn.bias.numpy().reshape(cshape)
        np.testing.assert_allclose(y, ref, rtol=1e-10, atol=1e-12)
        n = x.size // 3
        rm = 0.8 * rm + 0.2 * mu
        rv = 0.8 * rv + 0.2 * var * n / (n - 1)  # unbiased, as PyTorch
        np.testing.assert_allclose(bn.running_mean.numpy(), rm, rtol=1e-12)
        np.testing.assert_allclose(bn.running_var.numpy(), rv, rtol=1e-12)
        assert int(bn.num_batches_tracked.item()) == step + 1
    bn.eval()
    x = RNG.standard_normal(shape)
    ref = (x - rm.reshape(cshape)) / np.sqrt(rv.reshape(cshape) + 1e-5)
    ref = ref * bn.weight.numpy().reshape(cshape) + bn.bias.numpy().reshape(cshape)
    np.testing.assert_allclose(bn(tg.tensor(x)).numpy(), ref, rtol=1e-10)
    np.testing.assert_allclose(bn.running_mean.numpy(), rm)  # eval does not update
    assert set(bn.state_dict()) == {"weight", "bias", "running_mean", "running_var",
                                    "num_batches_tracked"}


def test_batchnorm_cumulative_average_no_affine_no_tracking():
    bn = nn.BatchNorm1d(2, momentum=None, affine=False, dtype=np.float64)
    assert bn.weight is None and list(bn.parameters()) == []
    xs = [RNG.standard_normal((5, 2)) for _ in range(3)]
    for x in xs:
        bn(tg.tensor(x))
    np.testing.assert_allclose(bn.running_mean.numpy(), np.mean([x.mean(0) for x in xs], 0))
    np.testing.assert_allclose(bn.running_var.numpy(),
                               np.mean([x.var(0, ddof=1) for x in xs], 0))
    free = nn.BatchNorm2d(2, track_running_stats=False).eval()
    assert free.running_mean is None
    x = RNG.standard_normal((3, 2, 2, 2)).astype(np.float32)
    y = free(tg.tensor(x)).numpy()  # batch statistics also in eval
    np.testing.assert_allclose(y.mean((0, 2, 3)), 0, atol=1e-5)
    with pytest.raises(TracegradError, match="more than 1 value"):
        nn.BatchNorm1d(2)(tg.zeros(1, 2))


def test_batchnorm_gradients_finite_differences():
    from tracegrad.nn.norm import _bn_train
    x = RNG.standard_normal((4, 3, 2))
    w, b = RNG.standard_normal(3), RNG.standard_normal(3)
    check_grads(lambda a, c, d: _bn_train(a, c, d, 1e-5)[0], (x, w, b), modes=("rev",))
    # through the module and the front's backward: d(sum y * u)/dx against differences
    bn = nn.BatchNorm1d(3, dtype=np.float64)
    u = RNG.standard_normal(x.shape)
    xt = tg.tensor(x, requires_grad=True)
    (bn(xt) * tg.tensor(u)).sum().backward()
    eps, num = 1e-6, np.zeros_like(x)
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += eps
        xm[i] -= eps
        f = [(F.batch_norm(tg.tensor(v), None, None, training=True).numpy() * u).sum()
             for v in (xp, xm)]
        num[i] = (f[0] - f[1]) / (2 * eps)
    np.testing.assert_allclose(xt.grad.numpy(), num, rtol=1e-5, atol=1e-7)


def test_small_cnn_trains_under_compile():
    tg.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 4 * 4, 2))
    opt = tg.optim.SGD(model.parameters(), lr=0.1)
    x = RNG.standard_normal((16, 1, 8, 8)).astype(np.float32)
    y = (x[:, 0, :4].sum((1, 2)) > x[:, 0, 4:].sum((1, 2))).astype(np.int64)
    loss_fn = nn.CrossEntropyLoss()

    @tg.compile
    def step(xb, yb):
        opt.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        return loss
    losses = [float(step(tg.tensor(x), tg.tensor(y)).item()) for _ in range(30)]
    assert losses[-1] < 0.5 * losses[0]
    assert int(model[1].num_batches_tracked.item()) == 30
    assert np.all(model[1].running_var.numpy() > 0)


# --- every new functional form compiles on both backends ----------------------------------------
def _layer_losses():
    from tracegrad.nn.norm import _bn_train
    r = np.random.default_rng(3)
    x = r.standard_normal((2, 3, 7, 6))
    return {
        "conv2d": (lambda a, w, b: (F.conv2d(a, w, b, 2, 1, 2) ** 2).sum(),
                   (x, r.standard_normal((4, 3, 3, 2)), r.standard_normal(4))),
        "conv1d": (lambda a, w: (F.conv1d(a, w, None, 1, "same") ** 2).sum(),
                   (x[:, :, 0], r.standard_normal((2, 3, 4)))),
        "conv2d_groups": (lambda a, w: (F.conv2d(a, w, None, 1, 1, 1, 3) ** 2).sum(),
                          (x, r.standard_normal((6, 1, 2, 2)))),
        "max_pool2d": (lambda a: (F.max_pool2d(a, 3, 2, 1) ** 2).sum(), (x,)),
        "avg_pool2d": (lambda a: (F.avg_pool2d(a, 3, 2, 1, False, False) ** 2).sum(), (x,)),
        "batch_norm": (lambda a, g, b: (_bn_train(a, g, b, 1e-5)[0] ** 3).sum(),
                       (x, r.standard_normal(3), r.standard_normal(3))),
        "embedding": (lambda w: (F.embedding(np.array([[0, 2], [2, 1]]), w, 1) ** 2).sum(),
                      (r.standard_normal((4, 3)),)),
        "bce": (lambda p: F.binary_cross_entropy(p, (x[0] > 0) * 1.0, "sum"),
                (1 / (1 + np.exp(-x[1])),)),
        "smooth_l1": (lambda a: F.smooth_l1_loss(a, x[1], "mean", 0.7), (x[0],)),
    }


@pytest.mark.parametrize("name", sorted(_layer_losses()))
def test_layer_gradients_agree_across_backends(name):
    from c_support import c_available
    if not c_available():
        pytest.skip("no working C compiler here")
    f, args = _layer_losses()[name]
    g = tg.grad(f, argnums=tuple(range(len(args))))
    by_numpy = tg.jit(g, backend="numpy")(*args)
    by_c = tg.jit(g, backend="c")(*args)
    for a, c in zip(by_numpy, by_c):
        np.testing.assert_allclose(c, a, rtol=1e-10, atol=1e-12)


# --- PyTorch itself, when installed -----------------------------------------------------------
@needs_torch
def test_against_pytorch():  # pragma: no cover - needs torch
    x = RNG.standard_normal((2, 3, 9, 8))
    w = RNG.standard_normal((4, 3, 3, 2))
    b = RNG.standard_normal(4)
    tx, tw, tb = (torch.tensor(a) for a in (x, w, b))
    np.testing.assert_allclose(F.conv2d(x, w, b, 2, 1, 2),
                               torch.nn.functional.conv2d(tx, tw, tb, 2, 1, 2).numpy(),
                               rtol=1e-10)
    np.testing.assert_allclose(F.max_pool2d(tg.tensor(x), 3, 2, 1).numpy(),
                               torch.nn.functional.max_pool2d(tx, 3, 2, 1).numpy())
    np.testing.assert_allclose(
        F.avg_pool2d(tg.tensor(x), 3, 2, 1, False, False).numpy(),
        torch.nn.functional.avg_pool2d(tx, 3, 2, 1, False, False).numpy(), rtol=1e-12)
    bn, tbn = nn.BatchNorm2d(3, dtype=np.float64), torch.nn.BatchNorm2d(3).double()
    for _ in range(2):
        np.testing.assert_allclose(bn(tg.tensor(x)).numpy(), tbn(tx).detach().numpy(),
                                   rtol=1e-8)
    np.testing.assert_allclose(bn.running_var.numpy(), tbn.running_var.numpy(), rtol=1e-10)
    a, t = RNG.standard_normal((4, 5)), RNG.standard_normal((4, 5))
    np.testing.assert_allclose(
        F.smooth_l1_loss(a, t, "mean", 0.5),
        torch.nn.functional.smooth_l1_loss(torch.tensor(a), torch.tensor(t), beta=0.5).item())
