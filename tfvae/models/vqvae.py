"""VQ-VAE (van den Oord et al. 2017) and its two-level form (VQ-VAE-2, Razavi et al. 2019): phase I, the autoencoder.

One level: images [B, H, W, C] -> encoder features [B, h, w, F] -> latents L [B, h, w, D] -> nearest codes
z [B, h, w] in {0..K-1} (tfvae/nets/quantizer.py) -> decoder -> p(x|C_z). For 28x28 with channels (32, 64): 7x7 codes.

Two levels (`levels=2`): the top latents come from the bottom features by one more stride-2 stage (a 4x4 map for
28x28), are quantized, and decoded back to the bottom resolution (t_up [B, h, w, F]); the bottom latents are computed
from the features *and* t_up, and the decoder sees both the bottom codes and t_up. Code maps are always listed top
first: `indices(x)` returns [z_bottom] or [z_top, z_bottom].

Loss per image (summed over positions and code dimensions, tfvae/objectives.py style named terms):

    objective = -log p(x|C_z) + commitment_weight * ||L - sg(C_z)||^2 [+ ||sg(L) - C_z||^2 if codebook_update=loss]

The posterior q(z|x) is one-hot (a tfd.Categorical per position); against a uniform prior its KL is log K per
position, so the ELBO's rate is the constant h w log K and training minimizes the distortion alone. Phase II
(tfvae/models/pixelcnn_prior.py) replaces the uniform prior by a PixelCNN fitted to the codes of the training set.
"""

import math

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from tfvae import precision
from tfvae.config import VQVAEConfig
from tfvae.data import pixels
from tfvae.distributions.likelihoods import make_likelihood
from tfvae.models.base import ConfiguredModel, inputs_of
from tfvae.nets.feature_maps import MapDecoder, MapEncoder, map_size
from tfvae.nets.quantizer import VectorQuantizer, code_counts, perplexity
from tfvae.seeds import model_seed

tfd = tfp.distributions

TERMS = ("objective", "distortion", "codebook", "commitment", "mse")


def code_shapes(config):
    """[(h_l, w_l)] of the code maps, top first: the image size halved once per conv stage (and once more on top)."""
    h, w, _ = config.input_shape
    down = len(config.hidden_units)
    return [(map_size(h, down + level), map_size(w, down + level)) for level in reversed(range(config.levels))]


def perplexities(usage):
    """{perplexity_l: the codebook perplexity of level l's code counts [K]} for counts per level (top first)."""
    return {f"perplexity_{level}": perplexity(counts) for level, counts in enumerate(usage)}


@keras.saving.register_keras_serializable(package="tfvae")
class VQVAE(ConfiguredModel):
    """A VQ-VAE over images [B, *config.input_shape]; see the module docstring."""

    CONFIG_CLASS = VQVAEConfig

    TERMS = TERMS

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        c = self.config
        h, w, channels = c.input_shape
        features = c.hidden_units[-1]
        self.likelihood = make_likelihood(c)
        with precision.networks(c.precision):  # the networks compute in c.precision; codebooks are float32
            self.encoder = MapEncoder(c.hidden_units, features, name="encoder")
            self.to_latent = keras.layers.Conv2D(c.code_dim, 1, name="to_latent")
        self.quantizers = [
            VectorQuantizer(c.num_codes, c.code_dim, c.codebook_update, c.codebook_lr_scale, c.ema_decay,
                            c.restart_threshold, name=f"quantizer_{level}") for level in range(c.levels)]
        self.code_shapes = code_shapes(c)
        with precision.networks(c.precision):
            if c.levels == 2:
                self.top_encoder = MapEncoder((features,), c.code_dim, name="top_encoder")
                self.top_decoder = MapDecoder((features,), self.code_shapes[1], features, name="top_decoder")
            self.decoder = MapDecoder(c.hidden_units, (h, w), channels * self.likelihood.params_per_channel,
                                      name="decoder")
        self.trackers += [keras.metrics.Mean(f"perplexity_{level}") for level in range(c.levels)]

    # --- the quantized code maps ----------------------------------------------------------------------------------
    def encoder_input(self, x):
        """The network sees 8-bit data rescaled to [-1, 1]; other representations already lie in [0, 1]."""
        return pixels.network_input(x, self.config.pixels)

    def code_levels(self, x):
        """Per level (top first): (latents L [B, h, w, D], indices z [B, h, w], codes C_z [B, h, w, D]); and the
        decoder's input [B, h, w, D (+ F)], built from the straight-through codes."""
        f32 = precision.to_float32  # every network's output, before it meets codes or distributions
        features = f32(self.encoder(self.encoder_input(x)))  # [B, h, w, F]
        levels, context = [], []
        if self.config.levels == 2:
            top = f32(self.top_encoder(features))  # [B, h / 2, w / 2, D]
            indices, codes, straight = self.quantizers[0](top)
            levels.append((top, indices, codes))
            context = [f32(self.top_decoder(straight))]  # t_up [B, h, w, F]
            features = tf.concat([features, context[0]], -1)
        bottom = f32(self.to_latent(features))  # [B, h, w, D]
        indices, codes, straight = self.quantizers[-1](bottom)
        levels.append((bottom, indices, codes))
        return levels, tf.concat([straight, *context], -1)

    def decoder_input(self, indices):
        """The decoder's input from code indices (top first): the codes, and for two levels t_up of the top codes."""
        codes = [q.lookup(z) for q, z in zip(self.quantizers, indices)]
        if self.config.levels == 2:
            return tf.concat([codes[1], precision.to_float32(self.top_decoder(codes[0]))], -1)
        return codes[0]

    def decoded(self, decoder_input):
        """The decoder's output [B, H, W, C * P], in float32: p(x|codes)'s parameters (tfvae/precision.py)."""
        return precision.to_float32(self.decoder(decoder_input))

    def indices(self, x):
        """The code maps of images x: int32 [B, h_l, w_l] per level, top first."""
        levels, _ = self.code_levels(x)
        return [z for _, z, _ in levels]

    def posterior(self, x):
        """q(z|x) per level: a one-hot tfd.Categorical with batch shape [B, h_l, w_l] (the VQ-VAE's deterministic
        encoder in the ELBO view)."""
        return [tfd.Categorical(probs=tf.one_hot(z, self.config.num_codes)) for z in self.indices(x)]

    def uniform_rate(self):
        """The rate under a uniform prior, in nats per image: sum over levels of h_l w_l log K."""
        return sum(h * w for h, w in self.code_shapes) * math.log(self.config.num_codes)

    # --- the loss -----------------------------------------------------------------------------------------------
    def observation(self, decoder_input, x=None, training=False):
        """p(x|codes): batch [B], event [H, W, C]."""
        return self.likelihood.distribution(self.decoded(decoder_input), x, training)

    def terms(self, x, training=False):
        """Named per-example terms [B] (see the module docstring), and the per-level (latents, indices, codes)."""
        levels, decoder_input = self.code_levels(x)
        params = self.decoded(decoder_input)
        distortion = -self.likelihood.distribution(params, x, training).log_prob(x)  # [B]
        codebook = commitment = 0.0
        for latents, _, codes in levels:
            codebook += tf.reduce_sum(tf.square(tf.stop_gradient(latents) - codes), [1, 2, 3])  # [B]
            commitment += tf.reduce_sum(tf.square(latents - tf.stop_gradient(codes)), [1, 2, 3])  # [B]
        objective = distortion + self.config.commitment_weight * commitment
        if self.config.codebook_update == "loss":
            objective += codebook
        mse = tf.reduce_mean(tf.square(x - self.likelihood.mean(params)), [1, 2, 3])  # [B], per pixel
        terms = {"objective": objective, "distortion": distortion, "codebook": codebook, "commitment": commitment,
                 "mse": mse}
        return terms, levels

    # --- generation ---------------------------------------------------------------------------------------------
    def decode(self, indices):
        """The mean image of p(x|codes) for code maps (top first): [B, H, W, C]."""
        return self.likelihood.mean(self.decoded(self.decoder_input(indices)))

    # --- Keras --------------------------------------------------------------------------------------------------
    def call(self, x):
        """The reconstruction: the mean of p(x|C_z) at the nearest codes; [B, H, W, C]."""
        return self.decode(self.indices(x))

    def step_terms(self, data, step, training):
        """`terms` of a batch's images, with their `levels` for the codebook update (`after_update`); a test batch
        adds perplexity_l, the codebook perplexity of its code usage per level (a training batch's comes from the
        update)."""
        terms, levels = self.terms(inputs_of(data), training)
        if training:
            return {**terms, "levels": levels}
        return {**terms, **perplexities([code_counts(z, self.config.num_codes) for _, z, _ in levels])}

    def after_update(self, data, terms):
        """The codebooks' EMA updates and restarts (tfvae/nets/quantizer.py) from this step's latents, after the
        gradient step; returns the perplexity_l of the code usage they counted over all replicas."""
        step = self.optimizer.iterations  # already counts this step: the restarts of step s draw with s + 1
        usage = [quantizer.update_codebook(latents, indices, model_seed(self.config.seed, step, level))
                 for level, (quantizer, (latents, indices, _)) in enumerate(zip(self.quantizers, terms["levels"]))]
        return perplexities(usage)

    def build(self, input_shape=None):
        """Creates every weight by one pass of a zero image through every network."""
        self.terms(tf.zeros([1, *self.config.input_shape]))
        self.built = True
