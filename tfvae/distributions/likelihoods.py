"""Observation models p(x|z): decoder outputs [..., H, W, C * P] -> a TFP distribution with event shape [H, W, C].

Each likelihood is a Keras layer (so any weights it owns, like the Gaussian's global scale, are tracked, trained and
saved) that builds its distribution fresh from the decoder's tensors on every call.
"""

import math

import keras
import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions


class Likelihood(keras.layers.Layer):
    """Base: `params_per_channel` decoder outputs per pixel and channel."""

    params_per_channel = 1

    def __init__(self, channels, **kwargs):
        super().__init__(**kwargs)
        self.channels = channels
        # Used through its methods, never called, with every weight made here: built from the start. (Under a
        # distribution strategy Keras traces the model's call() on one input batch if any sublayer is unbuilt,
        # which a model whose batches are (images, labels), like the cvae, cannot take.)
        self.built = True

    def distribution(self, params, x=None, training=False):
        """p(x|z) with event shape [H, W, C] from params [..., H, W, C * P]; x (the data) is used only by
        likelihoods whose parameters are fit to the batch."""
        raise NotImplementedError

    def mean(self, params):
        """The mean image [..., H, W, C] in the pixel representation being modelled."""
        raise NotImplementedError

    def split(self, params):
        """[..., H, W, C * P] -> P tensors of shape [..., H, W, C] (or one [..., H, W, C, P] if P > 1)."""
        shape = tf.concat([tf.shape(params)[:-1], [self.channels, self.params_per_channel]], 0)
        return tf.reshape(params, shape)

    def get_config(self):
        return {**super().get_config(), "channels": self.channels}


@keras.saving.register_keras_serializable(package="tfvae")
class BernoulliLikelihood(Likelihood):
    """x in {0, 1}: p(x|z) = prod Bernoulli(x; sigmoid(logits))."""

    def distribution(self, params, x=None, training=False):
        return tfd.Independent(tfd.Bernoulli(logits=params, dtype=tf.float32), reinterpreted_batch_ndims=3)

    def mean(self, params):
        return tf.sigmoid(params)


@keras.saving.register_keras_serializable(package="tfvae")
class GaussianLikelihood(Likelihood):
    """x in [0, 1]: p(x|z) = prod N(x; loc, sigma^2) with one global sigma (or one per channel).

    `learned`: sigma = softplus(raw) + 1e-3 is a trained weight. `per_channel`: the same with one weight per channel
    [C], for data whose channels differ in scale (M1+M2 models M1's latents as channels, some active with a spread
    near 1, some inactive near 0). `optimal`: during training sigma is the closed-form
    maximizer of the batch likelihood, sigma* = sqrt(mean squared error) (Rybkin et al. 2021), held constant for the
    gradient; an exponential moving average of it is kept for evaluation and sampling.
    """

    def __init__(self, channels, scale="learned", **kwargs):
        super().__init__(channels, **kwargs)
        self.scale_mode = scale
        # softplus(-1.7) + 1e-3 ~ 0.17: a broad start that lets the decoder fit the mean before the scale shrinks.
        self.raw_scale = self.add_weight(shape=(channels,) if scale == "per_channel" else (),
                                         initializer=keras.initializers.Constant(-1.7),
                                         trainable=scale in ("learned", "per_channel"), name="raw_scale")
        self.ema_scale = self.add_weight(shape=(), initializer="ones", trainable=False, name="ema_scale",
                                         aggregation="mean")

    def scale(self, loc=None, x=None, training=False):
        if self.scale_mode in ("learned", "per_channel"):
            return tf.nn.softplus(self.raw_scale) + 1e-3  # [] or [C], broadcast against [..., H, W, C]
        if training and x is not None:
            sigma = tf.stop_gradient(tf.sqrt(tf.reduce_mean(tf.square(x - loc))) + 1e-3)
            self.ema_scale.assign(0.99 * self.ema_scale + 0.01 * sigma)
            return sigma
        return tf.convert_to_tensor(self.ema_scale)

    def distribution(self, params, x=None, training=False):
        scale = self.scale(params, x, training)
        return tfd.Independent(tfd.Normal(params, scale), reinterpreted_batch_ndims=3)

    def mean(self, params):
        return params

    def get_config(self):
        return {**super().get_config(), "scale": self.scale_mode}


@keras.saving.register_keras_serializable(package="tfvae")
class LogisticMixtureLikelihood(Likelihood):
    """x in {0, ..., 255}: per pixel and channel a mixture of M discretized logistics (Salimans et al. 2017, with
    channels independent given z).

    P(x = k) = sum_m pi_m [F_m(k) - F_m(k - 1)] with the end bins taking the tails (tfd.QuantizedDistribution on
    [0, 255]). Since that bins (k - 1, k], a logistic located at m + 0.5 is centred on pixel value m.
    """

    def __init__(self, channels, num_mixtures=5, **kwargs):
        super().__init__(channels, **kwargs)
        self.num_mixtures = num_mixtures
        self.params_per_channel = 3 * num_mixtures

    def components(self, params):
        p = self.split(params)  # [..., H, W, C, 3M]
        logits, raw_loc, raw_scale = tf.split(p, 3, axis=-1)  # each [..., H, W, C, M]
        loc = 127.5 * (raw_loc + 1.0) + 0.5
        scale = 16.0 * tf.nn.softplus(raw_scale) + 0.05  # pixel units; the floor keeps bins resolvable
        return logits, loc, scale

    def distribution(self, params, x=None, training=False):
        logits, loc, scale = self.components(params)
        pixel = tfd.MixtureSameFamily(
            tfd.Categorical(logits=logits),
            tfd.QuantizedDistribution(tfd.Logistic(loc, scale), low=0.0, high=255.0))
        return tfd.Independent(pixel, reinterpreted_batch_ndims=3)

    def mean(self, params):
        logits, loc, _ = self.components(params)
        return tf.clip_by_value(tf.reduce_sum(tf.nn.softmax(logits) * (loc - 0.5), -1), 0.0, 255.0)

    def get_config(self):
        return {**super().get_config(), "num_mixtures": self.num_mixtures}


def make_likelihood(config):
    channels = config.input_shape[-1]
    if config.likelihood == "bernoulli":
        return BernoulliLikelihood(channels, name="likelihood")
    if config.likelihood == "gaussian":
        return GaussianLikelihood(channels, config.gaussian_scale, name="likelihood")
    return LogisticMixtureLikelihood(channels, config.num_mixtures, name="likelihood")


def bits_per_dim(nll, config):
    """Negative log-likelihood in nats per image -> bits per dimension of the 8-bit (or binary) data.

    For a density on dequantized data x = (k + u) / 256, -log P(k) <= -log p(x) + D log 256 (Theis et al. 2016).
    """
    dims = math.prod(config.input_shape)
    if config.pixels in ("dequantized", "continuous"):
        nll = nll + dims * math.log(256.0)
    return nll / (dims * math.log(2.0))
