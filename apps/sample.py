"""Latent exploration pictures of a trained model: `python -m apps.sample --model_dir=runs/cvae`.

Writes into --output_dir (default MODEL_DIR/exploration): interpolation.png (between pairs of encoded test images)
for every vae, cvae and m2; class_styles.png (class fixed per row, z varied along it) and analogies.png (a test image,
then its z decoded with every class) for the conditional models; manifold.png (the decoded 2-D latent grid, of class
--label for conditional models) when the latent size is 2; for an hvae temperatures.png (prior samples at each of
--temperatures) and top_levels.png (a test image, then rows that keep its top levels and sample the rest). See
tfvae/exploration.py.
"""

from tfvae import quiet  # noqa: F401  (first: silences TensorFlow's start-up lines before it is imported)

import os  # noqa: E402

from absl import flags  # noqa: E402

from tfvae import cli, families  # noqa: E402
from tfvae.config import ConfigError  # noqa: E402
from tfvae.data import DataError  # noqa: E402

FLAGS = flags.FLAGS
cli.define_common_flags()
flags.DEFINE_string("output_dir", None, "where the pictures go (default: MODEL_DIR/exploration)")
flags.DEFINE_integer("columns", 10, "z draws per class in class_styles.png; test images in analogies.png")
flags.DEFINE_integer("pairs", 5, "pairs of test images in interpolation.png")
flags.DEFINE_integer("interpolation_steps", 8, "images along each interpolation, endpoints included")
flags.DEFINE_integer("label", 0, "conditional models: the class of manifold.png")
flags.DEFINE_integer("sample_seed", 0, "seed of the z draws")
flags.DEFINE_list("temperatures", ["1.0", "0.8", "0.6"], "hvae: the temperatures of temperatures.png (each multiplies "
                  "every level's prior scale)")


@cli.reports_errors
def main(argv):
    cli.require_positive("columns", "pairs")
    if FLAGS.interpolation_steps < 2:
        raise ConfigError(f"--interpolation_steps: needs both endpoints (>= 2), got {FLAGS.interpolation_steps}")
    temperatures = parse_temperatures(FLAGS.temperatures)
    model_config, train_config = families.read_config(FLAGS.model_dir)
    family = families.of(model_config)
    options = families.ExplorationOptions(FLAGS.columns, FLAGS.pairs, FLAGS.interpolation_steps, FLAGS.label,
                                          FLAGS.sample_seed, temperatures)
    model = families.restore(FLAGS.model_dir)
    data = family.load_data(FLAGS.dataset or train_config.dataset, train_config.image_size, train_config.channels,
                            FLAGS.data_dir, FLAGS.download)
    if tuple(data.shape) != tuple(model_config.input_shape):
        raise DataError(f"--dataset: images are {data.shape}, the model expects {model_config.input_shape}")
    output_dir = FLAGS.output_dir or os.path.join(FLAGS.model_dir, "exploration")
    for path in family.explore(model, data, output_dir, options):
        print(f"Wrote {path}")


def parse_temperatures(values):
    """--temperatures as positive floats (ConfigError naming the flag otherwise)."""
    try:
        temperatures = tuple(float(v) for v in values)
    except ValueError:
        raise ConfigError(f"--temperatures: {','.join(values)!r} is not a list of numbers") from None
    if not temperatures or min(temperatures) <= 0:
        raise ConfigError(f"--temperatures: must be positive, got {','.join(values) or 'none'}")
    return temperatures


def run():
    """The console script's entry point."""
    cli.run(main)


if __name__ == "__main__":
    run()
