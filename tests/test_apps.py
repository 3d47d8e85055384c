"""The apps' answers to bad input. (Their runs end to end go through python -m: tests/test_cli.py.)"""

import os

import pytest
from absl.testing import flagsaver

from apps import evaluate as evaluate_app
from apps import train as train_app

TINY = dict(architecture="mlp", hidden_units=["8"], latent_dim=2, batch_size=16, epochs=2)


BAD_TRAIN_FLAGS = [
    (dict(dataset="npz:/no/such/file.npz"), "--dataset=npz:/no/such/file.npz: no such file"),
    (dict(beta=0.0), "--beta: must be positive"),
    (dict(latent_dim=0), "--latent_dim: must be positive"),
    (dict(batch_size=1000), "--batch_size=1000 is larger than the training set"),
    (dict(hidden_units=["a"]), "--hidden_units: 'a' is not an integer"),
    (dict(dataset="no_such_dataset_xyz"), "--dataset=no_such_dataset_xyz: not a TFDS data set"),
    (dict(likelihood="logistic", pixels="dynamic_binary"), "--pixels"),
    (dict(free_bits=1.0, iwae_k=5), "--free_bits"),
    (dict(epochs=0), "--epochs: must be positive"),
    (dict(strategy="multi_worker"), "TF_CONFIG"),
    (dict(posterior="planar", flow_steps=0), "--flow_steps: must be positive"),
    (dict(prior="maf", prior_steps=-1), "--prior_steps: must be positive"),
    (dict(posterior="iaf", free_bits=0.5), "--free_bits: free bits clamp the KL per latent dimension"),
    (dict(prior="realnvp", latent_dim=1), "--prior: realnvp couples two halves"),
]


@pytest.mark.parametrize("flags,message", BAD_TRAIN_FLAGS, ids=[m for _, m in BAD_TRAIN_FLAGS])
def test_train_rejects_bad_input_with_one_line_and_no_output(tmp_path, tiny_npz, monkeypatch, flags, message):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    model_dir = str(tmp_path / "run")
    settings = {**TINY, "dataset": f"npz:{tiny_npz}", "model_dir": model_dir, **flags}
    with flagsaver.flagsaver(**settings), pytest.raises(SystemExit) as exit_info:
        train_app.main(["train"])
    text = str(exit_info.value.code)
    assert text.startswith("error: ") and message in text and "\n" not in text, text
    assert not os.path.exists(model_dir)


def test_train_rejects_stray_arguments(tmp_path):
    with flagsaver.flagsaver(model_dir=str(tmp_path / "x")), pytest.raises(SystemExit, match="unexpected arguments"):
        train_app.main(["train", "oops"])


def test_evaluate_rejects_a_directory_without_model(tmp_path):
    with flagsaver.flagsaver(model_dir=str(tmp_path)), pytest.raises(SystemExit) as exit_info:
        evaluate_app.main(["evaluate"])
    assert "holds no model" in str(exit_info.value.code)
    assert not os.path.exists(tmp_path / "evaluation.json")


def test_evaluate_rejects_non_positive_samples(tmp_path):
    with flagsaver.flagsaver(model_dir=str(tmp_path), num_samples=0), pytest.raises(SystemExit, match="--num_samples"):
        evaluate_app.main(["evaluate"])


def test_bad_flags_are_reported_before_the_data_is_read(tmp_path, monkeypatch):
    from tfvae.families import base  # pylint: disable=g-import-not-at-top

    def no_data(*args, **kwargs):
        raise AssertionError("the data was read before the flags were checked")

    monkeypatch.setattr(base.Family, "load_data", no_data)
    with flagsaver.flagsaver(model_dir=str(tmp_path / "x"), posterior="radial", flow_steps=0), \
            pytest.raises(SystemExit, match="--flow_steps"):
        train_app.main(["train"])
