"""Evaluation: importance-sampled log-likelihood, bits/dim, ELBO terms, active units, KL per latent dimension.

The test log-likelihood is estimated with S draws z_s ~ q(z|x) (Burda et al. 2016):

    log p(x) ~= log 1/S sum_s p(x|z_s) p(z_s) / q(z_s|x)

a stochastic lower bound whose bias shrinks as S grows (S = 1 gives the ELBO in expectation). Draws are made in
chunks of at most `max_floats / (B * D)` samples, so memory stays bounded for any S. `log_likelihood`, `evaluate`
and `elbo_surgery` take an optional progress(done, total) callback (tfvae/progress.py), called between chunks and
batches.
"""

import math

import numpy as np
import tensorflow as tf

from tfvae import objectives
from tfvae.distributions.latents import sample_and_log_prob
from tfvae.distributions.likelihoods import bits_per_dim
from tfvae.progress import require_eager
from tfvae.seeds import fold_in, model_seed

ACTIVE_UNIT_THRESHOLD = 0.01  # Burda et al. 2016: unit u is active if Cov_x(E_q[z_u]) > 0.01


def log_likelihood(model, x, num_samples, seed, max_floats=2 ** 22, progress=None):
    """Importance-sampled log p(x) [B] for images x [B, H, W, C]; num_samples may be a tensor; seed: int [2].

    Chunk c of the draws, starting at sample s_c, takes its noise from fold_in(seed, s_c). progress: None (the
    chunks run in one tf.while_loop), or progress(samples done, num_samples), called eagerly after each chunk (the
    chunks then run one by one from Python, the same computation; call log_likelihood eagerly).
    """
    require_eager(progress, "log_likelihood")
    batch = tf.shape(x)[0]
    # Floats per draw: the likelihood's parameters, or what the model says its draws hold (the hvae's top-down path).
    per_sample = max(math.prod(model.config.input_shape) * model.likelihood.params_per_channel,
                     getattr(model, "floats_per_sample", 0))
    chunk = tf.maximum(1, max_floats // (batch * per_sample))
    num_samples = tf.cast(num_samples, tf.int32)
    tf.debugging.assert_positive(num_samples, message="num_samples must be positive")
    latent_dim = model.config.latent_dim

    def body(done, total):
        k = tf.minimum(chunk, num_samples - done)
        eps = tf.random.stateless_normal([k, batch, latent_dim], seed=fold_in(seed, done))
        log_px, log_q, log_p, _ = model.log_densities(x, eps)
        log_w = log_px + log_p - log_q  # [k, B]
        return done + k, tf.reduce_logsumexp(tf.stack([total, tf.reduce_logsumexp(log_w, 0)]), 0)

    start = (tf.constant(0), tf.fill([batch], tf.constant(-np.inf, tf.float32)))
    if progress is None:
        _, total = tf.while_loop(lambda done, _: done < num_samples, body, start)
    else:
        chunk_step, (done, total) = tf.function(body), start
        while done < num_samples:
            done, total = chunk_step(done, total)
            progress(int(done), int(num_samples))
    return total - tf.math.log(tf.cast(num_samples, tf.float32))


def evaluate(model, dataset, num_samples=500, seed=0, progress=None):
    """Metrics over a dataset of prepared float images (tfvae.data.eval_dataset); a dict of Python numbers.

    nll: -mean log p(x) by `num_samples` importance samples, nats per image; bits_per_dim: the same in bits per
    8-bit dimension; elbo, rate, distortion: means of the single-sample terms (the rate is the analytic KL where it has
    a closed form, else its one-sample Monte Carlo form); kl_per_dim: mean KL of each latent dimension (None without
    a closed form); active_units: dimensions with Cov_x(E_q[z]) > 0.01 (for flow posteriors E_q[z] is replaced by the
    deterministic latent `model.encode`, the flow applied to the base mean).
    progress: None, or progress(batches done, batches in the dataset or None), called after each batch.
    """
    require_eager(progress, "evaluate")

    @tf.function(reduce_retracing=True)
    def batch_metrics(x, index):
        base = model_seed(seed, -2, index)
        eps = tf.random.stateless_normal([1, tf.shape(x)[0], model.config.latent_dim],
                                         seed=fold_in(base, -1, dtype=tf.int32))
        log_px, log_q, log_p, kl = model.log_densities(x, eps)
        metrics = {"log_likelihood": log_likelihood(model, x, num_samples, base), "latent": model.encode(x),
                   **objectives.elbo_terms(log_px, log_q, log_p, kl)}
        if kl is not None:
            metrics["kl_per_dim"] = kl
        return metrics

    total = None if progress is None else _length(dataset)
    parts = []
    for i, x in enumerate(dataset):
        parts.append(batch_metrics(x[0] if isinstance(x, tuple) else x, tf.constant(i, tf.int64)))
        if progress is not None:
            progress(i + 1, total)
    values = {key: np.concatenate([p[key].numpy() for p in parts]) for key in parts[0]}
    nll = float(-values["log_likelihood"].mean())
    return {
        "num_images": int(len(values["log_likelihood"])),
        "num_samples": int(num_samples),
        "nll": nll,
        "bits_per_dim": float(bits_per_dim(nll, model.config)),
        "elbo": float(values["elbo"].mean()),
        "rate": float(values["rate"].mean()),
        "distortion": float(values["distortion"].mean()),
        "active_units": int((values["latent"].var(0) > ACTIVE_UNIT_THRESHOLD).sum()),
        "latent_dim": model.config.latent_dim,
        "kl_per_dim": [float(v) for v in values["kl_per_dim"].mean(0)] if "kl_per_dim" in values else None,
    }


def _length(batches):
    """The number of batches of a dataset or list; None where it is unknown (e.g. a filtered tf.data.Dataset)."""
    if isinstance(batches, tf.data.Dataset):
        count = int(batches.cardinality())
        return count if count >= 0 else None
    return len(batches) if hasattr(batches, "__len__") else None


def elbo_surgery(model, images, num_z=500, seed=0, chunk=20, progress=None):
    """The average KL split into mutual information and marginal KL (Hoffman & Johnson 2016, "ELBO surgery"):

        E_x KL(q(z|x) || p(z)) = I_q[x; z] + KL(q_agg(z) || p(z)),    q_agg(z) = 1/N sum_n q(z|x_n)

    over the N evaluation images. Estimator: one draw z_i ~ q(z|x_i) for each of num_z evenly spaced images i, and

        I  ~= mean_i [log q(z_i|x_i) - log q_agg(z_i)]       KL(q_agg || p) ~= mean_i [log q_agg(z_i) - log p(z_i)]

    with log q_agg(z_i) = logsumexp_n log q(z_i|x_n) - log N computed exactly over all N images (no subsampling of the
    mixture), so both are unbiased Monte Carlo estimates for the empirical aggregate posterior of these images; their
    sum is the one-sample Monte Carlo rate on the same draws. Under the empirical q_agg, I <= log N, which caps what
    the estimate can show (Hoffman & Johnson 2016). images: prepared float [N, H, W, C]; cost O(num_z * N) log q's.
    progress: None, or progress(draws done, draws), called after each chunk of `chunk` draws.
    """
    n = len(images)
    features = tf.concat([model.encoder(model.encoder_input(images[i:i + 500])) for i in range(0, n, 500)], 0)
    q_all = model.latent_posterior.distribution(features)  # batch [N]
    picked = np.linspace(0, n - 1, min(num_z, n)).round().astype(np.int64)
    q_own = model.latent_posterior.distribution(tf.gather(features, picked))  # batch [M]
    eps = tf.random.stateless_normal([1, len(picked), model.config.latent_dim], seed=model_seed(seed, -3))
    z, log_q_own = (t[0] for t in sample_and_log_prob(q_own, eps))  # [M, L], [M]: along the sampling path
    log_p = model.prior().log_prob(z)  # [M]
    log_q_agg, overflowed = [], 0
    for i in range(0, len(picked), chunk):
        block = z[i:i + chunk]  # [c, L] -> every (z_i, x_n) pair [c, N, L]
        pairs = tf.broadcast_to(block[:, None, :], [block.shape[0], n, model.config.latent_dim])
        log_q = q_all.log_prob(pairs)  # [c, N]
        # Far from q(.|x_n) the inverse of a flow can overflow (IAF divides by its gates, which may be near 0): such
        # a pair has vanishing density and counts as log q = -inf; how many did is reported. Each z_i's own term
        # (n = i) is the exact value from the sampling path, which needs no inverse.
        finite = tf.math.is_finite(log_q)
        overflowed += int(tf.reduce_sum(tf.cast(~finite, tf.int32)))
        log_q = tf.where(finite, log_q, -np.inf)
        rows = tf.range(block.shape[0], dtype=tf.int64)
        own = tf.stack([rows, tf.constant(picked[i:i + chunk])], 1)  # [c, 2]: (row, column of z_i's own image)
        log_q = tf.tensor_scatter_nd_update(log_q, own, log_q_own[i:i + chunk])
        log_q_agg.append(tf.reduce_logsumexp(log_q, 1) - np.log(n))  # [c]
        if progress is not None:
            progress(min(i + chunk, len(picked)), len(picked))
    log_q_agg = tf.concat(log_q_agg, 0)
    return {
        "num_z": int(len(picked)),
        "rate_mc": float(tf.reduce_mean(log_q_own - log_p)),
        "mutual_information": float(tf.reduce_mean(log_q_own - log_q_agg)),
        "marginal_kl": float(tf.reduce_mean(log_q_agg - log_p)),
        "mutual_information_cap": float(np.log(n)),
        "overflowed_pairs": overflowed / (len(picked) * n),
    }
