"""Test error of a trained model as a classifier: `python -m apps.classify --model_dir=runs/m1 --m1_labels=100`.

- a vae: M1 (Kingma et al. 2014): the fixed vector classifier (tfvae/classifiers.py) trained on the latent means of
  a class-balanced subset of --m1_labels training images (fixed by the model's seed), tested on the test set's;
- an m2 (also M1+M2): the arg-max of q(y|x) on the test set (its labelled subset was fixed when it was trained).
Prints the error and writes it as JSON to MODEL_DIR/classification.json.
"""

import json
import os

from absl import app, flags

from apps import common
from tfvae import semi_supervised, training
from tfvae.config import ConfigError

FLAGS = flags.FLAGS
flags.DEFINE_integer("m1_labels", 100, "vae (M1): labelled training images for the classifier on latent means")


@common.reports_errors
def main(argv):
    model_config, train_config = training.read_config(FLAGS.model_dir)
    if model_config.model not in ("vae", "m2"):
        raise ConfigError(f"--model_dir={FLAGS.model_dir} holds a {model_config.model}; apps.classify takes a vae "
                          "(M1) or an m2")
    dataset = FLAGS.dataset or train_config.dataset
    data = common.load_data(dataset, train_config.image_size, train_config.channels)
    semi_supervised.require_labels(data, dataset, model_config.model)
    if model_config.model == "vae":
        labelled = semi_supervised.labelled_subset(data.y_train, FLAGS.m1_labels, data.num_classes,
                                                   model_config.seed, flag="m1_labels")
    model = training.restore(FLAGS.model_dir)
    if model_config.model == "vae":
        result = {"method": "M1", "num_labels": FLAGS.m1_labels,
                  "test_error": semi_supervised.m1_error(model, data, labelled, seed=model_config.seed)}
    else:
        result = {"method": "M1+M2" if model_config.m1_dir else "M2", "num_labels": train_config.num_labels,
                  "test_error": semi_supervised.m2_error(model, data, FLAGS.batch_size)}
    print(f"{result['method']} test error: {result['test_error']:.2%} ({len(data.x_test)} test images)")
    output = os.path.join(FLAGS.model_dir, "classification.json")
    with open(output + ".tmp", "w") as f:
        json.dump({"dataset": dataset, **result}, f, indent=2)
    os.replace(output + ".tmp", output)
    print(f"Wrote {output}")


if __name__ == "__main__":
    app.run(main)
