"""Random draws inside ``tg.compile`` (issue 15 item 1, issue 18): every draw the captured step
makes is drawn again on every replay, from the same generator and in the same order as the eager
step, so a seeded run of N compiled steps gives bit for bit the numbers of N eager steps. A draw
the capture cannot follow raises at capture. Also: NumPy arrays the step reads are read at each
replay, not frozen at capture."""
from __future__ import annotations

import numpy as np
import pytest

import tracegrad as tg
from tracegrad import nn
from tracegrad.errors import TracedRandomError

N_STEPS = 4


def _seed(s):
    tg.manual_seed(s)
    np.random.seed(s)


def _run(step, n=N_STEPS, seed=7):
    """``n`` calls of ``step`` after seeding: the arrays each call returns."""
    _seed(seed)
    out = []
    for _ in range(n):
        res = step()
        leaves = res if isinstance(res, (tuple, list)) else (res,)
        out.append([np.array(r.numpy() if isinstance(r, tg.Tensor) else r) for r in leaves])
    return out


def _same_as_eager(body, n=N_STEPS):
    """Compiled and eager runs of ``body`` give equal arrays (same dtype), and draws differ
    between steps (nothing frozen)."""
    eager = _run(body, n)
    compiled = tg.compile(body)
    comp = _run(compiled, n)
    assert compiled.cache_info()["captures"] == 1
    assert compiled.cache_info()["hits"] == n - 1
    for e, c in zip(eager, comp):
        for a, b in zip(e, c):
            assert a.dtype == b.dtype and a.shape == b.shape
            np.testing.assert_array_equal(a, b)
    for k in range(len(eager[0])):
        assert not np.array_equal(comp[0][k], comp[1][k]), f"output {k} frozen"
    return comp


def test_compile_redraws_tg_creation_draws_like_eager():
    w = tg.ones(3)

    def body():
        a = tg.randn(3) * w
        b = tg.rand(2, 3) + 1
        c = tg.randint(0, 1000, (5,))
        d = tg.randn_like(w) + w
        e = tg.rand_like(w, dtype=tg.float64)
        f = tg.randint(1000, (2,)) * 2
        return a, b, c, d, e, f
    _same_as_eager(body)


def test_compile_redraws_after_manual_seed_replaces_the_generator():
    """``manual_seed`` makes a new default generator: a replay draws from the current one."""
    body = tg.compile(lambda: tg.randn(4) + 0)
    tg.manual_seed(1)
    first = [body().numpy() for _ in range(3)]
    tg.manual_seed(1)
    again = [body().numpy() for _ in range(3)]
    tg.manual_seed(1)
    eager = [tg.randn(4).numpy() for _ in range(3)]
    for a, b, c in zip(first, again, eager):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)


def test_compile_redraws_the_frozen_example_of_the_report():
    """The reported case: a parameter plus noise under lr=0 gave [1.597] * 4."""
    w = tg.zeros(1, requires_grad=True)
    opt = tg.optim.SGD([w], lr=0.0)

    def step():
        opt.zero_grad()
        loss = ((w + tg.randn(1)) ** 2).sum()
        loss.backward()
        opt.step()
        return loss
    _same_as_eager(step)


def test_compile_redraws_dropout_like_eager():
    tg.manual_seed(0)
    x = tg.ones(4, 6)
    drop = nn.Dropout(0.5)  # its own generator
    lin = nn.Linear(6, 6)

    def body():
        h = drop(lin(x))
        return h, nn.functional.dropout(h, 0.3)  # tg's default generator

    def run(step):
        drop.generator = np.random.default_rng(5)
        return _run(step)
    eager = run(body)
    compiled = tg.compile(body)
    comp = run(compiled)
    for e, c in zip(eager, comp):
        for a, b in zip(e, c):
            np.testing.assert_array_equal(a, b)
    assert compiled.cache_info()["hits"] == N_STEPS - 1
    assert (comp[0][0] == 0).any() and not np.array_equal(comp[0][0], comp[1][0])
    assert not np.array_equal(comp[0][1] == 0, comp[1][1] == 0)


def test_compile_redraws_numpy_module_draws_like_eager():
    x = tg.ones(3, dtype=tg.float64)

    def body():
        a = x + np.random.randn(3)
        b = x * np.random.normal(1.0, 2.0, size=3)
        c = np.random.uniform(-1, 1, size=(2, 3)) + x
        d = x * np.random.rand()  # a scalar draw used as a tensor
        e = tg.from_numpy(np.random.standard_normal((2,)).astype(np.float32))
        f = tg.tensor(np.random.randint(0, 100, size=3))
        return a, b, c, d, e, f
    _same_as_eager(body)


def test_compile_redraws_random_state_and_generator_methods_like_eager():
    x = tg.ones(3, dtype=tg.float64)
    states = {}

    def body():
        rs, gen = states["rs"], states["gen"]
        a = x + rs.standard_normal(3)
        b = x * gen.normal(0.0, 1.0, size=3)
        c = gen.integers(0, 50, size=4)
        d = rs.gamma(2.0, size=3) + x  # any sampler: the replay calls NumPy's own
        e = gen.permutation(6)
        return a, b, c, d, e

    def run(step):
        states["rs"] = np.random.RandomState(3)
        states["gen"] = np.random.default_rng(3)
        return _run(step)
    eager = run(body)
    compiled = tg.compile(body)
    comp = run(compiled)
    for e, c in zip(eager, comp):
        for a, b in zip(e, c):
            np.testing.assert_array_equal(a, b)
    assert not np.array_equal(comp[0][0], comp[1][0])


def test_compile_replays_draws_in_draw_order_including_unused_ones():
    """Draws from one generator come out in the eager order although the program reads its
    inputs in another order, and a draw the program does not use still advances the
    generator (eagerly it is drawn too)."""
    def body():
        a = tg.randn(2)
        tg.rand(5)  # unused: dead in the program, drawn anyway
        np.random.randn(4)  # unused too
        b = tg.randn(3)
        c = np.random.uniform(size=2)
        return b * 1, a * 1, c + tg.zeros(2, dtype=tg.float64)
    _same_as_eager(body)


def test_compile_draw_read_as_python_value_raises_at_capture():
    x = tg.ones(2)

    @tg.compile
    def step():
        s = float(np.random.rand())  # eagerly a new float per call: frozen if captured
        return x * s
    with pytest.raises(TracedRandomError, match=r"np\.random\.rand.*tg\.compile"):
        step()

    @tg.compile
    def step2():
        if tg.rand(()) < 0.5:
            return x * 2
        return x
    with pytest.raises(tg.TracegradError, match="concrete value"):
        step2()

    @tg.compile
    def step3():
        return x * tg.randn(2).numpy()
    with pytest.raises(TracedRandomError, match=r"tg\.randn"):
        step3()


def test_compile_draw_from_a_generator_made_in_the_step_raises():
    @tg.compile
    def step():
        g = np.random.default_rng(0)
        return tg.ones(2) + g.normal(size=2)
    with pytest.raises(TracedRandomError, match="made inside"):
        step()

    @tg.compile
    def step2():
        return tg.randn(2, generator=np.random.default_rng(0))
    with pytest.raises(TracedRandomError, match="made inside"):
        step2()


def test_compile_draw_with_symbolic_parameters_raises():
    mu = tg.ones(3, requires_grad=True)

    @tg.compile
    def step():
        return np.random.normal(mu * 2, 1.0)
    with pytest.raises(TracedRandomError, match="standard_normal"):
        step()


def test_compile_untraceable_host_draws_raise():
    """Draws the capture cannot re-run in place: shuffle (in place on a host array), seeding,
    a NumPy generator class the wrappers do not see (its bit generator's lock refuses)."""
    x = tg.ones(3)

    @tg.compile
    def shuffle():
        idx = np.arange(3)
        np.random.shuffle(idx)
        return x[idx]
    with pytest.raises(TracedRandomError, match="permutation"):
        shuffle()

    @tg.compile
    def seed():
        tg.manual_seed(0)
        return tg.randn(3)
    with pytest.raises(TracedRandomError, match="manual_seed"):
        seed()

    base = np.random._generator.Generator(np.random.PCG64(0))  # NumPy's own class

    @tg.compile
    def plain():
        return x + np.random._generator.Generator.normal(base, size=3)
    with pytest.raises(TracedRandomError, match="tg.compile"):
        plain()


def test_compile_redraws_draws_in_a_loop_body_like_eager():
    """A loop body's Python runs once per call (tensor/control.py): its draws are one value
    per call that every iteration reads, eagerly and compiled alike."""
    def body():
        def step(h, _):
            return h + tg.randn(3) + np.random.randn(3), h
        return tg.scan(step, tg.zeros(3, dtype=tg.float64), None, length=3)[0]
    _same_as_eager(body)


def test_compile_reads_numpy_operands_at_each_replay():
    """A NumPy array the step reads (a closed-over buffer the caller refills between steps)
    is read at each call, as eagerly; one written inside the step keeps its per-op values."""
    buf = np.zeros(3, np.float32)
    w = tg.ones(3)

    @tg.compile
    def step():
        local = np.ones(3, np.float32)
        y = w * local
        local[0] = 5.0  # written after its use: that use keeps the old contents
        fresh = tg.zeros(3)
        fresh.add_(w)  # made by the step and written in place: starts afresh at each call
        return w + buf, tg.tensor(buf) * 2, y + tg.tensor(local), fresh * 1
    outs = []
    for k in range(3):
        buf[:] = k
        outs.append([t.numpy().copy() for t in step()])
    for k, (a, b, c, d) in enumerate(outs):
        np.testing.assert_array_equal(d, np.ones(3, np.float32))
        np.testing.assert_array_equal(a, np.full(3, 1.0 + k, np.float32))
        np.testing.assert_array_equal(b, np.full(3, 2.0 * k, np.float32))
        np.testing.assert_array_equal(c, [6.0, 2.0, 2.0])
    assert step.cache_info()["hits"] == 2


def test_compile_replays_nn_init_inside_the_step():
    """An initialiser called by the step writes at every replay, with fresh draws (it wrote
    once, at capture, before: a replay skipped it)."""
    w = tg.zeros(4)
    b = tg.zeros(2)

    def body():
        nn.init.normal_(w, 0.0, 1.0)
        nn.init.constant_(b, 3.0)
        return w * 1, b + 0

    def run(step):
        out = []
        tg.manual_seed(2)
        for _ in range(3):
            b.data[:] = 0.0
            out.append([t.numpy().copy() for t in step()] + [w.numpy().copy()])
        return out
    eager = run(body)
    comp = run(tg.compile(body))
    for e, c in zip(eager, comp):
        for x, y in zip(e, c):
            np.testing.assert_array_equal(x, y)
    assert not np.array_equal(comp[0][0], comp[1][0])


# --- every NumPy sampler, on np.random, a RandomState and a Generator ------------------------
# (args, kwargs) of one call per sampler name; a name NumPy adds fails the coverage test below
_ARGS = {
    "beta": ((2.0, 3.0), {}), "binomial": ((5, 0.3), {}), "chisquare": ((2.0,), {}),
    "choice": ((5,), {}), "dirichlet": (([1.0, 2.0],), {}), "exponential": ((), {}),
    "f": ((2.0, 3.0), {}), "gamma": ((2.0,), {}), "geometric": ((0.3,), {}),
    "gumbel": ((), {}), "hypergeometric": ((5, 4, 3), {}), "laplace": ((), {}),
    "logistic": ((), {}), "lognormal": ((), {}), "logseries": ((0.5,), {}),
    "multinomial": ((5, [0.2, 0.8]), {}), "multivariate_normal": (([0.0, 1.0], np.eye(2)), {}),
    "negative_binomial": ((3, 0.5), {}), "noncentral_chisquare": ((2.0, 1.0), {}),
    "noncentral_f": ((2.0, 3.0, 1.0), {}), "normal": ((), {}), "pareto": ((2.0,), {}),
    "poisson": ((3.0,), {}), "power": ((2.0,), {}), "rayleigh": ((), {}),
    "standard_cauchy": ((), {}), "standard_exponential": ((), {}),
    "standard_gamma": ((2.0,), {}), "standard_normal": ((), {}), "standard_t": ((3.0,), {}),
    "triangular": ((0.0, 1.0, 2.0), {}), "uniform": ((), {}), "vonmises": ((0.0, 1.0), {}),
    "wald": ((1.0, 1.0), {}), "weibull": ((2.0,), {}), "zipf": ((2.0,), {}),
    "random": ((), {}), "random_sample": ((), {}), "randint": ((0, 9), {}),
    "random_integers": ((1, 9), {}), "integers": ((0, 9), {}), "tomaxint": ((), {}),
    "multivariate_hypergeometric": (([3, 4], 3), {}),
    # no size keyword
    "rand": ((3,), None), "randn": ((3,), None), "permutation": ((5,), None),
    "permuted": ((np.arange(5),), None),
}
_REFUSED = {"shuffle": "permutation", "bytes": "bytes"}


def _owners():
    from tracegrad.random_numpy import _samplers
    rs_names = _samplers(np.random.mtrand.RandomState(0))
    gen_names = _samplers(np.random._generator.Generator(np.random.PCG64(0)))
    mod_names = [n for n in rs_names if getattr(np.random, n, None) is not None
                 and hasattr(getattr(np.random, n), "_tg_wraps")]
    return {"RandomState": rs_names, "Generator": gen_names, "np.random": mod_names}


def test_compile_sampler_table_covers_every_numpy_sampler():
    names = set().union(*_owners().values())
    assert names - set(_ARGS) - set(_REFUSED) == set()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@pytest.mark.parametrize("owner,name", [(o, n) for o, ns in sorted(_owners().items())
                                        for n in ns])
def test_compile_redraws_every_numpy_sampler_like_eager(owner, name):
    made = {}

    def sampler():
        return getattr(np.random if owner == "np.random" else made["g"], name)

    def body():
        if name in _REFUSED:
            return sampler()(np.arange(4) if name == "shuffle" else 4)
        args, kw = _ARGS[name]
        return sampler()(*args, **({"size": 3} if kw is not None else {}))

    def run(step):
        np.random.seed(11)
        made["g"] = (np.random.RandomState(11) if owner == "RandomState" else
                     np.random.default_rng(11))
        return [np.array(step() * 1) for _ in range(3)]
    if name in _REFUSED:
        with pytest.raises(TracedRandomError, match=_REFUSED[name]):
            run(tg.compile(body))
        return
    eager = run(body)
    compiled = tg.compile(lambda: body() * 1)
    comp = run(compiled)
    assert compiled.cache_info()["hits"] == 2
    for e, c in zip(eager, comp):
        assert e.dtype == c.dtype
        np.testing.assert_array_equal(e, c)


def test_compile_batch_norm_cumulative_average_reads_the_count_at_each_replay():
    """BatchNorm(momentum=None) weights the batch by 1/num_batches_tracked: a replay must use
    the count it increments (the count read as a Python number at capture was frozen)."""
    x = tg.tensor(np.arange(12, dtype=np.float32).reshape(4, 3))
    runs = []
    for compiled in (False, True):
        bn = nn.BatchNorm1d(3, momentum=None)

        def body(xk, bn=bn):
            return bn(xk * 1.0)
        step = tg.compile(body) if compiled else body
        for k in range(4):
            step(x * (k + 1.0))
        runs.append((bn.running_mean.numpy().copy(), bn.running_var.numpy().copy(),
                     int(bn.num_batches_tracked.item())))
    (m1, v1, n1), (m2, v2, n2) = runs
    assert n1 == n2 == 4
    np.testing.assert_array_equal(m1, m2)
    np.testing.assert_array_equal(v1, v2)


def test_compile_refuses_reading_a_value_a_replay_would_not_read_again():
    """A leaf's value read as Python data at capture would be a constant of every replay:
    refused for arguments, tensors made before the step and tensors the step writes; allowed
    for constants the step makes itself."""
    scale = tg.tensor(2.0)
    x = tg.ones(3)

    @tg.compile
    def outer_state():
        return x * scale.item()
    with pytest.raises(tg.TracegradError, match="made before the step"):
        outer_state()

    @tg.compile
    def argument(s):
        return x * float(s)
    with pytest.raises(tg.TracegradError, match="argument"):
        argument(tg.tensor(3.0))

    @tg.compile
    def written():
        c = tg.zeros(())
        c.add_(1)
        return x * c.item()
    with pytest.raises(tg.TracegradError, match="written by the step"):
        written()

    @tg.compile
    def constant():
        return x * tg.tensor(4.0).item()
    np.testing.assert_array_equal(constant().numpy(), [4.0] * 3)
    np.testing.assert_array_equal(constant().numpy(), [4.0] * 3)


def test_compile_copies_of_tensors_follow_the_replay():
    """``tg.Tensor(arr)`` reads the array at each replay; a copy of a draw or of outside state
    made through ``Tensor(t)`` is refused rather than frozen."""
    buf = np.zeros(2, np.float32)
    x = tg.ones(2)

    @tg.compile
    def step():
        return x + tg.Tensor(buf)
    for k in range(3):
        buf[:] = k
        np.testing.assert_array_equal(step().numpy(), [1.0 + k] * 2)

    @tg.compile
    def copy_of_draw():
        return x + tg.Tensor(tg.randn(2))
    with pytest.raises(tg.TracegradError, match="drawn at random"):
        copy_of_draw()

    @tg.compile
    def copy_of_state():
        return tg.Tensor([x[0] * 1, x[1]])
    with pytest.raises(tg.TracegradError):
        copy_of_state()
