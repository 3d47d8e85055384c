"""Colorization on the held-out colour images: the latent-segmentation colorizer against three baselines.

    python benchmarks/colorize.py --colorizer=runs/colorize [--output=benchmarks/results/colorize.json]

Data: ../shared/data/color (63 images); the held-out test set is every 10th image sorted by path
(tfvae/colorization/data.py): live1/flowersonih35, live1/rapids, mcmaster/1, mcmaster/2, set14/coastguard,
set5/bird_GT. Every method sees only the lightness L of each whole image and returns RGB; metrics
(tfvae/colorization/metrics.py) are averaged over the images.

Methods, computed in the same run:
- grey: the input itself (a = b = 0);
- global mean colour: L with the mean ab of all training pixels;
- L2 regression: the colorizer's scene U-Net predicting ab by least squares (tfvae/colorization/baseline.py), trained
  here with the colorizer's backbone, crops, batch size, learning rate, seed and number of steps;
- the colorizer of --colorizer (a model_dir of apps.train --model=colorize): `colorize` (the expected colour under
  P(z|x)); best-of-8 PSNR over 8 colourings drawn from P(z|x) (seeds 0..7).
Segmentation (the colorizer only): usage perplexity of the mode of P(z|x), boundary recall against true chroma edges
(within 2 pixels), KL per pixel, the bound per pixel, and the shuffle cost log P(y|z, x) - log P(y|z', x) (z ~ Q, z'
its labels at permuted positions), all in nats per pixel. Writes the JSON and benchmarks/results/colorize_examples.png
(rows: grey input, L2 regression, colorizer, two samples, segmentation, original).
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import tensorflow as tf

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import machine  # noqa: E402
from tfvae import families, runs  # noqa: E402
from tfvae.colorization import baseline, colour, evaluation, inference, pictures  # noqa: E402
from tfvae.colorization import data as colour_data  # noqa: E402
from tfvae.data import write_image  # noqa: E402

DATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "color")
BEST_OF = 8


def mean_ab(images):
    """The mean ab [2] over every pixel of the images."""
    total, count = np.zeros(2), 0
    for image in images:
        ab = evaluation.to_lab(image)[..., 1:]
        total, count = total + ab.reshape(-1, 2).sum(0), count + ab.shape[0] * ab.shape[1]
    return total / count


def with_ab(ab):
    """A colorize function that keeps L and sets every pixel's ab to `ab` [2]."""
    def colorize(grey):
        lightness = colour.lightness(grey)
        chroma = tf.broadcast_to(tf.constant(ab, tf.float32), tf.concat([tf.shape(lightness)[:-1], [2]], 0))
        return colour.to_uint8(colour.lab_to_rgb(tf.concat([lightness, chroma], -1))).numpy()
    return colorize


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--colorizer", required=True, help="model_dir of apps.train --model=colorize")
    parser.add_argument("--output", default=os.path.join(os.path.dirname(__file__), "results", "colorize.json"))
    args = parser.parse_args()
    model = families.restore(args.colorizer)
    _, train_config = families.read_config(args.colorizer)
    step = runs.checkpoint_step(args.colorizer)
    data = colour_data.load(f"folder:{DATA}", model.config.input_shape[0])
    print(f"{len(data.x_train)} training, {len(data.x_test)} held-out images; colorizer trained {step} steps")

    start = time.perf_counter()
    regressor = baseline.train_regressor(model.config, data, step, train_config.batch_size,
                                         train_config.learning_rate)
    regressor_s = time.perf_counter() - start
    colorize = lambda grey: colour.to_uint8(model.colorize(grey)).numpy()  # noqa: E731
    sample = lambda grey, n: np.concatenate([inference.sample_colorings(grey, 1, seed, model)[0].numpy()  # noqa: E731
                                             for seed in range(n)])
    methods = {
        "grey": (with_ab([0.0, 0.0]), None),
        "global mean colour": (with_ab(mean_ab(data.x_train)), None),
        "L2 regression": (lambda grey: colour.to_uint8(regressor.colorize(grey)).numpy(), None),
        "latent segmentation": (colorize, sample),
    }
    results = {"machine": machine(), "held_out": [os.path.relpath(f, DATA) for f in data.test_files],
               "steps": step, "crop": model.config.input_shape[0], "batch_size": train_config.batch_size,
               "regressor_train_s": regressor_s, "methods": {}}
    for name, (method, sampler) in methods.items():
        results["methods"][name] = evaluation.method_metrics(method, data.x_test, sampler, BEST_OF)
        print(name, json.dumps(results["methods"][name]))
    results["segmentation"] = evaluation.segmentation_metrics(model, data.x_test)
    print("segmentation", json.dumps(results["segmentation"]))
    with open(args.output, "w") as f:
        json.dump(results, f, indent=2)

    rows = []
    for image in data.x_test[-3:]:  # the last three held-out images, centre crops of 256 (or smaller)
        side = min(256, *image.shape[:2])
        top, left = (image.shape[0] - side) // 2, (image.shape[1] - side) // 2
        crop = image[top: top + side, left: left + side]
        grey = pictures.grey(crop)
        drawn = sample(grey[None], 2)
        labels = model.segment(grey[None]).numpy()[0]
        row = [grey, methods["L2 regression"][0](grey[None])[0], colorize(grey[None])[0], drawn[0], drawn[1],
               pictures.segmentation_picture(labels, crop, model.config.num_segments), crop]
        rows.append(np.concatenate([np.pad(r, ((0, 256 - side), (0, 256 - side), (0, 0))) for r in row], 1))
    write_image(os.path.join(os.path.dirname(args.output), "colorize_examples.png"), np.concatenate(rows, 0))


if __name__ == "__main__":
    main()
