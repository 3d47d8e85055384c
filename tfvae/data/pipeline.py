"""tf.data pipelines: uint8 images in memory -> float32 batches in the pixel representation a likelihood needs.

Pixel representations (`pixels`), from uint8 k in 0..255:
- `dynamic_binary`: x ~ Bernoulli(k / 255), a fresh draw every training step; the test set is binarized once.
- `static_binary`: x ~ Bernoulli(k / 255) drawn once per image with a fixed seed (train and test).
- `continuous`: x = k / 255 in [0, 1].
- `dequantized`: x = (k + u) / 256 with u ~ U[0, 1) fresh each step, for continuous densities on 8-bit data
  (Theis et al. 2016): -log p_discrete(k) <= -log p(x) + D log 256.
- `8bit`: x = k as float, for discrete likelihoods over {0, ..., 255}.

Training batches are a pure function of (seed, step): step s reads positions of epoch e = s // steps_per_epoch of a
stateless permutation seeded by (seed, e), and its pixel noise is seeded by (seed, s). A run restarted at step s
therefore sees exactly the batches the uninterrupted run would have seen, and the global batch is formed before
tf.distribute splits it, so 1 or N replicas see the same data.
"""

import numpy as np
import tensorflow as tf

from tfvae.data.errors import DataError
from tfvae.seeds import BASE_STREAM, data_seed, pair


def binarize(images, seed):
    """Draws x ~ Bernoulli(k / 255) once: uint8 [N, H, W, C] -> uint8 in {0, 255}, the same for the same seed."""
    u = tf.random.stateless_uniform(images.shape, seed=pair(seed, BASE_STREAM))
    return np.where(u.numpy() * 255.0 < images, 255, 0).astype(np.uint8)


def prepare(images, pixels, seed, train):
    """Per-data-set preparation: static binarization where `pixels` asks for it (and of every test set of binary
    data, so evaluation is deterministic). Train and test draws use different seeds."""
    if pixels == "static_binary" or (pixels == "dynamic_binary" and not train):
        return binarize(images, seed + (0 if train else 1))
    return images


def to_pixels(images, pixels, seed):
    """uint8 [B, H, W, C] -> float32 [B, H, W, C] in the representation `pixels`; seed: int [2] for the noise."""
    k = tf.cast(images, tf.float32)
    if pixels == "dynamic_binary":
        u = tf.random.stateless_uniform(tf.shape(k), seed=seed)
        return tf.cast(u * 255.0 < k, tf.float32)
    if pixels in ("static_binary", "continuous"):
        return k / 255.0
    if pixels == "dequantized":
        x = (k + tf.random.stateless_uniform(tf.shape(k), seed=seed)) / 256.0
        # In float32, k + u rounds up to k + 1 for u within 2^-17 of 1: keep x below the next level (and below 1).
        return tf.minimum(x, tf.math.nextafter((k + 1.0) / 256.0, 0.0))
    if pixels == "8bit":
        return k
    raise DataError(f"--pixels={pixels!r} is not a pixel representation")


def steps_per_epoch(num_examples, batch_size):
    if batch_size > num_examples:
        raise DataError(f"--batch_size={batch_size} is larger than the training set ({num_examples} images)")
    return num_examples // batch_size


def train_dataset(images, batch_size, pixels, seed, start_step=0, num_steps=None, labels=None):
    """Batches for training steps start_step, ..., start_step + num_steps - 1 (forever if num_steps is None).

    images: uint8 [N, H, W, C] (already `prepare`d); yields float32 x [batch_size, H, W, C], or (x, y) with labels.
    Every epoch is a fresh permutation; the last N mod batch_size images of it are dropped (drop_remainder).
    """
    per_epoch = steps_per_epoch(len(images), batch_size)
    images = tf.constant(images)
    labels = None if labels is None else tf.constant(labels, tf.int64)

    def batch(step, index):
        x = to_pixels(tf.gather(images, index), pixels, data_seed(seed, step // per_epoch, step))
        return x if labels is None else (x, tf.gather(labels, index))

    return step_batches(len(images), batch_size, seed, batch, start_step, num_steps)


def step_batches(num_examples, batch_size, seed, make_batch, start_step=0, num_steps=None):
    """make_batch(step, index) for steps start_step, ..., start_step + num_steps - 1 (forever if num_steps is None).

    index [batch_size] (int64) holds the examples of step s: positions s mod E of the epoch e = s // E (E steps per
    epoch) of a stateless permutation of 0..num_examples-1 seeded by (seed, e). A batch is thus a pure function of
    (seed, step), whatever the replicas or workers (no tf.data shuffle, whose order changes when tf.distribute
    clones the pipeline); every in-memory training pipeline (images, code maps, patches) is built on this.
    """
    per_epoch = steps_per_epoch(num_examples, batch_size)

    def batch(step):
        epoch, within = step // per_epoch, step % per_epoch
        positions = within * batch_size + tf.range(batch_size, dtype=tf.int64)
        index = tf.random.experimental.index_shuffle(positions, data_seed(seed, epoch), num_examples - 1)
        return make_batch(step, index)

    stop = np.iinfo(np.int64).max if num_steps is None else start_step + num_steps
    steps = tf.data.Dataset.range(start_step, stop)
    batches = steps.map(batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return shard_by_data(batches).prefetch(tf.data.AUTOTUNE)


def shard_by_data(dataset):
    """dataset with tf.data auto-sharding by DATA: how every in-memory pipeline of tfvae is split over workers.

    Under MultiWorkerMirroredStrategy with W workers of R replicas, tf.distribute splits each global batch [B, ...]
    into W R slices of B / (W R) (its "legacy rebatch": these pipelines have no batch op to rewrite) and worker w
    keeps slices w, w + W, ... (a shard after the rebatch). Every worker thus builds the whole global batch of a step
    and uses only its part: the global batch is B, each example used once. With one replica per worker (the tested
    case) replica i gets slice i, as under MirroredStrategy in one process, so the replicas' noise slices (e.g.
    VAE.noise) pair with the same examples as on one device. FILE sharding does not apply: the images are in memory,
    not files read by tf.data.
    """
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return dataset.with_options(options)


def eval_dataset(images, batch_size, pixels, seed, labels=None):
    """All images once, in order, in batches (the last may be smaller); the same noise on every call."""
    ds = tf.data.Dataset.from_tensor_slices(images if labels is None else (images, labels)).batch(batch_size)

    def convert(i, element):
        x = element if labels is None else element[0]
        x = to_pixels(x, pixels, data_seed(seed, -1, i))
        return x if labels is None else (x, element[1])

    return ds.enumerate().map(convert, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
