"""SavedModel signatures of a VQ-VAE (tfvae/models/vqvae.py), with its code prior once phase II has trained one.

Code maps are int32 [B, h, w]: `codes` (the bottom, or only, level) and, for two levels, `top_codes`.

- `reconstruct` (also `serving_default`): images -> {images}: the decoded mean at the nearest codes.
- `encode`: images -> {codes[, top_codes]}: the code indices.
- `decode`: [top_codes,] codes -> {images}.
With a prior (the export of `apps.train --stage=prior`):
- `sample`: count (int32), seed (int64) -> {images, codes[, top_codes]}: ancestral sampling in a tf.while_loop from
  stateless seeds, so a seed always gives the same draws. A class-conditional prior takes labels (int32 [N]) and
  seed instead, one draw per label, like the other conditional exports (export/conditional.py).
- `rate`: images[, labels (int32 [B])] -> {bits [B]}: -log2 P(z(x)) under the prior, bits per image.
"""

import tensorflow as tf


def code_names(levels):
    """The output / input names of the code maps, top first."""
    return ["top_codes", "codes"] if levels == 2 else ["codes"]


def vqvae_signatures(model):
    """name -> (function, input signature) for a VQVAE, or a VQVAEWithPrior (which adds `sample` and `rate`)."""
    vqvae = getattr(model, "vqvae", model)
    prior = getattr(model, "prior", None)
    h, w, c = vqvae.config.input_shape
    names = code_names(vqvae.config.levels)
    images = tf.TensorSpec([None, h, w, c], tf.float32, name="images")

    def reconstruct(images):
        return {"images": vqvae(images)}

    def encode(images):
        return dict(zip(names, vqvae.indices(images)))

    def decode(*codes):
        return {"images": vqvae.decode(list(codes))}

    endpoints = {
        "reconstruct": (reconstruct, [images]),
        "encode": (encode, [images]),
        "decode": (decode, [tf.TensorSpec([None, *shape], tf.int32, name=name)
                            for name, shape in zip(names, vqvae.code_shapes)]),
    }
    if prior is None:
        return endpoints
    seed = tf.TensorSpec([], tf.int64, name="seed")
    if prior.config.class_conditional:
        def sample(labels, seed):
            codes, images = model.sample(tf.shape(labels)[0], seed, labels)
            return {"images": images, **dict(zip(names, codes))}

        def rate(images, labels):
            return {"bits": model.rate(images, labels)}

        labels = tf.TensorSpec([None], tf.int32, name="labels")
        endpoints["sample"] = (sample, [labels, seed])
        endpoints["rate"] = (rate, [images, labels])
    else:
        def sample(count, seed):
            codes, images = model.sample(count, seed)
            return {"images": images, **dict(zip(names, codes))}

        def rate(images):
            return {"bits": model.rate(images)}

        endpoints["sample"] = (sample, [tf.TensorSpec([], tf.int32, name="count"), seed])
        endpoints["rate"] = (rate, [images])
    return endpoints
