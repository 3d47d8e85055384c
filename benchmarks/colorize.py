"""Colorization on held-out colour images: the latent-segmentation colorizer against three baselines.

    python benchmarks/colorize.py --colorizer=runs/colorize128 --regressor_dir=runs/regressor128
    python benchmarks/colorize.py --colorizer=runs/colorize128 --regressor_dir=runs/regressor128 \
        --train_regressor_epochs=16      # only train (or resume) the L2 baseline, e.g. beside the colorizer
    python benchmarks/colorize.py --colorizer=runs/colorize_more --init_steps=2544 ...   # a run --init_from a model
    python benchmarks/colorize.py --colorizer=runs/colorize_more --validation_only --output=...json   # candidates

Data: ../shared/data/cbsd432 (432 BSDS images) and ../shared/data/color (63 images), split by
tfvae/colorization/data.py: in each folder every 10th image sorted by path is held out (43 + 6 = 49 test images,
listed in the JSON); of the remaining 446, every 20th is a validation image (22, for choices and monitoring), 424
train. Every method sees only the lightness L of each whole image and returns RGB; metrics
(tfvae/colorization/metrics.py) are averaged over the images, on the test images and, separately, the validation
images.

Methods, computed in the same run:
- grey: the input itself (a = b = 0);
- global mean colour: L with the mean ab of all training pixels;
- L2 regression: the colorizer's scene U-Net predicting ab by least squares (tfvae/colorization/baseline.py) with the
  colorizer's backbone, precision, crops, batch size, learning rate, seed and number of steps; trained here, or
  resumed from --regressor_dir (trained there by --train_regressor_epochs, checkpointed per epoch);
- the colorizer of --colorizer (a model_dir of apps.train --model=colorize): `colorize` (the expected colour under
  P(z|x)); best-of-8 PSNR over 8 colourings drawn from P(z|x) (seed 0).
Segmentation (the colorizer only, on the mode of P(z|x)): boundary density, usage perplexity, the share of chroma
variance explained by the segment means, boundary recall against true chroma edges (within 2 pixels), KL and the
bound per pixel, and the shuffle cost log P(y|z, x) - log P(y|z', x) (z ~ Q, z' its cell labels at permuted cells),
in nats per pixel. Chosen on the validation images before the test images are touched (choose_on_validation): the
guide of the upsampling of z (guide_scale 0 = bilinear, 2.5, 5, 10; the networks as trained) and the temperature of
the annealed mean that `colorize` returns (1 = the expected colour, 0.6, 0.38, 0.25); --save_model writes the
colorizer with them (the shipped file). Targets (issue: colorization people would use) are checked in the JSON. Writes the JSON and
benchmarks/results/colorize_examples.png: ten test images (every 5th), 192 x 192 centre crops; columns: grey input,
L2 regression, latent segmentation, two samples, the segmentation, the original.
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import tensorflow as tf

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import machine, write_results  # noqa: E402
from tfvae import families, runs  # noqa: E402
from tfvae.colorization import baseline, colour, evaluation, inference, metrics, pictures  # noqa: E402
from tfvae.colorization import data as colour_data  # noqa: E402
from tfvae.data import write_image  # noqa: E402
from tfvae.data.pipeline import steps_per_epoch  # noqa: E402
from tfvae.saving import save_model_file  # noqa: E402

SHARED = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data")
DATASET = "folder:" + ",".join(os.path.join(SHARED, name) for name in ("cbsd432", "color"))
BEST_OF = 8
GUIDES = (0.0, 2.5, 5.0, 10.0)
ANNEALING = (1.0, 0.6, 0.38, 0.25)
SIDE = 192  # the picture's crops


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


def targets(result):
    """The issue's targets on the test images: name -> (value, target, met)."""
    ours, l2, grey = (result["methods"][n] for n in ("latent segmentation", "L2 regression", "grey"))
    checks = {
        "PSNR above the L2 regression": (ours["psnr"], l2["psnr"], ours["psnr"] > l2["psnr"]),
        "rebalanced AuC above the L2 regression": (ours["auc_rebalanced"], l2["auc_rebalanced"],
                                                   ours["auc_rebalanced"] > l2["auc_rebalanced"]),
        "PSNR at least 1.5 dB above grey": (ours["psnr"], grey["psnr"] + 1.5, ours["psnr"] >= grey["psnr"] + 1.5),
        "best-of-8 at least 1 dB above the mean prediction": (ours[f"best_of_{BEST_OF}_psnr"], ours["psnr"] + 1.0,
                                                              ours[f"best_of_{BEST_OF}_psnr"] >= ours["psnr"] + 1.0),
        "colourfulness at least half the originals'": (ours["colourfulness"], result["original_colourfulness"] / 2,
                                                       ours["colourfulness"] >= result["original_colourfulness"] / 2),
        "boundary density under 10%": (result["segmentation"]["boundary_density"], 0.10,
                                       result["segmentation"]["boundary_density"] < 0.10),
    }
    return {name: {"value": v, "target": t, "met": bool(met)} for name, (v, t, met) in checks.items()}


def choose_on_validation(model, images, originals_colourfulness):
    """The inference settings chosen on the validation images: the guide of the upsampling of z (GUIDES; the model
    is trained with its config's) and the annealed mean's temperature (ANNEALING), over their grid. Rule: the
    highest mean PSNR among the settings whose colourfulness is at least half the originals' (the issue's floor),
    the highest PSNR if none is. Returns (guide_scale, annealing, {setting: {psnr, colourfulness, boundary_density}})."""
    trained = model.config.guide_scale, model.config.annealing
    scenes = []
    for image in images:
        lightness = colour.lightness(pictures.grey(image)[None])
        scenes.append((image, lightness, *model.scene_outputs(lightness)))
    rows = {}
    for guide in GUIDES:
        for annealing in ANNEALING:
            model.config.guide_scale, model.config.annealing = guide, annealing
            psnrs, colourfulness, density = [], [], []
            for image, lightness, logits, hypotheses in scenes:
                weights = model.pixel_weights(model.annealed(logits), lightness)
                output = colour.to_uint8(model.paint_with(lightness, weights, hypotheses)).numpy()[0]
                psnrs.append(metrics.psnr(output, image))
                colourfulness.append(metrics.colourfulness(output))
                density.append(metrics.boundary_density(tf.argmax(weights, -1).numpy()[0]))
            rows[f"guide {guide}, annealing {annealing}"] = {
                "guide_scale": guide, "annealing": annealing, "psnr": float(np.mean(psnrs)),
                "colourfulness": float(np.mean(colourfulness)), "boundary_density": float(np.mean(density))}
            print(list(rows)[-1], rows[list(rows)[-1]], flush=True)
    model.config.guide_scale, model.config.annealing = trained
    floor = originals_colourfulness / 2
    allowed = [r for r in rows.values() if r["colourfulness"] >= floor] or list(rows.values())
    best = max(allowed, key=lambda r: r["psnr"])
    return best["guide_scale"], best["annealing"], rows


def picture(images, methods, sample, model, path):
    """Ten images (module docstring) into one PNG."""
    rows = []
    for image in images:
        side = min(SIDE, *image.shape[:2])
        top, left = (image.shape[0] - side) // 2, (image.shape[1] - side) // 2
        crop = image[top: top + side, left: left + side]
        grey = pictures.grey(crop)
        drawn = sample(grey[None], 2)
        labels = model.segment(grey[None]).numpy()[0]
        row = [grey, methods["L2 regression"](grey[None])[0], methods["latent segmentation"](grey[None])[0], drawn[0],
               drawn[1], pictures.segmentation_picture(labels, crop, model.config.num_segments), crop]
        rows.append(np.concatenate([np.pad(r, ((0, SIDE - side), (0, SIDE - side), (0, 0))) for r in row], 1))
    write_image(path, np.concatenate(rows, 0))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--colorizer", required=True, help="model_dir of apps.train --model=colorize")
    parser.add_argument("--regressor_dir", default=None, help="checkpoints of the L2 baseline (resumed)")
    parser.add_argument("--train_regressor_epochs", type=int, default=0,
                        help="only train the L2 baseline this many epochs into --regressor_dir")
    parser.add_argument("--init_steps", type=int, default=0,
                        help="steps the colorizer's --init_from source had taken before its run (the shipped file of "
                             "README's table: 2544); the L2 baseline trains the run's steps plus these")
    parser.add_argument("--regressor_learning_rate", type=float, default=0.0,
                        help="with --train_regressor_epochs: the baseline's learning rate for these epochs (0: the "
                             "colorizer's), so it can follow the colorizer's whole schedule")
    parser.add_argument("--save_model", default=None,
                        help="write the colorizer with the settings chosen on validation to this .keras file")
    parser.add_argument("--validation_only", action="store_true",
                        help="only the validation grid of the colorizer (no baseline, no test images) into --output: "
                             "to compare candidates before any test image is measured")
    parser.add_argument("--max_images", type=int, default=0, help="only the first N of each split (a dry run)")
    parser.add_argument("--output", default=os.path.join(os.path.dirname(__file__), "results", "colorize.json"))
    args = parser.parse_args()
    config, train_config = families.read_config(args.colorizer)
    data = colour_data.load(DATASET, config.input_shape[0])
    per_epoch = steps_per_epoch(data.examples_per_epoch, train_config.batch_size)
    if args.train_regressor_epochs:
        baseline.train_regressor(config, data, args.train_regressor_epochs * per_epoch, train_config.batch_size,
                                 args.regressor_learning_rate or train_config.learning_rate, verbose=2,
                                 model_dir=args.regressor_dir)
        return
    if args.max_images:
        data.x_val, data.val_files = data.x_val[:args.max_images], data.val_files[:args.max_images]
        data.x_test, data.test_files = data.x_test[:args.max_images], data.test_files[:args.max_images]
    model = families.restore(args.colorizer)
    val_colourfulness = float(np.mean([metrics.colourfulness(x) for x in data.x_val]))
    guide, annealing, grid = choose_on_validation(model, data.x_val, val_colourfulness)
    chosen = {"guide_scale": guide, "annealing": annealing, "grid": grid}
    print(f"chosen on validation: guide_scale {guide}, annealing {annealing}", flush=True)
    if args.validation_only:
        write_results(args.output, {"machine": machine(), "colorizer": args.colorizer,
                                    "originals_colourfulness": val_colourfulness,
                                    "validation_files": [os.path.relpath(f, SHARED) for f in data.val_files],
                                    "chosen_on_validation": chosen})
        return
    step = runs.checkpoint_step(args.colorizer) + args.init_steps
    print(f"{len(data.x_train)} training, {len(data.x_val)} validation, {len(data.x_test)} test images; colorizer "
          f"trained {step} steps ({args.init_steps} of them before its run)")

    start = time.perf_counter()
    regressor = baseline.train_regressor(config, data, step, train_config.batch_size, train_config.learning_rate,
                                         verbose=2, model_dir=args.regressor_dir)
    regressor_s = time.perf_counter() - start
    sample = lambda grey, n: inference.sample_colorings(grey, n, 0, model)[0].numpy()  # noqa: E731
    methods = {
        "grey": with_ab([0.0, 0.0]),
        "global mean colour": with_ab(mean_ab(data.x_train)),
        "L2 regression": lambda grey: colour.to_uint8(regressor.colorize(grey)).numpy(),
        "latent segmentation": lambda grey: colour.to_uint8(model.colorize(grey)).numpy(),
    }
    results = {"machine": machine(), "dataset": "cbsd432 + color", "steps": step, "init_steps": args.init_steps,
               "epochs": step / per_epoch,
               "crop": config.input_shape[0], "batch_size": train_config.batch_size,
               "config": {k: getattr(config, k) for k in ("hidden_units", "num_segments", "latent_stride",
                                                            "guide_scale", "precision")},
               "regressor_train_s": regressor_s, "chosen_on_validation": chosen}
    model.config.guide_scale, model.config.annealing = guide, annealing
    if args.save_model:
        save_model_file(model, args.save_model)
    for split, images, files in (("validation", data.x_val, data.val_files), ("test", data.x_test, data.test_files)):
        part = {"files": [os.path.relpath(f, SHARED) for f in files],
                "original_colourfulness": float(np.mean([metrics.colourfulness(x) for x in images])), "methods": {}}
        for name, method in methods.items():
            sampler = sample if name == "latent segmentation" else None
            part["methods"][name] = evaluation.method_metrics(method, images, sampler, BEST_OF)
            print(split, name, json.dumps(part["methods"][name]), flush=True)
        part["segmentation"] = evaluation.segmentation_metrics(model, images)
        print(split, "segmentation", json.dumps(part["segmentation"]), flush=True)
        part["targets"] = targets(part)
        results[split] = part
    write_results(args.output, results)
    for name, check in results["test"]["targets"].items():
        print(f"{'met ' if check['met'] else 'MISS'} {name}: {check['value']:.3f} (target {check['target']:.3f})")
    picture(data.x_test[::5][:10], methods, sample, model,
            os.path.join(os.path.dirname(os.path.abspath(args.output)), "colorize_examples.png"))


if __name__ == "__main__":
    main()
