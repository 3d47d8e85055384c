"""Denoising front end: tfvae.denoise against EPLL run by hand (grey, 8-bit, colour), inside tf.data, the apps end
to end and their answers to bad input, and the SavedModel of `python -m export --denoiser` reloaded in a fresh
process without tfvae (exported and reloaded in the background, from the session's start: it takes a minute)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from absl.testing import flagsaver

import serving_rest
import tfvae
from app_runs import niced
from apps import denoise as denoise_app
from apps import train_patch_prior as prior_app
from tfvae.restoration.serving import FAST_STRIDE
from tfvae.data import read_image, write_image
from tfvae.restoration import denoise as denoise_lib
from tfvae.restoration import conv_prior, patch_data
from tfvae.restoration import degradations as deg_lib
from tfvae.restoration.epll import epll
from tfvae.restoration.gmm import PatchGMM
from tfvae.saving import save_model_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SIGMA = 0.1


def smooth_image(shape, seed):
    """A [0, 1] image of smooth blobs [H, W] (or [H, W, C]): structure a patch prior can tell from noise."""
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(np.linspace(0, 3, shape[1]), np.linspace(0, 3, shape[0])), -1)
    channels = shape[2] if len(shape) == 3 else 1
    layers = [0.5 + 0.4 * np.sin(grid @ rng.normal(size=2) + rng.uniform(0, 6)) for _ in range(channels)]
    image = np.stack(layers, -1).astype(np.float32)
    return image if len(shape) == 3 else image[..., 0]


def fit_prior(work, background):
    """(A background job.) A 4-component GMM over 8x8 patches fitted to smooth images, saved: its path."""
    images = [smooth_image((40, 40), seed) for seed in range(6)]
    samples = patch_data.sample_patches(images, 3000, 8, seed=0)
    path = str(work / "gmm.npz")
    PatchGMM.fit(samples - samples.mean(1, keepdims=True), steps=3, components=4, seed=0).save(path)
    return path


def test_sample_patches_are_windows_of_the_images_even_with_fewer_patches_than_images():
    images = [np.arange(i, i + 9 * 10, dtype=np.float32).reshape(9, 10) for i in range(5)]
    patches = patch_data.sample_patches(images, 3, 4, seed=0)  # 3 patches from 5 images: some images give none
    assert patches.shape == (3, 16)
    windows = np.concatenate([np.lib.stride_tricks.sliding_window_view(x, (4, 4)).reshape(-1, 16) for x in images])
    assert all((windows == patch).all(1).any() for patch in patches)  # each is a row-major 4x4 window


@pytest.fixture(scope="module")
def prior_file(background):
    return background.get(fit_prior).result()


@pytest.fixture(scope="module")
def prior(prior_file):
    """The GMM of prior_file, loaded as the apps and the export test load it: one object for the whole module, so
    the denoising graphs tfvae.denoise compiles for it (seconds each) are built once."""
    return denoise_lib.load_prior(prior_file)


def noisy(shape, seed, sigma=SIGMA):
    clean = smooth_image(shape, seed)
    return clean, (clean + sigma * np.random.default_rng(seed + 100).normal(size=shape)).astype(np.float32)


def test_grey_float_and_8bit_are_epll(prior):
    _, x = noisy((20, 17), 0)
    expected = epll(x, SIGMA, prior).numpy()
    np.testing.assert_allclose(tfvae.denoise(x, SIGMA, prior=prior), expected, atol=1e-6)
    np.testing.assert_allclose(tfvae.denoise(x[..., None], SIGMA, prior=prior)[..., 0], expected, atol=1e-6)
    pixels = np.round(np.clip(x, 0, 1) * 255).astype(np.uint8)
    restored = tfvae.denoise(pixels, 255 * SIGMA, prior=prior)
    assert restored.dtype == tf.uint8 and restored.shape == (20, 17)
    reference = np.round(epll(pixels / np.float32(255), SIGMA, prior).numpy() * 255)
    np.testing.assert_array_equal(restored, reference)


def test_opponent_rows_are_orthogonal_with_unit_ranges():
    """Orthogonal rows keep white RGB noise white per channel (the module docstring's claim)."""
    gram = denoise_lib.OPPONENT @ denoise_lib.OPPONENT.T
    np.testing.assert_allclose(gram, np.diag(np.diag(gram)), atol=1e-7)
    corners = np.array(np.meshgrid([0, 1], [0, 1], [0, 1])).reshape(3, -1).T @ denoise_lib.OPPONENT.T
    np.testing.assert_allclose(corners.min(0), denoise_lib.OPPONENT_LOW, atol=1e-7)
    np.testing.assert_allclose(corners.max(0) - corners.min(0), 1.0, atol=1e-7)


def test_colour_modes_are_epll_per_channel(prior):
    """With a one-step schedule (not the default's first step alone: 2, not 1) on both sides: how the channels are
    composed (each channel's sigma and value range enter every step) does not depend on its length, and the
    three-channel graphs take seconds per step to build."""
    _, x = noisy((18, 21, 3), 1)
    betas = (2.0,)
    per_channel = np.stack([epll(x[..., c], SIGMA, prior, betas=betas).numpy() for c in range(3)], -1)
    np.testing.assert_allclose(tfvae.denoise(x, SIGMA, prior=prior, colour="per_channel", betas=betas), per_channel,
                               atol=1e-6)
    opponent = x @ denoise_lib.OPPONENT.T
    norms = np.linalg.norm(denoise_lib.OPPONENT, axis=1)
    channels = [epll(opponent[..., c], SIGMA * norms[c], prior, betas=betas, value_range=(low, low + 1)).numpy()
                for c, low in enumerate(denoise_lib.OPPONENT_LOW)]
    expected = np.clip(np.stack(channels, -1) @ np.linalg.inv(denoise_lib.OPPONENT).T, 0, 1)
    np.testing.assert_allclose(tfvae.denoise(x, SIGMA, prior=prior, colour="opponent", betas=betas), expected,
                               atol=1e-5)


def test_denoise_inside_tf_data_on_images_of_different_sizes(prior):
    images = [noisy((20, 17), 2)[1], noisy((9, 30), 3)[1]]
    dataset = tf.data.Dataset.from_generator(lambda: iter(images), output_signature=tf.TensorSpec([None, None]))
    restored = list(dataset.map(lambda image: tfvae.denoise(image, SIGMA, prior=prior)))
    for image, out in zip(images, restored):
        np.testing.assert_allclose(out, epll(image, SIGMA, prior), atol=1e-6)


def test_denoising_raises_psnr(prior):
    clean, x = noisy((40, 40), 7)
    psnr = lambda image: 10 * np.log10(1 / np.mean((np.clip(image, 0, 1) - clean) ** 2))  # noqa: E731
    assert psnr(tfvae.denoise(x, SIGMA, prior=prior).numpy()) > psnr(x) + 3  # measured: 20.0 -> 29.8 dB


@pytest.mark.parametrize("image,kwargs,match", [
    (np.zeros((16, 16, 4), np.float32), {"colour": "opponent"}, "1 or 3 channels"),
    (np.zeros((16, 16), np.int32), {}, "uint8"),
    (np.zeros((16, 16), np.float32), {"colour": "lab"}, "colour must be"),
    (np.zeros((16, 16), np.float32), {"sigma": 2.0}, "larger than 1"),
    (np.zeros((16, 16), np.uint8), {"sigma": 300.0}, "larger than 255"),
    (np.zeros((16, 16), np.float32), {"sigma": 0.0}, "positive"),
    (np.zeros((5, 16), np.float32), {}, "smaller than the 8x8 patch"),
    (np.zeros((2, 16, 16, 1), np.float32), {}, r"\[H, W\]"),
])
def test_denoise_rejects_bad_input(prior, image, kwargs, match):
    kwargs = {"sigma": SIGMA, **kwargs}
    with pytest.raises(ValueError, match=match):
        tfvae.denoise(image, prior=prior, **kwargs)


# The apps


def write_grey(path, image):
    write_image(str(path), np.round(np.clip(image, 0, 1) * 255).astype(np.uint8))
    return str(path)


def test_denoise_app_with_a_clean_reference(prior_file, tmp_path, capsys):
    clean, x = noisy((40, 40), 8, sigma=20 / 255)
    paths = write_grey(tmp_path / "noisy.png", x), write_grey(tmp_path / "clean.png", clean)
    output = str(tmp_path / "out.png")
    with flagsaver.flagsaver(input=paths[0], clean=paths[1], sigma=20.0, output=output, prior_path=prior_file):
        denoise_app.main(["denoise"])
    out = capsys.readouterr().out
    assert "PSNR" in out and "SSIM" in out
    before, after = [float(v) for v in out.split("PSNR ")[1].split(" dB")[0].split(" -> ")]
    assert after > before + 3, out
    expected = tfvae.denoise(read_image(paths[0], channels=1)[..., 0], 20.0, prior=denoise_lib.load_prior(prior_file))
    np.testing.assert_array_equal(read_image(output, channels=1)[..., 0], expected)


def test_denoise_app_demo_and_colour(prior_file, conv_file, tmp_path, capsys):
    """The colour image goes through the conv prior (conv_file): the app's colour path (read, --add_noise, denoise,
    write, PSNR) does not depend on the prior, tfvae.denoise's opponent composition for a grey patch prior is checked
    against EPLL by test_colour_modes_are_epll_per_channel, and the GMM's three-channel graph of the default schedule
    takes about 20 s to build (the conv prior's: about 1 s)."""
    with flagsaver.flagsaver(output=str(tmp_path / "demo.png"), prior_path=prior_file, stride=3):
        denoise_app.main(["denoise"])
    assert "built-in demo image" in capsys.readouterr().out
    assert read_image(str(tmp_path / "demo.png"), channels=None).shape == (256, 256, 1)
    colour = str(tmp_path / "colour.png")
    write_image(colour, np.round(noisy((24, 20, 3), 9)[0] * 255).astype(np.uint8))
    with flagsaver.flagsaver(input=colour, add_noise=True, output=str(tmp_path / "c.png"), prior_path=conv_file):
        denoise_app.main(["denoise"])
    assert "PSNR" in capsys.readouterr().out
    assert read_image(str(tmp_path / "c.png"), channels=None).shape == (24, 20, 3)


@pytest.mark.parametrize("setup,flag_values,message", [
    (None, dict(input="{tmp}/missing.png"), "missing.png: no such file"),
    ("text", dict(input="{tmp}/bad.png"), "is not a readable image"),
    ("small", dict(input="{tmp}/small.png"), "smaller than the 8x8 patch"),
    ("grey", dict(input="{tmp}/grey.png", sigma=0.0), "--sigma=0.0: must be in (0, 255]"),
    ("grey", dict(input="{tmp}/grey.png", sigma=1000.0), "--sigma=1000.0"),
    ("grey", dict(input="{tmp}/grey.png", output="{tmp}/nowhere/out.png"), "does not exist"),
    ("grey", dict(input="{tmp}/grey.png", output="{tmp}/out.txt"), "unknown image extension"),
    ("grey", dict(input="{tmp}/grey.png", clean="{tmp}/missing.png"), "missing.png: no such file"),
])
def test_denoise_app_answers_bad_input_with_one_line(prior_file, tmp_path, capsys, setup, flag_values, message):
    if setup == "text":
        (tmp_path / "bad.png").write_text("not an image")
    elif setup == "small":
        write_image(str(tmp_path / "small.png"), np.zeros((6, 16), np.uint8))
    elif setup == "grey":
        write_grey(tmp_path / "grey.png", smooth_image((16, 16), 0))
    flag_values = {k: v.format(tmp=tmp_path) if isinstance(v, str) else v for k, v in flag_values.items()}
    flag_values.setdefault("output", str(tmp_path / "out.png"))
    with flagsaver.flagsaver(prior_path=prior_file, **flag_values), pytest.raises(SystemExit) as exit_info:
        denoise_app.main(["denoise"])
    assert message in str(exit_info.value), exit_info.value
    assert not os.path.exists(tmp_path / "out.png") and not os.path.exists(tmp_path / "out.txt")


def test_train_patch_prior_app(tmp_path, capsys):
    folder = tmp_path / "images"
    folder.mkdir()
    for seed in range(3):
        write_grey(folder / f"{seed}.png", smooth_image((30, 26), seed))
    output = str(tmp_path / "prior.npz")
    with flagsaver.flagsaver(data=f"folder:{folder}", output=output, components=3, num_patches=2000, em_steps=4):
        prior_app.main(["train_patch_prior"])
    log = [line for line in capsys.readouterr().out.splitlines() if line.startswith("EM step")]
    values = [float(line.split("before it ")[1].split(" nats")[0]) for line in log]
    assert len(values) == 4 and all(b >= a - 1e-3 for a, b in zip(values, values[1:])), log
    gmm = PatchGMM.load(output)
    assert gmm.num_components == 3 and gmm.dim == 64
    with flagsaver.flagsaver(data=f"folder:{tmp_path / 'empty'}", output=str(tmp_path / "p2.npz")), \
            pytest.raises(SystemExit, match="no such folder"):
        prior_app.main(["train_patch_prior"])
    with flagsaver.flagsaver(data=f"folder:{folder}", output=str(tmp_path / "p3.npz"), components=0), \
            pytest.raises(SystemExit, match="--components: must be positive"):
        prior_app.main(["train_patch_prior"])
    assert not os.path.exists(tmp_path / "p2.npz") and not os.path.exists(tmp_path / "p3.npz")
    # --init_from: EM continues from a saved GMM (the same patches: its first step starts where the last one ended)
    more = str(tmp_path / "more.npz")
    with flagsaver.flagsaver(data=f"folder:{folder}", output=more, components=3, num_patches=2000, em_steps=2,
                             init_from=output):
        prior_app.main(["train_patch_prior"])
    log = [line for line in capsys.readouterr().out.splitlines() if line.startswith("EM step")]
    continued = [float(line.split("before it ")[1].split(" nats")[0]) for line in log]
    assert len(continued) == 2 and continued[0] >= values[-1] - 1e-3 and continued[1] >= continued[0] - 1e-3, log
    with flagsaver.flagsaver(data=f"folder:{folder}", output=str(tmp_path / "p4.npz"), components=4,
                             num_patches=2000, init_from=output), \
            pytest.raises(SystemExit, match="has 3 components over 64 pixels, not --components=4"):
        prior_app.main(["train_patch_prior"])
    with flagsaver.flagsaver(data=f"folder:{folder}", output=str(tmp_path / "p5.npz"),
                             init_from=str(tmp_path / "no.npz")), pytest.raises(SystemExit, match="no.npz: no such file"):
        prior_app.main(["train_patch_prior"])
    assert not os.path.exists(tmp_path / "p4.npz") and not os.path.exists(tmp_path / "p5.npz")


@pytest.mark.skipif(not os.path.isfile(denoise_lib.PRIOR_FILE), reason="the shipped prior is not built yet")
def test_shipped_prior_denoises_the_demo_image():
    clean = read_image(denoise_app.DEMO_IMAGE, channels=1)[96:160, 96:160, 0].astype(np.float32) / 255
    x = clean + 25 / 255 * np.random.default_rng(0).normal(size=clean.shape).astype(np.float32)
    psnr = lambda image: 10 * np.log10(1 / np.mean((np.clip(image, 0, 1) - clean) ** 2))  # noqa: E731
    gmm = denoise_lib.load_prior("gmm")
    assert gmm.num_components == 200 and gmm.dim == 64
    assert psnr(tfvae.denoise(x, 25 / 255, prior=gmm).numpy()) > psnr(x) + 8  # a 64x64 crop of house


# The SavedModel of python -m export --denoiser, reloaded without tfvae

EXPORT_INPUTS = {"grey": noisy((20, 17), 4)[1], "colour": noisy((19, 23, 3), 5)[1], "grey3": noisy((17, 18, 1), 6)[1]}
BAD_INPUTS = {"two_channels": (np.zeros((16, 16, 2), np.float32), "sigma"),
              "small": (np.zeros((4, 16), np.float32), "sigma"),
              "negative": (np.zeros((16, 16), np.float32), "negative_sigma"),
              "four_axes": (np.zeros((1, 16, 16, 1), np.float32), "sigma")}
REQUESTS = [(signature, body) for family, signature, body in serving_rest.build_md_requests(
    os.path.join(ROOT, "BUILD.md")) if family == "denoise"]
RESTORE_INPUTS = {"mask": (np.random.default_rng(7).uniform(size=(20, 17)) > 0.5).astype(np.float32),
                  "kernel": np.outer([1, 2, 1], [1, 2, 1]).astype(np.float32) / 16, "factor": np.int32(3),
                  "zero": np.float32(0.0)}
CALLS = {**{name: ("denoise", {"image": name, "sigma": "sigma"}) for name in ("grey", "colour", "grey3")},
         "gmm": ("denoise_gmm", {"image": "grey", "sigma": "sigma"}),
         "conv_fast": ("denoise_fast", {"image": "colour", "sigma": "sigma"}),
         "fast": ("denoise_gmm_fast", {"image": "grey", "sigma": "sigma"}),
         "inpaint": ("inpaint", {"image": "grey", "mask": "mask", "sigma": "zero"}),
         "deblur": ("deblur", {"image": "colour", "kernel": "kernel", "sigma": "sigma"}),
         "upscale": ("upscale", {"image": "grey3", "factor": "factor", "sigma": "zero"})}


def make_conv(work, background):
    """(A background job.) A small ConvDenoiser with random weights (not the near-identity of fresh ones), saved:
    its path."""
    model = conv_prior.ConvDenoiser(1, widths=(4, 8), blocks=1, seed=3)
    model.build()
    model.set_weights([w + 0.05 * np.random.default_rng(i).normal(size=w.shape)
                       for i, w in enumerate(model.get_weights())])
    path = str(work / "conv.keras")
    save_model_file(model, path)
    return path


def export_and_reload(work, background):
    """(A background job.) (The finished `python -m export --denoiser=CONV --gmm=GMM` process, its export_dir, the
    reload of that export: CALLS, the BAD_INPUTS calls and BUILD.md's request bodies) for make_conv's prior and the
    GMM of fit_prior."""
    export_dir = str(work / "denoise" / "1")
    env = {**os.environ, "PYTHONPATH": ROOT}
    # At a low priority (niced), as the session's other background work: it then yields the CPU to the tests.
    run = subprocess.run(niced([sys.executable, "-m", "export", f"--denoiser={background.get(make_conv).result()}",
                                f"--gmm={background.get(fit_prior).result()}", f"--export_dir={export_dir}"]),
                         cwd=work, env=env, capture_output=True, text=True, timeout=1200)
    if run.returncode:
        return run, export_dir, None
    (result,) = background.reload([{
        "export_dir": export_dir, "calls": CALLS, "requests": [body for _, body in REQUESTS],
        "inputs": {**EXPORT_INPUTS, **RESTORE_INPUTS, **{name: image for name, (image, _) in BAD_INPUTS.items()},
                   "sigma": np.float32(0.1), "negative_sigma": np.float32(-0.1)},
        "bad_calls": {name: ("denoise", {"image": name, "sigma": sigma}) for name, (_, sigma) in BAD_INPUTS.items()}}])
    return run, export_dir, result


# Started with the session (tests/conftest.py): the export and its reload take a minute, on the other core.
BACKGROUND = {"prior_file": fit_prior, "conv_file": make_conv, "served_denoiser": export_and_reload}


@pytest.fixture(scope="module")
def conv_file(background):
    return background.get(make_conv).result()


@pytest.fixture(scope="module")
def served_denoiser(background):
    return background.get(export_and_reload).result()


def test_exported_denoiser_equals_the_function_without_tfvae(prior_file, conv_file, served_denoiser):
    """`denoise` is tfvae.denoise with the exported conv prior (grey, colour through the opponent transform),
    `denoise_gmm` and `denoise_gmm_fast` EPLL with the GMM at stride 1 and 3."""
    run, export_dir, result = served_denoiser
    assert run.returncode == 0 and f"Exported the denoiser to {export_dir}" in run.stdout, run.stderr[-3000:]
    gmm, conv = denoise_lib.load_prior(prior_file), denoise_lib.load_prior(conv_file)
    metadata = json.load(open(os.path.join(export_dir, "assets.extra", "tfvae_metadata.json")))
    assert metadata["model_type"] == "denoiser" and metadata["config"]["components"] == 4
    assert metadata["config"]["prior_type"] == "ConvDenoiser"
    inputs = EXPORT_INPUTS
    outputs = {name: result["outputs"][f"{name}.image"] for name in CALLS}
    np.testing.assert_allclose(outputs["grey"], tfvae.denoise(inputs["grey"], SIGMA, prior=conv), atol=1e-5)
    np.testing.assert_allclose(outputs["grey3"], tfvae.denoise(inputs["grey3"], SIGMA, prior=conv), atol=1e-5)
    np.testing.assert_allclose(outputs["colour"], tfvae.denoise(inputs["colour"], SIGMA, prior=conv), atol=1e-5)
    np.testing.assert_allclose(outputs["gmm"], tfvae.denoise(inputs["grey"], SIGMA, prior=gmm), atol=1e-5)
    np.testing.assert_allclose(outputs["conv_fast"], tfvae.denoise(inputs["colour"], SIGMA, prior=conv, ensemble=1),
                               atol=1e-5)
    assert not np.allclose(outputs["conv_fast"], outputs["colour"], atol=1e-4)  # the one pass, not the ensemble
    np.testing.assert_allclose(outputs["fast"], tfvae.denoise(inputs["grey"], SIGMA, prior=gmm,
                                                              stride=FAST_STRIDE), atol=1e-5)
    assert not np.allclose(outputs["grey"], outputs["gmm"], atol=1e-3)
    # inpaint, deblur, upscale: tfvae.restore with the exported conv prior.
    degradations = {"inpaint": ("grey", deg_lib.Inpaint(RESTORE_INPUTS["mask"], 0.0)),
                    "deblur": ("colour", deg_lib.Blur(RESTORE_INPUTS["kernel"], SIGMA)),
                    "upscale": ("grey3", deg_lib.Downsample(3, sigma=0.0))}
    for name, (image, degradation) in degradations.items():
        expected = tfvae.restore(inputs[image], degradation, prior=conv).numpy()
        np.testing.assert_allclose(outputs[name], expected, atol=1e-4, err_msg=name)
    assert outputs["upscale"].shape == (51, 54, 1)
    for name, expected in zip(BAD_INPUTS, ["1 or 3 channels", "smaller than 8x8", "sigma must be positive",
                                           "[H, W] or [H, W, C]"]):
        assert expected in result["errors"][name], (expected, result["errors"][name][:300])
    # BUILD.md's request bodies for the denoiser (TF Serving model "denoise"), one per signature.
    assert sorted(signature for signature, _ in REQUESTS) == ["deblur", "denoise", "denoise_fast", "denoise_gmm",
                                                              "denoise_gmm_fast", "inpaint", "serving_default",
                                                              "upscale"]
    specs = {"image": tf.TensorSpec(None, tf.float32), "sigma": tf.TensorSpec([], tf.float32),
             "mask": tf.TensorSpec([None, None], tf.float32), "kernel": tf.TensorSpec([None, None], tf.float32),
             "factor": tf.TensorSpec([], tf.int32)}
    for (signature, body), response in zip(REQUESTS, result["responses"]):
        assert "error" not in response, response["error"]
        inputs, row = serving_rest.parse(body, {k: v for k, v in specs.items() if k in body["inputs"]})
        stride = FAST_STRIDE if signature == "denoise_gmm_fast" else 1
        prior = gmm if signature.startswith("denoise_gmm") else conv
        sigma = float(inputs["sigma"])
        if signature in degradations:
            degradation = {"inpaint": lambda: deg_lib.Inpaint(inputs.get("mask"), sigma),
                           "deblur": lambda: deg_lib.Blur(inputs.get("kernel"), sigma),
                           "upscale": lambda: deg_lib.Downsample(int(inputs.get("factor")), sigma=sigma)}[signature]()
            expected = tfvae.restore(inputs["image"], degradation, prior=conv).numpy()
        else:
            ensemble = 1 if signature == "denoise_fast" else None
            expected = tfvae.denoise(inputs["image"], sigma, prior=prior, stride=stride, ensemble=ensemble).numpy()
        assert not row and np.asarray(response["outputs"]).shape == expected.shape
        np.testing.assert_allclose(response["outputs"], expected, atol=1e-5, err_msg=signature)
