"""A candidate fast mode for grey denoising against the default path (issue 16: at least 10x faster, within 0.3 dB).

    python benchmarks/fast_mode.py --candidate=runs/conv_fast/best.keras [--output=...json]

The default path: tfvae.denoise with the shipped grey conv prior and its self-ensemble over the 8 flips and rotations.
The candidate: one pass of another ConvDenoiser (e.g. a half-width one, apps.train_denoiser --widths=32,64,128).
- Validation split of train400 (the 20 images of tfvae/restoration/conv_prior.py: VALIDATION_EVERY, noise seed
  1000 * sigma + index, as benchmarks/denoise_validation.py): PSNR of both at sigma 15, 25 and 50. This is where a
  fast mode would be chosen.
- Set12 (benchmarks/denoise_set12.py's protocol and seeds): PSNR of both, measured only, and seconds per 256x256
  image (the seven of them; graphs built first, the median of 3 calls per image), both in this one run.
"""

import argparse
import os
import sys
import time

import numpy as np
import tensorflow as tf

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import denoising_row, machine, write_results  # noqa: E402
from benchmarks.denoise_set12 import SET12  # noqa: E402
from tfvae.data import read_image  # noqa: E402
from tfvae.data.images import image_files  # noqa: E402
from tfvae.restoration import conv_prior  # noqa: E402
from tfvae.restoration import denoise as denoise_lib  # noqa: E402

TRAIN400 = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "denoise", "train400")
SIGMAS = (15, 25, 50)


def scores(images, method):
    """{sigma: mean PSNR} of method(noisy, sigma) over images (benchmarks/common.py: denoising_row)."""
    row = denoising_row(images, method, SIGMAS)
    return {str(sigma): row[str(sigma)]["psnr"] for sigma in SIGMAS}


def seconds(images, method):
    """Median over 3 calls of the seconds per image, averaged over images (graph built on a first call)."""
    per = []
    for clean in images:
        method(clean, 25 / 255)
        times = []
        for _ in range(3):
            start = time.perf_counter()
            method(clean, 25 / 255)
            times.append(time.perf_counter() - start)
        per.append(float(np.median(times)))
    return float(np.mean(per))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--candidate", required=True, help="a grey ConvDenoiser .keras, run in one pass")
    parser.add_argument("--output", default=os.path.join(os.path.dirname(__file__), "results", "fast_mode.json"))
    args = parser.parse_args()
    default, candidate = denoise_lib.load_prior("conv"), denoise_lib.load_prior(args.candidate)
    methods = {"default (conv prior, self-ensemble x8)": lambda x, s: denoise_lib.denoise(
                   x, s, default, ensemble=8).numpy(),
               f"candidate one pass ({args.candidate}, widths {candidate.widths})": lambda x, s: denoise_lib.denoise(
                   x, s, candidate, ensemble=1).numpy()}
    validation = [read_image(f, channels=1)[..., 0].astype(np.float32) / 255
                  for f in image_files(TRAIN400)[::conv_prior.VALIDATION_EVERY]]
    set12 = [read_image(f, channels=1)[..., 0].astype(np.float32) / 255 for f in image_files(SET12)]
    small = [x for x in set12 if x.shape == (256, 256)]
    results = {"machine": machine(), "candidate": args.candidate, "rows": {}}
    for name, method in methods.items():
        row = {"validation": scores(validation, method), "set12": scores(set12, method),
               "seconds_per_256x256": seconds(small, method)}
        results["rows"][name] = row
        print(f"{name}: validation " + " / ".join(f"{v:.2f}" for v in row["validation"].values())
              + ", Set12 " + " / ".join(f"{v:.2f}" for v in row["set12"].values())
              + f" dB, {row['seconds_per_256x256']:.3f} s per 256x256", flush=True)
    (d_name, d), (c_name, c) = results["rows"].items()
    results["speedup"] = d["seconds_per_256x256"] / c["seconds_per_256x256"]
    results["validation_gap_db"] = {s: d["validation"][s] - c["validation"][s] for s in d["validation"]}
    results["set12_gap_db"] = {s: d["set12"][s] - c["set12"][s] for s in d["set12"]}
    print(f"speed-up {results['speedup']:.1f}x; gap to the default (dB) on validation {results['validation_gap_db']}, "
          f"on Set12 {results['set12_gap_db']}")
    write_results(args.output, results)


if __name__ == "__main__":
    tf.get_logger().setLevel("ERROR")
    main()
