"""`python -m apps.restore`: the demo, deblurring a given image with a kernel file against tfvae.restore, upscaling
with --degrade, and one line with no output for every kind of bad input."""

import os

import numpy as np
import pytest
from absl.testing import flagsaver

import tfvae
from apps import restore as restore_app
from tfvae.data import read_image, write_image
from tfvae.restoration import degradations as deg
from tfvae.restoration import denoise as denoise_lib


def smooth(shape, seed=0):
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(np.linspace(0, 3, shape[1]), np.linspace(0, 3, shape[0])), -1)
    return np.round(255 * (0.5 + 0.4 * np.sin(grid @ rng.normal(size=2) + 1.0))).astype(np.uint8)


def psnrs(out):
    before, after = out.split("PSNR ")[1].split(" dB")[0].split(" -> ")
    return float(before), float(after)


@pytest.mark.slow  # the long tier (pytest.ini): the app's other tests restore given files
def test_demo_inpaints_the_built_in_image(tmp_path, capsys):
    output = str(tmp_path / "demo.png")
    with flagsaver.flagsaver(degradation="inpaint", output=output, prior_path="conv"):
        restore_app.main(["restore"])
    out = capsys.readouterr().out
    assert "built-in demo image" in out and "inpaint" in out
    before, after = psnrs(out)
    assert after > before + 3, out
    assert read_image(output, channels=None).shape == (256, 256, 1)


def test_deblurs_an_image_with_a_kernel_file_as_tfvae_restore_does(tmp_path, capsys):
    clean = read_image(denoise_lib.DEMO_IMAGE, channels=1)[80:160, 90:162, 0]  # 80x72 of Set12's house
    kernel = deg.gaussian_kernel(9, 1.6)
    blur = deg.Blur(kernel, 2 / 255)
    observed = np.round(np.clip(blur.degrade(clean[..., None] / 255.0, 1).numpy(), 0, 1) * 255).astype(np.uint8)
    paths = [str(tmp_path / n) for n in ("blurred.png", "clean.png", "kernel.npy", "out.png")]
    write_image(paths[0], observed[..., 0])
    write_image(paths[1], clean)
    np.save(paths[2], kernel)
    with flagsaver.flagsaver(degradation="deblur", input=paths[0], clean=paths[1], kernel=paths[2], sigma=2.0,
                             output=paths[3], prior_path="conv"):
        restore_app.main(["restore"])
    before, after = psnrs(capsys.readouterr().out)
    assert after > before, (before, after)
    expected = tfvae.restore(observed[..., 0].astype(np.float32) / 255, blur, denoise_lib.load_prior("conv")).numpy()
    np.testing.assert_array_equal(read_image(paths[3], channels=1)[..., 0], np.round(expected * 255).astype(np.uint8))


def test_upscales_with_degrade(tmp_path, capsys):
    path, output = str(tmp_path / "clean.png"), str(tmp_path / "up.png")
    write_image(path, smooth((30, 24)))
    with flagsaver.flagsaver(degradation="upscale", factor=3, input=path, degrade=True, output=output,
                             prior_path="conv"):
        restore_app.main(["restore"])
    assert "8x10 -> 24x30" in capsys.readouterr().out
    assert read_image(output, channels=None).shape == (30, 24, 1)


@pytest.mark.parametrize("setup,flag_values,message", [
    (None, dict(degradation="deblur", input="{tmp}/missing.png", kernel="{tmp}/k.npy"), "missing.png: no such file"),
    ("grey", dict(degradation="deblur", input="{tmp}/grey.png", kernel="{tmp}/missing.npy"), "no such file"),
    ("grey", dict(degradation="deblur", input="{tmp}/grey.png", kernel="{tmp}/line.npy"), "must be a 2-D array"),
    ("grey", dict(degradation="deblur", input="{tmp}/grey.png", kernel="{tmp}/heavy.npy"), "must sum to 1"),
    ("grey", dict(degradation="deblur", input="{tmp}/grey.png"), "needs --kernel"),
    ("grey", dict(degradation="inpaint", input="{tmp}/grey.png"), "needs --mask"),
    ("grey", dict(degradation="inpaint", input="{tmp}/grey.png", mask="{tmp}/small.png"), "is 8x8, the image 20x24"),
    ("grey", dict(degradation="upscale", input="{tmp}/grey.png", factor=5), "--factor=5: must be 2, 3 or 4"),
    ("grey", dict(degradation="upscale", input="{tmp}/grey.png", factor=3, degrade=True), "does not divide"),
    ("grey", dict(degradation="upscale", input="{tmp}/grey.png", clean="{tmp}/grey.png"), "the restored image will"),
    ("grey", dict(degradation="denoise", input="{tmp}/grey.png", sigma=0.0), "positive noise level"),
    ("grey", dict(degradation="deblur", input="{tmp}/grey.png", kernel="{tmp}/k.npy", sigma=-1.0), "--sigma=-1.0"),
    ("grey", dict(degradation="deblur", input="{tmp}/grey.png", kernel="{tmp}/k.npy", output="{tmp}/out.txt"),
     "unknown image extension"),
])
def test_bad_input_gets_one_line_and_no_output(tmp_path, setup, flag_values, message):
    if setup == "grey":
        write_image(str(tmp_path / "grey.png"), smooth((24, 20)))
        write_image(str(tmp_path / "small.png"), smooth((8, 8)))
        np.save(tmp_path / "k.npy", deg.gaussian_kernel(3, 1.0))
        np.save(tmp_path / "line.npy", np.ones(3) / 3)
        np.save(tmp_path / "heavy.npy", np.ones((3, 3)))
    flag_values = {k: v.format(tmp=tmp_path) if isinstance(v, str) else v for k, v in flag_values.items()}
    flag_values.setdefault("output", str(tmp_path / "out.png"))
    with flagsaver.flagsaver(prior_path="conv", **flag_values), pytest.raises(SystemExit) as exit_info:
        restore_app.main(["restore"])
    assert message in str(exit_info.value), exit_info.value
    assert not os.path.exists(tmp_path / "out.png") and not os.path.exists(tmp_path / "out.txt")
