"""NumPy's random API inside traced functions: ``np.random.*`` module functions and the
methods of ``RandomState`` and ``Generator`` draw from the traced generator (random_draws.py)
on a key the compiled program receives from the host generator at each call (random_host.py).

``install`` (called by random_guard.install) wraps each sampler of the module and of the two
classes: outside a trace the wrapper calls NumPy's own method; inside, a supported sampler
traces and any other raises ``TracedRandomError`` naming it. ``np.random.RandomState``,
``np.random.Generator`` and ``np.random.default_rng`` make the wrapping subclasses (instances of
NumPy's own classes still pass ``isinstance`` against the new names).
"""
from __future__ import annotations

import functools

import numpy as np

from . import random_draws as rd
from .errors import ArgumentError, ImmutableArrayError, TracedRandomError
from .random_host import CAPTURING
from .source_info import user_src_with_text
from .tracer import _ACTIVE, Tracer, is_tracing

F64 = np.float64


def _size(size, *params) -> tuple:
    """NumPy's ``size``: the shape given, else the broadcast shape of the parameters."""
    if size is None:
        return np.broadcast_shapes(*[np.shape(p) for p in params])
    return rd._shape(size)


def _no_out(out, name):
    if out is not None:
        raise ArgumentError(f"{name}(out=...) inside a traced function: traced arrays are "
                            "immutable; use the returned array")


def _is(x, value) -> bool:
    return isinstance(x, (int, float)) and x == value


def _shift_scale(z, loc, scale):
    """``loc + scale * z``, leaving out a multiply by a Python 1 or an add of a Python 0."""
    if not _is(scale, 1):
        z = scale * z
    if not _is(loc, 0):
        z = loc + z
    return z


# --- the samplers, as functions of a key (shared by RandomState and Generator) -------------------
def random_sample(k, size=None, dtype=F64, out=None):
    _no_out(out, "random")
    return rd.uniform(k, _size(size), dtype)


def rand(k, *dims):
    return rd.uniform(k, dims)


def randn(k, *dims):
    return rd.normal(k, dims)


def standard_normal(k, size=None, dtype=F64, out=None):
    _no_out(out, "standard_normal")
    return rd.normal(k, _size(size), dtype)


def normal(k, loc=0.0, scale=1.0, size=None):
    loc, scale = _param(loc), _param(scale)
    return _shift_scale(rd.normal(k, _size(size, loc, scale)), loc, scale)


def uniform(k, low=0.0, high=1.0, size=None):
    low, high = _param(low), _param(high)
    return rd.uniform(k, _size(size, low, high), F64, low, high)


def standard_exponential(k, size=None, dtype=F64, method="zig", out=None):
    _no_out(out, "standard_exponential")
    return rd.exponential(k, _size(size), dtype)


def exponential(k, scale=1.0, size=None):
    scale = _param(scale)
    return _shift_scale(rd.exponential(k, _size(size, scale)), 0, scale)


def gumbel(k, loc=0.0, scale=1.0, size=None):
    loc, scale = _param(loc), _param(scale)
    return _shift_scale(rd.gumbel(k, _size(size, loc, scale)), loc, scale)


def binomial(k, n, p, size=None):
    p = _param(p)
    return rd.binomial(k, n, p, _size(size, p))


def randint(k, low, high=None, size=None, dtype=int):
    return rd.integers(k, low, high, _size(size), dtype)


def integers(k, low, high=None, size=None, dtype=np.int64, endpoint=False):
    if endpoint:
        low, high = (0, low + 1) if high is None else (low, high + 1)
    return rd.integers(k, low, high, _size(size), dtype)


def choice(k, a, size=None, replace=True, p=None, axis=0, shuffle=True):
    return rd.choice(k, a, _size(size), replace, p, axis)


def permutation(k, x, axis=0):
    return rd.permutation(k, x, axis)


# --- more continuous samplers, by inverse CDF on an open-interval uniform (never 0 or 1) -------
def lognormal(k, mean=0.0, sigma=1.0, size=None):
    mean, sigma = _param(mean), _param(sigma)
    return np.exp(_shift_scale(rd.normal(k, _size(size, mean, sigma)), mean, sigma))


def laplace(k, loc=0.0, scale=1.0, size=None):
    loc, scale = _param(loc), _param(scale)
    d = rd.uniform_open(k, _size(size, loc, scale)) - 0.5
    return _shift_scale(-np.sign(d) * np.log1p(-2.0 * np.abs(d)), loc, scale)


def logistic(k, loc=0.0, scale=1.0, size=None):
    loc, scale = _param(loc), _param(scale)
    u = rd.uniform_open(k, _size(size, loc, scale))
    return _shift_scale(np.log(u) - np.log1p(-u), loc, scale)


def rayleigh(k, scale=1.0, size=None):
    scale = _param(scale)
    return _shift_scale(np.sqrt(2.0 * rd.exponential(k, _size(size, scale))), 0, scale)


def weibull(k, a, size=None):
    return rd.exponential(k, _size(size, a)) ** (1.0 / _param(a))


def pareto(k, a, size=None):
    """NumPy's pareto: the Lomax (Pareto II) distribution, exp(E / a) - 1."""
    return np.expm1(rd.exponential(k, _size(size, a)) / _param(a))


def power(k, a, size=None):
    return rd.uniform_open(k, _size(size, a)) ** (1.0 / _param(a))


def standard_cauchy(k, size=None):
    return np.tan(np.pi * (rd.uniform_open(k, _size(size)) - 0.5))


def multivariate_normal(k, mean, cov, size=None, check_valid="warn", tol=1e-8, *,
                        method="cholesky"):
    """mean + L z with L the Cholesky factor of a concrete ``cov`` (``mean`` may be traced)."""
    if _traced(cov):
        raise ArgumentError("multivariate_normal inside a traced function needs a concrete "
                            "cov (its factor is computed once, when tracing); for a traced "
                            "covariance write mean + np.linalg.cholesky(cov) @ z with "
                            "z = rng.standard_normal(...)")
    chol = np.linalg.cholesky(np.asarray(cov, np.float64))
    shape = rd._shape(size) + (chol.shape[0],) if size is not None else (chol.shape[0],)
    return mean + rd.normal(k, shape) @ chol.T


def _traced(x) -> bool:
    return isinstance(x, Tracer)


def _param(x):
    """A distribution parameter: Python numbers and traced values as they are, sequences
    (NumPy accepts lists) as float arrays."""
    if isinstance(x, (int, float, Tracer, np.ndarray, np.generic)):
        return x
    return np.asarray(x, np.float64)


def shuffle(k, x, axis=0):
    raise ImmutableArrayError(
        "shuffle(x) shuffles x in place, and arrays in traced functions are immutable: use "
        "the shuffled copy x = rng.permutation(x) (or np.random.permutation(x))",
        src=user_src_with_text(4))


# sampler name -> function of (key, *args): RandomState's methods and np.random's functions
RANDOM_STATE = {
    "rand": rand, "randn": randn, "random_sample": random_sample, "random": random_sample,
    "ranf": random_sample, "sample": random_sample, "standard_normal": standard_normal,
    "normal": normal, "uniform": uniform, "standard_exponential": standard_exponential,
    "exponential": exponential, "gumbel": gumbel, "binomial": binomial, "randint": randint,
    "choice": choice, "permutation": permutation,
}
_CONTINUOUS = {
    "lognormal": lognormal, "laplace": laplace, "logistic": logistic, "rayleigh": rayleigh,
    "weibull": weibull, "pareto": pareto, "power": power, "standard_cauchy": standard_cauchy,
    "multivariate_normal": multivariate_normal,
}
RANDOM_STATE.update(_CONTINUOUS)
# Generator's methods
GENERATOR = {
    "random": random_sample, "standard_normal": standard_normal, "normal": normal,
    "uniform": uniform, "standard_exponential": standard_exponential,
    "exponential": exponential, "gumbel": gumbel, "binomial": binomial, "integers": integers,
    "choice": choice, "permutation": permutation, **_CONTINUOUS,
}
# samplers refused with an error of their own (not "unsupported": they cannot mean it here)
REFUSED = {"shuffle": shuffle}
# not samplers: state handling, construction, raw bytes of the stream
NOT_DRAWS = frozenset({"seed", "get_state", "set_state", "spawn", "default_rng",
                       "get_bit_generator", "set_bit_generator", "bit_generator"})


def traced_draw(gen, owner: str, name: str, table: dict, args, kwargs):
    """The traced value of ``owner.name(*args, **kwargs)`` drawn from host generator ``gen``."""
    from .random_host import next_key
    impl = table.get(name) or REFUSED.get(name)
    if impl is None:
        raise TracedRandomError(
            f"{owner}.{name} inside a traced function: tracegrad traces "
            f"{', '.join(sorted(table))} (docs/random.md); this one would be frozen into the "
            "program. Draw it outside and pass it as an argument: def f(w, noise): ...",
            src=user_src_with_text(3))
    return impl(next_key(gen, f"{owner}.{name}"), *args, **kwargs)


def _method(base, owner: str, name: str, table: dict):
    orig = getattr(base, name)

    @functools.wraps(orig)
    def method(self, *args, **kwargs):
        if _ACTIVE.items:  # is_tracing(), inlined: every eager draw passes here
            return traced_draw(self, owner, name, table, args, kwargs)
        if CAPTURING.items and CAPTURING.items[-1] is not None:  # inside tg.compile
            return _captured(self, f"{owner}.{name}", functools.partial(orig, self), args,
                             kwargs)
        return orig(self, *args, **kwargs)
    return method


def _captured(gen, what, call, args, kwargs):
    """A draw while a tg.compile step is captured: drawn anew at each replay (tensor/drawn.py,
    registered with random_host, since this layer does not import the tensor front)."""
    from .random_host import captured_draw
    return captured_draw(gen, what, call, args, kwargs)


class _CompatMeta(type):
    """Instances of NumPy's own class (made before ``import tracegrad``, or by a library
    holding the original name) still pass ``isinstance(x, np.random.RandomState)``."""

    def __instancecheck__(cls, obj):
        if cls in _COMPAT:
            return isinstance(obj, cls.__mro__[2])
        return type.__instancecheck__(cls, obj)

    def __subclasscheck__(cls, sub):
        if cls in _COMPAT:
            return issubclass(sub, cls.__mro__[2])
        return type.__subclasscheck__(cls, sub)


def _rebuild(cls, ctor, args):
    """Unpickle/copy as the tracing class (NumPy's ``__reduce__`` names its own)."""
    base = ctor(*args)
    return cls(getattr(base, "bit_generator", None) or base._bit_generator)


class _Reduce:
    def __reduce__(self):
        ctor, args, *state = super().__reduce__()
        return (_rebuild, (type(self), ctor, args), *state)


def _mark(obj):
    # made while tracing: its seed is fixed per call, so its draws are constants (random_host);
    # made while a tg.compile step is captured: a replay cannot make it again (tensor/drawn.py)
    obj._tg_made_in_trace = is_tracing()
    obj._tg_made_in_capture = bool(CAPTURING.items) and CAPTURING.items[-1] is not None


class RandomState(_Reduce, np.random.RandomState, metaclass=_CompatMeta):
    """``np.random.RandomState`` whose samplers trace inside traced functions."""

    def __init__(self, seed=None):
        from .random_guard import draws_allowed
        with draws_allowed():  # seeding takes the bit generator's lock; it draws nothing
            super().__init__(seed)
        _mark(self)


class Generator(_Reduce, np.random.Generator, metaclass=_CompatMeta):
    """``np.random.Generator`` whose samplers trace inside traced functions."""

    def __init__(self, bit_generator):
        super().__init__(bit_generator)
        _mark(self)


_COMPAT = (RandomState, Generator)  # a user's subclass of them checks as usual


def _samplers(obj) -> list[str]:
    return [n for n in dir(obj) if not n.startswith("_") and n not in NOT_DRAWS
            and callable(getattr(obj, n)) and not isinstance(getattr(obj, n), type)]


def default_rng(seed=None):
    """``np.random.default_rng`` making a tracing ``Generator``."""
    if isinstance(seed, np.random.Generator):
        return seed
    if not isinstance(seed, np.random.BitGenerator):
        seed = np.random.PCG64(seed)
    return Generator(seed)


def _module_function(name: str, orig):
    @functools.wraps(orig)
    def fn(*args, **kwargs):
        if _ACTIVE.items:  # is_tracing(), inlined: every eager draw passes here
            return traced_draw(np.random.mtrand._rand, "np.random", name, RANDOM_STATE,
                               args, kwargs)
        if CAPTURING.items and CAPTURING.items[-1] is not None:  # inside tg.compile
            return _captured(np.random.mtrand._rand, f"np.random.{name}", orig, args, kwargs)
        return orig(*args, **kwargs)
    fn._tg_wraps = orig
    return fn


def install() -> None:
    """Wrap the samplers of np.random, RandomState and Generator (once)."""
    if getattr(np.random, "_tg_random_installed", False):
        return
    base_rs, base_gen = np.random.RandomState, np.random.Generator
    for name in _samplers(base_rs(0)):
        setattr(RandomState, name, _method(base_rs, "RandomState", name, RANDOM_STATE))
    for name in _samplers(base_gen(np.random.PCG64(0))):
        setattr(Generator, name, _method(base_gen, "Generator", name, GENERATOR))
    glob = np.random.mtrand._rand
    for name in _samplers(np.random):
        orig = getattr(np.random, name)
        if getattr(orig, "__self__", None) is glob or name in ("ranf", "sample"):
            setattr(np.random, name, _module_function(name, orig))
    np.random.RandomState = RandomState
    np.random.Generator = Generator
    np.random.default_rng = default_rng
    np.random._tg_random_installed = True
