"""Restores an image degraded by a known linear A: inpainting, deblurring, super-resolution or denoising.

    python -m apps.restore --degradation=inpaint --input observed.png --mask mask.png --output restored.png
    python -m apps.restore --degradation=deblur --input blurred.png --kernel kernel.npy --sigma 2 --output out.png
    python -m apps.restore --degradation=upscale --input small.png --factor 4 --output large.png
    python -m apps.restore --degradation=denoise --input noisy.png --sigma 25 --output clean.png
    python -m apps.restore --degradation=deblur                       # a demo on a built-in image

tfvae.restore (tfvae/restoration/restore.py) with the prior `--prior_path` (default: tfvae.denoise's). --sigma is the
observation's noise level on the 0-255 scale (0 allowed but for denoising). --mask: an image of the input's size,
non-zero where a pixel was observed. --kernel: a .npy 2-D array summing to 1, or an image, normalized to sum 1.
--factor: 2, 3 or 4, the bicubic (MATLAB imresize) downsampling, or after --kernel when given. With --degrade the
input is a clean image that is degraded first (the borders by reflection; noise from --noise_seed), and with --clean,
or --degrade, or no --input (the demo: Set12's house, degraded) it prints PSNR and SSIM of the start and the result.
"""

from tfvae import quiet  # noqa: F401  (first: silences TensorFlow's start-up lines before it is imported)

import time

import numpy as np
import tensorflow as tf
from absl import flags

from tfvae import cli
from tfvae.config import ConfigError
from tfvae.data import DataError, read_image, write_image
from tfvae.restoration import degradations as deg_lib
from tfvae.restoration import denoise as denoise_lib
from tfvae.restoration import restore as restore_lib
from tfvae.restoration.denoise import DEMO_IMAGE
from tfvae.restoration.restore import psnr_ssim

FLAGS = flags.FLAGS
cli.define_common_flags()
DEFAULT_OUTPUT = "restored.png"
DEMO_MISSING = 0.5  # the demo's inpainting: half the pixels missing at random
DEMO_KERNEL = (25, 1.6)  # the demo's blur: a 25x25 Gaussian of standard deviation 1.6
DEMO_SIGMA = {"inpaint": 0.0, "deblur": 2.0, "upscale": 0.0, "denoise": 25.0}  # 0-255 scale

cli.define_restoration_flags(denoise_lib.PRIOR_FILES, denoise_lib.DEFAULT_PRIOR)
flags.DEFINE_enum("degradation", "deblur", ["inpaint", "deblur", "upscale", "denoise"],
                  "what happened to the image")
flags.DEFINE_string("mask", None, "inpaint: an image of the input's size, non-zero where a pixel was observed")
flags.DEFINE_string("kernel", None, "deblur (and upscale, optional): the blur kernel, a .npy 2-D array summing to 1 "
                    "or an image (normalized to sum 1); deblur's demo: a 25x25 Gaussian of standard deviation 1.6")
flags.DEFINE_integer("factor", 2, "upscale: the downsampling factor (2, 3 or 4)")
flags.DEFINE_bool("degrade", False, "--input is clean: degrade it first (for demos)")


def read_kernel(path):
    """The blur kernel at path: float32 [kh, kw] summing to 1 (a .npy must already; an image is normalized)."""
    if path.endswith(".npy"):
        try:
            kernel = np.load(path, allow_pickle=False)
        except FileNotFoundError:
            raise DataError(f"--kernel={path}: no such file") from None
        except (OSError, ValueError) as e:
            raise DataError(f"--kernel={path} is not a readable .npy array ({e})") from None
        if not np.issubdtype(kernel.dtype, np.number):
            raise DataError(f"--kernel={path} holds {kernel.dtype} values, not numbers")
    else:
        kernel = read_image(path, channels=1)[..., 0].astype(np.float64)
        kernel = kernel / kernel.sum() if kernel.sum() > 0 else kernel
    try:
        return deg_lib.check_kernel(kernel)
    except ValueError as e:
        raise DataError(f"--kernel={path}: {e}") from None


def check_flags():
    sigma = FLAGS.sigma
    if sigma is not None and not 0 <= sigma <= 255:
        raise ConfigError(f"--sigma={sigma}: must be in [0, 255] (0-255 scale)")
    if FLAGS.degradation == "denoise" and sigma is not None and sigma <= 0:
        raise ConfigError(f"--sigma={sigma}: denoising needs a positive noise level")
    if FLAGS.degradation == "upscale" and FLAGS.factor not in (2, 3, 4):
        raise ConfigError(f"--factor={FLAGS.factor}: must be 2, 3 or 4")
    if FLAGS.degradation == "inpaint" and FLAGS.input is not None and not FLAGS.mask:
        raise ConfigError("--degradation=inpaint needs --mask (non-zero where a pixel was observed)")
    if FLAGS.degradation == "deblur" and FLAGS.input is not None and not FLAGS.kernel:
        raise ConfigError("--degradation=deblur needs --kernel")
    if FLAGS.degrade and FLAGS.clean:
        raise ConfigError("--degrade uses --input as the clean reference; do not also pass --clean")
    FLAGS.output = FLAGS.output or DEFAULT_OUTPUT
    cli.check_output_path("output", FLAGS.output)


def make_degradation(kind, sigma, shape, demo):
    """The degradation of the flags for an observed image of shape [h, w, C] (for the demo: of the clean image)."""
    sigma = sigma / 255.0
    if kind == "denoise":
        return deg_lib.Noise(sigma)
    if kind == "inpaint":
        if FLAGS.mask:
            mask = read_image(FLAGS.mask, channels=1)[..., 0]
            if mask.shape != shape[:2]:
                raise DataError(f"--mask={FLAGS.mask} is {mask.shape[1]}x{mask.shape[0]}, the image "
                                f"{shape[1]}x{shape[0]}")
        else:  # the demo's random mask
            mask = np.random.default_rng(FLAGS.noise_seed).uniform(size=shape[:2]) >= DEMO_MISSING
        return deg_lib.Inpaint(mask, sigma)
    kernel = read_kernel(FLAGS.kernel) if FLAGS.kernel else None
    if kind == "deblur":
        kernel = kernel if kernel is not None else deg_lib.gaussian_kernel(*DEMO_KERNEL)
        if demo or FLAGS.degrade or min(shape[:2]) >= max(kernel.shape):
            return deg_lib.Blur(kernel, sigma)
        raise DataError(f"the image ({shape[1]}x{shape[0]}) is smaller than the kernel "
                        f"({kernel.shape[1]}x{kernel.shape[0]})")
    return deg_lib.Downsample(FLAGS.factor, kernel, sigma)


def start_of(degradation, observed):
    """What the loop starts from (for the printed PSNR of the observation): the input as it is, or upscaled."""
    return np.clip(degradation.initial(tf.constant(observed)).numpy(), 0, 1)


@cli.reports_errors
def main(argv):
    check_flags()
    demo = FLAGS.input is None
    kind = FLAGS.degradation
    sigma = FLAGS.sigma if FLAGS.sigma is not None else (DEMO_SIGMA[kind] if demo else 0.0)
    if kind == "denoise" and sigma <= 0:
        raise ConfigError("--degradation=denoise needs --sigma > 0")
    image = read_image(DEMO_IMAGE if demo else FLAGS.input, channels=None)  # uint8 [H, W, 1 or 3]
    clean = read_image(FLAGS.clean, channels=image.shape[-1]) if FLAGS.clean else None
    if demo or FLAGS.degrade:
        clean = image
        if kind == "upscale" and (image.shape[0] % FLAGS.factor or image.shape[1] % FLAGS.factor):
            if not demo:
                raise DataError(f"--factor={FLAGS.factor} does not divide the size of --input "
                                f"({image.shape[1]}x{image.shape[0]})")
            clean = image[:image.shape[0] // FLAGS.factor * FLAGS.factor, :image.shape[1] // FLAGS.factor
                          * FLAGS.factor]  # the demo crops its built-in image to a multiple
    degradation = make_degradation(kind, sigma, (clean if clean is not None and demo else image).shape, demo)
    if demo or FLAGS.degrade:
        try:
            observed = degradation.degrade(clean.astype(np.float32) / 255.0, FLAGS.noise_seed).numpy()
        except ValueError as e:
            raise DataError(f"{FLAGS.input or DEMO_IMAGE}: {e}") from None
    else:
        observed = image.astype(np.float32) / 255.0
    expected = tuple(degradation.factor * np.array(observed.shape[:2]))
    if clean is not None and clean.shape[:2] != expected:
        raise DataError(f"--clean={FLAGS.clean} is {clean.shape[1]}x{clean.shape[0]}, the restored image will be "
                        f"{expected[1]}x{expected[0]}" + (f" (--factor={FLAGS.factor})" if kind == "upscale" else ""))
    prior = denoise_lib.prior_from_flag(FLAGS.prior_path)
    start = time.time()
    try:
        restored = restore_lib.restore(observed, degradation, prior=prior)
    except ValueError as e:
        raise DataError(f"{FLAGS.input or DEMO_IMAGE}: {e}") from None
    seconds = time.time() - start
    restored = np.round(restored.numpy() * 255).astype(np.uint8)
    write_image(FLAGS.output, restored)
    what = "the built-in demo image" if demo else FLAGS.input
    print(f"Restored {what} ({kind}, {observed.shape[1]}x{observed.shape[0]} -> {restored.shape[1]}x"
          f"{restored.shape[0]}, sigma {sigma:g}) in {seconds:.1f} s into {FLAGS.output}")
    if clean is not None:
        begin = np.round(start_of(degradation, np.clip(observed, 0, 1)) * 255).astype(np.uint8)
        before, after = psnr_ssim(begin, clean), psnr_ssim(restored, clean)
        print(f"PSNR {before[0]:.2f} -> {after[0]:.2f} dB, SSIM {before[1]:.3f} -> {after[1]:.3f} (the start: "
              f"{'the observation' if kind != 'upscale' else 'bicubic upscaling'}"
              f"{', missing pixels filled by normalized convolution' if kind == 'inpaint' else ''})")


def run():
    """The console script's entry point."""
    cli.run(main)


if __name__ == "__main__":
    run()
