"""Black-box variational inference (after HIPS autograd's black_box_svi.py): fit a diagonal
Gaussian q(x) = N(mean, exp(log_std)**2) to an unnormalised log density by stochastic gradient
ascent on the ELBO. The Monte Carlo samples are drawn *inside* the differentiated function with
plain ``rs.randn``: tracegrad traces the draw, the compiled gradient gets fresh noise at every
call from ``rs``'s state, and the reparameterised sample ``mean + exp(log_std) * eps`` carries
the gradient to both parameters.

The target here is a Gaussian with known mean and scale, so the answer can be checked: the
best diagonal Gaussian is the target itself.
"""
import numpy as np
import numpy.random as npr

import tracegrad as tg

TRUE_MEAN = np.array([1.5, -0.5, 3.0])
TRUE_STD = np.array([0.5, 2.0, 1.0])


def log_density(x):
    """An unnormalised log density, evaluated on a batch of samples (one per row)."""
    return -0.5 * np.sum(((x - TRUE_MEAN) / TRUE_STD) ** 2, axis=1)


def black_box_variational_inference(logprob, D, num_samples):
    """The negative ELBO of q and its gradient, as in autograd's example."""
    rs = npr.RandomState(0)

    def unpack_params(params):
        return params[:D], params[D:]

    def gaussian_entropy(log_std):
        return 0.5 * D * (1.0 + np.log(2 * np.pi)) + np.sum(log_std)

    def variational_objective(params):
        mean, log_std = unpack_params(params)
        samples = rs.randn(num_samples, D) * np.exp(log_std) + mean   # drawn while traced
        lower_bound = gaussian_entropy(log_std) + np.mean(logprob(samples))
        return -lower_bound

    return variational_objective, tg.value_and_grad(variational_objective)


def adam(value_and_grad, x, steps, lr=0.05, b1=0.9, b2=0.999, eps=1e-8):
    m, v = np.zeros_like(x), np.zeros_like(x)
    for i in range(1, steps + 1):
        value, g = value_and_grad(x)
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g ** 2
        x = x - lr * (m / (1 - b1 ** i)) / (np.sqrt(v / (1 - b2 ** i)) + eps)
        if i % 200 == 0:
            print(f"step {i:4d}  -ELBO {float(value):8.4f}")
    return x


if __name__ == "__main__":
    D = 3
    objective, value_and_grad = black_box_variational_inference(log_density, D, 64)
    params = adam(value_and_grad, np.concatenate([np.zeros(D), np.full(D, -1.0)]), 1000)
    mean, std = params[:D], np.exp(params[D:])
    print("fitted mean", np.round(mean, 3), " true", TRUE_MEAN)
    print("fitted std ", np.round(std, 3), " true", TRUE_STD)
    # the gradient is a noisy estimate: the fit is close, not exact
    assert np.allclose(mean, TRUE_MEAN, atol=0.15), mean
    assert np.allclose(std, TRUE_STD, rtol=0.1), std
    # fresh noise at every call: the same parameters give different Monte Carlo objectives
    assert value_and_grad(params)[0] != value_and_grad(params)[0]
