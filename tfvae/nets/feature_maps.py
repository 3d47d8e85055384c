"""Convolutional encoder and decoder between images and spatial feature maps (for discrete latents, VQ-VAE).

Unlike tfvae/nets/conv.py, whose encoder ends in a dense layer, these keep the spatial layout: with channels
(c_1, ..., c_n) the encoder halves the resolution n times (stride-2 convolutions, each followed by a pre-activation
residual block) and maps each position to out_dim features; the decoder mirrors it and crops to the target size.
For 28x28 and (32, 64): [B, 28, 28, C] -> [B, 7, 7, out_dim] -> [B, 28, 28, out_channels].
"""

import keras

from tfvae.nets.activations import activation_layer
from tfvae.nets.conv import ResidualBlock


def map_size(size, downsamplings):
    """The side of the feature map after `downsamplings` stride-2 'same' convolutions: ceil(size / 2^n)."""
    for _ in range(downsamplings):
        size = -(-size // 2)
    return size


@keras.saving.register_keras_serializable(package="tfvae")
class MapEncoder(keras.layers.Layer):
    """Maps [B, H, W, C] -> features [B, ceil(H / 2^n), ceil(W / 2^n), out_dim]."""

    def __init__(self, channels, out_dim, activation="swish", **kwargs):
        super().__init__(**kwargs)
        self.channels, self.out_dim, self.activation = tuple(channels), out_dim, activation
        self.blocks = []
        for c in self.channels:
            self.blocks += [keras.layers.Conv2D(c, 3, strides=2, padding="same"), ResidualBlock(c, activation)]
        self.act = activation_layer(activation)
        self.out = keras.layers.Conv2D(out_dim, 1)

    def call(self, x):
        h = x
        for block in self.blocks:
            h = block(h)  # [B, H / 2^i, W / 2^i, c_i]
        return self.out(self.act(h))  # [B, h, w, out_dim]

    def get_config(self):
        return {**super().get_config(), "channels": self.channels, "out_dim": self.out_dim,
                "activation": self.activation}


@keras.saving.register_keras_serializable(package="tfvae")
class MapDecoder(keras.layers.Layer):
    """Maps features [B, ceil(H / 2^n), ceil(W / 2^n), F] -> [B, H, W, out_channels] (n = len(channels))."""

    def __init__(self, channels, out_size, out_channels, activation="swish", **kwargs):
        super().__init__(**kwargs)
        self.channels, self.out_size = tuple(channels), tuple(out_size)
        self.out_channels, self.activation = out_channels, activation
        self.project = keras.layers.Conv2D(self.channels[-1], 3, padding="same")
        self.blocks = []
        for i in reversed(range(len(self.channels))):
            self.blocks += [ResidualBlock(self.channels[i], activation),
                            keras.layers.Conv2DTranspose(self.channels[max(i - 1, 0)], 3, strides=2, padding="same")]
        self.act = activation_layer(activation)
        self.out = keras.layers.Conv2D(out_channels, 3, padding="same")

    def call(self, h):
        h = self.project(h)  # [B, h, w, c_n]
        for block in self.blocks:
            h = block(h)
        return self.out(self.act(h))[:, : self.out_size[0], : self.out_size[1]]  # [B, H, W, out_channels]

    def get_config(self):
        return {**super().get_config(), "channels": self.channels, "out_size": self.out_size,
                "out_channels": self.out_channels, "activation": self.activation}
