"""A small fully convolutional U-Net with a global context branch: maps [B, H, W, C] -> [B, H, W, out_channels].

With channels (c_0, ..., c_n): a 3x3 stem at full resolution (c_0), then n stages that halve the resolution (stride-2
3x3 convolution to c_i, a pre-activation residual block); at the deepest stage residual blocks with dilation 2 and 4
widen the receptive field, and the spatial mean of the deepest features goes through a dense layer and is added back
at every position (global context: the scene, as in Iizuka et al. 2016). The decoder upsamples by 2 (bilinear),
concatenates the skip features of that resolution and mixes them with a 3x3 convolution, back to full resolution.

Any H, W work: the input is reflect-padded to a multiple of 2^n and the output cropped back. The deepest map is
then ceil(H / 2^n) x ceil(W / 2^n); `min_side` is the smallest side for which it is at least 4 x 4 (smaller images
would leave the dilated blocks and the context branch nothing to see, and reflect padding needs pad < side).
"""

import keras
import tensorflow as tf

from tfvae.nets.activations import activation_layer
from tfvae.nets.conv import ResidualBlock


@keras.saving.register_keras_serializable(package="tfvae")
class DilatedBlock(keras.layers.Layer):
    """x + conv_d(act(conv_d(act(x)))): a pre-activation residual block of 3x3 convolutions with dilation d."""

    def __init__(self, channels, dilation, activation="swish", **kwargs):
        super().__init__(**kwargs)
        self.channels, self.dilation, self.activation = channels, dilation, activation
        self.conv1 = keras.layers.Conv2D(channels, 3, padding="same", dilation_rate=dilation)
        self.conv2 = keras.layers.Conv2D(channels, 3, padding="same", dilation_rate=dilation)
        self.act = activation_layer(activation)

    def call(self, x):
        return x + self.conv2(self.act(self.conv1(self.act(x))))

    def get_config(self):
        return {**super().get_config(), "channels": self.channels, "dilation": self.dilation,
                "activation": self.activation}


@keras.saving.register_keras_serializable(package="tfvae")
class UNet(keras.layers.Layer):
    """[B, H, W, C] -> [B, H, W, out_channels] (module docstring); channels = (c_0, ..., c_n), n >= 1."""

    def __init__(self, channels, out_channels, activation="swish", **kwargs):
        super().__init__(**kwargs)
        self.channels, self.out_channels, self.activation = tuple(channels), out_channels, activation
        self.stem = keras.layers.Conv2D(self.channels[0], 3, padding="same")
        self.down = [(keras.layers.Conv2D(c, 3, strides=2, padding="same"), ResidualBlock(c, activation))
                     for c in self.channels[1:]]
        deepest = self.channels[-1]
        self.dilated = [DilatedBlock(deepest, d, activation) for d in (2, 4)]
        self.context = keras.layers.Dense(deepest)
        self.up = [keras.layers.Conv2D(c, 3, padding="same") for c in reversed(self.channels[:-1])]
        self.act = activation_layer(activation)
        self.out = keras.layers.Conv2D(out_channels, 1)

    @property
    def factor(self):
        """The total downsampling, 2^n."""
        return 2 ** (len(self.channels) - 1)

    @property
    def min_side(self):
        return 4 * self.factor

    def call(self, x):
        height, width = tf.shape(x)[1], tf.shape(x)[2]  # known only when run for images of any size
        pad_h, pad_w = (-height) % self.factor, (-width) % self.factor
        x = tf.pad(x, [[0, 0], [0, pad_h], [0, pad_w], [0, 0]], mode="REFLECT")
        h = self.stem(x)  # [B, H', W', c_0]
        skips = [h]
        for conv, block in self.down:
            h = block(conv(h))  # [B, H' / 2^i, W' / 2^i, c_i]
            skips.append(h)
        for block in self.dilated:
            h = block(h)
        h = h + self.context(self.act(tf.reduce_mean(h, axis=[1, 2], keepdims=True)))  # global context, broadcast
        for conv, skip in zip(self.up, reversed(skips[:-1])):
            h = tf.cast(tf.image.resize(h, tf.shape(skip)[1:3], method="bilinear"), skip.dtype)  # resize gives float32
            h = conv(self.act(tf.concat([h, skip], axis=-1)))
        return self.out(self.act(h))[:, :height, :width]  # [B, H, W, out_channels]

    def get_config(self):
        return {**super().get_config(), "channels": self.channels, "out_channels": self.out_channels,
                "activation": self.activation}
