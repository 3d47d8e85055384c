"""EPLL denoising by half-quadratic splitting (Zoran & Weiss 2011), for any patch prior.

With y the noisy image (white Gaussian noise of standard deviation sigma), P_i the extraction of patch i
(tfvae.restoration.patches) and p a prior over patches, EPLL minimizes

    lambda / 2 ||x - y||^2 - sum_i log p(P_i x)

by splitting: auxiliary patches z_i and a weight beta that grows along a schedule,

    min_{x, z} lambda / 2 ||x - y||^2 + sum_i [beta / 2 ||P_i x - z_i||^2 - log p(z_i)],

alternating two steps for each beta:

  z-step: z_i = argmax_z log p(z) - beta / 2 ||P_i x - z||^2, the MAP of a patch seen through Gaussian noise of
          variance 1 / beta: prior.denoise_patches(P_i x - dc_i, beta^-1/2) + dc_i, the patch mean dc_i kept as is
          (the priors are over DC-removed patches).
  x-step: the quadratic in x is minimal where lambda (x - y) + beta sum_i P_i^T (P_i x - z_i) = 0. Each P_i^T P_i is
          a diagonal 0/1 mask, so sum_i P_i^T P_i = diag(c) with the cover count c = P^T 1, and sum_i P_i^T z_i = c Z
          with Z = P^T z / c the average of the patches. Per pixel:

              x = (lambda y + beta c Z) / (lambda + beta c)

          c = D = p * p away from the borders with stride 1 (the paper's form), fewer patches cover border pixels.

Settings of the paper: lambda = D / sigma^2, beta = (1 / sigma^2) * [1, 4, 8, 16, 32], sigma on the [0, 1] scale.
The default schedule here doubles beta from 1 / sigma^2 to 64 / sigma^2 in seven steps: with the shipped GMM it
measured 0.2 to 0.4 dB above the paper's five steps at sigma 15, 25 and 50 on the first three Set12 images, for 30%
more time (benchmarks/denoise_set12.py compares both on all twelve).
With a patch stride s > 1 the interior cover count drops to D / s^2 on average, so lambda = D / (s^2 sigma^2) keeps
the ratio lambda / (beta c) of the x-step, and with it the balance of data and prior per pixel, as at stride 1 (on a
64x64 cameraman crop with a small GMM, D / sigma^2 at stride 2 lost 2.9 dB at sigma 25; D / (s^2 sigma^2) lost none).

The prior protocol: any object with `denoise_patches(patches [N, D], noise_sigma) -> [N, D]`, the MAP (or an
approximation of it) of DC-removed patches under N(0, noise_sigma^2 I) noise, on the [0, 1] scale of 8-bit images
divided by 255 (tfvae.restoration.gmm.PatchGMM is one). Priors also provide `log_prob(patches) -> [N]`, which the
splitting itself does not call.
"""

import numbers

import tensorflow as tf

from tfvae.progress import require_eager
from tfvae.restoration import patches as patch_ops

PAPER_BETAS = (1.0, 4.0, 8.0, 16.0, 32.0)  # Zoran & Weiss 2011: beta = (1 / sigma^2) * PAPER_BETAS
BETAS = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)  # the default: doubling to 64 (module docstring)


def quadratic_step(noisy, average, count, lam, beta):
    """The x-step: argmin_x lambda / 2 ||x - y||^2 + beta / 2 sum_i ||P_i x - z_i||^2, per pixel.

    noisy y, average Z = P^T z / c and count c = P^T 1, all [H, W]: x = (lambda y + beta c Z) / (lambda + beta c).
    """
    return (lam * noisy + beta * count * average) / (lam + beta * count)


def check_sigma(sigma, largest=float("inf")):
    """Raise ValueError unless sigma is a number in (0, largest]; returns it. A scalar tensor is returned gated on a
    run-time check instead."""
    if tf.is_tensor(sigma):
        if sigma.shape.rank != 0:
            raise ValueError(f"sigma must be a scalar, got shape {sigma.shape}")
        checks = [tf.debugging.assert_positive(sigma, message="sigma must be positive")]
        if largest < float("inf"):
            checks.append(tf.debugging.assert_less_equal(tf.cast(sigma, tf.float32), largest,
                                                         message=f"sigma must be at most {largest:g}"))
        with tf.control_dependencies(checks):
            return tf.identity(sigma)
    if not isinstance(sigma, numbers.Real) or not 0 < sigma < float("inf"):
        raise ValueError(f"sigma must be a positive number, got {sigma!r}")
    if sigma > largest:
        raise ValueError(f"sigma = {sigma} is larger than {largest:g}")
    return sigma


def epll(noisy, sigma, prior, patch_size=8, betas=None, stride=1, value_range=(0.0, 1.0), progress=None):
    """Denoise a grey image [H, W] by EPLL with a patch prior; returns float32 [H, W] clipped to value_range.

    noisy: float [H, W], values in value_range (lo, hi), which is mapped to the prior's [0, 1] scale and back.
    sigma: the noise standard deviation on the scale of value_range (25 / 255 for sigma 25 of 8-bit images in [0, 1]),
        a number or a scalar tensor.
    prior: a patch prior with denoise_patches (the module's protocol) over p * p DC-removed patches.
    betas: the schedule as multiples of 1 / sigma^2 (sigma on the [0, 1] scale); None gives BETAS.
    stride: the patch grid's step; 1 is the paper, larger strides use about s^2 times fewer patches.
    progress: None, or progress(steps done, len(betas)) (tfvae/progress.py), called after each splitting step (call
        epll eagerly then).
    """
    require_eager(progress, "epll")
    noisy = tf.convert_to_tensor(noisy)
    noisy = patch_ops.check_image(noisy, patch_size, stride)
    if noisy.shape.rank != 2:
        raise ValueError(f"epll takes a grey image [H, W], got shape {noisy.shape}; denoise colour channels one by one")
    sigma = check_sigma(sigma)
    sigma = tf.cast(sigma, tf.float32) if tf.is_tensor(sigma) else float(sigma)
    lo, hi = value_range
    if not hi > lo:
        raise ValueError(f"value_range must be (lo, hi) with hi > lo, got {value_range!r}")
    multiples = BETAS if betas is None else tuple(betas)
    if not multiples or min(multiples) <= 0:
        raise ValueError(f"betas must be positive multiples of 1 / sigma^2, got {betas!r}")

    noisy, sigma, count = prepare(noisy, sigma, patch_size, stride, value_range)
    estimate = noisy
    for step, multiple in enumerate(multiples):  # a handful of splitting steps; each is vectorized over all patches
        estimate = splitting_step(noisy, estimate, count, sigma, multiple, prior, patch_size, stride)
        if progress is not None:
            progress(step + 1, len(multiples))
    return finish(estimate, value_range)


def prepare(noisy, sigma, patch_size, stride, value_range):
    """The start of `epll` (its arguments checked): y [H, W] and sigma mapped from value_range to the prior's [0, 1]
    scale, and the cover count c [H, W]."""
    lo, hi = value_range
    noisy = (tf.cast(noisy, tf.float32) - lo) / (hi - lo)  # the prior's [0, 1] scale; float32 from here on
    shape = noisy.shape if noisy.shape.is_fully_defined() else tf.shape(noisy)  # static, or known when run
    return noisy, sigma / (hi - lo), patch_ops.cover_count(shape, patch_size, stride)


def splitting_step(noisy, estimate, count, sigma, multiple, prior, patch_size, stride):
    """One z-step and x-step (module docstring) with beta = multiple / sigma^2, all on the [0, 1] scale: the noisy
    image y, the current estimate x and the cover count c, each [H, W] -> the next estimate [H, W]."""
    lam = patch_size * patch_size / stride ** 2 / sigma ** 2  # the paper's D / sigma^2 at stride 1 (module docstring)
    shape = noisy.shape if noisy.shape.is_fully_defined() else tf.shape(noisy)
    beta = multiple / sigma ** 2
    centered, dc = patch_ops.remove_dc(patch_ops.extract(estimate, patch_size, stride))  # [N, D], [N, 1]
    clean = patch_ops.add_dc(prior.denoise_patches(centered, beta ** -0.5), dc)
    average = patch_ops.adjoint(clean, shape, patch_size, stride) / count  # Z [H, W]
    return quadratic_step(noisy, average, count, lam, beta)


def finish(estimate, value_range):
    """The end of `epll`: an estimate [H, W] on the [0, 1] scale mapped back to value_range and clipped to it."""
    lo, hi = value_range
    return tf.clip_by_value(estimate * (hi - lo) + lo, lo, hi)
