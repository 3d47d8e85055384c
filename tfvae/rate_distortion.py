"""Rate-distortion points of trained models on a test set: what a VQ-VAE's codes cost and how well they reconstruct.

Distortion is the squared error of the reconstruction (the decoder's mean at the encoder's code or latent) against
the test image, per pixel and summed per image, in the model's pixel representation ([0, 1] unless 8-bit).

Rate, in bits per image:
- VQ-VAE under its PixelCNN prior: -log2 P(z(x)), the code length of the image's code maps under the prior;
  under a uniform prior: sum_l h_l w_l log2 K, which is also KL(q(z|x) || uniform), since q is one-hot.
- Gaussian VAE: KL(q(z|x) || p(z)) / ln 2, the rate term of its ELBO (the bits-back code length of z).
"""

import math

import numpy as np
import tensorflow as tf

from tfvae.nets.quantizer import code_counts, perplexity


def vqvae_point(vqvae, dataset, prior=None):
    """The rate-distortion summary of a VQ-VAE (and of its prior, if given) on batches of (x, labels)."""
    levels = vqvae.config.levels

    @tf.function
    def batch(x, labels):
        indices = vqvae.indices(x)
        reconstruction = vqvae.decode(indices)
        squared = tf.reduce_sum(tf.square(x - reconstruction), [1, 2, 3])  # [B]
        counts = [code_counts(z, vqvae.config.num_codes) for z in indices]
        nll = [tf.zeros_like(squared)] * levels
        if prior is not None:
            nll = [-lp for lp in prior.log_prob(indices, labels if prior.config.class_conditional else None)]
        return squared, counts, nll

    squared, counts, nll = [], np.zeros([levels, vqvae.config.num_codes]), []
    for x, labels in dataset:
        s, c, n = batch(x, tf.cast(labels, tf.int32))
        squared.append(s.numpy())
        counts += np.stack([v.numpy() for v in c])
        nll.append(np.stack([v.numpy() for v in n], 1))  # [B, levels]
    squared, nll = np.concatenate(squared), np.concatenate(nll)
    pixels = math.prod(vqvae.config.input_shape)
    results = {
        "num_images": int(len(squared)),
        "mse_per_pixel": float(squared.mean() / pixels),
        "mse_per_image": float(squared.mean()),
        "rate_uniform_bits": vqvae.uniform_rate() / math.log(2.0),
        "num_codes": vqvae.config.num_codes,
        "code_shapes": [list(s) for s in vqvae.code_shapes],
        "perplexity": [float(perplexity(tf.constant(c, tf.float32))) for c in counts],
        "codes_used": [int((c > 0).sum()) for c in counts],
    }
    if prior is not None:
        bits = nll / math.log(2.0)  # [N, levels]
        results.update(rate_prior_bits=float(bits.sum(1).mean()), rate_prior_bits_per_level=bits.mean(0).tolist(),
                       prior_nll_nats=float(nll.sum(1).mean()))
    return results


def gaussian_vae_point(vae, dataset):
    """Rate (KL in bits per image) and squared error of a Gaussian-latent VAE's mean reconstruction, on batches of
    x or (x, labels)."""

    @tf.function
    def batch(x):
        q, p = vae.posterior(x), vae.prior()
        kl = q.kl_divergence(p)  # [B] nats; needs a closed form (--posterior=diag, --prior=normal)
        return kl, tf.reduce_sum(tf.square(x - vae(x)), [1, 2, 3])

    kl, squared = [], []
    for element in dataset:
        k, s = batch(element[0] if isinstance(element, (tuple, list)) else element)
        kl.append(k.numpy())
        squared.append(s.numpy())
    kl, squared = np.concatenate(kl), np.concatenate(squared)
    pixels = math.prod(vae.config.input_shape)
    return {"num_images": int(len(kl)), "rate_bits": float(kl.mean() / math.log(2.0)),
            "mse_per_pixel": float(squared.mean() / pixels), "mse_per_image": float(squared.mean())}
