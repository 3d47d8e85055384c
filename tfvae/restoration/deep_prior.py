"""A learned deep patch prior: a noise-conditional network that denoises DC-removed patches, for EPLL's z-step.

EPLL's z-step is the MAP of a clean patch x from y = x + N(0, s^2 I) under the patch prior. This prior learns the
step itself (the "learned denoiser step" of plug-and-play priors): a network D(y, s) ~ E[x | y] trained by
minimum mean squared error on the same patches as the GMM, for every noise level the splitting visits
(s log-uniform on [S_MIN, S_MAX]). By Tweedie's formula, (D(y, s) - y) / s^2 is the score of the noise-smoothed
patch density p_s = p * N(0, s^2 I), so D is a learned (score-based) prior over patches; it has no normalized
density, and `log_prob` says so (the splitting does not call it).

The network is the library's MLPEncoder (tfvae/nets/mlp.py) on [y / sqrt(s^2 + d^2), log s], with the
preconditioning of Karras et al. 2022 (EDM), d the RMS value of the training patches ("data scale"):

    D(y, s) = c_skip y + c_out F(c_in y, log s),   c_skip = d^2 / (s^2 + d^2),   c_out = s d / sqrt(s^2 + d^2),
    c_in = 1 / sqrt(s^2 + d^2)

and the loss ||F - (x - c_skip y) / c_out||^2, which is ||D - x||^2 / c_out^2: unit-scale targets at every s.
"""

import math

import keras
import numpy as np
import tensorflow as tf

from tfvae import precision as precision_lib
from tfvae import training
from tfvae.data import step_batches
from tfvae.models.base import TermsModel, replica_rows
from tfvae.nets.mlp import MLPEncoder
from tfvae.restoration.gmm import as_patches
from tfvae.seeds import BASE_STREAM, fold, fold_in

S_MIN, S_MAX = 1e-3, 0.35  # noise levels trained for ([0, 1] pixel scale): EPLL's z-steps for sigma 5 to 75 of 255


@keras.saving.register_keras_serializable(package="tfvae")
class DenoiserPrior(TermsModel):
    """D(y, s): DC-removed noisy patches [N, D] and a noise level s -> estimated clean patches [N, D]."""

    TERMS = ("denoising_loss",)
    LOSS = "denoising_loss"

    def __init__(self, dim=64, hidden_units=(512, 512, 512), data_scale=0.05, seed=0, precision="float32", **kwargs):
        super().__init__(**kwargs)
        self.dim, self.hidden_units, self.data_scale, self.seed = dim, tuple(hidden_units), float(data_scale), seed
        self.precision = precision
        with precision_lib.networks(precision):  # the MLP computes in `precision`, its output is cast to float32
            self.net = MLPEncoder(self.hidden_units, dim, activation="swish")

    def _parts(self, y, noise_sigma):
        """(c_skip, c_out, F(c_in y, log s)) for y [N, D] and s [N, 1]."""
        d2 = self.data_scale ** 2
        scale = tf.sqrt(tf.square(noise_sigma) + d2)
        features = tf.concat([y / scale, tf.math.log(noise_sigma)], -1)  # [N, D + 1]
        return d2 / tf.square(scale), noise_sigma * self.data_scale / scale, precision_lib.to_float32(self.net(features))

    def call(self, inputs):
        """inputs (y [N, D], s [N, 1]) -> D(y, s) [N, D]."""
        y, noise_sigma = inputs
        c_skip, c_out, out = self._parts(y, noise_sigma)
        return c_skip * y + c_out * out

    def denoise_patches(self, noisy, noise_sigma):
        """E[x | y] for DC-removed noisy patches y [N, D] with noise N(0, noise_sigma^2 I); noise_sigma a scalar."""
        noisy = as_patches(noisy, self.dim)
        noise_sigma = tf.clip_by_value(tf.cast(noise_sigma, tf.float32), S_MIN, S_MAX)  # trained range
        return self((noisy, tf.fill([tf.shape(noisy)[0], 1], noise_sigma)))

    def log_prob(self, patches):
        raise NotImplementedError("the learned denoiser prior has no normalized density (it gives the score of the "
                                  "noise-smoothed density); use the GMM prior for log p(patch)")

    def noise(self, batch, step):
        """(s [batch, 1], eps [batch, D]) of this replica at `step`: s log-uniform on [S_MIN, S_MAX], eps ~ N(0, I).

        This replica's rows of the draw for the global batch, a function of (seed, step) only, so 1 or N replicas
        take the same step (tfvae/models/base.py: replica_rows).
        """
        rows, start = replica_rows(batch)
        seed = fold(self.seed, BASE_STREAM, step)
        log_s = tf.random.stateless_uniform([rows, 1], seed, math.log(S_MIN), math.log(S_MAX))
        eps = tf.random.stateless_normal([rows, self.dim], fold_in(seed, 1, dtype=tf.int32))
        return tf.exp(log_s[start:start + batch]), eps[start:start + batch]

    def step_terms(self, data, step, training):
        """The MMSE loss on clean patches x [B, D] for y = x + s eps with (s, eps) from `noise`: denoising_loss, a
        scalar, the mean over patches and dimensions."""
        noise_sigma, eps = self.noise(tf.shape(data)[0], step)
        y = data + noise_sigma * eps
        c_skip, c_out, out = self._parts(y, noise_sigma)
        return {"denoising_loss": tf.reduce_mean(tf.square(out - (data - c_skip * y) / c_out))}

    def build(self, input_shape=None):
        self.net(tf.zeros([1, self.dim + 1]))  # creates every Dense layer's weights
        self.built = True

    def get_config(self):
        return {"dim": self.dim, "hidden_units": self.hidden_units, "data_scale": self.data_scale, "seed": self.seed,
                "precision": self.precision}


def fit_denoiser(patches, steps, batch_size=1024, hidden_units=(512, 512, 512), learning_rate=1e-3, seed=0,
                 verbose=2, strategy=None, jit_compile=True, model_dir=None, precision="float32"):
    """A DenoiserPrior trained for `steps` Adam steps (cosine-decayed learning rate) on DC-removed patches [N, D].

    strategy: a tf.distribute.Strategy (default: the current one); batch_size is the global batch. jit_compile: XLA
    where the strategy allows it (distribute.jit_possible). model_dir: checkpoints and logs there, and a killed run
    resumes from them (tfvae/training/fit.py); None: an in-memory fit. precision: what the MLP computes in
    (tfvae/precision.py).
    """
    patches = np.asarray(patches, np.float32)
    data_scale = float(np.sqrt(np.mean(patches ** 2)))
    table = tf.constant(patches)
    per_epoch = min(steps, 1000)

    def datasets(start_step):
        return step_batches(len(patches), batch_size, seed, lambda step, index: tf.gather(table, index),
                            start_step), None

    return training.fit(lambda: DenoiserPrior(patches.shape[1], hidden_units, data_scale=data_scale, seed=seed,
                                              precision=precision),
                        datasets, epochs=-(-steps // per_epoch), steps_per_epoch=per_epoch, run_dir=model_dir,
                        seed=seed, strategy=strategy,
                        learning_rate=keras.optimizers.schedules.CosineDecay(learning_rate, steps),
                        jit_compile=jit_compile, per_execution=1, precision=precision, verbose=verbose)
