"""The L2-regression baseline of the colorization benchmark: the colorizer's scene U-Net predicting ab directly.

    ab(x) = AB_SCALE * UNet(L / 50 - 1),    loss = mean_p ||ab(x)_p - y_p||^2 / AB_SCALE^2

Same backbone (config.hidden_units), crops, batch and steps as the latent-segmentation model it is compared with;
regression to the mean is what makes such a network's colours dull (Zhang et al. 2016), which the rebalanced AuC and
the colourfulness of the benchmark measure.
"""

import os

import keras
import tensorflow as tf

from tfvae import precision, runs, training
from tfvae.colorization import colour
from tfvae.colorization import data as colour_data
from tfvae.config import ColorizeConfig
from tfvae.data.pipeline import steps_per_epoch
from tfvae.models.base import ConfiguredModel, inputs_of
from tfvae.models.colorizer import AB_SCALE
from tfvae.nets.unet import UNet


@keras.saving.register_keras_serializable(package="tfvae")
class Regressor(ConfiguredModel):
    """L -> ab by least squares; `colorize` as the Colorizer's: any image [B, H, W, C] -> RGB [B, H, W, 3]."""

    CONFIG_CLASS = ColorizeConfig

    TERMS = ("mse",)
    LOSS = "mse"

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        with precision.networks(self.config.precision):
            self.scene = UNet(self.config.hidden_units, 2, name="scene")

    def chroma(self, lightness):
        return AB_SCALE * precision.to_float32(self.scene(lightness / 50.0 - 1.0))  # [B, H, W, 2]

    def colorize(self, image):
        lightness = colour.lightness(image)
        return colour.lab_to_rgb(tf.concat([lightness, self.chroma(lightness)], -1))

    def call(self, image):
        return self.colorize(image)

    def mse(self, image):
        """[B]: the mean squared ab error per pixel, on the ab / AB_SCALE scale."""
        lab = colour.rgb_to_lab(colour.to_float_rgb(image))
        return tf.reduce_mean(tf.square((self.chroma(lab[..., :1]) - lab[..., 1:]) / AB_SCALE), axis=[1, 2, 3])

    def step_terms(self, data, step, training):
        """{"mse": [B]} of a batch of RGB images."""
        return {"mse": self.mse(inputs_of(data))}

    def build(self, input_shape=None):
        self.chroma(tf.zeros([1, self.scene.min_side, self.scene.min_side, 1]))
        self.built = True


def train_regressor(model_config, data, steps, batch_size, learning_rate, verbose=0, model_dir=None):
    """A Regressor with model_config's backbone, precision and seed, trained for `steps` on the random crops of
    `data`, checkpointed in model_dir (if given; every checkpoint is kept) at the end of every epoch of the
    colorizer's length (the crops of an epoch / batch_size) and resumed from there: a regressor trained in the
    background is picked up, not retrained, and one trained past `steps` is read at its checkpoint of `steps`."""
    per_epoch = steps_per_epoch(data.examples_per_epoch, batch_size)
    epochs, rest = divmod(steps, per_epoch)
    if rest:  # not a whole number of epochs: one epoch of all the steps
        epochs, per_epoch = 1, steps
    make = lambda: Regressor(model_config)  # noqa: E731
    if model_dir is not None and (runs.checkpoint_step(model_dir) or 0) > steps:
        model = make()
        model.build()
        path = os.path.join(model_dir, runs.CHECKPOINT_DIR, f"ckpt-{steps}")
        training.make_checkpoint(model).read(path).expect_partial().assert_existing_objects_matched()
        return model
    return training.fit(make, lambda start: (colour_data.train_dataset(data, batch_size, model_config.seed, start),
                                             None),
                        epochs=epochs, steps_per_epoch=per_epoch, run_dir=model_dir, seed=model_config.seed,
                        learning_rate=learning_rate, jit_compile=True, per_execution=1,
                        precision=model_config.precision, verbose=verbose, max_to_keep=None)
