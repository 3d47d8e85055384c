"""The VAE (Kingma & Welling 2014; Rezende et al. 2014) with beta, KL warm-up, free bits and the IWAE bound.

    q(z|x): a diagonal Gaussian, optionally followed by planar, radial or IAF flow steps (posteriors.py)
    p(z):   N(0, I), a learned mixture, or a RealNVP or MAF flow (priors.py)
    p(x|z): Bernoulli, Gaussian or a discretized logistic mixture (likelihoods.py)

All distributions are built in `posterior`, `prior` and `observation`, fresh from the current weights on every call.
The rate is the analytic KL when q and p are a diagonal Gaussian and N(0, I), and its Monte Carlo form otherwise.
Variants override one of these methods, not the training step.

Randomness is a pure function of (config.seed, step): the reparameterization noise for the *global* batch is drawn
from a stateless seed and each replica takes its own slice, so 1 or N replicas, and a resumed run, draw the same noise
(for the same compilation: XLA's stateless generators give other numbers than TensorFlow's kernels).
"""

import keras
import tensorflow as tf

from tfvae import objectives, precision
from tfvae.config import VAEConfig
from tfvae.data import pixels
from tfvae.distributions import latents
from tfvae.distributions.likelihoods import make_likelihood
from tfvae.distributions.posteriors import Posterior, point
from tfvae.distributions.priors import Prior
from tfvae.models.base import ConfiguredModel, inputs_of, replica_normal
from tfvae.nets import make_decoder, make_encoder
from tfvae.seeds import model_seed, tfp_seed

TERMS = ("objective", "elbo", "iwae", "distortion", "rate")


@keras.saving.register_keras_serializable(package="tfvae")
class VAE(ConfiguredModel):
    """A VAE over images [B, *config.input_shape]; see the module docstring."""

    CONFIG_CLASS = VAEConfig

    TERMS = TERMS

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        c = self.config
        self.likelihood = make_likelihood(c)
        self.latent_posterior = Posterior(c.posterior, c.latent_dim, c.flow_steps, c.flow_width, name="posterior")
        self.latent_prior = Prior(c.prior, c.latent_dim, c.prior_steps, c.flow_width, c.mog_components, name="prior")
        with precision.networks(c.precision):  # the networks compute in c.precision, all else in float32
            self.encoder = make_encoder(c, self.latent_posterior.num_features)
            self.decoder = make_decoder(c, c.input_shape[-1] * self.likelihood.params_per_channel)

    # --- the distributions -------------------------------------------------------------------------------------
    def posterior(self, x):
        """q(z|x): batch [B], event [L]."""
        return self.latent_posterior.distribution(self.encoded(x))

    def posterior_base(self, x):
        """The Gaussian q0(z|x) before the posterior's flow steps (q(z|x) itself for --posterior=diag)."""
        return self.latent_posterior.base(self.encoded(x))

    def prior(self):
        """p(z): event [L]."""
        return self.latent_prior.distribution()

    def observation(self, z, x=None, training=False):
        """p(x|z): z [..., L] -> batch [...], event [H, W, C]."""
        return self.likelihood.distribution(self.decoded(z), x, training)

    def encoder_input(self, x):
        """The network sees 8-bit data rescaled to [-1, 1]; other representations already lie in [0, 1]."""
        return pixels.network_input(x, self.config.pixels)

    def encoded(self, x):
        """The encoder's output [B, F] for images x, in float32: q's parameters (tfvae/precision.py)."""
        return precision.to_float32(self.encoder(self.encoder_input(x)))

    def decoded(self, z):
        """The decoder's output [..., H, W, C * P] for z [..., L], in float32: p(x|z)'s parameters."""
        return precision.to_float32(self.decoder(z))

    # --- the bound -----------------------------------------------------------------------------------------------
    def log_densities(self, x, eps, training=False):
        """log p(x|z), log q(z|x), log p(z), each [k, B], for z = f(eps) drawn from q with noise eps [k, B, L]; and the
        analytic KL per dimension [B, L] (None where there is no closed form)."""
        q, p = self.posterior(x), self.prior()
        z, log_q = latents.sample_and_log_prob(q, eps)  # [k, B, L], [k, B]
        log_px = self.observation(z, x, training).log_prob(x)  # [k, B]
        kl = latents.kl_per_dimension(q, p) if self.config.analytic_kl else None  # [B, L]
        return log_px, log_q, p.log_prob(z), kl

    def terms(self, x, eps, training=False):
        """Named per-example terms [B] (tfvae/objectives.py) and the training loss [B] as `objective`."""
        log_px, log_q, log_p, kl = self.log_densities(x, eps, training)
        terms = objectives.elbo_terms(log_px, log_q, log_p, kl)
        alpha = objectives.warmup(self.optimizer.iterations if self.optimizer else 0, self.config.warmup_steps)
        terms["objective"] = objectives.training_loss(
            log_px, log_q, log_p, kl, self.config.beta, alpha, self.config.free_bits)
        return terms

    def step_terms(self, data, step, training):
        """`terms` of the images of a batch with this replica's noise eps [k, B, L] of the step (base.py)."""
        x = inputs_of(data)
        eps = replica_normal(self.config.iwae_k, tf.shape(x)[0], self.config.latent_dim,
                             model_seed(self.config.seed, step))
        return self.terms(x, eps, training)

    # --- generation -----------------------------------------------------------------------------------------------
    def decode(self, z):
        """The mean image of p(x|z): z [..., L] -> [..., H, W, C]."""
        return self.likelihood.mean(self.decoded(z))

    def sample(self, count, seed):
        """z ~ p(z) [count, L] and the mean images of p(x|z) [count, H, W, C], from an integer seed."""
        z = self.prior().sample(count, seed=tfp_seed(seed))
        return z, self.decode(z)

    # --- Keras -------------------------------------------------------------------------------------------------
    def encode(self, x):
        """A deterministic latent [B, L] for images x: E[q(z|x)], or the flow applied to the base mean for flows."""
        return point(self.posterior(x))

    def call(self, x):
        """The reconstruction: the mean of p(x|z) at z = encode(x); [B, H, W, C]."""
        return self.decode(self.encode(x))

    def build(self, input_shape=None):
        """Creates every weight by one pass of a zero image through every network."""
        x = tf.zeros([1, *self.config.input_shape])
        self.log_densities(x, tf.zeros([1, 1, self.config.latent_dim]))
        self.built = True
