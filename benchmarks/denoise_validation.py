"""Choosing the convolutional denoiser's settings on the validation split (issue 16: no choices on test images).

    python benchmarks/denoise_validation.py --prior=runs/conv_grey/best.keras [--output=...json]

The validation split: the 20 images of ../shared/data/denoise/train400 at sorted positions 0, 20, 40, ...
(tfvae/restoration/conv_prior.py: VALIDATION_EVERY; never trained on by apps.train_denoiser), listed in the JSON.
Noise: white Gaussian, seed 1000 * sigma + image index, not clipped; PSNR of the clipped output on the 0-255 scale.
Compares, at sigma 15, 25 and 50: the one pass D(y, sigma) against plug-and-play schedules (tfvae/restoration/pnp.py),
each network call as it is or as the self-ensemble over the 8 flips and rotations ("x8"), and the network computing in
float32 against mixed bfloat16 (what it was trained in), with seconds per 180x180 image.
"""

import argparse
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

TRAIN400 = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "denoise", "train400")
SIGMAS = (15, 25, 50)
SCHEDULES = {"one pass (1,)": (1.0,), "pnp (0.5, 1, 2)": (0.5, 1.0, 2.0), "pnp (1, 2, 4, 8)": (1.0, 2.0, 4.0, 8.0),
             "pnp (1, 4)": (1.0, 4.0), "pnp (0.25, 0.5, 1)": (0.25, 0.5, 1.0)}


def with_precision(model, precision):
    """A copy of the ConvDenoiser computing in `precision`, with model's weights."""
    config = {**model.get_config(), "precision": precision}
    copy = conv_prior.ConvDenoiser(**config)
    copy.build()
    copy.set_weights(model.get_weights())
    return copy


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prior", default="conv", help="a ConvDenoiser .keras (or a name of denoise.PRIOR_FILES)")
    parser.add_argument("--output", default=os.path.join(os.path.dirname(__file__), "results",
                                                         "denoise_validation.json"))
    args = parser.parse_args()
    files = image_files(TRAIN400)[::conv_prior.VALIDATION_EVERY]
    images = [read_image(f, channels=1)[..., 0].astype(np.float32) / 255 for f in files]
    model = denoise_lib.load_prior(args.prior)
    results = {"machine": machine(), "prior": args.prior, "validation_images": [os.path.basename(f) for f in files],
               "trained_precision": model.precision, "rows": {}}
    cases = [(name, betas, model.precision, 1) for name, betas in SCHEDULES.items()]
    other = "float32" if model.precision != "float32" else "mixed_bfloat16"
    cases.append(("one pass (1,)", (1.0,), other, 1))
    cases += [(f"{name} x8", SCHEDULES[name], model.precision, 8) for name in ("one pass (1,)", "pnp (1, 4)")]
    models = {model.precision: model, other: with_precision(model, other)}
    for name, betas, precision, ensemble in cases:
        prior = models[precision]
        denoise_lib.denoise(images[0][:64, :64], 0.1, prior=prior, betas=betas, ensemble=ensemble)  # graph first
        row = denoising_row(images, lambda y, s: denoise_lib.denoise(y, s, prior=prior, betas=betas,
                                                                     ensemble=ensemble).numpy(), SIGMAS)
        results["rows"][f"{name}, {precision}"] = row
        print(f"{name:32s} {precision:15s} " + "  ".join(f"sigma {s}: {row[str(s)]['psnr']:.2f} dB" for s in SIGMAS)
              + f"  ({row['25']['seconds_per_image']:.2f} s per 180x180 image)", flush=True)
    write_results(args.output, results)


if __name__ == "__main__":
    tf.get_logger().setLevel("ERROR")
    main()
