"""Exports a trained model as a SavedModel: `python -m export --model_dir=runs/default --export_dir=serving/vae/1`.

`python -m export --denoiser=shipped --export_dir=serving/denoise/1` exports the denoiser (export/denoiser.py).

TF Serving expects EXPORT_BASE/<integer version>/; see BUILD.md for serving and the signatures.
"""

import json
import os

from absl import app, flags

from apps import common
from export.denoiser import export_denoiser
from export.saved_model import export_model
from tfvae import prior_training, training
from tfvae.config import ConfigError
from tfvae.models.pixelcnn_prior import VQVAEWithPrior

FLAGS = flags.FLAGS
flags.DEFINE_string("export_dir", None, "where the SavedModel goes (for TF Serving: BASE/<version>)")
flags.DEFINE_bool("overwrite", False, "replace an existing export_dir")
flags.DEFINE_string("denoiser", None, "export the denoiser instead of a model_dir: 'shipped' (the packaged patch "
                    "prior) or the .npz of apps.train_patch_prior")


@common.reports_errors
def main(argv):
    if not FLAGS.export_dir:
        raise ConfigError("--export_dir is required (for TF Serving: BASE/<integer version>)")
    if FLAGS.denoiser:
        prior = None if FLAGS.denoiser == "shipped" else FLAGS.denoiser
        if prior and not os.path.isfile(prior):
            raise ConfigError(f"--denoiser={prior}: no such file (use 'shipped' or a prior .npz)")
        path = export_denoiser(prior, FLAGS.export_dir, overwrite=FLAGS.overwrite)
        print(f"Exported the denoiser to {path}")
        return
    model = training.restore(FLAGS.model_dir)
    if model.config.model == "vqvae" and os.path.isdir(os.path.join(FLAGS.model_dir, prior_training.PRIOR_DIR)):
        model = VQVAEWithPrior(model, prior_training.restore_prior(FLAGS.model_dir))  # adds `sample` and `rate`
    metadata = {}
    evaluation = os.path.join(FLAGS.model_dir, "evaluation.json")
    if os.path.isfile(evaluation):
        with open(evaluation) as f:
            metadata["evaluation"] = json.load(f)
    path = export_model(model, FLAGS.export_dir, metadata=metadata, overwrite=FLAGS.overwrite)
    print(f"Exported the SavedModel to {path}")


if __name__ == "__main__":
    app.run(main)
