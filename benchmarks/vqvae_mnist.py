"""Benchmark: VQ-VAE rate-distortion on `mnist_offline`, against Gaussian VAEs trained on the same pixels.

    nice python benchmarks/vqvae_mnist.py                      # K in {16, 64, 256, 512} (about 35 min on 2 CPU cores)
    python benchmarks/vqvae_mnist.py --num_codes=16 --epochs=1 --prior_epochs=1 --vae_betas=1   # a quick check

For each codebook size K: phase I (the VQ-VAE of `apps.train --model=vqvae`: conv (32, 64), a 7x7 map of D = 16
codes, EMA codebook, Gaussian likelihood with a learned scale on continuous pixels in [0, 1]) and phase II (the gated
PixelCNN prior of `--stage=prior`), then on the 2,000 test images: the squared error of the reconstruction and the
rate -log2 P(z(x)) in bits per image under the prior (and under a uniform prior, 49 log2 K), the codebook perplexity,
the prior's NLL on training and test codes, the time per epoch of both phases (median from epoch 2 on), and the time
to sample 100 images from the exported SavedModel (ancestral sampling, 49 network evaluations).

The Gaussian VAEs (the default conv VAE with 32 latents, Gaussian likelihood, same pixels) give the comparison: rate =
KL(q(z|x) || p(z)) in bits per image, distortion = squared error of the decoded posterior mean; --vae_betas trains one
per beta to trace its curve. Writes benchmarks/results/vqvae_mnist.json and the plot vqvae_mnist.png beside it
(drawn with Pillow), and prints a Markdown table.
"""

import json
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app, flags  # noqa: E402
from absl import logging  # noqa: E402
from PIL import Image, ImageDraw, ImageFont  # noqa: E402

from benchmarks import common  # noqa: E402
from tfvae import data as data_lib  # noqa: E402
from tfvae import families, rate_distortion  # noqa: E402
from tfvae.config import PriorConfig, TrainConfig, VAEConfig, VQVAEConfig  # noqa: E402
from tfvae.serving import export_model  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
flags.DEFINE_list("num_codes", ["16", "64", "256", "512"], "codebook sizes K")
flags.DEFINE_integer("epochs", 8, "phase-I (and Gaussian VAE) training epochs")
flags.DEFINE_integer("prior_epochs", 8, "phase-II (PixelCNN prior) training epochs")
flags.DEFINE_list("vae_betas", ["1", "0.1", "0.01"], "betas of the Gaussian VAEs compared with")
flags.DEFINE_string("output", os.path.join(RESULTS, "vqvae_mnist.json"), "JSON results (the PNG goes beside it)")
FLAGS = flags.FLAGS

PIXELS = dict(input_shape=(28, 28, 1), likelihood="gaussian", pixels="continuous")
VAE_LATENTS = 32  # room for rates up to a few hundred bits, the VQ-VAEs' range


def steady(times):
    """The median epoch time from epoch 2 on (compilation excluded)."""
    times = sorted(times[1:] or times)
    return times[len(times) // 2]


def eval_batches(data, images, labels, config):
    return data_lib.eval_dataset(data_lib.prepare(images, config.pixels, config.seed, False), 200, config.pixels,
                                 config.seed, labels=labels)


def run_vqvae(num_codes, data, work):
    config = VQVAEConfig(model="vqvae", num_codes=num_codes, **PIXELS)
    model_dir = os.path.join(work, f"vqvae_{num_codes}")
    timer = common.EpochTimer()
    vqvae = families.train(config, TrainConfig(epochs=FLAGS.epochs), data, model_dir, verbose=0, validate=False,
                           callbacks=[timer])
    prior_timer = common.EpochTimer()
    with_prior = families.get("vqvae").train_stage("prior", model_dir, vqvae, PriorConfig(),
                                                   TrainConfig(epochs=FLAGS.prior_epochs), data, verbose=0,
                                                   validate=False, callbacks=[prior_timer])
    prior = with_prior.prior
    test = rate_distortion.vqvae_point(vqvae, eval_batches(data, data.x_test, data.y_test, config), prior)
    train = rate_distortion.vqvae_point(vqvae, eval_batches(data, data.x_train, data.y_train, config), prior)
    path = export_model(with_prior, os.path.join(model_dir, "export"))
    loaded = tf.saved_model.load(path)
    sample_s = []
    for seed in range(3):  # the first call includes the graph's warm-up
        start = time.perf_counter()
        images = loaded.signatures["sample"](count=tf.constant(100), seed=tf.constant(seed, tf.int64))["images"]
        sample_s.append(time.perf_counter() - start)
    return {"model": "vqvae", "num_codes": num_codes, **{f"test_{k}": v for k, v in test.items()},
            "train_prior_nll_nats": train["prior_nll_nats"], "train_rate_prior_bits": train["rate_prior_bits"],
            "train_mse_per_image": train["mse_per_image"], "epoch_s": timer.times, "prior_epoch_s": prior_timer.times,
            "phase1_epoch_s": steady(timer.times), "phase2_epoch_s": steady(prior_timer.times),
            "sample_100_s": sample_s, "sample_images_finite": bool(np.isfinite(images.numpy()).all()),
            "params": int(sum(v.numpy().size for v in vqvae.trainable_variables)),
            "prior_params": int(sum(v.numpy().size for v in prior.trainable_variables))}


def run_vae(beta, data, work):
    config = VAEConfig(beta=beta, latent_dim=VAE_LATENTS, **PIXELS)
    timer = common.EpochTimer()
    vae = families.train(config, TrainConfig(epochs=FLAGS.epochs), data, os.path.join(work, f"vae_{beta}"),
                         verbose=0, validate=False, callbacks=[timer])
    test = rate_distortion.gaussian_vae_point(vae, eval_batches(data, data.x_test, None, config))
    return {"model": "vae", "beta": beta, **{f"test_{k}": v for k, v in test.items()}, "epoch_s": timer.times,
            "phase1_epoch_s": steady(timer.times)}


def vae_mse_at(rate, vaes):
    """The Gaussian VAEs' squared error at `rate` bits, linearly interpolated between their points (None outside)."""
    points = sorted((v["test_rate_bits"], v["test_mse_per_image"]) for v in vaes)
    rates = [r for r, _ in points]
    if not rates[0] <= rate <= rates[-1]:
        return None
    return float(np.interp(rate, rates, [m for _, m in points]))


def plot(vqvaes, vaes, path, size=(640, 440)):
    """MSE per image against bits per image: VQ-VAE under the PixelCNN prior (and uniform), Gaussian VAEs."""
    font = ImageFont.load_default(size=13)
    image = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = 70, 30, size[0] - 20, size[1] - 50
    series = [("VQ-VAE, PixelCNN prior", (31, 119, 180), [(r["test_rate_prior_bits"], r["test_mse_per_image"],
                                                            f"K={r['num_codes']}") for r in vqvaes]),
              ("VQ-VAE, uniform prior", (160, 190, 220), [(r["test_rate_uniform_bits"], r["test_mse_per_image"], "")
                                                          for r in vqvaes]),
              ("Gaussian VAE (KL)", (214, 39, 40), [(r["test_rate_bits"], r["test_mse_per_image"], f"b={r['beta']}")
                                                    for r in vaes])]
    xs = [p[0] for _, _, s in series for p in s]
    ys = [p[1] for _, _, s in series for p in s]
    x_max, y_max = max(xs) * 1.1, max(ys) * 1.15

    def at(x, y):
        return left + (right - left) * x / x_max, bottom - (bottom - top) * y / y_max

    draw.line([(left, top), (left, bottom), (right, bottom)], fill="black")
    for i in range(6):
        x, y = x_max * i / 5, y_max * i / 5
        px, _ = at(x, 0)
        _, py = at(0, y)
        draw.line([(px, bottom), (px, bottom + 4)], fill="black")
        draw.text((px - 10, bottom + 6), f"{x:.0f}", fill="black", font=font)
        draw.line([(left - 4, py), (left, py)], fill="black")
        draw.text((left - 45, py - 7), f"{y:.1f}", fill="black", font=font)
    draw.text(((left + right) / 2 - 60, size[1] - 22), "rate (bits per image)", fill="black", font=font)
    draw.text((5, 8), "squared error per image (test)", fill="black", font=font)
    for row, (name, colour, points) in enumerate(series):
        points = sorted(points)
        draw.line([at(x, y) for x, y, _ in points], fill=colour, width=2)
        for x, y, label in points:
            px, py = at(x, y)
            draw.ellipse([px - 4, py - 4, px + 4, py + 4], fill=colour)
            draw.text((px + 6, py - 16), label, fill=colour, font=font)
        draw.line([(right - 190, top + 10 + 18 * row), (right - 170, top + 10 + 18 * row)], fill=colour, width=3)
        draw.text((right - 165, top + 3 + 18 * row), name, fill="black", font=font)
    tmp = path + ".tmp.png"
    image.save(tmp)
    os.replace(tmp, path)


def main(argv):
    del argv
    logging.set_verbosity(logging.WARNING)
    data = data_lib.load("mnist_offline")
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as work:
        vaes = [run_vae(float(beta), data, work) for beta in FLAGS.vae_betas]
        vqvaes = [run_vqvae(int(k), data, work) for k in FLAGS.num_codes]
    for r in vqvaes:
        r["vae_mse_at_same_rate"] = vae_mse_at(r["test_rate_prior_bits"], vaes)
    machine = common.machine()
    print(f"\nmnist_offline (8,000 train / 2,000 test), phase I {FLAGS.epochs} epochs, prior {FLAGS.prior_epochs} "
          f"epochs, batch 128; {machine}\n")
    print("| model | rate, PixelCNN prior (bits/image) | rate, uniform | squared error / image (per pixel) "
          "| Gaussian VAE at that rate | perplexity (of K) | prior NLL train / test (nats) | epoch s (I / II) "
          "| 100 samples (s) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in vqvaes:
        at = r["vae_mse_at_same_rate"]
        print(f"| VQ-VAE K={r['num_codes']} | {r['test_rate_prior_bits']:.1f} | {r['test_rate_uniform_bits']:.0f} "
              f"| {r['test_mse_per_image']:.2f} ({r['test_mse_per_pixel']:.4f}) "
              f"| {'outside its range' if at is None else f'{at:.2f}'} "
              f"| {r['test_perplexity'][0]:.1f} ({r['num_codes']}) "
              f"| {r['train_prior_nll_nats']:.1f} / {r['test_prior_nll_nats']:.1f} "
              f"| {r['phase1_epoch_s']:.1f} / {r['phase2_epoch_s']:.1f} | {min(r['sample_100_s'][1:]):.2f} |")
    for r in vaes:
        print(f"| Gaussian VAE beta={r['beta']} | {r['test_rate_bits']:.1f} (KL) | - "
              f"| {r['test_mse_per_image']:.2f} ({r['test_mse_per_pixel']:.4f}) | - | - | - "
              f"| {r['phase1_epoch_s']:.1f} | - |")
    os.makedirs(os.path.dirname(FLAGS.output), exist_ok=True)
    plot(vqvaes, vaes, os.path.splitext(FLAGS.output)[0] + ".png")
    with open(FLAGS.output, "w") as f:
        json.dump({"machine": machine, "epochs": FLAGS.epochs, "prior_epochs": FLAGS.prior_epochs,
                   "wall_s": time.perf_counter() - start, "vqvae": vqvaes, "gaussian_vae": vaes}, f, indent=2)


if __name__ == "__main__":
    app.run(main)
