"""Image files: listing a folder's, reading them into uint8 arrays and writing them back (PNG, JPEG, BMP, GIF, TIFF
through Pillow).

Every folder data set of tfvae (`folder:PATH` in tfvae/data/sources.py, the colorization images in
tfvae/colorization/data.py, the patch-prior images in tfvae/restoration/patch_data.py) lists its files with
`image_files`: recursively, sorted by the path relative to the folder (as a string, so `a/b.png` sorts after
`a-b.png` and `a.png`), keeping the names whose extension, in any case, is one of IMAGE_EXTENSIONS, and splits them
with `split_files`: `PATH/train` and `PATH/test` if both exist, else every TEST_EVERY-th file of the sorted list
(indices 9, 19, ...) is held out for testing.
"""

import os

import numpy as np
from PIL import Image, UnidentifiedImageError

from tfvae.data.errors import DataError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff")
HIGH_DEPTH_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N", "F")
TEST_EVERY = 10  # without train/ and test/ folders, files TEST_EVERY - 1, 2 TEST_EVERY - 1, ... are the test set


def image_files(folder):
    """The paths of the image files under folder: in it and in its subfolders at any depth (symbolic links to
    folders are not followed), sorted by path relative to folder; extensions in IMAGE_EXTENSIONS in any case."""
    found = []
    for parent, _, names in os.walk(folder):
        found += [os.path.join(parent, n) for n in names if n.lower().endswith(IMAGE_EXTENSIONS)]
    return sorted(found, key=lambda path: os.path.relpath(path, folder))


def split_files(folder):
    """(train files, test files) of a folder data set (module docstring); either list may be empty."""
    if all(os.path.isdir(os.path.join(folder, split)) for split in ("train", "test")):
        return image_files(os.path.join(folder, "train")), image_files(os.path.join(folder, "test"))
    files = image_files(folder)
    return ([f for i, f in enumerate(files) if i % TEST_EVERY != TEST_EVERY - 1],
            files[TEST_EVERY - 1::TEST_EVERY])


def read_image(path, channels=3):
    """An 8-bit image file -> uint8 [H, W, channels] (channels 1: grey, 3: RGB; alpha is dropped).

    channels=None keeps what the file holds: [H, W, 1] when every pixel is grey (R = G = B), else [H, W, 3].

    Raises DataError for a missing or unreadable file and for 16-bit or floating-point images.
    """
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode in HIGH_DEPTH_MODES:
                raise DataError(f"{path} has {image.mode} pixels (16-bit or float); only 8-bit images are supported")
            pixels = np.asarray(image.convert("L" if channels == 1 else "RGB"))
            if channels is None and (pixels[..., :1] == pixels).all():
                return pixels[..., :1]
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except DataError:
        raise
    except (UnidentifiedImageError, OSError, ValueError):
        raise DataError(f"{path} is not a readable image") from None
    return pixels[..., None] if channels == 1 else pixels


def write_image(path, pixels):
    """Writes uint8 [H, W] or [H, W, C] (C = 1 or 3) to path, in the format of its extension, atomically."""
    extension = os.path.splitext(path)[1].lower()
    if extension not in IMAGE_EXTENSIONS:
        raise DataError(f"{path}: unknown image extension; use one of {', '.join(IMAGE_EXTENSIONS)}")
    pixels = np.asarray(pixels)
    pixels = pixels[..., 0] if pixels.ndim == 3 and pixels.shape[-1] == 1 else pixels
    tmp = os.path.join(os.path.dirname(os.path.abspath(path)), f".{os.path.basename(path)}.tmp{extension}")
    try:
        Image.fromarray(pixels).save(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
