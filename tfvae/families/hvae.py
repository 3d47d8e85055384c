"""The hvae family (tfvae/models/hvae.py): a top-down hierarchy of Gaussian latent levels, trained on images. What
it shares with the vae (data, samples.png and reconstructions.png, M1 classification, reconstruct / decode /
log_prob endpoints) it takes from the vae family.

    python -m apps.train --model=hvae --levels=3 --hidden_units=32 --latents_per_level=8 ...
    python -m apps.evaluate       test NLL (importance sampled), bits/dim, ELBO, and KL and active units per level
    python -m apps.sample         temperatures.png (--temperatures), top_levels.png

SavedModel endpoints (images float32 [B, H, W, C] in the model's pixel representation; z float32 [B, D], the
levels' latents flattened and concatenated bottom first):
- `reconstruct` (also `serving_default`): images -> {images}: the mean of p(x|z) at z = encode(images).
- `encode`: images -> {z [B, D], mean_1 .. mean_L}: every level's posterior mean given the means above it, each
  level also in its own shape (conv [B, h_l, w_l, c_l], mlp [B, d_l]).
- `decode`: z [B, D] -> {images}: the mean of p(x|z).
- `sample`: count (int32 scalar), seed (int64 scalar), temperature (float32 scalar > 0) -> {images, z}: ancestral
  sampling with every prior scale multiplied by the temperature, from a stateless seed.
- `log_prob`: images, num_samples (int32 scalar), seed (int64 scalar) -> {log_prob [B], bits_per_dim [B]}: the
  importance-sampled bound on log p(x) (tfvae/evaluation.py).
"""

import numpy as np
import tensorflow as tf

from tfvae import config as config_lib
from tfvae import evaluation, exploration
from tfvae.families.vae import VAEFamily
from tfvae.models.hvae import HVAE


class HVAEFamily(VAEFamily):
    name = "hvae"
    config_class = config_lib.HVAEConfig
    model_class = HVAE
    description = "hierarchical (top-down, ladder) VAE: levels of Gaussian latents, free bits per level, KL warm-up"

    def shape_before_data(self, image_size):
        # The image sizes are checked against --levels once the data is read; before that every size fits.
        side = image_size or 2 ** 16
        return (side, side, 1)

    def evaluate(self, model, data, options):
        test = self.test_batches(data, model.config, options.batch_size, options.max_images or None)
        results = evaluation.evaluate(model, test, options.num_samples, model.config.seed, progress=options.progress)
        kl = np.asarray(results.pop("kl_per_dim"))  # [D]: one row per level below instead
        means = np.concatenate([model.encode(x).numpy() for x in test])  # [N, D]
        active = means.var(0) > evaluation.ACTIVE_UNIT_THRESHOLD
        ends = np.cumsum(model.sizes)
        results["levels"] = [{"level": i + 1, "latents": int(size), "kl": float(kl[end - size:end].sum()),
                              "active_units": int(active[end - size:end].sum())}
                             for i, (size, end) in enumerate(zip(model.sizes, ends))]
        return results

    def report_rows(self, results):
        rows = super().report_rows(results)  # NLL, bits/dim, ELBO, rate, distortion, gap, active units, images
        rows[4:4] = [(f"  level {level['level']}", f"KL {level['kl']:.2f} nats, active units "
                      f"{level['active_units']} / {level['latents']}") for level in results["levels"]]
        return rows

    def explore(self, model, data, output_dir, options):
        x = next(iter(self.test_batches(data, model.config, 1, 1))).numpy()
        return exploration.write_hierarchy(model, x, output_dir, seed=options.seed, columns=options.columns,
                                           values=options.temperatures)

    def signatures(self, model):
        endpoints = super().signatures(model)  # reconstruct, decode and log_prob as the vae's

        def encode(images):
            z = model.encode(images)
            return {"z": z, **{f"mean_{i + 1}": part for i, part in enumerate(model.levels_of(z))}}

        def sample(count, seed, temperature):
            check = tf.debugging.assert_positive(temperature, message="temperature must be positive")
            with tf.control_dependencies([check]):
                z, images = model.sample(count, seed, temperature)
            return {"images": images, "z": z}

        endpoints["encode"] = (encode, endpoints["encode"][1])
        endpoints["sample"] = (sample, [*endpoints["sample"][1], tf.TensorSpec([], tf.float32, name="temperature")])
        return endpoints


FAMILY = HVAEFamily()
