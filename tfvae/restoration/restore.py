"""Restoring images degraded by any linear A with the library's priors: `tfvae.restore(image, degradation)`.

The observation is y = A x + n, n ~ N(0, sigma^2 I) (tfvae/restoration/degradations.py: noise, a pixel mask, a known
blur, downsampling). With a prior p(x) ~ exp(-R(x)), the restoration is the MAP of the tempered posterior

    min_x  1 / (2 sigma^2) ||A x - y||^2 + lambda R(x),

solved by half-quadratic splitting with an auxiliary z and a penalty mu_k that grows along a schedule (plug-and-play,
Zhang et al.'s IRCNN 2017 and DPIR 2021; EPLL's splitting, Zoran & Weiss 2011, with the patch prior in the z-step):

    x-step:  x = argmin_x ||A x - y||^2 + alpha_k ||x - z||^2,   alpha_k = sigma^2 mu_k = lambda sigma^2 / sigma_k^2
             (the degradation's closed form, `x_step`);
    z-step:  z = argmin_z mu_k / 2 ||z - x||^2 + lambda R(z): the MAP denoiser at noise level sigma_k = sqrt(lambda /
             mu_k), the convolutional prior's D(x, sigma_k), or the patch prior's MAP of every patch averaged back
             (tfvae/restoration/epll.py: patch_average) for the GMM, the learned and the flow patch priors.

The levels sigma_k are log-spaced from `top` down to sigma~ = max(sigma, SIGMA_FLOOR) in `steps` steps (DPIR; the floor
keeps alpha > 0 and the last z-step active when the observation is noise-free, as DPIR's 0.255 / 255). The loop starts
from x_0 = degradation.initial(y) and runs, for k = 1..K, x = x_step(y, x, alpha_k) then x = z_step(x, sigma_k): it
ends with the prior, as DPIR's. Denoising (A = I) is tfvae.denoise itself (tfvae/restoration/denoise.py: EPLL or the
one pass of the convolutional prior), whose schedules were chosen on its own.

Borders: `Blur` and `Downsample` are circular, so y is padded by reflection by degradation.margin observation pixels
before the loop and the margin is cropped from the result (degradations.py).

Colour ([H, W, 3]): the degradation acts on every channel; in each z-step a colour image prior takes RGB as it is, a
grey prior denoises the opponent channels (denoise.py) at their own noise levels.

The schedules (steps, top, lambda) of each kind of degradation and prior, DEFAULT_SCHEDULES, are chosen on the
validation split of train400 (benchmarks/restore_validation.py), never on test images.

Measured (README: Set12): both priors beat the Wiener filter by about 4 dB at deblurring and bicubic interpolation by
1.1 to 2.2 dB at super-resolution. At inpainting the convolutional prior, with the periodic self-ensemble
(Schedule.periodic), beats biharmonic interpolation by 1.0 to 1.6 dB and the GMM loses to it by about 1 dB. The
convolutional prior is not the identity at low noise levels, hence the bottom level of its schedules.
"""

import dataclasses
import math

import numpy as np
import tensorflow as tf

from tfvae.restoration import degradations as deg_lib
from tfvae.restoration import denoise as denoise_lib
from tfvae.restoration import epll as epll_lib

SIGMA_FLOOR = 0.255 / 255  # sigma~ = max(sigma, SIGMA_FLOOR): DPIR's noise level for a noise-free observation


@dataclasses.dataclass(frozen=True)
class Schedule:
    """The loop's levels: `steps` noise levels sigma_k log-spaced from `top` down to max(sigma, bottom) ([0, 1]
    scale), and the prior's weight lambda (module docstring). alpha_k = lambda sigma~^2 / sigma_k^2 with
    sigma~ = max(sigma, SIGMA_FLOOR) whatever the bottom: a bottom above the noise level stops the levels early (a
    denoiser that is not the identity at tiny noise levels drifts when applied there many times) without changing
    the weighing of data and prior.

    project: end with the observation's constraint A x = y where the observation is noise-free (sigma = 0): the
    alpha -> 0 limit of one more x-step (Degradation.project; an Inpaint keeps its observed pixels exactly and
    takes the prior's estimate only where pixels are missing). The splitting itself ends with the prior, whose last
    z-step also moves the observed pixels by about the denoiser's error at the bottom level.

    periodic: DPIR's periodic geometric self-ensemble: step k's z-step denoises T_k x and turns the result back,
    z = T_k^-1 D(T_k x, sigma_k), with T_k the (k mod 8)-th of the 8 flips and rotations of the square (`turned`).
    The denoiser's orientation-dependent errors then differ from step to step instead of adding up, at no extra
    cost (the self-ensemble of tfvae/restoration/pnp.py averages all 8 in every step at 8 times the cost).
    ensemble_last: the last `ensemble_last` z-steps take the mean over all 8 turns (`ensembled`) instead, at 8 times
    their cost."""

    steps: int = 8
    top: float = 49 / 255
    lam: float = 0.23
    bottom: float = SIGMA_FLOOR
    project: bool = False
    periodic: bool = False
    ensemble_last: int = 0

    def __post_init__(self):
        if not isinstance(self.steps, int) or self.steps < 1:
            raise ValueError(f"steps must be a positive integer, got {self.steps!r}")
        if not self.top > 0 or not self.lam > 0 or not self.bottom > 0:
            raise ValueError(f"top, lam and bottom must be positive, got {self.top!r}, {self.lam!r}, {self.bottom!r}")

    def levels(self, sigma):
        """(sigma_k [steps], alpha_k [steps]) float32 for the noise level sigma (a number or a scalar tensor)."""
        noise = tf.maximum(tf.cast(sigma, tf.float32), SIGMA_FLOOR)
        low = tf.maximum(noise, self.bottom)
        high = tf.maximum(tf.constant(self.top, tf.float32), low)
        fraction = tf.linspace(0.0, 1.0, self.steps) if self.steps > 1 else tf.ones([1])
        sigmas = tf.exp(tf.math.log(high) + fraction * (tf.math.log(low) - tf.math.log(high)))
        return sigmas, self.lam * tf.square(noise) / tf.square(sigmas)


# Chosen on the validation split (benchmarks/restore_validation.py: 10 train400 images; results in
# benchmarks/results/restore_validation.json), keyed by (degradation class name, prior kind). For the shipped
# convolutional prior a bottom of 3 / 255 won everywhere: it is not the identity at tiny noise levels (applied to a
# clean image at sigma 0 it changes it by about 1.8 / 255 RMS), and many steps there drift. 8 steps won for blur and
# downsampling, and 16 for inpainting, where 32 drifted. For the GMM the longer of the two schedules tried won.
# lambda = 0.23 (DPIR's) won against 1 everywhere. Ending a noise-free inpainting on its observed pixels (project)
# gained 0.06 to 0.2 dB with the conv prior and tied with the GMM (best by 0.01 dB or less). DPIR's periodic
# self-ensemble (Schedule.periodic) then won for the conv prior at every task: +0.64 / +0.47 dB at inpainting (with
# 32 steps, which no longer drift; 16 with it: +0.57 / +0.14), +0.20 at deblurring (+0.22 from a top of 25 / 255
# rather than 49; lambda 0.1 lost), +0.33 / +0.11 at x2 / x4 (with 16 steps; 8 with it: +0.19 / +0.07). 48 steps
# lost to 32 at inpainting (64, twice 32's time, would take over 10 s on a 512x512 image); the full 8-fold ensemble
# in the last 4 of the 32 steps (ensemble_last) gained 0.03 / 0.02 dB more there, at 1.5 times the time (1 step:
# 0.02 / 0.01); with it a top level of 25 / 255 or 100 / 255 lost to 49 / 255 (means 28.35 and 28.32 against 28.36).
# The grid's inpainting rows were measured again with the shipped network's third schedule, under a time budget
# (the 10 s per image on 2 cores: at most 28 network passes per image, restore_validation.PASS_BUDGET): the
# final ensemble's 28 extra passes took a 512x512 image from 8.1 to 15.0 s, and 32 periodic steps took 8.4 to 10.1 s
# on Set12 on the slowest machine of these sessions. Within it 28 periodic steps won (mean 28.413 dB; 24 steps
# 28.385), 0.002 dB under 32 steps and 0.025 under 32 with the final ensemble, both over the budget.
DEFAULT_SCHEDULES = {
    ("Inpaint", "image"): Schedule(steps=28, top=49 / 255, lam=0.23, bottom=3 / 255, project=True, periodic=True),
    ("Inpaint", "patch"): Schedule(steps=8, top=49 / 255, lam=0.23, project=True),
    ("Blur", "image"): Schedule(steps=8, top=25 / 255, lam=0.23, bottom=3 / 255, periodic=True),
    ("Blur", "patch"): Schedule(steps=8, top=49 / 255, lam=0.23),
    ("Downsample", "image"): Schedule(steps=16, top=49 / 255, lam=0.23, bottom=3 / 255, periodic=True),
    ("Downsample", "patch"): Schedule(steps=8, top=49 / 255, lam=0.23),
}


# A patch prior's patch grid step in the z-steps. Stride 2 has a quarter of stride 1's patches: on the validation
# split it cost the GMM 0.03 / 0.00 dB at inpainting, 0.04 at deblurring and 0.17 / 0.01 at x2 / x4, and on Set12
# it brought a 512x512 image from 26 to 32 s to at most 9.3 s (README).
PATCH_STRIDE = 2


def prior_kind(prior):
    return "image" if denoise_lib.is_image_prior(prior) else "patch"


def default_schedule(degradation, prior):
    return DEFAULT_SCHEDULES[(type(degradation).__name__, prior_kind(prior))]


def restore(image, degradation, prior=None, schedule=None, colour=None, stride=None):
    """Restores an image observed through `degradation`; returns the estimate of x with the input's dtype.

    image: the observation y, [h, w] or [h, w, C] with C = 1 or 3; uint8 (0..255), or float on [0, 1].
    degradation: a tfvae.restoration.degradations object (Noise, Inpaint, Blur, Downsample); its sigma is on the
        [0, 1] scale whatever the image's dtype. The result is [factor h, factor w(, C)] (the image's size but for
        Downsample).
    prior: an image prior (a ConvDenoiser) or a patch prior (the GMM, ...), e.g. denoise.load_prior(name); None: the
        one tfvae.denoise uses (denoise.default_prior).
    schedule: a Schedule; None: DEFAULT_SCHEDULES for the degradation's kind and the prior's.
    colour: how a grey prior works on [H, W, 3] ("opponent", the default, or "per_channel").
    stride: a patch prior's patch grid step; None: PATCH_STRIDE (tfvae.denoise's own for Noise).
    Everything is TensorFlow ops: it runs eagerly, in tf.data and in a SavedModel (one graph per setting for every
    image size).
    """
    image, channels = denoise_lib.check_image(image)
    if not isinstance(degradation, deg_lib.Degradation):
        raise ValueError(f"degradation must be a tfvae.restoration.degradations object, got {degradation!r}")
    scale = 255.0 if image.dtype == tf.uint8 else 1.0
    if isinstance(degradation, deg_lib.Noise):
        sigma = degradation.sigma * scale
        return denoise_lib.denoise(image, sigma, prior=prior, colour=colour, stride=stride or 1)
    if colour is not None and colour not in denoise_lib.COLOUR_MODES:
        raise ValueError(f"colour must be one of {denoise_lib.COLOUR_MODES} or None, got {colour!r}")
    prior = prior or denoise_lib.default_prior(channels)
    schedule = schedule or default_schedule(degradation, prior)
    stride = stride or PATCH_STRIDE
    y = tf.cast(image, tf.float32) / scale
    y = y[..., None] if image.shape.rank == 2 else y
    y = degradation.check(y)
    side = denoise_lib.MIN_SIDE if denoise_lib.is_image_prior(prior) else denoise_lib.patch_size(prior)
    if y.shape[0] is not None and y.shape[1] is not None and min(y.shape[:2]) * degradation.factor < side:
        raise ValueError(f"the restored image would be smaller than {side}x{side}")
    if tf.executing_eagerly():  # one compiled graph per setting; inside a graph (tf.data, a SavedModel) inlined
        mask = getattr(degradation, "mask", tf.zeros([0, 0, 1]))
        run = _restorer(prior, channels, colour or "opponent", stride, schedule, degradation)
        restored = run(y, tf.cast(mask, tf.float32), tf.cast(degradation.sigma, tf.float32))
    else:
        restored = loop(y, degradation, _z_step(prior, channels, colour or "opponent", stride), schedule)
    restored = restored[..., 0] if image.shape.rank == 2 else restored
    if image.dtype == tf.uint8:
        return tf.cast(tf.round(restored * 255), tf.uint8)
    return tf.cast(restored, image.dtype)


_RESTORERS = {}  # compiled restorations by setting (`_restorer`)


def _restorer(prior, channels, colour, stride, schedule, degradation):
    """A tf.function (y [h, w, channels] on [0, 1], mask, sigma) -> x [H, W, channels] for degradations like this
    one (the same kind, kernel and factor: Degradation.static), compiled once per setting for every image size."""
    key = (id(prior), channels, colour, stride, schedule, degradation.static())
    if key not in _RESTORERS:
        z_step = _z_step(prior, channels, colour, stride)

        def run(y, mask, sigma):
            inpaint = isinstance(degradation, deg_lib.Inpaint)
            return loop(y, degradation.with_values(sigma, mask if inpaint else None), z_step, schedule)

        spec = [tf.TensorSpec([None, None, channels]), tf.TensorSpec([None, None, None]), tf.TensorSpec([])]
        _RESTORERS[key] = (prior, tf.function(run, input_signature=spec, autograph=False))  # prior kept: id stays
    return _RESTORERS[key][1]


def loop(y, degradation, z_step, schedule):
    """The splitting (module docstring): y [h, w, C] -> x [H, W, C] clipped to [0, 1], with z_step(x, sigma_k) the
    prior's denoiser. The margin padding and cropping happen here."""
    margin, factor = degradation.margin, degradation.factor
    padded = tf.is_tensor(margin) or margin > 0
    if padded:
        shape = tf.shape(y)
        pad = [tf.minimum(margin, shape[0]), tf.minimum(margin, shape[1])]  # SYMMETRIC takes at most the size
        y = tf.pad(y, [[pad[0], pad[0]], [pad[1], pad[1]], [0, 0]], mode="SYMMETRIC")
    sigmas, alphas = schedule.levels(degradation.sigma)

    def z(k, x):
        return turned(z_step, x, sigmas[k], k) if schedule.periodic else z_step(x, sigmas[k])

    def step(k, x):
        x = degradation.x_step(y, x, alphas[k])
        if not schedule.ensemble_last:
            return k + 1, z(k, x)
        z_k = tf.cond(k >= schedule.steps - schedule.ensemble_last, lambda: ensembled(z_step, x, sigmas[k]),
                      lambda: z(k, x))
        return k + 1, tf.ensure_shape(z_k, [None, None, y.shape[-1]])

    # A graph loop, not an unrolled one: one copy of the prior's network in the graph however many steps.
    x = degradation.initial(y)
    _, x = tf.while_loop(lambda k, _: k < schedule.steps, step, [tf.constant(0), x],
                         shape_invariants=[tf.TensorShape([]), tf.TensorShape([None, None, y.shape[-1]])])
    if schedule.project:  # noise-free: y's values are exact (Schedule)
        x = tf.where(tf.cast(degradation.sigma, tf.float32) > 0, x, degradation.project(y, x))
    if padded:
        size = tf.shape(x)
        x = x[factor * pad[0]:size[0] - factor * pad[0], factor * pad[1]:size[1] - factor * pad[1]]
    return tf.clip_by_value(x, 0.0, 1.0)


def turned(z_step, x, s, k):
    """T^-1 z_step(T x, s) for x [H, W, C] and T the (k mod 8)-th element of the dihedral group of the square
    (Schedule.periodic): bit 0 of k mod 8 flips left-right, bit 1 up-down, bit 2 transposes first. k: an int32
    scalar tensor (the loop's step)."""
    t = k % 8
    swap, left_right, up_down = t >= 4, tf.equal(t % 2, 1), tf.equal(t // 2 % 2, 1)

    def when(flag, f, v):
        return tf.cond(flag, lambda: f(v), lambda: v)

    def transpose(v):
        return tf.transpose(v, [1, 0, 2])

    v = when(swap, transpose, x)
    v = when(left_right, lambda u: u[:, ::-1], v)
    v = when(up_down, lambda u: u[::-1], v)
    z = z_step(v, s)
    z = when(up_down, lambda u: u[::-1], z)
    z = when(left_right, lambda u: u[:, ::-1], z)
    return when(swap, transpose, z)


def ensembled(z_step, x, s):
    """The mean of `turned` over the 8 flips and rotations (pnp.py's self-ensemble), in a graph loop: one copy of the
    network in the graph."""
    _, total = tf.while_loop(lambda t, _: t < 8, lambda t, total: (t + 1, total + turned(z_step, x, s, t)),
                             [tf.constant(0), tf.zeros_like(x)],
                             shape_invariants=[tf.TensorShape([]), tf.TensorShape([None, None, None])])
    return total / 8.0


def _z_step(prior, channels, colour, stride):
    """z_step(x [H, W, channels], s) -> the prior's denoising of x at noise level s (module docstring: colour)."""
    if denoise_lib.is_image_prior(prior):
        def grey(u, s):  # one channel [H, W] on its [0, 1]-wide range
            return prior((u[None, :, :, None], tf.reshape(s, [1])))[0, :, :, 0]

        if prior.channels == 3:
            if channels != 3:
                raise ValueError("a colour image prior takes [H, W, 3] images; use a grey prior for grey images")
            return lambda x, s: prior((x[None], tf.reshape(s, [1])))[0]
    else:
        size = denoise_lib.patch_size(prior)

        def grey(u, s):
            return epll_lib.patch_average(u, s, prior, size, stride)

    def step(x, s):
        if channels == 1:
            return grey(x[..., 0], s)[..., None]
        if colour == "per_channel":
            return tf.stack([grey(x[..., c], s) for c in range(3)], -1)
        opponent = tf.einsum("hwc,dc->hwd", x, denoise_lib.OPPONENT)
        norms = np.linalg.norm(denoise_lib.OPPONENT, axis=1)
        low = denoise_lib.OPPONENT_LOW
        out = [grey(opponent[..., c] - low[c], s * float(norms[c])) + low[c] for c in range(3)]
        return tf.einsum("hwd,cd->hwc", tf.stack(out, -1), np.linalg.inv(denoise_lib.OPPONENT))

    return step


def psnr_ssim(image, reference):
    """(PSNR in dB, SSIM) of uint8 images [H, W, C] on the 0-255 scale (the apps' report)."""
    a, b = tf.cast(image, tf.float32), tf.cast(reference, tf.float32)
    mse = float(tf.reduce_mean(tf.square(a - b)))
    return 10 * math.log10(255.0 ** 2 / mse) if mse > 0 else float("inf"), float(tf.image.ssim(a, b, max_val=255.0))
