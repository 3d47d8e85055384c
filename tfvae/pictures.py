"""Image grids as PNG files (samples.png, reconstructions.png)."""

import os

import numpy as np
import tensorflow as tf

from tfvae.data.pixels import to_display


def grid(images, columns):
    """Images [N, H, W, C] with values in [0, 1] -> one uint8 picture [rows * (H + 1) + 1, columns * (W + 1) + 1, C]
    with 1-pixel grey borders; missing cells stay grey."""
    images = np.clip(np.asarray(images, np.float32), 0.0, 1.0)
    n, h, w, c = images.shape
    rows = -(-n // columns)
    canvas = np.full((rows * (h + 1) + 1, columns * (w + 1) + 1, c), 0.5, np.float32)
    for i, image in enumerate(images):
        r, k = divmod(i, columns)
        canvas[1 + r * (h + 1):(r + 1) * (h + 1), 1 + k * (w + 1):(k + 1) * (w + 1)] = image
    return np.round(canvas * 255).astype(np.uint8)


def write_png(path, picture):
    """Writes a uint8 [H, W, C] picture (C = 1, 3 or 4) atomically."""
    tmp = path + ".tmp"
    tf.io.write_file(tmp, tf.io.encode_png(picture))
    os.replace(tmp, path)


def write_model_pictures(model, test_images, model_dir, count=64, seed=0):
    """samples.png (count draws from the model) and reconstructions.png (rows of test images, each followed by its
    reconstruction) in model_dir. test_images: float [N, H, W, C] in the model's pixel representation."""
    _, samples = model.sample(count, seed)
    write_png(os.path.join(model_dir, "samples.png"), grid(to_display(samples.numpy(), model.config.pixels), 8))
    write_reconstructions(model, test_images, model_dir, count)


def write_reconstructions(model, test_images, model_dir, count=64):
    """reconstructions.png in model_dir: rows of test images, each followed by the row of model(images)."""
    columns = 8
    originals = np.asarray(test_images[:count // 2 // columns * columns])
    reconstructions = model(originals).numpy()
    h, w, c = originals.shape[1:]
    # [rows, 2, columns, H, W, C]: each row of originals followed by the row of their reconstructions
    rows = np.stack([originals.reshape(-1, columns, h, w, c), reconstructions.reshape(-1, columns, h, w, c)], 1)
    pairs = to_display(rows.reshape(-1, h, w, c), model.config.pixels)
    write_png(os.path.join(model_dir, "reconstructions.png"), grid(pairs, columns))
