"""What every tfvae model shares: the config it is built from, one metric tracker per reported term, and the
results of a training or test step."""

import dataclasses

import keras
import tensorflow as tf

from tfvae.config import ModelConfig


class ConfiguredModel(keras.Model):
    """A Keras model built from a config dataclass (CONFIG_CLASS), with metric trackers in `self.trackers`."""

    CONFIG_CLASS = ModelConfig

    def __init__(self, config, **kwargs):
        super().__init__(**kwargs)
        self.config = config if isinstance(config, self.CONFIG_CLASS) else self.CONFIG_CLASS(**config)

    def tracker_results(self):
        """{name: value} of every tracker, as a train or test step returns them."""
        results = {tracker.name: tracker.result() for tracker in self.trackers}
        if isinstance(self.distribute_strategy, tf.distribute.MultiWorkerMirroredStrategy):
            # Keras reduces step outputs across workers with reduce(MEAN, axis=0), which needs an axis to reduce.
            results = {name: tf.reshape(value, [1]) for name, value in results.items()}
        return results

    @property
    def metrics(self):
        return list(self.trackers)

    def get_config(self):
        return {**super().get_config(), "config": dataclasses.asdict(self.config)}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
