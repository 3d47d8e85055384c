"""Trains a patch prior for denoising:
`python -m apps.train_patch_prior --data=folder:../shared/data/denoise/train400 --output=gmm.npz`.

--prior_type=gmm (Zoran & Weiss 2011): a K-component zero-mean GMM over DC-removed p x p patches, fitted by EM on
--num_patches patches drawn uniformly from the images (tfvae/restoration/gmm.py); the mean log-likelihood of the
patches is printed before every step (EM never lowers it). Writes an .npz.
--prior_type=denoiser: the learned deep prior (tfvae/restoration/deep_prior.py), a noise-conditional patch denoiser trained
on the same patches for --train_steps steps of --batch_size. Writes a .keras file.
apps.denoise loads either with --prior_path, tfvae.denoise with prior=load_prior(path).
"""

import os
import time

from absl import app, flags

from apps import common
from tfvae.config import ConfigError
from tfvae.restoration import deep_prior, patch_data
from tfvae.restoration.gmm import PatchGMM

FLAGS = flags.FLAGS

flags.DEFINE_string("data", "folder:../shared/data/denoise/train400", "folder:PATH of grey training images")
flags.DEFINE_enum("prior_type", "gmm", ["gmm", "denoiser"], "the kind of patch prior")
flags.DEFINE_integer("patch_size", 8, "patch side p")
flags.DEFINE_integer("components", 200, "GMM components K")
flags.DEFINE_integer("num_patches", 2_000_000, "patches drawn from the images")
flags.DEFINE_integer("em_steps", 40, "EM steps")
flags.DEFINE_integer("train_steps", 20_000, "denoiser: training steps")
flags.DEFINE_list("denoiser_units", ["512", "512", "512"], "denoiser: hidden layer widths")
flags.DEFINE_float("covariance_floor", 1e-6, "smallest eigenvalue of a component covariance ([0, 1] pixel scale)")


def check_flags():
    if not FLAGS.output:
        raise ConfigError("--output is required (an .npz file)")
    extension = {"gmm": ".npz", "denoiser": ".keras"}[FLAGS.prior_type]
    if not FLAGS.output.endswith(extension):
        raise ConfigError(f"--output={FLAGS.output}: a {FLAGS.prior_type} prior is written to a {extension} file")
    if not os.path.isdir(os.path.dirname(os.path.abspath(FLAGS.output))):
        raise ConfigError(f"--output={FLAGS.output}: its folder does not exist")
    for name in ("patch_size", "components", "num_patches", "train_steps", "batch_size"):
        if getattr(FLAGS, name) < 1:
            raise ConfigError(f"--{name}: must be positive, got {getattr(FLAGS, name)}")
    if FLAGS.em_steps < 0:
        raise ConfigError(f"--em_steps: must be >= 0, got {FLAGS.em_steps}")
    if FLAGS.covariance_floor <= 0:
        raise ConfigError(f"--covariance_floor: must be positive, got {FLAGS.covariance_floor}")
    if FLAGS.num_patches < FLAGS.components:
        raise ConfigError(f"--num_patches={FLAGS.num_patches} is fewer than --components={FLAGS.components}")


@common.reports_errors
def main(argv):
    check_flags()
    images = patch_data.read_grey_images(FLAGS.data)
    patches = patch_data.sample_patches(images, FLAGS.num_patches, FLAGS.patch_size, FLAGS.seed)
    patches = patches - patches.mean(1, keepdims=True)  # DC removed
    print(f"{len(patches)} patches of {FLAGS.patch_size}x{FLAGS.patch_size} from {len(images)} images")
    if FLAGS.prior_type == "denoiser":
        units = [int(u) for u in FLAGS.denoiser_units]
        model = deep_prior.fit_denoiser(patches, FLAGS.train_steps, FLAGS.batch_size, units, seed=FLAGS.seed)
        deep_prior.save_denoiser(model, FLAGS.output)
        print(f"Wrote the learned denoiser prior to {FLAGS.output}")
        return
    start = time.time()
    gmm = PatchGMM.fit(patches, steps=0, components=FLAGS.components, seed=FLAGS.seed,
                       covariance_floor=FLAGS.covariance_floor)
    for step in range(FLAGS.em_steps):
        log_likelihood = gmm.em_step(patches, FLAGS.covariance_floor)
        print(f"EM step {step + 1}/{FLAGS.em_steps}: mean log p(patch) before it {log_likelihood:.4f} nats "
              f"({time.time() - start:.0f} s)", flush=True)
    gmm.save(FLAGS.output)
    print(f"Wrote the {FLAGS.components}-component prior to {FLAGS.output}")


if __name__ == "__main__":
    app.run(main)
