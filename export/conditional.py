"""SavedModel endpoints of the class-conditional families (tfvae/models/cvae.py, m2.py).

Images are float32 [B, H, W, C] in the model's pixel representation, labels int32 [B] in 0..K-1 (K = num_classes in
the metadata), z float32 [B, L]. For M1+M2 models images go in and come out; the M1 model inside does the rest.

- `classify` (m2 only; its serving_default): images -> {probabilities [B, K]}: q(y|x).
- `sample`: labels [N], seed (int64 scalar) -> {images, z}: z ~ N(0, I) from a stateless seed and the mean images of
  p(x|y, z), one per label.
- `decode`: z, labels -> {images}: the mean of p(x|y, z).
- `encode`: images, labels -> {mean, scale}, each [B, L]: q(z|x, y).
- `reconstruct` (the cvae's serving_default): images, labels -> {images}: the mean of p(x|y, z) at z = E[q(z|x, y)].
"""

import tensorflow as tf


def conditional_signatures(model):
    """name -> (function, input signature) for a cvae or m2."""
    h, w, c = model.config.input_shape
    images = tf.TensorSpec([None, h, w, c], tf.float32, name="images")
    labels = tf.TensorSpec([None], tf.int32, name="labels")

    def sample(labels, seed):
        z, images = model.sample(labels, seed)
        return {"images": images, "z": z}

    def decode(z, labels):
        return {"images": model.decode(z, model.onehot(labels))}

    def encode(images, labels):
        q = model.posterior(model.encoder(model.encoder_input(model.features(images))), model.onehot(labels))
        return {"mean": q.mean(), "scale": q.stddev()}

    def reconstruct(images, labels):
        y = model.onehot(labels)
        return {"images": model.decode(model.encode(images, y), y)}

    endpoints = {
        "reconstruct": (reconstruct, [images, labels]),
        "sample": (sample, [labels, tf.TensorSpec([], tf.int64, name="seed")]),
        "decode": (decode, [tf.TensorSpec([None, model.config.latent_dim], tf.float32, name="z"), labels]),
        "encode": (encode, [images, labels]),
    }
    if model.config.model == "m2":
        def classify(images):
            return {"probabilities": model.probabilities(images)}

        endpoints = {"classify": (classify, [images]), **endpoints}
    return endpoints
