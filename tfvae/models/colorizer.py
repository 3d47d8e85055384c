"""Colorization with a latent segmentation: P(y|x) = sum_z P(z|x) P(y|z, x), trained as a VAE.

x is the lightness L of an image, y its chroma (a, b) in CIE Lab (tfvae/colorization/colour.py), z a segmentation:
a label z_c in {0..K-1} for every cell c of a grid at 1/s of the image resolution (s = `latent_stride` pixels a
side; s = 1 gives a label per pixel).

    P(z|x)     = prod_c Cat(z_c; softmax(pool_s(prior_logits(x))_c))          the segmentation network (a U-Net on L)
    Q(z|x, y)  = prod_c Cat(z_c; softmax(pool_s(prior_logits(x) + delta(x, y))_c))    the encoder, which sees colour
    w(z, x)_p  = sum_{c in N(p)} a_pc z_c,   a_pc = softmax_c(log t_pc - (L_p - Lbar_c)^2 / (2 g^2))
    P(y|z, x)  = prod_p sum_k w_pk N(y_p; c_k, diag(sigma_k^2)),   c_k = sum_p w_pk h_k(x)_p / (sum_p w_pk + eps)

pool_s is the mean over a cell; N(p) are the 2 x 2 cells whose centres surround pixel p, t_pc their bilinear weights
and Lbar_c their mean lightness: z is upsampled with guidance from x (joint bilateral upsampling, g =
`guide_scale` Lab units of L; g = 0: plain bilinear), so a label boundary follows the lightness edges within a cell
but a label cannot change faster than the grid: segments are regions, not the stripes of lightness a per-pixel label
can draw. Each segment k of an image gets one chroma c_k, the w-weighted mean over the image of the network's k-th
chroma hypothesis h_k(x) [B, H, W, K, 2]: colour reaches a pixel only through the labels of its cells, so a decoder
that ignored z would paint the whole image in one colour (no path around z; tested by gradients). Different
segments carry different hypotheses, so sampling z from P(z|x) gives different colourings of an ambiguous object.

The bound per pixel, in nats (ELBO = E_Q[log P(y|z, x)] - KL(Q || P), the KL exact per cell, summed over the cells
and divided by the pixels):

    distortion = -E_Q[log P(y|z, x)],    rate = KL(Q(z|x, y) || P(z|x)),    objective = distortion + beta w(t) rate'

with w(t) the KL warm-up and rate' = max(rate, free_bits) per image. Training estimates the distortion with a relaxed
sample z~ ~ RelaxedOneHotCategorical(tau, Q) of the cells (Gumbel-softmax; tau annealed from 1 to `temperature`
over `temperature_steps`), which gives w(z~, x), the pooled chromas and the per-pixel mixture above. Evaluation
(test_step, apps.evaluate) draws a hard z ~ Q, an unbiased single-sample estimate of the discrete model's bound.

Inference: `colorize` uses the probabilities of P(z|x) as soft cell labels and returns sum_k w_pk c_k (the expected
colour under a mean-field pooling; with `annealing` T < 1 the probabilities softmax(logits / T), the annealed mean
of Zhang et al. 2016, sharper and more colourful); `sample_colorings` draws hard z from P(z|x); `segment` is the per-pixel mode of
w under P's probabilities.
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


def grid_shape(height, width, stride):
    """(rows, columns) of the latent grid of an image: ceil(H / s), ceil(W / s)."""
    return -(-height // stride), -(-width // stride)


def cell_means(maps, stride):
    """[B, ceil(H / s), ceil(W / s), C]: the mean of maps [B, H, W, C] over each s x s cell (cell (i, j) holds pixels
    i s .. i s + s - 1, j s .. j s + s - 1; the last row and column of cells may be partial: their mean is over the
    pixels they hold)."""
    if stride == 1:
        return maps
    shape = tf.shape(maps)
    pad = [[0, 0], [0, (-shape[1]) % stride], [0, (-shape[2]) % stride], [0, 0]]

    def sums(t):
        t = tf.pad(t, pad)
        s = tf.shape(t)
        t = tf.reshape(t, [s[0], s[1] // stride, stride, s[2] // stride, stride, t.shape[-1]])
        return tf.reduce_sum(t, axis=[2, 4])

    return sums(maps) / sums(tf.ones_like(maps[..., :1]))


def neighbours(pixels, cells, stride):
    """Along one axis of `pixels` pixels and `cells` cells: (the cell whose centre is at or before each pixel, the
    next cell, the bilinear weight of the next one), each [pixels]; cell c's centre is pixel c s + (s - 1) / 2, and
    pixels beyond the first or last centre take that cell twice."""
    u = (tf.cast(tf.range(pixels), tf.float32) - (stride - 1) / 2) / stride
    lower = tf.floor(u)
    lower_index = tf.cast(lower, tf.int32)
    return (tf.clip_by_value(lower_index, 0, cells - 1), tf.clip_by_value(lower_index + 1, 0, cells - 1),
            u - lower)


def upsample(cells, lightness, stride, guide_scale):
    """Pixel label weights w [B, H, W, K] (module docstring) from cell labels [B, h, w, K] (one-hot, relaxed or
    probabilities) and L [B, H, W, 1]: w_p = sum over the 2 x 2 cells around p of a_pc z_c, with a_pc the softmax over
    those cells of log(bilinear weight) - (L_p - Lbar_c)^2 / (2 guide_scale^2) (guide_scale = 0: bilinear)."""
    if stride == 1:
        return cells
    shape = tf.shape(cells)
    rows = neighbours(tf.shape(lightness)[1], shape[1], stride)
    cols = neighbours(tf.shape(lightness)[2], shape[2], stride)
    mean_lightness = cell_means(lightness, stride)
    logits, labels = [], []
    for row, row_weight in ((rows[0], 1.0 - rows[2]), (rows[1], rows[2])):
        for col, col_weight in ((cols[0], 1.0 - cols[2]), (cols[1], cols[2])):
            pick = lambda t: tf.gather(tf.gather(t, row, axis=1), col, axis=2)  # noqa: E731  [B, H, W, C]
            logit = tf.math.log(tf.maximum(row_weight[:, None] * col_weight[None, :], 1e-30))[None, :, :, None]
            if guide_scale > 0:
                logit = logit - tf.square(lightness - pick(mean_lightness)) / (2.0 * guide_scale ** 2)
            logits.append(logit)
            labels.append(pick(cells))
    weights = tf.nn.softmax(tf.stack(logits), axis=0)  # [4, B, H, W, 1]
    # sum_n a_n z_n written as z_0 + sum_n a_n (z_n - z_0) (the a_n sum to 1): exactly z_0 where the cells agree
    return labels[0] + tf.reduce_sum(weights * (tf.stack(labels) - labels[0]), axis=0)


def mixture_log_likelihood(log_probs, weights):
    """[B]: the mean over pixels of log sum_k w_pk exp(log_probs_pk); log_probs, weights [B, H, W, K]."""
    log_weights = tf.math.log(tf.maximum(weights, 1e-12))
    return tf.reduce_mean(tf.reduce_logsumexp(log_probs + log_weights, axis=-1), axis=[1, 2])


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

    def cells(self, maps):
        """Per-pixel maps [B, H, W, C] -> their cell means [B, h, w, C] on the latent grid."""
        return cell_means(maps, self.config.latent_stride)

    def pixel_weights(self, cells, lightness):
        """w [B, H, W, K] of cell labels [B, h, w, K] (module docstring)."""
        return upsample(cells, lightness, self.config.latent_stride, self.config.guide_scale)

    def log_likelihood(self, ab, weights, hypotheses):
        """log P(y|z, x) [B], nats per pixel: sum_k w_pk N(y_p; c_k, sigma_k), c pooled by the weights w."""
        log_probs = self.observation(pooled_chroma(weights, hypotheses)).log_prob(ab[..., None, :])  # [B, H, W, K]
        return mixture_log_likelihood(log_probs, weights)

    # --- the bound -----------------------------------------------------------------------------------------------
    def terms(self, image, uniform=None, temperature=1.0):
        """Named per-image terms [B] in nats per pixel, and the training loss `objective` [B].

        image: RGB [B, H, W, 3]; uniform: noise [B, h, w, K] of the latent grid for a relaxed sample (training),
        None: a hard sample by Gumbel-max with noise from the evaluation seed."""
        lightness, ab = self.lab(image)
        prior_logits, hypotheses = self.scene_outputs(lightness)
        q_logits = self.cells(self.posterior_logits(lightness, ab, prior_logits))
        p_logits = self.cells(prior_logits)
        q, p = tfd.Categorical(logits=q_logits), tfd.Categorical(logits=p_logits)
        pixels = tf.cast(tf.shape(image)[1] * tf.shape(image)[2], tf.float32)
        rate = tf.reduce_sum(tfd.kl_divergence(q, p), axis=[1, 2]) / pixels  # [B]
        if uniform is None:  # evaluation: a hard sample
            z = self.hard_sample(q_logits, self.eval_noise(q_logits))
        else:
            z = gumbel_softmax(q_logits, temperature, uniform)
        distortion = -self.log_likelihood(ab, self.pixel_weights(z, lightness), hypotheses)
        optimizer = getattr(self, "optimizer", None)  # none before compile (build)
        alpha = objectives.warmup(optimizer.iterations if optimizer else 0, self.config.warmup_steps)
        objective = distortion + self.config.beta * alpha * tf.maximum(rate, self.config.free_bits)
        used = tf.one_hot(tf.argmax(q_logits, -1), self.config.num_segments)
        return {"objective": objective, "elbo": -(distortion + rate), "distortion": distortion, "rate": rate,
                "perplexity": tf.fill(tf.shape(rate), usage_perplexity(used))}

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

    def grid(self, image):
        """[B, h, w, K]: the shape of the cell labels of a batch of images."""
        rows, cols = grid_shape(tf.shape(image)[1], tf.shape(image)[2], self.config.latent_stride)
        return tf.stack([tf.shape(image)[0], rows, cols, self.config.num_segments])

    def step_terms(self, data, step, training):
        """`terms` of a batch's images: in training with a relaxed sample from this replica's noise of the step at
        the temperature of the step; in evaluation with a hard sample from the evaluation seed."""
        image = inputs_of(data)
        if not training:
            return self.terms(image)
        return self.terms(image, self.noise(self.grid(image), model_seed(self.config.seed, step)),
                          self.temperature(step))

    def shuffle_costs(self, image, seed):
        """How much the segmentation matters: (log P(y|z, x), log P(y|z', x)), each [B] in nats per pixel, for a hard
        z ~ Q(z|x, y) and z' the same cell labels at randomly permuted cells (same usage, no layout)."""
        lightness, ab = self.lab(image)
        prior_logits, hypotheses = self.scene_outputs(lightness)
        q_logits = self.cells(self.posterior_logits(lightness, ab, prior_logits))
        z = self.hard_sample(q_logits, tf.random.stateless_uniform(tf.shape(q_logits), seed=seed_pair(seed, 1)))
        count = tf.shape(z)[1] * tf.shape(z)[2]
        order = tf.argsort(tf.random.stateless_uniform([count], seed=seed_pair(seed, 2)))
        shuffled = tf.reshape(tf.gather(tf.reshape(z, [tf.shape(z)[0], count, -1]), order, axis=1), tf.shape(z))
        return tuple(self.log_likelihood(ab, self.pixel_weights(labels, lightness), hypotheses)
                     for labels in (z, shuffled))

    # --- inference -----------------------------------------------------------------------------------------------
    def segment_probabilities(self, image):
        """w [B, H, W, K] of P(z|x)'s (annealed) cell probabilities, for any image [B, H, W, C] (C = 1 or 3, uint8 or
        float; colour is ignored): how much each label holds each pixel."""
        lightness, _ = self.lab(image)
        return self.pixel_weights(self.annealed(self.scene_outputs(lightness)[0]), lightness)

    def annealed(self, logits):
        """Cell probabilities [B, h, w, K] of the annealed mean: softmax(cells(logits) / annealing)."""
        return tf.nn.softmax(self.cells(logits) / self.config.annealing)

    def paint_with(self, lightness, weights, hypotheses):
        """RGB [B, H, W, 3] in [0, 1] from L [B, H, W, 1] and pixel label weights [B, H, W, K]."""
        ab = paint(weights, pooled_chroma(weights, hypotheses))
        return colour.lab_to_rgb(tf.concat([lightness, ab], -1))

    def colorize(self, image):
        """RGB [B, H, W, 3] in [0, 1]: sum_k w_pk c_k with w from P(z|x)'s (annealed) cell probabilities."""
        lightness, _ = self.lab(image)
        logits, hypotheses = self.scene_outputs(lightness)
        return self.paint_with(lightness, self.pixel_weights(self.annealed(logits), lightness), hypotheses)

    def sample_colorings(self, image, count, seed):
        """count colourings of one image [1, H, W, C] from hard z ~ P(z|x): (RGB [count, H, W, 3], labels
        [count, H, W], each pixel's label the largest of its weights). Each colouring draws one Gumbel vector g [K]
        for the whole image and labels every cell argmax_k(logits_ck + g_k): each cell's label is an exact draw from
        P(z_c|x) (Gumbel-max), and the cells of one colouring share the draw, so it is one consistent reading of the
        scene (independent draws per cell would scatter the segments and mix the readings)."""
        lightness, _ = self.lab(image)
        logits, hypotheses = self.scene_outputs(lightness)
        logits = self.cells(logits)  # [1, h, w, K]
        uniform = tf.random.stateless_uniform([count, 1, 1, self.config.num_segments], seed=seed_pair(seed, 0))
        cells = tf.one_hot(tf.argmax(gumbel_softmax(logits, 1.0, uniform), -1), self.config.num_segments)
        many = lambda t: tf.repeat(t, count, axis=0)  # noqa: E731
        weights = self.pixel_weights(cells, many(lightness))  # [count, H, W, K]
        labels = tf.argmax(weights, -1, output_type=tf.int32)
        return self.paint_with(many(lightness), weights, many(hypotheses)), labels

    def segment(self, image):
        """The label of largest weight under P(z|x) per pixel: int32 [B, H, W]."""
        return tf.argmax(self.segment_probabilities(image), -1, output_type=tf.int32)

    # --- Keras ---------------------------------------------------------------------------------------------------
    def call(self, image):
        return self.colorize(image)

    def build(self, input_shape=None):
        """Creates every weight by one pass of a grey image of the smallest size."""
        side = self.scene.min_side
        image = tf.zeros([1, side, side, 3])
        self.terms(image, tf.fill(self.grid(image), 0.5))
        self.built = True
