"""Trains the convolutional denoiser (tfvae/restoration/conv_prior.py), grey or colour:
`python -m apps.train_denoiser --run_dir=runs/conv_grey --output=conv_grey.keras` (BUILD.md has the shipped commands).

Random --crop x --crop crops of the images under --data (every 20th file, from the first, sorted by path, is the
validation split and never trained on), noise sigma ~ U[0, 75] / 255 per crop, MSE, --train_steps Adam steps of
--batch_size crops (default 16 here; warm-up, cosine decay). After every --steps_per_epoch steps the validation PSNR at sigma 15, 25
and 50 is printed and appended to RUN_DIR/validation.json, and the best model so far is written to --output. With
--run_dir a killed run resumes where it stopped (same flags).
"""

from tfvae import quiet  # noqa: F401  (first: silences TensorFlow's start-up lines before it is imported)

import os

from absl import flags

from tfvae import cli, distribute
from tfvae.config import JIT_MODES, ConfigError, ModelConfig, TrainConfig
from tfvae.restoration import conv_prior

FLAGS = flags.FLAGS
cli.define_common_flags()
cli.define_training_flags()
BATCH_SIZE = 16  # crops per step unless --batch_size is given (the shared flag's default, 128, is for MNIST)
cli.define_config_flags([ModelConfig])  # --precision (default mixed_bfloat16 here: see BUILD.md)
flags.DEFINE_integer("crop", 96, "side of the training crops, in pixels")
flags.DEFINE_list("widths", ["64", "128", "256"], "channels of the U-Net's levels (after the 2x2 pixel unshuffle)")
flags.DEFINE_integer("blocks", 2, "residual blocks per level and side")
LEARNING_RATE = 5e-4  # Adam's peak unless --learning_rate is given (the flag is shared with apps.train's)
cli.define_flag("float", "learning_rate", None, "Adam learning rate (apps.train_denoiser: the peak after "
                f"--lr_warmup_steps, default {LEARNING_RATE})")
flags.DEFINE_integer("lr_warmup_steps", 500, "steps of linear learning-rate warm-up")
flags.DEFINE_integer("steps_per_epoch", 500, "steps between checkpoints and validations")
cli.define_config_flags([TrainConfig], only=("init_from",))  # e.g. the shipped tfvae/restoration/conv_prior.keras
for _name in ("precision", "init_from"):  # generated in tfvae/cli.py: --help lists them with the app's own
    flags.declare_key_flag(_name)
cli.define_flag("enum", "jit_compile", None, "XLA: auto (tfvae/distribute.py: use_jit; the default), on or off",
                enum_values=list(JIT_MODES))


def check_flags():
    if not FLAGS.output or not FLAGS.output.endswith(".keras"):
        raise ConfigError(f"--output={FLAGS.output}: the denoiser is written to a .keras file")
    if not os.path.isdir(os.path.dirname(os.path.abspath(FLAGS.output))):
        raise ConfigError(f"--output={FLAGS.output}: its folder does not exist")
    if FLAGS.channels not in (None, 1, 3):
        raise ConfigError(f"--channels: 1 (grey) or 3 (RGB), got {FLAGS.channels}")
    cli.require_positive("train_steps", "crop", "blocks", "steps_per_epoch", "batch_size")
    cli.require_positive("lr_warmup_steps", minimum=0)
    if FLAGS.lr_warmup_steps >= FLAGS.train_steps:
        raise ConfigError(f"--lr_warmup_steps={FLAGS.lr_warmup_steps} must be fewer than --train_steps="
                          f"{FLAGS.train_steps}")
    if FLAGS.init_from and not os.path.isfile(FLAGS.init_from):
        raise ConfigError(f"--init_from={FLAGS.init_from}: no such file")
    if FLAGS.learning_rate is not None and not FLAGS.learning_rate > 0:
        raise ConfigError(f"--learning_rate: must be positive, got {FLAGS.learning_rate}")
    if not FLAGS.widths or not all(w.isdigit() and int(w) > 0 for w in FLAGS.widths):
        raise ConfigError(f"--widths: positive integers (channel counts), got {','.join(FLAGS.widths)}")
    return [int(w) for w in FLAGS.widths]


@cli.reports_errors
def main(argv):
    widths = check_flags()
    distribute.split_cpu(FLAGS.cpu_devices)
    strategy = distribute.make_strategy(FLAGS.strategy, FLAGS.tpu, gpus=FLAGS.gpus)
    train, validation = conv_prior.read_training_images(FLAGS.data, FLAGS.channels or 1)
    if FLAGS.crop > min(train.shape[1:3]):
        raise ConfigError(f"--crop={FLAGS.crop} is larger than the smallest training image {train.shape[1:3]}")
    print(f"{len(train)} training and {len(validation)} validation images of {train.shape[1]}x{train.shape[2]}x"
          f"{train.shape[3]}, {strategy.num_replicas_in_sync} replica(s)", flush=True)
    batch_size = FLAGS.batch_size if FLAGS["batch_size"].present else BATCH_SIZE
    conv_prior.fit_conv_denoiser(train, validation, FLAGS.train_steps, crop=FLAGS.crop, batch_size=batch_size,
                                 widths=widths, blocks=FLAGS.blocks,
                                 learning_rate=LEARNING_RATE if FLAGS.learning_rate is None else FLAGS.learning_rate,
                                 warmup_steps=FLAGS.lr_warmup_steps, steps_per_epoch=FLAGS.steps_per_epoch,
                                 seed=FLAGS.seed, strategy=strategy, jit_compile=FLAGS.jit_compile or "auto",
                                 precision=FLAGS.precision or "mixed_bfloat16",
                                 run_dir=FLAGS.run_dir, output=FLAGS.output, init_from=FLAGS.init_from)
    print(f"Done; the best model by validation PSNR is {FLAGS.output}")


def run():
    """The console script's entry point."""
    cli.run(main)


if __name__ == "__main__":
    run()
