"""What every tfvae model shares: one training step and one test step over named terms, one metric tracker per
term, and (ConfiguredModel) the config dataclass it is built from.

A model says what its terms are, not how to train on them:

    TERMS                                   the names tracked (per example [B], or scalars such as a perplexity)
    step_terms(data, step, training)        {name: tensor} of a batch: every tracked name, and anything the hooks use
    LOSS                                    the term whose mean over the batch is minimized ("objective")
    apply_update(grads)                     the optimizer's step (the hvae clips and skips updates here)
    after_update(data, terms)               state updated outside the gradient after the optimizer's step (VQ-VAE)

`train_step` reduces the loss once, scales it for the replica count once, takes one optimizer step and updates every
tracker; `test_step` scores a batch with the noise of EVAL_STEP, the same in every epoch.
"""

import dataclasses

import keras
import tensorflow as tf

from tfvae.config import ModelConfig, from_dict


EVAL_STEP = -1  # the step counter of test_step's noise


def inputs_of(data):
    """The images of a batch that may carry more: data itself, or the first element of a tuple (x, ...)."""
    return data[0] if isinstance(data, (tuple, list)) else data


def replica_rows(batch_size):
    """(rows of the global batch, this replica's first row) for a replica's batch of batch_size rows.

    Noise drawn from a stateless seed for the global batch, of which each replica takes its own rows, is the same
    for 1 or N replicas and for a resumed run.
    """
    context = tf.distribute.get_replica_context()
    replicas = context.num_replicas_in_sync if context else 1
    replica = context.replica_id_in_sync_group if context else 0
    return batch_size * replicas, replica * batch_size


def replica_normal(k, batch_size, dim, seed):
    """Standard-normal eps [k, batch_size, dim] for this replica: its rows of the draw [k, global batch, dim]."""
    rows, start = replica_rows(batch_size)
    eps = tf.random.stateless_normal([k, rows, dim], seed=seed)
    return eps[:, start:start + batch_size]


class TermsModel(keras.Model):
    """A Keras model trained on named terms (module docstring); its trackers are `self.trackers`, one per TERMS name
    (a model may append trackers for names that depend on its config)."""

    TERMS = ()
    LOSS = "objective"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.trackers = [keras.metrics.Mean(name) for name in self.TERMS]

    def step_terms(self, data, step, training):
        """{name: tensor} of a batch `data`: each tracked term per example [B] or a scalar, and whatever
        `training_loss` and `after_update` read. step: the counter of the model's stateless noise (the optimizer's
        iterations in training, EVAL_STEP in test_step); training: the training form of the terms (relaxed samples,
        dequantization)."""
        raise NotImplementedError

    def training_loss(self, terms):
        """The loss whose mean is minimized: per example [B], or a scalar that is already a mean."""
        return terms[self.LOSS]

    def apply_update(self, grads):
        """Takes the optimizer's step with this replica's gradients (of the scaled loss); returns more {name: value}
        to track, which replace step_terms' values of those names. A model that clips or skips updates overrides it
        (tfvae/models/guard.py)."""
        self.optimizer.apply(grads, self.trainable_variables)
        return {}

    def after_update(self, data, terms):
        """Runs after the optimizer's step (updates of non-gradient state), when self.optimizer.iterations already
        counts it; returns more {name: value} to track."""
        return {}

    def train_step(self, data):
        with tf.GradientTape() as tape:
            terms = self.step_terms(data, self.optimizer.iterations, training=True)
            # Gradients are summed over replicas: scale the mean so N replicas take the step of one.
            loss = tf.reduce_mean(self.training_loss(terms)) / self.distribute_strategy.num_replicas_in_sync
            # Unchanged by plain optimizers; a LossScaleOptimizer (mixed precision) scales it and its apply unscales.
            scaled = self.optimizer.scale_loss(loss)
        grads = tape.gradient(scaled, self.trainable_variables)
        updated = self.apply_update(grads)
        return self.update_trackers({**terms, **updated, **self.after_update(data, terms)})

    def test_step(self, data):
        return self.update_trackers(self.step_terms(data, EVAL_STEP, training=False))

    def update_trackers(self, terms):
        """Each tracker takes its term (per example [B] or a scalar); returns `tracker_results`."""
        for tracker in self.trackers:
            tracker.update_state(terms[tracker.name])
        return self.tracker_results()

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


class ConfiguredModel(TermsModel):
    """A TermsModel built from a config dataclass (CONFIG_CLASS), which get_config and from_config round-trip."""

    CONFIG_CLASS = ModelConfig

    def __init__(self, config, **kwargs):
        super().__init__(**kwargs)
        self.config = config if isinstance(config, self.CONFIG_CLASS) else from_dict(self.CONFIG_CLASS, config)

    def get_config(self):
        return {**super().get_config(), "config": dataclasses.asdict(self.config)}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
