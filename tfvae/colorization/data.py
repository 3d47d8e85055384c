"""Colour image data for colorization: whole images of any size in memory, random crops for training.

`load("folder:PATH", crop)` reads every image under PATH, listed and split by tfvae.data.images.split_files
(recursively, sorted by relative path): `PATH/train` and `PATH/test` are the splits if both exist; otherwise every
10th image of the sorted list (indices 9, 19, ...) is held out for testing, the rule the README's colorization
numbers use.

Training batches are a pure function of (seed, step), like tfvae/data/pipeline.py: step s takes the images at
positions of epoch e = s // steps_per_epoch of a stateless permutation seeded by (seed, e), and a crop position and
horizontal flip per image seeded by (seed, s). A resumed run therefore sees the batches of an uninterrupted one.
"""

import dataclasses
import os

import numpy as np
import tensorflow as tf

from tfvae.data.errors import DataError
from tfvae.data.images import TEST_EVERY, read_image, split_files
from tfvae.data.pipeline import step_batches, steps_per_epoch
from tfvae.seeds import data_seed

CROPS_PER_IMAGE = 8  # an epoch takes this many random crops of every training image


@dataclasses.dataclass
class ColourImages:
    """RGB images as uint8 arrays [H_i, W_i, 3] of varying sizes; `crop`: the side of training crops."""

    name: str
    x_train: list
    x_test: list
    crop: int
    train_files: list = None
    test_files: list = None
    y_train = y_test = None
    num_classes = None

    @property
    def shape(self):
        """[H, W, C] of one training crop."""
        return (self.crop, self.crop, 3)

    @property
    def examples_per_epoch(self):
        return len(self.x_train) * CROPS_PER_IMAGE


def load(spec, crop):
    """The ColourImages of `folder:PATH` with training crops of side `crop`."""
    if not spec or not spec.startswith("folder:"):
        raise DataError(f"--dataset={spec}: colorization trains on colour images: use --dataset=folder:PATH")
    path = spec[len("folder:"):]
    if not os.path.isdir(path):
        raise DataError(f"--dataset={spec}: no such directory")
    if crop <= 0:
        raise DataError(f"--image_size={crop}: must be a positive crop side")
    train_files, test_files = split_files(path)
    if not train_files or not test_files:
        raise DataError(f"--dataset={spec}: needs images for both train and test (found {len(train_files)} and "
                        f"{len(test_files)}; at least {TEST_EVERY} images, or train/ and test/)")
    train, test = ([read_image(f, 3) for f in files] for files in (train_files, test_files))
    small = [f for f, x in zip(train_files, train) if min(x.shape[:2]) < crop]
    if small:
        raise DataError(f"--image_size={crop}: {len(small)} training images are smaller, e.g. {small[0]} "
                        f"({train[train_files.index(small[0])].shape[1]}x{train[train_files.index(small[0])].shape[0]})")
    return ColourImages(os.path.basename(os.path.normpath(path)), train, test, crop, train_files, test_files)


def _pack(images):
    """A list of uint8 [H_i, W_i, 3] -> (uint8 [N, max H, max W, 3] zero-padded, int32 sizes [N, 2])."""
    height, width = max(x.shape[0] for x in images), max(x.shape[1] for x in images)
    packed = np.zeros((len(images), height, width, 3), np.uint8)
    for i, x in enumerate(images):
        packed[i, : x.shape[0], : x.shape[1]] = x
    return packed, np.array([x.shape[:2] for x in images], np.int32)


def train_dataset(data, batch_size, seed, start_step=0):
    """float32 RGB crops [batch_size, crop, crop, 3] in [0, 1] for training steps start_step, start_step + 1, ...
    (tfvae.data.step_batches: a pure function of (seed, step), sharded by data over workers)."""
    n, crops = len(data.x_train), data.examples_per_epoch
    per_epoch = steps_per_epoch(crops, batch_size)
    packed, sizes = _pack(data.x_train)
    packed, sizes = tf.constant(packed), tf.constant(sizes)
    crop = data.crop

    def batch(step, index):
        index = index % n  # crop i of the epoch is of image i mod N
        u = tf.random.stateless_uniform([batch_size, 3], seed=data_seed(seed, step // per_epoch, step))
        corner = tf.cast(u[:, :2] * tf.cast(tf.gather(sizes, index) - crop + 1, tf.float32), tf.int32)  # [B, 2]
        rows = corner[:, :1] + tf.range(crop)  # [B, crop]
        cols = corner[:, 1:] + tf.range(crop)
        flip = u[:, 2:] < 0.5  # [B, 1]
        cols = tf.where(flip, tf.reverse(cols, [1]), cols)
        images = tf.gather(packed, index)  # [B, max H, max W, 3]
        images = tf.gather(images, rows, axis=1, batch_dims=1)  # [B, crop, max W, 3]
        images = tf.gather(images, cols, axis=2, batch_dims=1)  # [B, crop, crop, 3]
        return tf.cast(images, tf.float32) / 255.0

    return step_batches(crops, batch_size, seed, batch, start_step)


def centre_crops(images, crop):
    """float32 [N, crop, crop, 3] in [0, 1]: the centre crop of each image (for validation during training)."""
    crops = []
    for x in images:
        top, left = (x.shape[0] - crop) // 2, (x.shape[1] - crop) // 2
        crops.append(x[max(top, 0): max(top, 0) + crop, max(left, 0): max(left, 0) + crop])
    if any(c.shape[:2] != (crop, crop) for c in crops):
        raise DataError(f"--image_size={crop}: some test images are smaller than the crop")
    return np.stack(crops).astype(np.float32) / 255.0


def eval_dataset(data, batch_size):
    """Centre crops of the test images, batched."""
    return tf.data.Dataset.from_tensor_slices(centre_crops(data.x_test, data.crop)).batch(batch_size)
