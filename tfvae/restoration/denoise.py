"""Denoising images of any size, grey or colour, 8-bit or float: `tfvae.denoise(image, sigma)`.

Two kinds of prior (`load_prior` names them):
- a patch prior over grey DC-removed patches in EPLL (tfvae/restoration/epll.py): the GMM ("gmm", PRIOR_FILE, trained
  by apps.train_patch_prior; BUILD.md has the command), the learned patch denoiser
  ("learned") or the flow ("flow");
- an image prior: the convolutional denoiser (tfvae/restoration/conv_prior.py; "conv", CONV_PRIOR_FILE, trained by
  apps.train_denoiser; "conv_colour", CONV_COLOUR_PRIOR_FILE, for RGB where one is shipped), a network D(y, s) over
  whole images for every noise level, used in one pass or as the z-step of plug-and-play splitting
  (tfvae/restoration/pnp.py), averaged over the 8 flips and rotations by default. It is DEFAULT_PRIOR: on the
  validation split its self-ensemble beats the GMM in EPLL at every sigma (README, Results). For RGB the shipped
  colour network is the default (`default_prior`): on cbsd432's validation split its self-ensemble beats the grey
  network through the opponent channels by 0.15 dB (BUILD.md).
Everything is TensorFlow ops on an image whose size may be known only when the graph runs, so `denoise` works
eagerly, inside `tf.data.Dataset.map` and in a SavedModel; each setting is compiled once for every image size.

Colour images [H, W, 3] go straight into a colour image prior. A grey prior (patch or image) sees them through an
opponent colour transform with orthogonal rows,

    Y = (R + G + B) / 3,    C1 = (R - B) / 2,    C2 = (R - 2 G + B) / 4,

so white noise of standard deviation sigma on R, G, B stays white and independent per channel, with standard
deviation sigma * ||row|| (sigma / sqrt(3), sigma / sqrt(2), sigma sqrt(6) / 4). Each channel spans a range of width
1 (Y in [0, 1], C1 and C2 in [-1/2, 1/2]), the scale of the grey prior, and is denoised with it at its own noise
level; the result goes back to RGB and is clipped. `colour="per_channel"` denoises R, G and B separately instead
(correlated structure across channels is then not used: measured lower PSNR).
"""

import functools
import importlib
import json
import os
import zipfile

import keras
import numpy as np
import tensorflow as tf

from tfvae.config import ConfigError
from tfvae.progress import require_eager
from tfvae.restoration import conv_prior, deep_prior  # noqa: F401  (registers the .keras priors' classes)
from tfvae.restoration import epll as epll_lib
from tfvae.restoration import patches, pnp
from tfvae.restoration.gmm import PatchGMM

PRIOR_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "gmm_prior.npz")
LEARNED_PRIOR_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "denoiser_prior.keras")
FLOW_PRIOR_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "flow_prior.keras")
CONV_PRIOR_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "conv_prior.keras")
CONV_COLOUR_PRIOR_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "conv_colour_prior.keras")
DEMO_IMAGE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "demo.png")  # the apps' demo: Set12's house
PRIOR_FILES = {"gmm": PRIOR_FILE, "learned": LEARNED_PRIOR_FILE, "flow": FLOW_PRIOR_FILE, "conv": CONV_PRIOR_FILE,
               "conv_colour": CONV_COLOUR_PRIOR_FILE}
# Chosen on the validation split (benchmarks/denoise_validation.py, epll_validation.py, restore_validation.py; README):
# denoising, its self-ensemble 30.91 / 28.41 / 25.36 dB at sigma 15 / 25 / 50 against the GMM's 30.87 / 28.28 / 25.09;
# restoration, ahead at inpainting and x4 upscaling, behind at deblurring and x2, and 6 to 30 times faster.
DEFAULT_PRIOR = "conv"
MIN_SIDE = 8  # the smallest image side any prior takes (the 8x8 patches; the conv prior's padding)
COLOUR_MODES = ("opponent", "per_channel")
OPPONENT = np.array([[1 / 3, 1 / 3, 1 / 3], [1 / 2, 0, -1 / 2], [1 / 4, -1 / 2, 1 / 4]], np.float32)  # RGB -> Y C1 C2
OPPONENT_LOW = np.array([0.0, -0.5, -0.5], np.float32)  # each channel's range is [low, low + 1]
FAST_STRIDE = 3  # the fast mode's patch stride (README: its measured speed and quality)
MAX_SIGMA = 1.0  # on the [0, 1] scale: noise as strong as the whole range; more leaves nothing to restore


def prior_file(path=None):
    """The file of a prior name (PRIOR_FILES; None and "shipped": DEFAULT_PRIOR), or a path itself."""
    return PRIOR_FILES.get(DEFAULT_PRIOR if path in (None, "shipped") else path, path)


@functools.lru_cache(maxsize=None)
def load_prior(path=None):
    """The prior at path, loaded once per path: a GMM (.npz, apps.train_patch_prior), a learned patch denoiser or a
    flow (.keras, apps.train_patch_prior), a convolutional denoiser (.keras, apps.train_denoiser); or a name of
    PRIOR_FILES, the priors shipped in the package (None: DEFAULT_PRIOR)."""
    path = prior_file(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no prior at {path}; train one with apps.train_patch_prior or apps.train_denoiser "
                                "(BUILD.md)")
    if path.endswith(".keras"):
        _import_class_module(path)
        return keras.models.load_model(path, compile=False)  # a DenoiserPrior, FlowPatchPrior or ConvDenoiser
    return PatchGMM.load(path)


def _import_class_module(path):
    """Imports the tfvae module that defines the class saved in the .keras file at path (its config.json names it),
    so that Keras finds the class registered and a prior costs only its own imports (the flow prior's is TFP). A file
    that is not a readable .keras archive is left to Keras to report."""
    try:
        with zipfile.ZipFile(path) as archive:
            module = json.loads(archive.read("config.json")).get("module", "")
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return
    if module.startswith("tfvae."):
        importlib.import_module(module)


def default_prior(channels):
    """The prior tfvae.denoise uses for images of `channels` (1 or 3) when given none: the shipped colour image prior
    for 3 where there is one, else DEFAULT_PRIOR."""
    if channels == 3 and DEFAULT_PRIOR == "conv" and os.path.isfile(CONV_COLOUR_PRIOR_FILE):
        return load_prior("conv_colour")
    return load_prior()


def is_image_prior(prior):
    """Whether prior denoises whole images (a ConvDenoiser: prior((y [B, H, W, C], s [B]))) rather than patches."""
    return not hasattr(prior, "denoise_patches")


def check_image(image):
    """(image as a tensor, its channels) of a uint8 or float [H, W] or [H, W, C] image with C = 1 or 3; raises
    ValueError otherwise (the check of tfvae.denoise and tfvae.restore)."""
    image = tf.convert_to_tensor(image)
    if image.dtype not in (tf.uint8, tf.float16, tf.float32, tf.float64):
        raise ValueError(f"image must be uint8 (0..255) or float ([0, 1]), got dtype {image.dtype.name}")
    if image.shape.rank not in (2, 3):
        raise ValueError(f"image must be [H, W] or [H, W, C], got shape {image.shape}")
    channels = 1 if image.shape.rank == 2 else image.shape[-1]
    if channels not in (1, 3):
        raise ValueError(f"image must have 1 or 3 channels, got {channels} (convert RGBA or other images first)")
    return image, channels


def prior_from_flag(path):
    """load_prior(path) for an app's --prior_path (None: None, tfvae's default), a missing file as a ConfigError."""
    try:
        return load_prior(path) if path else None
    except FileNotFoundError as e:
        raise ConfigError(f"--prior_path={path}: {e}") from None


def denoise(image, sigma, prior=None, colour=None, stride=1, betas=None, progress=None, ensemble=None):
    """Restores an image with white Gaussian noise of standard deviation sigma; returns an image like the input.

    image: [H, W] or [H, W, C] with C = 1 or 3, sides at least MIN_SIDE; uint8 (0..255), or float on [0, 1]. The
        output has the input's shape and dtype (uint8 rounded).
    sigma: the noise level on the image's own scale (25 for 8-bit images, 25 / 255 for [0, 1] floats), > 0: a number
        or a scalar tensor.
    prior: an image prior (a ConvDenoiser) or a patch prior (tfvae.restoration.epll's protocol), e.g. from
        `load_prior`; None: `default_prior` (DEFAULT_PRIOR).
    colour: how a grey prior denoises [H, W, 3]: "opponent" (None: the default) or "per_channel" (module docstring);
        a colour image prior takes RGB as it is.
    stride: a patch prior's patch grid step (1: the paper; FAST_STRIDE: about stride^2 times fewer patches).
    betas: the splitting schedule as multiples of 1 / sigma^2; None: tfvae.restoration.epll.BETAS for a patch prior,
        tfvae.restoration.pnp.BETAS (one pass) for an image prior.
    progress: None (one compiled graph), or progress(splitting steps done, total) (tfvae/progress.py), called after
        each step of each channel; the steps then run one by one, each compiled as in that graph, with the same
        result (call denoise eagerly).
    ensemble: an image prior's network as it is (1, the fast mode) or averaged over the 8 flips and rotations of
        the image (8); None: tfvae.restoration.pnp.ENSEMBLE (8, chosen on the validation split). A patch prior
        takes only None.
    """
    require_eager(progress, "denoise")
    image, channels = check_image(image)
    if colour is not None and colour not in COLOUR_MODES:
        raise ValueError(f"colour must be one of {COLOUR_MODES} or None, got {colour!r}")
    colour = colour or "opponent"
    scale = 255.0 if image.dtype == tf.uint8 else 1.0
    sigma = epll_lib.check_sigma(sigma, largest=MAX_SIGMA * scale)  # noise as strong as the whole value range at most
    sigma01 = tf.cast(sigma, tf.float32) / scale if tf.is_tensor(sigma) else sigma / scale
    prior = prior or default_prior(channels)
    image_prior = is_image_prior(prior)
    patches.check_shape(image.shape[:2], MIN_SIDE if image_prior else patch_size(prior), stride)  # sizes known now
    betas = tuple((pnp.BETAS if image_prior else epll_lib.BETAS) if betas is None else betas)
    if ensemble is not None and (not image_prior or ensemble not in pnp.ENSEMBLES):
        raise ValueError(f"ensemble must be one of {pnp.ENSEMBLES} with an image prior (None otherwise), got "
                         f"{ensemble!r}" + ("" if image_prior else " with a patch prior"))

    x = tf.cast(image, tf.float32) / scale  # [0, 1]
    x = x[..., None] if image.shape.rank == 2 else x  # [H, W, C]
    if not x.shape[:2].is_fully_defined():  # a size known only when the graph runs: checked then
        with tf.control_dependencies([tf.debugging.assert_greater_equal(
                tf.shape(x)[:2], MIN_SIDE, message=f"the image is smaller than {MIN_SIDE}x{MIN_SIDE}")]):
            x = tf.identity(x)
    sigma01 = tf.cast(sigma01, tf.float32)
    if image_prior:
        restored = _image_restorer(prior, channels, colour, betas, ensemble or pnp.ENSEMBLE)(x, sigma01)
        if progress is not None:
            progress(len(betas), len(betas))
    elif progress is None:
        restored = _restorer(prior, channels, colour, stride, betas)(x, sigma01)
    else:
        restored = _restore(x, sigma01, channels, colour, _in_steps(prior, channels, stride, betas, progress))
    restored = restored[..., 0] if image.shape.rank == 2 else restored
    if image.dtype == tf.uint8:
        return tf.cast(tf.round(restored * 255), tf.uint8)
    return tf.cast(restored, image.dtype)


@functools.lru_cache(maxsize=16)
def _image_restorer(prior, channels, colour, betas, ensemble):
    """A tf.function: x [H, W, channels] on [0, 1], sigma (float32 scalar, [0, 1] scale) -> restored [H, W, channels]
    by the image prior (tfvae/restoration/pnp.py: one pass for betas (1,); ensemble 8: its self-ensemble), compiled
    once for every image size."""
    def batch_network(batch, s):  # [B, H, W, C], a scalar -> D(batch, s) [B, H, W, C]
        return prior((batch, tf.fill([tf.shape(batch)[0]], s)))

    network = pnp.self_ensemble(batch_network) if ensemble == 8 else lambda x, s: batch_network(x[None], s)[0]

    def run(c, image, sigma, value_range):  # one channel [H, W] through the grey prior
        lo, hi = value_range
        out = pnp.pnp((image[..., None] - lo) / (hi - lo), sigma / (hi - lo), network, betas)[..., 0]
        return tf.clip_by_value(out * (hi - lo) + lo, lo, hi)

    def restore(x, sigma):
        if prior.channels == 3 and channels == 3:
            return tf.clip_by_value(pnp.pnp(x, sigma, network, betas), 0, 1)
        if prior.channels == 3:
            raise ValueError("a colour image prior takes [H, W, 3] images; use a grey prior for grey images")
        return _restore(x, sigma, channels, colour, run)

    return tf.function(restore, input_signature=[tf.TensorSpec([None, None, channels]), tf.TensorSpec([])],
                       autograph=False)


@functools.lru_cache(maxsize=16)
def _restorer(prior, channels, colour, stride, betas):
    """A tf.function: x [H, W, channels] on [0, 1], sigma (float32 scalar, [0, 1] scale) -> restored [H, W, channels].

    Compiled once per setting, for every image size; called eagerly it runs as one graph, inside another graph
    (tf.data, a SavedModel) it is inlined.
    """
    def run(c, image, sigma, value_range):
        return epll_lib.epll(image, sigma, prior, patch_size(prior), betas, stride, value_range)

    def restore(x, sigma):
        return _restore(x, sigma, channels, colour, run)

    return tf.function(restore, input_signature=[tf.TensorSpec([None, None, channels]), tf.TensorSpec([])])


def _in_steps(prior, channels, stride, betas, progress):
    """run(c, image, sigma, value_range) for `_restore`: the EPLL of channel c [H, W] as _restorer's graph computes
    it, in separately compiled parts (epll's prepare, each splitting step, finish), calling progress(steps done,
    total) after each step. The parts take images of any size, as _restorer does: the same graph optimizations."""
    size, total = patch_size(prior), (1 if channels == 1 else 3) * len(betas)
    image, scalar = tf.TensorSpec([None, None]), tf.TensorSpec([])
    steps = [tf.function(functools.partial(epll_lib.splitting_step, multiple=m, prior=prior, patch_size=size,
                                           stride=stride), input_signature=[image, image, image, scalar],
                         autograph=False) for m in betas]

    def run(c, noisy, sigma, value_range):
        prepare = tf.function(lambda y, s: epll_lib.prepare(y, s, size, stride, value_range),
                              input_signature=[image, scalar], autograph=False)
        noisy, sigma, count = prepare(noisy, sigma)
        estimate = noisy
        for k, step in enumerate(steps):
            estimate = step(noisy, estimate, count, sigma)
            progress(c * len(betas) + k + 1, total)
        finish = tf.function(lambda e: epll_lib.finish(e, value_range), input_signature=[image], autograph=False)
        return finish(estimate)

    return run


def _restore(x, sigma, channels, colour, run):
    """x [H, W, channels] on [0, 1], sigma (float32 scalar, [0, 1] scale) -> restored [H, W, channels] by
    run(c, channel c [H, W], its sigma, its value range), the EPLL of each channel (module docstring)."""
    if channels == 1:
        return run(0, x[..., 0], sigma, (0.0, 1.0))[..., None]
    if colour == "per_channel":
        return tf.stack([run(c, x[..., c], sigma, (0.0, 1.0)) for c in range(3)], -1)
    opponent = tf.einsum("hwc,dc->hwd", x, OPPONENT)
    norms = np.linalg.norm(OPPONENT, axis=1)
    restored = [run(c, opponent[..., c], sigma * float(norms[c]),
                    (float(OPPONENT_LOW[c]), float(OPPONENT_LOW[c]) + 1.0)) for c in range(3)]
    return tf.clip_by_value(tf.einsum("hwd,cd->hwc", tf.stack(restored, -1), np.linalg.inv(OPPONENT)), 0, 1)


def patch_size(prior):
    """p of a prior over p * p patches."""
    side = int(round(prior.dim ** 0.5))
    if side * side != prior.dim:
        raise ValueError(f"the prior is over {prior.dim} values, not a square grey patch")
    return side
