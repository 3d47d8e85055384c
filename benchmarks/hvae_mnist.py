"""Benchmark: hierarchical VAEs (--model=hvae) against the default conv VAE on `mnist_offline`, same wall clock.

    python benchmarks/hvae_mnist.py                        # conv VAEs, HVAEs of 2 and 4 levels: test split
    python benchmarks/hvae_mnist.py --split=validation     # the same on the validation split (for choices)
    python benchmarks/hvae_mnist.py --models=hvae2 --budget_s=60 --num_samples=100    # a quick look
    python benchmarks/hvae_mnist.py --models=hvae4_narrow,conv --seed=1 --tag=seed1   # a repeat with other seeds
    python benchmarks/hvae_mnist.py --summarize      # the margin of every test run on disk, their mean and spread

Every model trains with dynamic binarization, batch 128, Adam (learning rates: LEARNING_RATES), for the same
wall-clock budget (`--budget_s`: training stops at the end of the first epoch past it, so every model gets its
budget and at most one epoch more; the epochs done are reported). Evaluation: the importance-sampled NLL with
`--num_samples` draws per image (tfvae/evaluation.py), the ELBO, and the rate and active units of every level
(Burda et al.'s Cov_x(E_q[z_u]) > 0.01). Throughput is images per epoch over the median epoch time from epoch 2 on,
and per parameter.

Choices (widths, latents per level, free bits, warm-up, learning rates) are made with `--split=validation`:
training on the first 7,000 of the 8,000 training images and measuring on the last 1,000; the test split (2,000
images) is only measured.
Results go to benchmarks/results/hvae_mnist[_validation][_TAG].json and, for the test split, the pictures of
samples at temperatures 1.0 / 0.8 / 0.6 and of "keep the top k levels" of each hierarchy to
benchmarks/results/hvae_mnist_<model>[_TAG]/temperatures.png and top_levels.png.
"""

import dataclasses
import json
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402
from absl import logging  # noqa: E402

from benchmarks import common  # noqa: E402
from tfvae import data as data_lib  # noqa: E402
from tfvae import exploration, families  # noqa: E402
from tfvae.config import HVAEConfig, TrainConfig, VAEConfig  # noqa: E402
from tfvae.families.base import EvaluationOptions  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
VALIDATION_IMAGES = 1000  # the last 1,000 training images of mnist_offline

flags.DEFINE_list("models", ["hvae4_narrow", "conv_tuned", "hvae2", "conv"], "which models to run (keys of MODELS)")
flags.DEFINE_enum("split", "test", ["test", "validation"], "measure on the test split or the validation split")
flags.DEFINE_float("budget_s", 240.0, "training wall-clock budget of every model, seconds")
flags.DEFINE_integer("num_samples", 1000, "importance samples per image for the NLL")
flags.DEFINE_string("precision", "float32", "training precision of every model")
flags.DEFINE_float("learning_rate", None, "Adam's learning rate for every model (default: LEARNING_RATES)")
flags.DEFINE_integer("seed", 0, "seed of every model's weights, data order and noise (repeats: 1, 2, ...)")
flags.DEFINE_string("tag", "", "appended to the results' file name")
flags.DEFINE_bool("summarize", False, "train nothing: the margin of every test run on disk (hvae_mnist.json and "
                  "hvae_mnist_seed*.json), their mean and spread, into hvae_mnist_repeats.json")
FLAGS = flags.FLAGS

HVAE = dict(input_shape=(28, 28, 1), architecture="conv", warmup_steps=200)
MODELS = {
    "conv": VAEConfig(input_shape=(28, 28, 1)),  # apps.train's default model and learning rate
    "conv_tuned": VAEConfig(input_shape=(28, 28, 1)),  # the same at the learning rate chosen for it on validation
    # The hierarchies of the test run: levels at 14x14, 7x7, 4x4, 2x2 (ceil halving), few latent channels at the
    # bottom and more at the top, free bits against collapsed top levels (the wide variants below collapsed there).
    "hvae2": HVAEConfig(levels=2, hidden_units=(32, 64), latents_per_level=(2, 4), free_bits=0.02, **HVAE),
    "hvae4": HVAEConfig(levels=4, hidden_units=(32, 48, 48, 48), latents_per_level=(2, 4, 8, 16), free_bits=0.02,
                        **HVAE),
    # The 4-level model of the test run: of the 4-level models that train at least half the conv VAE's images/s per
    # weight on the validation split, the one with the best validation NLL (hvae4 reached 0.45 to 0.47 there).
    "hvae4_narrow": HVAEConfig(levels=4, hidden_units=(32, 48, 32, 32), latents_per_level=(2, 4, 8, 16),
                               free_bits=0.02, **HVAE),  # hvae4 with fewer weights on its small top maps
    # Measured on the validation split only (README): 8 latent channels at every level and no free bits; 5 levels.
    "hvae2_wide": HVAEConfig(levels=2, hidden_units=(32, 64), latents_per_level=(8,), **HVAE),
    "hvae4_wide": HVAEConfig(levels=4, hidden_units=(32, 48, 48, 48), latents_per_level=(8,), **HVAE),
    "hvae5": HVAEConfig(levels=5, hidden_units=(32, 48, 48, 48, 48), latents_per_level=(2, 4, 8, 16, 16),
                        free_bits=0.02, **HVAE),
}
# Adam's learning rate of each model, chosen on the validation split (README); 1e-3 where none is given.
LEARNING_RATES = {"conv_tuned": 2e-3, "hvae2": 2e-3, "hvae4": 2e-3, "hvae4_narrow": 2e-3}


def split(data):
    return data if FLAGS.split == "test" else common.validation_split(data, VALIDATION_IMAGES)


def train(name, data):
    """Trains MODELS[name] for the wall-clock budget; returns the model and its training row."""
    config = dataclasses.replace(MODELS[name], precision=FLAGS.precision, seed=FLAGS.seed)
    budget, timer = common.WallClockBudget(FLAGS.budget_s), common.EpochTimer()
    learning_rate = FLAGS.learning_rate or LEARNING_RATES.get(name, 1e-3)
    train_config = TrainConfig(batch_size=128, epochs=100000, learning_rate=learning_rate)
    with tempfile.TemporaryDirectory() as model_dir:
        start = time.perf_counter()
        model = families.train(config, train_config, data, model_dir, verbose=0, validate=False,
                               callbacks=[timer, budget])
        wall = time.perf_counter() - start
    params = int(sum(v.numpy().size for v in model.trainable_variables))
    images_per_s, _ = timer.throughput(data_lib.steps_per_epoch(len(data.x_train), 128) * 128)
    return model, dict(model=name, learning_rate=learning_rate, params=params, epochs=budget.epochs,
                       train_wall_s=wall, images_per_s=images_per_s, images_per_s_per_param=images_per_s / params,
                       config=dataclasses.asdict(config))


def measure(model, row, data):
    """Adds the importance-sampled NLL, ELBO and per-level rates (and, on the test split, the pictures) to row."""
    family = families.of(model.config)
    start = time.perf_counter()
    options = EvaluationOptions(num_samples=FLAGS.num_samples, surgery_samples=0, batch_size=100)
    results = family.evaluate(model, data, options)
    row["eval_wall_s"] = time.perf_counter() - start
    results.pop("kl_per_dim", None)
    results.pop("latent", None)
    row.update({k: v for k, v in results.items() if _plain(v)})
    name = row["model"]
    if FLAGS.split == "test" and name.startswith("hvae"):
        x = next(iter(family.test_batches(data, model.config, 1, 1))).numpy()
        folder = f"hvae_mnist_{name}" + (f"_{FLAGS.tag}" if FLAGS.tag else "")  # a repeat keeps the run's pictures
        paths = exploration.write_hierarchy(model, x, os.path.join(RESULTS, folder))
        row["pictures"] = [os.path.relpath(p, RESULTS) for p in paths]
    return row


def _plain(value):
    try:
        json.dumps(value)
        return True
    except TypeError:
        return False


def summarize():
    """Per test run on disk with the conv VAE and hvae4_narrow: both NLLs and the margin (conv - hvae4_narrow, nats),
    and the mean and sample standard deviation of the margins over the runs."""
    import glob  # pylint: disable=g-import-not-at-top
    import numpy as np  # pylint: disable=g-import-not-at-top

    runs = []
    for path in sorted(glob.glob(os.path.join(RESULTS, "hvae_mnist.json")) +
                       glob.glob(os.path.join(RESULTS, "hvae_mnist_seed*.json"))):
        with open(path) as f:
            record = json.load(f)
        nll = {r["model"]: r["nll"] for r in record["results"]}
        if record["split"] == "test" and {"conv", "hvae4_narrow"} <= set(nll):
            runs.append(dict(file=os.path.basename(path), seed=record.get("seed", 0), conv=nll["conv"],
                             hvae4_narrow=nll["hvae4_narrow"], margin=nll["conv"] - nll["hvae4_narrow"]))
    if not runs:
        sys.exit(f"error: no test run with conv and hvae4_narrow in {RESULTS}")
    margins = np.array([r["margin"] for r in runs])
    summary = dict(runs=runs, mean_margin=float(margins.mean()),
                   std_margin=float(margins.std(ddof=1)) if len(runs) > 1 else None,
                   mean_conv=float(np.mean([r["conv"] for r in runs])),
                   mean_hvae4_narrow=float(np.mean([r["hvae4_narrow"] for r in runs])))
    print("| run | seed | conv VAE NLL | hvae4_narrow NLL | margin |\n|---|---|---|---|---|")
    for r in runs:
        print(f"| {r['file']} | {r['seed']} | {r['conv']:.2f} | {r['hvae4_narrow']:.2f} | {r['margin']:.2f} |")
    spread = f" (sample std {summary['std_margin']:.2f})" if summary["std_margin"] is not None else ""
    print(f"mean margin over {len(runs)} runs: {summary['mean_margin']:.2f} nats{spread}")
    with open(os.path.join(RESULTS, "hvae_mnist_repeats.json"), "w") as f:
        json.dump(summary, f, indent=2)


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    if FLAGS.summarize:
        return summarize()
    data = split(data_lib.load("mnist_offline"))
    # Every model trains before any is evaluated, so the timed budgets run back to back (nothing else running
    # on the machine is needed for the throughput and the epochs only while they do).
    trained = []
    for name in FLAGS.models:
        trained.append(train(name, data))
        print(f"trained {name}: {trained[-1][1]['epochs']} epochs", flush=True)
    rows = []
    for model, row in trained:
        rows.append(measure(model, row, data))
        print(json.dumps({k: v for k, v in rows[-1].items() if k != "config"}), flush=True)
    machine = common.machine()
    print(f"\n{data.name} ({len(data.x_train):,} train / {len(data.x_test):,} measured), dynamic binarization, "
          f"batch 128, Adam, {FLAGS.budget_s:.0f} s of training each, {FLAGS.precision}; {machine}\n")
    print(f"| model | learning rate | params | epochs | images/s | images/s per 1k params | NLL ({FLAGS.num_samples} IS) | ELBO "
          "| rate | per level: KL (active units) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        levels = r.get("levels") or [dict(level=1, kl=r["rate"], active_units=r["active_units"],
                                          latents=r["latent_dim"])]
        per_level = ", ".join(f"{l['kl']:.1f} ({l['active_units']}/{l['latents']})" for l in levels)
        print(f"| {r['model']} | {r['learning_rate']:g} | {r['params']:,} | {r['epochs']} | {r['images_per_s']:,.0f} "
              f"| {1000 * r['images_per_s_per_param']:.2f} | {r['nll']:.2f} | {r['elbo']:.2f} | {r['rate']:.2f} "
              f"| {per_level} |")
    suffix = ("" if FLAGS.split == "test" else "_validation") + (f"_{FLAGS.tag}" if FLAGS.tag else "")
    os.makedirs(RESULTS, exist_ok=True)
    with open(os.path.join(RESULTS, f"hvae_mnist{suffix}.json"), "w") as f:
        json.dump({"machine": machine, "split": FLAGS.split, "seed": FLAGS.seed, "budget_s": FLAGS.budget_s,
                   "num_samples": FLAGS.num_samples, "precision": FLAGS.precision, "results": rows}, f, indent=2)


if __name__ == "__main__":
    app.run(main)
