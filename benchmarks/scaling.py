"""Benchmark: training throughput with 1 and 2 replicas (data parallelism, tf.distribute) and the scaling efficiency.

    python benchmarks/scaling.py                         # MLP and conv VAE on mnist_offline, 1 and 2 replicas
    python benchmarks/scaling.py --replicas=1,2,4,8      # on a machine with 8 GPUs
    python benchmarks/scaling.py --models=mlp --epochs=2 --train_images=1024   # a quick check that it runs

Replicas are GPUs when the machine has enough of them (N replicas: `--strategy=mirrored` over the first N), else
logical devices split from the CPU (`--cpu_devices`; they share the same cores, so on a CPU the figure is the cost
of the replica machinery, not a speed-up). 1 replica is the default strategy, what one device runs. The global
batch (--batch_size) is the same for every replica count, as `--batch_size` is under `apps.train`; each replica
gets batch_size / N. XLA is used on GPUs for every count and nowhere on CPUs (it cannot compile a step whose
variables are mirrored over logical CPU devices, so 1 replica runs without it too, to compare like with like).

Throughput: training images per second, images per epoch over the median epoch time from epoch 2 on (compilation
excluded; benchmarks/common.py). Scaling efficiency of N replicas: images/s(N) / (N x images/s(1)). Results: a
Markdown table on stdout and benchmarks/results/scaling.json.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402
from absl import logging  # noqa: E402

from benchmarks import common  # noqa: E402
from tfvae import data as data_lib  # noqa: E402
from tfvae import distribute  # noqa: E402
from tfvae.config import TrainConfig, VAEConfig  # noqa: E402

flags.DEFINE_list("models", ["mlp", "conv"], "which models to run")
flags.DEFINE_list("replicas", ["1", "2"], "replica counts to measure")
flags.DEFINE_integer("epochs", 4, "training epochs per measurement (the first is not timed)")
flags.DEFINE_integer("batch_size", 128, "global batch size, for every replica count")
flags.DEFINE_integer("train_images", 0, "use only this many training images (0: all 8,000)")
flags.DEFINE_string("output", os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "scaling.json"),
                    "JSON results")
FLAGS = flags.FLAGS

MODELS = {  # the models of benchmarks/vae_mnist.py
    "mlp": VAEConfig(input_shape=(28, 28, 1), architecture="mlp", hidden_units=(512,), latent_dim=16,
                       likelihood="bernoulli", pixels="static_binary"),
    "conv": VAEConfig(input_shape=(28, 28, 1)),  # apps.train's default model
}


def devices(most):
    """('GPU' or 'CPU', how many): GPUs if there are at least `most`, else `most` logical CPU devices (split now)."""
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    gpus = tf.config.list_physical_devices("GPU")
    if len(gpus) >= most:
        return "GPU", len(gpus)
    distribute.split_cpu(most)
    return "CPU", most


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    counts = sorted({int(r) for r in FLAGS.replicas})
    kind, available = devices(max(counts))
    data = data_lib.load("mnist_offline")
    if FLAGS.train_images:
        data.x_train = data.x_train[:FLAGS.train_images]
    train_config = TrainConfig(batch_size=FLAGS.batch_size, epochs=FLAGS.epochs, learning_rate=1e-3,
                               jit_compile=kind == "GPU")
    rows = []
    for name in FLAGS.models:
        single = None
        for count in counts:
            strategy = distribute.make_strategy("default" if count == 1 else "mirrored", num_devices=count)
            result = common.measure_training(MODELS[name], train_config, data, strategy)
            single = single or (result["images_per_s"] if count == 1 else None)
            efficiency = result["images_per_s"] / (count * single) if single else None
            rows.append({"model": name, "replicas": count, "efficiency": efficiency, **result})
            print(f"{name}, {count} replica(s): {result['images_per_s']:,.0f} images/s", flush=True)
    machine = common.machine()
    where = f"{kind} devices ({'logical, on one CPU' if kind == 'CPU' else f'{available} on the machine'})"
    print(f"\nmnist_offline ({len(data.x_train):,} train images), global batch {FLAGS.batch_size}, {FLAGS.epochs} "
          f"epochs; replicas on {where}; {machine}\n")
    print("| model | replicas | train images/s (median / mean) | scaling efficiency |")
    print("|---|---|---|---|")
    for r in rows:
        efficiency = "" if r["efficiency"] is None else f"{r['efficiency']:.0%}"
        print(f"| {r['model']} | {r['replicas']} | {r['images_per_s']:,.0f} / {r['images_per_s_mean']:,.0f} "
              f"| {efficiency} |")
    os.makedirs(os.path.dirname(FLAGS.output), exist_ok=True)
    with open(FLAGS.output, "w") as f:
        json.dump({"machine": machine, "devices": where, "batch_size": FLAGS.batch_size, "epochs": FLAGS.epochs,
                   "train_images": len(data.x_train), "results": rows}, f, indent=2)


if __name__ == "__main__":
    app.run(main)
