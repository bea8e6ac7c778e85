"""tracegrad's ``scipy.stats``: log densities, densities and the cdfs that have closed forms,
for norm, t, gamma, beta, poisson, bernoulli (loc/scale as SciPy parses them),
multivariate_normal and dirichlet.

``dispatch(dist, method, args, kwargs)`` is what a routed SciPy method calls when an argument
is traced (routing.py): it parses SciPy's arguments (shape parameters, then ``loc`` and, for
continuous distributions, ``scale``) and evaluates the formula below. Values follow SciPy's
conventions: -inf outside the support, NaN for invalid parameters (scale <= 0, a <= 0, p
outside [0, 1], ...). The t, gamma and beta cdfs go through the incomplete gamma/beta
primitives: differentiable in x, loc and scale; a derivative in a shape parameter (df, a, b)
is a GradientError naming it. poisson's cdf is the finite sum of its pmf up to the largest
concrete k.
"""
from __future__ import annotations

import math

import numpy as _np

from .. import numpy as tnp
from ..tracer import Tracer
from .routing import implements, unsupported
from .special import (betainc, betaln, erfc, gammainc, gammaincc, gammaln, log_ndtr,
                      xlog1py, xlogy)

_LOG_SQRT_2PI = 0.5 * math.log(2 * math.pi)
_NAN, _INF = float("nan"), float("inf")


def _float(x):
    """SciPy's distributions compute in float64 whatever their inputs' dtype: so do these."""
    return tnp.astype(tnp.asarray(x), _np.float64)


def _valid(ok, value):
    """``value`` where the parameters are valid, NaN elsewhere (SciPy's convention)."""
    return tnp.where(ok, value, _NAN)


def _in_support(ok, value):
    """``value`` inside the support, -inf (log density) outside."""
    return tnp.where(ok, value, -_INF)


# --- standardised log densities: (z, *shapes) -> (log density, in support, params valid) ---
def _norm(z):
    return tnp.subtract(tnp.multiply(-0.5, tnp.square(z)), _LOG_SQRT_2PI), True, True


def _t(z, df):
    df = _float(df)
    half = tnp.multiply(tnp.add(df, 1.0), 0.5)
    val = (gammaln(half) - gammaln(tnp.multiply(df, 0.5)) - 0.5 * tnp.log(tnp.multiply(df, math.pi))
           - half * tnp.log1p(tnp.divide(tnp.square(z), df)))
    return val, True, tnp.greater(df, 0)


def _gamma(z, a):
    a = _float(a)
    val = xlogy(tnp.subtract(a, 1.0), z) - z - gammaln(a)
    return val, tnp.greater_equal(z, 0), tnp.greater(a, 0)


def _beta(z, a, b):
    a, b = _float(a), _float(b)
    val = xlogy(tnp.subtract(a, 1.0), z) + xlog1py(tnp.subtract(b, 1.0), tnp.negative(z)) \
        - betaln(a, b)
    inside = tnp.logical_and(tnp.greater_equal(z, 0), tnp.less_equal(z, 1))
    return val, inside, tnp.logical_and(tnp.greater(a, 0), tnp.greater(b, 0))


def _poisson(k, mu):
    mu = _float(mu)
    val = xlogy(k, mu) - gammaln(tnp.add(k, 1.0)) - mu
    inside = tnp.logical_and(tnp.greater_equal(k, 0), tnp.equal(k, tnp.floor(k)))
    return val, inside, tnp.greater_equal(mu, 0)


def _bernoulli(k, p):
    p = _float(p)
    val = xlogy(k, p) + xlog1py(tnp.subtract(1.0, k), tnp.negative(p))
    inside = tnp.logical_or(tnp.equal(k, 0), tnp.equal(k, 1))
    return val, inside, tnp.logical_and(tnp.greater_equal(p, 0), tnp.less_equal(p, 1))


# name -> (log density, shape parameter names, continuous)
_UNIVARIATE = {"norm": (_norm, (), True), "t": (_t, ("df",), True),
               "gamma": (_gamma, ("a",), True), "beta": (_beta, ("a", "b"), True),
               "poisson": (_poisson, ("mu",), False), "bernoulli": (_bernoulli, ("p",), False)}


def _parse(name, shapes, continuous, args, kwargs):
    """SciPy's argument order: x, the shape parameters, loc (0), then scale (1)."""
    names = ("x",) + shapes + (("loc", "scale") if continuous else ("loc",))
    if len(args) > len(names):
        unsupported(f"scipy.stats.{name} with {len(args)} positional arguments")
    vals = dict(zip(names, args))
    for k, v in kwargs.items():
        if k not in names or k in vals:
            unsupported(f"scipy.stats.{name}(..., {k}=)", "not an argument tracegrad knows")
        vals[k] = v
    missing = [n for n in names[:1 + len(shapes)] if n not in vals]
    if missing:
        unsupported(f"scipy.stats.{name} without {', '.join(missing)}")
    vals.setdefault("loc", 0.0)
    if continuous:
        vals.setdefault("scale", 1.0)
    return vals


def _logdensity(name, args, kwargs):
    fn, shapes, continuous = _UNIVARIATE[name]
    v = _parse(name, shapes, continuous, args, kwargs)
    x = _float(v["x"])
    z = tnp.subtract(x, v["loc"])
    valid = True
    if continuous:
        scale = _float(v["scale"])
        z = tnp.divide(z, scale)
        valid = tnp.greater(scale, 0)
    val, inside, ok = fn(z, *(v[s] for s in shapes))
    if continuous:
        val = tnp.subtract(val, tnp.log(scale))
    out = _valid(tnp.logical_and(valid, ok), _in_support(inside, val))
    return out, v, z


def _norm_cdf(z, upper=False):
    # Phi(z) = erfc(-z / sqrt 2) / 2: accurate in the lower tail (and sf in the upper one)
    return tnp.multiply(0.5, erfc(tnp.multiply(z if upper else tnp.negative(z), 1 / math.sqrt(2))))


def _cdf(name, args, kwargs, log=False, upper=False):
    _, shapes, continuous = _UNIVARIATE[name]
    v = _parse(name, shapes, continuous, args, kwargs)
    if name == "norm":
        scale = _float(v["scale"])
        z = tnp.divide(tnp.subtract(_float(v["x"]), v["loc"]), scale)
        if log:  # log Phi through erfcx: finite far into the tails (-inf from log(0) before)
            return _valid(tnp.greater(scale, 0), log_ndtr(tnp.negative(z) if upper else z))
        out = _valid(tnp.greater(scale, 0), _norm_cdf(z, upper))
    elif name == "bernoulli":
        k = tnp.subtract(_float(v["x"]), v["loc"])
        p = _float(v["p"])
        below = tnp.where(tnp.less(k, 0), 0.0, tnp.where(tnp.less(k, 1), tnp.subtract(1.0, p), 1.0))
        out = tnp.subtract(1.0, below) if upper else below
        out = _valid(tnp.logical_and(tnp.greater_equal(p, 0), tnp.less_equal(p, 1)), out)
    elif name == "poisson":
        out = _poisson_cdf(v, upper)
    else:  # t, gamma, beta: the incomplete gamma/beta functions (derivative in x only)
        out = _INCOMPLETE_CDF[name](v, upper)
        if log:  # above 1/2, log1p of minus the other tail keeps the digits log(1 - d) loses
            other = _INCOMPLETE_CDF[name](v, not upper)
            big = tnp.greater(out, 0.5)
            return tnp.where(big, tnp.log1p(tnp.negative(tnp.where(big, other, 0.0))),
                             tnp.log(tnp.where(big, 0.5, out)))
    return tnp.log(out) if log else out


def _standard(v):
    scale = _float(v["scale"])
    return tnp.divide(tnp.subtract(_float(v["x"]), v["loc"]), scale), tnp.greater(scale, 0)


def _gamma_cdf(v, upper):
    """P(a, z) (Q(a, z) for sf) at z clamped to the support z >= 0."""
    z, ok = _standard(v)
    a = _float(v["a"])
    z = tnp.where(tnp.less(z, 0), 0.0, z)
    out = (gammaincc if upper else gammainc)(a, z)
    return _valid(tnp.logical_and(ok, tnp.greater(a, 0)), out)


def _beta_cdf(v, upper):
    """I_z(a, b), z clipped to [0, 1]; sf as I_(1-z)(b, a), accurate in the upper tail."""
    z, ok = _standard(v)
    a, b = _float(v["a"]), _float(v["b"])
    z = tnp.where(tnp.less(z, 0), 0.0, tnp.where(tnp.greater(z, 1), 1.0, z))
    out = betainc(b, a, tnp.subtract(1.0, z)) if upper else betainc(a, b, z)
    return _valid(tnp.logical_and(ok, tnp.logical_and(tnp.greater(a, 0), tnp.greater(b, 0))),
                  out)


def _t_cdf(v, upper):
    """The lower tail I_(df/(df+t^2))(df/2, 1/2) / 2 of |t| (accurate far out), mirrored for
    t > 0; sf(t) = cdf(-t). At t == 0 the composition's derivative is 0 * inf (x = 1, where
    the beta integrand is infinite): there it is written 1/2 + pdf(0) t, the same value (t is
    0) with the exact derivative."""
    z, ok = _standard(v)
    df = _float(v["df"])
    if upper:
        z = tnp.negative(z)
    zero = tnp.equal(z, 0)
    zs = tnp.where(zero, 1.0, z)
    tail = tnp.multiply(0.5, betainc(tnp.multiply(df, 0.5), 0.5,
                                     tnp.divide(df, tnp.add(df, tnp.square(zs)))))
    val = tnp.where(tnp.less(zs, 0), tail, tnp.subtract(1.0, tail))
    pdf0 = tnp.exp(_t(tnp.zeros_like(z), df)[0])
    out = tnp.where(zero, tnp.add(0.5, tnp.multiply(pdf0, z)), val)
    return _valid(tnp.logical_and(ok, tnp.greater(df, 0)), out)


_INCOMPLETE_CDF = {"t": _t_cdf, "gamma": _gamma_cdf, "beta": _beta_cdf}


def _poisson_cdf(v, upper):
    """sum_{j <= floor(k)} pmf(j): k must be concrete (it sizes the sum); mu may be traced."""
    k = v["x"]
    if isinstance(k, Tracer) or isinstance(v["loc"], Tracer):
        unsupported("scipy.stats.poisson.cdf with a traced k or loc",
                    "k sets the number of terms; pass it as a concrete array")
    kk = _np.floor(_np.asarray(k, dtype=_np.float64) - _np.asarray(v["loc"], dtype=_np.float64))
    mu = _float(v["mu"])
    top = int(max(_np.max(kk, initial=0), 0))
    j = _np.arange(top + 1, dtype=_np.float64)
    shape = _np.broadcast_shapes(_np.shape(kk), tnp.shape(mu))
    mu_b = tnp.expand_dims(tnp.broadcast_to(mu, shape), -1)
    logpmf = xlogy(j, mu_b) - gammaln(j + 1) - mu_b
    keep = _np.broadcast_to(kk, shape)[..., None] >= j
    below = tnp.sum(tnp.where(keep, tnp.exp(logpmf), 0.0), axis=-1)
    out = tnp.subtract(1.0, below) if upper else below
    return _valid(tnp.greater_equal(mu, 0), out)


# --- multivariate --------------------------------------------------------------------------
@implements("scipy.stats.multivariate_normal.logpdf")
def multivariate_normal_logpdf(x, mean=None, cov=1, allow_singular=False):
    """log N(x; mean, cov) over the last axis of x: -(d log 2 pi + log det cov + r' cov^-1 r)/2,
    through a Cholesky factor (cov must be positive definite; allow_singular is refused)."""
    if allow_singular:
        unsupported("scipy.stats.multivariate_normal.logpdf(..., allow_singular=True)")
    x = _float(x)
    d = tnp.shape(x)[-1] if tnp.ndim(x) else 1
    if tnp.ndim(x) == 0:
        x = tnp.reshape(x, (1,))
    mean = tnp.zeros(d) if mean is None else tnp.broadcast_to(_float(mean), (d,))
    cov = _float(cov)
    if tnp.ndim(cov) == 0:
        cov = tnp.multiply(cov, tnp.eye(d))
    elif tnp.ndim(cov) == 1:
        cov = tnp.multiply(tnp.eye(d), cov)
    r = tnp.subtract(x, mean)
    linalg = getattr(tnp, "linalg", None)
    if linalg is None or not hasattr(linalg, "cholesky"):
        unsupported("scipy.stats.multivariate_normal.logpdf", "tracegrad.numpy.linalg has no "
                    "cholesky yet")
    chol = linalg.cholesky(cov)
    # solve L y = r for every row of r at once: y = L^-1 r', one triangular solve
    flat = tnp.reshape(r, (-1, d))
    y = linalg.solve(chol, tnp.transpose(flat))
    maha = tnp.reshape(tnp.sum(tnp.square(y), axis=0), tnp.shape(r)[:-1])
    logdet = tnp.multiply(2.0, tnp.sum(tnp.log(tnp.diagonal(chol))))
    return tnp.multiply(-0.5, tnp.add(tnp.add(maha, logdet), d * math.log(2 * math.pi)))


@implements("scipy.stats.dirichlet.logpdf")
def dirichlet_logpdf(x, alpha):
    """sum_i (alpha_i - 1) log x_i - log B(alpha), components along x's first axis (as SciPy
    reads them); x may omit the last component (it is 1 - the sum of the others)."""
    alpha = _float(alpha)
    x = _float(x)
    k = tnp.shape(alpha)[0]
    if tnp.shape(x)[0] == k - 1:
        x = tnp.concatenate([x, tnp.subtract(1.0, tnp.sum(x, axis=0, keepdims=True))], axis=0)
    a = tnp.reshape(alpha, (k,) + (1,) * (tnp.ndim(x) - 1))
    lnb = tnp.subtract(tnp.sum(gammaln(alpha)), gammaln(tnp.sum(alpha)))
    return tnp.subtract(tnp.sum(xlogy(tnp.subtract(a, 1.0), x), axis=0), lnb)


# --- the dispatcher routed SciPy methods call ------------------------------------------------
def dispatch(dist, method, args, kwargs):
    """``dist.method(*args, **kwargs)`` with traced arguments, as SciPy would compute it
    (in float64, whatever the inputs' dtype, as SciPy's distributions do)."""
    out = _dispatch(dist, method, args, kwargs)
    if isinstance(out, _Frozen):
        return out
    return tnp.astype(out, _np.float64) if _np.dtype(out.dtype) != _np.float64 else out


def _dispatch(dist, method, args, kwargs):
    cls = type(dist).__name__
    if cls.startswith(("multivariate_normal_", "dirichlet_")):
        return _multivariate(dist, cls, method, args, kwargs)
    name = getattr(dist, "name", None) or cls.removesuffix("_gen")
    qual = f"scipy.stats.{name}.{method}"
    if name not in _UNIVARIATE or not (isinstance(dist, _Named)
                                       or type(dist).__name__ == f"{name}_gen"):
        unsupported(qual, f"tracegrad implements {', '.join(sorted(_UNIVARIATE))}"
                    ", multivariate_normal and dirichlet")
    if method in ("logpdf", "logpmf", "pdf", "pmf"):
        continuous = _UNIVARIATE[name][2]
        if method.endswith("pmf") == continuous:
            unsupported(qual)
        out, _, _ = _logdensity(name, args, kwargs)
        return out if method.startswith("log") else tnp.exp(out)
    if method in ("cdf", "logcdf", "sf", "logsf"):
        return _cdf(name, args, kwargs, log=method.startswith("log"), upper=method.endswith("sf"))
    unsupported(qual)


def _multivariate(dist, cls, method, args, kwargs):
    """multivariate_normal / dirichlet: their logpdf and pdf, frozen ones too (a traced
    mean, cov or alpha freezes into ``_Frozen``; SciPy's frozen objects give their params)."""
    mvn = cls.startswith("multivariate_normal_")
    impl = multivariate_normal_logpdf if mvn else dirichlet_logpdf
    if method == "__call__":  # freezing with traced parameters: SciPy would np.asarray them
        if mvn:
            params = dict(zip(("mean", "cov", "allow_singular", "seed"), args), **kwargs)
            params.pop("seed", None)
        else:
            params = dict(zip(("alpha", "seed"), args), **kwargs)
            params.pop("seed", None)
        return _Frozen(impl, params)
    if cls.endswith("_frozen"):  # SciPy's frozen object: concrete parameters, traced x
        params = ({"mean": dist.mean, "cov": dist.cov} if mvn else {"alpha": dist.alpha})
        return _Frozen(impl, params).call(method, args, kwargs)
    out = impl(*args, **kwargs)
    return tnp.exp(out) if method == "pdf" else out


class _Frozen:
    """A multivariate distribution frozen with traced parameters: logpdf(x), pdf(x)."""

    def __init__(self, impl, params):
        self.impl, self.params = impl, params

    def call(self, method, args, kwargs):
        out = self.impl(*args, **kwargs, **self.params)
        return tnp.exp(out) if method == "pdf" else out

    def logpdf(self, x):
        return self.call("logpdf", (x,), {})

    def pdf(self, x):
        return self.call("pdf", (x,), {})


def _method(name, method):
    def fn(*args, **kwargs):
        return dispatch(_Named(name), method, args, kwargs)
    fn.__name__ = f"{name}_{method}"
    fn.__doc__ = f"scipy.stats.{name}.{method} on traced arrays"
    return implements(f"scipy.stats.{name}.{method}")(fn)


class _Named:
    """A stand-in distribution for the registered functions (dispatch reads its name)."""

    def __init__(self, name):
        self.name = name


for _name, (_, _shapes, _cont) in _UNIVARIATE.items():
    _methods = ("logpdf", "pdf") if _cont else ("logpmf", "pmf")
    _cdfs = ("cdf", "logcdf", "sf", "logsf")
    for _m in _methods + _cdfs:
        globals()[f"{_name}_{_m}"] = _method(_name, _m)
implements("scipy.stats.multivariate_normal.pdf")(
    lambda *a, **k: tnp.exp(multivariate_normal_logpdf(*a, **k)))
implements("scipy.stats.dirichlet.pdf")(lambda *a, **k: tnp.exp(dirichlet_logpdf(*a, **k)))
