"""Denoising with an image denoiser D(x, s) as the prior: one pass, or plug-and-play half-quadratic splitting.

One pass: x = D(y, sigma), the network's MMSE estimate at the measured noise level.

Plug-and-play HQS (Zhang et al., IRCNN 2017 and DPIR 2021) is EPLL's splitting (tfvae/restoration/epll.py) with
the whole image as one "patch" and the learned denoiser as the z-step. For

    min_x  lambda / 2 ||x - y||^2 - log p(x),   lambda = 1 / sigma^2,

split with z and a weight beta = m / sigma^2 that grows along a schedule of multiples m_1 < m_2 < ...:

  z-step: z = D(x, beta^-1/2) = D(x, sigma / sqrt(m)), the denoiser at the noise level the penalty implies;
  x-step: x = argmin lambda / 2 ||x - y||^2 + beta / 2 ||x - z||^2 = (y + m z) / (1 + m), per pixel.

Starting from x = y, each multiple takes a z-step and all but the last an x-step; the result is the last z (as
DPIR's loop ends with its denoiser), so the one-step schedule (1,) is the one pass. BETAS holds the schedule measured on the validation split (benchmarks/denoise_set12.py).
Everything is TensorFlow ops: it runs eagerly, in tf.data and in a SavedModel, for image sizes known only then.
"""

import tensorflow as tf

BETAS = (1.0,)  # the schedule's multiples m: one pass (chosen on the validation split: module docstring)


def pnp(noisy, sigma, denoiser, betas=BETAS, progress=None):
    """noisy [H, W, C], sigma a scalar (both on [0, 1]) -> the plug-and-play HQS estimate [H, W, C] (module
    docstring): a z-step per multiple in betas, x-steps between them; progress(steps done, len(betas)) after each
    z-step, or None."""
    if not betas or min(betas) <= 0:
        raise ValueError(f"betas must be positive multiples of 1 / sigma^2, got {betas!r}")
    x = noisy
    for k, m in enumerate(float(m) for m in betas):
        z = denoiser(x, sigma / m ** 0.5)
        if k + 1 < len(betas):
            x = (noisy + m * z) / (1.0 + m)
        if progress is not None:
            progress(k + 1, len(betas))
    return z
