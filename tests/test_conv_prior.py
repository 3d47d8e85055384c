"""The convolutional denoiser (tfvae/restoration/conv_prior.py) and plug-and-play splitting (tfvae/restoration/pnp.py):
the loop against the closed-form MAP of a Gaussian image model, the network on any size grey or colour, a training
step that moves every weight, resuming and the training app, and the shipped network on a held-out crop."""

import os

import numpy as np
import pytest
import tensorflow as tf
from absl.testing import flagsaver

import tfvae
from apps import train_denoiser as train_app
from tfvae import training
from tfvae.data import read_image, write_image
from tfvae.restoration import conv_prior, pnp
from tfvae.restoration import denoise as denoise_lib

TINY = dict(widths=(4, 8), blocks=1)


def gaussian_model(side, seed=0):
    """A Gaussian image model x ~ N(0, C) on side x side images, C smooth and full rank, and its exact MMSE
    denoiser D(x, s) = C (C + s^2 I)^-1 x (also the MAP of x given x + N(0, s^2 I))."""
    grid = np.stack(np.meshgrid(np.arange(side), np.arange(side)), -1).reshape(-1, 2).astype(np.float64)
    distance = np.sum((grid[:, None] - grid[None]) ** 2, -1)
    cov = 0.05 * np.exp(-distance / 6.0) + 1e-3 * np.eye(side * side)

    def denoiser(x, s):
        shrink = tf.constant(cov, tf.float32) @ tf.linalg.inv(tf.constant(cov, tf.float32)
                                                              + tf.square(s) * tf.eye(side * side))
        return tf.reshape(shrink @ tf.reshape(x, [-1, 1]), tf.shape(x))

    return cov, denoiser


def test_pnp_with_an_exact_mmse_denoiser_reaches_the_closed_form_map():
    side, sigma = 6, 0.2
    cov, denoiser = gaussian_model(side)
    y = np.random.default_rng(0).normal(size=(side, side, 1)).astype(np.float32) * 0.3
    # The MAP of lambda / 2 ||x - y||^2 + x^T C^-1 x / 2, lambda = 1 / sigma^2: C (C + sigma^2 I)^-1 y.
    expected = (cov @ np.linalg.solve(cov + sigma ** 2 * np.eye(side * side), y.reshape(-1))).reshape(y.shape)
    np.testing.assert_allclose(pnp.pnp(tf.constant(y), sigma, denoiser, (1.0,)), expected, atol=1e-4)  # one pass
    # With beta = m / sigma^2 held, the steps converge to the joint minimizer of the split objective: x* solves
    # ((1 + m) I - m S) x = y with S = C (C + sigma^2 / m I)^-1, and the loop returns z* = S x*, which tends to the
    # MAP as m grows.
    for m in (3.0, 30.0):
        shrink = cov @ np.linalg.inv(cov + sigma ** 2 / m * np.eye(side * side))
        x_star = np.linalg.solve((1 + m) * np.eye(side * side) - m * shrink, y.reshape(-1))
        z_star = (shrink @ x_star).reshape(y.shape)
        np.testing.assert_allclose(pnp.pnp(tf.constant(y), sigma, denoiser, (m,) * 300), z_star, atol=1e-5)
        error = np.abs(z_star - expected).max()
        assert error < (0.02 if m == 3 else 0.002), (m, error)  # O(1 / m)


def test_self_ensemble_is_the_mean_over_the_eight_flips_and_rotations():
    """D8(x) = 1/8 sum_T T^-1 D(T x): against numpy's rotations and flips, with a denoiser that is not equivariant
    (it weighs each pixel by its position); an equivariant one (pointwise) is its own ensemble."""
    def positional(batch, s):  # [B, H, W, C] -> the same, depending on where a pixel is
        h, w = tf.shape(batch)[1], tf.shape(batch)[2]
        ramp = tf.cast(tf.range(h)[:, None] * 3 + tf.range(w)[None, :] * 7 % 5, tf.float32)[None, :, :, None]
        return batch * ramp + s * batch ** 2

    x = np.random.default_rng(0).uniform(size=(5, 7, 2)).astype(np.float32)
    one = lambda v: positional(tf.constant(np.ascontiguousarray(v))[None], 0.5)[0].numpy()  # noqa: E731
    expected = np.mean([np.rot90(one(np.rot90(x[:, ::-1] if flip else x, k)), -k)[:, ::-1] if flip else
                        np.rot90(one(np.rot90(x, k)), -k) for k in range(4) for flip in (False, True)], 0)
    got = pnp.self_ensemble(positional)(tf.constant(x), 0.5).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    assert not np.allclose(got, one(x))
    pointwise = lambda batch, s: tf.sqrt(batch) + s  # noqa: E731
    np.testing.assert_allclose(pnp.self_ensemble(pointwise)(tf.constant(x), 0.5).numpy(), np.sqrt(x) + 0.5,
                               rtol=1e-6)


def test_denoise_takes_one_pass_or_the_ensemble_of_an_image_prior_only():
    prior = conv_prior.ConvDenoiser(channels=1, **TINY)
    prior.build()
    image = np.random.default_rng(1).uniform(size=(12, 10)).astype(np.float32)
    one, eight = (denoise_lib.denoise(image, 0.1, prior, ensemble=e).numpy() for e in (1, 8))
    net = prior((tf.constant(image)[None, ..., None], tf.constant([0.1])))[0, ..., 0]
    np.testing.assert_allclose(one, np.clip(net, 0, 1), atol=1e-5)
    np.testing.assert_allclose(denoise_lib.denoise(image, 0.1, prior).numpy(), eight)  # the default
    assert not np.allclose(one, eight)
    with pytest.raises(ValueError, match=r"ensemble must be one of \(1, 8\)"):
        denoise_lib.denoise(image, 0.1, prior, ensemble=4)
    with pytest.raises(ValueError, match="with a patch prior"):
        denoise_lib.denoise(image, 0.1, denoise_lib.load_prior("gmm"), ensemble=8)


@pytest.mark.parametrize("shape", [(13, 17, 1), (9, 31, 3), (40, 24, 1)])
def test_the_network_is_fully_convolutional(shape):
    model = conv_prior.ConvDenoiser(shape[-1], **TINY)
    model.build()
    y = tf.random.uniform([2, *shape])
    out = model((y, tf.constant([0.1, 0.2])))
    assert out.shape == (2, *shape) and out.dtype == tf.float32
    # Each image of a batch is denoised alone, whatever the others, and sigma is an input that matters.
    np.testing.assert_allclose(out[1], model((y[1:], tf.constant([0.2])))[0], atol=1e-5)
    assert not np.allclose(out[1], model((y[1:], tf.constant([0.05])))[0], atol=1e-4)


def test_a_colour_network_lifted_from_a_grey_one_denoises_equal_channels_as_the_grey_one():
    grey = conv_prior.ConvDenoiser(1, **TINY, seed=3)
    grey.build()
    for v in grey.weights:  # non-zero biases too, so every weight's place is checked
        v.assign(tf.random.stateless_normal(v.shape, [v.shape.rank, int(np.prod(v.shape))], stddev=0.1))
    colour = conv_prior.colour_from_grey(grey)
    assert colour.channels == 3 and colour.widths == grey.widths
    y = tf.random.uniform([2, 20, 12, 1], seed=1)
    sigma = tf.constant([0.1, 0.25])
    expected = grey((y, sigma))
    out = colour((tf.tile(y, [1, 1, 1, 3]), sigma))
    for c in range(3):
        np.testing.assert_allclose(out[..., c], expected[..., 0], atol=1e-5)
    # Each channel's noise estimate sees all three: changing G changes what is taken off R.
    changed = tf.concat([y, y * 0.5, y], -1)
    assert not np.allclose((changed - colour((changed, sigma)))[..., 0], (y - expected)[..., 0], atol=1e-4)


def test_one_training_step_changes_every_weight():
    images = np.random.default_rng(0).uniform(size=(4, 24, 24, 1)).astype(np.float32)
    model, _ = training.compiled(lambda: conv_prior.ConvDenoiser(1, **TINY), 0, tf.distribute.get_strategy(), 1,
                                 learning_rate=1e-2, jit_compile="off", per_execution=1)
    before = [v.numpy().copy() for v in model.trainable_variables]
    model.fit(conv_prior.crops(images, 16, 4, seed=0), steps_per_epoch=1, epochs=1, verbose=0)
    assert len(before) == len(model.trainable_variables) > 0
    for v, old in zip(model.trainable_variables, before):
        assert not np.array_equal(v.numpy(), old), f"{v.path} did not change after a step"


def test_crops_are_a_function_of_seed_and_step():
    images = np.random.default_rng(0).uniform(size=(3, 20, 30, 1)).astype(np.float32)
    first = list(conv_prior.crops(images, 8, 5, seed=1).take(3))
    resumed = list(conv_prior.crops(images, 8, 5, seed=1, start_step=2).take(1))
    np.testing.assert_array_equal(first[2], resumed[0])
    assert first[0].shape == (5, 8, 8, 1) and not np.array_equal(first[0], first[1])
    # Every crop is a flip/rotation of a window of one of the images.
    windows = np.lib.stride_tricks.sliding_window_view(images[..., 0], (8, 8), axis=(1, 2)).reshape(-1, 8, 8)
    turns = [np.rot90(w, k) for w in windows for k in range(4)]
    turns += [t[:, ::-1] for t in turns]
    for crop in first[0].numpy()[..., 0]:
        assert min(np.abs(crop - t).max() for t in turns) == 0


def test_training_app_resumes_validates_and_writes_the_best_model(tmp_path, capsys):
    folder = tmp_path / "images"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        write_image(str(folder / f"{i}.png"), rng.integers(0, 255, (24, 28, 1)).astype(np.uint8))
    output, run_dir = str(tmp_path / "best.keras"), str(tmp_path / "run")
    common = dict(data=f"folder:{folder}", output=output, run_dir=run_dir, crop=16, batch_size=2, widths=["4", "8"],
                  blocks=1, lr_warmup_steps=1, steps_per_epoch=2, precision="float32", jit_compile="off")
    with flagsaver.flagsaver(train_steps=2, **common):
        train_app.main(["train_denoiser"])
    with flagsaver.flagsaver(train_steps=4, **common):
        train_app.main(["train_denoiser"])
    out = capsys.readouterr().out
    assert "5 training and 1 validation images" in out and "Resuming from" in out
    history = tfvae.runs.read_json(os.path.join(run_dir, "validation.json"))
    assert [h["step"] for h in history] == [2, 4]
    model = denoise_lib.load_prior(output)
    assert isinstance(model, conv_prior.ConvDenoiser) and model.widths == (4, 8)
    # A new run can start from the written model (how a later session continues from the shipped weights).
    again = str(tmp_path / "again.keras")
    with flagsaver.flagsaver(train_steps=2, init_from=output, learning_rate=1e-12,
                             **{**common, "run_dir": str(tmp_path / "again"), "output": again}):
        train_app.main(["train_denoiser"])
    for new, old in zip(denoise_lib.load_prior(again).get_weights(), model.get_weights()):
        np.testing.assert_allclose(new, old, atol=1e-6)
    # A colour run can start from the grey model (conv_prior.colour_from_grey), as the shipped colour network did.
    colour_folder = tmp_path / "colour"
    colour_folder.mkdir()
    for i in range(3):
        write_image(str(colour_folder / f"{i}.png"), rng.integers(0, 255, (24, 28, 3)).astype(np.uint8))
    lifted = str(tmp_path / "colour.keras")
    with flagsaver.flagsaver(train_steps=2, init_from=output, learning_rate=1e-12, channels=3,
                             **{**common, "data": f"folder:{colour_folder}", "run_dir": str(tmp_path / "colour_run"),
                                "output": lifted}):
        train_app.main(["train_denoiser"])
    expected = conv_prior.colour_from_grey(model).get_weights()
    for new, old in zip(denoise_lib.load_prior(lifted).get_weights(), expected):
        np.testing.assert_allclose(new, old, atol=1e-6)


@pytest.mark.parametrize("flag_values,message", [
    (dict(output="x.npz"), "a .keras file"),
    (dict(crop=0), "--crop: must be positive"),
    (dict(widths=["4", "a"]), "--widths: positive integers"),
    (dict(lr_warmup_steps=10, train_steps=5), "fewer than --train_steps"),
    (dict(data="folder:/no/such/folder"), "no such folder"),
])
def test_training_app_answers_bad_flags_with_one_line(tmp_path, capsys, flag_values, message):
    values = {"output": str(tmp_path / "m.keras"), **flag_values}
    with flagsaver.flagsaver(**values), pytest.raises(SystemExit) as exit_info:
        train_app.main(["train_denoiser"])
    assert exit_info.value.code != 0 and message in str(exit_info.value.code)
    assert not os.path.exists(tmp_path / "m.keras")


@pytest.mark.skipif(not os.path.isfile(denoise_lib.CONV_PRIOR_FILE), reason="the shipped conv prior is not built yet")
def test_the_shipped_network_denoises_a_held_out_crop_at_every_sigma():
    clean = read_image(os.path.join(os.path.dirname(denoise_lib.__file__), "demo.png"), channels=1)[64:128, 64:128, 0]
    clean = clean.astype(np.float32) / 255
    prior = denoise_lib.load_prior("conv")
    assert isinstance(prior, conv_prior.ConvDenoiser)
    for sigma in (15, 25, 50):
        noisy = clean + sigma / 255 * np.random.default_rng(sigma).normal(size=clean.shape).astype(np.float32)
        mse = np.mean((tfvae.denoise(noisy, sigma / 255, prior=prior) - clean) ** 2)
        gain = 10 * np.log10(np.mean((noisy - clean) ** 2) / mse)
        assert gain > 6, (sigma, gain)  # dB over the noisy input
    rgb = np.stack([clean, clean[::-1], clean.T], -1)  # a grey prior takes colour through the opponent channels
    noisy = rgb + 25 / 255 * np.random.default_rng(0).normal(size=rgb.shape).astype(np.float32)
    assert np.mean((tfvae.denoise(noisy, 25 / 255, prior=prior) - rgb) ** 2) < 0.25 * np.mean((noisy - rgb) ** 2)


def test_the_shipped_colour_network_is_the_default_for_rgb_and_denoises_a_held_out_crop():
    """conv_colour_prior.keras (trained on cbsd432): what tfvae.denoise uses for [H, W, 3] without extra arguments;
    on a 64x64 crop of a held-out colour image (the colorizer's demo bird, from ../shared/data/color) it gains over
    the noisy input at several sigma (how it compares with the grey network is benchmarks/' business)."""
    prior = denoise_lib.default_prior(3)
    assert isinstance(prior, conv_prior.ConvDenoiser) and prior.channels == 3
    assert denoise_lib.prior_file(None) != denoise_lib.CONV_COLOUR_PRIOR_FILE  # grey images keep the grey network
    clean = read_image(os.path.join(os.path.dirname(tfvae.__file__), "colorization", "demo", "bird.png"),
                       channels=3)
    clean = clean[100:164, 100:164].astype(np.float32) / 255
    for sigma in (15, 25, 50):
        noisy = clean + sigma / 255 * np.random.default_rng(sigma).normal(size=clean.shape).astype(np.float32)
        mse = np.mean((tfvae.denoise(noisy, sigma / 255) - clean) ** 2)
        assert 10 * np.log10(np.mean((noisy - clean) ** 2) / mse) > 6, sigma  # dB over the noisy input
