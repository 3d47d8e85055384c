"""Data: image sets behind one `--dataset` spec (sources), image files (images), tf.data pipelines (pipeline) and
the scales of the pixel representations (pixels)."""

from tfvae.data.errors import DataError
from tfvae.data.images import image_files, read_image, split_files, write_image
from tfvae.data.pipeline import (eval_dataset, prepare, shard_by_data, step_batches, steps_per_epoch, to_pixels,
                                 train_dataset)
from tfvae.data.pixels import display_scale, network_input, to_display
from tfvae.data.sources import ImageData, load, mnist_offline
