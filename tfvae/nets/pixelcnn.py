"""Gated PixelCNN (van den Oord et al. 2016, "Conditional Image Generation with PixelCNN Decoders") as Keras 3 layers.

An autoregressive network over a map [B, H, W, E] of embedded symbols: the logits at position (i, j) depend only on
the inputs at positions before it in raster order, (i', j') with i' < i, or i' = i and j' < j. One symbol per
position (a code index), so there is a single channel group and no masking between channels.

Two stacks remove the blind spot of the original PixelCNN:
- the vertical stack: k x k convolutions masked to rows <= the centre row. Its output at row i sees input rows <= i;
  it reaches the horizontal stack only shifted down by one row, so there it brings rows < i (all columns in reach).
- the horizontal stack: 1 x k convolutions masked to columns < the centre (first layer, "mask A", which also has no
  residual connection) or <= the centre (later layers, "mask B"): the current row left of the position.
Each layer is gated, y = tanh(a) * sigmoid(b), with an optional context map (class or higher-level codes, already at
[B, H, W, Ec]) added to a and b through a 1x1 convolution.
"""

import keras
import numpy as np
import tensorflow as tf


def causal_mask(kernel_size, stack, first=False):
    """The 0/1 mask [kh, kw] of a masked kernel: stack='vertical' ([k, k], rows <= centre) or 'horizontal'
    ([1, k], columns < centre if `first`, else <= centre)."""
    centre = kernel_size // 2
    if stack == "vertical":
        mask = np.zeros([kernel_size, kernel_size], np.float32)
        mask[:centre + 1] = 1.0
        return mask
    mask = np.zeros([1, kernel_size], np.float32)
    mask[0, :centre + (0 if first else 1)] = 1.0
    return mask


def shift_down(x):
    """[B, H, W, C] -> the same map moved down one row, with a zero first row."""
    return tf.pad(x, [[0, 0], [1, 0], [0, 0], [0, 0]])[:, :-1]


def gate(x):
    """[..., 2F] -> tanh(first half) * sigmoid(second half) [..., F]."""
    a, b = tf.split(x, 2, axis=-1)
    return tf.tanh(a) * tf.sigmoid(b)


@keras.saving.register_keras_serializable(package="tfvae")
class MaskedConv2D(keras.layers.Layer):
    """A 'same'-padded, stride-1 convolution whose kernel [kh, kw, in, out] is multiplied by a fixed mask [kh, kw]."""

    def __init__(self, filters, mask, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.mask = filters, np.asarray(mask, np.float32)

    def build(self, input_shape):
        kh, kw = self.mask.shape
        self.kernel = self.add_weight(shape=(kh, kw, input_shape[-1], self.filters), name="kernel",
                                      initializer="glorot_uniform")
        self.bias = self.add_weight(shape=(self.filters,), name="bias", initializer="zeros")

    def call(self, x):
        # Under a mixed policy (tfvae/precision.py) x is bfloat16 or float16 and the weights float32: a Keras variable
        # times a NumPy array stays float32, so both are cast to the compute dtype explicitly.
        kernel = tf.cast(self.kernel * self.mask[:, :, None, None], self.compute_dtype)
        return tf.nn.conv2d(x, kernel, strides=1, padding="SAME") + tf.cast(self.bias, self.compute_dtype)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "mask": self.mask.tolist()}


@keras.saving.register_keras_serializable(package="tfvae")
class GatedLayer(keras.layers.Layer):
    """One gated layer of both stacks: (v [B, H, W, F'], h [B, H, W, F'], context) -> (v', h') with F channels; the
    context [B, H, W, Ec] is given if and only if `conditional`."""

    def __init__(self, filters, kernel_size=3, first=False, conditional=False, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size, self.first, self.conditional = filters, kernel_size, first, conditional
        self.vertical = MaskedConv2D(2 * filters, causal_mask(kernel_size, "vertical"), name="vertical")
        self.horizontal = MaskedConv2D(2 * filters, causal_mask(kernel_size, "horizontal", first), name="horizontal")
        self.vertical_to_horizontal = keras.layers.Conv2D(2 * filters, 1, name="vertical_to_horizontal")
        if conditional:
            self.context_v = keras.layers.Conv2D(2 * filters, 1, use_bias=False, name="context_v")
            self.context_h = keras.layers.Conv2D(2 * filters, 1, use_bias=False, name="context_h")
        self.out = keras.layers.Conv2D(filters, 1, name="out")

    def call(self, v, h, context=None):
        v_features = self.vertical(v)  # [B, H, W, 2F], rows <= i
        h_features = self.horizontal(h) + self.vertical_to_horizontal(shift_down(v_features))  # rows < i, row i left
        if self.conditional:
            v_features += self.context_v(context)
            h_features += self.context_h(context)
        h_out = self.out(gate(h_features))
        return gate(v_features), h_out if self.first else h + h_out

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size,
                "first": self.first, "conditional": self.conditional}


@keras.saving.register_keras_serializable(package="tfvae")
class GatedPixelCNN(keras.layers.Layer):
    """Embedded symbols [B, H, W, E] (and a context [B, H, W, Ec] or None) -> logits [B, H, W, num_symbols] that are
    causal in raster order. The context is given if and only if `conditional`."""

    def __init__(self, num_symbols, filters=64, num_layers=8, kernel_size=3, conditional=False, **kwargs):
        super().__init__(**kwargs)
        self.num_symbols, self.filters, self.num_layers = num_symbols, filters, num_layers
        self.kernel_size, self.conditional = kernel_size, conditional
        self.gated = [GatedLayer(filters, kernel_size, first=i == 0, conditional=conditional, name=f"gated_{i}")
                      for i in range(num_layers)]
        self.head = keras.layers.Conv2D(filters, 1, name="head")
        self.logits = keras.layers.Conv2D(num_symbols, 1, name="logits")

    def call(self, x, context=None):
        v = h = x
        for layer in self.gated:
            v, h = layer(v, h, context)  # [B, H, W, F] each
        return self.logits(tf.nn.relu(self.head(tf.nn.relu(h))))  # [B, H, W, num_symbols]

    def get_config(self):
        return {**super().get_config(), "num_symbols": self.num_symbols, "filters": self.filters,
                "num_layers": self.num_layers, "kernel_size": self.kernel_size, "conditional": self.conditional}
