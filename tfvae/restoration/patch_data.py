"""Patches for training patch priors: grey images read from a folder, and patches drawn uniformly from them.

A draw of `count` patches picks (image, row, column) uniformly among all p x p positions of all images, the same
for the same seed, without a loop over patches (sliding-window views). Pixels are on the [0, 1] scale of 8-bit
images divided by 255, the scale of the priors in tfvae.restoration.
"""

import os

import numpy as np

from tfvae.data import DataError, read_image
from tfvae.data.images import IMAGE_EXTENSIONS, image_files


def read_grey_images(folder):
    """The image files under folder (tfvae.data.images.image_files: recursively, sorted by relative path), as grey
    float32 arrays [H, W] in [0, 1]; DataError if there are none."""
    if folder.startswith("folder:"):
        folder = folder[len("folder:"):]
    if not os.path.isdir(folder):
        raise DataError(f"--data={folder}: no such folder")
    files = image_files(folder)
    if not files:
        raise DataError(f"--data={folder}: no image files ({', '.join(IMAGE_EXTENSIONS)}) in it")
    return [read_image(f, channels=1)[..., 0].astype(np.float32) / 255 for f in files]


def sample_patches(images, count, patch_size, seed):
    """count patches [count, p * p] (row-major, like tfvae.restoration.patches.extract) drawn uniformly from images.

    images: grey arrays [H, W], each at least p x p; the draw is with replacement and a function of seed alone.
    """
    positions = [(h - patch_size + 1) * (w - patch_size + 1) for h, w in (image.shape for image in images)]
    if min(positions) < 1:
        raise DataError(f"every image must be at least {patch_size}x{patch_size} for {patch_size}x{patch_size} patches")
    rng = np.random.default_rng(seed)
    per_image = rng.multinomial(count, np.asarray(positions) / sum(positions))  # uniform over all positions
    drawn = []
    for image, n in zip(images, per_image):  # one vectorized draw per image
        windows = np.lib.stride_tricks.sliding_window_view(image, (patch_size, patch_size))  # [H-p+1, W-p+1, p, p]
        rows = rng.integers(0, windows.shape[0], n)
        cols = rng.integers(0, windows.shape[1], n)
        drawn.append(windows[rows, cols].reshape(n, patch_size * patch_size))  # n may be 0
    patches = np.concatenate(drawn)
    return patches[rng.permutation(count)]  # no order by image
