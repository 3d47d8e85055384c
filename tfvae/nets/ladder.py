"""The networks of the hierarchical VAE (tfvae/models/hvae.py): a bottom-up encoder, a top-down path of residual
cells, and the heads that give each level's prior and posterior parameters. Every layer returns tensors.

For the conv architecture level l (1 = bottom) lives at ceil(H / 2^l) x ceil(W / 2^l) with width c_l, its latent
a map of z_l channels; for the mlp a vector of width c_l and a latent of z_l units. With levels L:

    bottom-up   x -> down_1 -> cell -> e_1 -> down_2 -> cell -> e_2 ... -> e_L        (down: stride-2 conv or Dense)
    top-down    h = h_top (a learned state at level L's size)
                for l = L..1:  prior head(h) -> (mu_p, raw sigma_p);  posterior head([h, e_l]) -> (dmu, raw dsigma)
                               h = up(cell(h + project(z_l)))          (up to level l-1's size, or to the image)
                output(h) -> the likelihood's parameters [N, H, W, C * P]

The prior head is linear in h (h has just left a residual cell), so with identity cells the whole generative path
is affine in z: tests/test_hvae.py builds an exact linear-Gaussian hierarchy from it.
"""

import keras

from tfvae.nets.activations import activation_layer
from tfvae.nets.conv import ResidualBlock


@keras.saving.register_keras_serializable(package="tfvae")
class ResidualDense(keras.layers.Layer):
    """x + Dense(act(Dense(act(x)))) keeping the width: ResidualBlock's pre-activation cell for vectors."""

    def __init__(self, units, activation="swish", **kwargs):
        super().__init__(**kwargs)
        self.units, self.activation = units, activation
        self.dense1 = keras.layers.Dense(units)
        self.dense2 = keras.layers.Dense(units)
        self.act = activation_layer(activation)

    def call(self, x):
        return x + self.dense2(self.act(self.dense1(self.act(x))))

    def get_config(self):
        return {**super().get_config(), "units": self.units, "activation": self.activation}


def make_cell(architecture, width, activation, name=None):
    """The residual cell of a level: ResidualBlock (3x3 convolutions) or ResidualDense."""
    if architecture == "conv":
        return ResidualBlock(width, activation, name=name)
    return ResidualDense(width, activation, name=name)


def make_linear(architecture, units, kernel_size=3, name=None):
    """A linear map of a level's state: a 'same' convolution over a map, or Dense over a vector."""
    if architecture == "conv":
        return keras.layers.Conv2D(units, kernel_size, padding="same", name=name)
    return keras.layers.Dense(units, name=name)


@keras.saving.register_keras_serializable(package="tfvae")
class LadderEncoder(keras.layers.Layer):
    """Images [B, H, W, C] -> the bottom-up features [e_1, ..., e_L]: [B, h_l, w_l, c_l] (conv) or [B, c_l]."""

    def __init__(self, architecture, widths, activation="swish", **kwargs):
        super().__init__(**kwargs)
        self.architecture, self.widths, self.activation = architecture, tuple(widths), activation
        if architecture == "conv":
            self.down = [keras.layers.Conv2D(c, 3, strides=2, padding="same") for c in self.widths]
        else:
            self.flatten = keras.layers.Flatten()
            self.down = [keras.layers.Dense(c) for c in self.widths]
        self.cells = [make_cell(architecture, c, activation) for c in self.widths]

    def call(self, x):
        h = x if self.architecture == "conv" else self.flatten(x)  # [B, H, W, C] or [B, H*W*C]
        features = []
        for down, cell in zip(self.down, self.cells):
            h = cell(down(h))  # [B, h_l, w_l, c_l] or [B, c_l]
            features.append(h)
        return features

    def get_config(self):
        return {**super().get_config(), "architecture": self.architecture, "widths": self.widths,
                "activation": self.activation}


@keras.saving.register_keras_serializable(package="tfvae")
class TopState(keras.layers.Layer):
    """The learned top-down state h_top [shape] where the top level starts, repeated for a batch."""

    def __init__(self, shape, **kwargs):
        super().__init__(**kwargs)
        self.shape = tuple(shape)
        # Normal, not zeros: a zero state would give the top prior head's kernel no gradient.
        self.state = self.add_weight(shape=self.shape, initializer=keras.initializers.RandomNormal(stddev=1.0),
                                     name="state")
        self.built = True

    def call(self, like):
        """like [N, ...]: any tensor with the batch size N -> h_top [N, *shape]."""
        count = keras.ops.shape(like)[0]
        state = keras.ops.cast(self.state, self.compute_dtype)
        return keras.ops.broadcast_to(state[None], (count, *self.shape))

    def get_config(self):
        return {**super().get_config(), "shape": self.shape}


@keras.saving.register_keras_serializable(package="tfvae")
class LevelHeads(keras.layers.Layer):
    """A level's heads: prior(h) -> [N, ..., 2 z] (mu_p, raw sigma_p), linear in h; posterior(h, e) -> [N, ..., 2 z]
    (dmu, raw dsigma) from act([h, e])."""

    def __init__(self, architecture, latents, activation="swish", **kwargs):
        super().__init__(**kwargs)
        self.architecture, self.latents, self.activation = architecture, latents, activation
        self.prior_head = make_linear(architecture, 2 * latents, name="prior")
        self.posterior_head = make_linear(architecture, 2 * latents, name="posterior")
        self.act = activation_layer(activation)
        self.concat = keras.layers.Concatenate()

    def call(self, h, e=None):
        """(prior parameters, posterior parameters or None when e is None)."""
        prior = self.prior_head(h)
        posterior = None if e is None else self.posterior_head(self.act(self.concat([h, e])))
        return prior, posterior

    def get_config(self):
        return {**super().get_config(), "architecture": self.architecture, "latents": self.latents,
                "activation": self.activation}


@keras.saving.register_keras_serializable(package="tfvae")
class LevelMerge(keras.layers.Layer):
    """h, z_l -> the next state: up(cell(h + project(z_l))). up goes to `out_size` with `out_width` channels (conv:
    a stride-2 transposed convolution, cropped) or to out_width units (mlp: Dense); out_width 0: no up."""

    def __init__(self, architecture, width, out_width=0, out_size=None, activation="swish", **kwargs):
        super().__init__(**kwargs)
        self.architecture, self.width, self.out_width = architecture, width, out_width
        self.out_size = None if out_size is None else tuple(out_size)
        self.activation = activation
        self.project = make_linear(architecture, width, kernel_size=1, name="project")
        self.cell = make_cell(architecture, width, activation, name="cell")
        self.up = None
        if out_width and architecture == "conv":
            self.up = keras.layers.Conv2DTranspose(out_width, 3, strides=2, padding="same", name="up")
        elif out_width:
            self.up = keras.layers.Dense(out_width, name="up")

    def call(self, h, z):
        h = self.cell(h + self.project(z))  # [N, h_l, w_l, c_l] or [N, c_l]
        if self.up is None:
            return h
        h = self.up(h)
        if self.architecture == "conv":
            h = h[:, : self.out_size[0], : self.out_size[1]]  # 2 ceil(s / 2) -> s
        return h

    def get_config(self):
        return {**super().get_config(), "architecture": self.architecture, "width": self.width,
                "out_width": self.out_width, "out_size": self.out_size, "activation": self.activation}


@keras.saving.register_keras_serializable(package="tfvae")
class LadderOutput(keras.layers.Layer):
    """The bottom state [N, h_1, w_1, c_1] or [N, c_1] -> the likelihood's parameters [N, H, W, out_channels]: conv
    up one halving (cropped to [H, W]) and a 3x3 convolution; mlp one Dense layer."""

    def __init__(self, architecture, width, image_shape, out_channels, **kwargs):
        super().__init__(**kwargs)
        self.architecture, self.width = architecture, width
        self.image_shape, self.out_channels = tuple(image_shape), out_channels
        height, width_px = self.image_shape[:2]
        if architecture == "conv":
            self.up = keras.layers.Conv2DTranspose(width, 3, strides=2, padding="same")
            self.out = keras.layers.Conv2D(out_channels, 3, padding="same")
        else:
            self.out = keras.layers.Dense(height * width_px * out_channels)

    def call(self, h):
        height, width = self.image_shape[:2]
        if self.architecture == "conv":
            return self.out(self.up(h)[:, :height, :width])  # [N, H, W, P]
        return keras.ops.reshape(self.out(h), (-1, height, width, self.out_channels))

    def get_config(self):
        return {**super().get_config(), "architecture": self.architecture, "width": self.width,
                "image_shape": self.image_shape, "out_channels": self.out_channels}
