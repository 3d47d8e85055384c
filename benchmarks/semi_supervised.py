"""Benchmark: semi-supervised classification with M1, M2 and M1+M2 (Kingma et al. 2014), and the classification
accuracy score (Ravuri & Vinyals 2019) of the class-conditional models, on `mnist_offline`.

    nice python benchmarks/semi_supervised.py                  # about 90 minutes on 2 CPU cores
    python benchmarks/semi_supervised.py --labels=100 --epochs_m2=5 --epochs_m1=5 --cas_per_class=50   # a smoke run
    python benchmarks/semi_supervised.py --report_only           # the tables of the last run, after REPORT_EPOCHS

mnist_offline is 8,000 training and 2,000 test images of the real MNIST test set (not the 50,000 / 10,000 of the
paper). For N labels in --labels the labelled subset is class balanced (tfvae/semi_supervised.py, seed 0) and every
other training image is unlabelled. Models (dynamic binarization, Bernoulli p(x|.), batch 128, Adam 1e-3):
- plain: the fixed image classifier (tfvae/classifiers.py) on the N labelled images alone;
- M1: a VAE 784-600-600-50 on all training images, then the fixed vector classifier on the latent means of the N
  labelled ones;
- M2: q(z|x, y) and p(x|y, z) MLPs of 500 hidden units, 50 latents, q(y|x) the plain baseline's network
  (--classifier=fixed), the labelled bound weighed 1/2 (--labelled_weight), --alpha 20, half of every batch labelled,
  one noise draw shared by U's classes: the defaults, chosen on the validation split with benchmarks/m2_diagnosis.py;
- M1+M2: that M2 (Gaussian p(z1|y, z2) with a learned scale per latent, --gaussian_scale=per_channel; the fixed
  vector classifier as q(y|z1)) on the latent means z1 of the M1 (--m1_features=mean). Both were chosen on the
  validation split (results/m2_diagnosis_m1_m2_long*.json: 200 epochs, 100 labels, q(y|x) error 11.8% for mean /
  per_channel against 13.8% mean / learned, 14.2% sample / per_channel, 15.5% sample / learned).
M2 and M1+M2 train for --epochs_m2 and --epochs_m1_m2 epochs (at most --max_minutes each; the CVAE --epochs_cvae) and
are reported after the epoch chosen on validation for each (REPORT_EPOCHS); --models=m1_m2 re-runs one of them into
the existing record. Their test error every --every epochs is recorded (the error over training).
CAS: the fixed image classifier trained on --cas_per_class draws per class from the CVAE (all 8,000 labels), M2 and
M1+M2 (100 labels), tested on the real test set, beside the same classifier trained on the 8,000 real training
images. Results go to benchmarks/results/semi_supervised.json and are printed as Markdown tables.
"""

import dataclasses
import json
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402
from absl import app, flags  # noqa: E402
from absl import logging  # noqa: E402

from benchmarks import common  # noqa: E402
from tfvae import cas, classifiers, families, semi_supervised  # noqa: E402
from tfvae import data as data_lib  # noqa: E402
from tfvae.config import ConditionalConfig, TrainConfig, VAEConfig  # noqa: E402

SHAPE = (28, 28, 1)
M1 = VAEConfig(input_shape=SHAPE, architecture="mlp", hidden_units=(600, 600), latent_dim=50)
M2 = ConditionalConfig(model="m2", input_shape=SHAPE, architecture="mlp", hidden_units=(500,), latent_dim=50)
CVAE = ConditionalConfig(model="cvae", input_shape=SHAPE, architecture="mlp", hidden_units=(500,), latent_dim=50)

flags.DEFINE_list("labels", ["100", "600", "1000"], "numbers of labelled training images")
flags.DEFINE_integer("epochs_m1", 50, "training epochs of the M1 VAE")
flags.DEFINE_integer("epochs_m2", 300, "training epochs of M2")
flags.DEFINE_integer("epochs_m1_m2", 520, "training epochs of M1+M2")
flags.DEFINE_list("models", ["m2", "m1_m2"], "which of m2, m1_m2 to train; with one, its fields (rows, CAS) replace "
                  "those of the existing --output record, and the CVAE is not trained")
flags.DEFINE_integer("epochs_cvae", 30, "training epochs of the CVAE (CAS)")
flags.DEFINE_float("max_minutes", 60, "training of one M2 or M1+M2 stops at the first epoch end past this")
flags.DEFINE_integer("every", 5, "epochs between two test errors of the error-over-training record")
flags.DEFINE_bool("report_only", False, "print the tables of the --output record of an earlier run, its M2 and M1+M2 "
                  "errors read off the error over training at REPORT_EPOCHS, and rewrite it; trains nothing")
flags.DEFINE_integer("cas_per_class", 800, "generated images per class for the CAS (0: no CAS, no CVAE)")
flags.DEFINE_float("alpha", M2.alpha, "M2's --alpha (the paper's alpha over N: it used 0.1)")
flags.DEFINE_float("labelled_weight", M2.labelled_weight, "M2's --labelled_weight (0: N_l / N, the paper's)")
flags.DEFINE_enum("classifier", M2.classifier, ["encoder", "fixed"], "M2's --classifier (the network of q(y|x))")
flags.DEFINE_string("output", os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                                           "semi_supervised.json"), "JSON results")
FLAGS = flags.FLAGS

# The epoch after which M2 and M1+M2 are reported: that of the lowest validation error with 100 labels
# (benchmarks/m2_diagnosis.py, 20 epochs apart: results/m2_diagnosis_m2_long.json, M2 over 300 epochs, lowest at 300;
# results/m2_diagnosis_m1_m2_600_mean_per_channel.json, M1+M2 over 600 epochs, lowest at 520: 10.6%, on a plateau of
# 10.6 to 11.6% from epoch 220 on). 600 and 1,000 labels were not validated this long; they take the same epochs.
REPORT_EPOCHS = {("m2", 100): 300, ("m1_m2", 100): 520, ("m2", 600): 300, ("m1_m2", 600): 520, ("m2", 1000): 300,
                 ("m1_m2", 1000): 520}


class ErrorOverTraining(keras.callbacks.Callback):
    """The test error of q(y|x) every `every` epochs and at the end: history [{epoch, train_s, test_error}]."""

    def __init__(self, data, every):
        super().__init__()
        self.data, self.every, self.history = data, every, []

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every == 0 or self.model.stop_training:
            self.history.append({"epoch": epoch + 1, "train_s": round(time.perf_counter() - self.start, 1),
                                 "test_error": semi_supervised.m2_error(self.model, self.data)})


def train(model_config, data, model_dir, epochs, num_labels=0, callbacks=()):
    start = time.perf_counter()
    model = families.train(model_config, TrainConfig(batch_size=128, epochs=epochs, num_labels=num_labels), data,
                           model_dir, verbose=0, validate=False, callbacks=callbacks)
    return model, time.perf_counter() - start


def reported(row, name):
    """The test error of model `name` in a row at its REPORT_EPOCHS epoch (the last recorded where training stopped
    earlier or the epoch is not listed)."""
    history = row[f"{name}_history"]
    epoch = REPORT_EPOCHS.get((name, row["num_labels"]), history[-1]["epoch"])
    at = [h for h in history if h["epoch"] == epoch] or history[-1:]
    return at[0]["test_error"], at[0]["epoch"]


def report(record):
    """Sets the reported errors of every row and prints the tables."""
    rows, cas_rows = record["test_error"], record["cas"]
    for r in rows:
        for name in ("m2", "m1_m2"):
            r[name], r[f"{name}_report_epoch"] = reported(r, name)
    print(f"\nmnist_offline (8,000 train / 2,000 test); M1 VAE {record['epochs_m1']} epochs, M2 / M1+M2 trained "
          f"{record['epochs_m2']} / {record.get('epochs_m1_m2', record['epochs_m2'])} epochs and reported at "
          "REPORT_EPOCHS, "
          f"CVAE {record.get('epochs_cvae', record['epochs_m2'])}; alpha "
          f"{record['alpha']}, labelled weight {record['labelled_weight']}, classifier {record['classifier']}; "
          f"{record['machine']}\n")
    print("| labels | plain classifier | M1 | M2 (epoch) | M1+M2 (epoch) |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['num_labels']} | {r['plain']:.2%} | {r['m1']:.2%} | {r['m2']:.2%} ({r['m2_report_epoch']}) | "
              f"{r['m1_m2']:.2%} ({r['m1_m2_report_epoch']}) |")
    if cas_rows:
        print(f"\n| generator | CAS ({record['cas_per_class']} draws per class) | real-data accuracy |\n|---|---|---|")
    for r in cas_rows:
        print(f"| {r['model']} | {r['cas']:.2%} | {r['real']:.2%} |")
    print("\nTest error over training (epoch: error):")
    for r in rows:
        for name in ("m2", "m1_m2"):
            print(f"{r['num_labels']} labels, {name}: "
                  + ", ".join(f"{h['epoch']}: {h['test_error']:.2%}" for h in r[f"{name}_history"]))


def write(record):
    os.makedirs(os.path.dirname(FLAGS.output), exist_ok=True)
    with open(FLAGS.output + ".tmp", "w") as f:
        json.dump(record, f, indent=2)
    os.replace(FLAGS.output + ".tmp", FLAGS.output)


def main(argv):
    del argv
    if FLAGS.report_only:
        with open(FLAGS.output) as f:
            record = json.load(f)
        report(record)
        return write(record)
    if not FLAGS.models or not set(FLAGS.models) <= {"m2", "m1_m2"}:
        sys.exit(f"error: --models={','.join(FLAGS.models)}: one or both of m2, m1_m2")
    if set(FLAGS.models) != {"m2", "m1_m2"} and not os.path.isfile(FLAGS.output):
        sys.exit(f"error: --models={','.join(FLAGS.models)} merges into --output={FLAGS.output}, which does not exist")
    logging.set_verbosity(logging.WARNING)
    data = data_lib.load("mnist_offline")
    real_train, real_test = data.x_train / np.float32(255), data.x_test / np.float32(255)
    rows, cas_rows, timings = [], [], {}
    with tempfile.TemporaryDirectory() as work:
        m1_dir = os.path.join(work, "m1")
        m1, timings["m1_vae"] = train(M1, data, m1_dir, FLAGS.epochs_m1)
        samplers = {}
        for num_labels in map(int, FLAGS.labels):
            labelled = semi_supervised.labelled_subset(data.y_train, num_labels, 10, seed=0)
            start = time.perf_counter()
            plain = 1.0 - cas.real_accuracy(real_train[labelled], data.y_train[labelled], real_test, data.y_test, 10)
            m1_error = semi_supervised.m1_error(m1, data, labelled)
            timings[f"classifiers_{num_labels}"] = time.perf_counter() - start
            row = {"num_labels": num_labels, "plain": plain, "m1": m1_error}
            m2 = dataclasses.replace(M2, alpha=FLAGS.alpha, classifier=FLAGS.classifier,
                                     labelled_weight=FLAGS.labelled_weight)
            m1_m2 = dataclasses.replace(m2, m1_dir=m1_dir, gaussian_scale="per_channel")
            for name, config, epochs in (("m2", m2, FLAGS.epochs_m2), ("m1_m2", m1_m2, FLAGS.epochs_m1_m2)):
                if name not in FLAGS.models:
                    continue
                # The budget's callback goes first, so the error record sees its stop at the same epoch end.
                errors = ErrorOverTraining(data, FLAGS.every)
                callbacks = [common.WallClockBudget(60 * FLAGS.max_minutes), errors]
                model, timings[f"{name}_{num_labels}"] = train(config, data, os.path.join(work, f"{name}_{num_labels}"),
                                                               epochs, num_labels, callbacks)
                row[f"{name}_final"] = semi_supervised.m2_error(model, data)
                row[f"{name}_epochs"], row[f"{name}_history"] = callbacks[0].epochs, errors.history
                if num_labels == min(map(int, FLAGS.labels)):
                    samplers[f"{name} ({num_labels} labels)"] = cas.model_sampler(model)
            print(row, flush=True)
            rows.append(row)
        full = set(FLAGS.models) == {"m2", "m1_m2"}
        if FLAGS.cas_per_class and full:
            cvae, timings["cvae"] = train(CVAE, data, os.path.join(work, "cvae"), FLAGS.epochs_cvae)
            samplers = {"cvae (8,000 labels)": cas.model_sampler(cvae), **samplers}
        if FLAGS.cas_per_class:
            real = cas.real_accuracy(real_train, data.y_train, real_test, data.y_test, 10)
        for name, sample in samplers.items() if FLAGS.cas_per_class else ():
            cas_rows.append({"model": name, "cas": cas.score(sample, real_test, data.y_test, 10, FLAGS.cas_per_class),
                             "real": real})
            print(cas_rows[-1], flush=True)
    record = {"machine": common.machine(), "epochs_m1": FLAGS.epochs_m1, "epochs_m2": FLAGS.epochs_m2,
              "epochs_m1_m2": FLAGS.epochs_m1_m2, "epochs_cvae": FLAGS.epochs_cvae,
              "alpha": FLAGS.alpha, "classifier": FLAGS.classifier, "labelled_weight": FLAGS.labelled_weight,
              "max_minutes": FLAGS.max_minutes, "classifier_steps": classifiers.STEPS,
              "cas_per_class": FLAGS.cas_per_class, "test_error": rows, "cas": cas_rows, "wall_s": timings}
    if not full:
        record = merged(record, FLAGS.models)
    report(record)
    write(record)


def merged(record, names):
    """The existing --output record with the fields of the models `names` (rows by label count, CAS rows, timings,
    epochs) taken from `record`, a run of those models alone."""
    with open(FLAGS.output) as f:
        old = json.load(f)
    if record["cas"] and old["cas_per_class"] != record["cas_per_class"]:
        sys.exit(f"error: --cas_per_class={record['cas_per_class']}: {FLAGS.output} has {old['cas_per_class']}")
    by_labels = {r["num_labels"]: r for r in record["test_error"]}
    for row in old["test_error"]:
        new = by_labels.get(row["num_labels"], {})
        row.update({k: v for k, v in new.items() if any(k.startswith(f"{n}_") for n in names)})
    fresh = [r for r in record["cas"] if r["model"].split(" ")[0] in names]
    old["cas"] = [r for r in old["cas"] if r["model"].split(" ")[0] not in names] + fresh
    old["wall_s"].update({k: v for k, v in record["wall_s"].items() if k.split("_")[0] != "classifiers"})
    old.update({k: record[k] for k in ("machine", "epochs_m1_m2")})
    if "m2" in names:
        old["epochs_m2"] = record["epochs_m2"]
    return old


if __name__ == "__main__":
    app.run(main)
