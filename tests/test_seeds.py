"""tfvae/seeds.py: every stream gives exactly the seeds of the formulas it replaced (written out here as they were
in release 0.1.0), so trained weights, resumed runs and samples keep their numbers."""

import numpy as np
import pytest
import tensorflow as tf

from tfvae import seeds

fold_in = tf.random.experimental.stateless_fold_in
RUN_SEEDS = (0, 7, 2 ** 40 + 3)
COUNTERS = ((), (3,), (-1,), (5, -2), (-2, 4, -1))


def old_model_seed(seed, *counters):  # tfvae/models/vae.py: stateless_seed
    pair = tf.constant([seed, 2], tf.int64)
    for c in counters:
        pair = fold_in(pair, tf.cast(c, tf.int64))
    return pair


def old_data_seed(seed, *counters):  # tfvae/data/pipeline.py: _seed
    pair = tf.stack([tf.cast(seed, tf.int64), tf.cast(1, tf.int64)])
    for c in counters:
        pair = fold_in(pair, tf.cast(c, tf.int64))
    return pair


def equal(a, b):
    return np.array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("seed", RUN_SEEDS)
@pytest.mark.parametrize("counters", COUNTERS)
def test_model_and_data_streams_are_the_old_formulas(seed, counters):
    for new, old in ((seeds.model_seed, old_model_seed), (seeds.data_seed, old_data_seed)):
        got = new(seed, *counters)
        assert got.dtype == tf.int64 and got.shape == [2]
        assert equal(got, old(seed, *counters))


def test_known_values():
    """Fixed numbers of release 0.1.0 (they pin TensorFlow's fold-in too: if it changed, every draw would)."""
    assert seeds.model_seed(7, 3, -1).numpy().tolist() == [-9153670923920579416, -1]
    assert seeds.data_seed(7, 2, 11).numpy().tolist() == [7481241012475045513, 11]
    assert seeds.tfp_seed(2 ** 40 + 9).numpy().tolist() == [512, 9]
    assert seeds.fold(7, seeds.BASE_STREAM, 2, dtype=tf.int32).numpy().tolist() == [-60841913, 2]  # seed_pair(7, 2)
    assert seeds.fold_in(seeds.model_seed(7, 5), 1, dtype=tf.int32).numpy().tolist() == [-1507470582, 1]  # M2


def test_int32_folds_are_the_old_python_int_folds_and_differ_from_int64_ones():
    """stateless_fold_in draws the new key in the counter's dtype: Python ints (int32) gave other keys than int64."""
    base = old_model_seed(3, 9)
    for c in (0, 1, -1, 12):
        assert equal(seeds.fold_in(base, c, dtype=tf.int32), fold_in(base, c))  # M2, evaluation, denoiser eps
        assert not equal(seeds.fold_in(base, c), fold_in(base, c))
    # tfvae/models/colorizer.py seed_pair(seed, counter), with the seed a Python int or an int64 tensor
    for seed in (0, 5, tf.constant(2 ** 33, tf.int64)):
        old = fold_in(tf.stack([tf.cast(seed, tf.int64), tf.constant(0, tf.int64)]), 2)
        assert equal(seeds.fold(seed, seeds.BASE_STREAM, 2, dtype=tf.int32), old)


def test_base_stream_and_pairs_are_the_old_inline_seeds():
    for seed, step in ((0, 0), (4, 17), (9, tf.constant(3, tf.int64))):
        # the patch priors' training noise: fold_in([seed, 0], int64 step), then (denoiser eps) an int32 1
        old = fold_in(tf.constant([seed, 0], tf.int64), tf.cast(step, tf.int64))
        assert equal(seeds.fold(seed, seeds.BASE_STREAM, step), old)
        assert equal(seeds.fold_in(seeds.fold(seed, seeds.BASE_STREAM, step), 1, dtype=tf.int32), fold_in(old, 1))
    # PixelCNN sampling: fold_in(stack([seed, level]), int64 t)
    old = fold_in(tf.stack([tf.cast(6, tf.int64), tf.constant(1, tf.int64)]), tf.cast(4, tf.int64))
    assert equal(seeds.fold_in(seeds.pair(6, 1), 4), old)
    # [seed, k] lists (static binarization, the GMM's k-means++ seeding) draw what the int64 pair draws
    for seed, k in ((3, 0), (8, 5)):
        assert equal(tf.random.stateless_uniform([7], seed=seeds.pair(seed, k)),
                     tf.random.stateless_uniform([7], seed=[seed, k]))
        logits = tf.math.log([[0.1, 0.2, 0.3, 0.4]])
        assert equal(tf.random.stateless_categorical(logits, 5, seed=seeds.pair(seed, k)),
                     tf.random.stateless_categorical(logits, 5, seed=[seed, k]))


def test_tfp_seed_is_lossless_and_the_old_formula():
    for seed in (0, 1, 2 ** 31 - 1, 2 ** 31, 2 ** 40 + 12345):
        pair = seeds.tfp_seed(seed).numpy()
        assert pair.dtype == np.int32 and int(pair[0]) * 2 ** 31 + int(pair[1]) == seed
        assert pair.tolist() == [seed // 2 ** 31, seed % 2 ** 31]
    assert equal(seeds.tfp_seed(tf.constant(2 ** 35 + 2, tf.int64)), seeds.tfp_seed(2 ** 35 + 2))


def test_tensor_counters_in_a_graph_give_the_eager_seeds():
    """optimizer.iterations is an int64 variable read inside train_step's graph: the same keys as Python ints."""
    step = tf.Variable(41, dtype=tf.int64)
    traced = tf.function(lambda: (seeds.model_seed(5, step), seeds.data_seed(5, step // 10, step),
                                  seeds.fold_in(seeds.model_seed(5, step), 1, dtype=tf.int32)))()
    assert equal(traced[0], seeds.model_seed(5, 41))
    assert equal(traced[1], seeds.data_seed(5, 4, 41))
    assert equal(traced[2], seeds.fold_in(seeds.model_seed(5, 41), 1, dtype=tf.int32))


def test_streams_and_counters_give_different_seeds():
    keys = {tuple(k.numpy()) for k in (seeds.model_seed(0), seeds.data_seed(0), seeds.pair(0, seeds.BASE_STREAM),
                                       seeds.model_seed(0, 1), seeds.data_seed(0, 1), seeds.model_seed(0, 1, 0),
                                       seeds.model_seed(0, 0, 1), seeds.model_seed(1, 1))}
    assert len(keys) == 8
