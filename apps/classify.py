"""Test error of a trained model as a classifier: `python -m apps.classify --model_dir=runs/m1 --m1_labels=100`.

- a vae: M1 (Kingma et al. 2014): the fixed vector classifier (tfvae/classifiers.py) trained on the latent means of
  a class-balanced subset of --m1_labels training images (fixed by the model's seed), tested on the test set's;
- an m2 (also M1+M2): the arg-max of q(y|x) on the test set (its labelled subset was fixed when it was trained).
Prints the error and writes it as JSON to MODEL_DIR/classification.json.
"""

from tfvae import quiet  # noqa: F401  (first: silences TensorFlow's start-up lines before it is imported)

import os  # noqa: E402

from absl import flags  # noqa: E402

from tfvae import cli, families, runs  # noqa: E402

FLAGS = flags.FLAGS
cli.define_common_flags()
flags.DEFINE_integer("m1_labels", 100, "vae (M1): labelled training images for the classifier on latent means")


@cli.reports_errors
def main(argv):
    model_config, train_config = families.read_config(FLAGS.model_dir)
    family = families.of(model_config)
    options = families.ClassifyOptions(FLAGS.m1_labels, FLAGS.batch_size)
    dataset = FLAGS.dataset or train_config.dataset
    data = family.load_data(dataset, train_config.image_size, train_config.channels, FLAGS.data_dir, FLAGS.download)
    model = families.restore(FLAGS.model_dir)
    result = family.classify(model, data, train_config, options)
    print(f"{result['method']} test error: {result['test_error']:.2%} ({len(data.x_test)} test images)")
    output = os.path.join(FLAGS.model_dir, runs.CLASSIFICATION_FILE)
    runs.write_json(output, {"dataset": dataset, **result})
    print(f"Wrote {output}")


def run():
    """The console script's entry point."""
    cli.run(main)


if __name__ == "__main__":
    run()
