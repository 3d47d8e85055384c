"""Mixed precision: networks compute in bfloat16 or float16, everything probabilistic stays float32.

`--precision` (a field of every model's config, so a resumed run keeps it):
- `float32`: everything in float32.
- `mixed_bfloat16`: the networks (encoders, decoders, U-Nets, PixelCNNs, patch-denoiser MLPs) compute in bfloat16
  with float32 weights (Keras's "mixed_bfloat16" policy). On CPUs with AMX or AVX-512 BF16 and on TPUs and recent
  GPUs this is several times faster; bfloat16 has float32's exponent range, so no loss scaling is needed.
- `mixed_float16`: the same in float16, whose range is small (max 65504, smallest normal 6e-5): gradients of a
  loss in the hundreds of nats underflow or overflow without loss scaling, so the optimizer is wrapped in
  keras.optimizers.LossScaleOptimizer (dynamic loss scaling: the loss is multiplied by a scale before the gradients
  are taken and the gradients divided by it; a step with non-finite gradients is skipped and the scale halved).

A model builds its networks inside `networks(config.precision)`, which sets Keras's dtype policy only while they
are constructed (layers take the policy when they are made), and casts their outputs with `to_float32` where they
become distribution parameters: every TFP distribution, KL, log-prob, ELBO term, metric and loss is float32, as are
the flows, codebooks, mixture weights and likelihood scales, and every exported signature.
"""

import contextlib

import keras
import tensorflow as tf

from tfvae.config import PRECISIONS


@contextlib.contextmanager
def networks(precision):
    """Layers constructed in this context compute in `precision` (one of PRECISIONS)."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def to_float32(x):
    """A network's output as float32: where it becomes a distribution's parameters (a no-op in float32)."""
    return tf.cast(x, tf.float32)


def optimizer(precision, inner):
    """The optimizer for `precision`: `inner`, wrapped in a LossScaleOptimizer for mixed_float16."""
    if precision == "mixed_float16":
        return keras.optimizers.LossScaleOptimizer(inner)
    return inner
