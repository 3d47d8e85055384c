"""Device check, throughput (run by benchmarks/device_check.sh): training examples per second of the MLP and conv
VAE, the VQ-VAE and its PixelCNN prior, the colorizer and the learned patch denoiser, in float32 and mixed precision,
on this machine's first GPU, or on its CPU with --cpu.

    python benchmarks/device_throughput.py                  # GPU batch sizes; float32 and mixed precision
    python benchmarks/device_throughput.py --cpu            # CPU batch sizes (device_check.sh --cpu)
    python benchmarks/device_throughput.py --models=conv_vae --precisions=float32,mixed_float16 --budget_s=120

Every case trains the model from its config through the library's own training function (`families.train`; the
VQ-VAE's `train_stage("prior")` on the codes of the first VQ-VAE case; `training.fit` for the DenoiserPrior, as
`deep_prior.fit_denoiser` does) with --jit_compile=auto (tfvae/distribute.py: use_jit; XLA on a GPU, on a CPU for
float32 only), for --epochs epochs of --steps steps of the model's batch size (BATCHES; the data are repeated or cut to
that many examples: MNIST for the VAEs and the VQ-VAE, synthetic colour pictures for the colorizer, synthetic
correlated patches for the denoiser). Throughput: examples per epoch over the median epoch time from epoch 2 on (the
first compiles); the mean is beside it. `mixed` in --precisions is mixed_bfloat16 where the device computes in
bfloat16 (GPUs of compute capability 8.0 or more, and CPUs), else mixed_float16. A case that would start after
--budget_s seconds is listed as skipped, so the script ends in time.

Writes --output (default benchmarks/results/device_check_<device>.json: the device's name from
tf.config.experimental.get_device_details, or "cpu"; every case, with the GPU's peak memory) and prints a table.
"""

import json
import math
import os
import re
import shutil
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402
from absl import logging  # noqa: E402

from benchmarks import common  # noqa: E402
from tfvae import data as data_lib  # noqa: E402
from tfvae import families, training  # noqa: E402
from tfvae.colorization import data as colour_data  # noqa: E402
from tfvae.config import PriorConfig, TrainConfig  # noqa: E402
from tfvae.restoration import deep_prior  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
MODELS = ("mlp_vae", "conv_vae", "vqvae", "prior", "colorize", "denoiser")
# Global batch sizes: on a GPU large enough to keep it busy (an H200's 141 GB hold far more than any of these needs),
# on a CPU small enough that an epoch of --steps steps takes seconds on two cores.
BATCHES = {"gpu": {"mlp_vae": 1024, "conv_vae": 512, "vqvae": 512, "prior": 512, "colorize": 64, "denoiser": 4096},
           "cpu": {"mlp_vae": 128, "conv_vae": 64, "vqvae": 64, "prior": 64, "colorize": 16, "denoiser": 512}}
CROP = {"gpu": 64, "cpu": 32}  # colorize: the side of its training crops (and about that of its pictures)
PATCH_DIM = 64  # denoiser: DC-removed 8x8 patches

flags.DEFINE_bool("cpu", False, "measure the CPU (GPUs hidden) with the CPU batch sizes")
flags.DEFINE_list("models", list(MODELS), f"which of {MODELS}")
flags.DEFINE_list("precisions", ["float32", "mixed"], "precisions of every model (mixed: bfloat16 where the device "
                  "has it, else float16)")
flags.DEFINE_integer("steps", 0, "steps per epoch (0: 40 on a GPU, 8 on the CPU)")
flags.DEFINE_integer("epochs", 3, "epochs per case; the first, which compiles, is not timed")
flags.DEFINE_float("budget_s", 0, "start no case after this many seconds (0: no limit)")
flags.DEFINE_string("output", "", "JSON results (default benchmarks/results/device_check_<device>.json)")
FLAGS = flags.FLAGS


def slug(name):
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def describe_device(kind):
    """{"name", ...} of the measured device: the first GPU's name and compute capability, or "cpu"."""
    info = {"kind": kind, "machine": common.machine(), "tensorflow": tf.__version__}
    if kind == "cpu":
        return {"name": "cpu", **info}
    gpus = tf.config.list_physical_devices("GPU")
    details = tf.config.experimental.get_device_details(gpus[0])
    capability = details.get("compute_capability")
    return {"name": details.get("device_name", "GPU"), **info, "gpus": len(gpus),
            "compute_capability": list(capability) if capability else None}


def mixed_policy(device):
    """mixed_bfloat16, or mixed_float16 on a GPU without bfloat16 arithmetic (compute capability below 8.0)."""
    capability = device.get("compute_capability")
    old_gpu = device["kind"] == "gpu" and capability and tuple(capability) < (8, 0)
    return "mixed_float16" if old_gpu else "mixed_bfloat16"


def repeated(array, count):
    """The first `count` rows of array, repeated as often as needed."""
    return np.concatenate([array] * math.ceil(count / len(array)))[:count]


def write_pictures(folder, count, side, rng):
    """count smooth colour pictures [side, side + 8, 3] (PNG) in folder."""
    grid = np.stack(np.meshgrid(np.linspace(0, 3, side + 8), np.linspace(0, 3, side)), -1)
    for i in range(count):
        layers = [0.5 + 0.45 * np.sin(grid @ rng.normal(size=2) + rng.uniform(0, 6)) for _ in range(3)]
        picture = np.round(np.stack(layers, -1) * 255).astype(np.uint8)
        data_lib.write_image(os.path.join(folder, f"{i:04d}.png"), picture)


class Cases:
    """The training cases on one device; run(model, precision) -> a row of the results."""

    def __init__(self, kind, steps, epochs, work):
        self.kind, self.steps, self.epochs, self.work = kind, steps, epochs, work
        self.mnist = data_lib.load("mnist_offline")
        self.rng = np.random.default_rng(0)
        self.phase_one = None  # the model_dir of the first VQ-VAE case, whose codes the prior cases model

    def run(self, model, precision):
        batch_size = BATCHES[self.kind][model]
        timer = common.EpochTimer()
        if self.kind == "gpu":
            tf.config.experimental.reset_memory_stats("GPU:0")
        start = time.perf_counter()
        getattr(self, model)(precision, batch_size, [timer])
        wall = time.perf_counter() - start
        per_epoch = batch_size * self.steps
        rest = sorted(timer.times[1:] or timer.times)
        row = {"model": model, "precision": precision, "batch_size": batch_size, "steps_per_epoch": self.steps,
               "epochs": self.epochs, "xla": bool(timer.model.jit_compile),
               "examples_per_s": per_epoch / rest[len(rest) // 2],
               "examples_per_s_mean": per_epoch * len(rest) / sum(rest), "epoch_s": timer.times, "wall_s": wall}
        if self.kind == "gpu":
            row["peak_memory_bytes"] = tf.config.experimental.get_memory_info("GPU:0")["peak"]
        else:
            row["load_average"] = os.getloadavg()[0]
        return row

    def train_config(self, batch_size):
        return TrainConfig(batch_size=batch_size, epochs=self.epochs, learning_rate=1e-3, jit_compile="auto",
                           steps_per_execution=self.steps)

    def images(self, batch_size):
        """MNIST with exactly batch_size x steps training images."""
        self.mnist.x_train = repeated(self.mnist.x_train, batch_size * self.steps)
        self.mnist.y_train = repeated(self.mnist.y_train, batch_size * self.steps)
        return self.mnist

    def train(self, config, data, batch_size, callbacks):
        model_dir = tempfile.mkdtemp(dir=self.work)
        families.train(config, self.train_config(batch_size), data, model_dir, verbose=0, validate=False,
                       callbacks=callbacks)
        return model_dir

    def mlp_vae(self, precision, batch_size, callbacks):
        config = families.make_config(input_shape=(28, 28, 1), architecture="mlp", hidden_units=(512,),
                                      latent_dim=16, precision=precision)
        self.train(config, self.images(batch_size), batch_size, callbacks)

    def conv_vae(self, precision, batch_size, callbacks):
        config = families.make_config(input_shape=(28, 28, 1), precision=precision)  # apps.train's default model
        self.train(config, self.images(batch_size), batch_size, callbacks)

    def vqvae(self, precision, batch_size, callbacks):
        config = families.make_config(model="vqvae", input_shape=(28, 28, 1), likelihood="gaussian",
                                      pixels="continuous", precision=precision)
        model_dir = self.train(config, self.images(batch_size), batch_size, callbacks)
        self.phase_one = self.phase_one or model_dir

    def prior(self, precision, batch_size, callbacks):
        """The default PixelCNN prior (8 gated layers of 32 channels) on the 7x7 codes of a phase-I VQ-VAE."""
        if self.phase_one is None:  # without a vqvae case: a phase I of --epochs short epochs, untimed
            self.vqvae("float32", BATCHES[self.kind]["vqvae"], [])
        model_dir = tempfile.mkdtemp(dir=self.work)
        shutil.copytree(self.phase_one, model_dir, dirs_exist_ok=True)
        families.get("vqvae").train_stage("prior", model_dir, families.restore(model_dir),
                                          PriorConfig(precision=precision), self.train_config(batch_size),
                                          self.images(batch_size), verbose=0, validate=False, callbacks=callbacks)

    def colorize(self, precision, batch_size, callbacks):
        """The default colorizer on crops of synthetic pictures: 8 crops of each training picture per epoch."""
        folder = os.path.join(self.work, f"colour-{batch_size}")
        if not os.path.isdir(folder):
            os.makedirs(folder)
            wanted = math.ceil(batch_size * self.steps / colour_data.CROPS_PER_IMAGE)  # training pictures
            # every 10th is held out for testing, every 20th of the rest for validation
            count = next(n for n in range(10, 3 * wanted + 10) if (n - n // 10) - (n - n // 10) // 20 == wanted)
            write_pictures(folder, count, CROP[self.kind], self.rng)
        data = colour_data.load(f"folder:{folder}", CROP[self.kind])
        config = families.make_config(model="colorize", input_shape=data.shape, precision=precision)
        self.train(config, data, batch_size, callbacks)

    def denoiser(self, precision, batch_size, callbacks):
        """The default DenoiserPrior (MLP 512-512-512) on synthetic correlated patches, as fit_denoiser trains it."""
        mixing = self.rng.normal(size=(PATCH_DIM, PATCH_DIM)) / PATCH_DIM ** 0.5
        patches = self.rng.normal(size=(batch_size * self.steps, PATCH_DIM)) @ mixing * 0.05
        patches = (patches - patches.mean(axis=1, keepdims=True)).astype(np.float32)
        table, scale = tf.constant(patches), float(np.sqrt(np.mean(patches ** 2)))

        def datasets(start_step):
            return data_lib.step_batches(len(patches), batch_size, 0, lambda step, index: tf.gather(table, index),
                                         start_step), None

        training.fit(lambda: deep_prior.DenoiserPrior(PATCH_DIM, data_scale=scale, precision=precision), datasets,
                     epochs=self.epochs, steps_per_epoch=self.steps, jit_compile="auto", per_execution=self.steps,
                     precision=precision, verbose=0, callbacks=callbacks)


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    tf.get_logger().setLevel("ERROR")  # not the retracing notes: every case compiles its own step
    if FLAGS.cpu:
        tf.config.set_visible_devices([], "GPU")  # before TensorFlow initializes its devices
    kind = "gpu" if tf.config.list_logical_devices("GPU") else "cpu"
    device = describe_device(kind)
    policies = [mixed_policy(device) if p == "mixed" else p for p in FLAGS.precisions]
    steps = FLAGS.steps or (40 if kind == "gpu" else 8)
    print(f"{device['name']}: {', '.join(FLAGS.models)} in {', '.join(policies)}, {FLAGS.epochs} epochs of {steps} "
          "steps each", flush=True)
    start = time.perf_counter()
    rows, skipped = [], []
    with tempfile.TemporaryDirectory() as work:
        cases = Cases(kind, steps, FLAGS.epochs, work)
        for model in FLAGS.models:
            for policy in policies:
                if FLAGS.budget_s and time.perf_counter() - start > FLAGS.budget_s:
                    skipped.append({"model": model, "precision": policy, "why": f"after --budget_s={FLAGS.budget_s:g}"})
                    print(f"{model}, {policy}: skipped (out of time)", flush=True)
                    continue
                row = cases.run(model, policy)
                rows.append(row)
                print(f"{model}, {policy}, batch {row['batch_size']}: {row['examples_per_s']:,.0f} examples/s "
                      f"(XLA {'on' if row['xla'] else 'off'}; {row['wall_s']:.0f} s with compilation)", flush=True)
    output = FLAGS.output or os.path.join(RESULTS, f"device_check_{slug(device['name'])}.json")
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    with open(output, "w") as f:
        json.dump({"device": device, "steps_per_epoch": steps, "epochs": FLAGS.epochs, "results": rows,
                   "skipped": skipped, "wall_s": time.perf_counter() - start}, f, indent=2)
    print(f"\n{device['name']}; {device['machine']}\n")
    print("| model | precision | batch | XLA | examples/s (median / mean) |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['precision']} | {r['batch_size']} | {'on' if r['xla'] else 'off'} | "
              f"{r['examples_per_s']:,.0f} / {r['examples_per_s_mean']:,.0f} |")
    print(f"\nwrote {output}")


if __name__ == "__main__":
    app.run(main)
