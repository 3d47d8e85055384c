"""Distributions over latents: the diagonal-Gaussian posterior and the standard-normal prior."""

import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions

# The posterior's scale is softplus(raw) + SCALE_FLOOR: softplus keeps it positive with a gradient everywhere, and
# the floor keeps log q(z|x) finite when the encoder pushes a scale to zero.
SCALE_FLOOR = 1e-4


def diagonal_gaussian(params):
    """q(z|x) = N(loc, diag(scale^2)) from encoder features [..., 2L] = [loc, raw scale]; event shape [L].

    It is a TransformedDistribution of N(0, I) by z = loc + scale * eps, so `sample_and_log_prob` can draw from it
    with noise made elsewhere (see tfvae/models/vae.py).
    """
    loc, raw = tf.split(params, 2, axis=-1)
    return tfd.MultivariateNormalDiag(loc=loc, scale_diag=tf.nn.softplus(raw) + SCALE_FLOOR)


def standard_normal(latent_dim):
    """p(z) = N(0, I_L)."""
    return tfd.MultivariateNormalDiag(loc=tf.zeros([latent_dim]))


def sample_and_log_prob(distribution, eps):
    """z = f(eps) for a distribution that is (a chain of) bijectors f applied to N(0, I), and log q(z) [..., B] along
    the sampling path, by the change of variables

        log q(z_K) = log q_0(z_0) - sum_k log |det dz_k / dz_(k-1)|,

    which needs no inverse (planar flows have none in closed form, IAF's is sequential) and no bijector cache.
    """
    if is_transformed(distribution):
        x, log_prob = sample_and_log_prob(distribution.distribution, eps)
        bijector = distribution.bijector
        return bijector.forward(x), log_prob - bijector.forward_log_det_jacobian(x, event_ndims=1)
    return eps, distribution.log_prob(eps)


def is_transformed(distribution):
    """Whether a distribution is a bijector applied to another one. TFP returns a private base class of
    tfd.TransformedDistribution when the bijector is not a CompositeTensor (as our planar and radial flows), so an
    isinstance check would miss it."""
    return hasattr(distribution, "bijector") and hasattr(distribution, "distribution")


def kl_per_dimension(posterior, prior):
    """Analytic KL(q || p) per latent dimension [..., L] for factorized Gaussians."""
    q = tfd.Normal(posterior.loc, posterior.stddev())
    p = tfd.Normal(prior.loc, prior.stddev())
    return tfd.kl_divergence(q, p)

