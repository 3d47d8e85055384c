"""Updates that do not blow up: gradient-norm clipping and skipping (Child 2021, "Very deep VAEs", section 3.4).

Deep hierarchies of Gaussians meet occasional huge gradients (a posterior scale near its floor, a KL term of
dmu^2 / sigma_p^2); one such step can wreck weights that took hours to train. `UpdateGuard.update` takes the step
of the gradients of a replica's loss:

    norm  = || sum over replicas of the gradients ||            (the norm of the global batch's gradient)
    skip  if norm is not finite, or norm > skip_factor * running norm (after WARMUP steps)
    else  apply the gradients scaled by min(1, clip_norm / norm)

The running norm is an exponential moving average (decay 0.99, bias-corrected) of min(norm, skip_factor * running
norm) over every step with a finite norm, so a lasting rise of the norm lifts the threshold by up to 9 % a step
(skip_factor 10) and training resumes instead of skipping forever. VDVAE skips above a fixed threshold; one relative
to the running norm needs no tuning per data set and loss scale. Skipped steps are counted (the non-trainable weight
`skipped_updates`) and logged (the `skipped` term, 1 for a skipped step: its epoch mean is the share skipped); they
do not advance optimizer.iterations, as LossScaleOptimizer's skipped steps do not.

Every replica computes the same norm (from the all-reduced gradients) and so takes the same decision; each scales
its own gradients by the same factor before the optimizer sums them, so 1 and N replicas take the same step. The
state (running norm, steps seen, skipped count) is a layer's weights, saved in checkpoints: a resumed run continues
with it.
"""

import keras
import tensorflow as tf

DECAY = 0.99  # of the running norm
WARMUP = 10  # steps with a finite norm before updates can be skipped (the running norm needs some history)


def apply_unless(skip, optimizer, grads, variables):
    """optimizer.apply(grads, variables) unless `skip` (a bool scalar, the same on every replica), from a replica
    context. Where the strategy merges (MirroredStrategy without XLA) the condition must be taken in the
    cross-replica context, as LossScaleOptimizer does: a cond whose branch merges is not allowed in a replica."""
    if not optimizer.built:  # its variables cannot be created inside a cond
        optimizer.build(variables)

    def apply():
        optimizer.apply(grads, variables)

    if tf.__internal__.distribute.strategy_supports_no_merge_call():
        tf.cond(skip, lambda: None, apply)
        return

    def cross_replica(distribution, skip, grads):
        skip = distribution.experimental_local_results(skip)[0]

        def apply_everywhere():
            distribution.extended.call_for_each_replica(lambda g: optimizer.apply(g, variables), args=(grads,))

        tf.cond(skip, lambda: None, apply_everywhere)

    tf.distribute.get_replica_context().merge_call(cross_replica, args=(skip, grads))


@keras.saving.register_keras_serializable(package="tfvae")
class UpdateGuard(keras.layers.Layer):
    """Clips and skips a model's updates (module docstring); clip_norm 0: no clipping, skip_factor 0: no skipping
    (non-finite gradients are still skipped)."""

    def __init__(self, clip_norm, skip_factor, **kwargs):
        super().__init__(**kwargs)
        self.clip_norm, self.skip_factor = float(clip_norm), float(skip_factor)

        # Replicas compute the same values: any replica's assignment will do.
        def state(name):
            return self.add_weight(shape=(), initializer="zeros", trainable=False, name=name,
                                   aggregation="only_first_replica")

        self.running_norm = state("running_norm")
        self.steps_seen = state("steps_seen")
        self.skipped_updates = state("skipped_updates")
        self.built = True

    def running_mean(self):
        """The running gradient norm: the bias-corrected moving average (0 before the first step)."""
        return self.running_norm / (1.0 - DECAY ** tf.maximum(tf.convert_to_tensor(self.steps_seen), 1.0))

    def threshold(self):
        """The norm above which an update is skipped now (inf while skipping is off or warming up)."""
        if self.skip_factor <= 0:
            return tf.constant(float("inf"))
        return tf.where(self.steps_seen >= WARMUP, self.skip_factor * self.running_mean(), float("inf"))

    def update(self, optimizer, grads, variables):
        """Takes (or skips) the optimizer's step for this replica's gradients; returns {"grad_norm": the norm of the
        global gradient (of the unscaled loss; the running norm where it is not finite), "skipped": 1.0 if this guard
        skipped the step else 0.0}."""
        context = tf.distribute.get_replica_context()
        present = [g for g in grads if g is not None]
        total = context.all_reduce(tf.distribute.ReduceOp.SUM, present) if context else present
        # A LossScaleOptimizer (mixed_float16) is given gradients of the scaled loss: its scale_loss(1) is the scale.
        loss_scale = tf.cast(optimizer.scale_loss(tf.constant(1.0)), tf.float32)
        norm = tf.linalg.global_norm(total) / loss_scale
        finite = tf.math.is_finite(norm)
        limit = self.threshold()
        too_large = norm > limit
        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            skip = too_large  # non-finite gradients go on to it: it skips them and lowers its scale
        else:
            skip = tf.logical_or(tf.logical_not(finite), too_large)
        self.running_norm.assign(tf.where(finite, DECAY * self.running_norm + (1.0 - DECAY) * tf.minimum(norm, limit),
                                          self.running_norm))
        self.steps_seen.assign_add(tf.where(finite, 1.0, 0.0))
        self.skipped_updates.assign_add(tf.where(skip, 1.0, 0.0))
        if self.clip_norm > 0:
            scale = tf.where(finite & (norm > self.clip_norm), self.clip_norm / norm, 1.0)
            grads = [None if g is None else g * tf.cast(scale, g.dtype) for g in grads]
        apply_unless(skip, optimizer, grads, variables)
        # A non-finite norm is logged as the running norm: the step was skipped (by this guard, or by a
        # LossScaleOptimizer whose scale overflowed), which is no divergence for fit's guard to stop at.
        return {"grad_norm": tf.where(finite, norm, self.running_mean()), "skipped": tf.where(skip, 1.0, 0.0)}

    def get_config(self):
        return {**super().get_config(), "clip_norm": self.clip_norm, "skip_factor": self.skip_factor}
