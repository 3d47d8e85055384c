"""The model_dir layout, and the one atomic JSON writer.

    MODEL_DIR/
      config.json          {"model": the family's config section, "train": TrainConfig} (tfvae/config.py)
      checkpoints/         tf.train.Checkpoint files, numbered by training step (tfvae/training/)
      logs/                TensorBoard
      evaluation.json      apps.evaluate's results
      classification.json  apps.classify's results
      export/<step>/       the SavedModel apps.train writes
      workers/<worker>/    under --strategy=multi_worker, where the non-chief workers save
      prior/               a stage of its own (the VQ-VAE's PixelCNN prior): config.json {"prior": ..., "train": ...},
                           checkpoints/, logs/, export/<step>/, samples.png

A "run directory" is MODEL_DIR or one of its stage folders: the same layout, one config record.
"""

import dataclasses
import json
import os

import tensorflow as tf

from tfvae.config import ConfigError

CONFIG_FILE = "config.json"
CHECKPOINT_DIR = "checkpoints"
LOG_DIR = "logs"
EVALUATION_FILE = "evaluation.json"
CLASSIFICATION_FILE = "classification.json"
EXPORT_DIR = "export"
WORKERS_DIR = "workers"
PRIOR_DIR = "prior"  # the VQ-VAE's phase-II stage


def write_json(path, record):
    """Writes record as indented JSON to path atomically (a temporary sibling, then a rename)."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(record, f, indent=2, sort_keys=True)
    os.replace(tmp, path)


def read_json(path):
    with open(path) as f:
        return json.load(f)


def stage_dir(model_dir, stage="model"):
    """The run directory of a stage: MODEL_DIR itself for "model", MODEL_DIR/prior for "prior"."""
    return model_dir if stage == "model" else os.path.join(model_dir, PRIOR_DIR)


def has_config(run_dir):
    return os.path.isfile(os.path.join(run_dir, CONFIG_FILE))


def has_stage(model_dir, stage):
    return os.path.isfile(os.path.join(stage_dir(model_dir, stage), CONFIG_FILE))


def read_record(run_dir, what="model"):
    """The config record {what: ..., "train": ...} of run_dir; ConfigError naming --model_dir if there is none."""
    path = os.path.join(run_dir, CONFIG_FILE)
    if not os.path.isfile(path):
        raise ConfigError(f"--model_dir={run_dir} holds no {'model' if what == 'model' else what} "
                          f"({CONFIG_FILE} is missing)")
    return read_json(path)


def prepare(run_dir, key, section, train_config):
    """Writes config.json {key: section, "train": train_config} into run_dir, created if needed.

    A folder without config.json that holds anything but other workers' folders is refused: it is not a tfvae run.
    (A run directory with a config.json is checked against the request by the caller: config.check_compatible.)
    """
    path = os.path.join(run_dir, CONFIG_FILE)
    if not os.path.isfile(path) and os.path.isdir(run_dir) and set(os.listdir(run_dir)) - {WORKERS_DIR}:
        raise ConfigError(f"--model_dir={run_dir} is not empty and holds no tfvae model")
    os.makedirs(run_dir, exist_ok=True)
    write_json(path, {key: dataclasses.asdict(section), "train": dataclasses.asdict(train_config)})


def worker_dir(run_dir, worker):
    """RUN_DIR/workers/<worker>, created: where a non-chief worker saves (every worker saves, since writing a
    checkpoint may need collectives; only the chief's go into the run directory)."""
    path = os.path.join(run_dir, WORKERS_DIR, worker)
    os.makedirs(path, exist_ok=True)
    return path


def latest_checkpoint(run_dir):
    """The path prefix of run_dir's newest checkpoint, or None."""
    return tf.train.latest_checkpoint(os.path.join(run_dir, CHECKPOINT_DIR))


def checkpoint_step(run_dir):
    """The training step of the newest checkpoint in RUN_DIR/checkpoints (they are numbered by step); None if none."""
    path = latest_checkpoint(run_dir)
    return None if path is None else int(path.rsplit("-", 1)[1])


def export_dir(run_dir, step):
    """RUN_DIR/export/<step>: where apps.train writes the SavedModel of a run."""
    return os.path.join(run_dir, EXPORT_DIR, str(step))
