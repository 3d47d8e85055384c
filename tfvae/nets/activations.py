"""The networks' activation layers: swish with its gradient computed in float32.

swish(x) = x sigmoid(x) (Ramachandran et al. 2017), d swish / dx = s (1 + x (1 - s)) with s = sigmoid(x). The forward
pass is TensorFlow's `x * sigmoid(x)` in the layer's compute dtype (oneDNN fuses it into one op); the backward pass
evaluates the derivative above in float32 and casts the result to the incoming gradient's dtype: the formula of
`tf.nn.silu`'s gradient. Float32 networks keep keras.layers.Activation (`activation_layer`). Under mixed bfloat16 it
replaces TensorFlow's six element-wise bfloat16 ops, which the CPU evaluates slower than float32 ones (the default
conv VAE's training step on 2 cores: 0.0724 -> 0.0582 s at batch 128, 0.2707 -> 0.2017 s at 512; README, "Mixed
precision on the CPU"), and is more accurate.
"""

import keras
import tensorflow as tf


@tf.custom_gradient
def swish(x):
    """x sigmoid(x), any float dtype; its gradient computed in float32 (module docstring)."""

    def grad(dy):
        x32 = tf.cast(x, tf.float32)
        s = tf.sigmoid(x32)
        return tf.cast(tf.cast(dy, tf.float32) * (s * (1.0 + x32 * (1.0 - s))), dy.dtype)

    return x * tf.sigmoid(x), grad


@keras.saving.register_keras_serializable(package="tfvae")
class Swish(keras.layers.Layer):
    """The layer of `swish`: [...] -> [...], the compute dtype."""

    def call(self, x):
        return swish(x)


def activation_layer(name):
    """A layer applying the activation called `name`: `Swish` for "swish" / "silu" in a network made under a
    low-precision policy (tfvae/precision.py: networks), keras.layers.Activation(name) else, so that float32 networks
    compute exactly what they did before `Swish` (its float32 gradient is TensorFlow's formula, but the graph
    rewrites round differently)."""
    low = keras.config.dtype_policy().compute_dtype != "float32"
    return Swish() if low and name in ("swish", "silu") else keras.layers.Activation(name)
