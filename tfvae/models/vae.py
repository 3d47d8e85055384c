"""The Gaussian VAE (Kingma & Welling 2014; Rezende et al. 2014) with beta, KL warm-up, free bits and the IWAE bound.

    q(z|x) = N(z; mu(x), diag sigma(x)^2)     p(z) = N(0, I)     p(x|z) from tfvae/distributions/likelihoods.py

All distributions are built in `posterior`, `prior` and `observation`, fresh from the current weights on every call.
Variants override one of these (or `log_weights`), not the training step.

Randomness is a pure function of (config.seed, step): the reparameterization noise for the *global* batch is drawn
from a stateless seed and each replica takes its own slice, so 1 or N replicas, and a resumed run, draw the same noise
(for the same compilation: XLA's stateless generators give other numbers than TensorFlow's kernels).
"""

import dataclasses

import keras
import tensorflow as tf

from tfvae import objectives
from tfvae.config import ModelConfig
from tfvae.distributions import latents
from tfvae.distributions.likelihoods import make_likelihood
from tfvae.nets import make_decoder, make_encoder

MODEL_STREAM = 2  # folded into stateless seeds so model noise is independent of data noise
TERMS = ("objective", "elbo", "iwae", "distortion", "rate")


def stateless_seed(seed, *counters):
    """A stateless seed [2] from a run seed and integer counters (steps, chunks)."""
    pair = tf.constant([seed, MODEL_STREAM], tf.int64)
    for c in counters:
        pair = tf.random.experimental.stateless_fold_in(pair, tf.cast(c, tf.int64))
    return pair


def tfp_seed(seed):
    """An integer seed (Python or int64 tensor, >= 0) -> the int32 [2] seed TFP's samplers take, losslessly."""
    seed = tf.cast(seed, tf.int64)
    return tf.cast(tf.stack([seed // 2 ** 31, seed % 2 ** 31]), tf.int32)


@keras.saving.register_keras_serializable(package="tfvae")
class VAE(keras.Model):
    """A VAE over images [B, *config.input_shape]; see the module docstring."""

    def __init__(self, config, **kwargs):
        super().__init__(**kwargs)
        self.config = config if isinstance(config, ModelConfig) else ModelConfig(**config)
        self.likelihood = make_likelihood(self.config)
        self.encoder = make_encoder(self.config, 2 * self.config.latent_dim)
        self.decoder = make_decoder(self.config, self.config.input_shape[-1] * self.likelihood.params_per_channel)
        self.trackers = [keras.metrics.Mean(name) for name in TERMS]

    # --- the distributions -------------------------------------------------------------------------------------
    def posterior(self, x):
        """q(z|x): batch [B], event [L]."""
        return latents.diagonal_gaussian(self.encoder(self.encoder_input(x)))

    def prior(self):
        """p(z): event [L]."""
        return latents.standard_normal(self.config.latent_dim)

    def observation(self, z, x=None, training=False):
        """p(x|z): z [..., L] -> batch [...], event [H, W, C]."""
        return self.likelihood.distribution(self.decoder(z), x, training)

    def encoder_input(self, x):
        """The network sees 8-bit data rescaled to [-1, 1]; other representations already lie in [0, 1]."""
        return x / 127.5 - 1.0 if self.config.pixels == "8bit" else x

    # --- the bound -----------------------------------------------------------------------------------------------
    def log_densities(self, x, eps, training=False):
        """log p(x|z), log q(z|x), log p(z), each [k, B], for z = reparameterize(q, eps) with eps [k, B, L]; and the
        analytic KL per dimension [B, L] (None where there is no closed form)."""
        q, p = self.posterior(x), self.prior()
        z = latents.reparameterize(q, eps)  # [k, B, L]
        log_px = self.observation(z, x, training).log_prob(x)  # [k, B]
        kl = latents.kl_per_dimension(q, p)  # [B, L]
        return log_px, q.log_prob(z), p.log_prob(z), kl

    def terms(self, x, eps, training=False):
        """Named per-example terms [B] (tfvae/objectives.py) and the training loss [B] as `objective`."""
        log_px, log_q, log_p, kl = self.log_densities(x, eps, training)
        terms = objectives.elbo_terms(log_px, log_q, log_p, kl)
        alpha = objectives.warmup(self.optimizer.iterations if self.optimizer else 0, self.config.warmup_steps)
        terms["objective"] = objectives.training_loss(
            log_px, log_q, log_p, kl, self.config.beta, alpha, self.config.free_bits)
        return terms

    def noise(self, batch_size, k, seed):
        """Standard-normal eps [k, batch_size, L] for this replica: a slice of the draw for the global batch."""
        context = tf.distribute.get_replica_context()
        replicas = context.num_replicas_in_sync if context else 1
        replica = context.replica_id_in_sync_group if context else 0
        eps = tf.random.stateless_normal([k, batch_size * replicas, self.config.latent_dim], seed=seed)
        return eps[:, replica * batch_size:(replica + 1) * batch_size]

    # --- generation -----------------------------------------------------------------------------------------------
    def decode(self, z):
        """The mean image of p(x|z): z [..., L] -> [..., H, W, C]."""
        return self.likelihood.mean(self.decoder(z))

    def sample(self, count, seed):
        """z ~ p(z) [count, L] and the mean images of p(x|z) [count, H, W, C], from an integer seed."""
        z = self.prior().sample(count, seed=tfp_seed(seed))
        return z, self.decode(z)

    # --- Keras -------------------------------------------------------------------------------------------------
    def call(self, x):
        """The reconstruction: the mean of p(x|z) at z = E[q(z|x)]; [B, H, W, C]."""
        return self.decode(self.posterior(x).mean())

    def train_step(self, data):
        x = data[0] if isinstance(data, (tuple, list)) else data
        step = self.optimizer.iterations
        eps = self.noise(tf.shape(x)[0], self.config.iwae_k, stateless_seed(self.config.seed, step))
        with tf.GradientTape() as tape:
            terms = self.terms(x, eps, training=True)
            # Gradients are summed over replicas: scale the mean so N replicas take the step of one.
            replicas = self.distribute_strategy.num_replicas_in_sync
            loss = tf.reduce_mean(terms["objective"]) / replicas
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply(grads, self.trainable_variables)
        return self.update_trackers(terms)

    def test_step(self, data):
        x = data[0] if isinstance(data, (tuple, list)) else data
        eps = self.noise(tf.shape(x)[0], self.config.iwae_k, stateless_seed(self.config.seed, -1))
        return self.update_trackers(self.terms(x, eps))

    def update_trackers(self, terms):
        for tracker in self.trackers:
            tracker.update_state(terms[tracker.name])
        results = {tracker.name: tracker.result() for tracker in self.trackers}
        if isinstance(self.distribute_strategy, tf.distribute.MultiWorkerMirroredStrategy):
            # Keras reduces step outputs across workers with reduce(MEAN, axis=0), which needs an axis to reduce.
            results = {name: tf.reshape(value, [1]) for name, value in results.items()}
        return results

    @property
    def metrics(self):
        return list(self.trackers)

    def build(self, input_shape=None):
        """Creates every weight by one pass of a zero image through encoder and decoder."""
        x = tf.zeros([1, *self.config.input_shape])
        self.likelihood.mean(self.decoder(self.posterior(x).mean()))
        self.built = True

    def get_config(self):
        return {**super().get_config(), "config": dataclasses.asdict(self.config)}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
