"""The labelled families end to end: apps.train (m2, cvae, M1+M2), apps.sample, their exports reloaded in a fresh
process without tfvae, bad label flags, and the CAS classifier on real data."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf
from absl.testing import flagsaver

from apps import sample as sample_app
from apps import train as train_app
from tfvae import cas, families
from tfvae.data import mnist_offline

TINY = dict(architecture="mlp", hidden_units=["8"], latent_dim=2, batch_size=16, epochs=1, jit_compile=False,
            steps_per_execution=1)
RTOL, ATOL = 1e-5, 1e-6
APP_RUNS = ("m2", "cvae", "m1_m2")  # through python -m (tests/app_runs.py), started with the session (conftest.py)


@pytest.fixture(scope="module")
def runs(tmp_path_factory, app_runs):
    """model_dirs trained by apps.train through python -m (tests/app_runs.py) with TINY's flags on tiny labelled data
    (64 8x8 images, every class at least 6 times): m2 (num_labels=20, labelled_fraction=0.25), cvae, and M1+M2
    (num_labels=10) with its M1 vae (latent_dim=3); apps.classify ran on m2, M1 and M1+M2 after them."""
    work = tmp_path_factory.mktemp("runs")
    npz = app_runs.npz
    dirs, models = {"m1": os.path.join(app_runs.work, "m1")}, {}
    for name, run in app_runs.get(*APP_RUNS).items():
        for command in ("m1", "train") if name == "m1_m2" else ("train",):
            assert run.results[command].status == 0, str(run.results[command])
        dirs[name] = run.model_dir
        models[name] = families.restore(run.model_dir)
    return work, npz, dirs, models


def test_train_app_writes_pictures_checkpoints_and_exports(runs):
    _, _, dirs, models = runs
    for name in ("m2", "cvae", "m1_m2"):
        for file in ("config.json", "checkpoints", "class_styles.png", "analogies.png", "interpolation.png",
                     "export/4/saved_model.pb"):
            assert os.path.exists(os.path.join(dirs[name], file)), (name, file)
    config = json.load(open(os.path.join(dirs["m2"], "config.json")))
    assert config["model"]["num_classes"] == 10 and config["train"]["num_labels"] == 20
    assert models["m1_m2"].m1 is not None and models["m1_m2"].data_shape == (1, 1, 3)
    assert not models["m1_m2"].m1.trainable_weights  # M1 is frozen inside M1+M2


def test_sample_app_writes_every_exploration_picture(runs, capsys):
    work, npz, dirs, models = runs
    out = str(work / "pictures")
    with flagsaver.flagsaver(model_dir=dirs["m2"], output_dir=out, columns=3, pairs=2, interpolation_steps=5,
                             label=4, dataset=None):
        sample_app.main(["sample"])
    assert sorted(os.listdir(out)) == ["analogies.png", "class_styles.png", "interpolation.png", "manifold.png"]
    shapes = {f: tf.io.decode_png(tf.io.read_file(os.path.join(out, f))).shape for f in os.listdir(out)}
    assert shapes["class_styles.png"] == (10 * 9 + 1, 3 * 9 + 1, 1)  # 10 classes x 3 draws of 8x8 images
    assert shapes["analogies.png"] == (3 * 9 + 1, 11 * 9 + 1, 1)  # 3 images, then them under 10 classes
    assert shapes["interpolation.png"] == (2 * 9 + 1, 5 * 9 + 1, 1)
    assert shapes["manifold.png"] == (15 * 9 + 1, 15 * 9 + 1, 1)
    assert "Wrote" in capsys.readouterr().out
    with flagsaver.flagsaver(model_dir=dirs["m1"], output_dir=str(work / "vae_pictures"), dataset=None):
        sample_app.main(["sample"])
    assert sorted(os.listdir(work / "vae_pictures")) == ["interpolation.png"]  # a vae with 3 latents


def test_classify_app_reports_m1_and_m2_test_errors(runs, app_runs):
    """python -m apps.classify --m1_labels=10 on M1, m2 and M1+M2, then --m1_labels=9 on M1 (tests/app_runs.py)."""
    _, _, dirs, _ = runs
    ran = app_runs.get("m2", "m1_m2")
    for name, method, command in (("m1", "M1", ran["m1_m2"].results["classify_m1"]),
                                  ("m2", "M2", ran["m2"].results["classify"]),
                                  ("m1_m2", "M1+M2", ran["m1_m2"].results["classify"])):
        assert command.status == 0, str(command)
        result = json.load(open(os.path.join(dirs[name], "classification.json")))
        assert result["method"] == method and 0.0 <= result["test_error"] <= 1.0
        assert f"{method} test error: " in command.stdout
    error = ran["m1_m2"].results["classify_m1_too_few"]
    assert error.status == 1, str(error)
    assert error.stderr.splitlines()[-1] == "error: --m1_labels=9 is fewer than one label per class (10 classes)"


def test_analogies_decode_one_style_under_every_class(runs):
    from tfvae import exploration  # pylint: disable=g-import-not-at-top

    model = runs[3]["cvae"]
    x = tf.constant(np.random.default_rng(1).integers(0, 2, (2, 8, 8, 1)).astype(np.float32))
    rows = exploration.analogies(model, x, np.array([3, 7])).reshape(2, 11, 8, 8, 1)
    np.testing.assert_array_equal(rows[:, 0], x.numpy())
    z = model.encode(x, tf.one_hot([3, 7], 10))
    np.testing.assert_allclose(rows[1, 1 + 5], model.decode(z[1:], tf.one_hot([5], 10))[0], rtol=1e-5, atol=1e-6)


def test_exports_reload_without_tfvae_and_match(runs, reload):
    work, _, dirs, models = runs
    rng = np.random.default_rng(2)
    inputs = {"x": rng.integers(0, 2, (3, 8, 8, 1)).astype(np.float32), "labels": np.array([4, 0, 9], np.int32),
              "z": rng.normal(size=(3, 2)).astype(np.float32), "seed": np.int64(11)}
    calls = {"sample": ("sample", {"labels": "labels", "seed": "seed"}),
             "decode": ("decode", {"z": "z", "labels": "labels"}),
             "encode": ("encode", {"images": "x", "labels": "labels"}),
             "reconstruct": ("reconstruct", {"images": "x", "labels": "labels"})}
    jobs = {name: {**calls, "classify": ("classify", {"images": "x"})} if name != "cvae" else calls
            for name in ("m2", "cvae", "m1_m2")}
    results = reload([{"export_dir": os.path.join(dirs[name], "export", "4"), "inputs": inputs, "calls": job_calls}
                      for name, job_calls in jobs.items()])
    x, labels = inputs["x"], inputs["labels"]
    for name, result in zip(jobs, results):
        model, out = models[name], result["outputs"]
        y = model.onehot(labels)
        z, images = model.sample(labels, inputs["seed"])
        expected = {"sample.images": images, "sample.z": z, "decode.images": model.decode(inputs["z"], y),
                    "reconstruct.images": model((x, labels)) if name == "cvae" else model.decode(model.encode(x, y), y),
                    "encode.mean": model.encode(x, y)}
        if name != "cvae":
            expected["classify.probabilities"] = model.probabilities(x)
            np.testing.assert_allclose(out["classify.probabilities"].sum(-1), 1.0, rtol=1e-5)
        assert sorted(out["signature_names"]) == sorted({*jobs[name], "serving_default"})
        for key, value in expected.items():
            np.testing.assert_allclose(out[key], np.asarray(value), rtol=RTOL, atol=ATOL, err_msg=f"{name} {key}")
        assert out["sample.images"].shape == (3, 8, 8, 1)


BAD_FLAGS = [
    (dict(model="m2", num_labels=1000), "--num_labels=1000 is larger than the 64 labelled training images"),
    (dict(model="m2", num_labels=5), "--num_labels=5 is fewer than one label per class (10 classes)"),
    (dict(model="m2", labelled_fraction=1.0), "--labelled_fraction: must lie in (0, 1)"),
    (dict(model="m2", posterior="iaf"), "--posterior: --model=m2 has a diagonal Gaussian"),
    (dict(model="m2", m1_dir="/no/such/m1"), "--m1_dir: --model_dir=/no/such/m1 holds no model"),
    (dict(model="m2", m1_dir="M1", likelihood="gaussian"), "its pixels is 'dynamic_binary', this model's 'dequantized'"),
    (dict(model="vae", m1_dir="/no/such/m1"), "--m1_dir: only ('cvae', 'm2') have it, not --model=vae"),
    (dict(model="cvae", unlabelled=True), "has no labels; --model=cvae needs labelled images"),
]


@pytest.mark.parametrize("flags,message", BAD_FLAGS, ids=[m for _, m in BAD_FLAGS])
def test_bad_label_input_is_one_line_and_writes_nothing(runs, tmp_path, flags, message):
    _, npz, dirs, _ = runs
    flags = dict(flags)
    if flags.get("m1_dir") == "M1":  # the M1 vae trained by the fixture
        flags["m1_dir"] = dirs["m1"]
    if flags.pop("unlabelled", False):
        with np.load(npz) as f:
            npz = str(tmp_path / "unlabelled.npz")
            np.savez(npz, x_train=f["x_train"], x_test=f["x_test"])
    model_dir = str(tmp_path / "run")
    with flagsaver.flagsaver(dataset=f"npz:{npz}", model_dir=model_dir, **{**TINY, **flags}), \
            pytest.raises(SystemExit) as exit_info:
        train_app.main(["train"])
    text = str(exit_info.value.code)
    assert text.startswith("error: ") and message in text and "\n" not in text, text
    assert not os.path.exists(model_dir)


# --- the classification accuracy score --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def digits():
    """1,000 training and 500 test images of mnist_offline in [0, 1], with labels."""
    data = mnist_offline()
    return (data.x_train[:1000] / np.float32(255), data.y_train[:1000], data.x_test[:500] / np.float32(255),
            data.y_test[:500])


def test_cas_classifier_reaches_90_percent_on_real_digits(digits):
    assert cas.real_accuracy(*digits, num_classes=10, steps=400) >= 0.90


@pytest.mark.slow  # the long tier (pytest.ini): test_cas_classifier_reaches_90_percent_on_real_digits keeps the score's classifier
def test_cas_ranks_a_perfect_generator_far_above_noise(digits):
    x_train, y_train, x_test, y_test = digits

    def real_images(labels, seed):  # a "generator" that returns real training images of the requested classes
        rng = np.random.default_rng(seed)
        return np.stack([x_train[rng.choice(np.flatnonzero(y_train == c))] for c in labels])

    def noise(labels, seed):
        return np.random.default_rng(seed).uniform(size=(len(labels), 28, 28, 1)).astype(np.float32)

    assert cas.score(real_images, x_test, y_test, 10, per_class=60, steps=300) >= 0.80
    assert cas.score(noise, x_test, y_test, 10, per_class=60, steps=300) <= 0.30
