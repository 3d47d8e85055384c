"""Colorization metrics on uint8 RGB images [H, W, 3] (NumPy), as in the colorization literature.

- `psnr`: 10 log10(255^2 / MSE) over the RGB values.
- `ab_errors`: per-pixel Euclidean error in the ab plane of CIE Lab.
- `auc`: the area under the cumulative error curve, the fraction of pixels with ab error <= t, averaged over
  thresholds t = 0, 1, ..., 150 (Zhang et al. 2016, "Colorful Image Colorization", Sec. 3.1). With `weights` it is
  their class-rebalanced version: each pixel weighted by the inverse frequency of its true colour's ab bin
  (`rebalancing_weights`, bins of 10 x 10 in ab), so rare, saturated colours count as much as common, dull ones.
- `colourfulness`: Hasler & Suesstrunk (2003), sqrt(s_rg^2 + s_yb^2) + 0.3 sqrt(m_rg^2 + m_yb^2) with rg = R - G,
  yb = (R + G) / 2 - B on the 0-255 scale.
- `boundary_recall`: the share of true chroma edge pixels (ab gradient magnitude above EDGE_THRESHOLD) that lie within
  `tolerance` pixels of a segment boundary; `boundary_density` is the share of pixels on a boundary, to read it against.
- `usage_perplexity`: exp(entropy) of the label frequencies: the effective number of segments used.
- `explained_chroma`: the share of the true chroma's variance that the segment means explain,
  1 - sum_p ||y_p - mean_{s(p)} y||^2 / sum_p ||y_p - mean y||^2 (1: every segment is one colour; 0: the segments
  say nothing about colour).
"""

import numpy as np

AUC_MAX = 150
AB_BIN = 10.0
EDGE_THRESHOLD = 10.0  # Lab units per pixel (central differences): a clearly visible change of chroma


def psnr(image, reference):
    mse = np.mean((image.astype(np.float64) - reference.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0 ** 2 / max(mse, 1e-12)))


def ab_errors(ab, reference_ab):
    """[H, W] Euclidean distances in ab."""
    return np.sqrt(np.sum((ab.astype(np.float64) - reference_ab) ** 2, axis=-1))


def auc(errors, weights=None):
    """Area under the cumulative ab-error curve on thresholds 0..AUC_MAX, in [0, 1]; errors, weights: [N]."""
    errors = np.ravel(errors)
    weights = np.ones_like(errors) if weights is None else np.ravel(weights)
    thresholds = np.arange(AUC_MAX + 1)
    order = np.argsort(errors)
    cumulative = np.concatenate([[0.0], np.cumsum(weights[order])]) / weights.sum()
    return float(np.mean(cumulative[np.searchsorted(errors[order], thresholds, side="right")]))


def ab_bins(ab):
    """Integer bin ids [...] of ab values [..., 2] on a grid of AB_BIN x AB_BIN cells."""
    cells = np.floor((np.asarray(ab) + 128.0) / AB_BIN).astype(np.int64)
    return cells[..., 0] * 1000 + cells[..., 1]


def rebalancing_weights(reference_ab):
    """Per-pixel weights [N] = 1 / (frequency of the pixel's ab bin among these pixels), normalized to mean 1."""
    bins = ab_bins(np.reshape(reference_ab, (-1, 2)))
    _, inverse, counts = np.unique(bins, return_inverse=True, return_counts=True)
    weights = 1.0 / counts[inverse]
    return weights / weights.mean()


def colourfulness(image):
    rgb = image.astype(np.float64)
    rg, yb = rgb[..., 0] - rgb[..., 1], 0.5 * (rgb[..., 0] + rgb[..., 1]) - rgb[..., 2]
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def boundaries(labels):
    """bool [H, W]: pixels whose label differs from the right or lower neighbour."""
    edge = np.zeros(labels.shape, bool)
    edge[:, :-1] |= labels[:, :-1] != labels[:, 1:]
    edge[:-1, :] |= labels[:-1, :] != labels[1:, :]
    return edge


def chroma_edges(reference_ab):
    """bool [H, W]: pixels where the ab gradient magnitude (central differences) exceeds EDGE_THRESHOLD."""
    gy, gx = np.gradient(reference_ab.astype(np.float64), axis=(0, 1))
    return np.sqrt(np.sum(gx ** 2 + gy ** 2, axis=-1)) > EDGE_THRESHOLD


def dilate(mask, radius):
    """bool [H, W]: pixels within Chebyshev distance `radius` of a True pixel."""
    out = mask.copy()
    padded = np.pad(mask, radius)
    for dy in range(2 * radius + 1):
        for dx in range(2 * radius + 1):
            out |= padded[dy: dy + mask.shape[0], dx: dx + mask.shape[1]]
    return out


def boundary_recall(labels, reference_ab, tolerance=2):
    """Share of true chroma edge pixels within `tolerance` of a segment boundary (nan if there are no edges)."""
    edges = chroma_edges(reference_ab)
    if not edges.any():
        return float("nan")
    return float(np.mean(dilate(boundaries(labels), tolerance)[edges]))


def boundary_density(labels):
    return float(np.mean(boundaries(labels)))


def usage_perplexity(labels, num_labels):
    usage = np.bincount(np.ravel(labels), minlength=num_labels) / np.size(labels)
    usage = usage[usage > 0]
    return float(np.exp(-np.sum(usage * np.log(usage))))


def explained_chroma(labels, reference_ab):
    """1 - within-segment / total sum of squares of the true ab [H, W, 2] under labels int [H, W] (nan if flat)."""
    ab = np.reshape(reference_ab, (-1, 2)).astype(np.float64)
    _, inverse = np.unique(np.ravel(labels), return_inverse=True)
    sums = np.zeros((inverse.max() + 1, 2))
    np.add.at(sums, inverse, ab)
    means = sums / np.bincount(inverse)[:, None]
    total = np.sum((ab - ab.mean(0)) ** 2)
    return float("nan") if total == 0 else float(1.0 - np.sum((ab - means[inverse]) ** 2) / total)
