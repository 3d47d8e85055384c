"""Trains a model: `python -m apps.train` (defaults: the conv VAE on the embedded MNIST, into ./runs/default).

Writes into --model_dir: config.json, checkpoints/, logs/ (TensorBoard), the family's pictures (samples.png and
reconstructions.png for a vae) and the SavedModel export/<step>/. Running the same command again resumes from the
newest checkpoint: flags not given take the values stored in config.json, and a given flag that changes the model
is refused. `--stage=prior` trains the later stage of a trained model (the VQ-VAE's PixelCNN prior, into
MODEL_DIR/prior/). Every family's flags are listed by --helpfull; the families are in tfvae/families/.
"""

from tfvae import quiet  # noqa: F401  (first: silences TensorFlow's start-up lines before it is imported)

import dataclasses  # noqa: E402

from absl import flags  # noqa: E402

from tfvae import cli, config as config_lib, distribute, families, runs, serving, training  # noqa: E402

FLAGS = flags.FLAGS
STAGES = sorted({stage for family in families.FAMILIES.values() for stage in family.stages})

cli.define_common_flags()
flags.DEFINE_enum("model", None, list(families.NAMES), "model family (default vae; resuming: the stored one): "
                  + "; ".join(f"{name}: {family.description}" for name, family in families.FAMILIES.items()))
flags.DEFINE_enum("stage", "model", ["model", *STAGES], "what to train: the model, or a later stage of the trained "
                  "model in --model_dir (prior: the VQ-VAE's PixelCNN prior)")
cli.define_config_flags([family.config_class for family in families.FAMILIES.values()]
                        + [cls for family in families.FAMILIES.values() for cls in family.stages.values()]
                        + [config_lib.TrainConfig])
flags.DEFINE_bool("export", True, "write the SavedModel after training")
flags.adopt_module_key_flags(cli)  # --help lists the generated config flags too

COMMON_TRAIN_FLAGS = ("dataset", "image_size", "channels", "batch_size", "strategy")  # defined by cli, not generated


def given(name):
    return not FLAGS[name].using_default_value


def train_config(stored=None, **fixed):
    """The TrainConfig of the flags given, over the stored one of a resumed run (or the defaults), and `fixed`."""
    values = dataclasses.asdict(stored) if stored else {}
    values.update(cli.given_fields(config_lib.TrainConfig))
    values.update({name: FLAGS[name].value for name in COMMON_TRAIN_FLAGS if given(name) or name not in values})
    values.update(fixed)
    values["image_size"], values["channels"] = values["image_size"] or 0, values["channels"] or 0
    config = config_lib.from_dict(config_lib.TrainConfig, values)
    config.validate()
    return config


def refuse_foreign_flags(family):
    """ConfigError naming the first given flag that is a field of other families' sections but not of this one's."""
    own = {f.name for f in dataclasses.fields(family.config_class)}
    for other in families.FAMILIES.values():
        for name in sorted(cli.given_fields(other.config_class).keys() - own):
            owners = tuple(n for n, f in families.FAMILIES.items()
                           if name in {g.name for g in dataclasses.fields(f.config_class)})
            raise config_lib.ConfigError(f"--{name}: only {owners} have it, not --model={family.name}")


def model_config(family, stored, input_shape, data=None, train=None):
    """The family's config section: the given flags over the stored section of a resumed run (or the defaults)."""
    refuse_foreign_flags(family)
    values = dataclasses.asdict(stored) if stored is not None and stored.model == family.name else {}
    values.update(cli.given_fields(family.config_class))
    if given("seed") or "seed" not in values:
        values["seed"] = FLAGS.seed
    if data is not None:
        values.update(family.data_fields(data, train))
    values.update(model=family.name, input_shape=input_shape)
    return config_lib.from_dict(family.config_class, values)


@cli.reports_errors
def main(argv):
    distribute.split_cpu(FLAGS.cpu_devices)
    stored, stored_train = families.read_config(FLAGS.model_dir) if runs.has_config(FLAGS.model_dir) else (None, None)
    if FLAGS.stage != "model":
        return train_stage(stored, stored_train)
    family = families.get(FLAGS.model or (stored.model if stored is not None else "vae"))
    if not given("dataset"):
        FLAGS.dataset = stored_train.dataset if stored_train else family.default_dataset
    train = train_config(stored_train if stored is not None and stored.model == family.name else None)
    model_config(family, stored, family.shape_before_data(train.image_size))  # every flag checked before the data
    data = family.load_data(train.dataset, train.image_size, train.channels, FLAGS.data_dir, FLAGS.download)
    config = model_config(family, stored, tuple(data.shape), data, train)
    strategy = distribute.make_strategy(train.strategy, FLAGS.tpu, gpus=FLAGS.gpus)
    initial = families.prepare_run(config, train, data, FLAGS.model_dir, strategy)
    print(f"Training a {family.name} on {data.name}: {len(data.x_train)} train / {len(data.x_test)} test images of "
          f"shape {data.shape}, {strategy.num_replicas_in_sync} replica(s), into {FLAGS.model_dir}")
    if initial is not None:
        print(f"Starting from the weights of {train.init_from}")
    model = families.fit_run(config, train, data, FLAGS.model_dir, strategy, initial=initial)
    if distribute.worker_name(strategy) is not None:
        return  # pictures and the export are the chief's
    family.write_pictures(model, data, FLAGS.model_dir)
    export(model, FLAGS.model_dir, training.step_of(model.optimizer))


def train_stage(stored, stored_train):
    """--stage=STAGE: trains the later stage of the trained model in --model_dir into its stage folder."""
    if stored is None:
        raise config_lib.ConfigError(f"--model_dir={FLAGS.model_dir} holds no model ({runs.CONFIG_FILE} is missing)")
    family = families.of(stored)
    if FLAGS.stage not in family.stages:
        raise config_lib.ConfigError(
            f"--model_dir={FLAGS.model_dir} holds a {stored.model!r} model; --stage={FLAGS.stage} needs a phase-I "
            f"model of a family that has it ({', '.join(n for n, f in families.FAMILIES.items() if FLAGS.stage in f.stages)})")
    if given("init_from"):
        raise config_lib.ConfigError(f"--init_from: only for --stage=model (a --stage={FLAGS.stage} run starts from "
                                     "its model's weights)")
    run_dir = runs.stage_dir(FLAGS.model_dir, FLAGS.stage)
    stage_class = family.stages[FLAGS.stage]
    stored_stage = None
    if runs.has_config(run_dir):
        record = runs.read_record(run_dir, FLAGS.stage)
        stored_stage = config_lib.from_dict(stage_class, record[FLAGS.stage])
    fields = dataclasses.asdict(stored_stage) if stored_stage else {}
    fields.update(cli.given_fields(stage_class))
    if given("seed") or "seed" not in fields:
        fields["seed"] = FLAGS.seed
    fields.pop("num_classes", None)  # from the data
    family.make_stage_config(FLAGS.stage, fields)  # flags checked before the data
    train = train_config(None, dataset=FLAGS.dataset or stored_train.dataset, image_size=stored_train.image_size,
                         channels=stored_train.channels)
    data = family.load_data(train.dataset, train.image_size, train.channels, FLAGS.data_dir, FLAGS.download)
    stage_config = family.make_stage_config(FLAGS.stage, fields, data)
    strategy = distribute.make_strategy(train.strategy, FLAGS.tpu, gpus=FLAGS.gpus)
    model = families.restore(FLAGS.model_dir)
    print(f"Training the {FLAGS.stage} of {FLAGS.model_dir} on {data.name}: {len(data.x_train)} train images, "
          f"{strategy.num_replicas_in_sync} replica(s)")
    model = family.train_stage(FLAGS.stage, FLAGS.model_dir, model, stage_config, train, data, strategy=strategy)
    if distribute.worker_name(strategy) is not None:
        return  # pictures and the export are the chief's
    family.write_stage_pictures(FLAGS.stage, model, run_dir)
    export(model, run_dir, runs.checkpoint_step(run_dir))


def export(model, run_dir, step):
    """RUN_DIR/export/<step>/ (unless --export=false)."""
    if FLAGS.export:
        path = serving.export_model(model, runs.export_dir(run_dir, step), overwrite=True,
                                    model_dir=FLAGS.model_dir)
        print(f"Exported the SavedModel to {path}")
    print(f"Done: {run_dir}")


def run():
    """The console script's entry point."""
    cli.run(main)


if __name__ == "__main__":
    run()
