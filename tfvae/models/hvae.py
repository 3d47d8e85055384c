"""The hierarchical VAE with a top-down inference path (Sonderby et al. 2016, "Ladder variational autoencoders";
Vahdat & Kautz 2020, NVAE; Child 2021, VDVAE). Levels l = 1 (bottom, next to the data) .. L (top):

    p(x, z) = p(z_L) prod_{l<L} p(z_l | z_{>l}) p(x | z),    q(z | x) = q(z_L | x) prod_{l<L} q(z_l | z_{>l}, x)

Both are computed along one top-down path (tfvae/nets/ladder.py): its state h at level l summarizes z_{>l} (at the
top it is a learned state, so p(z_L) is a learned Gaussian too); the prior is p(z_l | z_{>l}) = N(mu_p, sigma_p) from
h, and the posterior merges h with the bottom-up features e_l of x in NVAE's residual form

    q(z_l | z_{>l}, x) = N(mu_p + dmu, sigma_p * dsigma),    (dmu, dsigma) from [h, e_l]

rather than the Ladder VAE's precision-weighted merge of the prior with a bottom-up Gaussian. Why: the posterior is
a correction of the prior, so the KL of a level depends on the correction alone,

    KL(q || p) = KL(N(dmu / sigma_p, dsigma) || N(0, 1)) = 1/2 (dmu / sigma_p)^2 + 1/2 (dsigma^2 - 1) - log dsigma,

which is 0 where the posterior head outputs 0, follows the prior as it moves instead of having to chase it (NVAE,
section 3.2), and is computed from dmu and dsigma without the cancellation of mu_q - mu_p. The precision-weighted
merge, 1 / sigma_q^2 = 1 / sigma_p^2 + 1 / sigma_e^2, can never give a posterior wider than the prior; the residual
form can, and needs no bottom-up scale of its own. Scales are softplus(raw + SHIFT) + SCALE_FLOOR: 1 at raw = 0,
positive with a gradient everywhere, and never below the floor, which bounds log q, 1 / sigma_p and -log dsigma.

The bound is a sum of named per-example terms: distortion = -log p(x|z), rate_l = KL of level l given the sampled
z_{>l} (analytic Gaussian KL, so rate = sum_l rate_l is a single-sample estimate of KL(q(z|x) || p(z))), and the
training loss distortion + beta * alpha * sum_l max(free_bits * D_l, batch-mean rate_l) with alpha the KL warm-up
(tfvae/objectives.py). Updates are clipped and skipped by tfvae/models/guard.py. Noise is a pure function of
(seed, step), the global batch's draw of which each replica takes its rows (as in tfvae/models/vae.py).

A latent z is flat: [N, D] with the levels concatenated bottom first, each level's map (conv [h_l, w_l, c_l]) or
vector (mlp) flattened; `config.latent_shapes()` gives the shapes.
"""

import math

import keras
import tensorflow as tf
import tensorflow_probability as tfp

from tfvae import objectives, precision
from tfvae.config import HVAEConfig
from tfvae.data import pixels
from tfvae.distributions.likelihoods import make_likelihood
from tfvae.models.base import ConfiguredModel, inputs_of, replica_normal
from tfvae.models.guard import UpdateGuard
from tfvae.nets.ladder import LadderEncoder, LadderOutput, LevelHeads, LevelMerge, TopState
from tfvae.seeds import model_seed, tfp_seed

tfd = tfp.distributions

SHIFT = math.log(math.e - 1.0)  # softplus(SHIFT) = 1: a raw output of 0 is a unit scale
SCALE_FLOOR = 1e-3  # of sigma_p and of dsigma (so sigma_q >= 1e-6): keeps log q, 1 / sigma_p and -log dsigma finite
TERMS = ("objective", "elbo", "distortion", "rate", "grad_norm")


def scale_of(raw):
    """A positive scale from a raw network output: softplus(raw + SHIFT) + SCALE_FLOOR (module docstring)."""
    return tf.nn.softplus(raw + SHIFT) + SCALE_FLOOR


@keras.saving.register_keras_serializable(package="tfvae")
class HVAE(ConfiguredModel):
    """A hierarchical VAE over images [B, *config.input_shape]; see the module docstring."""

    CONFIG_CLASS = HVAEConfig
    TERMS = TERMS

    def __init__(self, config, **kwargs):
        super().__init__(config, **kwargs)
        c = self.config
        self.shapes = c.latent_shapes()  # bottom first
        self.sizes = [math.prod(shape) for shape in self.shapes]
        widths = c.per_level(c.hidden_units)
        conv = c.architecture == "conv"
        self.likelihood = make_likelihood(c)
        self.guard = UpdateGuard(c.grad_clip, c.skip_factor, name="guard")
        with precision.networks(c.precision):  # the networks compute in c.precision, all else in float32
            self.encoder = LadderEncoder(c.architecture, widths, name="encoder")
            self.top = TopState((*self.shapes[-1][:2], widths[-1]) if conv else (widths[-1],), name="top")
            self.heads = [LevelHeads(c.architecture, shape[-1], name=f"heads_{i + 1}")
                          for i, shape in enumerate(self.shapes)]
            self.merges = [LevelMerge(c.architecture, widths[i], widths[i - 1] if i else 0,
                                      self.shapes[i - 1][:2] if i and conv else None, name=f"merge_{i + 1}")
                           for i in range(c.levels)]
            self.to_pixels = LadderOutput(c.architecture, widths[0], c.input_shape,
                                          c.input_shape[-1] * self.likelihood.params_per_channel, name="output")
        self.trackers += [keras.metrics.Mean(f"rate_{i + 1}") for i in range(c.levels)]
        # The share of the epoch's updates skipped (a Mean: a Sum would add every replica's count).
        self.trackers.append(keras.metrics.Mean("skipped"))

    # --- one level ---------------------------------------------------------------------------------------------
    def level(self, i, h, e=None):
        """Level i's (0 = bottom) distribution parameters from the top-down state h [N, ...] (and the bottom-up
        features e): {p_loc, p_scale} and, with e, {dmu, dsigma, q_loc, q_scale}, each [N, D_i] in float32."""
        prior, posterior = self.heads[i](h, e)

        def flat(t):  # [N, ..., z_i] -> [N, D_i]
            return tf.reshape(precision.to_float32(t), [-1, self.sizes[i]])

        p_loc, p_raw = (flat(t) for t in tf.split(prior, 2, axis=-1))
        params = {"p_loc": p_loc, "p_scale": scale_of(p_raw)}
        if posterior is not None:
            dmu, d_raw = (flat(t) for t in tf.split(posterior, 2, axis=-1))
            dsigma = scale_of(d_raw)
            params.update(dmu=dmu, dsigma=dsigma, q_loc=p_loc + dmu, q_scale=params["p_scale"] * dsigma)
        return params

    def descend(self, like, choose):
        """The top-down path for a batch of N (like: any tensor [N, ...]): choose(i, h) -> z_i [N, D_i] at each level
        i from the top down; returns (z [N, D], the likelihood's parameters [N, H, W, C * P] in float32)."""
        h, chosen = self.top(like), [None] * self.config.levels
        for i in reversed(range(self.config.levels)):
            chosen[i] = choose(i, h)
            h = self.merges[i](h, tf.reshape(chosen[i], [-1, *self.shapes[i]]))
        return tf.concat(chosen, -1), precision.to_float32(self.to_pixels(h))

    def split(self, z):
        """[N, D] -> the levels' parts [N, D_i], bottom first."""
        return tf.split(z, self.sizes, axis=-1)

    def features(self, x, copies=1):
        """The bottom-up features of images x [B, ...], each repeated `copies` times along the batch ([copies * B]:
        row s * B + b is image b)."""
        features = self.encoder(pixels.network_input(x, self.config.pixels))
        return [tf.tile(e, tf.concat([[copies], tf.ones([len(e.shape) - 1], tf.int32)], 0)) for e in features]

    # --- the bound -----------------------------------------------------------------------------------------------
    def level_densities(self, x, eps, training=False):
        """For z drawn from q(z|x) with noise eps [k, B, D]: {"log_px": [k, B], "log_q", "log_p": per level [k, B],
        "kl": per level [k, B, D_i]} (the analytic KL of level i given the drawn z_{>i})."""
        k, b = tf.shape(eps)[0], tf.shape(x)[0]
        features = self.features(x, k)
        noise = self.split(tf.reshape(eps, [k * b, self.config.latent_dim]))  # [kB, D_i] each
        log_q, log_p, kl = ([None] * self.config.levels for _ in range(3))

        def from_posterior(i, h):
            params = self.level(i, h, features[i])
            z = params["q_loc"] + params["q_scale"] * noise[i]  # [kB, D_i]
            log_q[i] = tfd.MultivariateNormalDiag(params["q_loc"], params["q_scale"]).log_prob(z)
            log_p[i] = tfd.MultivariateNormalDiag(params["p_loc"], params["p_scale"]).log_prob(z)
            # KL is invariant under the affine map z -> (z - mu_p) / sigma_p of both: computed from dmu and dsigma.
            kl[i] = tfd.kl_divergence(tfd.Normal(params["dmu"] / params["p_scale"], params["dsigma"]),
                                      tfd.Normal(0.0, 1.0))
            return z

        def unstack(t):  # [kB, ...] -> [k, B, ...]
            return tf.reshape(t, tf.concat([[k, b], tf.shape(t)[1:]], 0))

        _, params = self.descend(noise[0], from_posterior)
        params = unstack(params)  # [k, B, H, W, C * P]
        return {"log_px": self.likelihood.distribution(params, x, training).log_prob(x),
                "log_q": [unstack(t) for t in log_q], "log_p": [unstack(t) for t in log_p],
                "kl": [unstack(t) for t in kl]}

    def log_densities(self, x, eps, training=False):
        """log p(x|z), log q(z|x), log p(z), each [k, B], and the KL per latent dimension [B, D] (each level's
        analytic KL given the drawn z_{>l}, averaged over the k draws): the interface of tfvae/evaluation.py."""
        d = self.level_densities(x, eps, training)
        kl = tf.reduce_mean(tf.concat(d["kl"], -1), 0)
        return d["log_px"], tf.add_n(d["log_q"]), tf.add_n(d["log_p"]), kl

    def terms(self, x, eps, training=False):
        """Named per-example terms [B]: distortion, rate, rate_l for each level, elbo, and the training loss as
        `objective` (module docstring)."""
        d = self.level_densities(x, eps, training)
        distortion = -tf.reduce_mean(d["log_px"], 0)
        rates = [tf.reduce_mean(tf.reduce_sum(kl, -1), 0) for kl in d["kl"]]  # per level [B]
        rate = tf.add_n(rates)
        c = self.config
        optimizer = getattr(self, "optimizer", None)  # none before compile
        alpha = objectives.warmup(optimizer.iterations if optimizer else 0, c.warmup_steps)
        floors = [c.free_bits * size for size in self.sizes]  # free bits per dimension, clamped per level
        penalized = objectives.free_bits_rate(tf.stack(rates, -1), floors)
        return {"objective": distortion + c.beta * alpha * penalized, "elbo": -(distortion + rate),
                "distortion": distortion, "rate": rate, **{f"rate_{i + 1}": r for i, r in enumerate(rates)}}

    def step_terms(self, data, step, training):
        """`terms` of a batch with this replica's noise eps [1, B, D] of the step (base.py), and the guard's
        grad_norm and skipped: outside training the running norm and 0 (a training step reports its own)."""
        x = inputs_of(data)
        eps = replica_normal(1, tf.shape(x)[0], self.config.latent_dim, model_seed(self.config.seed, step))
        return {**self.terms(x, eps, training), "grad_norm": self.guard.running_mean(), "skipped": tf.constant(0.0)}

    def apply_update(self, grads):
        """The optimizer's step, clipped, or skipped when the gradient norm is far above the running norm."""
        return self.guard.update(self.optimizer, grads, self.trainable_variables)

    # --- encoding and generation ---------------------------------------------------------------------------------
    def encode(self, x):
        """Every level's posterior mean, each given the means above it: [B, D]."""
        features = self.features(x)
        return self.descend(x, lambda i, h: self.level(i, h, features[i])["q_loc"])[0]

    def levels_of(self, z):
        """z [N, D] as the levels' latents in their shapes, bottom first: [N, *shape_l] each."""
        return [tf.reshape(part, [-1, *shape]) for part, shape in zip(self.split(z), self.shapes)]

    def decode(self, z):
        """The mean image of p(x|z) for z [N, D]: [N, H, W, C]."""
        parts = self.split(z)
        return self.likelihood.mean(self.descend(z, lambda i, h: parts[i])[1])

    def sample(self, count, seed, temperature=1.0):
        """z ~ p(z) with every prior scale multiplied by `temperature`, [count, D], and the mean images of p(x|z)
        [count, H, W, C], from an integer seed."""
        eps = tf.random.stateless_normal([count, self.config.latent_dim], seed=tfp_seed(seed))
        return self.generate(eps, temperature)

    def generate(self, eps, temperature=1.0, x=None, keep=0):
        """(z, mean images) of ancestral sampling with noise eps [N, D] at `temperature`; with images x [N, ...], the
        levels above `keep` (l > keep) are x's posterior means instead and the levels up to `keep` are drawn from
        the prior given them."""
        noise = self.split(eps)
        features = self.features(x) if x is not None and keep < self.config.levels else None

        def choose(i, h):
            params = self.level(i, h, features[i] if features and i >= keep else None)
            if "q_loc" in params:
                return params["q_loc"]
            return params["p_loc"] + temperature * params["p_scale"] * noise[i]

        z, params = self.descend(eps, choose)
        return z, self.likelihood.mean(params)

    @property
    def floats_per_sample(self):
        """The largest map one posterior draw makes in the top-down path (a level's state, the output's last
        upsampling, the likelihood's parameters): tfvae/evaluation.py sizes its chunks of draws by it."""
        c = self.config
        widths = c.per_level(c.hidden_units)
        states = [math.prod(shape[:-1]) * w for shape, w in zip(self.shapes, widths)]
        pixels_per_image = math.prod(c.input_shape[:2])
        return max(*states, pixels_per_image * widths[0], pixels_per_image * self.to_pixels.out_channels)

    # --- Keras -------------------------------------------------------------------------------------------------
    def call(self, x):
        """The reconstruction: the mean of p(x|z) at z = encode(x); [B, H, W, C]."""
        return self.decode(self.encode(x))

    def build(self, input_shape=None):
        """Creates every weight by one pass of a zero image through every network."""
        x = tf.zeros([1, *self.config.input_shape])
        self.log_densities(x, tf.zeros([1, 1, self.config.latent_dim]))
        self.built = True

