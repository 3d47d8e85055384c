"""Variational objectives as named per-example terms.

With k posterior draws z_1..k ~ q(z|x) and log weights log w_i = log p(x|z_i) + log p(z_i) - log q(z_i|x):

    distortion[B] = -1/k sum_i log p(x|z_i)
    rate[B]       = KL(q(z|x) || p(z))  (analytic when both are factorized Gaussians, else 1/k sum_i log q - log p)
    elbo[B]       = -(distortion + rate)
    iwae[B]       = log 1/k sum_i w_i   (Burda et al. 2016; iwae = elbo in expectation when k = 1)

The training loss weights the rate by beta (the rate-distortion trade-off, Higgins et al. 2017; Alemi et al. 2018)
and by the warm-up factor alpha in [0, 1] (Bowman et al. 2016; Sonderby et al. 2016), with free bits clamping the
rate per latent dimension from below (Kingma et al. 2016). With k > 1 the loss is the IWAE bound with the same
weighting applied inside each log weight: log p(x|z) - beta * alpha * (log q(z|x) - log p(z)).
"""

import numpy as np
import tensorflow as tf


def elbo_terms(log_px, log_q, log_p, kl_per_dim=None):
    """Named per-example terms from per-sample log densities [k, B] and an optional analytic KL [B, L]."""
    distortion = -tf.reduce_mean(log_px, 0)
    if kl_per_dim is not None:
        rate = tf.reduce_sum(kl_per_dim, -1)
    else:
        rate = tf.reduce_mean(log_q - log_p, 0)
    return {"distortion": distortion, "rate": rate, "elbo": -(distortion + rate),
            "iwae": iwae_bound(log_px + log_p - log_q)}


def iwae_bound(log_w):
    """log 1/k sum_i w_i from log weights [k, B] -> [B], in log space for stability."""
    k = tf.cast(tf.shape(log_w)[0], log_w.dtype)
    return tf.reduce_logsumexp(log_w, 0) - tf.math.log(k)


def free_bits_rate(kl_per_dim, free_bits):
    """Per-example rate [B] whose batch mean is sum_j max(free_bits_j, mean_b KL[b, j]).

    A dimension (or group of them: the hvae clamps each level's KL) whose batch-average KL is below `free_bits` nats
    contributes the constant `free_bits` (no gradient pushes it further towards the prior); others contribute their
    KL unchanged. free_bits: a number for every column of kl_per_dim [B, L], or a sequence of L numbers.
    """
    floors = np.broadcast_to(np.asarray(free_bits, np.float32), kl_per_dim.shape[-1:])  # [L]
    if not floors.any():
        return tf.reduce_sum(kl_per_dim, -1)
    above = tf.reduce_mean(kl_per_dim, 0) > floors  # [L]
    return tf.reduce_sum(tf.where(above, kl_per_dim, tf.cast(floors, kl_per_dim.dtype)), -1)


def warmup(step, warmup_steps):
    """KL warm-up factor alpha = min(1, step / warmup_steps); 1 when warmup_steps is 0."""
    if warmup_steps <= 0:
        return tf.constant(1.0)
    return tf.minimum(1.0, tf.cast(step, tf.float32) / float(warmup_steps))


def training_loss(log_px, log_q, log_p, kl_per_dim, beta, alpha, free_bits):
    """Per-example loss [B] to minimize (see the module docstring); k = log_px.shape[0]."""
    weight = beta * alpha
    if log_px.shape[0] == 1 and kl_per_dim is not None:
        return -tf.reduce_mean(log_px, 0) + weight * free_bits_rate(kl_per_dim, free_bits)
    return -iwae_bound(log_px - weight * (log_q - log_p))

