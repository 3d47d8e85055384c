"""The denoiser as a SavedModel: `python -m export --denoiser=shipped --export_dir=serving/denoise/1`.

Any patch prior of the library is served: the GMM (its parameters become variables of the SavedModel), the learned
denoiser or the flow (their Keras weights become variables). Signatures (TF Serving serves them; loading needs
TensorFlow only):

- `denoise` (also `serving_default`): image (float32 [H, W] or [H, W, C], C = 1 or 3, values on [0, 1], any size of
  at least 8x8), sigma (float32 scalar, the noise level on the same scale: 25 / 255 for sigma 25 of 8-bit images)
  -> {image}: the EPLL restoration (tfvae.restoration.denoise; colour images through the opponent transform).
- `denoise_fast`: the same with patch stride FAST_STRIDE = 3 (README has the measured speed/quality trade-off).

Bad input (wrong rank, channels, a too small image, sigma <= 0 or > 1) fails inside the graph with a message naming it.
The archive goes through the library's one writer (tfvae/serving.py: atomic, with the metadata asset).
"""

import os

import tensorflow as tf

from tfvae import serving
from tfvae.restoration import denoise as denoise_lib
from tfvae.restoration.gmm import PatchGMM

FAST_STRIDE = denoise_lib.FAST_STRIDE
SIGNATURES = ("denoise", "denoise_fast")


class Denoiser(tf.Module):
    """Holds a patch prior (a PatchGMM's parameters as variables, or a Keras prior) and serves `denoise` and
    `denoise_fast`."""

    def __init__(self, prior):
        super().__init__(name="denoiser")
        if isinstance(prior, PatchGMM):
            self.log_weights = tf.Variable(prior.log_weights, trainable=False, name="log_weights")
            self.eigenvalues = tf.Variable(prior.eigenvalues, trainable=False, name="eigenvalues")
            self.eigenvectors = tf.Variable(prior.eigenvectors, trainable=False, name="eigenvectors")
            self.prior_model = None
        else:  # a DenoiserPrior or FlowPatchPrior: a Keras model, tracked with its weights
            self.prior_model = prior
        spec = [tf.TensorSpec(None, tf.float32, name="image"), tf.TensorSpec([], tf.float32, name="sigma")]
        self.denoise = tf.function(lambda image, sigma: self._restore(image, sigma, 1), input_signature=spec)
        self.denoise_fast = tf.function(lambda image, sigma: self._restore(image, sigma, FAST_STRIDE),
                                        input_signature=spec)

    def prior(self):
        if self.prior_model is not None:
            return self.prior_model
        return PatchGMM.from_eigendecomposition(self.log_weights, self.eigenvalues, self.eigenvectors)

    def _restore(self, image, sigma, stride):
        """image [H, W] or [H, W, C] (rank and C known only when run) -> {"image": restored, same shape}."""
        prior = self.prior()
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

        def colour():
            return denoise_lib.denoise(tf.ensure_shape(image3, [None, None, 3]), sigma, prior, "opponent", stride)

        def grey():
            return denoise_lib.denoise(tf.ensure_shape(image3[..., :1], [None, None, 1]), sigma, prior, stride=stride)

        restored = tf.cond(tf.equal(channels, 3), colour, grey)
        return {"image": tf.reshape(restored, shape)}


def export_denoiser(prior_path, export_dir, overwrite=False):
    """Writes the denoiser SavedModel with the patch prior at prior_path (denoise.load_prior: None for the shipped
    GMM, "learned", "flow", or a .npz / .keras file); returns export_dir."""
    prior = denoise_lib.load_prior(prior_path)
    module = Denoiser(prior)
    signatures = {"serving_default": module.denoise, "denoise": module.denoise, "denoise_fast": module.denoise_fast}
    config = {"prior": os.path.abspath(denoise_lib.prior_file(prior_path)), "patch_size": denoise_lib.patch_size(prior),
              "fast_stride": FAST_STRIDE, "prior_type": type(prior).__name__}
    if isinstance(prior, PatchGMM):
        config["components"] = prior.num_components
    # No training step: a prior file does not record its training steps (apps.train_patch_prior prints them).
    return serving.write(export_dir, lambda path: tf.saved_model.save(module, path, signatures=signatures),
                         "denoiser", config, SIGNATURES, overwrite=overwrite)
