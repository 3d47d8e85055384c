"""Training: resume after a kill, the non-finite guard, and model_dir checks."""

import dataclasses
import os
import signal
import subprocess
import sys
import time

import numpy as np
import tensorflow as tf
import pytest

from tfvae import families, runs, training
from tfvae.config import ConfigError, TrainConfig
from tfvae.families import make_config
from tfvae.data import load

from app_runs import niced, write_tiny_npz

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def configs(npz, epochs, **model):
    data = load(f"npz:{npz}")
    model_config = make_config(input_shape=data.shape, architecture="mlp", hidden_units=(6,), latent_dim=3, **model)
    return data, model_config, TrainConfig(dataset=f"npz:{npz}", batch_size=16, epochs=epochs, steps_per_execution=2,
                                          jit_compile="off")


def test_resumed_run_equals_uninterrupted_run(tmp_path, tiny_npz):
    data, model_config, three = configs(tiny_npz, epochs=3)
    straight = families.train(model_config, three, data, str(tmp_path / "a"), verbose=0, validate=False)
    _, _, one = configs(tiny_npz, epochs=1)
    families.train(model_config, one, data, str(tmp_path / "b"), verbose=0, validate=False)  # "killed" after 1 epoch
    resumed = families.train(model_config, three, data, str(tmp_path / "b"), verbose=0, validate=False)
    assert training.step_of(resumed.optimizer) == training.step_of(straight.optimizer) == 12
    for a, b in zip(straight.weights, resumed.weights):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)
    restored = families.restore(str(tmp_path / "b"))
    for a, b in zip(resumed.weights, restored.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    # A run resumed with another --learning_rate trains at that rate (the checkpoint holds the old one).
    slower = dataclasses.replace(three, epochs=4, learning_rate=3e-4)
    resumed = families.train(model_config, slower, data, str(tmp_path / "b"), verbose=0, validate=False)
    assert training.step_of(resumed.optimizer) == 16
    assert float(resumed.optimizer.learning_rate) == pytest.approx(3e-4)


def kill_and_resume(work, background):
    """(A background job: its subprocesses run while other tests do.) Real kills of `python -m apps.train` mid-run,
    each followed by the same command again: SIGTERM (preemption), then SIGKILL (a crash) of the resumed run, then a
    run to the end. Each restart must resume at the last checkpoint. Returns (the npz, the model_dir, the number of
    epochs of the last run)."""
    tiny_npz = write_tiny_npz(work / "tiny.npz")
    model_dir = str(work / "run")
    command = [sys.executable, "-m", "apps.train", f"--dataset=npz:{tiny_npz}", f"--model_dir={model_dir}",
               "--architecture=mlp", "--hidden_units=8", "--latent_dim=2", "--batch_size=8", "--export=false",
               "--jit_compile=false"]
    env = {**os.environ, "PYTHONPATH": ROOT}
    checkpoints = os.path.join(model_dir, runs.CHECKPOINT_DIR)

    def latest_step():  # the CheckpointManager names the state file last, so this only sees complete checkpoints
        path = tf.train.latest_checkpoint(checkpoints) if os.path.isdir(checkpoints) else None
        return int(path.rsplit("-", 1)[1]) if path else 0

    def run_and_kill(kill, start_step):
        """Runs the command (for 400 epochs) until two more epochs are saved, then kills it; the step it left."""
        log = work / f"log-{start_step}.txt"  # a file, not a pipe that nobody reads while it runs
        with open(log, "w") as stdout:
            process = subprocess.Popen(niced([*command, "--epochs=400"]), cwd=ROOT, env=env, stdout=stdout,
                                       stderr=subprocess.DEVNULL)
            deadline = time.time() + 600  # at a low priority (niced) on a busy machine: minutes
            while time.time() < deadline and process.poll() is None and latest_step() < start_step + 16:
                time.sleep(0.05)
            process.send_signal(kill)
            process.wait()
        out = log.read_text()
        assert process.returncode == -kill, out[-2000:]
        assert not start_step or f"Resuming from {checkpoints}" in out and f"(step {start_step})" in out
        step = latest_step()
        assert step >= start_step + 16 and step % 8 == 0  # checkpoints fall on epoch ends (64 images / 8 per batch)
        return step

    killed_at = run_and_kill(signal.SIGKILL, run_and_kill(signal.SIGTERM, 0))
    epochs = killed_at // 8 + 1
    result = subprocess.run(niced([*command, f"--epochs={epochs}"]), cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Resuming from" in result.stdout and f"(step {killed_at})" in result.stdout
    assert latest_step() == 8 * epochs
    return tiny_npz, model_dir, epochs


BACKGROUND = {"killed_run": kill_and_resume}  # started with the session (tests/conftest.py)


@pytest.fixture
def killed_run(background):
    return background.get(kill_and_resume).result()


@pytest.mark.slow  # the long tier (pytest.ini): SIGTERM / SIGKILL of real processes; test_resumed_run_equals_uninterrupted_run stays
def test_killed_app_resumes_to_the_weights_of_an_uninterrupted_run(tmp_path, killed_run):
    """kill_and_resume's run ends with the step count and weights of one uninterrupted run with the same seed (a
    kill may land while a checkpoint is being written; the restart must still find a complete one)."""
    tiny_npz, model_dir, epochs = killed_run
    data = load(f"npz:{tiny_npz}")  # the uninterrupted run of the same flags, in this process
    straight = families.train(make_config(input_shape=data.shape, architecture="mlp", hidden_units=(8,), latent_dim=2),
                              TrainConfig(dataset=f"npz:{tiny_npz}", batch_size=8, epochs=epochs, jit_compile=False),
                              data, str(tmp_path / "straight"), verbose=0, validate=False)
    assert training.step_of(straight.optimizer) == 8 * epochs
    for a, b in zip(straight.weights, families.restore(model_dir).weights):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-5, atol=1e-6)


def test_non_finite_loss_stops_with_step_and_last_checkpoint(tmp_path, tiny_npz, monkeypatch):
    from tfvae import objectives  # pylint: disable=g-import-not-at-top

    real = objectives.warmup

    def poisoned(step, warmup_steps):  # the KL weight turns NaN from step 5 on (epoch 1 is steps 0-3)
        return real(step, warmup_steps) + tf.where(step >= 5, np.nan, 0.0)

    monkeypatch.setattr(objectives, "warmup", poisoned)
    data, model_config, config = configs(tiny_npz, epochs=3)
    config.steps_per_execution = 1
    # No XLA: the guard reads the logged values after each step with or without it, and its compilation outlasts
    # the epochs on CPUs (test_resumed_run_equals_uninterrupted_run trains with it).
    config = dataclasses.replace(config, jit_compile=False)
    with pytest.raises(training.TrainingError) as error:
        families.train(model_config, config, data, str(tmp_path / "nan"), verbose=0, validate=False)
    message = str(error.value)
    assert "non-finite" in message and "at step 6" in message and "ckpt-4" in message
    checkpoints = os.listdir(os.path.join(tmp_path, "nan", runs.CHECKPOINT_DIR))
    assert not any("ckpt-8" in name for name in checkpoints)  # the diverged epoch was not saved


def test_model_dir_of_another_model_is_refused(tmp_path, tiny_npz):
    data, model_config, config = configs(tiny_npz, epochs=1)
    config = dataclasses.replace(config, jit_compile=False)  # what is refused does not depend on XLA, which outlasts
    # the epoch on CPUs
    families.train(model_config, config, data, str(tmp_path / "m"), verbose=0, validate=False)
    _, other, _ = configs(tiny_npz, epochs=1, beta=2.0)
    with pytest.raises(ConfigError, match="holds another model.*beta"):
        families.train(other, config, data, str(tmp_path / "m"), verbose=0, validate=False)
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "file.txt").write_text("x")
    with pytest.raises(ConfigError, match="not empty"):
        families.train(model_config, config, data, str(tmp_path / "junk"), verbose=0, validate=False)


def test_restore_without_checkpoint_names_the_problem(tmp_path):
    with pytest.raises(ConfigError, match="holds no model"):
        families.restore(str(tmp_path))


def test_steps_per_execution_divides_the_epoch():
    assert training.steps_per_execution(62, 8) == 2
    assert training.steps_per_execution(64, 8) == 8
    assert training.steps_per_execution(3, 8) == 3


@pytest.mark.slow  # the long tier (pytest.ini): tests/test_conv_prior.py keeps --init_from of the denoiser app
def test_a_new_run_starts_from_the_weights_of_init_from(tmp_path, tiny_npz):
    """--init_from: a trained model_dir or its .keras file; a resumed run ignores it; other shapes are refused."""
    # pylint: disable=g-import-not-at-top
    from tfvae.saving import save_model_file

    data, model_config, config = configs(tiny_npz, epochs=1)
    source = families.train(model_config, config, data, str(tmp_path / "source"), verbose=0, validate=False)
    save_model_file(source, str(tmp_path / "source.keras"))
    still = dataclasses.replace(config, learning_rate=1e-12)  # one epoch of steps moves no weight visibly
    fresh = families.train(model_config, still, data, str(tmp_path / "fresh"), verbose=0, validate=False)
    for path in (str(tmp_path / "source"), str(tmp_path / "source.keras")):
        start = dataclasses.replace(still, init_from=path)
        model = families.train(model_config, start, data, path + "_run", verbose=0, validate=False)
        assert training.step_of(model.optimizer) == 4  # a new run: the optimizer starts at step 0
        for a, b in zip(source.weights, model.weights, strict=True):
            np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)
    assert not all(np.allclose(a.numpy(), b.numpy()) for a, b in zip(source.weights, fresh.weights))
    # Resuming: the run's own checkpoint wins, and a source that is gone no longer matters.
    gone = dataclasses.replace(still, epochs=2, init_from=str(tmp_path / "gone.keras"))
    resumed = families.train(model_config, gone, data, str(tmp_path / "fresh"), verbose=0, validate=False)
    assert training.step_of(resumed.optimizer) == 8
    for case, match in ((str(tmp_path / "gone.keras"), "neither a trained model_dir nor a .keras"),
                        (str(tmp_path), "the folder holds no trained run")):
        with pytest.raises(ConfigError, match=f"--init_from={case}: {match}"):
            families.train(model_config, dataclasses.replace(still, init_from=case), data, str(tmp_path / "new"),
                           verbose=0, validate=False)
    wider = dataclasses.replace(model_config, latent_dim=4)
    with pytest.raises(ConfigError, match="weights' shapes differ from this vae model's"):
        families.train(wider, dataclasses.replace(still, init_from=str(tmp_path / "source")), data,
                       str(tmp_path / "new"), verbose=0, validate=False)
    assert not os.path.exists(tmp_path / "new")  # refused before anything is written
