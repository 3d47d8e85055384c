"""Test set-up: 2 logical CPU devices (for the 1-vs-2-replica tests), quiet logs, absl flags parsed."""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import flags  # noqa: E402

from tfvae import distribute  # noqa: E402

# Before TensorFlow initializes its devices: split the CPU so MirroredStrategy can run 2 replicas on it.
distribute.split_cpu(2)
flags.FLAGS.mark_as_parsed()  # absl flags are unparsed under pytest; apps' main() reads their defaults



@pytest.fixture
def tiny_npz(tmp_path):
    """An npz data set of 64 train and 16 test 8x8 grey images with labels, as used by app tests."""
    import numpy as np  # pylint: disable=g-import-not-at-top

    rng = np.random.default_rng(0)
    path = tmp_path / "tiny.npz"
    np.savez(path, x_train=rng.integers(0, 256, (64, 8, 8), dtype=np.uint8),
             x_test=rng.integers(0, 256, (16, 8, 8), dtype=np.uint8),
             y_train=rng.integers(0, 10, 64), y_test=rng.integers(0, 10, 16))
    return str(path)
