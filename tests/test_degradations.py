"""Degradations and the restoration loop (tfvae/restoration/degradations.py, restore.py): every A against its
adjoint (the dot-product test), every x-step against a dense least-squares solve on a tiny image, the bicubic kernel
against TensorFlow's anti-aliased bicubic resize, the loop with an exact Gaussian denoiser against the closed-form
fixed point and MAP, a delta kernel against denoising, restoration that raises PSNR, and bad input."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from tfvae.restoration import degradations as deg
from tfvae.restoration import restore as restore_lib

RNG = np.random.default_rng(0)


def random_kernel(shape, seed=0):
    k = np.random.default_rng(seed).uniform(size=shape)
    return k / k.sum()


def degradations():
    """(name, degradation, restored image shape [H, W, C]) for the tests."""
    mask = (np.random.default_rng(1).uniform(size=(6, 8)) > 0.4).astype(np.float32)
    return [
        ("noise", deg.Noise(0.1), (6, 8, 2)),
        ("inpaint", deg.Inpaint(mask, 0.0), (6, 8, 2)),
        ("blur", deg.Blur(random_kernel((3, 2)), 0.01), (6, 8, 2)),  # an even side, not symmetric
        ("blur5", deg.Blur(random_kernel((5, 5), 1), 0.01), (7, 9, 1)),
        ("downsample2", deg.Downsample(2, random_kernel((3, 3), 2)), (6, 8, 2)),
        ("downsample3", deg.Downsample(3, random_kernel((4, 5), 3)), (6, 9, 1)),
        ("bicubic2", deg.Downsample(2), (10, 12, 1)),
    ]


def dense(linear, shape):
    """The matrix [out, in] of a linear map of images of `shape`, column j the map of the j-th unit image."""
    size = int(np.prod(shape))
    columns = [np.asarray(linear(tf.constant(np.eye(size, dtype=np.float32)[j].reshape(shape)))).reshape(-1)
               for j in range(size)]
    return np.stack(columns, 1).astype(np.float64)


@pytest.mark.parametrize("name,degradation,shape", degradations(), ids=[d[0] for d in degradations()])
def test_adjoint_passes_the_dot_product_test(name, degradation, shape):
    x = RNG.normal(size=shape).astype(np.float32)
    ax = degradation.forward(tf.constant(x)).numpy()
    y = RNG.normal(size=ax.shape).astype(np.float32)
    aty = degradation.adjoint(tf.constant(y)).numpy()
    assert aty.shape == x.shape
    np.testing.assert_allclose(np.sum(ax * y), np.sum(x * aty), rtol=1e-4)


@pytest.mark.parametrize("name,degradation,shape", degradations(), ids=[d[0] for d in degradations()])
@pytest.mark.parametrize("a", [0.05, 2.0])
def test_x_step_is_the_least_squares_solution(name, degradation, shape, a):
    matrix = dense(degradation.forward, shape)  # A [m, n]
    z = RNG.normal(size=shape).astype(np.float32)
    y = RNG.normal(size=degradation.forward(tf.constant(z)).shape).astype(np.float32)
    # argmin ||A x - y||^2 + a ||x - z||^2 = (A^T A + a I)^-1 (A^T y + a z), solved densely in float64.
    expected = np.linalg.solve(matrix.T @ matrix + a * np.eye(matrix.shape[1]),
                               matrix.T @ y.reshape(-1) + a * z.reshape(-1)).reshape(shape)
    np.testing.assert_allclose(degradation.x_step(tf.constant(y), tf.constant(z), a), expected, atol=2e-5)


def test_blur_is_circular_convolution_with_the_centred_kernel():
    kernel = random_kernel((3, 4))
    x = RNG.normal(size=(5, 7, 1)).astype(np.float32)
    out = deg.Blur(kernel, 0.0).forward(tf.constant(x)).numpy()[..., 0]
    expected = np.zeros((5, 7))
    for i in range(5):
        for j in range(7):  # (k * x)[i, j] = sum_{a, b} k[a, b] x[i - (a - 1), j - (b - 1)], the centre (1, 1)
            expected[i, j] = sum(kernel[a, b] * x[(i - a + 1) % 5, (j - b + 1) % 7, 0]
                                 for a in range(3) for b in range(4))
    np.testing.assert_allclose(out, expected, atol=1e-6)


@pytest.mark.parametrize("factor", [2, 3, 4])
def test_bicubic_kernel_is_antialiased_bicubic_resizing(factor):
    # tf.image.resize with antialias=True is Keys' cubic (a = -0.5) stretched by the factor, as MATLAB's imresize;
    # both pad the borders differently from the circular A, so compare away from them.
    side = 16 * factor
    x = np.random.default_rng(factor).uniform(size=(side, side, 1)).astype(np.float32)
    ours = deg.Downsample(factor).forward(tf.constant(x)).numpy()
    ref = tf.image.resize(x, [side // factor, side // factor], "bicubic", antialias=True).numpy()
    inner = slice(3, side // factor - 3)
    np.testing.assert_allclose(ours[inner, inner], ref[inner, inner], atol=2e-4)


def test_inpainting_start_keeps_observed_pixels_and_fills_the_rest_smoothly():
    x = np.tile(np.linspace(0, 1, 16, dtype=np.float32)[None, :, None], [12, 1, 1])  # a horizontal ramp
    mask = (np.random.default_rng(0).uniform(size=(12, 16)) > 0.7).astype(np.float32)
    degradation = deg.Inpaint(mask)
    start = degradation.initial(degradation.forward(tf.constant(x))).numpy()
    np.testing.assert_array_equal(start[mask > 0], x[mask > 0])
    assert np.abs(start - x)[mask == 0].mean() < 0.08  # the missing pixels near their neighbours' values


def compiled_loop(y, degradation, denoiser, schedule):
    """restore.loop as one graph (a while loop), as tfvae.restore runs it: -> np.ndarray."""
    return tf.function(lambda y: restore_lib.loop(y, degradation, denoiser, schedule))(tf.constant(y)).numpy()


def gaussian_denoiser(mean, variance):
    """The exact MAP (and MMSE) denoiser of the independent prior x ~ N(mean, variance) per pixel at noise s."""
    def denoise(x, s):
        return (x / s ** 2 + mean / variance) / (1 / s ** 2 + 1 / variance)
    return denoise


@pytest.mark.parametrize("make", [lambda: deg.Blur(random_kernel((3, 3)), 0.05),
                                  lambda: deg.Downsample(2, random_kernel((3, 3)), 0.05),
                                  lambda: deg.Inpaint(np.random.default_rng(3).uniform(size=(8, 8)) > 0.5, 0.05)],
                         ids=["blur", "downsample", "inpaint"])
def test_loop_with_a_gaussian_prior_reaches_the_split_fixed_point_and_tends_to_the_map(make):
    degradation = make()
    degradation.margin = 0  # the exact circular problem, no padding
    shape, mean, variance, lam = (8, 8, 1), 0.4, 0.05, 0.5
    x_true = np.random.default_rng(4).normal(mean, variance ** 0.5, size=shape).astype(np.float32)
    y = degradation.forward(tf.constant(x_true)).numpy()
    matrix, n = dense(degradation.forward, shape), int(np.prod(shape))
    sigma = degradation.sigma
    # MAP of 1 / (2 sigma^2) ||A x - y||^2 + lambda ||x - mean||^2 / (2 variance).
    map_ = np.linalg.solve(matrix.T @ matrix / sigma ** 2 + lam / variance * np.eye(n),
                           matrix.T @ y.reshape(-1) / sigma ** 2 + lam * mean / variance)
    denoiser = gaussian_denoiser(mean, variance)
    # Levels held at sigma (top <= sigma): alpha = lambda; the iteration converges to the fixed point of
    # z = S (A^T A + alpha I)^-1 (A^T y + alpha z), S = the denoiser's shrinkage at sigma.
    held = compiled_loop(y, degradation, denoiser, restore_lib.Schedule(200, sigma, lam))
    shrink = variance / (variance + sigma ** 2)
    solve = np.linalg.inv(matrix.T @ matrix + lam * np.eye(n))
    offset = (1 - shrink) * mean
    z_star = np.linalg.solve(np.eye(n) - shrink * lam * solve, shrink * solve @ matrix.T @ y.reshape(-1) + offset)
    np.testing.assert_allclose(held.reshape(-1), np.clip(z_star, 0, 1), atol=1e-4)
    # The split's gap to the MAP shrinks as the penalty mu = lambda / s^2 grows: levels continued from sigma down to
    # s = sigma / 4 (the x-step weight alpha = sigma^2 mu = lambda sigma^2 / s^2 at the last level).
    gaps = []
    for s in (sigma, sigma / 4):
        scaled = degradation.with_values(s)  # the same A, levels from sigma down to s
        out = compiled_loop(y, scaled, denoiser, restore_lib.Schedule(400, sigma, lam * sigma ** 2 / s ** 2))
        gaps.append(np.abs(out.reshape(-1) - np.clip(map_, 0, 1)).max())
    assert gaps[1] < gaps[0] / 5 and gaps[1] < 0.002, gaps  # about 0.01 and 0.001


def test_deblurring_with_a_delta_kernel_is_denoising():
    y = RNG.uniform(size=(9, 11, 1)).astype(np.float32)
    z = RNG.uniform(size=(9, 11, 1)).astype(np.float32)
    delta = np.zeros((3, 3))
    delta[1, 1] = 1
    blur, noise = deg.Blur(delta, 0.1), deg.Noise(0.1)
    np.testing.assert_allclose(blur.x_step(tf.constant(y), tf.constant(z), 0.7),
                               noise.x_step(tf.constant(y), tf.constant(z), 0.7), atol=1e-6)
    denoiser = gaussian_denoiser(0.5, 0.05)
    schedule = restore_lib.Schedule(6, 0.3, 0.5)
    np.testing.assert_allclose(restore_lib.loop(tf.constant(y), blur, denoiser, schedule),
                               restore_lib.loop(tf.constant(y), noise, denoiser, schedule), atol=1e-5)


def test_a_projected_schedule_keeps_a_noise_free_inpaintings_observed_pixels_and_only_then():
    """Schedule(project=True): with sigma = 0 the result is y on the observed pixels exactly and the unprojected
    loop's result on the missing ones; with sigma > 0 it is the unprojected result; a degradation without a
    projection refuses it by name."""
    rng = np.random.default_rng(5)
    y = rng.uniform(size=(9, 10, 1)).astype(np.float32)
    mask = rng.uniform(size=(9, 10)) > 0.4
    denoiser = gaussian_denoiser(0.5, 0.05)  # moves every pixel towards 0.5, the observed ones too
    plain = restore_lib.Schedule(3, 0.3, 0.5, bottom=0.1)  # a bottom level at which the denoiser moves pixels
    projected = dataclasses.replace(plain, project=True)
    for sigma in (0.0, 0.05):
        inpaint = deg.Inpaint(mask, sigma)
        out = restore_lib.loop(tf.constant(y), inpaint, denoiser, projected).numpy()[..., 0]
        ref = restore_lib.loop(tf.constant(y), inpaint, denoiser, plain).numpy()[..., 0]
        assert np.abs(ref[mask] - y[..., 0][mask]).max() > 0.01  # the prior moved the observed pixels
        np.testing.assert_array_equal(out[~mask], ref[~mask])
        np.testing.assert_array_equal(out[mask], y[..., 0][mask] if sigma == 0 else ref[mask])
    with pytest.raises(NotImplementedError, match="Blur has no projection"):
        restore_lib.loop(tf.constant(y), deg.Blur(np.full((3, 3), 1 / 9), 0.0), denoiser, projected)


def test_periodic_steps_turn_the_z_step_through_all_eight_flips_and_rotations_and_back():
    """restore.turned: T^-1 z(T x) for the (k mod 8)-th T, checked with a denoiser that adds a ramp of another slope
    along each axis of its input (so it sees the orientation): the result is x plus the ramp turned back, a distinct
    one per k mod 8; `ensembled` is their mean; an orientation-blind z-step comes back unchanged; the loop with
    periodic=True (and ensemble_last) runs on a non-square image."""
    x = np.random.default_rng(8).uniform(size=(5, 7, 2)).astype(np.float32)

    def ramp(v, s):  # + i + 10 j at row i, column j
        rows, columns = tf.cast(tf.range(tf.shape(v)[0]), tf.float32), tf.cast(tf.range(tf.shape(v)[1]), tf.float32)
        return v + s * (rows[:, None, None] + 10 * columns[None, :, None])

    seen, turns = [], []
    for k in range(16):
        out = restore_lib.turned(ramp, tf.constant(x), tf.constant(1.0), tf.constant(k)).numpy()
        t = k % 8
        v = np.transpose(x, (1, 0, 2)) if t >= 4 else x
        v = v[:, ::-1] if t % 2 else v
        v = v[::-1] if t // 2 % 2 else v
        z = v + np.arange(v.shape[0])[:, None, None] + 10 * np.arange(v.shape[1])[None, :, None]
        z = z[::-1] if t // 2 % 2 else z
        z = z[:, ::-1] if t % 2 else z
        expected = np.transpose(z, (1, 0, 2)) if t >= 4 else z
        np.testing.assert_allclose(out, expected, atol=1e-6)
        seen.append(tuple(np.round(out - x, 4).ravel()))
        turns.append(expected)
    assert len(set(seen)) == 8 and seen[:8] == seen[8:]
    np.testing.assert_allclose(restore_lib.ensembled(ramp, tf.constant(x), tf.constant(1.0)), np.mean(turns[:8], 0),
                               atol=1e-5)
    np.testing.assert_allclose(restore_lib.turned(lambda v, s: v * s, tf.constant(x), 2.0, tf.constant(5)), 2 * x)
    for last in (0, 2):
        schedule = restore_lib.Schedule(3, 0.3, 0.5, periodic=True, ensemble_last=last)
        out = restore_lib.loop(tf.constant(x[..., :1]), deg.Inpaint(x[..., 0] > 0.5, 0.0),
                               gaussian_denoiser(0.5, 0.05), schedule)
        assert out.shape == (5, 7, 1)


@pytest.mark.parametrize("kwargs,match", [
    (dict(kernel=np.ones((3,))), "2-D"), (dict(kernel=np.ones((3, 3))), "sum to 1"),
    (dict(kernel=np.full((2, 2), np.nan)), "non-finite")])
def test_bad_kernels_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        deg.Blur(sigma=0.01, **kwargs)


def test_bad_degradations_are_refused():
    with pytest.raises(ValueError, match="factor"):
        deg.Downsample(1)
    with pytest.raises(ValueError, match="factor"):
        deg.bicubic_kernel(5)
    with pytest.raises(ValueError, match="non-negative"):
        deg.Blur(np.ones((1, 1)), -0.1)
    with pytest.raises(ValueError, match="positive"):
        deg.Noise(0.0)
    with pytest.raises(ValueError, match="mask"):
        deg.Inpaint(np.ones(5))
    with pytest.raises(ValueError, match="the mask is 4x4, the image 5x5"):
        deg.Inpaint(np.ones((4, 4))).check(tf.zeros([5, 5, 1]))
    with pytest.raises(ValueError, match="smaller than the kernel"):
        deg.Blur(np.ones((9, 9)) / 81, 0.01).check(tf.zeros([5, 5, 1]))


# tfvae.restore end to end, on a 64x64 crop of the demo image (Set12's house) with the shipped priors

def demo_crop():
    from tfvae.data import read_image
    from tfvae.restoration.denoise import DEMO_IMAGE
    return read_image(DEMO_IMAGE, channels=1)[80:176, 80:176, 0].astype(np.float32) / 255


def psnr(estimate, clean):
    return 10 * np.log10(1 / np.mean((np.clip(np.asarray(estimate), 0, 1) - clean) ** 2))


@pytest.mark.parametrize("prior_name", ["conv", "gmm"])
@pytest.mark.parametrize("task", ["inpaint", "deblur", "upscale"])
def test_restore_beats_its_start_with_the_shipped_priors(prior_name, task):
    import tfvae
    from tfvae.restoration import denoise as denoise_lib
    clean = demo_crop()
    degradation = {"inpaint": deg.Inpaint(np.random.default_rng(0).uniform(size=clean.shape) > 0.5),
                   "deblur": deg.Blur(deg.gaussian_kernel(9, 1.6), 2 / 255),
                   "upscale": deg.Downsample(2)}[task]
    y = degradation.degrade(clean[..., None], 0).numpy()[..., 0]
    start = np.clip(degradation.initial(tf.constant(y[..., None])).numpy()[..., 0], 0, 1)
    prior = denoise_lib.load_prior(prior_name)
    restored = tfvae.restore(y, degradation, prior, restore_lib.Schedule(4)).numpy()  # short: a test
    assert restored.shape == clean.shape and restored.dtype == np.float32
    assert psnr(restored, clean) > psnr(start, clean) + 0.5, (psnr(restored, clean), psnr(start, clean))


def test_restore_takes_the_learned_patch_prior_too():
    import tfvae
    from tfvae.restoration import denoise as denoise_lib
    clean = demo_crop()[:48, :48]
    degradation = deg.Blur(deg.gaussian_kernel(9, 1.6), 2 / 255)
    y = degradation.degrade(clean[..., None], 0).numpy()[..., 0]
    restored = tfvae.restore(y, degradation, denoise_lib.load_prior("learned"), restore_lib.Schedule(4)).numpy()
    assert psnr(restored, clean) > psnr(y, clean) + 0.5, (psnr(restored, clean), psnr(y, clean))


def test_restore_takes_8bit_and_colour_and_runs_inside_tf_data():
    import tfvae
    from tfvae.restoration import conv_prior
    model = conv_prior.ConvDenoiser(1, widths=(4, 8), blocks=1)
    model.build()
    degradation = deg.Downsample(2)
    schedule = restore_lib.Schedule(2)
    colour = np.random.default_rng(0).uniform(size=(12, 10, 3)).astype(np.float32)
    out = tfvae.restore(np.round(colour * 255).astype(np.uint8), degradation, model, schedule)
    assert out.dtype == tf.uint8 and out.shape == (24, 20, 3)
    eager = [tfvae.restore(colour[:h, :w], degradation, model, schedule).numpy() for h, w in ((12, 10), (8, 12))]
    data = tf.data.Dataset.from_generator(lambda: (colour[:h, :w] for h, w in ((12, 10), (8, 12))),
                                          output_signature=tf.TensorSpec([None, None, 3], tf.float32))
    mapped = list(data.map(lambda y: tfvae.restore(y, degradation, model, schedule)).as_numpy_iterator())
    for a, b in zip(eager, mapped):
        np.testing.assert_allclose(a, b, atol=1e-5)
    with pytest.raises(ValueError, match="degradations object"):
        tfvae.restore(colour, "blur", model)
