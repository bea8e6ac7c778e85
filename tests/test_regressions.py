"""Named regression tests: each failure found by the random-program fuzzer (tests/test_fuzz.py)
or the fault and input tests, reduced to the program that showed it, with what went wrong.

The programs are kept as the fuzzer printed them (plain NumPy), so each test runs the same
checks as the fuzzer (``fuzz_check``) on the same source.
"""
from __future__ import annotations

import numpy as np
import pytest

import tracegrad as tg


def _assert_fresh(outs):
    for k, o in enumerate(outs):
        for j in range(k):
            assert not np.shares_memory(o, outs[j]), f"outputs {j} and {k} share memory"


@pytest.mark.parametrize("level", ["O0", "O2"])
def test_numpy_backend_outputs_that_are_views_of_each_other_are_copied(level):
    """The NumPy backend returned ``y`` and ``y[None]`` as two views of one buffer, so writing
    into one output changed another; outputs were only checked against the inputs."""
    def prog(a0):
        y = np.exp(a0)
        return y[None], y, y.reshape(3, 1), y

    outs = tg.jit(prog, backend="numpy", opt_level=level)(np.ones(3))
    _assert_fresh(outs)
    outs[1][0] = 100.0
    assert outs[0][0, 0] == np.e


def test_a_thread_calling_compiled_code_while_another_traces_gets_arrays():
    """The tracing state (active traces, source overrides, autodiff notes) was global to the
    process: while one thread traced, another thread's call of a compiled function saw an
    active trace, "traced through" it and returned that thread's tracers (or put its own
    constants into the other thread's graph). It is per thread now."""
    import threading

    import tracegrad.numpy as tnp
    table = np.arange(10.0)
    errors = []

    def make(k):
        def f(x):
            z = tnp.zeros(x.shape) + k            # lax.full binds into the innermost trace
            t = tnp.asarray(table)[:x.shape[0]]    # a traced constant of the innermost trace
            return np.sum((x + z) * t)
        return f

    def work(k):
        try:
            for i in range(25):
                f = make(k * 1000 + i)
                x = np.ones(5)
                v, g = tg.value_and_grad(f)(x)  # a new function every time: always traces
                assert isinstance(v, np.ndarray) and isinstance(g, np.ndarray)
                np.testing.assert_allclose(v, f(x))
                np.testing.assert_allclose(g, table[:5])
        except Exception as e:  # noqa: BLE001 - reported below, with the thread's error
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]


def test_threads_calling_a_new_jit_function_compile_each_signature_once():
    """Eight threads making the first call of one jit function each traced and compiled it
    (8 misses for one signature), racing on the cache; the compile now holds a per-function
    lock and the others use its entry."""
    import threading
    f = tg.jit(lambda x: np.sum(np.tanh(x) * 2.0), backend="numpy")
    x = np.linspace(-1, 1, 17)
    barrier = threading.Barrier(8)
    results = []

    def work():
        barrier.wait()
        results.append(float(f(x)))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [results[0]] * 8
    assert f.cache_info().misses == 1


@pytest.mark.parametrize("fn", [
    lambda a, s: np.einsum("ijk,->j", a, s),  # the fuzzer's program, reduced
    lambda a, s: np.dot(a, s),
    lambda a, s: np.tensordot(a, s, 0),
    lambda a, s: np.inner(a, s),
    lambda a, s: a + np.sum(s),
    lambda a, s: a + np.squeeze(s),
    lambda a, s: a * np.transpose(s),
    lambda a, s: np.hypot(a.astype(np.float32), s),
    lambda a, s: a * (s * 2 - s),  # Python arithmetic on Python scalars stays weak
], ids=["einsum", "dot", "tensordot", "inner", "sum", "squeeze", "transpose", "hypot-f32",
        "operators"])
@pytest.mark.parametrize("s", [2, 2.5], ids=["int", "float"])
def test_python_scalar_argument_promotes_as_numpy_does(fn, s):
    """A Python scalar passed as an argument is traced as a weak value, and stayed weak through
    NumPy functions: np.einsum('ijk,->j', a_int32, 2) was int32 (NumPy: int64, as einsum, dot
    and friends convert scalars with np.asarray), np.sum(s) of a Python int promoted like a
    Python int (NumPy: np.int64), and np.hypot(a_f32, 2) was float64 (NumPy: float32)."""
    a = np.arange(6, dtype=np.int32).reshape(3, 2, 1)
    ref = np.asarray(fn(a, s))
    got = tg.jit(fn, backend="numpy")(a, s)
    assert got.dtype == ref.dtype and got.shape == ref.shape
    np.testing.assert_allclose(got, ref, rtol=1e-6)


@pytest.mark.parametrize("backend", ["numpy", "c"])
def test_heaviside_of_nan_is_nan(backend):
    """np.heaviside(x, h) returned h where x is NaN (NaN is neither < 0 nor > 0, so it fell
    through to the x == 0 branch); NumPy propagates the NaN."""
    x = np.array([np.nan, -1.0, 0.0, 2.0, -0.0])
    try:
        got = tg.jit(lambda v: np.heaviside(v, 0.5), backend=backend)(x)
    except tg.CompileError:
        pytest.skip("no working C compiler here")
    np.testing.assert_array_equal(got, np.heaviside(x, 0.5))


def test_c_backend_copies_a_misaligned_input_before_reading_it():
    """A C-contiguous array at an address that is not a multiple of its item size (a
    np.frombuffer view at offset 1) went to the kernel as it was, and the kernel read it as
    double*: undefined behaviour (UBSan: 'load of misaligned address'; GCC may assume the
    alignment when it vectorises). The executable now copies inputs that are not aligned."""
    x = np.arange(10.0)
    buf = np.zeros(x.nbytes + 1, np.uint8)
    odd = np.frombuffer(buf.data, dtype=np.float64, count=10, offset=1)
    odd[...] = x
    assert odd.flags.c_contiguous and not odd.flags.aligned
    try:
        exe = tg.jit(lambda a: a * 2.0 + 1.0, backend="c").lower(x).executable
    except tg.CompileError:
        pytest.skip("no working C compiler here")
    seen = []
    run = exe._run

    def spy(*arrays):
        seen.extend(arrays)
        return run(*arrays)
    exe._run = spy
    out = exe(odd)
    assert seen[0].flags.aligned
    np.testing.assert_array_equal(out[0], x * 2.0 + 1.0)


@pytest.mark.parametrize("level", ["O0", "O2"])
def test_c_kernel_with_a_chain_of_broadcasts_compiles(level):
    """Fusion copies the broadcasts feeding a kernel into its body, chains of them included,
    but the C emitter read a broadcast's operand from a kernel-input pointer: for
    c = broadcast(broadcast(x)) it wrote p_b[...] with no p_b declared, and the compiler
    failed ('p_b undeclared'). Found by the fuzzer as a size-1 to size-0 broadcast at O0:"""
    def prog(a0, a1):  # the fuzzer's program, reduced
        v0 = a0[None]
        v1 = v0 + v0
        v4 = (np.repeat(v0, 2, axis=-1) != 0)[2:-1:-2]
        return np.tanh(np.where(v4, v1, a1))

    from tracegrad import lax

    def chain(x, s):  # the same with real sizes: x -> (2, 3) -> (4, 2, 3), s -> (3,) -> ...
        w = lax.broadcast_in_dim(lax.broadcast_in_dim(x, (2, 3), (1,)), (4, 2, 3), (1, 2))
        d = lax.broadcast_in_dim(lax.broadcast_in_dim(s, (3,), ()), (4, 2, 3), (2,))
        return np.tanh(w * d + 1.0)

    a0 = np.array(0.5, np.float32)
    x, s = np.arange(3.0), np.array(0.5)
    try:
        got = tg.jit(prog, backend="c", opt_level=level)(a0, 1.5)
    except tg.CompileError as e:
        if e.source_path is None:
            pytest.skip("no working C compiler here")
        raise
    assert got.shape == (0,) and got.dtype == np.float32
    want = np.broadcast_to(np.tanh(x * 0.5 + 1.0), (4, 2, 3))
    np.testing.assert_allclose(tg.jit(chain, backend="c", opt_level=level)(x, s), want,
                               rtol=1e-12)


def test_c_integer_division_of_the_minimum_by_minus_one_does_not_kill_the_process():
    """x // -1 and x % -1 with x the smallest int32/int64 compiled to C's / and %, which trap
    (SIGFPE: the whole Python process died); NumPy gives MIN and 0. Integer + - * and negation
    overflowed as signed C arithmetic, which is undefined behaviour (it happened to wrap); they
    are computed in unsigned arithmetic now, which wraps as NumPy does. Run in a subprocess so
    that a trap fails this test rather than the test session."""
    import subprocess
    import sys
    import textwrap
    code = textwrap.dedent("""
        import warnings
        import numpy as np
        import tracegrad as tg
        warnings.simplefilter("ignore")
        for dt in (np.int32, np.int64):
            lo, hi = np.iinfo(dt).min, np.iinfo(dt).max
            x = np.array([lo, 7, -7, hi, lo], dt)
            y = np.array([-1, -1, 2, 2, 3], dt)
            f = lambda a, b: (a // b, a % b, -a, np.abs(a), a + a, a * a, a - (-a), a ** 3)
            with np.errstate(all="ignore"):
                want = f(x, y)
            got = tg.jit(f, backend="c")(x, y)
            for g, w in zip(got, want):
                assert g.dtype == w.dtype and np.array_equal(g, w), (dt, g, w)
        print("ok")
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=300, check=False)
    if "CompileError" in r.stderr and "no working C compiler" in r.stderr:
        pytest.skip("no working C compiler here")
    assert r.returncode == 0 and r.stdout.strip() == "ok", (r.returncode, r.stderr[-2000:])


def test_jvp_of_a_function_of_static_python_ints_returns_its_constant_value():
    """Found by the fuzzer after non-differentiated Python ints became static: jvp of
    ``np.tanh(3)`` traced an inner graph whose output is a literal, and the outer trace refused
    that literal ("returned a Lit as output leaf 0")."""
    out, tan = tg.jvp(lambda a: np.tanh(a), (3,), (1,))
    assert np.allclose(out, np.tanh(3)) and np.all(tan == 0)
    out, tan = tg.jvp(lambda a, b: a * np.tanh(b), (2.0, 3), (1.0, 1))
    assert np.allclose(out, 2 * np.tanh(3)) and np.allclose(tan, np.tanh(3))


def _quotients(f, h=1e-4):
    return [(f(h / k) - f(-h / k)) / (2 * h / k) for k in (1, 2, 4, 8)]


def test_finite_difference_check_distrusts_kinks_crossed_inside_the_step():
    """The long fuzz profile failed a correct gradient: one (2, 2, 5) argument fed 10,000
    values through a product into np.abs, several of which crossed 0 within the step; the three
    quotients at h, h/2, h/4 happened to look convergent (-158.87, -159.37, -159.38) while the
    derivative was -160.84 (a quotient at h/256 agrees). Four quotients must each shrink the
    change twofold; kinks crossed at different points make the change grow."""
    from fuzz_check import quotients_converge
    smooth = _quotients(lambda t: np.sin(1.3 + t) * np.exp(t))
    assert quotients_converge(smooth, 1e-12, 1e-12)
    kinks = np.array([3e-7, -2e-6, 9e-6, -4e-5, 7e-5])  # where values cross 0 along the path
    kinked = _quotients(lambda t: float(np.sum(np.abs(t - kinks))) + np.sin(t))
    assert not quotients_converge(kinked, 1e-12, 1e-12)
    one_kink = _quotients(lambda t: abs(t - 1e-6) + np.sin(t))
    assert not quotients_converge(one_kink, 1e-12, 1e-12)
    # the failing shape: a big kink inside h only (h/2 < t0 < h) and a small one near 0; the
    # three-quotient test accepted it (-34.01, -49.02, -49.04), the fourth (-49.08) exposes it
    two_kinks = _quotients(lambda t: 50 * abs(t - 0.7e-4) + abs(t - 1e-6) + np.sin(t))
    assert not quotients_converge(two_kinks, 1e-12, 1e-12)


def _fuzz_program(name):
    """A program as the long fuzz profile printed it (tests/fixtures/fuzz/NAME.txt)."""
    import pathlib
    import fuzz_programs
    text = (pathlib.Path(__file__).parent / "fixtures" / "fuzz" / f"{name}.txt").read_text()
    return eval(text, vars(fuzz_programs))  # noqa: S307 (our own fixture: dataclass reprs)


@pytest.mark.parametrize("name", ["float32_cast_modes", "kinks_through_a_product"])
def test_fuzz_checks_of_correct_gradients_pass(name):
    """Two false alarms of the long fuzz profile, each a correct gradient: reverse and forward
    mode through an astype(np.float32) agree to float32 rounding (1.6e-8 relative), not the
    1e-9 asked of float64 paths (fuzz_check.mode_tolerance); and finite differences crossing
    several kinks (fuzz_check.quotients_converge)."""
    import fuzz_check
    fuzz_check.check_gradients(_fuzz_program(name))


def test_zero_minus_x_keeps_the_sign_of_zero():
    """0.0 - x was simplified to neg(x): at x = 0 that is -0.0 instead of +0.0, and the sign
    shows: 1 / (0.0 - x) was -inf where NumPy gives +inf, atan2(0.0 - x, -1) -pi instead of pi.
    (The class: tests/rule_cases.py checks every simplify rule on signed zeros, infinities and
    NaN, bit for bit in sign.)"""
    import tracegrad as tg

    def f(x):
        return 1.0 / (0.0 - x), np.arctan2(0.0 - x, -1.0), 1.0 / (x + 0.0)
    x = np.array([0.0, -0.0, 2.0])
    with np.errstate(divide="ignore"):
        want = f(x)
        for level in ("O0", "O1", "O2"):
            got = tg.jit(f, opt_level=level)(x)
            for g, w in zip(got, want):
                assert np.array_equal(np.signbit(g), np.signbit(w)) and np.allclose(g, w)
