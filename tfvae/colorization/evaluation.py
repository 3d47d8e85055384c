"""Evaluating colorizers on whole held-out images: colour metrics per method, and whether the segmentation is used.

`method_metrics(colorize, images)` scores any function grey -> RGB (tfvae/colorization/metrics.py), with
`best_of` drawn colourings for the diversity metric where the method can sample. `segmentation_metrics(model,
images)` measures collapse: KL per pixel, usage perplexity of the segmentation (the mode of P(z|x)) per image and
pooled, boundary recall against true chroma edges and boundary density, the share of chroma variance the segment
means explain, the bound per pixel, and the shuffle cost
log P(y|z, x) - log P(y|z', x) with z' the same labels at permuted positions (nats per pixel).
"""

import numpy as np
import tensorflow as tf

from tfvae.colorization import colour
from tfvae.colorization import metrics as m


def to_lab(image):
    return colour.rgb_to_lab(colour.to_float_rgb(image)).numpy()


def method_metrics(colorize, images, sample=None, best_of=8):
    """Means over images of PSNR, ab RMSE, AuC, rebalanced AuC, colourfulness and best-of-`best_of` PSNR.

    colorize: uint8 [1, H, W, 3] -> uint8 [1, H, W, 3]; sample: (uint8 [1, H, W, 3], count) -> uint8 [count, H, W, 3]
    or None (deterministic: best-of-n equals the PSNR). images: uint8 RGB [H_i, W_i, 3] (only their L is shown)."""
    rows = []
    for image in images:
        grey = colour.to_uint8(colour.lab_to_rgb(tf.concat([colour.lightness(image), tf.zeros(
            image.shape[:2] + (2,))], -1))).numpy()
        output = np.asarray(colorize(grey[None]))[0]
        truth_ab, ab = to_lab(image)[..., 1:], to_lab(output)[..., 1:]
        errors = m.ab_errors(ab, truth_ab)
        psnr = m.psnr(output, image)
        best = max(m.psnr(s, image) for s in np.asarray(sample(grey[None], best_of))) if sample else psnr
        rows.append({"psnr": psnr, "ab_rmse": float(np.sqrt(np.mean(errors ** 2))), "auc": m.auc(errors),
                     "auc_rebalanced": m.auc(errors, m.rebalancing_weights(truth_ab)),
                     "colourfulness": m.colourfulness(output), f"best_of_{best_of}_psnr": best})
    return {key: float(np.mean([r[key] for r in rows])) for key in rows[0]}


def segmentation_metrics(model, images, seed=0):
    """Collapse diagnostics of a Colorizer on uint8 RGB images [H_i, W_i, 3] (module docstring)."""
    k = model.config.num_segments
    rows, all_labels = [], []
    for i, image in enumerate(images):
        batch = image[None]
        terms = model.terms(colour.to_float_rgb(batch))
        labels = model.segment(batch).numpy()[0]
        all_labels.append(np.ravel(labels))
        true_z, shuffled_z = model.shuffle_costs(colour.to_float_rgb(batch), seed + i)
        rows.append({"kl_per_pixel": float(terms["rate"][0]), "elbo_per_pixel": float(terms["elbo"][0]),
                     "shuffle_cost_per_pixel": float(true_z[0] - shuffled_z[0]),
                     "usage_perplexity": m.usage_perplexity(labels, k),
                     "boundary_recall": m.boundary_recall(labels, to_lab(image)[..., 1:]),
                     "boundary_density": m.boundary_density(labels),
                     "explained_chroma": m.explained_chroma(labels, to_lab(image)[..., 1:])})
    result = {key: float(np.nanmean([r[key] for r in rows])) for key in rows[0]}
    result["usage_perplexity_pooled"] = m.usage_perplexity(np.concatenate(all_labels), k)
    return result
