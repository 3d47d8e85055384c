"""Phase II of a VQ-VAE: a gated PixelCNN prior P(z) over its code maps (van den Oord et al. 2017; Razavi et al. 2019).

    P(z) = prod_l P(z_l | z_<l, y),   P(z_l | ...) = prod_{(i, j) in raster order} P(z_l[i, j] | z_l[< (i, j)], ...)

One gated PixelCNN (tfvae/nets/pixelcnn.py) per level, top first. The bottom level of a two-level model is
conditioned on the top code map (embedded and upsampled to the bottom's size, as VQ-VAE-2's conditional stack);
with `class_conditional` every level also sees the class label y. -log2 P(z) is the rate in bits per image that
the discrete latents cost under this prior (the uniform prior costs sum_l h_l w_l log2 K).

Samples are ancestral: one network evaluation per position, in a tf.while_loop (so it exports into a SavedModel),
with categorical draws from stateless seeds: the same seed gives the same code maps.
"""

import dataclasses
import math

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from tfvae import precision, seeds
from tfvae.config import PriorConfig, VQVAEConfig, from_dict
from tfvae.models.base import ConfiguredModel
from tfvae.models.vqvae import code_shapes
from tfvae.nets.pixelcnn import GatedPixelCNN

tfd = tfp.distributions


def upsample_to(x, shape):
    """Nearest-neighbour upsampling by 2 of [B, h, w, C], cropped to shape (H, W) <= (2h, 2w)."""
    x = tf.repeat(tf.repeat(x, 2, axis=1), 2, axis=2)
    return x[:, :shape[0], :shape[1]]


@keras.saving.register_keras_serializable(package="tfvae")
class CodePrior(ConfiguredModel):
    """P(z) over the code maps of the VQ-VAE of `model_config`; see the module docstring."""

    CONFIG_CLASS = PriorConfig
    TERMS = ("nll", "bits")  # and nll_l per level
    LOSS = "nll"

    def __init__(self, config, model_config, **kwargs):
        super().__init__(config, **kwargs)
        self.model_config = model_config if isinstance(model_config, VQVAEConfig) else from_dict(VQVAEConfig, model_config)
        c, k = self.config, self.model_config.num_codes
        self.code_shapes = code_shapes(self.model_config)
        levels = len(self.code_shapes)
        with precision.networks(c.precision):  # embeddings and PixelCNNs compute in c.precision; logits are float32
            self.embeddings = [keras.layers.Embedding(k, c.pixelcnn_filters, name=f"embedding_{l}")
                               for l in range(levels)]
            # Level l has a context if it is the bottom of two levels or the prior is class-conditional.
            self.networks = [GatedPixelCNN(k, c.pixelcnn_filters, c.pixelcnn_layers,
                                           conditional=c.class_conditional or l == 1, name=f"pixelcnn_{l}")
                             for l in range(levels)]
            self.label_embeddings = []
            if c.class_conditional:
                self.label_embeddings = [keras.layers.Embedding(c.num_classes, c.pixelcnn_filters, name=f"label_{l}")
                                         for l in range(levels)]
            self.top_embedding = None
            if levels == 2:
                self.top_embedding = keras.layers.Embedding(k, c.pixelcnn_filters, name="top_context")
        self.trackers += [keras.metrics.Mean(f"nll_{l}") for l in range(levels)]

    def context(self, level, codes, labels):
        """The conditioning map [B, h_l, w_l, Ec] of a level (or None): the class and, for the bottom of two
        levels, the top codes."""
        shape = self.code_shapes[level]
        parts = []
        if self.label_embeddings:
            y = self.label_embeddings[level](labels)[:, None, None, :]  # [B, 1, 1, F]
            parts.append(tf.tile(y, [1, *shape, 1]))
        if level == 1:
            parts.append(upsample_to(self.top_embedding(codes[0]), shape))  # [B, h, w, F]
        return tf.concat(parts, -1) if parts else None

    def logits(self, level, codes, labels=None):
        """Logits [B, h_l, w_l, K] of P(z_l[i, j] | earlier positions, context), for code maps (top first)."""
        return precision.to_float32(self.networks[level](self.embeddings[level](codes[level]),
                                                         self.context(level, codes, labels)))

    def distribution(self, level, codes, labels=None):
        """P(z_l | z_<l, y): a tfd.Categorical per position, event shape [h_l, w_l] (teacher-forced on codes)."""
        return tfd.Independent(tfd.Categorical(logits=self.logits(level, codes, labels)), 2)

    def log_prob(self, codes, labels=None):
        """log P(z_l | z_<l, y) per level, each [B] nats, for int code maps [B, h_l, w_l] (top first)."""
        return [self.distribution(level, codes, labels).log_prob(codes[level]) for level in range(len(codes))]

    def terms(self, codes, labels=None):
        """Named per-example terms [B]: nll (nats per image, all levels), bits (the same in bits), nll_l."""
        per_level = [-lp for lp in self.log_prob(codes, labels)]
        nll = tf.add_n(per_level)
        return {"nll": nll, "bits": nll / math.log(2.0), **{f"nll_{l}": v for l, v in enumerate(per_level)}}

    def sample(self, count, seed, labels=None):
        """Ancestral samples: int32 code maps [count, h_l, w_l] per level (top first); seed an integer, labels [count]
        int when class-conditional. Position t of level l draws with the stateless seed fold_in((seed, l), t)."""
        codes = []
        for level, (h, w) in enumerate(self.code_shapes):
            base = seeds.pair(seed, level)

            def body(t, flat, level=level, h=h, w=w, base=base):
                current = codes + [tf.reshape(flat, [-1, h, w])]
                logits = self.logits(level, current, labels)  # [count, h, w, K]
                draw = tf.random.stateless_categorical(
                    tf.gather(tf.reshape(logits, [-1, h * w, logits.shape[-1]]), t, axis=1), 1,
                    seed=seeds.fold_in(base, t), dtype=tf.int32)
                return t + 1, flat + draw * tf.one_hot(t, h * w, dtype=tf.int32)[None]  # position t gets its draw

            flat = tf.zeros(tf.stack([count, h * w]), tf.int32)
            _, flat = tf.while_loop(lambda t, _: t < h * w, body, [tf.constant(0), flat])
            codes.append(tf.reshape(flat, [-1, h, w]))
        return codes

    # --- Keras --------------------------------------------------------------------------------------------------
    def split(self, data):
        """A batch {"codes_l": [B, h_l, w_l], "label": [B]} -> (codes top first, labels or None)."""
        codes = [data[f"codes_{l}"] for l in range(len(self.code_shapes))]
        return codes, (data["label"] if self.label_embeddings else None)

    def step_terms(self, data, step, training):
        """`terms` of a batch of code maps (no noise: the same in training and evaluation)."""
        return self.terms(*self.split(data))

    def build(self, input_shape=None):
        """Creates every weight by one pass of all-zero code maps (and label 0)."""
        codes = [tf.zeros([1, h, w], tf.int32) for h, w in self.code_shapes]
        self.terms(codes, tf.zeros([1], tf.int32) if self.label_embeddings else None)
        self.built = True

    def get_config(self):
        return {**super().get_config(), "model_config": dataclasses.asdict(self.model_config)}


class VQVAEWithPrior:
    """A phase-I VQ-VAE and its code prior, as one generative model (for pictures and the SavedModel export).

    `config` is the VQ-VAE's VQVAEConfig; no weights of its own.
    """

    def __init__(self, vqvae, prior):
        self.vqvae, self.prior, self.config = vqvae, prior, vqvae.config

    def sample(self, count, seed, labels=None):
        """Code maps z ~ P(z) (top first) and their decoded mean images [count, H, W, C]."""
        codes = self.prior.sample(count, seed, None if labels is None else tf.convert_to_tensor(labels, tf.int32))
        return codes, self.vqvae.decode(codes)

    def rate(self, images, labels=None):
        """-log2 P(z(x)): bits per image [B] of the images' code maps under the prior."""
        return -tf.add_n(self.prior.log_prob(self.vqvae.indices(images), labels)) / math.log(2.0)

    def get_config(self):
        return {"config": dataclasses.asdict(self.config), "prior": dataclasses.asdict(self.prior.config)}
