"""Convolutional ResNet-style encoder and decoder, sized by the image shape.

With channels (c_1, ..., c_n) the encoder halves the resolution n times (stride-2 convolutions, each followed by a
pre-activation residual block) and the decoder mirrors it from a ceil(H / 2^n) x ceil(W / 2^n) base, cropping the
final map to [H, W]. For 28x28 and (32, 64): 28 -> 14 -> 7 and back.
"""

import math

import keras

from tfvae.nets.activations import activation_layer


@keras.saving.register_keras_serializable(package="tfvae")
class ResidualBlock(keras.layers.Layer):
    """x + conv(act(conv(act(x)))) with 3x3 convolutions keeping the channel count (He et al. 2016, pre-activation)."""

    def __init__(self, channels, activation="swish", **kwargs):
        super().__init__(**kwargs)
        self.channels, self.activation = channels, activation
        self.conv1 = keras.layers.Conv2D(channels, 3, padding="same")
        self.conv2 = keras.layers.Conv2D(channels, 3, padding="same")
        self.act = activation_layer(activation)

    def call(self, x):
        return x + self.conv2(self.act(self.conv1(self.act(x))))

    def get_config(self):
        return {**super().get_config(), "channels": self.channels, "activation": self.activation}


@keras.saving.register_keras_serializable(package="tfvae")
class ConvEncoder(keras.layers.Layer):
    """Images [B, H, W, C] -> features [B, out_dim]."""

    def __init__(self, channels, out_dim, activation="swish", **kwargs):
        super().__init__(**kwargs)
        self.channels, self.out_dim, self.activation = tuple(channels), out_dim, activation
        self.blocks = []
        for c in self.channels:
            self.blocks += [keras.layers.Conv2D(c, 3, strides=2, padding="same"), ResidualBlock(c, activation)]
        self.act = activation_layer(activation)
        self.flatten = keras.layers.Flatten()
        self.out = keras.layers.Dense(out_dim)

    def call(self, x):
        h = x
        for block in self.blocks:
            h = block(h)  # [B, H / 2^i, W / 2^i, c_i]
        return self.out(self.flatten(self.act(h)))  # [B, out_dim]

    def get_config(self):
        return {**super().get_config(), "channels": self.channels, "out_dim": self.out_dim,
                "activation": self.activation}


@keras.saving.register_keras_serializable(package="tfvae")
class ConvDecoder(keras.layers.Layer):
    """Latents [..., L] -> per-pixel parameters [..., H, W, out_channels]."""

    def __init__(self, channels, image_shape, out_channels, activation="swish", **kwargs):
        super().__init__(**kwargs)
        self.channels, self.image_shape = tuple(channels), tuple(image_shape)
        self.out_channels, self.activation = out_channels, activation
        scale = 2 ** len(self.channels)
        self.base = (math.ceil(self.image_shape[0] / scale), math.ceil(self.image_shape[1] / scale))
        top = self.channels[-1]
        self.project = keras.layers.Dense(self.base[0] * self.base[1] * top)
        self.blocks = []
        for i in reversed(range(len(self.channels))):
            self.blocks += [ResidualBlock(self.channels[i], activation),
                            keras.layers.Conv2DTranspose(self.channels[max(i - 1, 0)], 3, strides=2, padding="same")]
        self.act = activation_layer(activation)
        self.out = keras.layers.Conv2D(out_channels, 3, padding="same")

    def call(self, z):
        batch_shape = keras.ops.shape(z)[:-1]
        h = self.project(keras.ops.reshape(z, (-1, keras.ops.shape(z)[-1])))  # [N, h0 * w0 * c_n]
        h = keras.ops.reshape(h, (-1, *self.base, self.channels[-1]))  # [N, h0, w0, c_n]
        for block in self.blocks:
            h = block(h)
        h = self.out(self.act(h))[:, : self.image_shape[0], : self.image_shape[1]]  # [N, H, W, P]
        return keras.ops.reshape(h, (*batch_shape, *self.image_shape[:2], self.out_channels))

    def get_config(self):
        return {**super().get_config(), "channels": self.channels, "image_shape": self.image_shape,
                "out_channels": self.out_channels, "activation": self.activation}
