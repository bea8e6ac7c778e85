"""Gaussian-process regression with its hyperparameters fitted by gradient, as in HIPS
autograd's gaussian_process.py: the negative log marginal likelihood is plain NumPy and SciPy
(``np.linalg.cholesky``, ``scipy.linalg.cho_solve``, ``np.linalg.slogdet``), differentiated by
``tg.value_and_grad`` and minimised by SciPy's L-BFGS; then the posterior mean and variance
at new points, again through the Cholesky factor."""
import numpy as np
import scipy.linalg
import scipy.optimize

import tracegrad as tg


def rbf_covariance(params, x, xp):
    """Squared-exponential kernel with log output scale and log length scales."""
    log_amp, log_lengths = params[0], params[1:]
    diffs = x[:, None, :] / np.exp(log_lengths) - xp[None, :, :] / np.exp(log_lengths)
    return np.exp(2 * log_amp) * np.exp(-0.5 * np.sum(diffs ** 2, axis=2))


def unpack(params):
    mean, log_noise, cov_params = params[0], params[1], params[2:]
    return mean, np.exp(2 * log_noise) + 1e-6, cov_params


def neg_log_marginal_likelihood(params, x, y):
    mean, noise, cov_params = unpack(params)
    k = rbf_covariance(cov_params, x, x) + noise * np.eye(len(y))
    factor = scipy.linalg.cho_factor(k, lower=True)
    r = y - mean
    alpha = scipy.linalg.cho_solve(factor, r)            # K^-1 (y - mean)
    logdet = np.linalg.slogdet(k)[1]
    return 0.5 * (r @ alpha) + 0.5 * logdet + 0.5 * len(y) * np.log(2 * np.pi)


def predict(params, x, y, xstar):
    """Posterior mean and marginal variance at ``xstar`` (Rasmussen & Williams, alg. 2.1)."""
    mean, noise, cov_params = unpack(params)
    k = rbf_covariance(cov_params, x, x) + noise * np.eye(len(y))
    low = np.linalg.cholesky(k)
    ks = rbf_covariance(cov_params, x, xstar)
    alpha = scipy.linalg.cho_solve((low, True), y - mean)
    v = scipy.linalg.solve_triangular(low, ks, lower=True)
    prior_var = np.exp(2 * cov_params[0])
    return mean + ks.T @ alpha, prior_var - np.sum(v * v, axis=0)


def build_toy_dataset(n=40, noise_std=0.1, seed=0):
    rng = np.random.default_rng(seed)
    x = np.concatenate([np.linspace(0, 3, n // 2), np.linspace(6, 8, n - n // 2)])
    y = np.cos(x) + rng.standard_normal(n) * noise_std
    return (x - 4.0)[:, None] / 4.0, y


x, y = build_toy_dataset()
objective = tg.jit(tg.value_and_grad(neg_log_marginal_likelihood))
init = np.array([0.0, -1.0, 0.0, 0.0])  # mean, log noise, log amplitude, log length scale
first = objective(init, x, y)[0]

result = scipy.optimize.minimize(lambda p: objective(p, x, y), init, jac=True, method="L-BFGS-B")
fitted = result.x
print(f"negative log marginal likelihood {first:.3f} -> {result.fun:.3f} in {result.nit} steps")
print("mean {:.3f}, noise std {:.3f}, amplitude {:.3f}, length scale {:.3f}".format(
    fitted[0], np.exp(fitted[1]), np.exp(fitted[2]), np.exp(fitted[3])))

xstar = np.linspace(-1.5, 1.5, 7)[:, None]
mu, var = tg.jit(predict)(fitted, x, y, xstar)
for xs, m, s in zip(xstar[:, 0], mu, np.sqrt(var)):
    print(f"  f({4 * xs + 4:5.2f}) = {m:+.3f} +- {2 * s:.3f}   (cos: {np.cos(4 * xs + 4):+.3f})")

# the fit improves the evidence, finds the noise level it was built with, and the compiled
# functions agree with eager NumPy/SciPy on the same parameters
assert result.fun < first - 10 and 0.05 < np.exp(fitted[1]) < 0.2, result
assert np.isclose(neg_log_marginal_likelihood(fitted, x, y), result.fun, rtol=1e-8)
eager_mu, eager_var = predict(fitted, x, y, xstar)
assert np.allclose(mu, eager_mu) and np.allclose(var, eager_var)
