"""Denoises an image: `python -m apps.denoise --input noisy.png --sigma 25 --output clean.png`.

tfvae.denoise with the shipped convolutional denoiser, or with --prior_path another prior of the package (the GMM in
EPLL, ...) or a file. --sigma is the noise level on the 0-255 scale; grey and colour images alike. With --clean (a
reference image) or --add_noise (noise of level --sigma is added to --input first, for demos) it prints PSNR and
SSIM before and after. With no --input it demonstrates itself on a built-in image (Set12's house) with noise added.
"""

from tfvae import quiet  # noqa: F401  (first: silences TensorFlow's start-up lines before it is imported)

import time

import numpy as np
from absl import flags

from tfvae import cli, progress
from tfvae.config import ConfigError
from tfvae.data import DataError, read_image, write_image
from tfvae.restoration import denoise as denoise_lib
from tfvae.restoration import pnp
from tfvae.restoration.restore import psnr_ssim

FLAGS = flags.FLAGS
cli.define_common_flags()
DEFAULT_OUTPUT = "denoised.png"
PROGRESS_PIXELS = 512 * 512  # larger images show the splitting steps as they finish
DEMO_IMAGE = denoise_lib.DEMO_IMAGE

cli.define_restoration_flags(denoise_lib.PRIOR_FILES, denoise_lib.DEFAULT_PRIOR)
DEFAULT_SIGMA = 25.0  # --sigma when not given
flags.DEFINE_bool("add_noise", False, "add noise of level --sigma to --input first (for demos)")
flags.DEFINE_enum("colour", None, denoise_lib.COLOUR_MODES, "how a grey prior denoises colour images (default: "
                  "opponent); a colour prior takes them as they are")
flags.DEFINE_integer("stride", 1, f"patch priors: the patch stride (1 is EPLL; {denoise_lib.FAST_STRIDE} is about 3x "
                     "faster)")
flags.DEFINE_integer("ensemble", None, "the convolutional prior: 1, one pass of the network (the fast mode), or 8, "
                     "the mean of its estimates over the 8 flips and rotations of the image (default 8: chosen on "
                     "validation, README)")


def add_noise(image, sigma, seed):
    """uint8 image + N(0, sigma^2) noise, kept as float32 on the 0-255 scale (no rounding or clipping)."""
    return image.astype(np.float32) + sigma * np.random.default_rng(seed).normal(size=image.shape).astype(np.float32)


def check_flags():
    FLAGS.sigma = DEFAULT_SIGMA if FLAGS.sigma is None else FLAGS.sigma
    if not 0 < FLAGS.sigma <= 255 * denoise_lib.MAX_SIGMA:
        raise ConfigError(f"--sigma={FLAGS.sigma}: must be in (0, {255 * denoise_lib.MAX_SIGMA:g}] (0-255 scale)")
    if FLAGS.stride < 1:
        raise ConfigError(f"--stride={FLAGS.stride}: must be positive")
    if FLAGS.ensemble not in (None, *pnp.ENSEMBLES):
        raise ConfigError(f"--ensemble={FLAGS.ensemble}: must be one of {pnp.ENSEMBLES}")
    if FLAGS.add_noise and FLAGS.clean:
        raise ConfigError("--add_noise uses --input as the clean reference; do not also pass --clean")
    FLAGS.output = FLAGS.output or DEFAULT_OUTPUT
    cli.check_output_path("output", FLAGS.output)


@cli.reports_errors
def main(argv):
    check_flags()
    demo = FLAGS.input is None
    image = read_image(DEMO_IMAGE if demo else FLAGS.input, channels=None)  # uint8 [H, W, 1 or 3]
    clean = read_image(FLAGS.clean, channels=image.shape[-1]) if FLAGS.clean else None
    if clean is not None and clean.shape != image.shape:
        raise DataError(f"--clean={FLAGS.clean} is {clean.shape}, --input is {image.shape}")
    noisy = image.astype(np.float32)
    if demo or FLAGS.add_noise:
        clean, noisy = image, add_noise(image, FLAGS.sigma, FLAGS.noise_seed)
    prior = denoise_lib.prior_from_flag(FLAGS.prior_path)
    chosen = prior or denoise_lib.default_prior(image.shape[-1])
    if FLAGS.ensemble is not None and not denoise_lib.is_image_prior(chosen):
        raise ConfigError(f"--ensemble: only for the convolutional prior, not the patch prior of --prior_path="
                          f"{FLAGS.prior_path or denoise_lib.DEFAULT_PRIOR}")
    start = time.time()
    try:
        large = image.shape[0] * image.shape[1] > PROGRESS_PIXELS  # long enough to say how far it is
        restored = denoise_lib.denoise(noisy / 255.0, FLAGS.sigma / 255.0, prior=prior, colour=FLAGS.colour,
                                       stride=FLAGS.stride, progress=progress.Progress("denoising") if large else None,
                                       ensemble=FLAGS.ensemble)
    except ValueError as e:
        raise DataError(f"{FLAGS.input or DEMO_IMAGE}: {e}") from None
    seconds = time.time() - start
    restored = np.round(restored.numpy() * 255).astype(np.uint8)
    write_image(FLAGS.output, restored)
    print(f"Denoised {'the built-in demo image' if demo else FLAGS.input} ({image.shape[1]}x{image.shape[0]}, "
          f"sigma {FLAGS.sigma:g}) in {seconds:.1f} s into {FLAGS.output}")
    if clean is not None:
        noisy8 = np.clip(np.round(noisy), 0, 255).astype(np.uint8)
        before, after = psnr_ssim(noisy8, clean), psnr_ssim(restored, clean)
        print(f"PSNR {before[0]:.2f} -> {after[0]:.2f} dB, SSIM {before[1]:.3f} -> {after[1]:.3f}")


def run():
    """The console script's entry point."""
    cli.run(main)


if __name__ == "__main__":
    run()
