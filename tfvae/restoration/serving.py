"""The denoiser as a SavedModel: `python -m export --denoiser=shipped --export_dir=serving/denoise/1`.

It serves a prior of the library (by default the shipped one, tfvae/restoration/denoise.py: DEFAULT_PRIOR) and the
GMM in EPLL beside it: the GMM's parameters become variables of the SavedModel, a Keras prior's weights (the
convolutional denoiser, the learned patch denoiser, the flow) are tracked as its variables. Signatures (TF Serving
serves them; loading needs TensorFlow only), each taking image (float32 [H, W] or [H, W, C], C = 1 or 3, values on
[0, 1], any size of at least 8x8) and sigma (float32 scalar, the noise level on the same scale: 25 / 255 for sigma 25
of 8-bit images) and returning {image}, the restoration of the same shape:

- `denoise` (also `serving_default`): tfvae.denoise with the exported prior (a colour image prior for [H, W, 3] where
  one is exported with it; a grey prior sees colour through the opponent transform), an image prior's
  self-ensemble over the 8 flips and rotations;
- `denoise_fast`: the exported prior's fast mode: an image prior's one pass (ensemble 1), a patch prior's EPLL at
  patch stride FAST_STRIDE;
- `denoise_gmm`: EPLL with the GMM (`--gmm`; by default the exported prior if it is one, else the shipped GMM) at
  patch stride 1;
- `denoise_gmm_fast`: the same at patch stride FAST_STRIDE = 3 (README has the measured speed/quality trade-off);
- `inpaint` (image, mask: float32 [H, W], non-zero where observed, sigma: may be 0), `deblur` (image, kernel: float32
  [kh, kw] summing to 1, sigma >= 0) and `upscale` (image, factor: int32 2, 3 or 4, the bicubic downsampling of
  tfvae.restoration.degradations, sigma >= 0): tfvae.restore with the exported prior (tfvae/restoration/restore.py);
  upscale returns an image `factor` times larger along each side.

Bad input (wrong rank, channels, a too small image, sigma <= 0 or > 1) fails inside the graph with a message naming it.
The archive goes through the library's one writer (tfvae/serving.py: atomic, with the metadata asset).
"""

import os

import tensorflow as tf

from tfvae import serving
from tfvae.restoration import degradations as deg_lib
from tfvae.restoration import denoise as denoise_lib
from tfvae.restoration import restore as restore_lib
from tfvae.restoration.gmm import PatchGMM

FAST_STRIDE = denoise_lib.FAST_STRIDE
SIGNATURES = ("denoise", "denoise_fast", "denoise_gmm", "denoise_gmm_fast", "inpaint", "deblur", "upscale")
UPSCALE_FACTORS = (2, 3, 4)


class Denoiser(tf.Module):
    """Holds a prior (grey, and optionally a colour image prior) and a GMM, and serves the module docstring's
    signatures."""

    def __init__(self, prior, gmm, colour_prior=None):
        super().__init__(name="denoiser")
        self.log_weights = tf.Variable(gmm.log_weights, trainable=False, name="log_weights")
        self.eigenvalues = tf.Variable(gmm.eigenvalues, trainable=False, name="eigenvalues")
        self.eigenvectors = tf.Variable(gmm.eigenvectors, trainable=False, name="eigenvectors")
        self.prior_model = None if isinstance(prior, PatchGMM) else prior  # a Keras model
        self.colour_model = colour_prior
        # Their weights, tracked here: Keras 3 keeps sublayers in structures TensorFlow's object graph may not see
        # (a tuple in a list), and a signature must not capture an untracked variable.
        self.prior_weights = [w for m in (self.prior_model, colour_prior) if m is not None for w in m.weights]
        spec = [tf.TensorSpec(None, tf.float32, name="image"), tf.TensorSpec([], tf.float32, name="sigma")]
        self.denoise = tf.function(lambda image, sigma: self._restore(image, sigma, self.prior_model, 1),
                                   input_signature=spec)
        self.denoise_fast = tf.function(lambda image, sigma: self._restore(
            image, sigma, self.prior_model, 1 if self.prior_model is not None else FAST_STRIDE, fast=True),
            input_signature=spec)
        self.denoise_gmm = tf.function(lambda image, sigma: self._restore(image, sigma, None, 1), input_signature=spec)
        self.denoise_gmm_fast = tf.function(lambda image, sigma: self._restore(image, sigma, None, FAST_STRIDE),
                                            input_signature=spec)
        image_spec, sigma_spec = spec
        self.inpaint = tf.function(
            lambda image, mask, sigma: self._degraded(image, lambda: deg_lib.Inpaint(mask, sigma)),
            input_signature=[image_spec, tf.TensorSpec([None, None], tf.float32, name="mask"), sigma_spec])
        self.deblur = tf.function(
            lambda image, kernel, sigma: self._degraded(image, lambda: deg_lib.Blur(kernel, sigma)),
            input_signature=[image_spec, tf.TensorSpec([None, None], tf.float32, name="kernel"), sigma_spec])
        self.upscale = tf.function(self._upscale, input_signature=[
            image_spec, tf.TensorSpec([], tf.int32, name="factor"), sigma_spec])

    def gmm(self):
        return PatchGMM.from_eigendecomposition(self.log_weights, self.eigenvalues, self.eigenvectors)

    def _restore(self, image, sigma, prior, stride, fast=False):
        """image [H, W] or [H, W, C] (rank and C known only when run) -> {"image": restored, same shape} by `prior`
        (None: the GMM); fast: an image prior's one pass."""
        grey_prior = prior if prior is not None else self.gmm()
        colour_prior = self.colour_model if prior is not None and self.colour_model is not None else grey_prior

        def run(image3, colour):
            chosen = colour_prior if colour else grey_prior
            ensemble = 1 if fast and denoise_lib.is_image_prior(chosen) else None
            return denoise_lib.denoise(image3, sigma, chosen, "opponent" if colour else None, stride,
                                       ensemble=ensemble)

        return {"image": self._by_channels(image, run, 1)}

    def _degraded(self, image, make, factor=1):
        """{"image": tfvae.restore of image [h, w] or [h, w, C] through make() (a degradation) with the exported
        prior}, [factor h, factor w(, C)]."""
        grey_prior = self.prior_model if self.prior_model is not None else self.gmm()
        colour_prior = self.colour_model if self.colour_model is not None else grey_prior

        def run(image3, colour):
            return restore_lib.restore(image3, make(), colour_prior if colour else grey_prior)

        return {"image": self._by_channels(image, run, factor)}

    def _upscale(self, image, factor, sigma):
        checks = [tf.debugging.assert_equal(tf.reduce_any(tf.equal(factor, UPSCALE_FACTORS)), True,
                                            message=f"factor must be one of {UPSCALE_FACTORS}")]
        with tf.control_dependencies(checks):
            factor = tf.identity(factor)
        branches = {f: (lambda f=f: self._degraded(image, lambda: deg_lib.Downsample(f, sigma=sigma), f)["image"])
                    for f in UPSCALE_FACTORS}
        return {"image": tf.switch_case(factor - UPSCALE_FACTORS[0],
                                        [branches[f] for f in range(UPSCALE_FACTORS[0], UPSCALE_FACTORS[-1] + 1)])}

    @staticmethod
    def _by_channels(image, run, factor):
        """run(image3 [h, w, C] with C = 3 or 1 static, colour) for image [h, w] or [h, w, C], C known only when the
        graph runs (1 or 3; checked) -> the result reshaped like image with sides times `factor` (a Python int or
        an int32 scalar)."""
        shape = tf.shape(image)
        rank = tf.size(shape)
        with tf.control_dependencies([tf.debugging.assert_equal(
                tf.logical_or(tf.equal(rank, 2), tf.equal(rank, 3)), True, message="image must be [H, W] or [H, W, C]")]):
            image3 = tf.reshape(image, tf.stack([shape[0], shape[1], -1]))  # [H, W, C]; C = 1 for [H, W]
        channels = tf.shape(image3)[2]
        with tf.control_dependencies([tf.debugging.assert_equal(
                tf.logical_or(tf.equal(channels, 1), tf.equal(channels, 3)), True,
                message="image must have 1 or 3 channels")]):
            image3 = tf.identity(image3)

        restored = tf.cond(tf.equal(channels, 3), lambda: run(tf.ensure_shape(image3, [None, None, 3]), True),
                           lambda: run(tf.ensure_shape(image3[..., :1], [None, None, 1]), False))
        return tf.reshape(restored, tf.concat([shape[:2] * factor, shape[2:]], 0))


def export_denoiser(prior_path, export_dir, overwrite=False, gmm_path=None):
    """Writes the denoiser SavedModel with the prior at prior_path (denoise.load_prior: None or "shipped" for the
    shipped default, with the shipped colour prior where there is one; a name of denoise.PRIOR_FILES; or a .npz /
    .keras file) and a GMM (gmm_path; None: the prior itself if it is one, else the shipped GMM); returns
    export_dir."""
    prior = denoise_lib.load_prior(prior_path)
    default = prior_path in (None, "shipped")
    colour_prior = denoise_lib.default_prior(3) if default else None
    colour_prior = colour_prior if colour_prior is not None and colour_prior is not prior else None
    gmm = denoise_lib.load_prior(gmm_path) if gmm_path else prior if isinstance(prior, PatchGMM) else \
        denoise_lib.load_prior("gmm")
    if not isinstance(gmm, PatchGMM):
        raise ValueError(f"{gmm_path} is not a GMM (.npz)")
    module = Denoiser(prior, gmm, colour_prior)
    signatures = {"serving_default": module.denoise, "denoise": module.denoise, "denoise_fast": module.denoise_fast,
                  "denoise_gmm": module.denoise_gmm,
                  "denoise_gmm_fast": module.denoise_gmm_fast, "inpaint": module.inpaint, "deblur": module.deblur,
                  "upscale": module.upscale}
    config = {"prior": os.path.abspath(denoise_lib.prior_file(prior_path)), "prior_type": type(prior).__name__,
              "colour_prior": type(colour_prior).__name__ if colour_prior is not None else None,
              "fast_stride": FAST_STRIDE, "components": gmm.num_components}
    # No training step: a prior file does not record its training steps (the training apps print them).
    return serving.write(export_dir, lambda path: tf.saved_model.save(module, path, signatures=signatures),
                         "denoiser", config, SIGNATURES, overwrite=overwrite)
