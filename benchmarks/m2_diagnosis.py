"""Diagnosis of M2 (issue: semi-supervised learning that beats its own classifier): what q(y|x) learns over training.

    nice python benchmarks/m2_diagnosis.py                           # M2, 100 labels, the validation split
    nice python benchmarks/m2_diagnosis.py --m1 --tag=m1_m2          # M1+M2 (an M1 VAE is trained first, or reused)

Every --every epochs it records, on 1,000 unlabelled training images and on the measured split
(tfvae/semi_supervised.py: diagnose):
- the error of q(y|x) and of arg max_y L(x, y), the label the unlabelled bound U pulls q(y|x) towards (U is maximized
  by q(y|x) = softmax_y L(x, y)), and how often they agree;
- label_gain: L(x, y_true) minus the mean of L(x, y) over the other labels, in nats (does the decoder use y?);
- the norms of the gradients that reach the classifier's weights from -U and from alpha * classification, and the
  cosine between them (`classifier_gradients`, on one fixed training batch), with U's classes scored with one
  shared noise draw and with one draw each.

--split=validation (the default) trains on the first 7,000 training images of `mnist_offline` (the labelled subset drawn
from them, class balanced, seed 0) and measures the last 1,000; choices are made there. --split=test trains on all
8,000 and measures the 2,000 test images. Results: benchmarks/results/m2_diagnosis[_TAG].json.

The runs listed in README ("Semi-supervised classification") were made while the loss was
s mean(-L) + (1 - s) mean(-U) + a mean(-log q(y|x)): their records hold s as `labelled_share` and a as `alpha`
(`fixed_a20_independent` excepted, made with the final convention, tfvae/models/m2.py); the README converts a to the
final --alpha = a (1 - p) / (1 - s), p = N_l / N.
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
from tfvae import cas, families, semi_supervised  # noqa: E402
from tfvae import data as data_lib  # noqa: E402
from tfvae.config import ConditionalConfig, TrainConfig, VAEConfig  # noqa: E402

SHAPE = (28, 28, 1)
VALIDATION_IMAGES = 1000
PROBE_IMAGES = 1000

flags.DEFINE_integer("num_labels", 100, "labelled training images (class balanced, seed 0)")
flags.DEFINE_integer("epochs", 100, "training epochs (an epoch: as many images as the training set holds)")
flags.DEFINE_integer("every", 10, "epochs between two diagnoses")
flags.DEFINE_float("alpha", ConditionalConfig.alpha, "M2's --alpha")
flags.DEFINE_float("labelled_fraction", 0.5, "the labelled share of every batch")
flags.DEFINE_float("learning_rate", 1e-3, "Adam's learning rate")
flags.DEFINE_integer("hidden", 500, "hidden units of every M2 network")
flags.DEFINE_enum("classifier", ConditionalConfig.classifier, ["encoder", "fixed"], "M2's --classifier")
flags.DEFINE_bool("shared_noise", ConditionalConfig.shared_noise, "M2's --shared_noise")
flags.DEFINE_integer("latent_dim", 50, "M2's latents")
flags.DEFINE_float("labelled_weight", ConditionalConfig.labelled_weight,
                   "M2's --labelled_weight (0: N_l / N, the paper's objective)")
flags.DEFINE_bool("m1", False, "M1+M2: M2 on the latent means of an M1 VAE (784-600-600-50, 50 epochs)")
flags.DEFINE_enum("m1_features", ConditionalConfig.m1_features, ["mean", "sample"], "M1+M2's --m1_features")
flags.DEFINE_enum("gaussian_scale", "", ["", "learned", "per_channel"],
                  "M1+M2's --gaussian_scale (the likelihood of M1's latents; empty: the config's default, per_channel "
                  "with --m1; the runs before that default passed learned)")
flags.DEFINE_string("m1_dir", "runs/m2_diagnosis_m1", "where the M1 VAE is trained, or reused when it is there")
flags.DEFINE_enum("split", "validation", ["validation", "test"], "what is measured (see the module docstring)")
flags.DEFINE_string("tag", "", "appended to the results' file name")
FLAGS = flags.FLAGS


def split(data):
    return data if FLAGS.split == "test" else common.validation_split(data, VALIDATION_IMAGES)


class Diagnosis(keras.callbacks.Callback):
    """Records `semi_supervised.diagnose` on the probe and measured images and `classifier_gradients`."""

    def __init__(self, data, train_config, config, every, steps_per_epoch):
        super().__init__()
        self.data, self.every, self.steps_per_epoch = data, every, steps_per_epoch
        _, unlabelled = semi_supervised.split(data, config, train_config)
        self.probe = unlabelled[:PROBE_IMAGES]
        self.batch = next(iter(semi_supervised.mixed_batches(data, config, train_config, 0)))
        self.history, self.start = [], time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every:
            return
        d = self.data
        row = {"epoch": epoch + 1, "step": (epoch + 1) * self.steps_per_epoch,
               "train_s": round(time.perf_counter() - self.start, 1),
               "unlabelled_train": semi_supervised.diagnose(self.model, d.x_train[self.probe], d.y_train[self.probe]),
               "measured": semi_supervised.diagnose(self.model, d.x_test, d.y_test),
               "gradients": semi_supervised.classifier_gradients(self.model, self.batch, shared_noise=True),
               "gradients_independent_noise": semi_supervised.classifier_gradients(self.model, self.batch, False)}
        self.history.append(row)
        u, m, g, gi = row["unlabelled_train"], row["measured"], row["gradients"], row["gradients_independent_noise"]
        print(f"epoch {row['epoch']:4d} ({row['train_s']:.0f} s): q(y|x) error {m['q_error']:.2%} measured, "
              f"{u['q_error']:.2%} unlabelled train; arg max L error {m['bound_error']:.2%} / {u['bound_error']:.2%}; "
              f"agreement {u['agreement']:.2%}; label gain {u['label_gain']:.2f} nats; |grad U| {g['unlabelled']:.3g}"
              f" (independent noise {gi['unlabelled']:.3g}) |grad alpha CE| {g['classification']:.3g} "
              f"cos {g['cosine']:.2f}",
              flush=True)


def m1_model(data):
    config = VAEConfig(input_shape=SHAPE, architecture="mlp", hidden_units=(600, 600), latent_dim=50)
    families.train(config, TrainConfig(batch_size=128, epochs=50), data, FLAGS.m1_dir, verbose=0, validate=False)
    return FLAGS.m1_dir


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    data = split(data_lib.load("mnist_offline"))
    hidden = (FLAGS.hidden,)
    config = ConditionalConfig(model="m2", input_shape=SHAPE, architecture="mlp", hidden_units=hidden,
                               latent_dim=FLAGS.latent_dim, alpha=FLAGS.alpha, classifier=FLAGS.classifier,
                               labelled_weight=FLAGS.labelled_weight,
                               shared_noise=FLAGS.shared_noise,
                               m1_dir=m1_model(data) if FLAGS.m1 else "", m1_features=FLAGS.m1_features,
                               gaussian_scale=FLAGS.gaussian_scale)
    train_config = TrainConfig(batch_size=128, epochs=FLAGS.epochs, num_labels=FLAGS.num_labels,
                               labelled_fraction=FLAGS.labelled_fraction, learning_rate=FLAGS.learning_rate)
    labelled, _ = semi_supervised.split(data, config, train_config)
    plain = 1.0 - cas.real_accuracy(data.x_train[labelled] / np.float32(255), data.y_train[labelled],
                                    data.x_test / np.float32(255), data.y_test, 10)
    print(f"plain classifier on the {FLAGS.num_labels} labelled images: {plain:.2%} error on the {FLAGS.split} split")
    per_epoch = data_lib.steps_per_epoch(len(data.x_train), train_config.batch_size)
    diagnosis = Diagnosis(data, train_config, config, FLAGS.every, per_epoch)
    with tempfile.TemporaryDirectory() as work:
        model = families.train(config, train_config, data, work, verbose=0, validate=False, callbacks=[diagnosis])
    record = {"machine": common.machine(), "split": FLAGS.split, "num_labels": FLAGS.num_labels,
              "model": "m1_m2" if FLAGS.m1 else "m2", "config": dataclasses.asdict(model.config),
              "train": dataclasses.asdict(train_config), "plain_error": plain, "history": diagnosis.history}
    name = "m2_diagnosis" + (f"_{FLAGS.tag}" if FLAGS.tag else "") + ".json"
    output = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", name)
    with open(output + ".tmp", "w") as f:
        json.dump(record, f, indent=2, default=str)
    os.replace(output + ".tmp", output)


if __name__ == "__main__":
    app.run(main)
