"""Fully connected encoder and decoder (the MLP VAE of Kingma & Welling 2014, Burda et al. 2016)."""

import keras


@keras.saving.register_keras_serializable(package="tfvae")
class MLPEncoder(keras.layers.Layer):
    """Images [B, H, W, C] -> features [B, out_dim] through hidden Dense layers (none: a linear map)."""

    def __init__(self, hidden_units, out_dim, activation="relu", **kwargs):
        super().__init__(**kwargs)
        self.hidden_units, self.out_dim, self.activation = tuple(hidden_units), out_dim, activation
        self.flatten = keras.layers.Flatten()
        self.hidden = [keras.layers.Dense(u, activation=activation) for u in self.hidden_units]
        self.out = keras.layers.Dense(out_dim)

    def call(self, x):
        h = self.flatten(x)  # [B, H*W*C]
        for layer in self.hidden:
            h = layer(h)
        return self.out(h)  # [B, out_dim]

    def get_config(self):
        return {**super().get_config(), "hidden_units": self.hidden_units, "out_dim": self.out_dim,
                "activation": self.activation}


@keras.saving.register_keras_serializable(package="tfvae")
class MLPDecoder(keras.layers.Layer):
    """Latents [..., L] -> per-pixel parameters [..., H, W, out_channels] through hidden Dense layers."""

    def __init__(self, hidden_units, image_shape, out_channels, activation="relu", **kwargs):
        super().__init__(**kwargs)
        self.hidden_units, self.activation = tuple(hidden_units), activation
        self.image_shape, self.out_channels = tuple(image_shape), out_channels
        self.hidden = [keras.layers.Dense(u, activation=activation) for u in self.hidden_units]
        height, width = self.image_shape[:2]
        self.out = keras.layers.Dense(height * width * out_channels)

    def call(self, z):
        h = z
        for layer in self.hidden:
            h = layer(h)
        h = self.out(h)  # [..., H*W*P]
        height, width = self.image_shape[:2]
        return keras.ops.reshape(h, (*keras.ops.shape(h)[:-1], height, width, self.out_channels))

    def get_config(self):
        return {**super().get_config(), "hidden_units": self.hidden_units, "image_shape": self.image_shape,
                "out_channels": self.out_channels, "activation": self.activation}
