"""EPLL's border weighting, schedule and stride, chosen on a validation split of train400 (issue 16); Set12 only
measured.

    python benchmarks/epll_validation.py [--few_images=4] [--stride3_images=10] [--set12=0] [--output=...json]
    python benchmarks/epll_validation.py --validation=0   # only the library check and Set12, into the existing JSON
    python benchmarks/epll_validation.py --gmm=runs/gmm_more.npz --weightings=constant --strides=1 \
        --schedules="paper 5-step" --output=benchmarks/results/epll_validation_gmm_more.json   # another GMM

Validation split: the train400 images at sorted-path positions 0, VALIDATION_EVERY, 2 VALIDATION_EVERY, ...
(tfvae.restoration.conv_prior, the learned denoisers' validation split too: 20 images of 180x180), with the same
fixed noise (conv_prior.noisy_copies, seed 0) at sigma 15, 25 and 50 (0-255 scale), not clipped or rounded. PSNR of
the output clipped to [0, 1], on the 0-255 scale, averaged over the images.

EPLL with the shipped GMM prior, on the [0, 1] scale, lambda = D / (s^2 sigma^2) (D = p * p = 64, stride s), and the
x-step of one of these border treatments (tfvae/restoration/epll.py's module docstring has the equations):

    count              x = (lambda y + beta c Z) / (lambda + beta c), c = P^T 1 the per-pixel cover count (the code
                       before issue 16): border pixels, covered by fewer patches, keep more of the noisy image.
    constant           c replaced by the constant D / s^2 in the x-step only, the patch average Z = P^T z / c still
                       divided by the true count (Zoran & Weiss's published code at stride 1).
    reflect_once       the noisy image padded by reflection by p - 1 pixels on every side, `count` on the padded image
                       (the padded pixels are unknowns of their own, with the mirrored noisy pixels as data), the
                       result cropped: every original pixel is covered by the same number of patches (D at stride 1).
    reflect_each_step  every z-step on the current estimate padded by reflection by p - 1 pixels, its patch average
                       cropped back; the x-step over the original pixels only, with c the padded grid's cover count
                       there (D at stride 1). No unknowns beyond the image's own pixels.
    reflect_each_step_constant   the same with the constant D / s^2 in the x-step (differs only at s > 1, where the
                       interior count varies between floor(p / s)^2 and ceil(p / s)^2).

each with the paper's 5-step schedule (epll.PAPER_BETAS) and the 7-step doubling schedule (1, 2, ..., 64), at stride
1 and the fast stride 3. The variants are written out here from the library's parts (patch extraction, the prior's
patch MAP, epll.quadratic_step), so they stay measurable after the library chose one; the run checks which of them
tfvae's `epll` now computes ("library_is" in the JSON). To bound the run's time, the 7-step schedule at stride 1 (the
costliest case) runs on the first --few_images validation images only, stride 3 on the first --stride3_images, and
reflect_each_step_constant only at stride 3 (the JSON's "images" per row says how many; "per_image" has the PSNR of
each, so rows can be compared on the images they share).

Then Set12 at sigma 25 with tfvae's `denoise` (the library's own border treatment), the paper's schedule, stride 1,
under benchmarks/denoise_set12.py's protocol (seed 1000 * sigma + image index): measured only, nothing is chosen on it.
Writes benchmarks/results/epll_validation.json and prints a Markdown table. Seconds are wall-clock per image on a
shared machine, for comparison between rows only.
"""

import argparse
import glob
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from benchmarks.common import machine  # noqa: E402
from benchmarks.denoise_set12 import PUBLISHED_SIGMA25, SET12, psnr  # noqa: E402
from tfvae.data import read_image  # noqa: E402
from tfvae.data.images import image_files  # noqa: E402
from tfvae.restoration import denoise as denoise_lib  # noqa: E402
from tfvae.restoration import epll as epll_lib  # noqa: E402
from tfvae.restoration import patches as patch_ops  # noqa: E402
from tfvae.restoration.conv_prior import VALIDATION_EVERY, noisy_copies  # noqa: E402

TRAIN400 = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data", "denoise", "train400")
SIGMAS = (15, 25, 50)
SCHEDULES = {"paper 5-step": epll_lib.PAPER_BETAS, "7-step doubling": (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0)}
WEIGHTINGS = ("count", "constant", "reflect_once", "reflect_each_step", "reflect_each_step_constant")
PATCH = 8
SUBSETS = ("to bound the run's time: the 7-step schedule at stride 1 on the first {few} validation images, stride 3 on "
           "the first {stride3}, reflect_each_step_constant only at stride 3; every other row on all of them")


def variant(prior, weighting, betas, stride, patch_size=PATCH, lam_scale=1.0):
    """A tf.function (noisy [H, W] on [0, 1], sigma on [0, 1]) -> restored [H, W]: EPLL with that border treatment
    (module docstring), for any image size."""
    dim, pad = patch_size * patch_size, patch_size - 1
    once, each_step = weighting == "reflect_once", weighting.startswith("reflect_each_step")

    def reflect(image):
        return tf.pad(image, [[pad, pad], [pad, pad]], "REFLECT")

    def crop(image):
        return image[pad:-pad, pad:-pad]

    def run(noisy, sigma):
        y = reflect(noisy) if once else noisy
        grid = tf.shape(reflect(y)) if each_step else tf.shape(y)  # the image the patches are taken from
        count = patch_ops.cover_count(grid, patch_size, stride)  # c = P^T 1 there
        weight = dim / stride ** 2 if weighting.endswith("constant") else (crop(count) if each_step else count)
        lam = lam_scale * dim / stride ** 2 / sigma ** 2  # lam_scale 1: the paper's
        x = y
        for multiple in betas:
            beta = multiple / sigma ** 2
            source = reflect(x) if each_step else x
            centered, dc = patch_ops.remove_dc(patch_ops.extract(source, patch_size, stride))
            clean = patch_ops.add_dc(prior.denoise_patches(centered, beta ** -0.5), dc)
            average = patch_ops.adjoint(clean, grid, patch_size, stride) / count
            x = epll_lib.quadratic_step(y, crop(average) if each_step else average, weight, lam, beta)
        return tf.clip_by_value(crop(x) if once else x, 0.0, 1.0)

    return tf.function(run, input_signature=[tf.TensorSpec([None, None]), tf.TensorSpec([])])


def measure(fn, clean, noisy):
    """(mean PSNR, mean seconds per image) of fn over clean images [H, W] and their noisy copies at one sigma."""
    scores, seconds = [], []
    for x, (y, sigma) in zip(clean, noisy):
        start = time.perf_counter()
        restored = fn(y, sigma).numpy()
        seconds.append(time.perf_counter() - start)
        scores.append(psnr(restored, x))
    return float(np.mean(scores)), float(np.mean(seconds)), [float(s) for s in scores]


def library_is(prior, noisy, sigma):
    """The weightings whose variant tfvae's epll reproduces (to 1e-4) on a noisy image, stride 1 and 3, paper
    schedule."""
    found = []
    for weighting in WEIGHTINGS:
        same = True
        for stride in (1, 3):
            ours = variant(prior, weighting, epll_lib.PAPER_BETAS, stride)(noisy, sigma).numpy()
            library = epll_lib.epll(noisy, sigma, prior, PATCH, epll_lib.PAPER_BETAS, stride).numpy()
            same = same and float(np.max(np.abs(ours - library))) < 1e-4
        if same:
            found.append(weighting)
    return found


def table(rows):
    lines = ["| border treatment | schedule | stride | images | " + " | ".join(f"sigma {s}" for s in SIGMAS)
             + " | mean | s / image (sigma 25) |", "|" + " --- |" * (len(SIGMAS) + 6)]
    for row in rows:
        cells = [f"{row['psnr'][str(s)]:.2f}" for s in SIGMAS]
        lines.append(f"| {row['weighting']} | {row['schedule']} | {row['stride']} | {row['images']} | "
                     + " | ".join(cells) + f" | {row['mean_psnr']:.2f} | {row['seconds_per_image']['25']:.2f} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--few_images", type=int, default=4, help="validation images for the 7-step schedule at "
                        "stride 1 (the first of the split)")
    parser.add_argument("--stride3_images", type=int, default=10, help="validation images at stride 3 (the first of "
                        "the split)")
    parser.add_argument("--max_images", type=int, default=0, help="at most this many validation images anywhere (0: "
                        "all 20); for a quick check")
    parser.add_argument("--weightings", default=",".join(WEIGHTINGS), help="comma-separated border treatments to run")
    parser.add_argument("--validation", type=int, default=1, help="0: skip the validation rows, keep those of the "
                        "existing --output and redo only the library check and Set12")
    parser.add_argument("--set12", type=int, default=1, help="1: also Set12 at sigma 25 with the library's epll")
    parser.add_argument("--gmm", default=denoise_lib.PRIOR_FILE, help="the GMM .npz (default: the shipped one)")
    parser.add_argument("--lam_scale", type=float, default=1.0, help="the data term's weight lambda times this "
                        "(1: the paper's D / (s^2 sigma^2)); the Set12 run always uses the library's")
    parser.add_argument("--strides", default="1,3", help="comma-separated patch strides of the validation rows")
    parser.add_argument("--schedules", default=",".join(SCHEDULES), help="comma-separated schedules (of SCHEDULES)")
    parser.add_argument("--output", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "results",
                                                         "epll_validation.json"))
    args = parser.parse_args()
    unknown = set(args.schedules.split(",")) - set(SCHEDULES)
    if unknown:
        sys.exit(f"error: --schedules: unknown {sorted(unknown)}; known: {sorted(SCHEDULES)}")

    files = image_files(TRAIN400)[::VALIDATION_EVERY]
    if not files:
        sys.exit(f"error: no train400 images in {TRAIN400}")
    files = files[:args.max_images or None]
    clean = [read_image(f, channels=1).astype(np.float32) / 255 for f in files]  # [H, W, 1]
    noisy = {s: [y[..., 0] for y in images] for s, images in noisy_copies(clean, SIGMAS, seed=0).items()}
    clean = [x[..., 0] for x in clean]
    prior = denoise_lib.load_prior(args.gmm)  # by default the shipped GMM

    results = {"machine": machine(), "gmm": args.gmm, "validation_images": [os.path.basename(f) for f in files],
               "split": f"train400 sorted by path, positions 0, {VALIDATION_EVERY}, {2 * VALIDATION_EVERY}, ...",
               "noise": "tfvae.restoration.conv_prior.noisy_copies(images, (15, 25, 50), seed=0)",
               "subsets": SUBSETS.format(few=args.few_images, stride3=args.stride3_images), "rows": []}
    if not args.validation:
        with open(args.output) as f:
            results = {**json.load(f), "library_check_machine": machine()}
    results["library_is"] = library_is(prior, noisy[25][0][:64, :64], 25 / 255)  # a crop: quick
    print(f"tfvae's epll computes: {results['library_is']}", flush=True)
    for stride in [int(s) for s in args.strides.split(",")] if args.validation else ():
        for schedule, betas in ((name, SCHEDULES[name]) for name in args.schedules.split(",")):
            for weighting in args.weightings.split(","):
                if weighting == "reflect_each_step_constant" and stride == 1:
                    continue  # the same x-step as reflect_each_step at stride 1 (c = D on every pixel)
                count = args.stride3_images if stride == 3 else len(clean)
                count = args.few_images if (stride == 1 and len(betas) == 7) else count
                fn = variant(prior, weighting, betas, stride, lam_scale=args.lam_scale)
                fn(noisy[25][0][:32, :32], 25 / 255)  # the graph built before timing
                row = {"weighting": weighting, "schedule": schedule, "betas": list(betas), "stride": stride,
                       "lam_scale": args.lam_scale,
                       "images": min(count, len(clean)), "psnr": {}, "seconds_per_image": {}, "per_image": {}}
                for sigma in SIGMAS:
                    pairs = [(y, sigma / 255) for y in noisy[sigma][:count]]
                    row["psnr"][str(sigma)], row["seconds_per_image"][str(sigma)], row["per_image"][str(sigma)] = (
                        measure(fn, clean[:count], pairs))
                row["mean_psnr"] = float(np.mean(list(row["psnr"].values())))
                results["rows"].append(row)
                print(f"{weighting:16s} {schedule:16s} stride {stride}, {row['images']:2d} images: "
                      + ", ".join(f"{row['psnr'][str(s)]:.2f}" for s in SIGMAS) + " dB", flush=True)
                write(results, args.output)

    if args.set12:
        files = sorted(glob.glob(os.path.join(SET12, "*.png")))
        images = [read_image(f, channels=1)[..., 0].astype(np.float32) / 255 for f in files]
        scores = []
        for index, x in enumerate(images):
            noise = np.random.default_rng(1000 * 25 + index).normal(size=x.shape).astype(np.float32)
            restored = denoise_lib.denoise(x + 25 / 255 * noise, 25 / 255, prior, betas=epll_lib.PAPER_BETAS)
            scores.append(psnr(restored.numpy(), x))
        results["set12_sigma25"] = {
            "what": "tfvae.denoise (the library's border treatment), the paper's 5-step schedule, stride 1; "
                    "benchmarks/denoise_set12.py's noise; measured only",
            "psnr": dict(zip([os.path.basename(f)[:-4] for f in files], scores)),
            "average_psnr": float(np.mean(scores)), "published": PUBLISHED_SIGMA25}
        print(f"Set12 sigma 25, tfvae's epll, paper schedule, stride 1: {np.mean(scores):.2f} dB", flush=True)
    write(results, args.output)
    print(table(results["rows"]))


def write(results, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w") as f:
        json.dump(results, f, indent=2)
    os.replace(path + ".tmp", path)


if __name__ == "__main__":
    tf.get_logger().setLevel("ERROR")
    main()
