"""What the apps share: their common flags, flags generated from the config dataclasses, and turning a bad input
into one line and a non-zero exit.

The apps call `define_common_flags()` and `define_config_flags(classes)` at import (absl flags are global to the
process, so each is defined once, by whichever app asks first). A generated flag has the field's name, its help text
(`config.field(..., help)`), its type (int, float, str, bool; a tuple is a comma-separated list) and its choices,
and the default None: "not given", so the family's own default (or, when resuming, the stored value) applies.
"""

import dataclasses
import functools
import logging
import os
import sys

from absl import app, flags
from absl import logging as absl_logging

from tfvae.config import ConfigError
from tfvae.data import DataError, images
from tfvae.distribute import STRATEGIES, StrategyError
from tfvae.training import TrainingError

FLAGS = flags.FLAGS
# Bad input and failed runs: the message names the problem and the flag.
USER_ERRORS = (ConfigError, DataError, StrategyError, TrainingError, FileExistsError)


def define_flag(kind, name, default, help_text, **kwargs):
    """flags.DEFINE_<kind>(name, default, help_text, **kwargs) unless the flag exists already."""
    if name not in FLAGS:
        getattr(flags, f"DEFINE_{kind}")(name, default, help=help_text, **kwargs)


def define_common_flags():
    """The flags every app shares: --model_dir, the data flags, --seed, --batch_size, --strategy and friends."""
    define_flag("string", "model_dir", os.path.join("runs", "default"), "the model's directory: config, checkpoints, "
            "logs, pictures, exports")
    define_flag("string", "dataset", None, "mnist_offline (embedded), a TFDS name (mnist, binarized_mnist, "
            "fashion_mnist, cifar10, ...), npz:PATH (x_train, x_test[, y_train, y_test]) or folder:PATH")
    define_flag("string", "data_dir", None, "TFDS data directory (default: TFDS's own, ~/tensorflow_datasets)")
    define_flag("bool", "download", False, "let TFDS download and prepare a data set that is not prepared yet")
    define_flag("integer", "image_size", None, "folder data sets: side of the square centre crops, in pixels")
    define_flag("integer", "channels", None, "folder data sets: 1 (grey) or 3 (RGB)")
    define_flag("string", "input", None, "the input file (apps.denoise, apps.colorize: an image; none: a built-in demo)")
    define_flag("string", "output", None, "where the result goes (apps.evaluate: JSON, default MODEL_DIR/evaluation.json;"
            " apps.denoise: an image, default denoised.png; apps.train_patch_prior: the prior file)")
    define_flag("integer", "seed", 0, "seed of weights, data order, noise and patch draws")
    define_flag("integer", "batch_size", 128, "images per batch (training: the global batch, split over replicas)")
    # Training apps (apps.train, apps.train_patch_prior): where the replicas run (tfvae/distribute.py, BUILD.md).
    define_flag("enum", "strategy", "default", "tf.distribute strategy", enum_values=list(STRATEGIES))
    define_flag("integer", "cpu_devices", 1, "split the CPU into this many logical devices (for --strategy=mirrored "
            "without GPUs)")
    define_flag("string", "tpu", "", "--strategy=tpu: TPU name or address (empty: from the environment)")
    define_flag("list", "gpus", None, "--strategy=mirrored: the indices of the GPUs to use (default: every visible GPU)")


def define_restoration_flags(prior_names, default_prior):
    """The flags apps.denoise and apps.restore share (one definition, so both can live in one process)."""
    define_flag("float", "sigma", None, "noise standard deviation on the 0-255 scale (apps.denoise: default 25; "
                "apps.restore: default 0, or its demo's)")
    define_flag("string", "clean", None, "a clean reference image: print PSNR and SSIM")
    define_flag("integer", "noise_seed", 0, "seed of the noise added for demos (and of apps.restore's demo mask)")
    define_flag("string", "prior_path", None, "the prior: one shipped in the package by name "
                f"({', '.join(prior_names)}; default {default_prior}), or a file from apps.train_denoiser or "
                "apps.train_patch_prior (.keras, .npz GMM)")


def define_training_flags():
    """The flags apps.train_patch_prior and apps.train_denoiser share: --data, --train_steps, --run_dir."""
    define_flag("string", "data", "folder:../shared/data/denoise/train400", "folder:PATH of the training images "
                "(grey for the patch priors)")
    define_flag("integer", "train_steps", 20_000, "training steps (apps.train_patch_prior: the denoiser and the flow)")
    define_flag("string", "run_dir", None, "keep checkpoints and TensorBoard logs here, so a killed run resumes where "
                "it stopped (apps.train_patch_prior: the denoiser and the flow; default: none)")


def define_config_flags(classes, only=None):
    """A flag (default None) for every field of the config dataclasses `classes` that has one (module docstring), or
    for the fields named in `only`."""
    for cls in classes:
        for f in dataclasses.fields(cls):
            meta = f.metadata
            if not meta.get("flag", True) or f.name in FLAGS or (only is not None and f.name not in only):
                continue
            help_text = f"{meta.get('help', '')} (default: {_shown(f.default)})"
            if meta.get("choices"):
                flags.DEFINE_enum(f.name, None, list(meta["choices"]), help_text)
            elif f.type is bool:
                flags.DEFINE_bool(f.name, None, help_text)
            elif f.type is int:
                flags.DEFINE_integer(f.name, None, help_text)
            elif f.type is float:
                flags.DEFINE_float(f.name, None, help_text)
            elif f.type is tuple:
                flags.DEFINE_list(f.name, None, help_text)
            else:
                flags.DEFINE_string(f.name, None, help_text)


def _shown(default):
    if default is None:
        return "by family"
    if isinstance(default, tuple):
        return ",".join(map(str, default)) or "none"
    return repr(default) if isinstance(default, str) else str(default)


def given_fields(cls):
    """{field: value} of the fields of cls whose flags were given (not None); list flags become int tuples."""
    values = {}
    for f in dataclasses.fields(cls):
        if not f.metadata.get("flag", True) or f.name not in FLAGS or FLAGS[f.name].value is None:
            continue
        value = FLAGS[f.name].value
        if f.type is tuple:
            value = tuple(_int(f.name, v) for v in value)
        values[f.name] = value
    return values


def given_flags():
    """The names of the flags set on the command line."""
    return {name for name in FLAGS if FLAGS[name].present}


def _int(flag, value):
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"--{flag}: {value!r} is not an integer") from None


def require_positive(*names, minimum=1):
    """ConfigError naming the first flag among `names` whose value is below minimum."""
    for name in names:
        if FLAGS[name].value is not None and FLAGS[name].value < minimum:
            raise ConfigError(f"--{name}: must be {'positive' if minimum == 1 else f'>= {minimum}'}, got "
                              f"{FLAGS[name].value}")


def check_output_path(flag, path):
    """ConfigError unless path is an image file name (known extension) in an existing folder."""
    if not path:
        raise ConfigError(f"--{flag} is required")
    if os.path.splitext(path)[1].lower() not in images.IMAGE_EXTENSIONS:
        raise ConfigError(f"--{flag}={path}: unknown image extension; use one of "
                          f"{', '.join(images.IMAGE_EXTENSIONS)}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ConfigError(f"--{flag}={path}: the folder {folder} does not exist")


HELP_FLAGS = ("--help", "-help", "-h", "-?", "--helpshort", "--helpfull", "--helpxml")


def run(main):
    """app.run(main), with --help (and its kin) exiting 0 after printing the help: absl exits 1 there, and a
    user's shell (or a script's `set -e`) would take the help as a failure."""
    try:
        app.run(main)
    except SystemExit as e:
        if e.code == 1 and any(arg.split("=")[0] in HELP_FLAGS for arg in sys.argv[1:]):
            sys.exit(0)
        raise


def reports_errors(main):
    """Wraps an app's main: a user error becomes `error: MESSAGE` on stderr and exit status 1."""

    @functools.wraps(main)
    def wrapped(argv):
        quiet_logs()
        if len(argv) > 1:
            sys.exit(f"error: unexpected arguments {argv[1:]} (flags are written --name=value)")
        try:
            return main(argv)
        except USER_ERRORS as e:
            sys.exit(f"error: {e}")

    return wrapped


def quiet_logs():
    """Keeps TensorFlow's and absl's INFO lines out of the apps' output."""
    absl_logging.set_verbosity(absl_logging.WARNING)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
