"""The vae family (tfvae/models/vae.py): Gaussian latents with optional flows, trained on images.

    python -m apps.train --model=vae ...      samples.png, reconstructions.png
    python -m apps.evaluate                   test NLL (importance sampled), bits/dim, ELBO, rate (ELBO surgery)
    python -m apps.sample                     interpolation.png (manifold.png for 2 latents)
    python -m apps.classify --m1_labels=N     M1: a classifier on the latent means of N labels

SavedModel endpoints (images float32 [B, H, W, C] in the model's pixel representation, z float32 [B, L]):
- `reconstruct` (also `serving_default`): images -> {images}: the mean of p(x|z) at z = E[q(z|x)].
- `encode`: images -> {mean, scale, z}, each [B, L]: the Gaussian q0(z|x) (all of q(z|x) for a diagonal posterior;
  before the flow steps otherwise) and the deterministic latent that `reconstruct` decodes.
- `decode`: z [B, L] -> {images}: the mean of p(x|z).
- `sample`: count (int32 scalar), seed (int64 scalar) -> {images, z}: z ~ p(z) from a stateless seed.
- `log_prob`: images, num_samples (int32 scalar), seed (int64 scalar) -> {log_prob [B], bits_per_dim [B]}: the
  importance-sampled bound on log p(x) (tfvae/evaluation.py).
"""

import numpy as np
import tensorflow as tf

from tfvae import config as config_lib
from tfvae import evaluation, exploration, pictures, semi_supervised
from tfvae.distributions.likelihoods import bits_per_dim
from tfvae.families.base import Family
from tfvae.models.vae import VAE


class VAEFamily(Family):
    name = "vae"
    config_class = config_lib.VAEConfig
    model_class = VAE
    description = "Gaussian VAE: beta, warm-up, free bits, IWAE, flow posteriors and priors"

    def write_pictures(self, model, data, model_dir):
        test = next(iter(self.test_batches(data, model.config, 64))).numpy()
        pictures.write_model_pictures(model, test, model_dir, seed=model.config.seed)
        return ["samples.png", "reconstructions.png"]

    def evaluate(self, model, data, options):
        test = self.test_batches(data, model.config, options.batch_size, options.max_images or None)
        results = evaluation.evaluate(model, test, options.num_samples, model.config.seed, progress=options.progress)
        if options.surgery_samples > 0:
            prepared = np.concatenate([x.numpy() for x in test])
            results["elbo_surgery"] = evaluation.elbo_surgery(model, prepared, options.surgery_samples,
                                                              model.config.seed)
        return results

    def report(self, results):
        rows = self.report_rows(results)
        width = max(len(name) for name, _ in rows)
        return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)

    def report_rows(self, results):
        """(name, value) lines of `report`."""
        rows = [
            (f"test NLL ({results['num_samples']} importance samples)", f"{results['nll']:.2f} nats"),
            ("bits/dim", f"{results['bits_per_dim']:.4f}"),
            ("ELBO", f"{results['elbo']:.2f} nats"),
            ("rate (KL)", f"{results['rate']:.2f} nats"),
            ("distortion (-log p(x|z))", f"{results['distortion']:.2f} nats"),
            ("gap NLL - (-ELBO)", f"{results['nll'] + results['elbo']:.2f} nats"),
            ("active units", f"{results['active_units']} / {results['latent_dim']}"),
            ("test images", f"{results['num_images']}"),
        ]
        surgery = results.get("elbo_surgery")
        if surgery:
            rows[5:5] = [
                (f"  mutual information I[x; z] ({surgery['num_z']} draws)",
                 f"{surgery['mutual_information']:.2f} nats (at most log N = {surgery['mutual_information_cap']:.2f})"),
                ("  marginal KL(q_agg || p)", f"{surgery['marginal_kl']:.2f} nats"
                 + (f" ({surgery['overflowed_pairs']:.1%} of (z, x) pairs overflowed: taken as q = 0)"
                    if surgery["overflowed_pairs"] else "")),
            ]
        return rows

    def explore(self, model, data, output_dir, options):
        count = max(2 * options.pairs, options.columns)
        x = next(iter(self.test_batches(data, model.config, count, count))).numpy()
        labels = None if data.y_test is None else data.y_test[:count]
        return exploration.write_all(model, x, labels, output_dir, seed=options.seed, columns=options.columns,
                                     steps=options.interpolation_steps, label=options.label, pairs=options.pairs)

    def classify(self, model, data, train_config, options):
        """M1 (Kingma et al. 2014): the fixed classifier on the latent means of options.m1_labels labels."""
        semi_supervised.require_labels(data, train_config.dataset, self.name)
        labelled = semi_supervised.labelled_subset(data.y_train, options.m1_labels, data.num_classes,
                                                   model.config.seed, flag="m1_labels")
        return {"method": "M1", "num_labels": options.m1_labels,
                "test_error": semi_supervised.m1_error(model, data, labelled, seed=model.config.seed)}

    def signatures(self, model):
        h, w, c = model.config.input_shape
        images = tf.TensorSpec([None, h, w, c], tf.float32, name="images")

        def reconstruct(images):
            return {"images": model(images)}

        def encode(images):
            q0 = model.posterior_base(images)
            return {"mean": q0.mean(), "scale": q0.stddev(), "z": model.encode(images)}

        def decode(z):
            return {"images": model.decode(z)}

        def sample(count, seed):
            z, images = model.sample(count, seed)
            return {"images": images, "z": z}

        def log_prob(images, num_samples, seed):
            ll = evaluation.log_likelihood(model, images, num_samples, tf.stack([seed, tf.constant(1, tf.int64)]))
            return {"log_prob": ll, "bits_per_dim": bits_per_dim(-ll, model.config)}

        return {
            "reconstruct": (reconstruct, [images]),
            "encode": (encode, [images]),
            "decode": (decode, [tf.TensorSpec([None, model.config.latent_dim], tf.float32, name="z")]),
            "sample": (sample, [tf.TensorSpec([], tf.int32, name="count"), tf.TensorSpec([], tf.int64, name="seed")]),
            "log_prob": (log_prob, [images, tf.TensorSpec([], tf.int32, name="num_samples"),
                                    tf.TensorSpec([], tf.int64, name="seed")]),
        }


FAMILY = VAEFamily()
