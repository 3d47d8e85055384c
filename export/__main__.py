"""Exports a trained model as a SavedModel: `python -m export --model_dir=runs/default --export_dir=serving/vae/1`.

TF Serving expects EXPORT_BASE/<integer version>/; see BUILD.md for serving and the signatures.
"""

import json
import os

from absl import app, flags

from apps import common
from export.saved_model import export_model
from tfvae import training
from tfvae.config import ConfigError

FLAGS = flags.FLAGS
flags.DEFINE_string("export_dir", None, "where the SavedModel goes (for TF Serving: BASE/<version>)")
flags.DEFINE_bool("overwrite", False, "replace an existing export_dir")


@common.reports_errors
def main(argv):
    if not FLAGS.export_dir:
        raise ConfigError("--export_dir is required (for TF Serving: BASE/<integer version>)")
    model = training.restore(FLAGS.model_dir)
    metadata = {}
    evaluation = os.path.join(FLAGS.model_dir, "evaluation.json")
    if os.path.isfile(evaluation):
        with open(evaluation) as f:
            metadata["evaluation"] = json.load(f)
    path = export_model(model, FLAGS.export_dir, metadata=metadata, overwrite=FLAGS.overwrite)
    print(f"Exported the SavedModel to {path}")


if __name__ == "__main__":
    app.run(main)
