"""Evaluation against exact values: a linear-Gaussian VAE has p(x) in closed form."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tfvae import evaluation, objectives
from tfvae.families import make_config
from tfvae.models import VAE
from tfvae.seeds import model_seed

tfd = tfp.distributions
D, L = 5, 3  # data and latent sizes, all different so swapped axes fail


def softplus_inverse(y):
    return np.log(np.expm1(y))


def linear_gaussian_vae(posterior_inflation=1.2, dead_dims=()):
    """x = z W + b + sigma * noise with z ~ N(0, I): p(x) = N(b, W^T W + sigma^2 I).

    The encoder is set to the exact posterior mean and the diagonal of the exact posterior covariance, inflated so
    importance weights have bounded variance; `dead_dims` get the prior N(0, 1) as their posterior (inactive units).
    Returns the model and the exact marginal distribution of x.
    """
    model = VAE(make_config(input_shape=(D, 1, 1), architecture="mlp", hidden_units=(), latent_dim=L,
                            likelihood="gaussian", pixels="continuous"))
    model.build(None)
    rng = np.random.default_rng(0)
    w, b = rng.normal(size=(L, D)).astype(np.float32), rng.normal(size=D).astype(np.float32)
    sigma = 1.0
    model.likelihood.raw_scale.assign(softplus_inverse(sigma - 1e-3))
    m_inv = np.linalg.inv(np.eye(L) + w @ w.T / sigma ** 2)  # exact posterior covariance
    loc_kernel = w.T @ m_inv / sigma ** 2  # [D, L]: posterior mean = (x - b) @ loc_kernel
    loc_kernel[:, list(dead_dims)] = 0.0
    scale = np.sqrt(np.diag(m_inv)) * posterior_inflation
    scale[list(dead_dims)] = 1.0
    model.decoder.out.kernel.assign(w)
    model.decoder.out.bias.assign(b)
    model.encoder.out.kernel.assign(np.concatenate([loc_kernel, np.zeros((D, L))], 1))
    model.encoder.out.bias.assign(np.concatenate([-b @ loc_kernel, softplus_inverse(scale - 1e-4)]))
    marginal = tfd.MultivariateNormalFullCovariance(b, w.T @ w + sigma ** 2 * np.eye(D, dtype=np.float32))
    return model, marginal


def data(count, seed):
    _, marginal = linear_gaussian_vae()
    return tf.reshape(marginal.sample(count, seed=(seed, 0)), [count, D, 1, 1])


def test_importance_sampled_nll_matches_exact_marginal():
    model, marginal = linear_gaussian_vae()
    x = data(7, seed=1)
    exact = marginal.log_prob(tf.reshape(x, [7, D])).numpy()
    estimate = evaluation.log_likelihood(model, x, 50_000, model_seed(0, 1)).numpy()
    # q is the exact posterior up to its correlations (and inflated); measured here, the error of the estimate is
    # about 0.02 nats with 5,000 weights, 0.003 with 50,000 and 0.001 with 200,000 (it converges to log p(x)).
    # 0.01 leaves room for Monte Carlo error while a wrong term (a scale, a swapped axis) is off by far more.
    np.testing.assert_allclose(estimate, exact, atol=0.01)
    eps = tf.random.stateless_normal([2000, 7, L], seed=[3, 4])  # the ELBO's expectation to ~0.01 nats
    elbo = objectives.elbo_terms(*model.log_densities(x, eps))["elbo"].numpy()
    assert np.all(elbo < exact - 0.02)  # an inflated, mean-field q leaves a real gap


def test_chunked_estimate_does_not_depend_on_memory_budget():
    model, _ = linear_gaussian_vae()
    x = data(3, seed=2)
    seed = model_seed(0, 2)
    one_chunk = evaluation.log_likelihood(model, x, 37, seed, max_floats=10 ** 9).numpy()
    many_chunks = evaluation.log_likelihood(model, x, 37, seed, max_floats=3 * D * 4).numpy()  # chunks of 4
    assert np.all(np.isfinite(one_chunk))
    # Chunks draw different noise, so the two are different estimates of the same quantity.
    np.testing.assert_allclose(one_chunk, many_chunks, atol=0.1)


def test_iwae_bound_is_non_decreasing_in_k():
    model, marginal = linear_gaussian_vae(posterior_inflation=2.5)  # a poor q makes the gaps visible
    x = data(5, seed=3)
    repeats = 400
    means, errors = [], []
    for k in (1, 2, 5, 20, 50):
        eps = tf.random.stateless_normal([k, repeats * 5, L], seed=[k, 9])
        xs = tf.tile(x, [repeats, 1, 1, 1])
        log_px, log_q, log_p, _ = model.log_densities(xs, eps)
        bound = tf.reshape(objectives.iwae_bound(log_px + log_p - log_q), [repeats, 5]).numpy().mean(1)
        means.append(bound.mean())
        errors.append(bound.std() / np.sqrt(repeats))
    for i in range(len(means) - 1):
        assert means[i + 1] >= means[i] - 3 * np.hypot(errors[i], errors[i + 1]), means
    exact = marginal.log_prob(tf.reshape(x, [5, D])).numpy().mean()
    assert means[0] < means[-1] <= exact + 3 * errors[-1]
    assert means[-1] - means[0] > 10 * errors[-1]  # the bound really tightens


def test_evaluate_reports_exact_nll_and_active_units():
    model, marginal = linear_gaussian_vae(dead_dims=(1,))
    x = data(20, seed=4)
    dataset = tf.data.Dataset.from_tensor_slices(x).batch(8)  # batches 8, 8, 4
    results = evaluation.evaluate(model, dataset, num_samples=2000)
    assert results["num_images"] == 20 and results["num_samples"] == 2000
    exact_nll = -marginal.log_prob(tf.reshape(x, [20, D])).numpy().mean()
    # The dead dimension's posterior is now the prior-like N(0, scale): the estimate is still a valid (looser) bound.
    assert results["nll"] >= exact_nll - 0.05
    assert results["nll"] < exact_nll + 0.5
    assert results["active_units"] == L - 1
    assert len(results["kl_per_dim"]) == L
    np.testing.assert_allclose(sum(results["kl_per_dim"]), results["rate"], rtol=1e-4)
    assert results["elbo"] == pytest.approx(-(results["rate"] + results["distortion"]), rel=1e-5)


def test_elbo_surgery_of_a_posterior_that_ignores_x():
    """q(z|x) = N(m, s^2) for every x: I[x; z] = 0 and KL(q_agg || p) = KL(N(m, s^2) || N(0, I))."""
    model, marginal = linear_gaussian_vae()
    kernel = model.encoder.out.kernel.numpy()
    model.encoder.out.kernel.assign(np.zeros_like(kernel))
    loc, scale = np.array([0.5, -1.0, 0.2]), np.array([0.7, 1.3, 0.4])
    model.encoder.out.bias.assign(np.concatenate([loc, softplus_inverse(scale - 1e-4)]).astype(np.float32))
    x = data(300, seed=5).numpy()
    surgery = evaluation.elbo_surgery(model, x, num_z=300)
    assert abs(surgery["mutual_information"]) < 1e-4  # every component of q_agg is q itself
    kl = float(np.sum(0.5 * (scale ** 2 + loc ** 2 - 1 - np.log(scale ** 2))))
    # One-sample estimates over 300 draws: the standard deviation of log q - log p here is about 1.5 nats.
    assert surgery["marginal_kl"] == pytest.approx(kl, abs=4 * 1.5 / np.sqrt(300))
    assert surgery["rate_mc"] == pytest.approx(surgery["mutual_information"] + surgery["marginal_kl"], abs=1e-4)


def test_elbo_surgery_of_separated_posteriors_reaches_log_n():
    """Narrow posteriors at distinct means: each z_i is explained by its own x_i only, so I[x; z] = log N."""
    model, _ = linear_gaussian_vae(posterior_inflation=1e-3)
    x = data(50, seed=6).numpy()
    surgery = evaluation.elbo_surgery(model, x, num_z=50, chunk=7)
    assert surgery["num_z"] == 50
    assert surgery["mutual_information"] == pytest.approx(np.log(50), abs=1e-3)
    assert surgery["mutual_information_cap"] == pytest.approx(np.log(50))


def test_flow_posterior_with_zero_parameters_is_the_diagonal_gaussian():
    """Planar steps with u = w = 0 are the identity: log q along the sampling path equals the base log density,
    and the Monte Carlo rate matches the analytic KL of the base."""
    model = VAE(make_config(input_shape=(D, 1, 1), architecture="mlp", hidden_units=(), latent_dim=L,
                            likelihood="gaussian", pixels="continuous", posterior="planar", flow_steps=2))
    model.build(None)
    kernel, bias = model.encoder.out.kernel.numpy(), model.encoder.out.bias.numpy()
    kernel[:, 2 * L:], bias[2 * L:] = 0.0, 0.0  # the flow parameters
    model.encoder.out.kernel.assign(kernel)
    model.encoder.out.bias.assign(bias)
    x = data(4, seed=7)
    eps = tf.random.stateless_normal([20000, 4, L], seed=[5, 6])
    log_px, log_q, log_p, kl = model.log_densities(x, eps)
    assert kl is None  # a flow posterior has no analytic KL: the rate is Monte Carlo
    q0 = model.posterior_base(x)
    np.testing.assert_allclose(log_q.numpy(), q0.log_prob(q0.bijector.forward(eps)).numpy(), rtol=1e-5, atol=1e-5)
    analytic = tf.reduce_sum(0.5 * (q0.stddev() ** 2 + q0.mean() ** 2 - 1 - 2 * tf.math.log(q0.stddev())), -1)
    rate = objectives.elbo_terms(log_px, log_q, log_p)["rate"].numpy()
    stderr = (log_q - log_p).numpy().std(0) / np.sqrt(20000)
    assert np.all(np.abs(rate - analytic.numpy()) < 4 * stderr), (rate, analytic, stderr)
