"""Distributions over latents: the diagonal-Gaussian posterior and the standard-normal prior."""

import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions

# The posterior's scale is softplus(raw) + SCALE_FLOOR: softplus keeps it positive with a gradient everywhere, and
# the floor keeps log q(z|x) finite when the encoder pushes a scale to zero.
SCALE_FLOOR = 1e-4


def diagonal_gaussian(params):
    """q(z|x) = N(loc, diag(scale^2)) from encoder features [..., 2L] = [loc, raw scale]; event shape [L].

    It is a TransformedDistribution of N(0, I) by z = loc + scale * eps, so `reparameterize` can draw from it with
    noise made elsewhere (see tfvae/models/vae.py).
    """
    loc, raw = tf.split(params, 2, axis=-1)
    return tfd.MultivariateNormalDiag(loc=loc, scale_diag=tf.nn.softplus(raw) + SCALE_FLOOR)


def standard_normal(latent_dim):
    """p(z) = N(0, I_L)."""
    return tfd.MultivariateNormalDiag(loc=tf.zeros([latent_dim]))


def reparameterize(distribution, eps):
    """z = f(eps) for a distribution that is a bijector f applied to N(0, I): eps [..., B, L] -> z [..., B, L]."""
    return distribution.bijector.forward(eps)


def kl_per_dimension(posterior, prior):
    """Analytic KL(q || p) per latent dimension [..., L] for factorized Gaussians."""
    q = tfd.Normal(posterior.loc, posterior.stddev())
    p = tfd.Normal(prior.loc, prior.stddev())
    return tfd.kl_divergence(q, p)

