"""tf.distribute: 1 and 2 replicas (logical CPU devices, see conftest.py) and two worker processes (multi_worker)
train to the same weights as one device."""

import numpy as np
import pytest
import tensorflow as tf

from tfvae import distribute, families, training
from tfvae.config import TrainConfig
from tfvae.families import make_config
from tfvae.data import load


@pytest.mark.parametrize("architecture", ["mlp", pytest.param("conv", marks=pytest.mark.slow)])  # conv: slow tier
def test_one_and_two_replicas_reach_the_same_weights(tmp_path, tiny_npz, architecture):
    data = load(f"npz:{tiny_npz}")
    model_config = make_config(input_shape=data.shape, architecture=architecture, latent_dim=3,
                               hidden_units=(6,) if architecture == "mlp" else (2, 3))
    train_config = TrainConfig(dataset=f"npz:{tiny_npz}", batch_size=16, epochs=2, learning_rate=3e-3,
                               jit_compile=False, steps_per_execution=2)
    # Both without XLA: CPU replicas cannot use it, and XLA's random generators give other numbers.
    weights = {}
    for name in ("default", "mirrored"):
        strategy = distribute.make_strategy(name)
        model = families.train(model_config, train_config, data, str(tmp_path / name), strategy=strategy,
                               verbose=0, validate=False)
        assert model.distribute_strategy.num_replicas_in_sync == (2 if name == "mirrored" else 1)
        assert training.step_of(model.optimizer) == 8  # 64 images / 16 per batch, 2 epochs
        weights[name] = [w.numpy() for w in model.weights]
    for one, two in zip(weights["default"], weights["mirrored"]):
        # Summation order differs between 1 and 2 replicas, so equal up to float32 round-off.
        np.testing.assert_allclose(one, two, rtol=1e-4, atol=1e-5)


def test_unknown_strategy_and_missing_tf_config(monkeypatch):
    with pytest.raises(distribute.StrategyError, match="--strategy"):
        distribute.make_strategy("nope")
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(distribute.StrategyError, match="TF_CONFIG"):
        distribute.make_strategy("multi_worker")


def test_two_logical_cpu_devices_are_available():
    assert len(tf.config.list_logical_devices("CPU")) == 2


def test_two_replicas_take_the_step_of_one_with_sgd():
    """SGD steps scale with the gradient (Adam's hardly do): a missing or double replica scaling shows as a factor 2."""
    import keras  # pylint: disable=g-import-not-at-top

    from tfvae.data import pipeline  # pylint: disable=g-import-not-at-top

    images = np.random.default_rng(1).integers(0, 256, (32, 8, 8, 1), dtype=np.uint8)
    steps = {}
    for name in ("default", "mirrored"):
        strategy = distribute.make_strategy(name)
        keras.utils.set_random_seed(0)
        with strategy.scope():
            model = families.make_model(make_config(input_shape=(8, 8, 1), architecture="mlp", latent_dim=3,
                                                    hidden_units=(6,)))
            model.build(None)
            model.compile(optimizer=keras.optimizers.SGD(0.1), jit_compile=False)
        before = [w.numpy() for w in model.trainable_weights]
        model.fit(pipeline.train_dataset(images, 16, "dynamic_binary", 0), epochs=1, steps_per_epoch=1, verbose=0)
        steps[name] = [w.numpy() - b for w, b in zip(model.trainable_weights, before)]
    for one, two in zip(steps["default"], steps["mirrored"]):
        assert np.abs(one).max() > 1e-3
        np.testing.assert_allclose(two, one, rtol=1e-4, atol=1e-7)


def free_ports(count):
    import socket  # pylint: disable=g-import-not-at-top

    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def checkpoint_weights(checkpoint_dir):
    """(step, the model's weights in model.weights order) of the newest checkpoint in checkpoint_dir."""
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(checkpoint_dir))
    names = reader.get_variable_to_shape_map()
    count = sum(1 for name in names if name.startswith("model/"))
    weights = [reader.get_tensor(f"model/{i}/.ATTRIBUTES/VARIABLE_VALUE") for i in range(count)]
    return int(reader.get_tensor("step/.ATTRIBUTES/VARIABLE_VALUE")), weights


def train_two_workers(work, background):
    """(A background job: its two processes run, niced, while other tests do.) `python -m apps.train
    --strategy=multi_worker` as two local worker processes (TF_CONFIG on loopback ports chosen now) on tiny data:
    (the npz, the model_dir, the workers' exit statuses, their outputs)."""
    import json  # pylint: disable=g-import-not-at-top
    import os  # pylint: disable=g-import-not-at-top
    import subprocess  # pylint: disable=g-import-not-at-top
    import sys  # pylint: disable=g-import-not-at-top

    from app_runs import niced, write_tiny_npz  # pylint: disable=g-import-not-at-top

    tiny_npz = write_tiny_npz(work / "tiny.npz")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    cluster = {"worker": [f"localhost:{port}" for port in free_ports(2)]}
    model_dir = str(work / "run")
    command = [sys.executable, "-m", "apps.train", "--strategy=multi_worker", f"--dataset=npz:{tiny_npz}",
               f"--model_dir={model_dir}", "--architecture=mlp", "--hidden_units=8", "--latent_dim=2",
               "--batch_size=16", "--epochs=2", "--learning_rate=0.01"]
    workers = []
    for index in range(2):
        env = {**os.environ, "PYTHONPATH": root,
               "TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})}
        workers.append(subprocess.Popen(niced(command), cwd=root, env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True))
    outputs = [w.communicate(timeout=900)[0] for w in workers]  # at a low priority (niced): minutes on a busy machine
    return tiny_npz, model_dir, [w.returncode for w in workers], outputs


BACKGROUND = {"two_workers": train_two_workers}  # started with the session (tests/conftest.py)


@pytest.fixture
def two_workers(background):
    return background.get(train_two_workers).result()


@pytest.mark.slow  # the long tier (pytest.ini): four processes on loopback ports
def test_two_workers_train_together_like_one_process_and_only_the_chief_writes_outputs(tmp_path, two_workers):
    """--strategy=multi_worker with two local worker processes (train_two_workers): both end with the weights of one
    process trained on the same global batch of 16 (each worker reads 8 of its images)."""
    import os  # pylint: disable=g-import-not-at-top

    tiny_npz, model_dir, returncodes, outputs = two_workers
    # The same model, data and flags in this process on one device (no XLA: the workers' replicas on CPUs cannot
    # use it, and XLA draws other random numbers).
    data = load(f"npz:{tiny_npz}")
    single = families.train(
        make_config(input_shape=data.shape, architecture="mlp", hidden_units=(8,), latent_dim=2),
        TrainConfig(dataset=f"npz:{tiny_npz}", batch_size=16, epochs=2, learning_rate=0.01, jit_compile=False),
        data, str(tmp_path / "single"), strategy=distribute.make_strategy("default"), verbose=0, validate=False)
    assert returncodes == [0, 0], outputs[0][-3000:] + outputs[1][-3000:]
    assert "2 replica(s)" in outputs[0]
    assert os.path.exists(os.path.join(model_dir, "export", "8", "saved_model.pb"))  # 64 / 16 = 4 steps, 2 epochs
    assert os.path.exists(os.path.join(model_dir, "samples.png"))
    worker_dir = os.path.join(model_dir, "workers", "worker-1")
    assert os.path.isdir(os.path.join(worker_dir, "checkpoints")) and not os.path.exists(os.path.join(worker_dir,
                                                                                                      "export"))
    chief_step, chief = checkpoint_weights(os.path.join(model_dir, "checkpoints"))
    worker_step, worker = checkpoint_weights(os.path.join(worker_dir, "checkpoints"))
    assert chief_step == worker_step == training.step_of(single.optimizer) == 8
    assert len(chief) == len(single.weights) > 0
    initial = [w.numpy() for w in training.compiled(lambda: families.make_model(single.config), single.config.seed, distribute.make_strategy(
        "default"), 4)[0].weights]
    for a, b, one, start in zip(chief, worker, single.weights, initial):
        np.testing.assert_array_equal(a, b)  # all-reduced gradients: the workers apply identical updates
        # One process against two: the same batches and noise, summed in another order.
        np.testing.assert_allclose(a, one.numpy(), rtol=1e-4, atol=1e-5)
        if start.size > 1:  # every weight matrix moved (a global batch of 32 would have moved it elsewhere)
            assert np.abs(a - start).max() > 1e-3


@pytest.mark.skipif(bool(tf.config.list_logical_devices("GPU")), reason="the CPU's rule (on a GPU: always XLA)")
def test_xla_auto_on_a_cpu_is_for_float32_models_without_convolutions():
    from tfvae.nets import ConvEncoder, MLPEncoder

    strategy = tf.distribute.get_strategy()
    conv, mlp = ConvEncoder((4, 8), 3), MLPEncoder((5,), 3)
    assert distribute.has_convolutions(conv) and not distribute.has_convolutions(mlp)  # found inside blocks too
    assert distribute.use_jit("auto", strategy, "float32", distribute.has_convolutions(mlp))
    assert not distribute.use_jit("auto", strategy, "float32", distribute.has_convolutions(conv))
    assert not distribute.use_jit("auto", strategy, "mixed_bfloat16", False)
    assert distribute.use_jit("on", strategy, "mixed_bfloat16", True)
    assert not distribute.use_jit("off", strategy, "float32", False)
    # fit decides for the model it makes
    model, _ = training.compiled(lambda: families.make_model(make_config(input_shape=(8, 8, 1), hidden_units=(4,))),
                                 0, strategy, 4, jit_compile="auto")
    assert not model.jit_compile
