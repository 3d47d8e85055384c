"""One resumable fit for every stage: a model family, the VQ-VAE's PixelCNN prior, the patch priors, the colour
regressor.

`fit` builds model and optimizer inside the strategy's scope, restores the newest checkpoint of the run directory
if there is one, and runs `model.fit` from there. Checkpoints (tf.train.Checkpoint of the step, the model's weights
and the optimizer's state, kept by a CheckpointManager) are written at the end of every epoch; since the data and
the model's noise are functions of (seed, step), a resumed run continues exactly where the killed one left off.
A non-finite logged value stops training with a message naming the step and the last good checkpoint. Without a
run directory nothing is written (an in-memory fit, as the benchmarks' baselines do).
"""

import os

import keras
import numpy as np
import tensorflow as tf

from tfvae import distribute, precision as precision_lib, runs
from tfvae.training.checkpoints import make_checkpoint, step_of


class TrainingError(RuntimeError):
    """Training cannot go on (a non-finite loss); the message names the step and the last good checkpoint."""


class Checkpointing(keras.callbacks.Callback):
    """Saves a checkpoint at every epoch end (with a manager) and stops at the first non-finite logged value."""

    def __init__(self, manager, optimizer, steps_per_epoch):
        super().__init__()
        self.manager, self.optimizer, self.steps_per_epoch = manager, optimizer, steps_per_epoch
        self.failure = None

    def on_train_batch_end(self, batch, logs=None):
        bad = sorted(k for k, v in (logs or {}).items() if not np.isfinite(np.asarray(v)).all())
        if bad and self.failure is None:
            last = self.manager.latest_checkpoint if self.manager else None
            self.failure = (f"training diverged: non-finite {', '.join(bad)} at step {step_of(self.optimizer)}; "
                            f"the last good checkpoint is {last or 'none (no epoch finished)'}")
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        if self.failure is None and self.manager is not None:
            # Numbered by the steps run, which `fit` resumes from: optimizer.iterations does not count the steps a
            # LossScaleOptimizer skips (mixed_float16), so it can lag behind.
            self.manager.save(checkpoint_number=(epoch + 1) * self.steps_per_epoch)


def steps_per_execution(steps_per_epoch, requested):
    """The largest divisor of steps_per_epoch that is at most `requested`, so no execution crosses an epoch end."""
    return max(d for d in range(1, min(requested, steps_per_epoch) + 1) if steps_per_epoch % d == 0)


def compiled(make, seed, strategy, steps_per_epoch, learning_rate=1e-3, jit_compile=True, per_execution=32,
             precision="float32"):
    """(model, optimizer): make() built with every weight created from `seed`, compiled with Adam (learning_rate: a
    float or a keras schedule; wrapped in a LossScaleOptimizer for precision mixed_float16: tfvae/precision.py),
    inside the strategy's scope.

    jit_compile: "auto", "on" or "off" (or a bool: True is "auto"), decided by distribute.use_jit for the model
    made (distribute.has_convolutions); per_execution steps run per call into the graph (the largest divisor of the
    epoch up to it).
    """
    keras.utils.set_random_seed(seed)  # the same initial weights for the same seed
    # Keras 3.15's multi-step loop fails under MultiWorkerMirroredStrategy (an unfed placeholder): one step a call there.
    multi_worker = isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
    per_call = 1 if multi_worker else steps_per_execution(steps_per_epoch, per_execution)
    with strategy.scope():
        model = make()
        if not model.built:
            model.build(None)
        jit = distribute.use_jit(jit_compile, strategy, precision, distribute.has_convolutions(model))
        optimizer = precision_lib.optimizer(precision, keras.optimizers.Adam(learning_rate))
        model.compile(optimizer=optimizer, jit_compile=jit, steps_per_execution=per_call)
        optimizer.build(model.trainable_variables)
    return model, optimizer


def fit(make, datasets, *, epochs, steps_per_epoch, run_dir=None, seed=0, strategy=None, learning_rate=1e-3,
        jit_compile=True, per_execution=32, precision="float32", verbose=1, callbacks=(), max_to_keep=3,
        initial_weights=None):
    """Trains (or resumes training of) make() into run_dir; returns the model (its optimizer as model.optimizer).

    datasets(start_step) -> (training batches from step start_step on, validation batches or None): called only if
    there are epochs left, after the resume. run_dir: its checkpoints/ and logs/ (config.json is the caller's:
    runs.prepare); under multi_worker a non-chief worker saves into RUN_DIR/workers/<worker>/. None: nothing is
    written and nothing resumed. initial_weights: arrays in model.weights order that a run with no checkpoint to
    resume starts from instead of make()'s initialization (a fine-tune: the optimizer starts afresh at step 0).
    """
    strategy = strategy or tf.distribute.get_strategy()
    worker = distribute.worker_name(strategy)
    if run_dir is not None and worker is not None:
        run_dir = runs.worker_dir(run_dir, worker)
    model, optimizer = compiled(make, seed, strategy, steps_per_epoch, learning_rate, jit_compile, per_execution,
                                precision)
    manager, initial_epoch = None, 0
    if run_dir is not None:
        checkpoint = make_checkpoint(model, optimizer)
        manager = tf.train.CheckpointManager(checkpoint, os.path.join(run_dir, runs.CHECKPOINT_DIR),
                                             max_to_keep=max_to_keep)
        if manager.latest_checkpoint:
            checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
            if isinstance(learning_rate, (int, float)):  # a constant rate is one of the optimizer's checkpointed
                optimizer.learning_rate.assign(learning_rate)  # variables: the one asked for now applies
            if verbose:
                print(f"Resuming from {manager.latest_checkpoint} (step {runs.checkpoint_step(run_dir)})")
            initial_epoch = runs.checkpoint_step(run_dir) // steps_per_epoch
            initial_weights = None
    if initial_weights is not None:
        for weight, value in zip(model.weights, initial_weights, strict=True):
            weight.assign(value)
    if initial_epoch >= epochs:
        return model
    train_ds, validation_ds = datasets(initial_epoch * steps_per_epoch)
    guard = Checkpointing(manager, optimizer, steps_per_epoch)
    logs = [keras.callbacks.TensorBoard(os.path.join(run_dir, runs.LOG_DIR))] if run_dir is not None else []
    callbacks = [guard, *logs, *callbacks]
    # shuffle=False: the batches are already a function of (seed, step) (tfvae/data/pipeline.py: step_batches).
    model.fit(train_ds, epochs=epochs, initial_epoch=initial_epoch, steps_per_epoch=steps_per_epoch,
              validation_data=validation_ds, callbacks=callbacks, verbose=verbose, shuffle=False)
    if guard.failure:
        raise TrainingError(guard.failure)
    return model
