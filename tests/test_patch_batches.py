"""tfvae/restoration/patches.py: pad_to_batches and map_batches, the row batching shared by the GMM and the flow prior:
batched results equal the unbatched ones for every N, whether N is a multiple of the batch size or not."""

import numpy as np
import pytest
import tensorflow as tf

from tfvae.restoration import patches
from tfvae.restoration.flow_prior import FlowPatchPrior
from tfvae.restoration.gmm import PatchGMM

D = 5  # values per patch


def rows(n, seed=0):
    return tf.constant(np.random.default_rng(seed).normal(size=(n, D)).astype(np.float32))


def per_row(y):
    """A row-wise function with an output of another width: [b, D] -> [b, 3]."""
    return tf.stack([tf.reduce_sum(y, -1), tf.reduce_max(y, -1), y[:, 0] * y[:, -1]], -1)


@pytest.mark.parametrize("n, batch_size", [(1, 4), (3, 4), (4, 4), (7, 4), (8, 4), (13, 3), (13, 13), (13, 20)])
def test_map_batches_equals_the_unbatched_function(n, batch_size):
    y = rows(n)
    np.testing.assert_array_equal(patches.map_batches(per_row, y, batch_size), per_row(y))
    np.testing.assert_array_equal(patches.map_batches(lambda b: 2.0 * b, y, batch_size), 2.0 * y)  # [N, D] out


def test_pad_to_batches_pads_with_zeros_and_masks_the_padding():
    y = rows(7)
    batches, mask = patches.pad_to_batches(y, 3)
    assert batches.shape == (3, 3, D) and mask.shape == (3, 3) and mask.dtype == tf.float32
    np.testing.assert_array_equal(tf.reshape(batches, [-1, D])[:7], y)
    np.testing.assert_array_equal(tf.reshape(batches, [-1, D])[7:], np.zeros((2, D)))
    np.testing.assert_array_equal(tf.reshape(mask, [-1]), [1] * 7 + [0] * 2)


def test_map_batches_in_a_graph_with_unknown_rows_and_a_tensor_batch_size():
    fn = tf.function(lambda y, b: patches.map_batches(per_row, y, b),
                     input_signature=[tf.TensorSpec([None, D]), tf.TensorSpec([], tf.int32)])
    for n in (2, 9, 16):
        y = rows(n, seed=n)
        np.testing.assert_array_equal(fn(y, tf.constant(4)), per_row(y))


def test_gmm_and_flow_prior_in_batches_equal_one_batch():
    rng = np.random.default_rng(1)
    dim = 4
    covariances = np.stack([a @ a.T + 0.1 * np.eye(dim) for a in rng.normal(size=(3, dim, dim))]).astype(np.float32)
    log_weights = np.log([0.2, 0.3, 0.5]).astype(np.float32)
    y = tf.constant(rng.normal(size=(11, dim)).astype(np.float32))
    one_batch = PatchGMM(log_weights, covariances, max_floats=10 ** 6)
    small_batches = PatchGMM(log_weights, covariances, max_floats=4 * dim * dim)  # batches of 4 rows: 3 batches
    assert small_batches._batch_size() == 4 and one_batch._batch_size() >= 11  # pylint: disable=protected-access
    np.testing.assert_allclose(small_batches.log_prob(y), one_batch.log_prob(y), rtol=1e-6)
    np.testing.assert_allclose(small_batches.denoise_patches(y, 0.3), one_batch.denoise_patches(y, 0.3), rtol=1e-6,
                               atol=1e-7)
    flow = FlowPatchPrior(dim + 1, layers=2, width=8)
    flow.build()
    training = rng.normal(size=(50, dim + 1)) * np.arange(1, dim + 2)
    flow.set_whitening(training - training.mean(1, keepdims=True))
    z = tf.constant(rng.normal(size=(6, dim + 1)).astype(np.float32))
    assert len(set(np.round(flow(z).numpy(), 4))) == 6  # a density that tells the patches apart
    np.testing.assert_allclose(flow.log_prob(z), np.concatenate([flow(z[:2]), flow(z[2:])]), rtol=1e-6)
