"""Colorization with a latent segmentation: P(y|x) = sum_z P(z|x) P(y|z, x), trained as a VAE.

x is the lightness L of an image, y its chroma (a, b) in CIE Lab (tfvae/colorization/colour.py), z a segmentation:
a label z_p in {0..K-1} for every pixel p.

    P(z|x)     = prod_p Cat(z_p; softmax(prior_logits(x)_p))              the segmentation network (a U-Net on L)
    Q(z|x, y)  = prod_p Cat(z_p; softmax(prior_logits(x)_p + delta(x, y)_p))    the encoder, which sees the colour
    P(y|z, x)  = prod_p N(y_p; c_{z_p}, diag(sigma_{z_p}^2)),  c_k = sum_p [z_p = k] h_k(x)_p / (sum_p [z_p = k] + eps)

Each segment k of an image gets one chroma c_k, the mean over its pixels of the network's k-th chroma hypothesis
h_k(x) [B, H, W, K, 2]: colour reaches a pixel only through its segment, so a decoder that ignored z would paint the
whole image in one colour (no path around z; tested by gradients). Different segments carry different hypotheses,
so sampling z from P(z|x) gives different colourings of an ambiguous object.

The bound per pixel, in nats (ELBO = E_Q[log P(y|z, x)] - KL(Q || P), the KL exact per pixel):

    distortion = -E_Q[log P(y|z, x)],    rate = KL(Q(z|x, y) || P(z|x)),    objective = distortion + beta w(t) rate'

with w(t) the KL warm-up and rate' = max(rate, free_bits) per image. Training estimates the distortion with a relaxed
sample z~ ~ RelaxedOneHotCategorical(tau, Q) (Gumbel-softmax; tau annealed from 1 to `temperature` over
`temperature_steps`) that pools the chromas, and then enumerates each pixel's own label exactly:
distortion_p = sum_k Q(z_p = k) (-log N(y_p; c_k(z~), sigma_k)). Evaluation (test_step, apps.evaluate) draws a hard
z ~ Q, an unbiased single-sample estimate of the discrete model's bound.

Inference: `colorize` pools with the probabilities of P(z|x) and returns sum_k P(z_p = k|x) c_k (the expected
colour under a mean-field pooling); `sample_colorings` draws hard z from P(z|x); `segment` is its per-pixel mode.
"""

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from tfvae import objectives, precision
from tfvae.colorization import colour
from tfvae.config import ColorizeConfig
from tfvae.models.base import ConfiguredModel, inputs_of, replica_rows
from tfvae.nets.unet import UNet
from tfvae.seeds import BASE_STREAM, fold, model_seed

tfd = tfp.distributions

AB_SCALE = 100.0  # networks see ab / AB_SCALE and L / 50 - 1, both about [-1, 1]
MIN_SCALE = 0.5  # Lab units: a floor on sigma_k keeps the density bounded
POOL_EPS = 1e-3  # an empty segment's chroma is 0 (grey); a real one has >= 1 pixel, so eps changes it by < 0.1%
TERMS = ("objective", "elbo", "distortion", "rate", "perplexity")


def gumbel_softmax(logits, temperature, uniform):
    """A relaxed one-hot sample of RelaxedOneHotCategorical(temperature, logits) from uniform noise of logits' shape:
    softmax((logits + g) / temperature), g = -log(-log u) (Jang et al. 2017; Maddison et al. 2017)."""
    tiny = 1e-20
    gumbel = -tf.math.log(-tf.math.log(tf.clip_by_value(uniform, tiny, 1.0 - 1e-7)))
    return tf.nn.softmax((logits + gumbel) / temperature, axis=-1)


def pooled_chroma(weights, hypotheses):
    """c [B, K, 2]: per segment, the weighted mean of its hypothesis; weights [B, H, W, K], hypotheses [B, H, W, K, 2]."""
    total = tf.reduce_sum(weights[..., None] * hypotheses, axis=[1, 2])  # [B, K, 2]
    return total / (tf.reduce_sum(weights, axis=[1, 2])[..., None] + POOL_EPS)


def paint(weights, chroma):
    """ab [B, H, W, 2] = sum_k weights_k c_k; weights [B, H, W, K], chroma [B, K, 2]."""
    return tf.einsum("bhwk,bkc->bhwc", weights, chroma)


def seed_pair(seed, counter):
    """The int64 [2] seed of draw `counter` (0, 1, 2) of a user-given integer seed (a Python int or an int64 tensor,
    e.g. a signature input): tfvae.seeds.fold(seed, BASE_STREAM, counter), the counter folded as int32."""
    return fold(seed, BASE_STREAM, counter, dtype=tf.int32)


def usage_perplexity(one_hot):
    """exp(entropy) of the label frequencies of one-hot maps [..., K]: the effective number of segments used."""
    usage = tf.reduce_mean(tf.reshape(one_hot, [-1, tf.shape(one_hot)[-1]]), axis=0)
    return tf.exp(-tf.reduce_sum(tf.math.multiply_no_nan(tf.math.log(usage), usage)))


@keras.saving.register_keras_serializable(package="tfvae")
class Colorizer(ConfiguredModel):
    """The latent-segmentation colorizer (module docstring); input_shape is [crop, crop, 3] of the training crops."""

    CONFIG_CLASS = ColorizeConfig

    TERMS = TERMS

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        c = self.config
        k = c.num_segments
        with precision.networks(c.precision):  # the U-Nets compute in c.precision, all else in float32
            self.scene = UNet(c.hidden_units, k + 2 * k, name="scene")  # L -> prior logits [K], hypotheses [K, 2]
            self.encoder = UNet(tuple(max(u // 2, 8) for u in c.hidden_units), k, name="encoder")  # (L, a, b)
        # softplus(10) + MIN_SCALE = 10.5 Lab units, about the spread of natural chroma around a segment's mean
        self.raw_scale = self.add_weight(shape=(k, 2), initializer=keras.initializers.Constant(10.0),
                                         name="raw_scale")

    @property
    def min_side(self):
        """The smallest image side the networks take (tfvae/nets/unet.py)."""
        return self.scene.min_side

    # --- the networks and distributions --------------------------------------------------------------------------
    @staticmethod
    def lab(image):
        """Any image (colour.to_float_rgb) -> (L [B, H, W, 1], ab [B, H, W, 2]) in Lab units."""
        lab = colour.rgb_to_lab(colour.to_float_rgb(image))
        return lab[..., :1], lab[..., 1:]

    def scene_outputs(self, lightness):
        """(prior logits [B, H, W, K], chroma hypotheses h [B, H, W, K, 2] in Lab units) from L [B, H, W, 1]."""
        k = self.config.num_segments
        out = precision.to_float32(self.scene(lightness / 50.0 - 1.0))
        hypotheses = AB_SCALE * tf.reshape(out[..., k:], tf.concat([tf.shape(out)[:-1], [k, 2]], 0))
        return out[..., :k], hypotheses

    def posterior_logits(self, lightness, ab, prior_logits):
        """Q's logits [B, H, W, K]: P's logits plus what the colour adds."""
        delta = self.encoder(tf.concat([lightness / 50.0 - 1.0, ab / AB_SCALE], -1))
        return prior_logits + precision.to_float32(delta)

    def scale(self):
        """sigma [K, 2] in Lab units."""
        return tf.nn.softplus(self.raw_scale) + MIN_SCALE

    def observation(self, chroma):
        """P(y_p | z_p = k, c) for every k: batch [B, K] broadcasting against y [B, H, W, 1, 2], event [2]."""
        return tfd.Independent(tfd.Normal(chroma[:, None, None], self.scale()), reinterpreted_batch_ndims=1)

    # --- the bound -----------------------------------------------------------------------------------------------
    def terms(self, image, uniform=None, temperature=1.0):
        """Named per-image terms [B] in nats per pixel, and the training loss `objective` [B].

        image: RGB [B, H, W, 3]; uniform: noise [B, H, W, K] for a relaxed sample (training), None: a hard sample by
        Gumbel-max with noise from the evaluation seed."""
        lightness, ab = self.lab(image)
        prior_logits, hypotheses = self.scene_outputs(lightness)
        q_logits = self.posterior_logits(lightness, ab, prior_logits)
        q, p = tfd.Categorical(logits=q_logits), tfd.Categorical(logits=prior_logits)
        rate = tf.reduce_mean(tfd.kl_divergence(q, p), axis=[1, 2])  # [B]
        log_lik = self.observation_log_probs(ab, q_logits, hypotheses, uniform, temperature)  # [B, H, W, K]
        if uniform is None:  # evaluation: the hard sample's own label
            hard = self.hard_sample(q_logits, self.eval_noise(q_logits))
            distortion = -tf.reduce_mean(tf.reduce_sum(hard * log_lik, -1), axis=[1, 2])
        else:
            distortion = -tf.reduce_mean(tf.reduce_sum(tf.nn.softmax(q_logits) * log_lik, -1), axis=[1, 2])
        optimizer = getattr(self, "optimizer", None)  # none before compile (build)
        alpha = objectives.warmup(optimizer.iterations if optimizer else 0, self.config.warmup_steps)
        objective = distortion + self.config.beta * alpha * tf.maximum(rate, self.config.free_bits)
        used = tf.one_hot(tf.argmax(q_logits, -1), self.config.num_segments)
        return {"objective": objective, "elbo": -(distortion + rate), "distortion": distortion, "rate": rate,
                "perplexity": tf.fill(tf.shape(rate), usage_perplexity(used))}

    def observation_log_probs(self, ab, q_logits, hypotheses, uniform, temperature):
        """log P(y_p | z_p = k, c) [B, H, W, K], with c pooled by a relaxed (uniform given) or hard sample of Q."""
        if uniform is None:
            weights = self.hard_sample(q_logits, self.eval_noise(q_logits))
        else:
            weights = gumbel_softmax(q_logits, temperature, uniform)
        return self.observation(pooled_chroma(weights, hypotheses)).log_prob(ab[..., None, :])

    @staticmethod
    def hard_sample(logits, uniform):
        """One-hot z [..., K] ~ Cat(softmax(logits)) by Gumbel-max from uniform noise of logits' shape."""
        return tf.one_hot(tf.argmax(gumbel_softmax(logits, 1.0, uniform), -1), tf.shape(logits)[-1])

    def eval_noise(self, logits):
        return tf.random.stateless_uniform(tf.shape(logits), seed=model_seed(self.config.seed, -1))

    def temperature(self, step):
        """tau(step) = temperature^min(1, step / temperature_steps): from 1 down to `temperature`."""
        progress = tf.minimum(1.0, tf.cast(step, tf.float32) / max(self.config.temperature_steps, 1))
        return tf.pow(self.config.temperature, progress)

    def noise(self, shape, seed):
        """Uniform noise of `shape` for this replica's batch: its rows of the draw for the global batch."""
        rows, start = replica_rows(shape[0])
        u = tf.random.stateless_uniform(tf.concat([[rows], shape[1:]], 0), seed=seed)
        return u[start:start + shape[0]]

    def step_terms(self, data, step, training):
        """`terms` of a batch's images: in training with a relaxed sample from this replica's noise of the step at
        the temperature of the step; in evaluation with a hard sample from the evaluation seed."""
        image = inputs_of(data)
        if not training:
            return self.terms(image)
        shape = tf.concat([tf.shape(image)[:3], [self.config.num_segments]], 0)
        return self.terms(image, self.noise(shape, model_seed(self.config.seed, step)), self.temperature(step))

    def shuffle_costs(self, image, seed):
        """How much the segmentation matters: (log P(y|z, x), log P(y|z', x)), each [B] in nats per pixel, for a hard
        z ~ Q(z|x, y) and z' the same labels at randomly permuted pixel positions (same usage, no layout)."""
        lightness, ab = self.lab(image)
        prior_logits, hypotheses = self.scene_outputs(lightness)
        q_logits = self.posterior_logits(lightness, ab, prior_logits)
        z = self.hard_sample(q_logits, tf.random.stateless_uniform(tf.shape(q_logits), seed=seed_pair(seed, 1)))
        pixels = tf.shape(z)[1] * tf.shape(z)[2]
        order = tf.argsort(tf.random.stateless_uniform([pixels], seed=seed_pair(seed, 2)))
        shuffled = tf.reshape(tf.gather(tf.reshape(z, [tf.shape(z)[0], pixels, -1]), order, axis=1), tf.shape(z))

        def log_likelihood(labels):
            log_probs = self.observation(pooled_chroma(labels, hypotheses)).log_prob(ab[..., None, :])
            return tf.reduce_mean(tf.reduce_sum(labels * log_probs, -1), axis=[1, 2])

        return log_likelihood(z), log_likelihood(shuffled)

    # --- inference -----------------------------------------------------------------------------------------------
    def segment_probabilities(self, image):
        """P(z_p = k|x) [B, H, W, K] of any image [B, H, W, C] (C = 1 or 3, uint8 or float; colour is ignored)."""
        lightness, _ = self.lab(image)
        return tf.nn.softmax(self.scene_outputs(lightness)[0])

    def paint_with(self, lightness, weights, hypotheses):
        """RGB [B, H, W, 3] in [0, 1] from L [B, H, W, 1] and segment weights [B, H, W, K] (one-hot or soft)."""
        ab = paint(weights, pooled_chroma(weights, hypotheses))
        return colour.lab_to_rgb(tf.concat([lightness, ab], -1))

    def colorize(self, image):
        """RGB [B, H, W, 3] in [0, 1]: sum_k P(z_p = k|x) c_k with c pooled by P(z|x)'s probabilities."""
        lightness, _ = self.lab(image)
        logits, hypotheses = self.scene_outputs(lightness)
        return self.paint_with(lightness, tf.nn.softmax(logits), hypotheses)

    def sample_colorings(self, image, count, seed):
        """count colourings of one image [1, H, W, C] from hard z ~ P(z|x): (RGB [count, H, W, 3], labels
        [count, H, W]). Each colouring draws one Gumbel vector g [K] for the whole image and labels every pixel
        argmax_k(logits_pk + g_k): each pixel's label is an exact draw from P(z_p|x) (Gumbel-max), and the pixels
        of one colouring share the draw, so it is one consistent reading of the scene (per-pixel independent draws
        would scatter the segments and mix the readings)."""
        lightness, _ = self.lab(image)
        logits, hypotheses = self.scene_outputs(lightness)  # [1, H, W, K]
        uniform = tf.random.stateless_uniform([count, 1, 1, self.config.num_segments], seed=seed_pair(seed, 0))
        labels = tf.argmax(gumbel_softmax(logits, 1.0, uniform), -1, output_type=tf.int32)  # [count, H, W]
        weights = tf.one_hot(labels, self.config.num_segments)
        many = lambda t: tf.repeat(t, count, axis=0)  # pylint: disable=unnecessary-lambda-assignment
        return self.paint_with(many(lightness), weights, many(hypotheses)), labels

    def segment(self, image):
        """The mode of P(z|x) per pixel: int32 [B, H, W]."""
        return tf.argmax(self.segment_probabilities(image), -1, output_type=tf.int32)

    # --- Keras ---------------------------------------------------------------------------------------------------
    def call(self, image):
        return self.colorize(image)

    def build(self, input_shape=None):
        """Creates every weight by one pass of a grey image of the smallest size."""
        side = self.scene.min_side
        image = tf.zeros([1, side, side, 3])
        self.terms(image, tf.fill([1, side, side, self.config.num_segments], 0.5))
        self.built = True
