"""Latent exploration pictures of a trained model: `python -m apps.sample --model_dir=runs/cvae`.

Writes into --output_dir (default MODEL_DIR/exploration): interpolation.png (between pairs of encoded test images)
for every vae, cvae and m2; class_styles.png (class fixed per row, z varied along it) and analogies.png (a test image,
then its z decoded with every class) for the conditional models; manifold.png (the decoded 2-D latent grid, of class
--label for conditional models) when the latent size is 2. See tfvae/exploration.py.
"""

import os

from absl import app, flags

from apps import common
from tfvae import data as data_lib
from tfvae import exploration, training
from tfvae.config import CONDITIONAL_MODELS, ConfigError

FLAGS = flags.FLAGS
flags.DEFINE_string("output_dir", None, "where the pictures go (default: MODEL_DIR/exploration)")
flags.DEFINE_integer("columns", 10, "z draws per class in class_styles.png; test images in analogies.png")
flags.DEFINE_integer("pairs", 5, "pairs of test images in interpolation.png")
flags.DEFINE_integer("interpolation_steps", 8, "images along each interpolation, endpoints included")
flags.DEFINE_integer("label", 0, "conditional models: the class of manifold.png")
flags.DEFINE_integer("sample_seed", 0, "seed of the z draws")


@common.reports_errors
def main(argv):
    for flag in ("columns", "pairs"):
        if FLAGS[flag].value < 1:
            raise ConfigError(f"--{flag}: must be positive, got {FLAGS[flag].value}")
    if FLAGS.interpolation_steps < 2:
        raise ConfigError(f"--interpolation_steps: needs both endpoints (>= 2), got {FLAGS.interpolation_steps}")
    model_config, train_config = training.read_config(FLAGS.model_dir)
    if model_config.model not in ("vae", *CONDITIONAL_MODELS):
        raise ConfigError(f"--model_dir={FLAGS.model_dir} holds a {model_config.model}; apps.sample explores the "
                          f"latents of vae, {', '.join(CONDITIONAL_MODELS)} models")
    if not 0 <= FLAGS.label < model_config.num_classes:
        raise ConfigError(f"--label: must lie in 0..{model_config.num_classes - 1}, got {FLAGS.label}")
    model = training.restore(FLAGS.model_dir)
    data = common.load_data(FLAGS.dataset or train_config.dataset, train_config.image_size, train_config.channels)
    if tuple(data.shape) != tuple(model_config.input_shape):
        raise data_lib.DataError(f"--dataset: images are {data.shape}, the model expects {model_config.input_shape}")
    count = max(2 * FLAGS.pairs, FLAGS.columns)
    pixels, seed = model_config.pixels, model_config.seed
    x = next(iter(data_lib.eval_dataset(data_lib.prepare(data.x_test[:count], pixels, seed, False), count, pixels,
                                        seed))).numpy()
    labels = None if data.y_test is None else data.y_test[:count]
    if model_config.model == "cvae" and labels is None:
        raise data_lib.DataError(f"--dataset={data.name} has no test labels, which a cvae needs to encode images")
    output_dir = FLAGS.output_dir or os.path.join(FLAGS.model_dir, "exploration")
    paths = exploration.write_all(model, x, labels, output_dir, seed=FLAGS.sample_seed, columns=FLAGS.columns,
                                  steps=FLAGS.interpolation_steps, label=FLAGS.label, pairs=FLAGS.pairs)
    for path in paths:
        print(f"Wrote {path}")


if __name__ == "__main__":
    app.run(main)
