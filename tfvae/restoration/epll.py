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
  x-step: the quadratic in x. Each P_i^T P_i is a diagonal 0/1 mask, so sum_i P_i^T P_i = diag(c) with the cover
          count c = P^T 1, and sum_i P_i^T z_i = c Z with Z = P^T z / c the average of the patches. The exact
          minimizer, x = (lambda y + beta c Z) / (lambda + beta c) per pixel, weighs the prior by the cover count:
          c = D = p * p away from the borders at stride 1, but fewer patches cover a pixel near the border (one at a
          corner), so there the noisy image keeps more weight and the result stays noisy (issue 16: on a flat image
          5x the interior's residual noise in the outer 4 pixels; 0.4 to 0.9 dB lost on the validation split, below).
          The x-step used instead gives every pixel the prior weight of an interior one, the constant w = D / s^2
          (s the stride) in place of c:

              x = (lambda y + beta w Z) / (lambda + beta w) = (y + m Z) / (1 + m)

          with beta = m / sigma^2 and lambda = w / sigma^2 (below). It is the x-step of Zoran & Weiss's published
          code, and the exact minimizer of the split objective with each pixel's patch terms divided by its cover
          count, beta / 2 sum_i sum_{j in patch i} (w / c_j) (x_j - z_ij)^2 (each pixel's terms then weigh w in all,
          wherever it is); the z-step keeps its isotropic form, exact for the patches away from the borders.

Border treatments measured on the validation split (benchmarks/epll_validation.py: 20 train400 images, none of Set12,
sigma 15, 25, 50, the paper's schedule, stride 1; results in benchmarks/results/epll_validation.json): the cover count
30.50, 27.70, 24.22 dB; the constant weight 30.87, 28.28, 25.09 dB; reflection padding by p - 1 pixels, which covers
every pixel by D patches (the image padded once, or the estimate padded before every z-step), 30.86, 28.25 to 28.26,
25.05 to 25.07 dB, at 17% more patches for 180x180 images. At stride 3 (10 of the images) all three fixes are within
0.03 dB. Reflection also counts each border pixel's noise twice in the patches across the border, so on a flat
image the outer 4 pixels keep 1.4 to 1.7x the interior's noise, against 1.2x with the constant weight. Measured only
(nothing is chosen on it): Set12 at sigma 25, the paper's schedule at stride 1, 29.66 dB (29.24 with the cover count;
EPLL's published row 29.69, Zhang et al. 2017).

Settings of the paper: lambda = D / sigma^2, beta = (1 / sigma^2) * [1, 4, 8, 16, 32], sigma on the [0, 1] scale.
The default schedule BETAS is the paper's, chosen on the validation split with the constant weight: doubling beta
from 1 / sigma^2 to 64 / sigma^2 in seven steps measured 32.47, 29.98, 27.00 dB against the paper's 32.47, 30.01,
27.01 (the first 4 images, stride 1; the costliest case) for 40% more time, and 31.22, 28.61, 25.48 against 31.22,
28.67, 25.52 at stride 3 (10 images). (The seven steps were the default before issue 16, chosen on Set12 images
under the cover-count weighting, whose border loss they partly made up for.) After the fix stride 1 beats the fast
stride 3 (31.34, 28.83, 25.72 against 31.22, 28.67, 25.52 dB on the same 10 images); with the cover count it lost.
With a patch stride s > 1 the interior cover count drops to D / s^2 on average, so lambda = D / (s^2 sigma^2) and
w = D / s^2 keep lambda / (beta w) = 1 / m, the balance of data and prior per pixel, as at stride 1 (on a 64x64
cameraman crop with a small GMM, lambda = D / sigma^2 at stride 2 lost 2.9 dB at sigma 25; D / (s^2 sigma^2) lost
none). The strided grid's rows start at 0, s, 2s, ... and at H - p (tfvae/restoration/patches.py), so c varies
around D / s^2 in the interior too; the x-step's weight w does not.

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
BETAS = PAPER_BETAS  # the default, chosen on the validation split (module docstring)


def quadratic_step(noisy, average, weight, lam, beta):
    """The x-step per pixel: x = (lambda y + beta w Z) / (lambda + beta w), noisy y and average Z = P^T z / c [H, W].

    weight w: [H, W] or a number. The cover count w = c = P^T 1 gives the exact minimizer
    argmin_x lambda / 2 ||x - y||^2 + beta / 2 sum_i ||P_i x - z_i||^2; `epll` uses the constant w = D / s^2 (module
    docstring).
    """
    return (lam * noisy + beta * weight * average) / (lam + beta * weight)


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
    image y, the current estimate x and the cover count c, each [H, W] -> the next estimate [H, W]. c averages the
    patches; the x-step weighs them by the constant w = D / s^2."""
    weight = patch_size * patch_size / stride ** 2  # w = D / s^2: an interior pixel's cover count (module docstring)
    lam = weight / sigma ** 2  # the paper's D / sigma^2 at stride 1
    shape = noisy.shape if noisy.shape.is_fully_defined() else tf.shape(noisy)
    beta = multiple / sigma ** 2
    average = patch_average(estimate, beta ** -0.5, prior, patch_size, stride, count, shape)  # Z [H, W]
    return quadratic_step(noisy, average, weight, lam, beta)


def patch_average(estimate, noise_sigma, prior, patch_size, stride, count=None, shape=None):
    """The z-step with the patches averaged back: Z = P^T z / c [H, W], z_i the prior's MAP of patch i of the
    estimate [H, W] seen through noise of standard deviation noise_sigma (its DC kept). count: the cover count c
    [H, W] and shape: the image's shape, where the caller has them."""
    shape = shape if shape is not None else (estimate.shape if estimate.shape.is_fully_defined()
                                             else tf.shape(estimate))
    count = count if count is not None else patch_ops.cover_count(shape, patch_size, stride)
    centered, dc = patch_ops.remove_dc(patch_ops.extract(estimate, patch_size, stride))  # [N, D], [N, 1]
    clean = patch_ops.add_dc(prior.denoise_patches(centered, noise_sigma), dc)
    return patch_ops.adjoint(clean, shape, patch_size, stride) / count


def finish(estimate, value_range):
    """The end of `epll`: an estimate [H, W] on the [0, 1] scale mapped back to value_range and clipped to it."""
    lo, hi = value_range
    return tf.clip_by_value(estimate * (hi - lo) + lo, lo, hi)
