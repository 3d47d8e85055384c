"""Distributions built from network outputs: latents (posteriors, priors) and likelihoods p(x|z)."""

from tfvae.distributions.latents import diagonal_gaussian, kl_per_dimension, sample_and_log_prob, standard_normal
from tfvae.distributions.likelihoods import (BernoulliLikelihood, GaussianLikelihood, LogisticMixtureLikelihood,
                                             bits_per_dim, make_likelihood)
