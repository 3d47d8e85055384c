"""Benchmark: the MLP VAE of the literature and the default conv VAE on `mnist_offline`.

    python benchmarks/vae_mnist.py                 # both models (about 15 minutes on 2 CPU cores)
    python benchmarks/vae_mnist.py --models=mlp    # only the MLP VAE

MLP VAE (Kingma & Welling 2014; Burda et al. 2016): 784-512-16 with a Gaussian latent, Bernoulli likelihood, a fixed
static binarization, batch 128, Adam 1e-3, 30 epochs. Reports training throughput (images/s, steady state: epochs 2
onwards, so XLA compilation is excluded: images per epoch / median epoch time; the mean and the whole run's wall time
are reported too) and the test NLL with 500
importance samples. The default conv model is `python -m apps.train`'s (dynamic binarization, 30 epochs).
Results are printed as a Markdown table and written to benchmarks/results/vae_mnist.json.
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
from tfvae.config import VAEConfig  # noqa: E402

flags.DEFINE_list("models", ["mlp", "conv"], "which models to run")
flags.DEFINE_integer("epochs", 30, "training epochs")
flags.DEFINE_integer("num_samples", 500, "importance samples for the test NLL")
flags.DEFINE_string("output", os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "vae_mnist.json"),
                    "JSON results")
FLAGS = flags.FLAGS

MODELS = {
    "mlp": VAEConfig(input_shape=(28, 28, 1), architecture="mlp", hidden_units=(512,), latent_dim=16,
                       likelihood="bernoulli", pixels="static_binary"),
    "conv": VAEConfig(input_shape=(28, 28, 1)),  # apps.train's default model
}


def run(name, data):
    return {"model": name, **common.train_and_evaluate(MODELS[name], data, FLAGS.epochs, FLAGS.num_samples)}


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    data = data_lib.load("mnist_offline")
    rows = [run(name, data) for name in FLAGS.models]
    machine = common.machine()
    print(f"\nmnist_offline (8,000 train / 2,000 test), {FLAGS.epochs} epochs, batch 128; {machine}\n")
    print(f"| model | params | train images/s (median / mean) | train wall | test NLL ({FLAGS.num_samples} IS) | bits/dim "
          "| ELBO | rate | active units |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} ({r['pixels']}) | {r['params']:,} | {r['images_per_s']:,.0f} / {r['images_per_s_mean']:,.0f} | {r['train_wall_s']:.0f} s "
              f"| {r['nll']:.2f} | {r['bits_per_dim']:.4f} | {r['elbo']:.2f} | {r['rate']:.2f} "
              f"| {r['active_units']}/{len(r['kl_per_dim'])} |")
    os.makedirs(os.path.dirname(FLAGS.output), exist_ok=True)
    with open(FLAGS.output, "w") as f:
        json.dump({"machine": machine, "results": rows}, f, indent=2)


if __name__ == "__main__":
    app.run(main)
