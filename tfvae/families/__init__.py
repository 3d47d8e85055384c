"""The registry of model families: the only table of them. Each module here declares one family (base.py says
what a family declares); adding a family is one module and one line in FAMILIES.

    families.get("vae")                        the Family
    families.make_config(model="vae", ...)     its config section
    families.train(config, train_config, data, model_dir)   trains (or resumes) into model_dir; returns the model
    families.read_config(model_dir)            (config section, TrainConfig) of a run
    families.restore(model_dir)                the trained model of a run
"""

import dataclasses
import os

import keras

from tfvae import config as config_lib
from tfvae import distribute, runs, training
from tfvae.data import steps_per_epoch
from tfvae.config import ConfigError
from tfvae.families import colorize, conditional, hvae, vae, vqvae
from tfvae.families.base import ClassifyOptions, EvaluationOptions, ExplorationOptions, Family

FAMILIES = {f.name: f for f in (
    vae.FAMILY,
    vqvae.FAMILY,
    conditional.CVAE_FAMILY,
    conditional.M2_FAMILY,
    hvae.FAMILY,
    colorize.FAMILY,
)}
NAMES = tuple(FAMILIES)

__all__ = ["ClassifyOptions", "EvaluationOptions", "ExplorationOptions", "FAMILIES", "Family", "NAMES", "get", "make_config",
           "make_model", "of", "initial_weights", "prepare_run", "fit_run", "read_config", "restore", "train"]


def get(name):
    """The Family called `name` (ConfigError naming --model if there is none)."""
    if name not in FAMILIES:
        raise ConfigError(f"--model: must be one of {NAMES}, got {name!r}")
    return FAMILIES[name]


def of(model_or_config):
    """The Family of a model or of a config section (by its `model` field)."""
    return get(getattr(model_or_config, "config", model_or_config).model)


def make_config(model="vae", **fields):
    """The config section of family `model` from field values: make_config(model="vqvae", num_codes=64)."""
    return get(model).make_config(**fields)


def make_model(config):
    """The (unbuilt) model of a config section."""
    return of(config).make_model(config)


def config_from_record(record):
    """(config section, TrainConfig or None) of a config.json record {"model": ..., "train": ...}."""
    section = record["model"]
    train = record.get("train")
    return (get(section.get("model", "vae")).config_from_record(section),
            config_lib.from_dict(config_lib.TrainConfig, train) if train else None)


def read_config(model_dir):
    """(config section, TrainConfig or None) of model_dir's config.json (ConfigError if there is none)."""
    return config_from_record(runs.read_record(model_dir))


def restore(model_dir):
    """The model of model_dir with the weights of its newest checkpoint (ConfigError if there is none)."""
    model_config, _ = read_config(model_dir)
    return of(model_config).restore(model_dir, model_config)


def initial_weights(model_config, train_config, model_dir):
    """The weights a new run starts from: those of train_config.init_from, a trained model_dir or a .keras model file
    (tfvae/saving.py) of the same family and architecture, as arrays in model.weights order (the order checkpoints
    use); None without init_from or when model_dir has a checkpoint to resume from. ConfigError naming --init_from
    if the source cannot be read or its weights do not fit this model."""
    path = train_config.init_from
    if not path or runs.latest_checkpoint(model_dir) is not None:
        return None
    if os.path.isdir(path):
        if not runs.has_config(path):
            raise ConfigError(f"--init_from={path}: the folder holds no trained run ({runs.CONFIG_FILE} is missing)")
        source = restore(path)
    elif path.endswith(".keras") and os.path.isfile(path):
        source = keras.models.load_model(path, compile=False)
    else:
        raise ConfigError(f"--init_from={path}: neither a trained model_dir nor a .keras model file")
    model = make_model(model_config)
    model.build(None)
    shapes = [tuple(w.shape) for w in source.weights]
    if type(source) is not type(model):
        raise ConfigError(f"--init_from={path} is a {type(source).__name__}, this run's --model={model_config.model} "
                          f"a {type(model).__name__}: give the flags of its family and architecture")
    if shapes != [tuple(w.shape) for w in model.weights]:
        raise ConfigError(f"--init_from={path}: its {len(shapes)} weights' shapes differ from this "
                          f"{model_config.model} model's {len(model.weights)}: give the flags of its architecture")
    return [w.numpy() for w in source.weights]


def prepare_run(model_config, train_config, data, model_dir, strategy):
    """Checks everything about a run before anything is written, then (on the chief) writes its config.json;
    returns the weights the run starts from (`initial_weights`: None for a fresh initialization or a resume).

    data: an ImageData (ColourImages for colorize) whose image shape equals model_config.input_shape. A model_dir
    that holds another model is refused (config.check_compatible), as is a folder that holds no tfvae run.
    """
    family = of(model_config)
    train_config.validate()
    if tuple(data.shape) != tuple(model_config.input_shape):
        raise ConfigError(f"--dataset={train_config.dataset}: images are {data.shape}, the model expects "
                          f"{model_config.input_shape}")
    family.check(data, model_config, train_config)
    steps_per_epoch(family.examples_per_epoch(data), train_config.batch_size)  # a batch larger than the data fails
    initial = initial_weights(model_config, train_config, model_dir)
    if distribute.worker_name(strategy) is None:  # the chief writes config.json; other workers may be first
        if runs.has_config(model_dir):
            config_lib.check_compatible(read_config(model_dir)[0], model_config, model_dir)
        runs.prepare(model_dir, "model", model_config, train_config)
    return initial


def fit_run(model_config, train_config, data, model_dir, strategy, verbose=1, validate=True, callbacks=(),
            initial=None):
    """Trains (or resumes) a run that prepare_run has checked, a new one from `initial` (prepare_run's result) if
    given; returns the model."""
    family = of(model_config)
    per_epoch = steps_per_epoch(family.examples_per_epoch(data), train_config.batch_size)
    return training.fit(lambda: family.make_model(model_config),
                        lambda start: family.datasets(data, model_config, train_config, start, validate),
                        epochs=train_config.epochs, steps_per_epoch=per_epoch, run_dir=model_dir,
                        seed=model_config.seed, strategy=strategy, learning_rate=train_config.learning_rate,
                        jit_compile=train_config.jit_compile, per_execution=train_config.steps_per_execution,
                        precision=model_config.precision, verbose=verbose, callbacks=callbacks,
                        initial_weights=initial)


def train(model_config, train_config, data, model_dir, strategy=None, verbose=1, validate=True, callbacks=()):
    """Trains (or resumes training of) the model of `model_config` on `data` into `model_dir`; returns the model.

    strategy: a tf.distribute.Strategy (default: train_config.strategy); callbacks: extra Keras callbacks. The
    fields the family sets from the data (`data_fields`) replace those of model_config. Everything is checked before
    anything is written (prepare_run).
    """
    strategy = strategy or distribute.make_strategy(train_config.strategy)
    model_config = dataclasses.replace(model_config, **of(model_config).data_fields(data, train_config))
    initial = prepare_run(model_config, train_config, data, model_dir, strategy)
    return fit_run(model_config, train_config, data, model_dir, strategy, verbose, validate, callbacks, initial)
