"""Denoising Set12 at sigma 15, 25 and 50 and the 63 colour images of ../shared/data/color at sigma 25: the shipped
convolutional denoiser (its self-ensemble over 8 flips and rotations, tfvae.denoise's default, and its one pass),
EPLL with the shipped GMM prior (its default, the paper's schedule, its fast mode), the learned denoiser and flow
patch priors, beside scikit-image's non-local means, wavelet and TV denoisers and BM3D / CBM3D (when the `bm3d`
package is installed).

    python benchmarks/denoise_set12.py [--denoiser=PATH.keras] [--flow=PATH.keras] [--conv=PATH.keras] [--output=...]
    python benchmarks/denoise_set12.py --flow=flow --only="EPLL, flow prior" --timing_note="..."

Every setting was chosen on the validation split of train400 (benchmarks/denoise_validation.py,
benchmarks/epll_validation.py); Set12 and the colour images are only measured.

--only (repeatable) runs only the named methods and merges their rows into the existing --output, leaving the others
and the picture as they are; --timing_note is stored with the rows it ran (e.g. that the machine was shared).

Protocol (../shared/data/README.md): grey images on the 0-255 scale divided by 255; white Gaussian noise with a
fixed seed per image (seed = 1000 * sigma + image index), not clipped or rounded; PSNR from the MSE of the clipped
output on the 0-255 scale; seconds are wall-clock for the denoiser call alone (the first call of each method on a
warm-up crop first, so graph building is not counted), per image and averaged over the seven 256x256 images (the other
five are 512x512). Colour: the 63 images of ../shared/data/color (LIVE1, McMaster, Set14, Set5) at sigma 25 on
R, G and B, seed 1000 * 25 + image index, PSNR over all three channels, seconds per megapixel. Writes per-image PSNR,
averages and seconds, and the before/after picture benchmarks/results/denoise_example.png (noisy | GMM | conv x8 | clean).

Baseline settings, fixed rules rather than per-image tuning: NLM with patch 5x5, search 13x13, h = 0.8 sigma,
sigma given (scikit-image's documented recommendation for fast_mode); wavelet: BayesShrink, soft thresholds,
db1, 3 levels (scikit-image's defaults), sigma given; TV (Chambolle): weight = sigma (both on [0, 1]).
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

from benchmarks.common import machine, noisy, psnr  # noqa: E402
from tfvae.data import image_files, read_image, write_image  # noqa: E402
from tfvae.restoration import denoise as denoise_lib  # noqa: E402
from tfvae.restoration.denoise import FAST_STRIDE  # noqa: E402

SET12 = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "denoise", "set12")
COLOUR = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "color")
CONV = "conv prior (one pass)"
CONV8 = "conv prior, self-ensemble x8 (default)"
SIGMAS = (15, 25, 50)
PUBLISHED_SIGMA25 = {"EPLL (Zoran & Weiss, from Zhang et al. 2017)": 29.69, "BM3D (same table)": 29.97}


def methods(denoiser_path, flow_path, conv_path):
    """name -> fn(noisy [H, W] float on [0, 1], sigma on [0, 1]) -> restored [H, W]."""
    from skimage import restoration  # pylint: disable=g-import-not-at-top

    gmm = denoise_lib.load_prior("gmm")
    conv = denoise_lib.load_prior(conv_path)
    found = {
        CONV8: lambda x, s: denoise_lib.denoise(x, s, conv, ensemble=8).numpy(),
        CONV: lambda x, s: denoise_lib.denoise(x, s, conv, ensemble=1).numpy(),
        # EPLL's default is the paper's 5-step schedule with the constant border weight (tfvae/restoration/epll.py)
        "EPLL, GMM prior": lambda x, s: denoise_lib.denoise(x, s, gmm).numpy(),
        f"EPLL, GMM prior, fast (stride {FAST_STRIDE})": lambda x, s: denoise_lib.denoise(
            x, s, gmm, stride=FAST_STRIDE).numpy(),
    }
    if denoiser_path:
        learned = denoise_lib.load_prior(denoiser_path)
        found["EPLL, learned denoiser prior"] = lambda x, s: denoise_lib.denoise(x, s, learned).numpy()
    if flow_path:
        flow = denoise_lib.load_prior(flow_path)
        found["EPLL, flow prior"] = lambda x, s: denoise_lib.denoise(x, s, flow).numpy()
        found[f"EPLL, flow prior, fast (stride {FAST_STRIDE})"] = lambda x, s: denoise_lib.denoise(
            x, s, flow, stride=FAST_STRIDE).numpy()
    found.update({
        "NLM (scikit-image)": lambda x, s: restoration.denoise_nl_means(
            x, patch_size=5, patch_distance=6, h=0.8 * s, sigma=s, fast_mode=True),
        "wavelet BayesShrink (scikit-image)": lambda x, s: restoration.denoise_wavelet(
            x, sigma=s, mode="soft", method="BayesShrink", rescale_sigma=True),
        "TV Chambolle (scikit-image)": lambda x, s: restoration.denoise_tv_chambolle(x, weight=s),
    })
    try:
        import bm3d  # pylint: disable=g-import-not-at-top
        found["BM3D (bm3d package)"] = lambda x, s: bm3d.bm3d(x, sigma_psd=s)
    except ImportError:
        print("bm3d is not installed: no BM3D column")
    return found


def colour_methods(conv_path):
    """name -> fn(noisy [H, W, 3] float on [0, 1], sigma on [0, 1]) -> restored [H, W, 3]."""
    from skimage import restoration  # pylint: disable=g-import-not-at-top

    conv = denoise_lib.load_prior(conv_path)
    found = {
        "conv prior, self-ensemble x8, opponent channels": lambda x, s: denoise_lib.denoise(
            x, s, conv, ensemble=8).numpy(),
        f"{CONV}, opponent channels": lambda x, s: denoise_lib.denoise(x, s, conv, ensemble=1).numpy(),
        f"EPLL, GMM prior, fast (stride {FAST_STRIDE}), opponent channels": lambda x, s: denoise_lib.denoise(
            x, s, denoise_lib.load_prior("gmm"), stride=FAST_STRIDE).numpy(),
        "NLM (scikit-image)": lambda x, s: restoration.denoise_nl_means(
            x, patch_size=5, patch_distance=6, h=0.8 * s, sigma=s, fast_mode=True, channel_axis=-1),
        "wavelet BayesShrink (scikit-image)": lambda x, s: restoration.denoise_wavelet(
            x, sigma=s, mode="soft", method="BayesShrink", rescale_sigma=True, channel_axis=-1, convert2ycbcr=True),
        "TV Chambolle (scikit-image)": lambda x, s: restoration.denoise_tv_chambolle(x, weight=s, channel_axis=-1),
    }
    if os.path.isfile(denoise_lib.CONV_COLOUR_PRIOR_FILE):
        colour = denoise_lib.load_prior("conv_colour")
        found["conv colour prior, self-ensemble x8 (default)"] = lambda x, s: denoise_lib.denoise(
            x, s, colour, ensemble=8).numpy()
        found["conv colour prior (one pass)"] = lambda x, s: denoise_lib.denoise(x, s, colour, ensemble=1).numpy()
    try:
        import bm3d  # pylint: disable=g-import-not-at-top
        found["CBM3D (bm3d package)"] = lambda x, s: bm3d.bm3d_rgb(x, sigma_psd=s)
    except ImportError:
        print("bm3d is not installed: no CBM3D column")
    return found


def colour_rows(found, images, results):
    """Runs the colour methods at sigma 25 into results["colour"]["methods"]."""
    table = results.setdefault("colour", {"sigma": 25, "images": list(images), "methods": {}})
    if table["images"] != list(images):  # rows merged from a run on other images (or other noise) would not compare
        print(f"colour: dropping the rows of other images: {sorted(table['methods'])}")
        table.update(images=list(images), methods={})
    for fn in found.values():
        fn(next(iter(images.values()))[:64, :64], 25 / 255)
    for name, fn in found.items():
        scores, seconds = [], []
        for index, clean in enumerate(images.values()):
            observed = noisy(clean, 25, index)
            start = time.perf_counter()
            restored = fn(observed, 25 / 255)
            seconds.append((time.perf_counter() - start) / (clean.shape[0] * clean.shape[1] / 1e6))
            scores.append(psnr(restored, clean))
        table["methods"][name] = {"psnr": dict(zip(images, scores)), "average_psnr": float(np.mean(scores)),
                                  "seconds_per_megapixel": float(np.mean(seconds))}
        print(f"colour: {name:50s} sigma 25: {np.mean(scores):6.2f} dB, {np.mean(seconds):6.2f} s per megapixel",
              flush=True)
    table["noisy_psnr"] = float(np.mean([psnr(c + 25 / 255 * np.random.default_rng(25_000 + i).normal(size=c.shape),
                                              c) for i, c in enumerate(images.values())]))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--denoiser", default=None, help="a learned prior .keras from apps.train_patch_prior")
    parser.add_argument("--flow", default=None, help="a flow prior .keras from apps.train_patch_prior --prior_type=flow, "
                        "or 'flow' for the shipped one")
    parser.add_argument("--conv", default="conv", help="the convolutional prior (.keras, or a name of "
                        "denoise.PRIOR_FILES)")
    parser.add_argument("--skip_colour", action="store_true", help="leave the colour table out")
    parser.add_argument("--only", action="append", default=[], help="run only this method (repeatable) and merge its "
                        "rows into --output if it exists")
    parser.add_argument("--timing_note", default=None, help="a note on the timings, stored with the rows run")
    parser.add_argument("--output", default=os.path.join(os.path.dirname(__file__), "results", "denoise_set12.json"))
    parser.add_argument("--max_images", type=int, default=0, help="only the first N images (0: all 12)")
    args = parser.parse_args()

    files = sorted(glob.glob(os.path.join(SET12, "*.png")))
    if not files:
        sys.exit(f"error: no Set12 images in {SET12}")
    files = files[:args.max_images or None]
    images = {os.path.basename(f)[:-4]: read_image(f, channels=1)[..., 0].astype(np.float32) / 255 for f in files}
    found = methods(args.denoiser, args.flow, args.conv)
    colour_found = {} if args.skip_colour else colour_methods(args.conv)
    unknown = [name for name in args.only if name not in found and name not in colour_found]
    if unknown:
        sys.exit(f"error: --only {unknown}: not among the methods of this run {list(found)}")
    found = {name: found[name] for name in args.only if name in found} if args.only else found
    colour_found = ({name: colour_found[name] for name in args.only if name in colour_found} if args.only
                    else colour_found)
    results = {"machine": machine(), "images": list(images), "methods": {}}
    if args.only and os.path.isfile(args.output):  # merge into it (a new file otherwise)
        with open(args.output) as f:
            results = json.load(f)
        if results["images"] != list(images):
            sys.exit(f"error: {args.output} has images {results['images']}, this run {list(images)}: cannot merge")
    for fn in found.values():  # graphs built and caches warm before any timing
        fn(next(iter(images.values()))[:64, :64], 25 / 255)

    examples = {}
    for name, fn in found.items():
        per_sigma = {}
        for sigma in SIGMAS:
            scores, seconds = [], []
            for index, (image_name, clean) in enumerate(images.items()):
                observed = noisy(clean, sigma, index)
                start = time.perf_counter()
                restored = fn(observed, sigma / 255)
                seconds.append(time.perf_counter() - start)
                scores.append(psnr(restored, clean))
                if sigma == 25 and image_name == "02":
                    examples.update({"noisy": observed, name: restored, "clean": clean})
            small = [t for t, image in zip(seconds, images.values()) if image.shape == (256, 256)]
            per_sigma[str(sigma)] = {"psnr": dict(zip(images, scores)), "average_psnr": float(np.mean(scores)),
                                     "seconds": dict(zip(images, seconds)), "seconds_per_image": float(np.mean(seconds)),
                                     "seconds_per_256x256_image": float(np.mean(small))}
            print(f"{name:50s} sigma {sigma:2d}: {np.mean(scores):6.2f} dB, {np.mean(seconds):6.2f} s/image, "
                  f"{np.mean(small):6.2f} s per 256x256 image", flush=True)
        results["methods"][name] = per_sigma
        if args.timing_note:
            results.setdefault("timing_notes", {})[name] = args.timing_note
    if colour_found:
        colour_images = {os.path.splitext(os.path.relpath(f, COLOUR))[0]: read_image(f, channels=3).astype(
            np.float32) / 255 for f in image_files(COLOUR)}  # PNG and McMaster's TIFF
        colour_rows(colour_found, colour_images, results)
        if args.timing_note:
            results.setdefault("timing_notes", {}).update({name: args.timing_note for name in colour_found})
    results["noisy_psnr"] = {str(s): float(np.mean([psnr(noisy(c, s, i), c) for i, c in enumerate(images.values())]))
                             for s in SIGMAS}
    results["published_sigma25"] = PUBLISHED_SIGMA25
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output + ".tmp", "w") as f:  # atomically: a merge never loses the rows already there
        json.dump(results, f, indent=2)
    os.replace(args.output + ".tmp", args.output)
    if args.only:  # the picture needs the GMM's row
        print(f"Merged {list(found) + list(colour_found)} into {args.output}")
        return
    panels = [examples["noisy"], examples["EPLL, GMM prior"], examples[CONV8], examples["clean"]]
    gap = np.ones((panels[0].shape[0], 4), np.float32)
    picture = np.concatenate(sum([[p, gap] for p in panels], [])[:-1], 1)
    write_image(os.path.join(os.path.dirname(args.output), "denoise_example.png"),
                np.round(np.clip(picture, 0, 1) * 255).astype(np.uint8))
    print(f"Wrote {args.output}")


if __name__ == "__main__":
    tf.get_logger().setLevel("ERROR")
    main()
