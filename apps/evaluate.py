"""Evaluates a trained model: `python -m apps.evaluate --model_dir=runs/default`.

What is measured is the family's (tfvae/families/): for a vae the test NLL (nats, importance-sampled), bits/dim,
ELBO, rate (split into mutual information and marginal KL, the "ELBO surgery" of Hoffman & Johnson 2016),
distortion, the ELBO-NLL gap and active units; for a vqvae distortion, rate and codebook use (with its PixelCNN
prior, once trained); for a colorizer the colour metrics and the segmentation's use on the held-out images. Prints
them and writes them as JSON (default: MODEL_DIR/evaluation.json).
"""

from tfvae import quiet  # noqa: F401  (first: silences TensorFlow's start-up lines before it is imported)

import os  # noqa: E402

from absl import flags  # noqa: E402

from tfvae import cli, families, progress, runs, serving  # noqa: E402
from tfvae.data import DataError  # noqa: E402

FLAGS = flags.FLAGS
cli.define_common_flags()
flags.DEFINE_integer("num_samples", 500, "importance samples per test image for the NLL")
flags.DEFINE_integer("max_images", 0, "evaluate only the first N test images (0: all)")
flags.DEFINE_integer("surgery_samples", 500, "draws z_i for the ELBO-surgery split of the rate (0: skip)")


@cli.reports_errors
def main(argv):
    if FLAGS.num_samples < 1:
        raise DataError(f"--num_samples must be positive, got {FLAGS.num_samples}")
    if FLAGS.batch_size < 1:
        raise DataError(f"--batch_size must be positive, got {FLAGS.batch_size}")
    model_config, train_config = families.read_config(FLAGS.model_dir)
    family = families.of(model_config)
    model, _ = serving.load(FLAGS.model_dir)
    dataset = FLAGS.dataset or train_config.dataset
    data = family.load_data(dataset, train_config.image_size, train_config.channels, FLAGS.data_dir, FLAGS.download)
    if tuple(data.shape) != tuple(model_config.input_shape):
        raise DataError(f"--dataset={dataset}: images are {data.shape}, the model expects {model_config.input_shape}")
    options = families.EvaluationOptions(FLAGS.num_samples, FLAGS.max_images, FLAGS.surgery_samples, FLAGS.batch_size,
                                         progress.Progress("evaluating"))
    results = {"dataset": dataset, **family.run_metadata(FLAGS.model_dir),
               **family.evaluate(model, data, options)}
    print(family.report(results))
    output = FLAGS.output or os.path.join(FLAGS.model_dir, runs.EVALUATION_FILE)
    runs.write_json(output, results)
    print(f"Wrote {output}")


def run():
    """The console script's entry point."""
    cli.run(main)


if __name__ == "__main__":
    run()
