"""Checkpoints of a model's weights (and its optimizer's state and step), keyed by position."""

import tensorflow as tf

from tfvae import runs
from tfvae.config import ConfigError


def make_checkpoint(model, optimizer=None):
    """A tf.train.Checkpoint of the model's weights (and the optimizer's state and step).

    Weights are keyed by their index in `model.weights`, which is fixed by the architecture: Keras 3 keeps
    sublayers in lists that TensorFlow's object-graph tracking does not see, so the graph is not used.
    """
    parts = {"model": {str(i): w for i, w in enumerate(model.weights)}}
    if optimizer is not None:
        parts.update(step=optimizer.iterations, optimizer={str(i): v for i, v in enumerate(optimizer.variables)})
    return tf.train.Checkpoint(**parts)


def step_of(optimizer):
    """The optimizer's step count as a Python int (also for a variable mirrored over replicas)."""
    return int(optimizer.iterations.numpy())


def restore_weights(model, run_dir, what="checkpoint"):
    """Builds model and loads the weights of run_dir's newest checkpoint into it; returns it.

    Raises ConfigError naming --model_dir if there is no checkpoint.
    """
    model.build(None)
    path = runs.latest_checkpoint(run_dir)
    if path is None:
        raise ConfigError(f"--model_dir={run_dir} has no {what}; train it with apps.train first")
    make_checkpoint(model).restore(path).expect_partial().assert_existing_objects_matched()
    return model
