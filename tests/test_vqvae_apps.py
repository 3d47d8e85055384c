"""apps.train --model=vqvae (phase I) and --stage=prior (phase II): their answers to bad input. (Both phases, then
apps.evaluate and python -m export, run end to end through python -m: tests/test_cli.py.)"""

import os

import pytest
from absl.testing import flagsaver

from apps import train as train_app
from tfvae import config as config_lib
from tfvae import families, runs

TINY = dict(model="vqvae", hidden_units=["4", "6"], num_codes=6, code_dim=3, likelihood="gaussian", batch_size=16,
            epochs=1, jit_compile=False)  # XLA compilation would dominate a one-epoch run
PRIOR = dict(stage="prior", pixelcnn_layers=2, pixelcnn_filters=5, epochs=1, batch_size=16, jit_compile=False)


def test_prior_stage_refuses_a_model_dir_of_another_family(tmp_path, capsys):
    model_dir = tmp_path / "vae"
    model_dir.mkdir()
    runs.prepare(str(model_dir), "model", families.make_config(), config_lib.TrainConfig())
    with flagsaver.flagsaver(model_dir=str(model_dir), **PRIOR), pytest.raises(SystemExit) as exit_info:
        train_app.main(["train"])
    text = str(exit_info.value.code)
    assert text.startswith("error: ") and "holds a 'vae' model; --stage=prior needs" in text and "\n" not in text
    assert not (model_dir / "prior").exists()


def test_vqvae_rejects_fewer_than_two_codes(tmp_path, tiny_npz):
    model_dir = str(tmp_path / "run")
    with flagsaver.flagsaver(dataset=f"npz:{tiny_npz}", model_dir=model_dir, **{**TINY, "num_codes": 1}), \
            pytest.raises(SystemExit) as exit_info:
        train_app.main(["train"])
    assert str(exit_info.value.code).startswith("error: --num_codes: a codebook needs at least 2 codes")
    assert not os.path.exists(model_dir)
