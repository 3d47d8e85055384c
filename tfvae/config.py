"""Configs: what defines a model, and how it is trained.

Plain dataclasses that round-trip through JSON (`config.json` in a model_dir, tfvae/runs.py). `ModelConfig` holds
the fields every family shares (`model`, `input_shape`, `seed`); each family has one section, a subclass with its
own fields (VAEConfig, ConditionalConfig, VQVAEConfig, HVAEConfig, ColorizeConfig), and the VQ-VAE's phase-II prior
has PriorConfig. A family's section is everything that changes the set or meaning of its weights or its objective; a
model_dir whose stored section differs from the requested one holds another model, and resuming into it is refused
(`check_compatible`: only the family's own fields are compared, so a field of another family never matters).

Every field is declared with `field(default, help, ...)`: its help text is the flag's (tfvae/cli.py generates the
flags of `apps.train` from these dataclasses), and `choices` makes it an enum flag. `flag=False` marks fields that
come from the data, not from a flag (input_shape, num_classes).
"""

import dataclasses
import math

LIKELIHOODS = ("bernoulli", "gaussian", "logistic")
GAUSSIAN_SCALES = ("learned", "per_channel", "optimal")
M1_FEATURES = ("mean", "sample")  # what M1+M2 models of M1's q(z1|x)
PIXELS = ("dynamic_binary", "static_binary", "continuous", "dequantized", "8bit")
ARCHITECTURES = ("conv", "mlp")
POSTERIORS = ("diag", "planar", "radial", "iaf")
PRIORS = ("normal", "mog", "realnvp", "maf")
CODEBOOK_UPDATES = ("ema", "loss")
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")  # tfvae/precision.py
JIT_MODES = ("auto", "on", "off")  # TrainConfig.jit_compile (tfvae/distribute.py: use_jit)
# The pixel representations each likelihood can model (see tfvae/data/pipeline.py).
PIXELS_FOR_LIKELIHOOD = {
    "bernoulli": ("dynamic_binary", "static_binary"),
    "gaussian": ("dequantized", "continuous"),
    "logistic": ("8bit",),
}
DEFAULT_HIDDEN = {"mlp": (512,), "conv": (32, 64)}
COLORIZE_HIDDEN = (32, 48, 64, 96)  # colorize: U-Net channels per resolution (tfvae/nets/unet.py)
DEFAULT_PIXELS = {"bernoulli": "dynamic_binary", "gaussian": "dequantized", "logistic": "8bit"}
HVAE_HIDDEN = {"mlp": (256,), "conv": (32,)}  # hvae: one width for every level
# One --levels flag for the two families that have levels (cli.py defines a flag once, from the first section).
LEVELS_HELP = ("latent levels: vqvae 1 code map or 2 (top and bottom, VQ-VAE-2); hvae the stochastic levels of the "
               "ladder (conv: level l is a map of 1/2^l the image's side)")


class ConfigError(ValueError):
    """An impossible configuration value; the message names the flag."""


def field(default, help, choices=None, flag=True):  # pylint: disable=redefined-builtin
    """A dataclass field with its flag's help text (and enum choices); flag=False: set from the data, no flag."""
    return dataclasses.field(default=default, metadata={"help": help, "choices": choices, "flag": flag})


def require(ok, flag, message):
    """Raises ConfigError("--flag: message") unless ok."""
    if not ok:
        raise ConfigError(f"--{flag}: {message}")


_require = require  # the short name inside this module's long validate() methods


@dataclasses.dataclass
class ModelConfig:
    """The fields every family shares. Field names equal the flag names of `apps.train`."""

    model: str = field("vae", "the model family", flag=False)  # apps.train defines --model from the registry
    input_shape: tuple = field((28, 28, 1), "[H, W, C] of one image", flag=False)
    seed: int = field(0, "seed of weights, data order and noise", flag=False)  # the apps' shared --seed
    precision: str = field("float32", "what the networks compute in: float32, or mixed_bfloat16 / mixed_float16 "
                           "(weights, distributions and losses stay float32; tfvae/precision.py)", PRECISIONS)

    def __post_init__(self):
        self.input_shape = tuple(int(s) for s in self.input_shape)
        self.validate()

    def validate(self):
        _require(len(self.input_shape) == 3 and min(self.input_shape) > 0, "input_shape",
                 f"must be 3 positive sizes [H, W, C], got {self.input_shape}")
        _require(self.precision in PRECISIONS, "precision", f"must be one of {PRECISIONS}, got {self.precision!r}")


@dataclasses.dataclass
class ImageModelConfig(ModelConfig):
    """An encoder/decoder pair of images and the likelihood p(x|.) (the vae, its conditional variants, the vqvae)."""

    architecture: str = field("conv", "encoder/decoder family: conv (ResNet-style) or mlp", ARCHITECTURES)
    hidden_units: tuple = field(None, "mlp: hidden layer widths (empty: linear); conv: channels per resolution "
                                f"(default {DEFAULT_HIDDEN})")
    likelihood: str = field("bernoulli", "p(x|z)", LIKELIHOODS)
    pixels: str = field("", f"pixel representation (default by likelihood: {DEFAULT_PIXELS})", PIXELS)
    gaussian_scale: str = field("", "gaussian likelihood: a learned global scale, a learned scale per channel "
                                "(per_channel; with --m1_dir: per M1 latent), or the closed-form optimum sqrt(MSE) of "
                                "the batch; empty: per_channel for cvae and m2 with --m1_dir (chosen on validation, "
                                "README), learned otherwise", ("", *GAUSSIAN_SCALES))
    num_mixtures: int = field(5, "logistic likelihood: mixture components per pixel")

    def __post_init__(self):
        if self.hidden_units is None:
            self.hidden_units = DEFAULT_HIDDEN.get(self.architecture, ())
        self.hidden_units = tuple(int(u) for u in self.hidden_units)
        if not self.pixels:
            self.pixels = DEFAULT_PIXELS.get(self.likelihood, "")
        self.gaussian_scale = self.gaussian_scale or self.default_gaussian_scale()
        super().__post_init__()

    def default_gaussian_scale(self):
        return "learned"

    def validate(self):
        _require(self.architecture in ARCHITECTURES, "architecture", f"must be one of {ARCHITECTURES}")
        _require(self.likelihood in LIKELIHOODS, "likelihood", f"must be one of {LIKELIHOODS}")
        _require(self.pixels in PIXELS_FOR_LIKELIHOOD[self.likelihood], "pixels",
                 f"{self.pixels!r} cannot be modelled by a {self.likelihood} likelihood; use one of "
                 f"{PIXELS_FOR_LIKELIHOOD[self.likelihood]}")
        super().validate()
        _require(all(u > 0 for u in self.hidden_units), "hidden_units", "sizes must be positive")
        _require(self.architecture == "mlp" or self.hidden_units, "hidden_units",
                 "the conv architecture needs at least one channel count")
        _require(self.gaussian_scale in GAUSSIAN_SCALES, "gaussian_scale", f"must be one of {GAUSSIAN_SCALES}")
        _require(self.num_mixtures > 0, "num_mixtures", f"must be positive, got {self.num_mixtures}")


@dataclasses.dataclass
class VAEConfig(ImageModelConfig):
    """The vae (tfvae/models/vae.py): Gaussian latents, optional flows, beta, warm-up, free bits, IWAE."""

    latent_dim: int = field(16, "latent dimensions")
    beta: float = field(1.0, "weight of the rate (KL) term")
    warmup_steps: int = field(0, "KL warm-up: the rate's weight goes linearly from 0 to 1 over this many steps")
    free_bits: float = field(0.0, "free nats per latent dimension below which the rate is not penalized (0: none)")
    iwae_k: int = field(1, "importance samples in the training bound (1: the ELBO)")
    posterior: str = field("diag", "q(z|x): diagonal Gaussian, or followed by planar, radial or IAF flow steps",
                           POSTERIORS)
    flow_steps: int = field(4, "steps K of the posterior flow")
    prior: str = field("normal", "p(z): standard normal, learned mixture of Gaussians, RealNVP or MAF flow", PRIORS)
    prior_steps: int = field(4, "coupling / autoregressive layers of a flow prior")
    flow_width: int = field(64, "hidden units of the flow networks (MADE, RealNVP conditioners); IAF context size")
    mog_components: int = field(10, "components of the mixture prior")

    def validate(self):
        super().validate()
        _require(self.latent_dim > 0, "latent_dim", f"must be positive, got {self.latent_dim}")
        _require(self.beta > 0, "beta", f"must be positive, got {self.beta}")
        _require(self.warmup_steps >= 0, "warmup_steps", f"must be >= 0, got {self.warmup_steps}")
        _require(self.free_bits >= 0, "free_bits", f"must be >= 0, got {self.free_bits}")
        _require(self.iwae_k >= 1, "iwae_k", f"must be >= 1, got {self.iwae_k}")
        _require(self.iwae_k == 1 or self.free_bits == 0, "free_bits",
                 "free bits apply to the ELBO's KL term; they cannot be combined with --iwae_k > 1")
        _require(self.posterior in POSTERIORS, "posterior", f"must be one of {POSTERIORS}")
        _require(self.prior in PRIORS, "prior", f"must be one of {PRIORS}")
        _require(self.flow_steps > 0, "flow_steps", f"must be positive, got {self.flow_steps}")
        _require(self.prior_steps > 0, "prior_steps", f"must be positive, got {self.prior_steps}")
        _require(self.flow_width > 0, "flow_width", f"must be positive, got {self.flow_width}")
        _require(self.mog_components > 0, "mog_components", f"must be positive, got {self.mog_components}")
        _require(self.prior != "realnvp" or self.latent_dim >= 2, "prior",
                 "realnvp couples two halves of z and needs --latent_dim >= 2")
        _require(self.free_bits == 0 or self.analytic_kl, "free_bits",
                 "free bits clamp the KL per latent dimension, which has a closed form only for --posterior=diag "
                 "with --prior=normal")

    @property
    def analytic_kl(self):
        """Whether KL(q(z|x) || p(z)) has a closed form (diagonal Gaussian against the standard normal)."""
        return self.posterior == "diag" and self.prior == "normal"


@dataclasses.dataclass
class ConditionalConfig(VAEConfig):
    """The class-conditional families, cvae and m2 (tfvae/models/cvae.py, m2.py): labels y in 0..num_classes-1."""

    model: str = field("cvae", "the model family", flag=False)
    num_classes: int = field(10, "classes of the labels", flag=False)  # from the data
    alpha: float = field(20.0, "m2: the paper's alpha over N: J = sum_l L + sum_u U - alpha N mean_l[-log q(y|x)] "
                         "over the N training images (Kingma et al. 2014 use alpha N = 0.1 N, i.e. 0.1; the default 20 "
                         "was chosen on a validation split, README); converted once to a per-batch weight that keeps "
                         "its ratio to U's (tfvae/models/m2.py)")
    labelled_share: float = field(0.5, "m2: N_l / (N_l + N_u), the labelled share of the training images (set from "
                                  "the data and --num_labels)", flag=False)
    labelled_weight: float = field(0.5, "m2: the weight s of the labelled bound's batch mean against 1 - s for the "
                                   "unlabelled bound's; 0: N_l / N, which makes the loss the paper's objective over N")
    shared_noise: bool = field(True, "m2: U scores the K classes with one noise draw z = mu_y + sigma_y eps shared "
                               "by them (common random numbers), so the differences L(x, y) - L(x, y') that steer "
                               "q(y|x) carry less Monte Carlo noise; false: an independent draw per class")
    classifier: str = field("fixed", "m2: the network of q(y|x): 'fixed' (the plain baseline's small conv net with "
                            "dropout, tfvae/classifiers.py; a vector net for M1+M2; its dropout masks are drawn per "
                            "replica, so 1 and N replicas agree in distribution, not to round-off) or 'encoder' "
                            "(shaped like the encoder: --architecture, --hidden_units)", choices=("encoder", "fixed"))
    m1_dir: str = field("", "cvae, m2: model the latents of this trained vae model_dir instead of the images "
                        "(M1+M2)")
    m1_features: str = field("mean", "cvae, m2 with --m1_dir: the modelled latents z1 of an image: the mean of M1's "
                             "q(z1|x), or a draw z1 ~ q(z1|x) afresh at every training step (the mean when "
                             "evaluating and classifying)", M1_FEATURES)

    def default_gaussian_scale(self):
        return "per_channel" if self.m1_dir else "learned"  # M1's latents differ in spread (tfvae/models/m2.py)

    def validate(self):
        super().validate()
        _require(self.num_classes >= 2, "num_classes", f"needs at least 2 classes, got {self.num_classes}")
        _require(self.alpha >= 0, "alpha", f"must be >= 0, got {self.alpha}")
        _require(self.m1_features in M1_FEATURES, "m1_features", f"must be one of {M1_FEATURES}")
        _require(0 < self.labelled_share < 1, "labelled_share", f"must lie in (0, 1), got {self.labelled_share}")
        _require(0 <= self.labelled_weight < 1, "labelled_weight", f"must lie in [0, 1), got {self.labelled_weight}")
        _require(self.posterior == "diag" and self.prior == "normal", "posterior",
                 f"--model={self.model} has a diagonal Gaussian q(z|x, y) and p(z) = N(0, I); use "
                 "--posterior=diag --prior=normal")
        _require(self.iwae_k == 1 and self.free_bits == 0, "iwae_k",
                 f"--model={self.model} trains the single-sample ELBO; use --iwae_k=1 --free_bits=0")
        _require(bool(self.hidden_units), "hidden_units", f"--model={self.model} needs at least one hidden layer")


@dataclasses.dataclass
class VQVAEConfig(ImageModelConfig):
    """The vqvae (tfvae/models/vqvae.py): discrete latents, a codebook of num_codes vectors of size code_dim per
    level."""

    model: str = field("vqvae", "the model family", flag=False)
    num_codes: int = field(512, "vqvae: codebook size K")
    code_dim: int = field(16, "vqvae: dimension D of each code")
    commitment_weight: float = field(0.25, "vqvae: weight beta of the commitment term beta * ||L - sg(C_z)||^2")
    codebook_update: str = field("ema", "vqvae: codebook by moving averages (ema, k-means) or by the gradient of "
                                 "the codebook loss ||sg(L) - C_z||^2", CODEBOOK_UPDATES)
    codebook_lr_scale: float = field(1.0, "vqvae, --codebook_update=loss: the codebook's learning rate relative to "
                                     "the networks'")
    ema_decay: float = field(0.99, "vqvae, --codebook_update=ema: decay of the code counts and sums")
    restart_threshold: float = field(0.03, "vqvae: restart codes used by fewer vectors per batch (moving average) "
                                     "than this; 0: never")
    levels: int = field(1, LEVELS_HELP)

    def validate(self):
        super().validate()
        _require(self.num_codes >= 2, "num_codes", f"a codebook needs at least 2 codes, got {self.num_codes}")
        _require(self.code_dim > 0, "code_dim", f"must be positive, got {self.code_dim}")
        _require(self.commitment_weight >= 0, "commitment_weight", f"must be >= 0, got {self.commitment_weight}")
        _require(self.codebook_update in CODEBOOK_UPDATES, "codebook_update", f"must be one of {CODEBOOK_UPDATES}")
        _require(self.codebook_lr_scale > 0, "codebook_lr_scale", f"must be positive, got {self.codebook_lr_scale}")
        _require(0 < self.ema_decay < 1, "ema_decay", f"must lie in (0, 1), got {self.ema_decay}")
        _require(self.restart_threshold >= 0, "restart_threshold", f"must be >= 0, got {self.restart_threshold}")
        _require(self.levels in (1, 2), "levels", f"must be 1 or 2, got {self.levels}")
        _require(self.architecture == "conv", "architecture",
                 "vqvae quantizes convolutional feature maps and needs --architecture=conv")


@dataclasses.dataclass
class HVAEConfig(ImageModelConfig):
    """The hvae (tfvae/models/hvae.py): a top-down hierarchy of `levels` Gaussian latent levels, bottom (1) to top.

    conv: level l is a map of ceil(H / 2^l) x ceil(W / 2^l) x latents_per_level[l] (so 2^(levels - 1) must be
    below the image's side: the top level is the first 1x1 map at the most); mlp: a vector of latents_per_level[l]. hidden_units and
    latents_per_level hold one value for every level or one per level, bottom first.
    """

    model: str = field("hvae", "the model family", flag=False)
    levels: int = field(2, LEVELS_HELP)
    latents_per_level: tuple = field((8,), "hvae: latents of each level, bottom first (one value: every level); "
                                     "conv: channels of the level's latent map, mlp: its size")
    beta: float = field(1.0, "weight of the rate (KL) term")
    warmup_steps: int = field(0, "KL warm-up: the rate's weight goes linearly from 0 to 1 over this many steps")
    free_bits: float = field(0.0, "hvae: free nats per latent dimension, applied to each level's KL as a whole")
    grad_clip: float = field(1000.0, "hvae: clip the global norm of the gradient (of the per-image loss, in nats) to "
                             "this (0: no clipping)")
    skip_factor: float = field(10.0, "hvae: skip an update whose gradient norm exceeds this many times the running "
                               "norm (0: never skip)")

    def __post_init__(self):
        if self.hidden_units is None:
            self.hidden_units = HVAE_HIDDEN.get(self.architecture, ())
        self.latents_per_level = tuple(int(n) for n in self.latents_per_level)
        super().__post_init__()

    def validate(self):
        super().validate()
        _require(self.levels >= 1, "levels", f"must be positive, got {self.levels}")
        if self.architecture == "conv":
            side = min(self.input_shape[:2])
            # Level l's side is ceil(side / 2^l); a level above a 1x1 map would be 1x1 again, not a smaller one.
            _require(2 ** (self.levels - 1) < side, "levels",
                     f"{self.levels} conv levels halve the {side}-pixel side {self.levels} times: level "
                     f"{self.levels - 1} is already a 1x1 map (at most {(side - 1).bit_length()} levels)")
        _require(len(self.hidden_units) in (1, self.levels), "hidden_units",
                 f"--model=hvae takes one width for every level or one per level ({self.levels}), got "
                 f"{len(self.hidden_units)}")
        _require(len(self.latents_per_level) in (1, self.levels), "latents_per_level",
                 f"one value for every level or one per level ({self.levels}), got {len(self.latents_per_level)}")
        _require(all(n > 0 for n in self.latents_per_level), "latents_per_level", "sizes must be positive")
        _require(self.beta > 0, "beta", f"must be positive, got {self.beta}")
        _require(self.warmup_steps >= 0, "warmup_steps", f"must be >= 0, got {self.warmup_steps}")
        _require(self.free_bits >= 0, "free_bits", f"must be >= 0, got {self.free_bits}")
        _require(self.grad_clip >= 0, "grad_clip", f"must be >= 0, got {self.grad_clip}")
        _require(self.skip_factor == 0 or self.skip_factor > 1, "skip_factor",
                 f"must be 0 (never skip) or above 1, got {self.skip_factor}")

    def per_level(self, values):
        """A field's values for levels 1..L (one value stands for every level)."""
        return tuple(values) * self.levels if len(values) == 1 else tuple(values)

    def latent_shapes(self):
        """The shape of each level's latent, bottom first: conv [h_l, w_l, c_l], mlp [d_l]."""
        sizes = self.per_level(self.latents_per_level)
        if self.architecture == "mlp":
            return tuple((n,) for n in sizes)
        h, w = self.input_shape[:2]
        return tuple((-(-h // 2 ** level), -(-w // 2 ** level), n) for level, n in enumerate(sizes, 1))

    @property
    def latent_dim(self):
        """All latents of all levels, flattened: the size of z [B, D] in encode, decode and sample."""
        return sum(math.prod(shape) for shape in self.latent_shapes())


@dataclasses.dataclass
class ColorizeConfig(ModelConfig):
    """The colorizer (tfvae/models/colorizer.py): a latent segmentation z in {0..num_segments-1} per pixel."""

    model: str = field("colorize", "the model family", flag=False)
    input_shape: tuple = field((64, 64, 3), "[H, W, 3] of one training crop", flag=False)
    hidden_units: tuple = field(COLORIZE_HIDDEN, "colorize: U-Net channels per resolution")
    num_segments: int = field(16, "colorize: labels K of the latent segmentation")
    latent_stride: int = field(8, "colorize: side in pixels of one cell of the latent grid (z is a label per cell; "
                               "1: a label per pixel)")
    annealing: float = field(1.0, "colorize: temperature T of the annealed mean: colorize and segment use the cell "
                             "probabilities softmax(logits / T) of P(z|x) (1: the expected colour; below 1 sharper "
                             "and more colourful, Zhang et al. 2016)")
    guide_scale: float = field(5.0, "colorize: Lab units of lightness by which a pixel's label follows the cells "
                               "of similar lightness when z is upsampled (0: bilinear)")
    temperature: float = field(0.5, "colorize: final temperature of the relaxed samples of Q(z|x, y) in training")
    temperature_steps: int = field(2000, "colorize: steps over which the temperature falls from 1 to --temperature")
    beta: float = field(1.0, "weight of the rate (KL) term")
    warmup_steps: int = field(0, "KL warm-up: the rate's weight goes linearly from 0 to 1 over this many steps")
    free_bits: float = field(0.0, "colorize: free nats per pixel below which the rate is not penalized (0: none)")

    def __post_init__(self):
        self.hidden_units = tuple(int(u) for u in (COLORIZE_HIDDEN if self.hidden_units is None
                                                   else self.hidden_units))
        super().__post_init__()

    def validate(self):
        super().validate()
        _require(all(u > 0 for u in self.hidden_units), "hidden_units", "sizes must be positive")
        _require(self.beta > 0, "beta", f"must be positive, got {self.beta}")
        _require(self.warmup_steps >= 0, "warmup_steps", f"must be >= 0, got {self.warmup_steps}")
        _require(self.free_bits >= 0, "free_bits", f"must be >= 0, got {self.free_bits}")
        _require(self.num_segments >= 2, "num_segments", f"a segmentation needs at least 2 labels, got "
                 f"{self.num_segments}")
        _require(0 < self.temperature <= 1, "temperature", f"must lie in (0, 1], got {self.temperature}")
        _require(self.latent_stride >= 1, "latent_stride", f"must be >= 1, got {self.latent_stride}")
        _require(self.guide_scale >= 0, "guide_scale", f"must be >= 0, got {self.guide_scale}")
        _require(self.annealing > 0, "annealing", f"must be positive, got {self.annealing}")
        _require(self.temperature_steps >= 0, "temperature_steps", f"must be >= 0, got {self.temperature_steps}")
        _require(len(self.hidden_units) >= 2, "hidden_units", "--model=colorize: the U-Net needs at least two "
                 "channel counts (full resolution and one halving)")
        _require(self.input_shape[-1] == 3, "input_shape", "--model=colorize trains on RGB crops")
        smallest = 4 * 2 ** (len(self.hidden_units) - 1)  # a 4x4 deepest map (tfvae/nets/unet.py)
        _require(min(self.input_shape[:2]) >= smallest, "image_size", f"--model=colorize with --hidden_units="
                 f"{','.join(map(str, self.hidden_units))} needs crops of at least {smallest} pixels a side, got "
                 f"{self.input_shape[0]}")


@dataclasses.dataclass
class PriorConfig:
    """What defines a VQ-VAE's code prior (tfvae/models/pixelcnn_prior.py). Field names equal the flag names of
    `apps.train --stage=prior`."""

    pixelcnn_layers: int = field(8, "--stage=prior: gated PixelCNN layers per level")
    pixelcnn_filters: int = field(32, "--stage=prior: channels of each gated layer (and of the code embeddings)")
    class_conditional: bool = field(False, "--stage=prior: condition every level on the class label")
    num_classes: int = field(0, "classes of the data (set from the data when class_conditional)", flag=False)
    seed: int = field(0, "seed of weights, data order and noise", flag=False)
    precision: str = field("float32", "what the networks compute in (tfvae/precision.py)", PRECISIONS)

    def __post_init__(self):
        self.validate()

    def validate(self):
        _require(self.precision in PRECISIONS, "precision", f"must be one of {PRECISIONS}, got {self.precision!r}")
        _require(self.pixelcnn_layers >= 1, "pixelcnn_layers", f"must be positive, got {self.pixelcnn_layers}")
        _require(self.pixelcnn_filters >= 1, "pixelcnn_filters", f"must be positive, got {self.pixelcnn_filters}")
        _require(not self.class_conditional or self.num_classes >= 2, "class_conditional",
                 "the data set has no class labels (at least 2 classes needed)")


@dataclasses.dataclass
class TrainConfig:
    """How a model is trained. Field names equal the flag names of `apps.train`."""

    dataset: str = field("mnist_offline", "the data set (tfvae/data: mnist_offline, a TFDS name, npz:PATH, "
                         "folder:PATH)", flag=False)  # the apps' shared --dataset
    image_size: int = field(0, "folder data sets: side of the square crops (0: not a folder data set)", flag=False)
    channels: int = field(0, "folder data sets: 1 (grey) or 3 (RGB); 0: 3", flag=False)
    batch_size: int = field(128, "global batch size, split over replicas", flag=False)
    epochs: int = field(30, "training epochs")
    learning_rate: float = field(1e-3, "Adam learning rate")
    strategy: str = field("default", "tf.distribute strategy", flag=False)
    steps_per_execution: int = field(32, "at most this many training steps per call into the TF graph (a divisor "
                                     "of the epoch)")
    jit_compile: str = field("auto", "XLA-compile the training step: auto (where it is faster: GPUs, TPUs, float32 on "
                             "one CPU device; tfvae/distribute.py), on (wherever it can run), off")
    num_labels: int = field(0, "cvae, m2: train with the labels of a class-balanced subset of this many training "
                            "images (fixed by --seed); 0: every label")
    labelled_fraction: float = field(0.5, "m2: the share of labelled images in every training batch")
    init_from: str = field("", "start a new run from trained weights (apps.train: a trained --model_dir or a .keras "
                           "model file of the same family and architecture; apps.train_denoiser: a ConvDenoiser "
                           ".keras; apps.train_patch_prior: a GMM .npz that EM continues from), with a fresh optimizer "
                           "at step 0; a run resuming from its own checkpoint ignores it")

    def __post_init__(self):
        # Release 0.1.0 stored a bool: true meant XLA where the strategy allows it (now "auto"), false "off".
        self.jit_compile = {True: "auto", False: "off", "true": "on", "false": "off"}.get(self.jit_compile,
                                                                                          self.jit_compile)

    def validate(self):
        _require(self.jit_compile in JIT_MODES, "jit_compile", f"must be one of {JIT_MODES}, got {self.jit_compile!r}")
        _require(self.batch_size > 0, "batch_size", f"must be positive, got {self.batch_size}")
        _require(self.epochs > 0, "epochs", f"must be positive, got {self.epochs}")
        _require(self.learning_rate > 0, "learning_rate", f"must be positive, got {self.learning_rate}")
        _require(self.steps_per_execution > 0, "steps_per_execution", "must be positive")
        _require(self.num_labels >= 0, "num_labels", f"must be >= 0, got {self.num_labels}")
        _require(0 < self.labelled_fraction < 1, "labelled_fraction",
                 f"must lie in (0, 1), got {self.labelled_fraction}")


def from_dict(cls, values):
    """cls(**values) keeping only cls's fields: a config.json of release 0.1.0 holds every family's fields in one
    flat record, of which a family's section takes its own."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in values.items() if k in names})


def check_compatible(stored, requested, model_dir):
    """Raises ConfigError naming the first field where a model_dir's model differs from the requested one."""
    if type(stored) is not type(requested) or getattr(stored, "model", None) != getattr(requested, "model", None):
        raise ConfigError(f"--model_dir={model_dir} holds another model (a {getattr(stored, 'model', type(stored).__name__)!r}, "
                          f"requested {getattr(requested, 'model', type(requested).__name__)!r}); use a new --model_dir or the same flags")
    for f in dataclasses.fields(requested):
        old, new = getattr(stored, f.name), getattr(requested, f.name)
        if old != new:
            raise ConfigError(
                f"--model_dir={model_dir} holds another model (its {f.name} is {old!r}, requested {new!r}); "
                "use a new --model_dir or the same flags")
