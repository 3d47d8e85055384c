"""Colour image data for colorization: whole images of any size in memory, random crops for training.

`load("folder:PATH[,PATH2...]", crop)` reads every image under each PATH, listed and split by
tfvae.data.images.split_files (recursively, sorted by relative path): `PATH/train` and `PATH/test` are the splits if
both exist; otherwise every 10th image of the sorted list (indices 9, 19, ...) is held out for testing. Of the
training images of all folders together, every VALIDATION_EVERY-th (indices 19, 39, ...) is set aside for validation
(choices and monitoring during training; none when there are fewer than VALIDATION_EVERY): test images are only
measured. Grey pictures stored as RGB (R = G = B everywhere) are left out of every split.

Training crops are augmented by scale and by flips: crop i of a step takes a square of side S uniform in
[crop, min(MAX_ZOOM * crop, shorter side of its image)] at a uniform position, resizes it to crop x crop (bilinear,
tf.image.crop_and_resize; S = crop takes the pixels as they are) and flips it horizontally with probability 1/2.
Batches are a pure function of (seed, step), like tfvae/data/pipeline.py: step s takes the images at positions of
epoch e = s // steps_per_epoch of a stateless permutation seeded by (seed, e), and the square and flip of each crop
are seeded by (seed, s). A resumed run therefore sees the batches of an uninterrupted one.
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
VALIDATION_EVERY = 20  # training images 19, 39, ... of the sorted list are the validation images
MAX_ZOOM = 2.0  # a crop shows a square of up to MAX_ZOOM times its side, scaled down


@dataclasses.dataclass
class ColourImages:
    """RGB images as uint8 arrays [H_i, W_i, 3] of varying sizes; `crop`: the side of training crops."""

    name: str
    x_train: list
    x_test: list
    crop: int
    train_files: list = None
    test_files: list = None
    x_val: list = dataclasses.field(default_factory=list)
    val_files: list = dataclasses.field(default_factory=list)
    y_train = y_test = None
    num_classes = None

    @property
    def shape(self):
        """[H, W, C] of one training crop."""
        return (self.crop, self.crop, 3)

    @property
    def examples_per_epoch(self):
        return len(self.x_train) * CROPS_PER_IMAGE


def folders(spec):
    """The folders of `folder:PATH[,PATH2...]`, each checked to exist."""
    if not spec or not spec.startswith("folder:"):
        raise DataError(f"--dataset={spec}: colorization trains on colour images: use --dataset=folder:PATH "
                        "(several folders: folder:PATH1,PATH2)")
    paths = [p for p in spec[len("folder:"):].split(",") if p]
    missing = [p for p in paths if not os.path.isdir(p)]
    if not paths or missing:
        raise DataError(f"--dataset={spec}: no such directory{'' if not missing else ': ' + missing[0]}")
    return paths


def coloured(files):
    """(uint8 RGB images, their files) of the files that hold colour: a grey picture stored as RGB (R = G = B
    everywhere, e.g. set14/man) has no colour to learn or to score, and its perfect grey PSNR would swamp a mean."""
    images = [(read_image(f, 3), f) for f in files]
    kept = [(x, f) for x, f in images if not ((x[..., 0] == x[..., 1]).all() and (x[..., 1] == x[..., 2]).all())]
    return [x for x, _ in kept], [f for _, f in kept]


def load(spec, crop):
    """The ColourImages of `folder:PATH[,PATH2...]` with training crops of side `crop` (module docstring)."""
    paths = folders(spec)
    if crop <= 0:
        raise DataError(f"--image_size={crop}: must be a positive crop side")
    train_files, test_files = [], []
    for path in paths:
        train, test = split_files(path)
        train_files, test_files = train_files + train, test_files + test
    if not train_files or not test_files:
        raise DataError(f"--dataset={spec}: needs images for both train and test (found {len(train_files)} and "
                        f"{len(test_files)}; at least {TEST_EVERY} images, or train/ and test/)")
    val_files = train_files[VALIDATION_EVERY - 1::VALIDATION_EVERY]
    train_files = [f for i, f in enumerate(train_files) if i % VALIDATION_EVERY != VALIDATION_EVERY - 1]
    (train, train_files), (test, test_files), (val, val_files) = (
        coloured(files) for files in (train_files, test_files, val_files))
    small = [(f, x) for f, x in zip(train_files, train) if min(x.shape[:2]) < crop]
    if small:
        raise DataError(f"--image_size={crop}: {len(small)} training images are smaller, e.g. {small[0][0]} "
                        f"({small[0][1].shape[1]}x{small[0][1].shape[0]})")
    name = "+".join(os.path.basename(os.path.normpath(p)) for p in paths)
    return ColourImages(name, train, test, crop, train_files, test_files, val, val_files)


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
    padded = tf.constant(packed.shape[1:3], tf.float32)
    packed, sizes = tf.constant(packed), tf.constant(sizes, tf.float32)
    crop = data.crop

    def batch(step, index):
        index = tf.cast(index % n, tf.int32)  # crop i of the epoch is of image i mod N
        u = tf.random.stateless_uniform([batch_size, 4], seed=data_seed(seed, step // per_epoch, step))
        size = tf.gather(sizes, index)  # [B, 2]
        largest = tf.minimum(MAX_ZOOM * crop, tf.reduce_min(size, axis=1))  # [B]
        side = tf.floor(crop + u[:, 0] * (largest - crop + 1))  # [B], in crop..largest
        side = tf.minimum(side, largest)  # u < 1, but float32 rounding can reach largest + 1
        corner = tf.floor(u[:, 1:3] * (size - side[:, None] + 1))  # [B, 2] top, left
        boxes = tf.concat([corner, corner + side[:, None] - 1], 1) / tf.tile(padded - 1, [2])  # y1, x1, y2, x2
        images = tf.image.crop_and_resize(packed, boxes, index, [crop, crop])  # uint8 in, float32 out
        flip = (u[:, 3] < 0.5)[:, None, None, None]
        return tf.where(flip, tf.reverse(images, [2]), images) / 255.0

    return step_batches(crops, batch_size, seed, batch, start_step)


def centre_crops(images, crop):
    """float32 [N, crop, crop, 3] in [0, 1]: the centre crop of each image (for validation during training)."""
    crops = []
    for x in images:
        top, left = (x.shape[0] - crop) // 2, (x.shape[1] - crop) // 2
        crops.append(x[max(top, 0): max(top, 0) + crop, max(left, 0): max(left, 0) + crop])
    if any(c.shape[:2] != (crop, crop) for c in crops):
        raise DataError(f"--image_size={crop}: some validation images are smaller than the crop")
    return np.stack(crops).astype(np.float32) / 255.0


def eval_dataset(data, batch_size):
    """Centre crops of the validation images, batched; None when there are none."""
    if not data.x_val:
        return None
    return tf.data.Dataset.from_tensor_slices(centre_crops(data.x_val, data.crop)).batch(batch_size)
