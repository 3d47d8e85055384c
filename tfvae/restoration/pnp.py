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

Self-ensemble (Timofte et al. 2016, "Seven ways to improve example-based single image super resolution"; used by
DnCNN's successors): D is not exactly equivariant to flips and rotations, so averaging its estimates over the 8
elements T of the dihedral group of the square,

    D8(x, s) = 1/8 sum_T T^-1 D(T x, s),

cancels part of its error at 8 times the cost. On the validation split it adds 0.23 / 0.17 / 0.13 dB at sigma 15 /
25 / 50 to the shipped network's one pass (benchmarks/denoise_validation.py), so ENSEMBLE = 8 is what
tfvae.denoise does with an image prior; ensemble=1 is the one pass.
"""

import tensorflow as tf

BETAS = (1.0,)  # the schedule's multiples m: one pass (chosen on the validation split: module docstring)
ENSEMBLES = (1, 8)  # one pass, or the mean over the 8 flips and rotations (module docstring)
ENSEMBLE = 8  # chosen on the validation split (module docstring)
# The 4 transforms that keep an image's shape: identity, left-right flip, 180-degree rotation, up-down flip; each is
# its own inverse. With the transpose before them they make the other 4 of the dihedral group.
FLIPS = (lambda v: v, lambda v: v[:, ::-1], lambda v: v[::-1, ::-1], lambda v: v[::-1])


def self_ensemble(batch_denoiser):
    """D8 (module docstring) of batch_denoiser(images [4, H, W, C], s scalar) -> [4, H, W, C]: a denoiser(x [H, W, C],
    s) -> [H, W, C] that runs the network on two batches of 4 (the transforms that keep H x W, and those that give
    W x H)."""
    def ensembled(x, s):
        t = tf.transpose(x, [1, 0, 2])
        same = batch_denoiser(tf.stack([f(x) for f in FLIPS]), s)
        swapped = batch_denoiser(tf.stack([f(t) for f in FLIPS]), s)
        back = [f(same[i]) for i, f in enumerate(FLIPS)]  # T^-1 = T for the flips
        back += [tf.transpose(f(swapped[i]), [1, 0, 2]) for i, f in enumerate(FLIPS)]  # (F transpose)^-1
        return tf.add_n(back) / 8.0
    return ensembled


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
