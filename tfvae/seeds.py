"""Stateless seeds: every random draw in tfvae is a pure function of a run seed and integer counters.

A draw's seed is an int64 pair [2], the key of TensorFlow's stateless generators (tf.random.stateless_*). It starts
as the pair (seed, stream) and takes in counters one at a time by tf.random.experimental.stateless_fold_in:

    fold(seed, stream, c_1, ..., c_n) = fold_in(... fold_in([seed, stream], c_1) ..., c_n)

The stream keeps draws that share a run seed and counters apart:

- DATA_STREAM (1): the input pipelines (tfvae/data/pipeline.py, tfvae/colorization/data.py): the permutation of
  epoch e is data_seed(seed, e), the pixel noise and crops of step s are data_seed(seed, e, s), an evaluation batch i
  is data_seed(seed, -1, i).
- MODEL_STREAM (2): the models' own noise: the reparameterization noise of step s is model_seed(seed, s) (VAE, CVAE,
  Colorizer; M2 folds 0 and 1 in after it), codebook restarts model_seed(seed, s, level), evaluation noise counters
  below 0 (-1 for test_step, -2 and -3 in tfvae/evaluation.py).
- BASE_STREAM (0): draws seeded by a seed alone: static binarization (pair(seed, 0)), the patch priors' training
  noise (fold(seed, 0, step)), and the seeded draws of the Colorizer's sample_colorings and shuffle_costs.

Some draws use the second entry of the pair for something other than a stream, to keep the numbers they always gave:
PixelCNN ancestral sampling draws position t of level l with fold(seed, l, t), and the GMM's k-means++ seeding draws
line k with pair(seed, k).

A counter can be a Python int or an integer tensor (e.g. optimizer.iterations), so the same function serves eager code
and tf.function graphs, and a resumed run draws what the uninterrupted one drew.

Counters are folded in as int64. stateless_fold_in draws the new key in the counter's dtype, so the same counter
folded as int32 gives another key: `dtype=tf.int32` keeps the keys of the draws that always folded Python ints
(int32) in: M2's labelled and unlabelled noise, the ELBO noise of tfvae/evaluation.py, the Colorizer's seeded draws
and the denoiser prior's eps.
"""

import tensorflow as tf

BASE_STREAM = 0  # seeded by the seed alone (module docstring)
DATA_STREAM = 1  # folded into stateless seeds so data noise is independent of model noise
MODEL_STREAM = 2  # folded into stateless seeds so model noise is independent of data noise


def pair(seed, stream):
    """The int64 [2] pair (seed, stream); seed and stream Python ints or integer scalar tensors."""
    return tf.stack([tf.cast(seed, tf.int64), tf.cast(stream, tf.int64)])


def fold_in(key, *counters, dtype=tf.int64):
    """An int64 [2] seed: the int [2] seed `key` with integer counters folded in, in order, each cast to `dtype`
    (tf.int64, or tf.int32 for the draws listed in the module docstring); no counters: key itself, as int64."""
    for counter in counters:
        key = tf.random.experimental.stateless_fold_in(key, tf.cast(counter, dtype))
    return tf.cast(key, tf.int64)


def fold(seed, stream, *counters, dtype=tf.int64):
    """The int64 [2] seed of stream `stream` of a run seed, with counters folded in as `dtype` (module docstring)."""
    return fold_in(pair(seed, stream), *counters, dtype=dtype)


def data_seed(seed, *counters):
    """int64 [2]: the input pipelines' seed for these counters (epoch, step, batch), fold(seed, DATA_STREAM, ...)."""
    return fold(seed, DATA_STREAM, *counters)


def model_seed(seed, *counters):
    """int64 [2]: the models' noise seed for these counters (step, chunk), fold(seed, MODEL_STREAM, ...)."""
    return fold(seed, MODEL_STREAM, *counters)


def tfp_seed(seed):
    """An integer seed (Python int or int64 tensor, >= 0) -> the int32 [2] seed TFP's samplers take, losslessly:
    (seed // 2^31, seed mod 2^31), both in the int32 range for any seed below 2^62."""
    seed = tf.cast(seed, tf.int64)
    return tf.cast(tf.stack([seed // 2 ** 31, seed % 2 ** 31]), tf.int32)
