"""Evaluation: importance-sampled log-likelihood, bits/dim, ELBO terms, active units, KL per latent dimension.

The test log-likelihood is estimated with S draws z_s ~ q(z|x) (Burda et al. 2016):

    log p(x) ~= log 1/S sum_s p(x|z_s) p(z_s) / q(z_s|x)

a stochastic lower bound whose bias shrinks as S grows (S = 1 gives the ELBO in expectation). Draws are made in
chunks of at most `max_floats / (B * D)` samples, so memory stays bounded for any S.
"""

import math

import numpy as np
import tensorflow as tf

from tfvae import objectives
from tfvae.distributions.likelihoods import bits_per_dim
from tfvae.models.vae import stateless_seed

ACTIVE_UNIT_THRESHOLD = 0.01  # Burda et al. 2016: unit u is active if Cov_x(E_q[z_u]) > 0.01


def log_likelihood(model, x, num_samples, seed, max_floats=2 ** 22):
    """Importance-sampled log p(x) [B] for images x [B, H, W, C]; num_samples may be a tensor."""
    batch = tf.shape(x)[0]
    per_sample = math.prod(model.config.input_shape) * model.likelihood.params_per_channel
    chunk = tf.maximum(1, max_floats // (batch * per_sample))
    num_samples = tf.cast(num_samples, tf.int32)
    tf.debugging.assert_positive(num_samples, message="num_samples must be positive")
    latent_dim = model.config.latent_dim

    def body(done, total):
        k = tf.minimum(chunk, num_samples - done)
        eps = tf.random.stateless_normal([k, batch, latent_dim], seed=tf.random.experimental.stateless_fold_in(
            seed, tf.cast(done, tf.int64)))
        log_px, log_q, log_p, _ = model.log_densities(x, eps)
        log_w = log_px + log_p - log_q  # [k, B]
        return done + k, tf.reduce_logsumexp(tf.stack([total, tf.reduce_logsumexp(log_w, 0)]), 0)

    start = (tf.constant(0), tf.fill([batch], tf.constant(-np.inf, tf.float32)))
    _, total = tf.while_loop(lambda done, _: done < num_samples, body, start)
    return total - tf.math.log(tf.cast(num_samples, tf.float32))


def evaluate(model, dataset, num_samples=500, seed=0):
    """Metrics over a dataset of prepared float images (tfvae.data.eval_dataset); a dict of Python numbers.

    nll: -mean log p(x) by `num_samples` importance samples, nats per image; bits_per_dim: the same in bits per
    8-bit dimension; elbo, rate, distortion: means of the single-sample terms (analytic KL); kl_per_dim: mean KL of
    each latent dimension; active_units: dimensions with Cov_x(E_q[z]) > 0.01.
    """

    @tf.function(reduce_retracing=True)
    def batch_metrics(x, index):
        base = stateless_seed(seed, -2, index)
        ll = log_likelihood(model, x, num_samples, base)
        eps = tf.random.stateless_normal([1, tf.shape(x)[0], model.config.latent_dim],
                                         seed=tf.random.experimental.stateless_fold_in(base, -1))
        log_px, log_q, log_p, kl = model.log_densities(x, eps)
        terms = objectives.elbo_terms(log_px, log_q, log_p, kl)
        return ll, terms["elbo"], terms["rate"], terms["distortion"], kl, model.posterior(x).mean()

    parts = [batch_metrics(x[0] if isinstance(x, tuple) else x, tf.constant(i, tf.int64))
             for i, x in enumerate(dataset)]
    ll, elbo, rate, distortion, kl, means = (np.concatenate([p[j].numpy() for p in parts]) for j in range(6))
    nll = float(-ll.mean())
    return {
        "num_images": int(len(ll)),
        "num_samples": int(num_samples),
        "nll": nll,
        "bits_per_dim": float(bits_per_dim(nll, model.config)),
        "elbo": float(elbo.mean()),
        "rate": float(rate.mean()),
        "distortion": float(distortion.mean()),
        "active_units": int((means.var(0) > ACTIVE_UNIT_THRESHOLD).sum()),
        "kl_per_dim": [float(v) for v in kl.mean(0)],
    }
