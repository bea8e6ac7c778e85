"""Convolutions (issue 15 item 4): np.convolve/np.correlate and scipy.signal's convolve,
correlate, fftconvolve, convolve2d, correlate2d traced from plain NumPy/SciPy calls, against
NumPy and SciPy on the NumPy and C backends; the ``conv`` primitive's gradients (each a
convolution again) against finite differences in float64, both modes and second order, over
strides, padding (negative too), input and kernel dilation and groups.
"""
from __future__ import annotations

import itertools
import subprocess
import sys

import numpy as np
import pytest
import scipy.signal as ss

import tracegrad as tg
from tracegrad.prims.conv import conv
from tracegrad.testing import check_grads

from c_support import needs_c

RNG = np.random.default_rng(11)
BACKENDS = ["numpy", pytest.param("c", marks=needs_c)]


def _same(got, want, rtol=1e-12):
    got, want = np.asarray(got), np.asarray(want)
    assert got.dtype == want.dtype and got.shape == want.shape, \
        (got.dtype, want.dtype, got.shape, want.shape)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-12)


# --- NumPy 1-d ---------------------------------------------------------------------------------
NP_CASES = [(f, n1, n2, mode) for f in ("convolve", "correlate")
            for n1, n2 in ((5, 3), (3, 5), (4, 4), (6, 2), (1, 4))
            for mode in ("full", "same", "valid")]


@pytest.mark.parametrize("backend", BACKENDS)
def test_numpy_convolve_and_correlate(backend):
    for f, n1, n2, mode in NP_CASES:
        fn = getattr(np, f)
        a, v = RNG.normal(size=n1), RNG.normal(size=n2)
        _same(tg.jit(lambda a, v: fn(a, v, mode), backend=backend)(a, v), fn(a, v, mode))


@pytest.mark.parametrize("backend", BACKENDS)
def test_numpy_convolve_integers_and_float32(backend):
    a, v = RNG.integers(-9, 9, 7), RNG.integers(-9, 9, 3)
    _same(tg.jit(lambda a, v: np.convolve(a, v), backend=backend)(a, v), np.convolve(a, v))
    a32, v32 = a.astype(np.float32), v.astype(np.float32)
    _same(tg.jit(lambda a, v: np.correlate(a, v, "same"), backend=backend)(a32, v32),
          np.correlate(a32, v32, "same"), rtol=1e-6)


# --- SciPy N-d ---------------------------------------------------------------------------------
SHAPES = [((4, 5), (2, 3)), ((2, 3), (4, 5)), ((6,), (2,)), ((2,), (5,)), ((3, 4, 2), (2, 3, 2)),
          ((6, 7), (4, 2))]
SCIPY = ["convolve", "correlate", "fftconvolve", "convolve2d", "correlate2d"]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", SCIPY)
def test_scipy_signal_matches_scipy(name, backend):
    fn = getattr(ss, name)
    for (s1, s2), mode in itertools.product(SHAPES, ("full", "same", "valid")):
        if name.endswith("2d") and len(s1) != 2:
            continue
        a, b = RNG.normal(size=s1), RNG.normal(size=s2)
        try:
            want = fn(a, b, mode)
        except ValueError:
            with pytest.raises(ValueError):
                tg.jit(lambda a, b: fn(a, b, mode), backend=backend)(a, b)
            continue
        _same(tg.jit(lambda a, b: fn(a, b, mode), backend=backend)(a, b), want)


def test_scipy_signal_on_concrete_arrays_is_scipy_itself():
    """A routed function calls SciPy's own (a copy of it) whenever no argument is traced."""
    original = ss.convolve.__wrapped__
    a, b = RNG.normal(size=(5, 4)), RNG.normal(size=(2, 2))
    np.testing.assert_array_equal(ss.convolve(a, b, "same"), original(a, b, "same"))
    assert ss.convolve.__name__ == "convolve" and ss.convolve.__doc__ == original.__doc__


def test_scipy_signal_name_bound_before_tracegrad_is_routed():
    """``from scipy.signal import convolve`` before ``import tracegrad``: the name holds the
    same function object, whose code is routed (rebinding module attributes would miss it)."""
    code = ("import numpy as np\n"
            "from scipy.signal import convolve\n"
            "import tracegrad as tg\n"
            "x = np.arange(6.0)\n"
            "y = tg.jit(lambda x: convolve(x, np.ones(2), 'same'), backend='numpy')(x)\n"
            "assert np.allclose(y, convolve(x, np.ones(2), 'same')), y\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_scipy_signal_error_names_the_user_line():
    with pytest.raises(tg.ShapeError, match="same dimensionality") as info:
        tg.jit(lambda a, b: ss.correlate(a, b))(np.ones((2, 2)), np.ones(2))
    assert "test_conv.py" in str(info.value) and "ss.correlate(a, b)" in str(info.value)


def test_scipy_signal_imported_after_tracegrad_is_routed():
    """Importing tracegrad does not import SciPy; scipy.signal imported later is routed."""
    code = ("import sys, numpy as np, tracegrad as tg\n"
            "assert 'scipy.signal' not in sys.modules\n"
            "from scipy.signal import correlate\n"
            "x = np.arange(6.0)\n"
            "y = tg.jit(lambda x: correlate(x, np.ones(3), 'valid'), backend='numpy')(x)\n"
            "assert np.allclose(y, correlate(x, np.ones(3), 'valid')), y\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_scipy_gradient_through_traced_call():
    k = RNG.normal(size=(3, 2))
    check_grads(lambda x: ss.correlate(x, k, "same") ** 2, (RNG.normal(size=(4, 5)),),
                modes=("rev", "fwd"))
    check_grads(lambda x, v: np.convolve(x, v, "valid"),
                (RNG.normal(size=6), RNG.normal(size=3)), order=2)


# --- the conv primitive ------------------------------------------------------------------------
# (strides, padding, lhs dilation, rhs dilation, groups), x shape, w shape
CONVS = [
    ("plain", ((1, 1), ((0, 0), (0, 0)), (1, 1), (1, 1), 1), (2, 3, 5, 4), (4, 3, 2, 2)),
    ("stride-pad", ((2, 2), ((1, 1), (2, 0)), (1, 1), (1, 1), 1), (2, 2, 6, 5), (3, 2, 3, 3)),
    ("dilation-groups", ((1, 2), ((0, 1), (1, 1)), (1, 1), (2, 1), 2), (1, 4, 7, 6),
     (6, 2, 2, 3)),
    ("depthwise", ((1, 1), ((1, 1), (1, 1)), (1, 1), (1, 1), 3), (2, 3, 4, 4), (3, 1, 3, 3)),
    ("crop-and-input-dilation", ((1, 1), ((-1, 2), (1, -1)), (2, 1), (1, 1), 1), (1, 2, 4, 5),
     (2, 2, 2, 2)),
    ("stride-skips-tail", ((3,), ((0, 0),), (1,), (1,), 1), (2, 2, 8), (1, 2, 2)),
    ("pointwise", ((1, 1), ((0, 0), (0, 0)), (1, 1), (1, 1), 1), (2, 3, 3, 4), (5, 3, 1, 1)),
]


def _bind(p):
    return lambda x, w: conv(x, w, *p)


@pytest.mark.parametrize("name,p,xs,ws", CONVS, ids=[c[0] for c in CONVS])
def test_conv_gradients_second_order(name, p, xs, ws):
    x, w = RNG.normal(size=xs), RNG.normal(size=ws)
    check_grads(_bind(p), (x, w), order=2, modes=("rev", "fwd"), max_elements=24)


@needs_c
@pytest.mark.parametrize("name,p,xs,ws", CONVS, ids=[c[0] for c in CONVS])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_conv_c_forward_and_gradient_match_numpy(name, p, xs, ws, dtype):
    x, w = RNG.normal(size=xs).astype(dtype), RNG.normal(size=ws).astype(dtype)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    f = _bind(p)
    np.testing.assert_allclose(tg.jit(f, backend="c")(x, w), f(x, w), rtol=rtol, atol=rtol)

    def loss(x, w):
        return (f(x, w) ** 2).sum()
    g_c = tg.jit(tg.grad(loss, argnums=(0, 1)), backend="c")(x, w)
    g_np = tg.jit(tg.grad(loss, argnums=(0, 1)), backend="numpy")(x, w)
    for a, b in zip(g_c, g_np):
        np.testing.assert_allclose(a, b, rtol=rtol * 10, atol=rtol * 10)


def test_conv_shape_errors_name_the_mismatch():
    with pytest.raises(tg.ShapeError, match="groups=2 needs 4"):
        tg.jit(lambda x, w: conv(x, w, (1, 1), ((0, 0), (0, 0)), feature_group_count=2))(
            np.ones((1, 3, 4, 4)), np.ones((2, 2, 2, 2)))


@needs_c
def test_conv_c_column_blocks(monkeypatch):
    """Images go through im2col + gemm in blocks bounded by BLOCK_BYTES; a bound below one
    image's columns (one image per block) and one splitting 5 images 2 + 2 + 1 agree."""
    from tracegrad.codegen.c import conv as conv_c
    x, w = RNG.normal(size=(5, 3, 6, 5)), RNG.normal(size=(4, 3, 3, 2))
    p = ((2, 1), ((1, 0), (1, 1)), (1, 1), (1, 2), 1)
    want = _bind(p)(x, w)
    cols = 3 * (3 * 2) * (3 * 5) * 8  # C * K * P * itemsize of one image's columns
    for limit in (1, 2 * cols):
        monkeypatch.setattr(conv_c, "BLOCK_BYTES", limit)
        np.testing.assert_allclose(tg.jit(_bind(p), backend="c")(x, w), want, rtol=1e-12)


def _random_convs(count, seed):
    """Random conv parameters (1-2 spatial axes, strides, padding from -2 to 2, both
    dilations, groups) whose output is not empty, with their operands."""
    from cases import _conv_ref
    from tracegrad.prims.np_signal import conv_out_size
    r = np.random.default_rng(seed)
    out = []
    while len(out) < count:
        nd, g, cg, og = (int(v) for v in (r.integers(1, 3), r.integers(1, 3), r.integers(1, 3),
                                          r.integers(1, 3)))
        spatial, kern, s, ld, rd = (tuple(int(v) for v in r.integers(lo, hi, nd))
                                    for lo, hi in ((1, 7), (1, 4), (1, 4), (1, 3), (1, 3)))
        pad = tuple((int(a), int(b)) for a, b in r.integers(-2, 3, (nd, 2)))
        if min(conv_out_size(spatial[i], kern[i], s[i], *pad[i], ld[i], rd[i])
               for i in range(nd)) < 1:
            continue
        p = (s, pad, ld, rd, g)
        out.append((p, r.normal(size=(2, cg * g) + spatial), r.normal(size=(og * g, cg) + kern),
                    _conv_ref(*p)))
    return out


def test_conv_random_parameters_match_an_independent_reference():
    """Closes the class of parameter combinations: the NumPy implementation (the interpreter
    and the NumPy backend) against cases.py's shift-and-add reference on 200 random ones."""
    for p, x, w, ref in _random_convs(200, 0):
        np.testing.assert_allclose(conv(x, w, *p), ref(x, w), rtol=1e-12, atol=1e-12,
                                   err_msg=str(p))


@needs_c
def test_conv_random_parameters_c_backend():
    """The C lowering on 12 random parameter sets, compiled as one program."""
    convs = _random_convs(12, 1)

    def many(*xs):
        return tuple(conv(x, w, *p) for (p, _, _, _), x, w in zip(convs, xs[::2], xs[1::2]))
    args = [a for _, x, w, _ in convs for a in (x, w)]
    for got, (p, x, w, ref) in zip(tg.jit(many, backend="c")(*args), convs):
        np.testing.assert_allclose(got, ref(x, w), rtol=1e-12, atol=1e-12, err_msg=str(p))


def test_conv_flops_count_its_products():
    """A conv's cost is 2 * Cg * prod(K) flops per output element (it decides, with the rest
    of the program's, whether the C call releases the GIL); before, one flop per output."""
    lowered = tg.jit(lambda x, w: conv(x, w, (1, 1), ((1, 1), (1, 1)), None, None, 2),
                     backend="numpy").lower(np.ones((2, 4, 5, 5)), np.ones((6, 2, 3, 3)))
    assert lowered.stats["flops"] == 2 * (2 * 3 * 3) * (2 * 6 * 5 * 5)


SANITIZED_CHILD = """
import sys, numpy as np
sys.path.insert(0, sys.argv[1])
import tracegrad as tg
from tracegrad.codegen.c import conv as conv_c
from tracegrad.prims.conv import conv
from test_conv import _random_convs
convs = _random_convs(10, 2)
def many(*xs):
    return tuple(conv(x, w, *p) for (p, _, _, _), x, w in zip(convs, xs[::2], xs[1::2]))
def loss(*xs):
    return sum((y ** 2).sum() for y in many(*xs))
args = [a for _, x, w, _ in convs for a in (x, w)]
for got, (p, x, w, ref) in zip(tg.jit(many, backend="c")(*args), convs):
    np.testing.assert_allclose(got, ref(x, w), rtol=1e-12, atol=1e-12)
g = tg.jit(tg.grad(loss, argnums=tuple(range(len(args)))), backend="c")(*args)
conv_c.BLOCK_BYTES = 1  # one image per column block
g1 = tg.jit(tg.grad(loss, argnums=tuple(range(len(args)))), backend="c")(*args)
for a, b in zip(g, g1):
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
x = np.random.default_rng(0).normal(size=(5, 33))
x[1, ::3] = np.nan
for a in (x, x.astype(np.float32), np.rint(x * 2).astype(np.int32)[:, :0], np.ones((3, 1))):
    for ax in (0, 1):
        got = tg.jit(lambda v: np.argsort(v, axis=ax), backend="c")(a)
        np.testing.assert_array_equal(got, np.argsort(a, axis=ax, kind="stable"))
print("SANITIZED OK")
"""


@pytest.mark.slow
def test_conv_and_argsort_kernels_under_sanitizers(tmp_path):
    """The im2col, column-block and argsort kernels built with -fsanitize=address,undefined:
    random conv parameters (crops, dilations, groups) forward and gradient, one-image blocks,
    argsort with NaNs, ints, an empty and a length-1 axis; zero sanitizer reports."""
    import os

    from test_sanitized import SAN_FLAGS, _sanitizer_runtime
    asan, why = _sanitizer_runtime()
    if asan is None:
        pytest.skip(why)
    env = {**os.environ, "TRACEGRAD_CFLAGS": SAN_FLAGS, "TRACEGRAD_BACKEND": "c",
           "TRACEGRAD_CACHE_DIR": str(tmp_path / "cache"), "TRACEGRAD_NUM_THREADS": "2",
           "LD_PRELOAD": asan, "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=0",
           "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"}
    tests_dir = os.path.dirname(os.path.abspath(__file__))
    r = subprocess.run([sys.executable, "-c", SANITIZED_CHILD, tests_dir], env=env,
                       capture_output=True, text=True, timeout=900, check=False)
    report = r.stdout[-3000:] + r.stderr[-6000:]
    assert "runtime error" not in r.stderr and "AddressSanitizer" not in r.stderr, report
    assert r.returncode == 0 and "SANITIZED OK" in r.stdout, report
