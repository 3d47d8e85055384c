"""The colorize family (tfvae/models/colorizer.py): colorization with a latent segmentation,
P(y|x) = sum_z P(z|x) P(y|z, x), trained on random crops of whole colour images (tfvae/colorization/data.py).

    python -m apps.train --model=colorize --dataset=folder:PATH[,PATH2] --precision=mixed_bfloat16    colorizations.png
    python -m apps.evaluate                    colour metrics and the segmentation's use on the held-out images
    python -m apps.colorize --colorizer=MODEL_DIR

SavedModel endpoints (the graph does all pre- and post-processing). `image` is one image [H, W] or [H, W, C], or a
batch of same-size images [B, H, W, C], C = 1 (grey) or 3 (RGB, whose colour is dropped), sides of at least the
model's minimum (32 for the shipped model):
- `colorize` (also `serving_default`): image (uint8) -> {image}: uint8 RGB [..., H, W, 3].
- `colorize_float`: image (float32 in [0, 1]) -> {image}: float32 RGB in [0, 1].
- `segment`: image (uint8) -> {segments}: int32 [..., H, W], the mode of P(z|x) per pixel.
- `sample_colorings`: image (uint8, one image), count (int32), seed (int64) -> {images: uint8 [count, H, W, 3],
  segments: int32 [count, H, W]}: colourings from z ~ P(z|x); the same seed gives the same draws.
Wrong rank, channels or a too small image fail inside the graph with a message naming the problem.
"""

import os

import numpy as np
import tensorflow as tf

from tfvae import config as config_lib
from tfvae.colorization import colour, inference
from tfvae.colorization import data as colour_data
from tfvae.colorization import evaluation as colour_evaluation
from tfvae.colorization import pictures as colour_pictures
from tfvae.families.base import Family
from tfvae.models.colorizer import Colorizer

DEFAULT_CROP = 128  # the default --image_size of the training crops


class ColorizeFamily(Family):
    name = "colorize"
    config_class = config_lib.ColorizeConfig
    model_class = Colorizer
    description = "colorization with a latent segmentation, trained as a VAE"
    default_dataset = ""  # no default: --dataset=folder:PATH of colour images

    def load_data(self, dataset, image_size=0, channels=0, data_dir=None, download=False):
        """Whole colour images (ColourImages), random crops of side image_size (default DEFAULT_CROP)."""
        return colour_data.load(dataset, image_size or DEFAULT_CROP)

    def load(self, source=None):
        """A trained colorizer: None (the shipped model), a model_dir of apps.train --model=colorize, or a .keras
        file (inference.load_colorizer)."""
        if source and os.path.isdir(source):
            return self.restore_run(source)
        return inference.load_colorizer(source)

    def shape_before_data(self, image_size):
        return (image_size or DEFAULT_CROP, image_size or DEFAULT_CROP, 3)

    def examples_per_epoch(self, data):
        return data.examples_per_epoch

    def datasets(self, data, config, train_config, start_step, validate=True):
        train = colour_data.train_dataset(data, train_config.batch_size, config.seed, start_step)
        return train, (colour_data.eval_dataset(data, train_config.batch_size) if validate else None)  # validation

    def write_pictures(self, model, data, model_dir):
        colour_pictures.write_examples(model, data.x_test[:8], os.path.join(model_dir, "colorizations.png"))
        return ["colorizations.png"]

    def evaluate(self, model, data, options, best_of=8):
        """Colour metrics and the segmentation's use on the whole held-out images (tfvae/colorization/evaluation.py)."""
        images = data.x_test[:options.max_images or None]
        colorize = lambda grey: colour.to_uint8(model.colorize(grey)).numpy()  # noqa: E731
        sample = lambda grey, n: np.concatenate([inference.sample_colorings(grey, 1, seed, model)[0].numpy()  # noqa: E731
                                                 for seed in range(n)])
        return {"num_images": len(images), **colour_evaluation.method_metrics(colorize, images, sample, best_of),
                **colour_evaluation.segmentation_metrics(model, images)}

    def signatures(self, model):
        image = tf.TensorSpec(None, tf.uint8, name="image")

        def colorize(image):
            return {"image": inference.colorize(image, model)}

        def segment(image):
            return {"segments": inference.segment(image, model)}

        def sample_colorings(image, count, seed):
            images, segments = inference.sample_colorings(image, count, seed, model)
            return {"images": images, "segments": segments}

        return {
            "colorize": (colorize, [image]),
            "colorize_float": (colorize, [tf.TensorSpec(None, tf.float32, name="image")]),
            "segment": (segment, [image]),
            "sample_colorings": (sample_colorings, [image, tf.TensorSpec([], tf.int32, name="count"),
                                                    tf.TensorSpec([], tf.int64, name="seed")]),
        }


FAMILY = ColorizeFamily()
