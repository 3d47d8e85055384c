"""Restoration of Set12 beyond noise: inpainting, deblurring and super-resolution with the library's priors
(tfvae.restore: the convolutional prior by plug-and-play, the GMM by EPLL's splitting) beside scikit-image's and
bicubic baselines, in one run.

    python benchmarks/restore_set12.py [--conv=PATH.keras] [--output=...json]
    python benchmarks/restore_set12.py --only="conv prior (plug-and-play)"    # re-measure one method, keep the rest

--only (repeatable) measures only the named methods and merges their rows into the existing --output (the pictures
are drawn again with every method).

Tasks (TASKS; the observation is degraded with the borders continued by reflection, then rounded to 8 bits, as an
image file would hold it; seeds: 1000 * task index + image index):
- inpaint50, inpaint80: 50% / 80% of the pixels missing at random, no noise; baseline scikit-image's
  inpaint_biharmonic;
- deblur: a 25x25 Gaussian kernel of standard deviation 1.6, noise sigma 2/255; baselines scikit-image's
  unsupervised_wiener and Richardson-Lucy (its iteration count chosen on the validation split,
  benchmarks/restore_validation.py; both with the true kernel; the observation clipped to [0, 1]);
- sr2, sr4: MATLAB imresize's bicubic downsampling by 2 / 4 (tfvae.restoration.degradations.bicubic_kernel), no
  noise; baseline bicubic interpolation (tf.image.resize, Keys a = -0.5).
PSNR from the MSE of the clipped output on the 0-255 scale over the whole image (borders included); seconds per image
(wall clock, the first call on each size before timing), averaged over the 256x256 images. Every schedule of the
library's rows is tfvae.restore's default (tfvae/restoration/restore.py: DEFAULT_SCHEDULES), chosen on the validation
split of train400; Set12 is only measured. Writes per-image PSNR, the averages and seconds, and one picture per task,
benchmarks/results/restore_<task>.png (observation | best baseline | GMM | conv prior | clean).
"""

import argparse
import glob
import json
import os
import sys
import time

import numpy as np
import tensorflow as tf

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import machine, psnr  # noqa: E402
from tfvae.data import read_image, write_image  # noqa: E402
from tfvae.restoration import degradations as deg  # noqa: E402
from tfvae.restoration import denoise as denoise_lib  # noqa: E402
from tfvae.restoration import restore as restore_lib  # noqa: E402

SET12 = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "denoise", "set12")
RESULTS = os.path.join(os.path.dirname(__file__), "results")
BLUR = deg.gaussian_kernel(25, 1.6)
RICHARDSON_LUCY_ITERATIONS = 10  # chosen on the validation split (benchmarks/restore_validation.py)
# Published on Set12 where comparable (Zhang et al., DPIR 2021, Table 4 / 6): for reference only, other protocols.
PUBLISHED = {"sr2": "DPIR 31.1 (Set5, x2 bicubic, RGB, IRCNN protocol)", "deblur": "DPIR: Levin kernels, not ours"}


def mask_of(shape, missing, seed):
    return np.random.default_rng(seed).uniform(size=shape) >= missing  # True where observed


def make(task, shape, seed):
    """The degradation of `task` for a clean image of shape [H, W]."""
    if task.startswith("inpaint"):
        return deg.Inpaint(mask_of(shape, int(task[-2:]) / 100, seed), 0.0)
    if task == "deblur":
        return deg.Blur(BLUR, 2 / 255)
    if task.startswith("sr"):
        return deg.Downsample(int(task[2:]), sigma=0.0)
    raise ValueError(task)


TASKS = ("inpaint50", "inpaint80", "deblur", "sr2", "sr4")


def observe(degradation, clean, seed):
    """The observation of clean [H, W] (float on [0, 1]): degraded with reflected borders, clipped, rounded to 8 bits,
    as float32 [h, w] on [0, 1]."""
    y = degradation.degrade(clean[..., None], seed).numpy()[..., 0]
    return np.round(np.clip(y, 0, 1) * 255).astype(np.float32) / 255


def baselines(task, richardson_lucy_iterations=RICHARDSON_LUCY_ITERATIONS):
    """name -> fn(observation [h, w], degradation) -> restored [H, W] on [0, 1]."""
    from skimage import restoration  # pylint: disable=g-import-not-at-top

    if task.startswith("inpaint"):
        return {"biharmonic (scikit-image)": lambda y, d: restoration.inpaint_biharmonic(
            y, (d.mask.numpy()[..., 0] == 0))}
    if task == "deblur":
        return {"unsupervised Wiener (scikit-image)": lambda y, d: restoration.unsupervised_wiener(
                    y, d.kernel, rng=0)[0],
                f"Richardson-Lucy, {richardson_lucy_iterations} iterations (scikit-image)": lambda y, d:
                    restoration.richardson_lucy(y, d.kernel, num_iter=richardson_lucy_iterations, clip=True)}
    factor = int(task[2:])
    return {"bicubic interpolation": lambda y, d: tf.image.resize(
        y[..., None], [factor * y.shape[0], factor * y.shape[1]], "bicubic").numpy()[..., 0]}


def measure(methods, task, images, seed_base):
    """{method: {"psnr": [per image], "seconds": [per image]}} on images [(name, clean [H, W])]."""
    rows = {name: {"psnr": [], "seconds": []} for name in methods}
    for index, (_, clean) in enumerate(images):
        degradation = make(task, clean.shape, seed_base + index)
        y = observe(degradation, clean, seed_base + index)
        for name, fn in methods.items():
            start = time.perf_counter()
            restored = np.asarray(fn(y, degradation))
            rows[name]["seconds"].append(time.perf_counter() - start)
            rows[name]["psnr"].append(psnr(restored, clean))
    return rows


def library_methods(conv_path):
    gmm, conv = denoise_lib.load_prior("gmm"), denoise_lib.load_prior(conv_path)
    return {"GMM (EPLL splitting)": lambda y, d: restore_lib.restore(y, d, gmm).numpy(),
            "conv prior (plug-and-play)": lambda y, d: restore_lib.restore(y, d, conv).numpy()}


def warm_up(methods, task, shapes):
    """The first call of each method on every image size, so graph building is not timed."""
    for shape in shapes:
        clean = np.full(shape, 0.5, np.float32)
        degradation = make(task, shape, 0)
        y = observe(degradation, clean, 0)
        for fn in methods.values():
            fn(y, degradation)


def picture(task, images, methods, path):
    """observation | the best baseline | the library's methods | clean, for the first 256x256 image."""
    name, clean = next((n, c) for n, c in images if c.shape == (256, 256))
    degradation = make(task, clean.shape, 0)
    y = observe(degradation, clean, 0)
    shown = np.clip(degradation.initial(tf.constant(y[..., None])).numpy()[..., 0], 0, 1) \
        if task.startswith("sr") else y
    tiles = [shown] + [np.clip(np.asarray(fn(y, degradation)), 0, 1) for fn in methods.values()] + [clean]
    write_image(path, np.round(np.concatenate(tiles, 1) * 255).astype(np.uint8))
    return name


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conv", default="conv", help="the convolutional prior (.keras or a name)")
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--output", default=os.path.join(RESULTS, "restore_set12.json"))
    parser.add_argument("--only", action="append", default=[], help="measure only this method (repeatable) and "
                        "merge its rows into the existing --output")
    args = parser.parse_args()
    if args.only and not os.path.isfile(args.output):
        sys.exit(f"error: --only merges into {args.output}, which does not exist")
    files = sorted(glob.glob(os.path.join(SET12, "*.png")))
    if not files:
        sys.exit(f"error: no Set12 images in {SET12}")
    images = [(os.path.basename(f), read_image(f, channels=1)[..., 0].astype(np.float32) / 255) for f in files]
    ours = library_methods(args.conv)
    results = {"machine": machine(), "images": [n for n, _ in images], "conv": args.conv,
               "schedules": {f"{k[0]}, {k[1]}": vars(v) for k, v in restore_lib.DEFAULT_SCHEDULES.items()},
               "tasks": {}}
    if args.only:
        with open(args.output) as f:
            old = json.load(f)
        unknown = set(args.only) - {name for task in TASKS for name in {**baselines(task), **ours}}
        if unknown:
            sys.exit(f"error: --only names no method of this benchmark: {sorted(unknown)}")
        results = {**old, "conv": args.conv, "schedules": results["schedules"],
                   "machines": {**old.get("machines", {}), **{name: results["machine"] for name in args.only}}}
    for task in args.tasks.split(","):
        every = {**baselines(task), **ours}
        methods = {k: v for k, v in every.items() if not args.only or k in args.only}
        warm_up(methods, task, sorted({c.shape for _, c in images}))
        rows = measure(methods, task, images, 1000 * TASKS.index(task))  # a task's seeds do not depend on --tasks
        summary = dict(results["tasks"].get(task, {}).get("methods", {})) if args.only else {}
        for name, row in rows.items():
            small = [s for s, (_, c) in zip(row["seconds"], images) if c.shape == (256, 256)]
            summary[name] = {"psnr": float(np.mean(row["psnr"])), "seconds_256": float(np.mean(small)),
                             "per_image": row}
            print(f"{task:10s} {name:55s} {summary[name]['psnr']:6.2f} dB  {summary[name]['seconds_256']:6.2f} s",
                  flush=True)
        shown = picture(task, images, every,
                        os.path.join(RESULTS, f"restore_{task}.png"))
        results["tasks"][task] = {"methods": summary, "picture": f"restore_{task}.png", "picture_image": shown}
        with open(args.output, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
