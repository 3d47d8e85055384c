"""Objectives: free bits, warm-up, IWAE and the training loss against their definitions."""

import math

import numpy as np
import tensorflow as tf

from tfvae import objectives


def rand(shape, seed):
    return tf.constant(np.random.default_rng(seed).normal(size=shape), tf.float32)


def test_free_bits_batch_mean_is_clamped_per_dimension():
    kl = tf.abs(rand([5, 3], 0)) * tf.constant([0.1, 1.0, 3.0])  # B = 5, L = 3: small, medium, large dims
    lam = 0.5
    rate = objectives.free_bits_rate(kl, lam)
    expected = np.maximum(lam, kl.numpy().mean(0)).sum()
    np.testing.assert_allclose(rate.numpy().mean(), expected, rtol=1e-6)
    with tf.GradientTape() as tape:
        tape.watch(kl)
        total = tf.reduce_mean(objectives.free_bits_rate(kl, lam))
    grad = tape.gradient(total, kl).numpy()
    below = kl.numpy().mean(0) <= lam
    assert np.all(grad[:, below] == 0) and np.all(grad[:, ~below] > 0)


def test_free_bits_zero_is_the_plain_kl():
    kl = tf.abs(rand([4, 2], 1))
    np.testing.assert_allclose(objectives.free_bits_rate(kl, 0.0).numpy(), kl.numpy().sum(-1), rtol=1e-6)


def test_warmup_is_linear_then_one():
    assert float(objectives.warmup(0, 10)) == 0.0
    assert float(objectives.warmup(5, 10)) == 0.5
    assert float(objectives.warmup(25, 10)) == 1.0
    assert float(objectives.warmup(0, 0)) == 1.0


def test_iwae_bound_is_stable_log_mean_exp():
    log_w = tf.constant([[-1000.0, 2.0], [-1001.0, 4.0]])  # k = 2, B = 2
    expected = [np.logaddexp(-1000.0, -1001.0) - math.log(2), np.logaddexp(2.0, 4.0) - math.log(2)]
    np.testing.assert_allclose(objectives.iwae_bound(log_w).numpy(), expected, rtol=1e-6)


def test_elbo_terms_single_sample():
    log_px, log_q, log_p = rand([1, 3], 2), rand([1, 3], 3), rand([1, 3], 4)
    terms = objectives.elbo_terms(log_px, log_q, log_p)
    np.testing.assert_allclose(terms["elbo"].numpy(), (log_px + log_p - log_q).numpy()[0], rtol=1e-5)
    np.testing.assert_allclose(terms["iwae"].numpy(), terms["elbo"].numpy(), rtol=1e-5)


def test_training_loss_elbo_with_beta_and_warmup():
    log_px, log_q, log_p = rand([1, 4], 5), rand([1, 4], 6), rand([1, 4], 7)
    kl = tf.abs(rand([4, 3], 8))
    loss = objectives.training_loss(log_px, log_q, log_p, kl, beta=2.0, alpha=0.25, free_bits=0.0)
    np.testing.assert_allclose(loss.numpy(), -log_px.numpy()[0] + 0.5 * kl.numpy().sum(-1), rtol=1e-5)


def test_training_loss_iwae_weights_the_log_ratio():
    log_px, log_q, log_p = rand([5, 4], 9), rand([5, 4], 10), rand([5, 4], 11)
    loss = objectives.training_loss(log_px, log_q, log_p, None, beta=1.0, alpha=1.0, free_bits=0.0)
    np.testing.assert_allclose(loss.numpy(), -objectives.iwae_bound(log_px + log_p - log_q).numpy(), rtol=1e-5)
    weighted = objectives.training_loss(log_px, log_q, log_p, None, beta=3.0, alpha=0.5, free_bits=0.0)
    np.testing.assert_allclose(weighted.numpy(),
                               -objectives.iwae_bound(log_px - 1.5 * (log_q - log_p)).numpy(), rtol=1e-5)
