"""Benchmark: semi-supervised classification with M1, M2 and M1+M2 (Kingma et al. 2014), and the classification
accuracy score (Ravuri & Vinyals 2019) of the class-conditional models, on `mnist_offline`.

    nice python benchmarks/semi_supervised.py                  # about 25 minutes on 2 shared CPU cores
    python benchmarks/semi_supervised.py --labels=100 --epochs_m2=5 --epochs_m1=5 --cas_per_class=50   # a smoke run

mnist_offline is 8,000 training and 2,000 test images of the real MNIST test set (not the 50,000 / 10,000 of the
paper). For N labels in --labels the labelled subset is class balanced (tfvae/semi_supervised.py, seed 0) and every
other training image is unlabelled. Models (MLPs as in the paper, dynamic binarization, Bernoulli p(x|.), batch 128,
Adam 1e-3):
- plain: the fixed image classifier (tfvae/classifiers.py) on the N labelled images alone;
- M1: a VAE 784-600-600-50 on all training images, then the fixed vector classifier on the latent means of the N
  labelled ones;
- M2: 500 hidden units in q(z|x, y), q(y|x) and p(x|y, z), 50 latents, alpha = 0.1 per example (the paper's 0.1 N),
  half of every batch labelled;
- M1+M2: that M2 (Gaussian p(z1|y, z2)) on the latent means z1 of the M1 above.
The test error is of q(y|x) for M2 and M1+M2. CAS: the fixed image classifier trained on --cas_per_class draws per
class from the CVAE (all 8,000 labels), M2 and M1+M2 (100 labels), tested on the real test set, beside the same
classifier trained on the 8,000 real training images. Results go to benchmarks/results/semi_supervised.json and are
printed as Markdown tables.
"""

import dataclasses
import json
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

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
flags.DEFINE_integer("epochs_m2", 30, "training epochs of M2, M1+M2 and the CVAE")
flags.DEFINE_integer("cas_per_class", 800, "generated images per class for the CAS (0: no CAS, no CVAE)")
flags.DEFINE_float("alpha", M2.alpha, "M2's --alpha (per training example; the paper's 0.1 N is 0.1)")
flags.DEFINE_string("output", os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                                           "semi_supervised.json"), "JSON results")
FLAGS = flags.FLAGS


def train(model_config, data, model_dir, epochs, num_labels=0):
    start = time.perf_counter()
    model = families.train(model_config, TrainConfig(batch_size=128, epochs=epochs, num_labels=num_labels), data,
                           model_dir, verbose=0, validate=False)
    return model, time.perf_counter() - start


def main(argv):
    del argv
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
            m2 = dataclasses.replace(M2, alpha=FLAGS.alpha)
            for name, config in (("m2", m2), ("m1_m2", dataclasses.replace(m2, m1_dir=m1_dir))):
                model, timings[f"{name}_{num_labels}"] = train(config, data, os.path.join(work, f"{name}_{num_labels}"),
                                                               FLAGS.epochs_m2, num_labels)
                row[name] = semi_supervised.m2_error(model, data)
                if num_labels == min(map(int, FLAGS.labels)):
                    samplers[f"{name} ({num_labels} labels)"] = cas.model_sampler(model)
            print(row, flush=True)
            rows.append(row)
        if FLAGS.cas_per_class:
            cvae, timings["cvae"] = train(CVAE, data, os.path.join(work, "cvae"), FLAGS.epochs_m2)
            samplers = {"cvae (8,000 labels)": cas.model_sampler(cvae), **samplers}
            real = cas.real_accuracy(real_train, data.y_train, real_test, data.y_test, 10)
        for name, sample in samplers.items() if FLAGS.cas_per_class else ():
            cas_rows.append({"model": name, "cas": cas.score(sample, real_test, data.y_test, 10, FLAGS.cas_per_class),
                             "real": real})
            print(cas_rows[-1], flush=True)
    machine = common.machine()
    print(f"\nmnist_offline (8,000 train / 2,000 test); M1 VAE {FLAGS.epochs_m1} epochs, M2 / M1+M2 / CVAE "
          f"{FLAGS.epochs_m2} epochs, alpha {FLAGS.alpha}; {machine}\n")
    print("| labels | plain classifier | M1 | M2 | M1+M2 |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['num_labels']} | {r['plain']:.2%} | {r['m1']:.2%} | {r['m2']:.2%} | {r['m1_m2']:.2%} |")
    if cas_rows:
        print(f"\n| generator | CAS ({FLAGS.cas_per_class} draws per class) | real-data accuracy |\n|---|---|---|")
    for r in cas_rows:
        print(f"| {r['model']} | {r['cas']:.2%} | {r['real']:.2%} |")
    os.makedirs(os.path.dirname(FLAGS.output), exist_ok=True)
    record = {"machine": machine, "epochs_m1": FLAGS.epochs_m1, "epochs_m2": FLAGS.epochs_m2, "alpha": FLAGS.alpha,
              "classifier_steps": classifiers.STEPS, "cas_per_class": FLAGS.cas_per_class, "test_error": rows,
              "cas": cas_rows, "wall_s": timings}
    with open(FLAGS.output + ".tmp", "w") as f:
        json.dump(record, f, indent=2)
    os.replace(FLAGS.output + ".tmp", FLAGS.output)


if __name__ == "__main__":
    app.run(main)
