"""Colorization: the colour space, the model's bound and its structure (no path around z), the metrics, training and
the apps end to end, tfvae.colorize inside tf.data, the SavedModel without tfvae, and answers to bad input."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
from absl.testing import flagsaver

import tfvae
from app_runs import blobs  # the pictures of the colorizer's training folder too
from apps import colorize as colorize_app
from tfvae import families
from tfvae.families import colorize as colorize_family
from tfvae.colorization import colour, inference, metrics
from tfvae.colorization import data as colour_data
from tfvae.families import make_config
from tfvae.data import DataError, read_image, write_image
from tfvae.models.colorizer import Colorizer, cell_means, gumbel_softmax, paint, pooled_chroma, upsample

tfd = tfp.distributions
K = 5
APP_RUNS = ("colorize",)  # the trained colorizer (tests/app_runs.py), started with the session (tests/conftest.py)


def tiny_model(seed=0):
    config = make_config(model="colorize", input_shape=(16, 16, 3), hidden_units=(8, 12), num_segments=K, seed=seed)
    tf.keras.utils.set_random_seed(seed)
    model = Colorizer(config)
    model.build()
    return model


# --- colour space ---------------------------------------------------------------------------------------------------

def test_rgb_lab_round_trip_is_within_one_level_for_every_8bit_colour_sampled():
    rng = np.random.default_rng(0)
    rgb = np.concatenate([rng.integers(0, 256, (50000, 3)), [[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 0, 255]],
                          np.repeat(np.arange(256)[:, None], 3, 1)]).astype(np.uint8)
    x = colour.to_float_rgb(rgb)
    lab = colour.rgb_to_lab(x)
    assert np.abs(colour.lab_to_rgb(lab).numpy() - x.numpy()).max() < 1 / 255
    np.testing.assert_allclose(lab.numpy()[-256:, 1:], 0, atol=1e-3)  # greys have no chroma
    # a reference value (sRGB red, D65): L 53.24, a 80.09, b 67.20
    np.testing.assert_allclose(lab.numpy()[50002], [53.24, 80.09, 67.20], atol=0.02)


# --- the model ------------------------------------------------------------------------------------------------------

def test_rate_is_the_closed_form_categorical_kl_of_the_cells():
    """KL per cell of the cell-mean logits (8 x 8 cells; the last column of a 20-pixel side holds 4), summed over
    the cells and divided by the pixels."""
    model = tiny_model()
    image = tf.constant(blobs((16, 20), 1)[None], tf.float32) / 255
    lightness, ab = model.lab(image)
    p_full, _ = model.scene_outputs(lightness)
    q_full = model.posterior_logits(lightness, ab, p_full).numpy()[0]
    p_full = p_full.numpy()[0]
    total = 0.0
    for top in (0, 8):
        for left in (0, 8, 16):
            q = q_full[top: top + 8, left: left + 8].mean((0, 1))
            p = p_full[top: top + 8, left: left + 8].mean((0, 1))
            log_q, log_p = q - np.log(np.exp(q).sum()), p - np.log(np.exp(p).sum())
            total += np.sum(np.exp(log_q) * (log_q - log_p))
    np.testing.assert_allclose(model.terms(image)["rate"].numpy(), [total / (16 * 20)], rtol=1e-4)


def test_cell_means_and_the_guided_upsampling_on_small_cases():
    x = tf.reshape(tf.range(2 * 5 * 7, dtype=tf.float32), [1, 5, 7, 2])
    means = cell_means(x, 4).numpy()[0]  # cells of 4 x 4, the last row and column partial
    np.testing.assert_allclose(means[1, 1], x.numpy()[0, 4:, 4:].mean((0, 1)))
    np.testing.assert_allclose(means[0, 0], x.numpy()[0, :4, :4].mean((0, 1)))
    cells = tf.one_hot([[[0, 1], [2, 3]]], 4)  # [1, 2, 2, 4]
    flat = tf.fill([1, 8, 8, 1], 50.0)
    w = upsample(cells, flat, 4, 10.0).numpy()[0]
    np.testing.assert_allclose(w.sum(-1), 1, rtol=1e-6)
    np.testing.assert_allclose(w[:2, :2], np.broadcast_to(np.eye(4)[0], (2, 2, 4)), atol=1e-6)  # before the centres
    # on a flat image the guide is silent: pixel (2, 3) lies 1/8 and 3/8 of the way to the next centres (1.5 -> 5.5)
    np.testing.assert_allclose(w[2, 3], [7 / 8 * 5 / 8, 7 / 8 * 3 / 8, 1 / 8 * 5 / 8, 1 / 8 * 3 / 8], rtol=1e-5)
    np.testing.assert_allclose(upsample(cells, flat, 4, 0.0).numpy()[0], w, atol=1e-6)
    edge = tf.concat([tf.fill([1, 8, 4, 1], 20.0), tf.fill([1, 8, 4, 1], 80.0)], 2)  # an edge between the cells
    w = upsample(cells, edge, 4, 10.0).numpy()[0]
    assert w[0, 3, 0] > 0.999 and w[0, 4, 1] > 0.999  # each side keeps the label of its own cells


def test_two_regions_of_two_colours_are_recovered_exactly_given_the_right_segmentation():
    """An image of two flat regions (a square aligned to the 8-pixel cells inside a frame), colours A and B; a
    model whose P(z|x) is the true segmentation and whose label-k hypotheses are colour k: colorize, the samples
    and the segment map give back the image and its regions (to the 8-bit rounding of Lab), edges included. The
    guide is what makes the edges exact: bilinear upsampling mixes the colours across them."""
    inside = np.zeros((32, 32), bool)
    inside[8:24, 8:24] = True
    colours = np.array([[40, 120, 200], [230, 160, 40]], np.uint8)  # blue frame, orange square
    image = colours[inside.astype(int)]
    ab = colour.rgb_to_lab(colour.to_float_rgb(colours)).numpy()[:, 1:]

    def scene_outputs(lightness):
        logits = 20.0 * tf.one_hot(inside.astype(np.int32), K)[None]
        hypotheses = np.zeros((1, 32, 32, K, 2), np.float32)
        hypotheses[..., 0, :], hypotheses[..., 1, :] = ab[0], ab[1]
        return logits, tf.constant(hypotheses)

    model = tiny_model()
    model.scene_outputs = scene_outputs
    assert model.config.guide_scale == 5.0  # the default; the two regions' L differ by 21
    assert np.abs(inference.colorize(image, model).numpy().astype(int) - image).max() <= 1
    drawn, labels = inference.sample_colorings(image, 2, 0, model)
    assert np.abs(drawn.numpy().astype(int) - image).max() <= 1
    np.testing.assert_array_equal(labels.numpy(), np.broadcast_to(inside, (2, 32, 32)))
    np.testing.assert_array_equal(inference.segment(image, model), inside)
    model.config.guide_scale = 0.0
    assert np.abs(inference.colorize(image, model).numpy().astype(int) - image).max() > 50


def test_gumbel_softmax_samples_the_relaxed_categorical():
    logits = tf.constant([1.0, -0.5, 0.3, 0.0, 2.0])
    u = tf.random.stateless_uniform([40000, 5], seed=[1, 2])
    ours = gumbel_softmax(logits, 0.7, u).numpy()
    theirs = tfd.RelaxedOneHotCategorical(0.7, logits=logits).sample(40000, seed=3).numpy()
    np.testing.assert_allclose(ours.mean(0), theirs.mean(0), atol=0.01)
    hard = tf.one_hot(tf.argmax(gumbel_softmax(logits, 1.0, u), -1), 5).numpy()  # Gumbel-max: exact draws
    np.testing.assert_allclose(hard.mean(0), tf.nn.softmax(logits).numpy(), atol=0.01)


def test_colour_reaches_a_pixel_only_through_its_segment():
    """Changing z changes the output; with z fixed, x changes only the segment chromas: the output stays constant
    on every segment (zero gradient of the difference of two pixels whose cells share one label) and, with one
    segment, is the same at every pixel. z: 2 x 2 cells of 8 pixels, label 0 on the left, 1 on the right."""
    model = tiny_model()
    x = tf.Variable(tf.constant(blobs((16, 16), 2)[None], tf.float32) / 255)
    z = tf.one_hot([[[0, 1], [0, 1]]], K)

    def output(z):
        lightness = colour.lightness(x)
        _, hypotheses = model.scene_outputs(lightness)
        weights = model.pixel_weights(z, lightness)
        return paint(weights, pooled_chroma(weights, hypotheses))  # ab [1, H, W, 2]

    with tf.GradientTape() as tape:
        ab = output(z)  # columns 0-3 lie before the left cells' centres, 12-15 after the right ones'
        same_segment = tf.reduce_sum(ab[0, 0, 0] - ab[0, 15, 3]) + tf.reduce_sum(ab[0, 3, 12] - ab[0, 12, 15])
    np.testing.assert_allclose(tape.gradient(same_segment, x).numpy(), 0, atol=1e-6)
    with tf.GradientTape() as tape:
        across = tf.reduce_sum(output(z)[0, 0, 0] - output(z)[0, 0, 15])
    assert np.abs(tape.gradient(across, x).numpy()).max() > 1e-4  # x does reach the segment chromas
    np.testing.assert_allclose(ab.numpy()[0, :, :4], np.broadcast_to(ab.numpy()[0, :1, :1], (16, 4, 2)), atol=1e-4)
    one_segment = output(tf.one_hot(np.zeros((1, 2, 2), np.int32), K)).numpy()
    np.testing.assert_allclose(one_segment, np.broadcast_to(one_segment[:, :1, :1], one_segment.shape), atol=1e-4)
    assert np.abs(output(z).numpy() - one_segment).max() > 1e-3  # changing z changes the output


def test_shuffled_segmentation_costs_likelihood_only_through_the_layout():
    model = tiny_model()
    image = tf.constant(blobs((16, 16), 3)[None], tf.float32) / 255
    kept, shuffled = model.shuffle_costs(image, seed=4)
    assert np.isfinite(kept.numpy()).all() and np.isfinite(shuffled.numpy()).all()
    assert abs((kept - shuffled).numpy()[0]) > 1e-3  # the layout matters (untrained: either way)
    scene = model.scene_outputs

    def constant_hypotheses(lightness):  # every pixel proposes the same chroma per segment
        logits, hypotheses = scene(lightness)
        return logits, tf.broadcast_to(hypotheses[:, :1, :1], tf.shape(hypotheses))

    model.scene_outputs = constant_hypotheses  # and one true colour: then the layout cannot matter
    kept, shuffled = model.shuffle_costs(tf.constant(np.full((1, 16, 16, 3), [0.2, 0.5, 0.4], np.float32)), seed=4)
    np.testing.assert_allclose(kept.numpy(), shuffled.numpy(), rtol=1e-5)


# --- metrics --------------------------------------------------------------------------------------------------------

def test_auc_and_rebalancing_on_small_cases():
    errors = np.array([0.0, 10.0, 200.0])
    assert metrics.auc(errors) == pytest.approx((10 * (1 / 3) + 141 * (2 / 3)) / 151)
    ab = np.array([[0, 0], [1, 1], [1, 0], [50, -40]], np.float64)  # three pixels in one bin, one in another
    weights = metrics.rebalancing_weights(ab)
    np.testing.assert_allclose(weights, np.array([1 / 3, 1 / 3, 1 / 3, 1]) / 0.5)
    assert metrics.auc(np.array([0, 0, 0, 200.0]), weights) == pytest.approx(0.5)


def test_colourfulness_boundaries_and_perplexity():
    assert metrics.colourfulness(np.full((4, 4, 3), 120, np.uint8)) == 0
    assert metrics.colourfulness(np.array([[[255, 0, 0]]], np.uint8)) == pytest.approx(0.3 * np.hypot(255, 127.5))
    labels = np.zeros((6, 6), int)
    labels[:, 3:] = 1
    ab = np.zeros((6, 6, 2))
    ab[:, 3:, 0] = 60.0  # a chroma edge between columns 2 and 3
    # central differences mark columns 2 and 3 as chroma edges; the segment boundary is column 2 (differs rightwards)
    assert metrics.boundary_recall(labels, ab, tolerance=0) == 0.5
    assert metrics.boundary_recall(labels, ab, tolerance=1) == 1.0
    assert metrics.boundary_recall(np.zeros((6, 6), int), ab) == 0.0
    assert metrics.boundary_density(labels) == pytest.approx(6 / 36)
    assert metrics.usage_perplexity(np.arange(12) % 4, 4) == pytest.approx(4)
    assert metrics.explained_chroma(labels, ab) == pytest.approx(1.0)  # each segment is one colour
    assert metrics.explained_chroma(np.zeros((6, 6), int), ab) == pytest.approx(0.0)
    striped = np.tile(np.arange(6) % 2, (6, 1))  # columns 0,2,4 (chroma 0,0,60) and 1,3,5 (0,60,60) per row:
    assert metrics.explained_chroma(striped, ab) == pytest.approx(1 - 4800 / 5400)  # within 2 x 2400, total 5400
    ab[:, 5, 0] = 90.0  # one column more saturated: a third label for it explains its part of the variance
    labels[:, 5] = 2
    total = np.sum((ab[..., 0] - ab[..., 0].mean()) ** 2)
    assert metrics.explained_chroma(labels, ab) == pytest.approx(1.0) and total > 0


# --- data, training and export ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def colour_folder(app_runs):
    """Ten pictures blobs((20 + i, 24), i), i = 0..9, in subfolders a/ (0..4) and b/ (5..9)."""
    return app_runs.folder


@pytest.fixture(scope="module")
def run(app_runs):
    """apps.train --model=colorize on colour_folder (16x16 crops, U-Net (8, 12), K segments, batch 8, 1 epoch), then
    apps.evaluate and python -m export, all through python -m (tests/app_runs.py; tests/test_cli.py checks them)."""
    run = app_runs.get("colorize")["colorize"]
    assert run.results["train"].status == 0, str(run.results["train"])
    return run


@pytest.fixture(scope="module")
def trained(run):
    return run.model_dir


def test_folder_split_and_crops_are_a_function_of_seed_and_step(colour_folder):
    data = colour_data.load(f"folder:{colour_folder}", 16)
    assert len(data.x_train) == 9 and [os.path.basename(f) for f in data.test_files] == ["9.png"]
    a = next(iter(colour_data.train_dataset(data, 4, seed=1, start_step=3))).numpy()
    b = list(colour_data.train_dataset(data, 4, seed=1).take(4).as_numpy_iterator())[3]
    np.testing.assert_array_equal(a, b)
    assert a.shape == (4, 16, 16, 3)


def test_crops_of_an_image_as_small_as_the_crop_are_the_image_or_its_mirror(tmp_path):
    """A side of exactly `crop` leaves no room to zoom out or move: every crop is the image, flipped or not, pixel for
    pixel (crop_and_resize at scale 1 samples the pixels themselves); larger images give crops of one image."""
    rng = np.random.default_rng(0)
    for i in range(10):
        write_image(str(tmp_path / f"{i}.png"), rng.integers(0, 256, (16, 16, 3)).astype(np.uint8))
    data = colour_data.load(f"folder:{tmp_path}", 16)
    assert not data.x_val  # fewer than 20 training images: no validation images
    flips = set()
    for crop in next(iter(colour_data.train_dataset(data, 9, seed=2))).numpy():
        pixels = np.round(crop * 255).astype(np.uint8)
        matches = [k for k, x in enumerate(data.x_train) if (pixels == x).all() or (pixels == x[:, ::-1]).all()]
        assert len(matches) == 1
        flips.add(bool((pixels == data.x_train[matches[0]][:, ::-1]).all()))
    assert flips == {False, True}


def test_folders_are_split_each_and_every_20th_training_image_is_for_validation_and_grey_ones_left_out(tmp_path):
    for folder, count in (("a", 30), ("b", 14)):
        os.makedirs(tmp_path / folder)
        for i in range(count):
            write_image(str(tmp_path / folder / f"{i:02d}.png"), np.full((16, 16, 3), [i, 100, 200], np.uint8))
    write_image(str(tmp_path / "b" / "zz.png"), np.full((16, 16, 3), 90, np.uint8))  # grey: left out
    data = colour_data.load(f"folder:{tmp_path / 'a'},{tmp_path / 'b'}", 16)
    names = lambda files: [os.path.relpath(f, tmp_path) for f in files]  # noqa: E731
    assert names(data.test_files) == ["a/09.png", "a/19.png", "a/29.png", "b/09.png"]
    assert names(data.val_files) == ["a/21.png", "b/13.png"]  # training images 19 and 39 of the 27 + 13
    assert len(data.x_train) == 38 and data.name == "a+b" and not any("zz" in f for f in data.train_files)
    with pytest.raises(DataError, match="no such directory: .*missing"):
        colour_data.load(f"folder:{tmp_path / 'a'},{tmp_path / 'missing'}", 16)


def test_train_app_writes_pictures_checkpoint_and_export(trained):
    assert os.path.exists(os.path.join(trained, "colorizations.png"))
    model = families.restore(trained)
    assert model.config.model == "colorize" and model.config.input_shape == (16, 16, 3)
    (export,) = os.listdir(os.path.join(trained, "export"))
    assert int(export) == 9  # 9 images x 8 crops / batch 8


def test_colorize_takes_uint8_float_grey_rgb_and_batches_of_any_size_and_runs_in_tf_data():
    model = tiny_model()
    grey = blobs((19, 23), 5)[..., :1]
    out8 = inference.colorize(grey, model)
    assert out8.dtype == tf.uint8 and out8.shape == (19, 23, 3)
    out2 = inference.colorize(grey[..., 0], model)
    np.testing.assert_array_equal(out8, out2)
    float_out = inference.colorize(grey.astype(np.float32) / 255, model)
    assert float_out.dtype == tf.float32 and np.abs(float_out.numpy() * 255 - out8.numpy()).max() <= 1
    rgb = np.repeat(grey, 3, -1)
    np.testing.assert_array_equal(inference.colorize(rgb[None], model)[0], out8)  # colour input: its L is used
    ds = tf.data.Dataset.from_tensors(grey).map(lambda x: inference.colorize(x, model))
    np.testing.assert_array_equal(next(iter(ds)), out8)
    drawn, labels = inference.sample_colorings(grey, 3, 7, model)
    again, _ = inference.sample_colorings(grey, 3, 7, model)
    assert drawn.shape == (3, 19, 23, 3) and labels.shape == (3, 19, 23)
    np.testing.assert_array_equal(drawn, again)
    for bad, message in ((np.zeros((19, 23, 4), np.uint8), "1 (grey) or 3 (RGB) channels"),
                         (np.zeros((7, 23), np.uint8), "at least 8 pixels"), (np.zeros((19,), np.uint8), "[H, W]"),
                         (np.zeros((19, 23), np.int32), "uint8 (0..255) or float")):
        with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
            inference.colorize(bad, model)


def test_export_runs_without_tfvae_and_equals_the_model(run, reload):
    """The export `python -m export` wrote of the trained run, reloaded in a fresh process (tests/conftest.py)."""
    assert run.results["export"].status == 0, str(run.results["export"])
    model = families.restore(run.model_dir)
    metadata = json.load(open(os.path.join(run.export_dir, "assets.extra", "tfvae_metadata.json")))
    assert metadata["model_type"] == "colorize" and metadata["signatures"][0] == "colorize"
    inputs = {"grey": blobs((21, 18), 6)[..., :1], "rgb": blobs((17, 25), 7)}
    inputs.update(batch=inputs["rgb"][None], grey_float=inputs["grey"].astype(np.float32) / 255, count=np.int32(2),
                  seed=np.int64(5), four_channels=np.zeros((19, 23, 4), np.uint8), small=np.zeros((7, 30), np.uint8),
                  five_axes=np.zeros((2, 2, 19, 23, 1), np.uint8))
    samples = ("sample_colorings", {"image": "grey", "count": "count", "seed": "seed"})
    (result,) = reload([{
        "export_dir": run.export_dir, "inputs": inputs,
        "calls": {"colorize": ("colorize", {"image": "grey"}), "batch": ("serving_default", {"image": "batch"}),
                  "float": ("colorize_float", {"image": "grey_float"}), "segments": ("segment", {"image": "grey"}),
                  "samples": samples, "samples_again": samples},
        "bad_calls": {name: ("colorize", {"image": name}) for name in ("four_channels", "small", "five_axes")}}])
    out = result["outputs"]
    np.testing.assert_array_equal(out["colorize.image"], inference.colorize(inputs["grey"], model))
    np.testing.assert_array_equal(out["batch.image"], inference.colorize(inputs["rgb"][None], model))
    np.testing.assert_allclose(out["float.image"], inference.colorize(inputs["grey"].astype(np.float32) / 255, model),
                               atol=1e-5)
    np.testing.assert_array_equal(out["segments.segments"], inference.segment(inputs["grey"], model))
    np.testing.assert_array_equal(out["samples.images"], out["samples_again.images"])
    np.testing.assert_array_equal(out["samples.images"], inference.sample_colorings(inputs["grey"], 2, 5, model)[0])
    for name, expected in (("four_channels", "1 (grey) or 3 (RGB) channels"), ("small", "at least 8 pixels"),
                           ("five_axes", "[B, H, W, C]")):
        assert expected in result["errors"][name], (expected, result["errors"][name][:300])


# --- the colorize app ---------------------------------------------------------------------------------------------------

def test_colorize_app_writes_colour_segmentation_and_samples(trained, tmp_path, capsys):
    source = str(tmp_path / "in.png")
    write_image(source, blobs((30, 26), 8))
    output = str(tmp_path / "out.png")
    with flagsaver.flagsaver(input=source, output=output, segmentation_output=str(tmp_path / "seg.png"), samples=2,
                             colorizer=trained):
        colorize_app.main(["colorize"])
    assert "Colourized" in capsys.readouterr().out
    model = colorize_family.FAMILY.load(trained)
    np.testing.assert_array_equal(read_image(output), inference.colorize(read_image(source, channels=None), model))
    for name in ("seg.png", "out_1.png", "out_2.png"):
        assert read_image(str(tmp_path / name)).shape == (30, 26, 3)


def test_colorize_app_demo_with_the_shipped_model(tmp_path, capsys):
    with flagsaver.flagsaver(output=str(tmp_path / "demo.png")):
        colorize_app.main(["colorize"])
    out = capsys.readouterr().out
    assert out.count("PSNR") == 3
    assert read_image(str(tmp_path / "demo.png")).shape == (3 * 256, 4 * 256, 3)
    inference.load_colorizer.cache_clear()  # first use inside a tf.data graph: the model still loads eagerly
    grey = tf.data.Dataset.from_tensors(np.full((40, 33), 90, np.uint8)).map(tfvae.colorize)
    assert next(iter(grey)).shape == (40, 33, 3)


@pytest.mark.parametrize("setup,flag_values,message", [
    (None, dict(input="{tmp}/missing.png"), "missing.png: no such file"),
    ("text", dict(input="{tmp}/bad.png"), "is not a readable image"),
    ("small", dict(input="{tmp}/small.png"), "at least 8 pixels"),
    ("deep", dict(input="{tmp}/deep.png"), "only 8-bit images are supported"),
    ("grey", dict(input="{tmp}/grey.png", samples=-1), "--samples=-1"),
    ("grey", dict(input="{tmp}/grey.png", output="{tmp}/nowhere/out.png"), "does not exist"),
    ("grey", dict(input="{tmp}/grey.png", segmentation_output="{tmp}/seg.txt"), "unknown image extension"),
    ("grey", dict(input="{tmp}/grey.png", colorizer="{tmp}/none"), "no colorizer at"),
])
def test_colorize_app_answers_bad_input_with_one_line(trained, tmp_path, setup, flag_values, message):
    from PIL import Image  # pylint: disable=g-import-not-at-top

    if setup == "text":
        (tmp_path / "bad.png").write_text("not an image")
    elif setup == "small":
        write_image(str(tmp_path / "small.png"), np.zeros((6, 30), np.uint8))
    elif setup == "deep":
        Image.fromarray(np.zeros((20, 20), np.uint16)).save(tmp_path / "deep.png")
    elif setup == "grey":
        write_image(str(tmp_path / "grey.png"), blobs((20, 20), 9)[..., 0])
    flag_values = {k: v.format(tmp=tmp_path) if isinstance(v, str) else v for k, v in flag_values.items()}
    flag_values.setdefault("output", str(tmp_path / "out.png"))
    flag_values.setdefault("colorizer", trained)
    with flagsaver.flagsaver(**flag_values), pytest.raises(SystemExit) as exit_info:
        colorize_app.main(["colorize"])
    assert message in str(exit_info.value), exit_info.value
    assert not [f for f in os.listdir(tmp_path) if f.startswith(("out", "seg"))]


def test_rgba_input_is_converted(trained, tmp_path):
    rgba = np.concatenate([blobs((20, 20), 10), np.full((20, 20, 1), 128, np.uint8)], -1)
    from PIL import Image  # pylint: disable=g-import-not-at-top
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    with flagsaver.flagsaver(input=str(tmp_path / "rgba.png"), output=str(tmp_path / "out.png"), colorizer=trained):
        colorize_app.main(["colorize"])
    assert read_image(str(tmp_path / "out.png")).shape == (20, 20, 3)
