"""Exports a trained model as a SavedModel: `python -m export --model_dir=runs/default --export_dir=serving/vae/1`.

`--export_base=serving/vae` instead writes the next version, serving/vae/<1 + the highest integer there>, the layout
TF Serving expects. `python -m export --denoiser=shipped --export_dir=serving/denoise/1` exports the denoiser with
any prior, the GMM beside it (tfvae/restoration/serving.py). `python -m export --list` says what a model_dir holds and which
signatures its export has. The endpoints are the family's (tfvae/families/); the writer is tfvae/serving.py.
See BUILD.md for serving and the signatures.
"""

from tfvae import quiet  # noqa: F401  (first: silences TensorFlow's start-up lines before it is imported)

import os  # noqa: E402

from absl import flags  # noqa: E402

from tfvae import cli, serving  # noqa: E402
from tfvae.config import ConfigError  # noqa: E402
from tfvae.restoration import denoise as denoise_lib  # noqa: E402
from tfvae.restoration.serving import export_denoiser  # noqa: E402

FLAGS = flags.FLAGS
cli.define_common_flags()
flags.DEFINE_string("export_dir", None, "where the SavedModel goes (for TF Serving: BASE/<version>)")
flags.DEFINE_string("export_base", None, "write the SavedModel to the next integer version under this folder")
flags.DEFINE_bool("list", False, "print what --model_dir holds and the signatures its export would have; write nothing")
flags.DEFINE_bool("overwrite", False, "replace an existing export_dir")
flags.DEFINE_string("denoiser", None, "export the denoiser instead of a model_dir, with a prior: 'shipped' (the "
                    "package's default), a name of the package's priors ("
                    f"{', '.join(denoise_lib.PRIOR_FILES)}), or a file of apps.train_denoiser or "
                    "apps.train_patch_prior (.keras, .npz GMM); the GMM is served beside it")
flags.DEFINE_string("gmm", None, "--denoiser: the GMM (.npz) served beside the prior (default: the prior if it is "
                    "a GMM, else the shipped one)")


def next_version(base):
    """base/<1 + the highest integer-named folder in base> (base/1 for a new or empty base)."""
    versions = [int(name) for name in os.listdir(base) if name.isdigit()] if os.path.isdir(base) else []
    return os.path.join(base, str(max(versions, default=0) + 1))


@cli.reports_errors
def main(argv):
    if FLAGS.list:
        model, step = serving.load(FLAGS.model_dir)
        names = list(serving.signatures(model))
        print(f"{FLAGS.model_dir}: a {model.config.model} model at training step {step}; its SavedModel has the "
              f"signatures {', '.join(names)} ({names[0]} is also serving_default)")
        return
    if bool(FLAGS.export_dir) == bool(FLAGS.export_base):
        raise ConfigError("--export_dir or --export_base: give exactly one (the SavedModel's folder, or TF Serving's "
                          "model folder, under which the next integer version is written)")
    FLAGS.export_dir = FLAGS.export_dir or next_version(FLAGS.export_base)
    if FLAGS.denoiser:
        prior = None if FLAGS.denoiser == "shipped" else FLAGS.denoiser
        if not os.path.isfile(denoise_lib.prior_file(prior)):
            raise ConfigError(f"--denoiser={FLAGS.denoiser}: no such file (use 'shipped', one of "
                              f"{', '.join(denoise_lib.PRIOR_FILES)} or a prior .npz / .keras file)")
        if FLAGS.gmm and not FLAGS.gmm.endswith(".npz") or FLAGS.gmm and not os.path.isfile(FLAGS.gmm):
            raise ConfigError(f"--gmm={FLAGS.gmm}: no such GMM file (.npz)")
        path = export_denoiser(prior, FLAGS.export_dir, overwrite=FLAGS.overwrite, gmm_path=FLAGS.gmm)
        print(f"Exported the denoiser to {path}")
        return
    model, _ = serving.load(FLAGS.model_dir)
    path = serving.export_model(model, FLAGS.export_dir, overwrite=FLAGS.overwrite, model_dir=FLAGS.model_dir)
    print(f"Exported the SavedModel to {path}")


def run():
    """The console script's entry point."""
    cli.run(main)


if __name__ == "__main__":
    run()
