"""Benchmark: richer posteriors and priors against the diagonal VAE on `mnist_offline`.

    python benchmarks/flows_mnist.py                          # the whole table (about 30 minutes on 2 CPU cores)
    python benchmarks/flows_mnist.py --variants=diag,iaf4     # some rows

Every variant has the same MLP encoder/decoder (784-512-16, Bernoulli likelihood, a fixed static binarization) and
the same training (batch 128, Adam 1e-3, --epochs); they differ only in the bound, q(z|x) and p(z). Reports the test
NLL (--num_samples importance samples), ELBO, the rate split into mutual information and marginal KL (ELBO surgery,
500 draws), active units and training images/s. Results: a Markdown table on stdout and
benchmarks/results/flows_mnist.json.
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

BASE = dict(input_shape=(28, 28, 1), architecture="mlp", hidden_units=(512,), latent_dim=16, likelihood="bernoulli",
            pixels="static_binary")
VARIANTS = {
    "diag": ("diagonal VAE", {}),
    "iwae5": ("IWAE k=5", dict(iwae_k=5)),
    "iwae50": ("IWAE k=50", dict(iwae_k=50)),
    "planar8": ("planar K=8", dict(posterior="planar", flow_steps=8)),
    "radial8": ("radial K=8", dict(posterior="radial", flow_steps=8)),
    "iaf2": ("IAF 2 steps", dict(posterior="iaf", flow_steps=2)),
    "iaf4": ("IAF 4 steps", dict(posterior="iaf", flow_steps=4)),
    "realnvp": ("RealNVP prior", dict(prior="realnvp")),
    "maf": ("MAF prior", dict(prior="maf")),
    "mog": ("MoG prior (10)", dict(prior="mog")),
    "iaf_realnvp": ("IAF 4 steps + RealNVP prior", dict(posterior="iaf", flow_steps=4, prior="realnvp")),
}

flags.DEFINE_list("variants", list(VARIANTS), f"rows to run, of {list(VARIANTS)}")
flags.DEFINE_integer("epochs", 20, "training epochs (the same for every variant)")
flags.DEFINE_integer("num_samples", 1000, "importance samples for the test NLL")
flags.DEFINE_string("output", os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "flows_mnist.json"),
                    "JSON results")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    unknown = set(FLAGS.variants) - set(VARIANTS)
    if unknown:
        sys.exit(f"error: --variants: unknown {sorted(unknown)}; choose from {list(VARIANTS)}")
    data = data_lib.load("mnist_offline")
    rows = []
    for key in FLAGS.variants:
        label, options = VARIANTS[key]
        result = common.train_and_evaluate(VAEConfig(**BASE, **options), data, FLAGS.epochs, FLAGS.num_samples,
                                           surgery=500)
        rows.append({"variant": key, "label": label, **result})
        print(f"{label}: NLL {result['nll']:.2f}, ELBO {result['elbo']:.2f}, {result['images_per_s']:.0f} images/s",
              flush=True)
    diag = next((r for r in rows if r["variant"] == "diag"), None)
    print(f"\nmnist_offline, MLP 784-512-16, {FLAGS.epochs} epochs, batch 128; {common.machine()}\n")
    print(f"| variant | test NLL ({FLAGS.num_samples} IS) | vs diag | ELBO | rate | I[x;z] | KL(q_agg‖p) "
          "| active units | train images/s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        gap = f"{r['nll'] - diag['nll']:+.2f}" if diag else "n/a"
        surgery = r["elbo_surgery"]
        print(f"| {r['label']} | {r['nll']:.2f} | {gap} | {r['elbo']:.2f} | {r['rate']:.2f} "
              f"| {surgery['mutual_information']:.2f} | {surgery['marginal_kl']:.2f} | {r['active_units']}/16 "
              f"| {r['images_per_s']:,.0f} |")
    os.makedirs(os.path.dirname(FLAGS.output), exist_ok=True)
    with open(FLAGS.output, "w") as f:
        json.dump({"machine": common.machine(), "epochs": FLAGS.epochs, "results": rows}, f, indent=2)


if __name__ == "__main__":
    app.run(main)
