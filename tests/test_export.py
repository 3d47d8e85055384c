"""Tests of export/: every signature, reloaded in a fresh process that cannot import tfvae (nor Keras or TFP),
against the in-process model.

One subprocess loads all exports (tests/conftest.py's reload_exports: TensorFlow's import dominates its cost), calls
every signature by name as TF Serving would, and returns the outputs; the tests compare them with the model that was
exported.
"""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from absl.testing import flagsaver

from tfvae import families, serving as export
from export import __main__ as export_app  # the command line
from tfvae import data as data_lib
from tfvae import evaluation
from tfvae.config import TrainConfig
from tfvae.families import make_config
from tfvae.distributions.likelihoods import bits_per_dim
from tfvae.models import VAE

SIGNATURES = ("reconstruct", "encode", "decode", "sample", "log_prob")
# float32 graph (reloaded) against eager (in-process) execution of the same ops: equal up to reassociation.
RTOL, ATOL = 1e-5, 1e-6

# One small model per likelihood and architecture; all sizes differ so that swapped axes fail.
CONFIGS = {
    "mlp_bernoulli": make_config(input_shape=(8, 8, 1), architecture="mlp", hidden_units=(16,), latent_dim=3),
    "conv_bernoulli": make_config(input_shape=(12, 12, 1), architecture="conv", hidden_units=(4, 8), latent_dim=5),
    "mlp_gaussian": make_config(input_shape=(7, 5, 2), architecture="mlp", hidden_units=(11,), latent_dim=2,
                                likelihood="gaussian"),
    "conv_logistic": make_config(input_shape=(6, 10, 3), architecture="conv", hidden_units=(4,), latent_dim=4,
                                 likelihood="logistic", num_mixtures=2),
    # Every posterior and prior family (issue: flows export and reload like the rest).
    "planar_realnvp": make_config(input_shape=(5, 4, 1), architecture="mlp", hidden_units=(9,), latent_dim=3,
                                  posterior="planar", flow_steps=2, prior="realnvp", prior_steps=2, flow_width=6),
    "radial_mog": make_config(input_shape=(5, 4, 1), architecture="mlp", hidden_units=(9,), latent_dim=3,
                              posterior="radial", flow_steps=3, prior="mog", mog_components=4),
    "iaf_maf": make_config(input_shape=(5, 4, 1), architecture="mlp", hidden_units=(9,), latent_dim=3,
                           posterior="iaf", flow_steps=2, prior="maf", prior_steps=2, flow_width=6),
}
BATCH = 3
COUNT = 2  # images per `sample` call
NUM_SAMPLES = 6  # importance samples per `log_prob` call
SEEDS = {"seed_a": 7, "seed_b": 8, "seed_c": 2 ** 33 + 7}  # seed_c differs from seed_a only above bit 31

# What the subprocess calls: output key -> (signature, {signature argument: key in the inputs}).
CALLS = {
    "reconstruct": ("reconstruct", {"images": "x"}),
    "serving_default": ("serving_default", {"images": "x"}),
    "encode": ("encode", {"images": "x"}),
    "decode": ("decode", {"z": "z"}),
    "sample_a": ("sample", {"count": "count", "seed": "seed_a"}),
    "sample_a_again": ("sample", {"count": "count", "seed": "seed_a"}),
    "sample_b": ("sample", {"count": "count", "seed": "seed_b"}),
    "sample_c": ("sample", {"count": "count", "seed": "seed_c"}),
    "log_prob_a": ("log_prob", {"images": "x", "num_samples": "num_samples", "seed": "seed_a"}),
    "log_prob_b": ("log_prob", {"images": "x", "num_samples": "num_samples", "seed": "seed_b"}),
}

def make_model(config, rng):
    """A built VAE whose weights are moved off their initial values (zero biases, unit scales) by a seeded amount."""
    model = VAE(config)
    model.build(None)
    for w in model.weights:
        w.assign(w.numpy() + rng.normal(0.0, 0.2, w.shape).astype(np.float32))
    return model


def make_images(config, rng):
    """A batch [BATCH, H, W, C] in the model's pixel representation."""
    shape = (BATCH, *config.input_shape)
    if config.pixels == "8bit":
        return rng.integers(0, 256, shape).astype(np.float32)
    if config.pixels in ("dynamic_binary", "static_binary"):
        return rng.integers(0, 2, shape).astype(np.float32)
    return rng.uniform(0.0, 1.0, shape).astype(np.float32)


def assert_close(actual, expected):
    np.testing.assert_allclose(actual, np.asarray(expected), rtol=RTOL, atol=ATOL)


@pytest.fixture(scope="module")
def served(tmp_path_factory, reload):
    """name -> (model, inputs, outputs of the reloaded export), for every model of CONFIGS."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    work = tmp_path_factory.mktemp("served")
    models, inputs, jobs = {}, {}, []
    for name, config in CONFIGS.items():
        models[name] = make_model(config, rng)
        inputs[name] = {
            "x": make_images(config, rng),
            "z": rng.normal(size=(BATCH, config.latent_dim)).astype(np.float32),
            "count": np.int32(COUNT),
            "num_samples": np.int32(NUM_SAMPLES),
            **{key: np.int64(seed) for key, seed in SEEDS.items()},
        }
        export_dir = export.export_model(models[name], str(work / name / "1"))
        jobs.append({"export_dir": export_dir, "inputs": inputs[name], "calls": CALLS})
    outputs = {name: result["outputs"] for name, result in zip(CONFIGS, reload(jobs))}
    return {name: (models[name], inputs[name], outputs[name]) for name in CONFIGS}


@pytest.mark.parametrize("name", CONFIGS)
def test_export_has_every_signature(served, name):
    _, _, out = served[name]
    assert sorted(out["signature_names"]) == sorted([*SIGNATURES, "serving_default"])


@pytest.mark.parametrize("name", CONFIGS)
def test_reconstruct_and_serving_default_equal_the_model(served, name):
    model, inputs, out = served[name]
    expected = model(inputs["x"]).numpy()
    assert out["reconstruct.images"].shape == (BATCH, *model.config.input_shape)
    assert out["reconstruct.images"].dtype == np.float32
    assert expected.std() > 1e-3  # not a constant image
    assert_close(out["reconstruct.images"], expected)
    np.testing.assert_array_equal(out["serving_default.images"], out["reconstruct.images"])


@pytest.mark.parametrize("name", CONFIGS)
def test_encode_gives_the_posterior(served, name):
    model, inputs, out = served[name]
    q0 = model.posterior_base(inputs["x"])  # all of q(z|x) for a diagonal posterior
    latent = model.config.latent_dim
    assert out["encode.mean"].shape == out["encode.scale"].shape == out["encode.z"].shape == (BATCH, latent)
    assert_close(out["encode.mean"], q0.mean())
    assert_close(out["encode.scale"], q0.stddev())
    assert_close(out["encode.z"], model.encode(inputs["x"]))
    if model.config.posterior == "diag":
        np.testing.assert_array_equal(out["encode.z"], out["encode.mean"])


@pytest.mark.parametrize("name", CONFIGS)
def test_decode_gives_the_mean_image(served, name):
    model, inputs, out = served[name]
    assert out["decode.images"].shape == (BATCH, *model.config.input_shape)
    assert_close(out["decode.images"], model.decode(inputs["z"]))


@pytest.mark.parametrize("name", CONFIGS)
def test_sample_is_the_models_sample_and_a_function_of_the_seed(served, name):
    model, inputs, out = served[name]
    for key in ("a", "b", "c"):
        z, images = model.sample(tf.constant(COUNT, tf.int32), tf.constant(inputs[f"seed_{key}"]))
        assert out[f"sample_{key}.z"].shape == (COUNT, model.config.latent_dim)
        assert out[f"sample_{key}.images"].shape == (COUNT, *model.config.input_shape)
        assert_close(out[f"sample_{key}.z"], z)
        assert_close(out[f"sample_{key}.images"], images)
    np.testing.assert_array_equal(out["sample_a_again.z"], out["sample_a.z"])
    np.testing.assert_array_equal(out["sample_a_again.images"], out["sample_a.images"])
    for other in ("b", "c"):
        assert not np.allclose(out[f"sample_{other}.z"], out["sample_a.z"], rtol=0.0, atol=1e-3)


@pytest.mark.parametrize("name", CONFIGS)
def test_log_prob_is_the_importance_sampled_bound(served, name):
    model, inputs, out = served[name]
    for key in ("a", "b"):
        seed = tf.stack([tf.constant(inputs[f"seed_{key}"]), tf.constant(1, tf.int64)])  # as export/saved_model.py
        expected = evaluation.log_likelihood(model, inputs["x"], NUM_SAMPLES, seed).numpy()
        assert out[f"log_prob_{key}.log_prob"].shape == (BATCH,)
        assert np.isfinite(expected).all()
        assert_close(out[f"log_prob_{key}.log_prob"], expected)
        assert_close(out[f"log_prob_{key}.bits_per_dim"], bits_per_dim(-expected, model.config))
    assert not np.allclose(out["log_prob_a.log_prob"], out["log_prob_b.log_prob"], rtol=1e-4, atol=0.0)


def read_metadata(export_dir):
    with open(os.path.join(export_dir, export.METADATA_FILE)) as f:
        return json.load(f)


def leftovers(parent):
    """Temporary export directories left in `parent`."""
    return [p for p in os.listdir(parent) if p.startswith(".export-")]


def test_metadata_names_the_model_and_its_signatures(tmp_path):
    model = make_model(CONFIGS["mlp_bernoulli"], np.random.default_rng(1))
    path = export.export_model(model, str(tmp_path / "vae" / "1"), metadata={"step": 5})
    record = read_metadata(path)
    assert record["model_type"] == "vae"
    assert record["signatures"] == list(SIGNATURES)
    assert record["config"] == json.loads(json.dumps(model.get_config()["config"]))
    assert record["step"] == 5
    assert os.listdir(tmp_path / "vae") == ["1"]


def test_export_refuses_to_overwrite_and_failures_leave_the_old_export(tmp_path):
    model = make_model(CONFIGS["mlp_bernoulli"], np.random.default_rng(2))
    parent = tmp_path / "vae"
    path = export.export_model(model, str(parent / "1"), metadata={"run": 1})

    def snapshot():
        return {os.path.relpath(os.path.join(d, f), path): open(os.path.join(d, f), "rb").read()
                for d, _, files in os.walk(path) for f in files}

    before = snapshot()
    with pytest.raises(FileExistsError, match="--overwrite"):
        export.export_model(model, path, metadata={"run": 2})
    assert snapshot() == before
    assert leftovers(parent) == []

    # A failure after the SavedModel was written (metadata that is not JSON) removes the temporary directory and
    # does not touch the existing export, even with overwrite.
    with pytest.raises(TypeError):
        export.export_model(model, path, metadata={"run": object()}, overwrite=True)
    assert snapshot() == before
    assert leftovers(parent) == []

    export.export_model(model, path, metadata={"run": 3}, overwrite=True)
    assert read_metadata(path)["run"] == 3
    assert sorted(os.listdir(parent)) == ["1"]


# --- python -m export -------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory, session_npz):
    """A model_dir trained for one short epoch on tiny data, with an evaluation.json (the tests only read it)."""
    tiny_npz = session_npz
    model_dir = str(tmp_path_factory.mktemp("trained") / "run")
    data = data_lib.load(f"npz:{tiny_npz}")
    model_config = make_config(input_shape=data.shape, architecture="mlp", hidden_units=(16,), latent_dim=3)
    train_config = TrainConfig(dataset=f"npz:{tiny_npz}", batch_size=32, epochs=1, steps_per_execution=1,
                               jit_compile=False)
    families.train(model_config, train_config, data, model_dir, verbose=0, validate=False)
    with open(os.path.join(model_dir, "evaluation.json"), "w") as f:
        json.dump({"nll": 42.5}, f)
    return model_dir, data


def test_export_app_end_to_end(trained, tmp_path, capsys):
    model_dir, data = trained
    base = tmp_path / "serving" / "vae"
    export_dir = str(base / "1")
    with flagsaver.flagsaver(model_dir=model_dir, export_dir=export_dir):
        export_app.main(["export"])
    assert f"Exported the SavedModel to {export_dir}" in capsys.readouterr().out
    record = read_metadata(export_dir)
    assert record["evaluation"] == {"nll": 42.5}
    assert record["config"]["input_shape"] == [8, 8, 1]

    model = families.restore(model_dir)
    x = (data.x_test[:BATCH] > 127).astype(np.float32)  # binary images [B, 8, 8, 1]
    loaded = tf.saved_model.load(export_dir)
    assert_close(loaded.signatures["reconstruct"](images=x)["images"], model(x))
    for wrong in (x[..., 0], np.zeros((2, 9, 8, 1), np.float32)):  # the MLP would take [B, 8, 8] silently
        with pytest.raises(tf.errors.InvalidArgumentError, match="Shape of tensor images .* is not compatible"):
            loaded.signatures["reconstruct"](images=tf.constant(wrong))  # as TF Serving feeds it

    with flagsaver.flagsaver(model_dir=model_dir, export_dir=export_dir):
        with pytest.raises(SystemExit) as error:
            export_app.main(["export"])
    message = str(error.value.code)
    assert message.startswith("error: ") and "--export_dir" in message and "--overwrite" in message
    assert "\n" not in message

    with flagsaver.flagsaver(model_dir=model_dir, export_dir=export_dir, overwrite=True):
        export_app.main(["export"])
    assert os.listdir(base) == ["1"]


def test_export_app_versions_under_a_base_and_lists(trained, tmp_path, capsys):
    model_dir, _ = trained
    base = tmp_path / "serving" / "vae"
    (base / "7").mkdir(parents=True)  # an older version already served, and a non-version folder
    (base / "notes").mkdir()
    for _ in range(2):
        with flagsaver.flagsaver(model_dir=model_dir, export_base=str(base)):
            export_app.main(["export"])
    assert sorted(os.listdir(base)) == ["7", "8", "9", "notes"]
    assert read_metadata(str(base / "9"))["step"] == 2  # 64 images, batch 32, one epoch
    capsys.readouterr()
    with flagsaver.flagsaver(model_dir=model_dir, list=True):
        export_app.main(["export"])
    out = capsys.readouterr().out
    assert "a vae model at training step 2" in out
    assert "reconstruct, encode, decode, sample, log_prob (reconstruct is also serving_default)" in out
    with flagsaver.flagsaver(model_dir=model_dir, export_base=str(base), export_dir=str(base / "10")):
        with pytest.raises(SystemExit, match="give exactly one"):
            export_app.main(["export"])
    assert sorted(os.listdir(base)) == ["7", "8", "9", "notes"]


def test_export_app_answers_a_missing_model_with_one_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no --model_dir: the default, runs/default, holds no model here
    with flagsaver.flagsaver(export_dir=str(tmp_path / "out" / "1")):
        with pytest.raises(SystemExit) as error:
            export_app.main(["export"])
    message = str(error.value.code)
    assert message.startswith("error: --model_dir=") and "\n" not in message
    assert not (tmp_path / "out").exists()


def test_export_app_answers_a_missing_export_dir_with_one_line(tmp_path):
    with flagsaver.flagsaver(model_dir=str(tmp_path), export_dir=None):
        with pytest.raises(SystemExit) as error:
            export_app.main(["export"])
    message = str(error.value.code)
    assert message.startswith("error: --export_dir") and "\n" not in message
