"""Choosing the colour denoiser on the validation split of cbsd432 (issue 16: no choices on test images).

    python benchmarks/denoise_colour_validation.py [--colour_prior=runs/conv_colour/best.keras] [--rows=...]

The validation split: the 22 images of ../shared/data/cbsd432 at sorted positions 0, 20, 40, ...
(tfvae/restoration/conv_prior.py: VALIDATION_EVERY; never trained on by apps.train_denoiser --channels=3), listed in
the JSON. Noise: white Gaussian on every channel, seed 1000 * sigma + image index, not clipped; PSNR of the clipped RGB
output on the 0-255 scale. Rows (--rows, any of them):
  grey, grey x8      the shipped grey conv prior through the opponent colour transform (tfvae.denoise without a
                     colour prior), one pass and its self-ensemble over the 8 flips and rotations
  colour, colour x8  the colour network --colour_prior on RGB as it is, one pass and x8
A row already in --output is kept unless re-run, so rows can be measured at different times into one record.
"""

import argparse
import json
import os
import sys

import numpy as np
import tensorflow as tf

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import denoising_row, machine, write_results  # noqa: E402
from tfvae.data import read_image  # noqa: E402
from tfvae.data.images import image_files  # noqa: E402
from tfvae.restoration import conv_prior  # noqa: E402
from tfvae.restoration import denoise as denoise_lib  # noqa: E402

CBSD432 = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "cbsd432")
SIGMAS = (15, 25, 50)
ROWS = ("grey", "grey x8", "colour", "colour x8")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--colour_prior", default="runs/conv_colour/best.keras", help="a colour ConvDenoiser .keras")
    parser.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated, of {', '.join(ROWS)}")
    parser.add_argument("--output", default=os.path.join(os.path.dirname(__file__), "results",
                                                         "denoise_colour_validation.json"))
    args = parser.parse_args()
    rows = args.rows.split(",")
    if not set(rows) <= set(ROWS):
        parser.error(f"--rows: each of {', '.join(ROWS)}, got {args.rows}")
    files = image_files(CBSD432)[::conv_prior.VALIDATION_EVERY]
    images = [read_image(f, channels=3).astype(np.float32) / 255 for f in files]
    results = {"rows": {}}
    if os.path.exists(args.output):
        with open(args.output) as f:
            results = json.load(f)
    results.update({"machine": machine(), "validation_images": [os.path.basename(f) for f in files]})
    grey = denoise_lib.load_prior("conv")
    for name in rows:
        prior = grey if name.startswith("grey") else denoise_lib.load_prior(args.colour_prior)
        ensemble = 8 if name.endswith("x8") else 1
        denoise_lib.denoise(images[0][:64, :64], 0.1, prior=prior, ensemble=ensemble)  # graph first
        row = {"prior": "conv" if name.startswith("grey") else args.colour_prior, **denoising_row(
            images, lambda y, s: denoise_lib.denoise(y, s, prior=prior, ensemble=ensemble).numpy(), SIGMAS)}
        results["rows"][name] = row
        print(f"{name:10s} " + "  ".join(f"sigma {s}: {row[str(s)]['psnr']:.2f} dB" for s in SIGMAS)
              + f"  mean {row['mean_psnr']:.2f}  ({row['25']['seconds_per_image']:.2f} s per image)", flush=True)
    write_results(args.output, results)


if __name__ == "__main__":
    tf.get_logger().setLevel("ERROR")
    main()
