"""Latent exploration pictures (Kingma et al. 2014, figures 1 and 2; Kingma & Welling 2014, figure 4).

- `class_styles` (conditional models): row k holds class k decoded at the same `columns` draws z ~ p(z), so a column
  is one handwriting style across the classes.
- `analogies` (conditional models): a real image, then its z = E[q(z|x, y)] decoded with every class.
- `interpolation`: z (and for conditional models the one-hot label) moved linearly from one encoded image to
  another, endpoints included.
- `manifold` (latent size 2): decodes z on a size x size grid of the standard normal's quantiles at evenly spaced
  probabilities in (0, 1).
- `temperatures` (hierarchical models): row t holds the same `columns` draws with every prior scale multiplied by
  temperature t (Kingma & Dhariwal 2018; Vahdat & Kautz 2020): lower temperatures give smoother, more typical images.
- `top_levels` (hierarchical models): an image, then row i holds draws that keep its posterior means z_{>i} and
  sample the levels up to i from the prior given them: i = 0 keeps every level, i = L none (Child 2021, figure 4).
Every picture is a uint8 grid (tfvae/pictures.py) of mean images scaled to [0, 1].
"""

import os

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfvae import pictures
from tfvae.config import ConditionalConfig
from tfvae.data.pixels import to_display
from tfvae.seeds import tfp_seed


def is_conditional(model):
    """Whether the model's networks see class labels (cvae, m2)."""
    return isinstance(model.config, ConditionalConfig)


def _scaled(model, images):
    return to_display(np.asarray(images), model.config.pixels)


def _labels_for(model, x, labels):
    """One-hot labels [B, K]: the given integer labels, or q(y|x)'s arg-max for an m2 without them."""
    if labels is None:
        labels = tf.argmax(model.probabilities(x), -1)
    return model.onehot(labels)


def class_styles(model, columns, seed):
    """[K * columns, H, W, C]: row k is class k at the same `columns` draws of z."""
    k = model.config.num_classes
    z = model.prior().sample(columns, seed=tfp_seed(seed))  # [columns, L]
    images = model.decode(z[None], tf.eye(k)[:, None, :])  # [K, columns, H, W, C]
    return _scaled(model, tf.reshape(images, [-1, *images.shape[2:]]))


def analogies(model, x, labels=None):
    """[B * (K + 1), H, W, C]: each real image x [B, ...] followed by its style decoded with every class."""
    k = model.config.num_classes
    z = model.encode(x, _labels_for(model, x, labels))  # [B, L]
    images = model.decode(z[:, None], tf.eye(k)[None])  # [B, K, H, W, C]
    rows = np.concatenate([np.asarray(x)[:, None], images.numpy()], 1)
    return _scaled(model, rows.reshape(-1, *rows.shape[2:]))


def interpolation(model, x, labels=None, steps=8):
    """[P * steps, H, W, C]: for the pairs (x[2i], x[2i + 1]) of x [2P, ...], decodes along the line between them."""
    t = tf.linspace(0.0, 1.0, steps)[None, :, None]  # [1, steps, 1]
    if is_conditional(model):
        y = _labels_for(model, x, labels)
        z = model.encode(x, y)
        y_line = y[0::2, None] * (1.0 - t) + y[1::2, None] * t  # [P, steps, K]
        images = model.decode(z[0::2, None] * (1.0 - t) + z[1::2, None] * t, y_line)
    else:
        z = model.encode(x)
        images = model.decode(z[0::2, None] * (1.0 - t) + z[1::2, None] * t)  # [P, steps, H, W, C]
    return _scaled(model, tf.reshape(images, [-1, *images.shape[2:]]))


def manifold(model, size=15, label=0):
    """[size * size, H, W, C]: the decoded 2-D latent grid (for conditional models, of class `label`)."""
    if model.config.latent_dim != 2:
        raise ValueError(f"the manifold needs a 2-D latent space, not {model.config.latent_dim}")
    quantiles = tfp.distributions.Normal(0.0, 1.0).quantile(tf.linspace(0.5 / size, 1.0 - 0.5 / size, size))
    z2, z1 = tf.meshgrid(quantiles[::-1], quantiles, indexing="ij")  # rows: z2 from high to low; columns: z1
    z = tf.reshape(tf.stack([z1, z2], -1), [-1, 2])
    images = model.decode(z, model.onehot(tf.fill([size * size], label))) if is_conditional(model) \
        else model.decode(z)
    return _scaled(model, images)


def temperatures(model, columns, seed, values):
    """[len(values) * columns, H, W, C]: model.sample(columns, seed, t) for each temperature t of `values`."""
    return _scaled(model, np.concatenate([model.sample(columns, seed, t)[1].numpy() for t in values]))


def top_levels(model, x, columns, seed):
    """[(L + 1) * (columns + 1), H, W, C]: rows i = 0..L of the image x [1, H, W, C] followed by `columns` draws
    that keep its posterior means of the levels above i (the same noise in every row)."""
    eps = tf.random.stateless_normal([columns, model.config.latent_dim], seed=tfp_seed(seed))
    images = tf.repeat(x, columns, axis=0)
    rows = [np.concatenate([np.asarray(x), model.generate(eps, x=images, keep=i)[1].numpy()])
            for i in range(model.config.levels + 1)]
    return _scaled(model, np.concatenate(rows))


def write_hierarchy(model, x, output_dir, seed=0, columns=10, values=(1.0, 0.8, 0.6)):
    """temperatures.png and top_levels.png (of the first image of x) into output_dir; returns their paths."""
    written = {"temperatures.png": (temperatures(model, columns, seed, values), columns),
               "top_levels.png": (top_levels(model, x[:1], columns, seed), columns + 1)}
    return write_grids(output_dir, written)


def write_grids(output_dir, written):
    """Writes {name: (images [N, H, W, C] in [0, 1], images per row)} as grids into output_dir, in the order of the
    names (the folder is made if needed); returns their paths."""
    os.makedirs(output_dir, exist_ok=True)
    paths = []
    for name, (images, per_row) in sorted(written.items()):
        paths.append(os.path.join(output_dir, name))
        pictures.write_png(paths[-1], pictures.grid(images, per_row))
    return paths


def write_all(model, x, labels, output_dir, seed=0, columns=10, steps=8, label=0, pairs=5):
    """Writes every picture that applies to `model` into output_dir; returns their paths.

    x: real images [B, H, W, C] in the model's pixel representation (B >= 2); labels: their integer labels or None.
    The first 2 * pairs images (as many as there are) are interpolated, the first `columns` make the analogies.
    """
    count = min(2 * pairs, len(x) // 2 * 2)
    written = {"interpolation.png": (interpolation(model, x[:count], None if labels is None else labels[:count],
                                                   steps), steps)}
    if is_conditional(model):
        written["class_styles.png"] = (class_styles(model, columns, seed), columns)
        written["analogies.png"] = (analogies(model, x[:columns], None if labels is None else labels[:columns]),
                                    model.config.num_classes + 1)
    if model.config.latent_dim == 2:
        written["manifold.png"] = (manifold(model, label=label), 15)
    return write_grids(output_dir, written)
