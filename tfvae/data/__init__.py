"""Data: image sets behind one `--dataset` spec (sources) and tf.data pipelines (pipeline)."""

from tfvae.data.pipeline import eval_dataset, prepare, steps_per_epoch, to_pixels, train_dataset
from tfvae.data.sources import DataError, ImageData, load, mnist_offline
