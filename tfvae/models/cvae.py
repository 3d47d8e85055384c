"""The class-conditional VAE (Sohn et al. 2015; the generative model of Kingma et al. 2014's M2 given y).

    p(z) = N(0, I)
    p(x|y, z):  the likelihood (likelihoods.py) of decoder([z, onehot(y)])
    q(z|x, y):  N(loc, diag(scale^2)) from head([h(x), onehot(y)]), with h the encoder's features [B, F]
    elbo(x, y) = E_q[log p(x|y, z)] - KL(q(z|x, y) || p(z)) <= log p(x|y)

The encoder runs once per image; only the small head and the decoder see the label, so a batch can be scored under
every class at once by broadcasting (tfvae/models/m2.py). Labels y enter as one-hot (or any probability) vectors
[..., K]; public methods that take integer labels say so.

With `m1_dir` (M1+M2, Kingma et al. 2014) the modelled data are not the images but the latents z1 [L1] of a trained,
frozen VAE (M1): the means E[q(z1|x)], or (config.m1_features = "sample") a fresh draw z1 ~ q(z1|x) at every training
step as Kingma et al. do, seen as [1, 1, L1] "images" under a Gaussian likelihood (config.gaussian_scale: one learned
scale per latent by default, or one for all); images still go in (the M1 encoder runs first) and come out (the M1
decoder renders decoded latents). M1's weights are weights of this
model (not trainable), so a checkpoint holds both. The model does not read M1: its caller restores the VAE of
`m1_dir` and passes it (`CVAE(config, m1)`).
"""

import dataclasses

import keras
import tensorflow as tf

from tfvae import objectives, precision
from tfvae.config import ConditionalConfig, ConfigError
from tfvae.data import pixels
from tfvae.distributions import latents
from tfvae.distributions.likelihoods import make_likelihood
from tfvae.models.base import ConfiguredModel, replica_normal
from tfvae.nets import make_decoder
from tfvae.nets.conv import ConvEncoder
from tfvae.nets.mlp import MLPEncoder
from tfvae.seeds import fold_in, model_seed, tfp_seed

TERMS = ("objective", "elbo", "distortion", "rate")


def make_net(config, out_dim, name):
    """An encoder-shaped network of `config.architecture`: [B, *input_shape] -> [B, out_dim]."""
    if config.architecture == "mlp":
        return MLPEncoder(config.hidden_units, out_dim, name=name)
    return ConvEncoder(config.hidden_units, out_dim, name=name)


def check_m1(config, m1_config):
    """Raises ConfigError unless m1_config, the config of the VAE in config.m1_dir, is fed the same images as the
    model of `config` (that it is a vae is its family's check: tfvae/families/conditional.py)."""
    for field in ("input_shape", "pixels"):
        if getattr(m1_config, field) != getattr(config, field):
            raise ConfigError(f"--m1_dir={config.m1_dir}: its {field} is {getattr(m1_config, field)!r}, this model's "
                              f"{getattr(config, field)!r}; pass the flags M1 was trained with")


def data_config(config, m1):
    """The config of what is modelled: the images, or M1's latent means as [1, 1, L1] under a Gaussian (MLP nets)."""
    if m1 is None:
        return config
    return dataclasses.replace(config, input_shape=(1, 1, m1.config.latent_dim), architecture="mlp",
                               likelihood="gaussian", pixels="continuous", m1_dir="")


@keras.saving.register_keras_serializable(package="tfvae")
class CVAE(ConfiguredModel):
    """A VAE over images [B, *config.input_shape] conditioned on labels in 0..config.num_classes - 1."""

    CONFIG_CLASS = ConditionalConfig

    TERMS = TERMS

    def __init__(self, config, m1=None, **kwargs):
        """m1: with config.m1_dir, the trained VAE restored from there (frozen here), built in the same strategy
        scope as this model; None without."""
        super().__init__(config, **kwargs)
        c = self.config
        if bool(c.m1_dir) != (m1 is not None):
            raise ValueError(f"m1_dir={c.m1_dir!r}: pass the trained VAE of m1_dir as m1 exactly when m1_dir is set")
        if m1 is not None:
            check_m1(c, m1.config)
            m1.trainable = False
        self.m1 = m1
        self.data_config = data = data_config(c, self.m1)
        self.data_shape = data.input_shape
        self.likelihood = make_likelihood(data)
        width = c.hidden_units[-1]
        with precision.networks(c.precision):  # the networks compute in c.precision, all else in float32
            self.encoder = make_net(data, width, "encoder")  # h(x) [B, F]
            self.head_hidden = keras.layers.Dense(width, activation="relu", name="head_hidden")
            self.head_out = keras.layers.Dense(2 * c.latent_dim, name="head_out")  # [loc, raw scale]
            self.decoder = make_decoder(data, data.input_shape[-1] * self.likelihood.params_per_channel)

    # --- the data ------------------------------------------------------------------------------------------------
    def features(self, x, seed=None):
        """What is modelled: the images x [B, H, W, C], or with M1 its latents [B, 1, 1, L1]: the mean of q(z1|x), or
        with config.m1_features = "sample" and a seed (int64 [2], training steps only) a draw z1 ~ q(z1|x), this
        replica's rows of the draw for the global batch."""
        if self.m1 is None:
            return x
        if self.config.m1_features == "sample" and seed is not None:
            q = self.m1.posterior(x)
            eps = replica_normal(1, tf.shape(x)[0], self.m1.config.latent_dim, seed)
            z1 = latents.sample_and_log_prob(q, eps)[0][0]  # [B, L1]
        else:
            z1 = self.m1.encode(x)
        return tf.reshape(tf.stop_gradient(z1), [-1, *self.data_shape])

    def encoder_input(self, v):
        """Networks see 8-bit data rescaled to [-1, 1]; other representations as they are."""
        return pixels.network_input(v, self.config.pixels) if self.m1 is None else v

    def encoded(self, v):
        """The encoder's features h(v) [B, F] of the modelled data v, in float32 (tfvae/precision.py)."""
        return precision.to_float32(self.encoder(self.encoder_input(v)))

    def onehot(self, labels):
        """Integer labels [...] -> one-hot float32 [..., K]."""
        return tf.one_hot(tf.cast(labels, tf.int32), self.config.num_classes)

    # --- the distributions -----------------------------------------------------------------------------------------
    def posterior(self, h, y):
        """q(z|x, y) from encoder features h [..., F] and labels y [..., K] (broadcast): batch [...], event [L]."""
        shape = tf.broadcast_dynamic_shape(tf.shape(h)[:-1], tf.shape(y)[:-1])
        h = tf.broadcast_to(h, tf.concat([shape, tf.shape(h)[-1:]], 0))
        y = tf.broadcast_to(y, tf.concat([shape, tf.shape(y)[-1:]], 0))
        params = self.head_out(self.head_hidden(tf.concat([h, y], -1)))
        return latents.diagonal_gaussian(precision.to_float32(params))

    def prior(self):
        """p(z) = N(0, I_L)."""
        return latents.standard_normal(self.config.latent_dim)

    def decoder_params(self, z, y):
        """Decoder outputs [..., *data_shape[:2], C * P] for z [..., L] and labels y [..., K] (broadcast)."""
        shape = tf.broadcast_dynamic_shape(tf.shape(z)[:-1], tf.shape(y)[:-1])
        z = tf.broadcast_to(z, tf.concat([shape, tf.shape(z)[-1:]], 0))
        y = tf.broadcast_to(y, tf.concat([shape, tf.shape(y)[-1:]], 0))
        return precision.to_float32(self.decoder(tf.concat([z, y], -1)))

    def observation(self, z, y, v=None, training=False):
        """p(v|y, z): batch [...], event data_shape."""
        return self.likelihood.distribution(self.decoder_params(z, y), v, training)

    # --- the bound -----------------------------------------------------------------------------------------------
    def elbo_terms(self, v, h, y, eps, training=False):
        """Per-example terms [..., B] of the ELBO of log p(v|y) with one draw z = loc + scale * eps.

        v: modelled data [B, ...]; h: encoder features [B, F]; y: labels [..., B, K] (or broadcastable);
        eps: noise [..., B, L] with the leading shape of the result ([1, B] for one label each, [K, B] for all).
        """
        y = tf.broadcast_to(y, tf.concat([tf.shape(eps)[:-1], tf.shape(y)[-1:]], 0))  # [..., B, K]
        q = self.posterior(h, y)  # batch [..., B]
        z, _ = latents.sample_and_log_prob(q, eps)  # [..., B, L]
        log_px = self.observation(z, y, v, training).log_prob(v)  # [..., B]
        rate = tf.reduce_sum(latents.kl_per_dimension(q, self.prior()), -1)  # analytic KL [..., B]
        return {"distortion": -log_px, "rate": rate, "elbo": log_px - rate}

    def loss_of(self, terms):
        """The training loss [...] of ELBO terms: distortion + beta * warm-up * rate (objectives.py)."""
        optimizer = getattr(self, "optimizer", None)  # none before compile()
        warm = objectives.warmup(optimizer.iterations if optimizer else 0, self.config.warmup_steps)
        return terms["distortion"] + self.config.beta * warm * terms["rate"]

    def terms(self, x, labels, eps, training=False, feature_seed=None):
        """Named per-example terms [B] for images x and integer labels [B]; eps [1, B, L]; feature_seed: `features`'."""
        v = self.features(x, feature_seed)
        h = self.encoded(v)
        terms = {k: t[0] for k, t in self.elbo_terms(v, h, self.onehot(labels), eps, training).items()}
        terms["objective"] = self.loss_of(terms)
        return terms

    def noise(self, batch_size, k, seed):
        """Standard-normal eps [k, batch_size, L] for this replica: its rows of the draw for the global batch."""
        return replica_normal(k, batch_size, self.config.latent_dim, seed)

    def step_terms(self, data, step, training):
        """`terms` of a batch (images, integer labels) with this replica's noise eps [1, B, L] of the step."""
        x, labels = data
        seed = model_seed(self.config.seed, step)
        return self.terms(x, labels, self.noise(tf.shape(x)[0], 1, seed), training,
                          fold_in(seed, 2, dtype=tf.int32) if training else None)

    # --- generation -----------------------------------------------------------------------------------------------
    def decode(self, z, y):
        """Mean images [..., H, W, C] of p(x|y, z) for z [..., L] and labels y [..., K] (one-hot or mixed)."""
        mean = self.likelihood.mean(self.decoder_params(z, y))
        if self.m1 is None:
            return mean
        return self.m1.decode(tf.reshape(mean, tf.concat([tf.shape(mean)[:-3], [self.data_shape[-1]]], 0)))

    def encode(self, x, y):
        """E[q(z|x, y)] [B, L] for images x [B, H, W, C] and labels y [B, K]."""
        return self.posterior(self.encoded(self.features(x)), y).mean()

    def sample(self, labels, seed):
        """z ~ p(z) [N, L] and mean images [N, H, W, C] of p(x|y, z) for integer labels [N], from an integer seed."""
        z = self.prior().sample(tf.shape(labels)[0], seed=tfp_seed(seed))
        return z, self.decode(z, self.onehot(labels))

    # --- Keras -------------------------------------------------------------------------------------------------
    def call(self, inputs):
        """The reconstruction [B, H, W, C] of (images, integer labels)."""
        x, labels = inputs
        y = self.onehot(labels)
        return self.decode(self.encode(x, y), y)

    def build(self, input_shape=None):
        """Creates every weight by one pass of a zero image with label 0 through every network."""
        x = tf.zeros([1, *self.config.input_shape])
        self.terms(x, tf.zeros([1], tf.int32), tf.zeros([1, 1, self.config.latent_dim]))
        self.built = True
