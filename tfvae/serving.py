"""SavedModels for serving: named, tensor-only signatures that TF Serving serves and that load without tfvae.

One writer for every export: `write` puts an archive into a temporary sibling directory, adds the metadata asset
(METADATA_FILE: what was exported, its config, the tfvae and TensorFlow versions, its signatures, and what the
caller adds) and renames it into place, so a failed export leaves nothing. `export_model` exports a trained model of
any family with the endpoints its family declares (tfvae/families/); the denoiser goes through `write` too
(tfvae/restoration/serving.py). Each endpoint's inputs are checked against their TensorSpecs when the graph runs.
"""

import contextlib
import os
import shutil
import tempfile

import keras
import tensorflow as tf
from tensorflow.python.saved_model import save_context  # pylint: disable=g-direct-tensorflow-import

import tfvae
from tfvae import families, runs

METADATA_FILE = "assets.extra/tfvae_metadata.json"


def checked(fn, specs):
    """fn with each input checked against its TensorSpec's shape when the graph runs: a SavedModel signature does not
    check shapes itself, so a wrong rank or size would otherwise pass silently or fail deep inside a layer. The error
    names the input, e.g. "Shape of tensor images [2,8,8] is not compatible with expected shape [?,8,8,1]"."""

    def with_checks(*inputs):
        return fn(*[tf.ensure_shape(x, spec.shape) for x, spec in zip(inputs, specs)])

    return with_checks


@contextlib.contextmanager
def atomic_directory(export_dir, overwrite=False):
    """Yields an empty temporary folder beside export_dir; on success it becomes export_dir, on failure it goes.

    Raises FileExistsError if export_dir exists and not overwrite; an old export_dir is replaced only at the end.
    """
    export_dir = os.path.abspath(export_dir)
    if os.path.exists(export_dir) and not overwrite:
        raise FileExistsError(f"--export_dir={export_dir} exists; pass --overwrite to replace it")
    parent = os.path.dirname(export_dir)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".export-", dir=parent)
    try:
        yield os.path.join(tmp, "model")
        if os.path.exists(export_dir):  # move the old export aside (into tmp, removed below), then the new one in
            os.replace(export_dir, os.path.join(tmp, "old"))
        os.replace(os.path.join(tmp, "model"), export_dir)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def archive_tracing_once(options):
    """A keras.export.ExportArchive whose write_out(path, options=options) traces each endpoint once instead of
    twice (a speed fix: the SavedModel is the same).

    write_out traces the endpoints first to list the variables they use, then tf.saved_model.save traces them again
    under its save context: TensorFlow keys a tf.function's traces by the save options' variable policy, which is
    set only inside a save context. Listing the variables inside a save context with the same options lets the save
    find those traces.
    """
    archive = keras.export.ExportArchive()
    list_and_track = archive._filter_and_track_resources  # pylint: disable=protected-access

    def in_save_context():
        with save_context.save_context(options):
            list_and_track()

    archive._filter_and_track_resources = in_save_context  # pylint: disable=protected-access
    return archive


def write(export_dir, save, model_type, config, signatures, metadata=None, overwrite=False):
    """Writes a SavedModel to export_dir atomically with its metadata asset; returns export_dir (absolute).

    save(path): writes the SavedModel archive to path. The metadata (METADATA_FILE) holds `model_type`, `config`,
    `tfvae_version`, `tensorflow_version`, the `signatures` names and `metadata`.
    """
    with atomic_directory(export_dir, overwrite) as tmp:
        save(tmp)
        record = {"model_type": model_type, "config": config, "tfvae_version": tfvae.__version__,
                  "tensorflow_version": tf.__version__, "signatures": list(signatures), **(metadata or {})}
        os.makedirs(os.path.join(tmp, os.path.dirname(METADATA_FILE)), exist_ok=True)
        runs.write_json(os.path.join(tmp, METADATA_FILE), record)
    return os.path.abspath(export_dir)


def signatures(model):
    """name -> (function, input signature) of every endpoint of `model`, by its family; the first is also
    serving_default."""
    return families.of(model).signatures(model)


def run_metadata(model_dir, family):
    """What a model_dir adds to its export's metadata: the family's (`step`, the training step of its newest
    checkpoint, and `prior_step` for a VQ-VAE with a prior) and `evaluation`: MODEL_DIR/evaluation.json of
    apps.evaluate if there is one (it names the step it evaluated, which may be older)."""
    metadata = family.run_metadata(model_dir)
    path = os.path.join(model_dir, runs.EVALUATION_FILE)
    if os.path.isfile(path):
        metadata["evaluation"] = runs.read_json(path)
    return metadata


def export_model(model, export_dir, metadata=None, overwrite=False, model_dir=None):
    """Writes the SavedModel of `model` (any family) to export_dir atomically; returns export_dir.

    The metadata holds the family (`model_type`), its `config` (and `prior_config`), the versions, the signature
    names, the `run_metadata` of model_dir (the model's folder: its training step and evaluation) if given, and
    `metadata`.
    """
    family = families.of(model)
    metadata = {**(run_metadata(model_dir, family) if model_dir else {}), **(metadata or {})}
    endpoints = family.signatures(model)
    configs = model.get_config()  # a VQ-VAE with its prior also has the prior's ("prior")
    if "prior" in configs:
        metadata["prior_config"] = configs["prior"]

    def save(path):
        options = tf.saved_model.SaveOptions()
        archive = archive_tracing_once(options)
        for name, (fn, spec) in endpoints.items():  # the first endpoint also becomes serving_default
            archive.add_endpoint(name, checked(fn, spec), input_signature=spec)
        archive.write_out(path, options=options, verbose=False)

    return write(export_dir, save, family.name, configs["config"], endpoints, metadata, overwrite)


def load(model_dir, stages=True):
    """(the model of model_dir, with what its later stages trained if `stages`; its training step)."""
    model = families.restore(model_dir)
    if stages:
        model = families.of(model).with_stages(model, model_dir)
    return model, runs.checkpoint_step(model_dir)
