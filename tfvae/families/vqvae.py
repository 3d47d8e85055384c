"""The vqvae family (tfvae/models/vqvae.py) and its phase-II stage, the PixelCNN code prior
(tfvae/models/pixelcnn_prior.py), which lives in MODEL_DIR/prior/ (tfvae/runs.py).

    python -m apps.train --model=vqvae ...          phase I: reconstructions.png (no samples before a prior)
    python -m apps.train --stage=prior ...          phase II into MODEL_DIR/prior/: samples.png, export/<step>/
    python -m apps.evaluate                         MSE, bits per image (PixelCNN and uniform prior), perplexity

The phase-I model is restored read-only for phase II; its training and test images are encoded once,
deterministically (binary data with the fixed test-time binarization, dequantization noise from the data pipeline's
evaluation seed).

SavedModel endpoints; code maps are int32 [B, h, w]: `codes` (the bottom, or only, level) and, for two levels,
`top_codes`:
- `reconstruct` (also `serving_default`): images -> {images}: the decoded mean at the nearest codes.
- `encode`: images -> {codes[, top_codes]}: the code indices.
- `decode`: [top_codes,] codes -> {images}.
With a prior (the export of `apps.train --stage=prior`):
- `sample`: count (int32), seed (int64) -> {images, codes[, top_codes]}: ancestral sampling in a tf.while_loop from
  stateless seeds, so a seed always gives the same draws. A class-conditional prior takes labels (int32 [N]) and
  seed instead, one draw per label, like the conditional exports.
- `rate`: images[, labels (int32 [B])] -> {bits [B]}: -log2 P(z(x)) under the prior, bits per image.
"""

import dataclasses
import os

import numpy as np
import tensorflow as tf

from tfvae import config as config_lib
from tfvae import data as data_lib
from tfvae import distribute, pictures, rate_distortion, runs, training
from tfvae.config import ConfigError, PriorConfig
from tfvae.data.pixels import display_scale
from tfvae.families.base import Family
from tfvae.models.pixelcnn_prior import CodePrior, VQVAEWithPrior
from tfvae.models.vqvae import VQVAE

PRIOR = "prior"  # the stage's name (--stage) and its config record's key


def code_names(levels):
    """The output / input names of the code maps, top first."""
    return ["top_codes", "codes"] if levels == 2 else ["codes"]


def encode(vqvae, images, batch_size=256):
    """Code maps (top first), each int32 [N, h_l, w_l], of uint8 images [N, H, W, C], deterministically."""
    pixels, seed = vqvae.config.pixels, vqvae.config.seed
    dataset = data_lib.eval_dataset(data_lib.prepare(images, pixels, seed, False), batch_size, pixels, seed)
    indices = tf.function(vqvae.indices)
    batches = [[z.numpy() for z in indices(x)] for x in dataset]
    return [np.concatenate(level) for level in zip(*batches)]


def code_dataset(codes, labels, batch_size, seed=None, start_step=0):
    """{"codes_l": [B, h_l, w_l], "label": [B]} batches. With a seed: training steps start_step, start_step + 1, ...
    forever, each batch a pure function of (seed, step) (data.step_batches), so a resumed run or N replicas see
    the batches of one uninterrupted process; without: every code map once, in order."""
    elements = {f"codes_{l}": z for l, z in enumerate(codes)}
    elements["label"] = np.zeros(len(codes[0]), np.int32) if labels is None else labels.astype(np.int32)
    if seed is None:
        return tf.data.Dataset.from_tensor_slices(elements).batch(batch_size).prefetch(tf.data.AUTOTUNE)
    tensors = {name: tf.constant(value) for name, value in elements.items()}

    def batch(step, index):
        return {name: tf.gather(value, index) for name, value in tensors.items()}

    return data_lib.step_batches(len(codes[0]), batch_size, seed, batch, start_step)


class VQVAEFamily(Family):
    name = "vqvae"
    config_class = config_lib.VQVAEConfig
    model_class = VQVAE
    description = "VQ-VAE (one or two levels) with a gated PixelCNN prior (--stage=prior)"
    stages = {PRIOR: PriorConfig}  # stage -> its config section

    # --- phase II: the code prior ----------------------------------------------------------------------------
    def read_prior_config(self, model_dir):
        """The PriorConfig stored in MODEL_DIR/prior/config.json (ConfigError if there is none)."""
        prior_dir = runs.stage_dir(model_dir, PRIOR)
        if not runs.has_config(prior_dir):
            raise ConfigError(f"--model_dir={model_dir} has no code prior; train it with --stage=prior")
        return config_lib.from_dict(PriorConfig, runs.read_record(prior_dir, PRIOR)[PRIOR])

    def restore_prior(self, model_dir, vqvae_config):
        """The CodePrior of MODEL_DIR/prior with the weights of its newest checkpoint."""
        prior = CodePrior(self.read_prior_config(model_dir), vqvae_config)
        return training.restore_weights(prior, runs.stage_dir(model_dir, PRIOR), "prior checkpoint")

    def make_stage_config(self, stage, fields, data=None):
        """A PriorConfig; num_classes from the data when the prior is class-conditional (before the data is read,
        the other fields are checked)."""
        if fields.get("class_conditional"):
            fields = {**fields, "num_classes": data.num_classes or 0} if data is not None else \
                {**fields, "class_conditional": False}
        return super().make_stage_config(stage, fields, data)

    def train_stage(self, stage, model_dir, vqvae, prior_config, train_config, data, strategy=None, verbose=1,
                    validate=True, callbacks=()):
        """Trains (or resumes) the code prior of the trained `vqvae` of model_dir on data's codes; returns the
        VQVAEWithPrior. Under multi_worker the non-chief workers save into MODEL_DIR/prior/workers/<worker>/."""
        if stage != PRIOR:
            raise ConfigError(f"--stage={stage}: a vqvae has the stages model and {PRIOR}")
        train_config.validate()
        if tuple(data.shape) != tuple(vqvae.config.input_shape):
            raise ConfigError(f"--dataset={train_config.dataset}: images are {data.shape}, the model "
                              f"expects {vqvae.config.input_shape}")
        strategy = strategy or distribute.make_strategy(train_config.strategy)
        prior_dir = runs.stage_dir(model_dir, PRIOR)
        if distribute.worker_name(strategy) is None:
            if runs.has_config(prior_dir):
                stored = self.read_prior_config(model_dir)
                for f in dataclasses.fields(PriorConfig):
                    old, new = getattr(stored, f.name), getattr(prior_config, f.name)
                    if old != new:
                        raise ConfigError(
                            f"--model_dir={model_dir} holds another prior (its {f.name} is {old!r}, requested "
                            f"{new!r}); use the same flags or a new phase-I --model_dir")
            runs.prepare(prior_dir, PRIOR, prior_config, train_config)
        per_epoch = data_lib.steps_per_epoch(len(data.x_train), train_config.batch_size)
        labels = (data.y_train, data.y_test) if prior_config.class_conditional else (None, None)

        def datasets(start_step):
            train = code_dataset(encode(vqvae, data.x_train), labels[0], train_config.batch_size,
                                 seed=prior_config.seed, start_step=start_step)
            test = code_dataset(encode(vqvae, data.x_test), labels[1], train_config.batch_size) if validate else None
            return train, test

        prior = training.fit(lambda: CodePrior(prior_config, vqvae.config), datasets, epochs=train_config.epochs,
                             steps_per_epoch=per_epoch, run_dir=prior_dir, seed=prior_config.seed,
                             strategy=strategy, learning_rate=train_config.learning_rate,
                             jit_compile=train_config.jit_compile, per_execution=train_config.steps_per_execution,
                             precision=prior_config.precision, verbose=verbose, callbacks=callbacks)
        return VQVAEWithPrior(vqvae, prior)

    def write_stage_pictures(self, stage, model, run_dir):
        """samples.png of the VQ-VAE with its prior (rows of 8 draws of one class for a class-conditional one)."""
        labels = None
        if model.prior.config.class_conditional:
            labels = [i // 8 % model.prior.config.num_classes for i in range(64)]
        _, samples = model.sample(64, model.config.seed, labels)
        pictures.write_png(os.path.join(run_dir, "samples.png"),
                           pictures.grid(samples.numpy() / display_scale(model.config.pixels), 8))
        return ["samples.png"]

    # --- after training -----------------------------------------------------------------------------------------
    def write_pictures(self, model, data, model_dir):
        test = next(iter(self.test_batches(data, model.config, 64))).numpy()
        pictures.write_reconstructions(model, test, model_dir)
        return ["reconstructions.png"]

    def evaluate(self, model, data, options):
        """Distortion, rate and codebook perplexity (and the prior's rate, once --stage=prior has trained one)."""
        prior = getattr(model, "prior", None)
        vqvae = getattr(model, "vqvae", model)
        count = options.max_images or None
        images = data.x_test[:count]
        labels = np.zeros(len(images), np.int64) if data.y_test is None else data.y_test[:count]
        if prior is not None and prior.config.class_conditional and data.y_test is None:
            raise data_lib.DataError(f"--dataset={data.name} has no labels; the prior is class-conditional")
        pixels, seed = vqvae.config.pixels, vqvae.config.seed
        test = data_lib.eval_dataset(data_lib.prepare(images, pixels, seed, False), options.batch_size, pixels, seed,
                                     labels=labels)
        results = rate_distortion.vqvae_point(vqvae, test, prior)
        results["rate_distortion"] = {"rate_bits": results.get("rate_prior_bits", results["rate_uniform_bits"]),
                                      "prior": "pixelcnn" if prior is not None else "uniform",
                                      "mse_per_pixel": results["mse_per_pixel"],
                                      "mse_per_image": results["mse_per_image"]}
        return results

    def report(self, results):
        rows = [("distortion: MSE per pixel", f"{results['mse_per_pixel']:.5f}"),
                ("distortion: squared error per image", f"{results['mse_per_image']:.3f}"),
                ("rate under a uniform prior (sum h w log2 K)", f"{results['rate_uniform_bits']:.1f} bits/image")]
        if "rate_prior_bits" in results:
            rows.append(("rate under the PixelCNN prior (-log2 P(z))", f"{results['rate_prior_bits']:.1f} bits/image"))
        for level, (p, used) in enumerate(zip(results["perplexity"], results["codes_used"])):
            rows.append((f"codebook perplexity, level {level} (top first)",
                         f"{p:.1f} of K = {results['num_codes']} ({used} codes used)"))
        rows.append(("test images", f"{results['num_images']}"))
        width = max(len(name) for name, _ in rows)
        return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)

    def with_stages(self, model, model_dir):
        """The VQ-VAE with its phase-II prior if model_dir has one (which adds `sample` and `rate`)."""
        if model_dir and runs.has_stage(model_dir, PRIOR):
            return VQVAEWithPrior(model, self.restore_prior(model_dir, model.config))
        return model

    def run_metadata(self, model_dir):
        metadata = super().run_metadata(model_dir)
        prior_step = runs.checkpoint_step(runs.stage_dir(model_dir, PRIOR))
        if prior_step is not None:
            metadata["prior_step"] = prior_step
        return metadata

    def signatures(self, model):
        """name -> (function, input signature) for a VQVAE, or a VQVAEWithPrior (which adds `sample` and `rate`)."""
        vqvae = getattr(model, "vqvae", model)
        prior = getattr(model, "prior", None)
        h, w, c = vqvae.config.input_shape
        names = code_names(vqvae.config.levels)
        images = tf.TensorSpec([None, h, w, c], tf.float32, name="images")

        def reconstruct(images):
            return {"images": vqvae(images)}

        def encode_codes(images):
            return dict(zip(names, vqvae.indices(images)))

        def decode(*codes):
            return {"images": vqvae.decode(list(codes))}

        endpoints = {
            "reconstruct": (reconstruct, [images]),
            "encode": (encode_codes, [images]),
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


FAMILY = VQVAEFamily()
