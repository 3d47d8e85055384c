"""Trains a patch prior for denoising:
`python -m apps.train_patch_prior --data=folder:../shared/data/denoise/train400 --output=gmm.npz`.

--prior_type=gmm (Zoran & Weiss 2011): a K-component zero-mean GMM over DC-removed p x p patches, fitted by EM on
--num_patches patches drawn uniformly from the images (tfvae/restoration/gmm.py); the mean log-likelihood of the
patches is printed before every step (EM never lowers it). Writes an .npz.
--prior_type=denoiser: the learned deep prior (tfvae/restoration/deep_prior.py), a noise-conditional patch denoiser trained
on the same patches for --train_steps steps of --batch_size (the global batch). Writes a .keras file.
--prior_type=flow: a normalizing flow over the whitened patches (tfvae/restoration/flow_prior.py; --flow, --flow_layers,
--flow_units; its MAP takes --map_steps gradient steps), fitted by maximum likelihood on the same patches for
--train_steps steps of --batch_size. Writes a .keras file.
The denoiser, the flow and the GMM train under --strategy (BUILD.md): the denoiser like any Keras model, the GMM with each replica summing the EM
statistics of its share of the patches (`--cpu_devices=2 --strategy=mirrored` runs 2 replicas on a CPU).
apps.denoise loads either with --prior_path, tfvae.denoise with prior=load_prior(path).
"""

from tfvae import quiet  # noqa: F401  (first: silences TensorFlow's start-up lines before it is imported)

import os
import time

from absl import flags

from tfvae import cli
from tfvae import distribute
from tfvae.config import ConfigError, ModelConfig, TrainConfig
from tfvae.restoration import deep_prior, flow_prior, patch_data
from tfvae.restoration.gmm import PatchGMM
from tfvae.saving import save_model_file

FLAGS = flags.FLAGS
cli.define_common_flags()
cli.define_training_flags()

flags.DEFINE_enum("prior_type", "gmm", ["gmm", "denoiser", "flow"], "the kind of patch prior")
flags.DEFINE_integer("patch_size", 8, "patch side p")
flags.DEFINE_integer("components", 200, "GMM components K")
flags.DEFINE_integer("num_patches", 2_000_000, "patches drawn from the images")
flags.DEFINE_integer("em_steps", 40, "EM steps")
flags.DEFINE_list("denoiser_units", ["512", "512", "512"], "denoiser: hidden layer widths")
flags.DEFINE_enum("flow", "realnvp", flow_prior.FLOWS, "flow: the library's flow prior to use")
flags.DEFINE_integer("flow_layers", 6, "flow: flow steps (couplings or autoregressive layers)")
flags.DEFINE_integer("flow_units", 128, "flow: hidden units of each step's two-layer network")
flags.DEFINE_integer("map_steps", 3, "flow: gradient steps of its patch MAP (saved with the prior)")
cli.define_config_flags([ModelConfig])  # --precision: what the denoiser's network computes in (default float32)
flags.DEFINE_float("covariance_floor", 1e-6, "smallest eigenvalue of a component covariance ([0, 1] pixel scale)")
# --init_from (gmm only): a GMM .npz (e.g. the shipped tfvae/restoration/gmm_prior.npz) of --components components
# over --patch_size patches whose parameters EM starts from, instead of the seeding.
cli.define_config_flags([TrainConfig], only=("init_from",))
flags.declare_key_flag("init_from")  # generated in tfvae/cli.py: --help lists it with the app's own


def check_flags():
    if not FLAGS.output:
        raise ConfigError("--output is required (an .npz file)")
    extension = {"gmm": ".npz", "denoiser": ".keras", "flow": ".keras"}[FLAGS.prior_type]
    if not FLAGS.output.endswith(extension):
        raise ConfigError(f"--output={FLAGS.output}: a {FLAGS.prior_type} prior is written to a {extension} file")
    if not os.path.isdir(os.path.dirname(os.path.abspath(FLAGS.output))):
        raise ConfigError(f"--output={FLAGS.output}: its folder does not exist")
    for name in ("patch_size", "components", "num_patches", "train_steps", "batch_size", "flow_layers", "flow_units"):
        if getattr(FLAGS, name) < 1:
            raise ConfigError(f"--{name}: must be positive, got {getattr(FLAGS, name)}")
    for name in ("em_steps", "map_steps"):
        if getattr(FLAGS, name) < 0:
            raise ConfigError(f"--{name}: must be >= 0, got {getattr(FLAGS, name)}")
    if FLAGS.covariance_floor <= 0:
        raise ConfigError(f"--covariance_floor: must be positive, got {FLAGS.covariance_floor}")
    if FLAGS.num_patches < FLAGS.components:
        raise ConfigError(f"--num_patches={FLAGS.num_patches} is fewer than --components={FLAGS.components}")
    if FLAGS.init_from:
        if FLAGS.prior_type != "gmm":
            raise ConfigError(f"--init_from: only for --prior_type=gmm, got --prior_type={FLAGS.prior_type}")
        if not os.path.isfile(FLAGS.init_from):
            raise ConfigError(f"--init_from={FLAGS.init_from}: no such file")


def init_from_gmm():
    """--init_from's GMM, checked against --components and --patch_size (before any data is read), or None."""
    if not FLAGS.init_from:
        return None
    try:
        gmm = PatchGMM.load(FLAGS.init_from)
    except (OSError, KeyError, ValueError) as error:
        raise ConfigError(f"--init_from={FLAGS.init_from}: not a GMM .npz ({error})") from None
    if gmm.num_components != FLAGS.components or gmm.dim != FLAGS.patch_size ** 2:
        raise ConfigError(f"--init_from={FLAGS.init_from} has {gmm.num_components} components over {gmm.dim} pixels, "
                          f"not --components={FLAGS.components} over {FLAGS.patch_size}x{FLAGS.patch_size} patches")
    return gmm


@cli.reports_errors
def main(argv):
    check_flags()
    distribute.split_cpu(FLAGS.cpu_devices)
    strategy = distribute.make_strategy(FLAGS.strategy, FLAGS.tpu, gpus=FLAGS.gpus)
    chief = distribute.worker_name(strategy) is None  # under multi_worker only the chief writes --output
    gmm = init_from_gmm()
    images = patch_data.read_grey_images(FLAGS.data)
    patches = patch_data.sample_patches(images, FLAGS.num_patches, FLAGS.patch_size, FLAGS.seed)
    patches = patches - patches.mean(1, keepdims=True)  # DC removed
    print(f"{len(patches)} patches of {FLAGS.patch_size}x{FLAGS.patch_size} from {len(images)} images, "
          f"{strategy.num_replicas_in_sync} replica(s)")
    if FLAGS.prior_type == "denoiser":
        units = [int(u) for u in FLAGS.denoiser_units]
        model = deep_prior.fit_denoiser(patches, FLAGS.train_steps, FLAGS.batch_size, units, seed=FLAGS.seed,
                                        strategy=strategy, model_dir=FLAGS.run_dir,
                                        precision=FLAGS.precision or "float32")
        if chief:
            save_model_file(model, FLAGS.output)
            print(f"Wrote the learned denoiser prior to {FLAGS.output}")
        return
    if FLAGS.prior_type == "flow":
        model = flow_prior.fit_flow(patches, FLAGS.train_steps, FLAGS.batch_size, FLAGS.flow, FLAGS.flow_layers,
                                    FLAGS.flow_units, map_steps=FLAGS.map_steps, seed=FLAGS.seed, strategy=strategy,
                                    model_dir=FLAGS.run_dir)
        if chief:
            save_model_file(model, FLAGS.output)
            print(f"Wrote the flow prior to {FLAGS.output}")
        return
    start = time.time()
    if gmm is None:  # the seeding
        gmm = PatchGMM.fit(patches, steps=0, components=FLAGS.components, seed=FLAGS.seed,
                           covariance_floor=FLAGS.covariance_floor, strategy=strategy)
    for step in range(FLAGS.em_steps):
        log_likelihood = gmm.em_step(patches, FLAGS.covariance_floor, strategy)
        print(f"EM step {step + 1}/{FLAGS.em_steps}: mean log p(patch) before it {log_likelihood:.4f} nats "
              f"({time.time() - start:.0f} s)", flush=True)
    if not chief:
        return
    gmm.save(FLAGS.output)
    print(f"Wrote the {FLAGS.components}-component prior to {FLAGS.output}")


def run():
    """The console script's entry point."""
    cli.run(main)


if __name__ == "__main__":
    run()
