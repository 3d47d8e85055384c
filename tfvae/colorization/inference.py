"""Colourizing images of any size: `tfvae.colorize(image)`, `segment`, `sample_colorings`, and the trained model.

Every function takes one image [H, W] or [H, W, C], or a batch of same-size images [B, H, W, C], with C = 1 (grey)
or 3 (RGB, whose colour is dropped), uint8 (0..255) or float ([0, 1]); sides of at least the model's `min_side` (32 for the shipped one). They are
TensorFlow ops throughout, so they run eagerly, inside `tf.data.Dataset.map` and in the exported SavedModel; where
the rank or size is known only when the graph runs, bad input fails then with the same messages.

The model is the one shipped in the package (SHIPPED_FILE, made by the commands in BUILD.md) unless one is passed:
`load_colorizer(source)` takes a .keras file (a model_dir of apps.train --model=colorize is restored by its family:
tfvae/families/colorize.py, `FAMILY.load`).
"""

import functools
import os

import keras
import tensorflow as tf

from tfvae.colorization import colour
from tfvae.models.colorizer import Colorizer  # registers the class that .keras files name

SHIPPED_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "colorizer.keras")


@functools.lru_cache(maxsize=8)
def load_colorizer(source=None):
    """The Colorizer of `source`, loaded once: None (the shipped model) or a .keras file."""
    source = source or SHIPPED_FILE
    if not os.path.isfile(source):
        raise FileNotFoundError(f"no colorizer at {source}: train one with apps.train --model=colorize (BUILD.md)")
    model = keras.models.load_model(source, compile=False)
    if not isinstance(model, Colorizer):
        raise ValueError(f"{source} holds a {type(model).__name__}, not a Colorizer")
    return model


def _model(model):
    """model, or the shipped one, loaded eagerly even when first asked for inside a graph (tf.data.Dataset.map)."""
    if model is not None:
        return model
    with tf.init_scope():
        return load_colorizer()


def as_batch(image, min_side):
    """image (module docstring) -> (float32 RGB [B, H, W, 3] in [0, 1], the leading shape to give results:
    [H, W] or [B, H, W]). Checks rank, channels and size now where they are known, else when the graph runs."""
    image = tf.convert_to_tensor(image)
    if image.dtype != tf.uint8 and not image.dtype.is_floating:
        raise ValueError(f"image must be uint8 (0..255) or float ([0, 1]), got dtype {image.dtype.name}")
    rank = image.shape.rank
    if rank is not None and rank not in (2, 3, 4):
        raise ValueError(f"image must be [H, W], [H, W, C] or [B, H, W, C], got shape {image.shape}")
    if rank is not None and rank >= 3 and image.shape[-1] is not None and image.shape[-1] not in (1, 3):
        raise ValueError(f"image must have 1 (grey) or 3 (RGB) channels, got {image.shape[-1]} (convert RGBA first)")
    if rank is not None and None not in image.shape[-3 + (rank == 2):][:2] and \
            min(image.shape[-3 + (rank == 2):][:2]) < min_side:
        raise ValueError(f"image is {image.shape}: both sides must be at least {min_side} pixels (the network "
                         "halves the resolution and needs a 4x4 map at its deepest)")
    shape = tf.shape(image)
    dynamic_rank = tf.size(shape)
    checks = [tf.debugging.assert_equal((dynamic_rank >= 2) & (dynamic_rank <= 4), True,
                                        message="image must be [H, W], [H, W, C] or [B, H, W, C]")]
    with tf.control_dependencies(checks):
        shape4 = tf.switch_case(dynamic_rank - 2, [lambda: tf.stack([1, shape[0], shape[1], 1]),
                                                   lambda: tf.concat([[1], shape[:3]], 0),
                                                   lambda: shape[:4]])
    checks = [tf.debugging.assert_equal((shape4[3] == 1) | (shape4[3] == 3), True,
                                        message="image must have 1 (grey) or 3 (RGB) channels (convert RGBA first)"),
              tf.debugging.assert_greater_equal(tf.minimum(shape4[1], shape4[2]), min_side, message=(
                  f"image sides must be at least {min_side} pixels (the network halves the resolution and needs a "
                  "4x4 map at its deepest)"))]
    with tf.control_dependencies(checks):
        batch = tf.ensure_shape(tf.reshape(image, shape4), [None, None, None, None])
    lead = tf.cond(dynamic_rank == 4, lambda: shape4[:3], lambda: shape4[1:3])
    return colour.to_float_rgb(batch), lead


def _like(rgb, lead, dtype):
    """RGB [B, H, W, 3] in [0, 1] -> [*lead, 3] in the input's kind: uint8 for uint8 input, else float32 [0, 1]."""
    rgb = tf.reshape(rgb, tf.concat([lead, [3]], 0))
    return colour.to_uint8(rgb) if dtype == tf.uint8 else rgb


def colorize(image, model=None):
    """The colourized image: [..., H, W, 3], uint8 for uint8 input, else float32 in [0, 1] (module docstring)."""
    model = _model(model)
    image = tf.convert_to_tensor(image)
    rgb, lead = as_batch(image, model.min_side)
    return _like(model.colorize(rgb), lead, image.dtype)


def segment(image, model=None):
    """The latent segmentation, the per-pixel mode of P(z|x): int32 [..., H, W] in 0..K-1."""
    model = _model(model)
    rgb, lead = as_batch(image, model.min_side)
    return tf.reshape(model.segment(rgb), lead)


def sample_colorings(image, count, seed, model=None):
    """count colourings of ONE image from z ~ P(z|x) (Colorizer.sample_colorings), the same for the same seed:
    ([count, H, W, 3] in the input's kind, labels int32 [count, H, W])."""
    model = _model(model)
    image = tf.convert_to_tensor(image)
    rgb, lead = as_batch(image, model.min_side)
    tf.debugging.assert_equal(tf.shape(rgb)[0], 1, message="sample_colorings takes one image")
    images, labels = model.sample_colorings(rgb[:1], count, seed)
    return _like(images, tf.concat([[count], lead[-2:]], 0), image.dtype), labels
