"""Reading image files into uint8 arrays (PNG, JPEG, BMP, GIF, TIFF through Pillow)."""

import numpy as np
from PIL import Image, UnidentifiedImageError

from tfvae.data.errors import DataError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff")
HIGH_DEPTH_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N", "F")


def read_image(path, channels=3):
    """An 8-bit image file -> uint8 [H, W, channels] (channels 1: grey, 3: RGB; alpha is dropped).

    Raises DataError for a missing or unreadable file and for 16-bit or floating-point images.
    """
    try:
        with Image.open(path) as image:
            image.load()
            if image.mode in HIGH_DEPTH_MODES:
                raise DataError(f"{path} has {image.mode} pixels (16-bit or float); only 8-bit images are supported")
            pixels = np.asarray(image.convert("L" if channels == 1 else "RGB"))
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    except (UnidentifiedImageError, OSError, ValueError):
        raise DataError(f"{path} is not a readable image") from None
    return pixels[..., None] if channels == 1 else pixels
