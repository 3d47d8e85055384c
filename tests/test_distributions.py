"""Distributions against closed forms and Monte Carlo."""

import math

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tfvae.families import make_config
from tfvae.distributions import latents, likelihoods

tfd = tfp.distributions


def random_params(shape, seed=0, scale=1.0):
    return tf.constant(np.random.default_rng(seed).normal(size=shape) * scale, tf.float32)


def test_kl_per_dimension_equals_closed_form():
    q = latents.diagonal_gaussian(random_params([3, 10]))  # B = 3, L = 5
    p = latents.standard_normal(5)
    mu, sigma = q.mean().numpy(), q.stddev().numpy()
    expected = 0.5 * (sigma ** 2 + mu ** 2 - 1.0 - np.log(sigma ** 2))
    np.testing.assert_allclose(latents.kl_per_dimension(q, p).numpy(), expected, rtol=1e-5, atol=1e-6)


def test_analytic_kl_matches_monte_carlo():
    q = latents.diagonal_gaussian(random_params([3, 14], seed=1))  # B = 3, L = 7
    p = latents.standard_normal(7)
    z = q.sample(200_000, seed=(1, 2))  # [S, B, L]
    log_ratio = (q.log_prob(z) - p.log_prob(z)).numpy()  # [S, B]
    mc, stderr = log_ratio.mean(0), log_ratio.std(0) / math.sqrt(len(log_ratio))
    analytic = tf.reduce_sum(latents.kl_per_dimension(q, p), -1).numpy()
    assert np.all(np.abs(mc - analytic) < 4 * stderr), (mc, analytic, stderr)


def test_sample_and_log_prob_is_loc_plus_scale_times_eps_with_its_density():
    q = latents.diagonal_gaussian(random_params([2, 6], seed=2))  # B = 2, L = 3
    eps = random_params([5, 2, 3], seed=3)
    z, log_q = latents.sample_and_log_prob(q, eps)
    np.testing.assert_allclose(z.numpy(), q.mean().numpy() + q.stddev().numpy() * eps.numpy(), rtol=1e-6)
    np.testing.assert_allclose(log_q.numpy(), q.log_prob(z).numpy(), rtol=1e-5)


def test_bernoulli_log_prob_equals_closed_form():
    logits = random_params([2, 3, 5, 1], seed=4, scale=3)
    x = tf.cast(random_params([2, 3, 5, 1], seed=5) > 0, tf.float32)
    dist = likelihoods.BernoulliLikelihood(1).distribution(logits)
    l, xv = logits.numpy(), x.numpy()
    expected = (xv * -np.logaddexp(0, -l) + (1 - xv) * -np.logaddexp(0, l)).sum((1, 2, 3))
    np.testing.assert_allclose(dist.log_prob(x).numpy(), expected, rtol=1e-5)


def test_gaussian_learned_scale_log_prob():
    layer = likelihoods.GaussianLikelihood(1, "learned")
    loc, x = random_params([2, 3, 5, 1], seed=6), random_params([2, 3, 5, 1], seed=7)
    sigma = np.log1p(np.exp(-1.7)) + 1e-3
    expected = (-0.5 * ((x.numpy() - loc.numpy()) / sigma) ** 2 - np.log(sigma) - 0.5 * np.log(2 * np.pi)).sum((1, 2, 3))
    np.testing.assert_allclose(layer.distribution(loc).log_prob(x).numpy(), expected, rtol=1e-5)
    assert layer.trainable_weights and layer.trainable_weights[0].name == "raw_scale"


def test_gaussian_per_channel_scale_log_prob():
    layer = likelihoods.GaussianLikelihood(4, "per_channel")
    layer.raw_scale.assign([-3.0, -1.0, 0.0, 2.0])
    loc, x = random_params([2, 1, 1, 4], seed=8), random_params([2, 1, 1, 4], seed=9)
    sigma = np.log1p(np.exp([-3.0, -1.0, 0.0, 2.0])) + 1e-3  # one per channel
    expected = (-0.5 * ((x.numpy() - loc.numpy()) / sigma) ** 2 - np.log(sigma) - 0.5 * np.log(2 * np.pi)).sum((1, 2, 3))
    np.testing.assert_allclose(layer.distribution(loc).log_prob(x).numpy(), expected, rtol=1e-5)
    assert [w.shape for w in layer.trainable_weights] == [(4,)]


def test_gaussian_optimal_scale_maximizes_batch_likelihood():
    layer = likelihoods.GaussianLikelihood(1, "optimal")
    loc, x = random_params([4, 3, 5, 1], seed=8), random_params([4, 3, 5, 1], seed=9)
    sigma = float(layer.scale(loc, x, training=True))
    np.testing.assert_allclose(sigma, np.sqrt(np.mean((x.numpy() - loc.numpy()) ** 2)) + 1e-3, rtol=1e-5)

    def batch_log_lik(s):
        return tfd.Normal(loc, s).log_prob(x).numpy().sum()

    assert batch_log_lik(sigma) > batch_log_lik(sigma * 1.05) and batch_log_lik(sigma) > batch_log_lik(sigma * 0.95)
    np.testing.assert_allclose(float(layer.ema_scale), 0.99 + 0.01 * sigma, rtol=1e-6)  # one EMA step from 1
    assert not layer.trainable_weights


def test_logistic_mixture_is_a_distribution_over_256_values():
    layer = likelihoods.LogisticMixtureLikelihood(1, num_mixtures=3)
    params = random_params([2, 1, 1, 9], seed=10)  # two single-pixel images, 3 * M parameters
    values = tf.reshape(tf.range(256, dtype=tf.float32), [256, 1, 1, 1, 1])
    log_p = layer.distribution(params).log_prob(values)  # [256, 2]
    np.testing.assert_allclose(tf.reduce_sum(tf.exp(log_p), 0).numpy(), [1.0, 1.0], rtol=1e-4)


def test_logistic_mixture_matches_hand_computation():
    layer = likelihoods.LogisticMixtureLikelihood(1, num_mixtures=2)
    params = random_params([1, 1, 1, 6], seed=11)
    logits, loc, scale = (t.numpy().reshape(-1) for t in layer.components(params))
    pi = np.exp(logits - np.logaddexp.reduce(logits))

    def cdf(v):
        return 1.0 / (1.0 + np.exp(-(v - loc) / scale))

    for k in (0, 3, 128, 254, 255):
        upper = 1.0 if k == 255 else cdf(k)
        lower = 0.0 if k == 0 else cdf(k - 1)
        expected = np.log(np.sum(pi * (upper - lower)))
        got = layer.distribution(params).log_prob(tf.fill([1, 1, 1, 1], float(k))).numpy()[0]
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("pixels,extra", [("dynamic_binary", 0.0), ("8bit", 0.0), ("dequantized", math.log(256.0))])
def test_bits_per_dim(pixels, extra):
    likelihood = {"dynamic_binary": "bernoulli", "8bit": "logistic", "dequantized": "gaussian"}[pixels]
    config = make_config(input_shape=(2, 3, 1), likelihood=likelihood, pixels=pixels)
    np.testing.assert_allclose(likelihoods.bits_per_dim(10.0, config), (10.0 + 6 * extra) / (6 * math.log(2.0)))
