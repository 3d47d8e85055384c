"""Colourizes a grey image: `python -m apps.colorize --input photo.png --output colour.png`.

The latent-segmentation colorizer (tfvae/models/colorizer.py) shipped in the package, or --colorizer (a model_dir
of `apps.train --model=colorize`, or a .keras file). --segmentation_output writes the latent segmentation (the mode
of P(z|x)) as a picture; --samples=N writes N colourings drawn from P(z|x) next to --output (NAME_1.png, ...).
A colour input is converted to grey first (its colour is what the model predicts); an alpha channel is dropped.
With no --input it demonstrates itself on built-in held-out images: one row per image, whose columns are the grey
input, the colourization, the segmentation and the original, and prints the PSNR of each. `--save_model=PATH.keras` writes the --colorizer model as the one file the
package ships (BUILD.md).
"""

from tfvae import quiet  # noqa: F401  (first: silences TensorFlow's start-up lines before it is imported)

import os

import numpy as np
from absl import flags

from tfvae import cli
from tfvae.families import colorize as colorize_family
from tfvae.colorization import inference, pictures
from tfvae.colorization import metrics
from tfvae.config import ConfigError
from tfvae.data import DataError, read_image, write_image
from tfvae.saving import save_model_file

FLAGS = flags.FLAGS
cli.define_common_flags()
DEFAULT_OUTPUT = "colorized.png"
DEMO_DIR = os.path.join(os.path.dirname(os.path.abspath(inference.__file__)), "demo")

flags.DEFINE_string("segmentation_output", None, "also write the latent segmentation as a picture here")
flags.DEFINE_integer("samples", 0, "also write this many colourings sampled from P(z|x), named after --output")
flags.DEFINE_string("colorizer", None, "a model_dir of apps.train --model=colorize or a .keras file (default: the "
                    "shipped model)")
flags.DEFINE_string("save_model", None, "write the --colorizer model to this .keras file and stop")


def sample_paths(output, count):
    stem, extension = os.path.splitext(output)
    return [f"{stem}_{i}{extension}" for i in range(1, count + 1)]


def check_flags():
    if FLAGS.samples < 0:
        raise ConfigError(f"--samples={FLAGS.samples}: must be >= 0")
    if FLAGS.save_model:
        if not FLAGS.save_model.endswith(".keras") or not os.path.isdir(os.path.dirname(os.path.abspath(
                FLAGS.save_model))):
            raise ConfigError(f"--save_model={FLAGS.save_model}: must be a .keras file in an existing folder")
        if not FLAGS.colorizer:
            raise ConfigError("--save_model needs --colorizer (the trained model_dir to save)")
        return
    FLAGS.output = FLAGS.output or DEFAULT_OUTPUT
    cli.check_output_path("output", FLAGS.output)
    if FLAGS.segmentation_output:
        cli.check_output_path("segmentation_output", FLAGS.segmentation_output)


def load_model():
    try:
        return colorize_family.FAMILY.load(FLAGS.colorizer)
    except (FileNotFoundError, ValueError) as e:
        raise ConfigError(f"--colorizer={FLAGS.colorizer}: {e}") from None


@cli.reports_errors
def main(argv):
    check_flags()
    model = load_model()
    if FLAGS.save_model:
        save_model_file(model, FLAGS.save_model)
        print(f"Saved the colorizer of {FLAGS.colorizer} to {FLAGS.save_model}")
        return
    if FLAGS.input is None:
        return demo(model)
    image = read_image(FLAGS.input, channels=None)  # uint8 [H, W, 1 or 3]
    if min(image.shape[:2]) < model.min_side:
        raise DataError(f"{FLAGS.input} is {image.shape[1]}x{image.shape[0]}: the colorizer needs sides of at least "
                        f"{model.min_side} pixels")
    outputs = {FLAGS.output: inference.colorize(image, model).numpy()}  # everything is computed before writing
    if FLAGS.segmentation_output:
        labels = inference.segment(image, model).numpy()
        outputs[FLAGS.segmentation_output] = pictures.segmentation_picture(labels, image, model.config.num_segments)
    if FLAGS.samples:
        drawn, _ = inference.sample_colorings(image, FLAGS.samples, FLAGS.seed, model)
        outputs.update(zip(sample_paths(FLAGS.output, FLAGS.samples), drawn.numpy()))
    for path, picture in outputs.items():
        write_image(path, picture)
    print(f"Colourized {FLAGS.input} ({image.shape[1]}x{image.shape[0]}) into {', '.join(outputs)}")


def demo(model):
    """--output: one row per built-in image; columns: grey input, colourization, segmentation, original."""
    rows = []
    for name in sorted(os.listdir(DEMO_DIR)):
        image = read_image(os.path.join(DEMO_DIR, name), channels=3)
        coloured = inference.colorize(image, model).numpy()
        labels = inference.segment(image, model).numpy()
        rows.append([pictures.grey(image), coloured, pictures.segmentation_picture(labels, image,
                                                                                   model.config.num_segments), image])
        print(f"{name}: PSNR {metrics.psnr(coloured, image):.2f} dB (grey input: "
              f"{metrics.psnr(pictures.grey(image), image):.2f} dB)")
    write_image(FLAGS.output, np.concatenate([np.concatenate(row, axis=1) for row in rows], axis=0))
    print(f"Colourized the built-in images into {FLAGS.output}: one row per image; its columns are the grey input, "
          "the colourization, the segmentation and the original")


def run():
    """The console script's entry point."""
    cli.run(main)


if __name__ == "__main__":
    run()
