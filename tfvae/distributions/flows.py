"""Flexible latent distributions: an inverse autoregressive flow posterior and three learned priors.

Each is a Keras 3 layer that owns its networks (so its weights are trained and saved with the model) and builds its
TFP distribution fresh from the current weights in `distribution(...)`; TFP only ever sees plain callables. Event
shape [L] throughout.

* IAFPosterior (Kingma et al. 2016): z_0 = loc + scale * eps, then for t = 1..T, with [m_t, s_t] = MADE_t(z_{t-1}, h),

      z_t = sigma_t * z_{t-1} + (1 - sigma_t) * m_t,      sigma_t = sigmoid(s_t),
      log q(z_T | x) = log N(z_0; loc, diag scale^2) - sum_t sum_i log sigma_{t,i}.

  Sampling is one MADE pass per step; log_prob of a z not drawn from q inverts each step sequentially (L passes).
* MixturePrior: p(z) = sum_k pi_k N(z; mu_k, diag s_k^2) with learned logits, locs and scales (Dilokthanakul et al.
  2016; the data-free relative of the VampPrior, Tomczak & Welling 2018).
* RealNVPPrior (Dinh et al. 2017): z = f(u), u ~ N(0, I), f a chain of affine couplings
  y_{d:} = x_{d:} * exp(a(x_{:d})) + b(x_{:d}), y_{:d} = x_{:d}; log_prob and sampling are one pass each.
* MAFPrior (Papamakarios et al. 2017): z = f(u), u ~ N(0, I), z_i = u_i * exp(a_i(z_{<i})) + b_i(z_{<i}); log_prob
  is one MADE pass per step, sampling is sequential (L passes).

Successive steps reverse the order of the variables (tfb.Permute) so each one is conditioned on by some step.
"""

import math

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from tfvae.nets.made import MADE

tfb, tfd = tfp.bijectors, tfp.distributions

# IAF gates start open towards the identity: s = raw + GATE_BIAS, sigma = sigmoid(2) ~ 0.88 (Kingma et al. 2016).
GATE_BIAS = 2.0
# exp(-s) overflows float32 below s ~ -88; the clamp stops well before, at sigma = sigmoid(-15) ~ 3e-7, where the
# gradient through sigma is negligible anyway.
GATE_MIN = -15.0
# Log-scales of the prior flows are soft-clipped to (-3, 3) per step, BOUND * tanh(raw / BOUND): slope 1 near zero,
# and one step cannot scale by more than e^3 however far the network's output drifts.
LOG_SCALE_BOUND = 3.0
# Mixture scales are softplus(raw) + SCALE_FLOOR: positive with a gradient everywhere and bounded away from zero.
SCALE_FLOOR = 1e-4


def bounded_log_scale(raw):
    return LOG_SCALE_BOUND * tf.tanh(raw / LOG_SCALE_BOUND)


def reversal(latent_dim):
    return tfb.Permute(permutation=list(range(latent_dim))[::-1])


def chain(steps, latent_dim):
    """tfb.Chain applying `steps` first to last, with a reversal of the variables between consecutive steps.

    tfb.Chain applies its list last to first, hence the final [::-1].
    """
    ordered = []
    for k, step in enumerate(steps):
        ordered += [reversal(latent_dim), step] if k else [step]
    return tfb.Chain(ordered[::-1])


@keras.saving.register_keras_serializable(package="tfvae")
class IAFPosterior(keras.layers.Layer):
    """q(z|x): N(loc, diag scale^2) pushed through `steps` gated IAF steps, each a MADE(latent_dim, hidden_units)
    that also sees the encoder's context h [B, context_size]."""

    def __init__(self, latent_dim, steps, hidden_units, context_size, **kwargs):
        super().__init__(**kwargs)
        self.latent_dim, self.steps, self.hidden_units = latent_dim, steps, tuple(hidden_units)
        self.context_size = context_size
        with keras.name_scope(self.name):  # weight paths read iaf_posterior/made_0/...
            self.mades = [MADE(latent_dim, self.hidden_units, params=2, context_size=context_size, name=f"made_{t}")
                          for t in range(steps)]

    @staticmethod
    def gated_shift_and_log_scale(made, context):
        """The MAF parameterization (shift, log_scale) [..., L] of one gated step, as a function of its input z.

        tfb.MaskedAutoregressiveFlow's inverse is x = (y - shift) * exp(-log_scale) with (shift, log_scale) computed
        from y in one pass; Invert(MAF) makes that the forward (sampling) map z -> z'. Asking for
        z' = sigma * z + (1 - sigma) * m with sigma = sigmoid(s):

            exp(-log_scale) = sigma               =>  log_scale = -log sigmoid(s) = softplus(-s)
            -shift * sigma = (1 - sigma) * m      =>  shift = -m * (1 - sigma) / sigma = -m * exp(-s)

        softplus(-s) is exact for any s; exp(-s) is why s is clamped at GATE_MIN. The forward log-det is
        -sum(log_scale) = sum log sigma.
        """
        def shift_and_log_scale(z):
            m, raw = tf.unstack(made(z, context), axis=-1)  # each [..., L]
            s = tf.maximum(raw + GATE_BIAS, GATE_MIN)
            return -m * tf.exp(-s), tf.nn.softplus(-s)
        return shift_and_log_scale

    def distribution(self, loc, scale, context=None):
        """loc, scale [B, L] and context [B, context_size] (None if 0) -> q(z|x) with batch [B], event [L]."""
        steps = [tfb.Invert(tfb.MaskedAutoregressiveFlow(shift_and_log_scale_fn=self.gated_shift_and_log_scale(
            made, context))) for made in self.mades]
        return tfd.TransformedDistribution(tfd.MultivariateNormalDiag(loc, scale), chain(steps, self.latent_dim))

    def get_config(self):
        return {**super().get_config(), "latent_dim": self.latent_dim, "steps": self.steps,
                "hidden_units": self.hidden_units, "context_size": self.context_size}


@keras.saving.register_keras_serializable(package="tfvae")
class MixturePrior(keras.layers.Layer):
    """p(z) = sum_k softmax(logits)_k N(z; loc_k, diag scale_k^2), K = `components`."""

    def __init__(self, latent_dim, components, **kwargs):
        super().__init__(**kwargs)
        self.latent_dim, self.components = latent_dim, components
        self.logits = self.add_weight(shape=(components,), initializer="zeros", name="logits")
        # Fixed-seed standard-normal locs: spread like N(0, I) so components start apart, reproducibly.
        self.loc = self.add_weight(shape=(components, latent_dim), name="loc",
                                   initializer=keras.initializers.RandomNormal(stddev=1.0, seed=0))
        # softplus(raw) + SCALE_FLOOR = 1 at the start.
        self.raw_scale = self.add_weight(shape=(components, latent_dim), name="raw_scale",
                                         initializer=keras.initializers.Constant(math.log(math.expm1(1 - SCALE_FLOOR))))

    def distribution(self):
        """Batch [], event [L]."""
        scale = tf.nn.softplus(self.raw_scale) + SCALE_FLOOR  # [K, L]
        return tfd.MixtureSameFamily(tfd.Categorical(logits=tf.convert_to_tensor(self.logits)),
                                     tfd.MultivariateNormalDiag(tf.convert_to_tensor(self.loc), scale))

    def get_config(self):
        return {**super().get_config(), "latent_dim": self.latent_dim, "components": self.components}


@keras.saving.register_keras_serializable(package="tfvae")
class Conditioner(keras.layers.Layer):
    """The coupling network: x [..., in_dim] -> (shift, log_scale), each [..., out_dim], log_scale soft-clipped.

    The last layer starts small (normal, stddev 0.01) rather than zero: the coupling starts near the identity, and
    the hidden layers still get a gradient on the first step (through a zero kernel they would get none).
    """

    def __init__(self, in_dim, out_dim, hidden_units, activation="relu", **kwargs):
        super().__init__(**kwargs)
        self.in_dim, self.out_dim, self.hidden_units = in_dim, out_dim, tuple(hidden_units)
        self.activation = activation
        self.hidden = [keras.layers.Dense(u, activation=activation, name=f"dense_{k}")
                       for k, u in enumerate(self.hidden_units)]
        self.out = keras.layers.Dense(2 * out_dim, kernel_initializer=keras.initializers.RandomNormal(stddev=0.01),
                                      name="dense_out")
        # Weights are made now, not on the first call (which may come inside a tf.function), in this layer's name
        # scope so that paths read conditioner_0/dense_0/kernel.
        with keras.name_scope(self.name):
            for layer, units_in in zip([*self.hidden, self.out], (in_dim, *self.hidden_units)):
                layer.build((None, units_in))

    def call(self, x):
        h = x  # [..., in_dim]
        for layer in self.hidden:
            h = layer(h)
        shift, raw = tf.split(self.out(h), 2, axis=-1)  # each [..., out_dim]
        return shift, bounded_log_scale(raw)

    def get_config(self):
        return {**super().get_config(), "in_dim": self.in_dim, "out_dim": self.out_dim,
                "hidden_units": self.hidden_units, "activation": self.activation}


@keras.saving.register_keras_serializable(package="tfvae")
class RealNVPPrior(keras.layers.Layer):
    """p(z): N(0, I_L) through `layers` affine couplings; each transforms the last L - L // 2 variables of its
    input given the first L // 2, and the variables are reversed between couplings. Needs L >= 2."""

    def __init__(self, latent_dim, layers, hidden_units, **kwargs):
        super().__init__(**kwargs)
        if latent_dim < 2:
            raise ValueError(f"RealNVPPrior needs latent_dim >= 2 to split the variables, got {latent_dim}; "
                             "use MAFPrior or MixturePrior for one latent dimension")
        self.latent_dim, self.layers, self.hidden_units = latent_dim, layers, tuple(hidden_units)
        self.num_masked = latent_dim // 2
        with keras.name_scope(self.name):
            self.conditioners = [Conditioner(self.num_masked, latent_dim - self.num_masked, self.hidden_units,
                                             name=f"conditioner_{k}") for k in range(layers)]

    def distribution(self):
        """Batch [], event [L]."""
        # RealNVP calls fn(x_masked, output_units); the conditioner's output size is fixed at construction.
        steps = [tfb.RealNVP(num_masked=self.num_masked, shift_and_log_scale_fn=lambda x, _, net=net: net(x))
                 for net in self.conditioners]
        return tfd.TransformedDistribution(tfd.MultivariateNormalDiag(loc=tf.zeros([self.latent_dim])),
                                           chain(steps, self.latent_dim))

    def get_config(self):
        return {**super().get_config(), "latent_dim": self.latent_dim, "layers": self.layers,
                "hidden_units": self.hidden_units}


@keras.saving.register_keras_serializable(package="tfvae")
class MAFPrior(keras.layers.Layer):
    """p(z): N(0, I_L) through `layers` masked autoregressive steps (MADE(latent_dim, hidden_units) each),
    the variables reversed between steps."""

    def __init__(self, latent_dim, layers, hidden_units, **kwargs):
        super().__init__(**kwargs)
        self.latent_dim, self.layers, self.hidden_units = latent_dim, layers, tuple(hidden_units)
        with keras.name_scope(self.name):
            self.mades = [MADE(latent_dim, self.hidden_units, params=2, name=f"made_{k}") for k in range(layers)]

    @staticmethod
    def shift_and_log_scale(made):
        def fn(z):
            shift, raw = tf.unstack(made(z), axis=-1)  # each [..., L]
            return shift, bounded_log_scale(raw)
        return fn

    def distribution(self):
        """Batch [], event [L]."""
        steps = [tfb.MaskedAutoregressiveFlow(shift_and_log_scale_fn=self.shift_and_log_scale(made))
                 for made in self.mades]
        return tfd.TransformedDistribution(tfd.MultivariateNormalDiag(loc=tf.zeros([self.latent_dim])),
                                           chain(steps, self.latent_dim))

    def get_config(self):
        return {**super().get_config(), "latent_dim": self.latent_dim, "layers": self.layers,
                "hidden_units": self.hidden_units}
