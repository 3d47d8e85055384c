"""Trains a VAE: `python -m apps.train` (defaults: the conv VAE on the embedded MNIST, into ./runs/default).

Writes into --model_dir: config.json, checkpoints/, logs/ (TensorBoard), samples.png, reconstructions.png and the
SavedModel export/<step>/. Running the same command again resumes from the newest checkpoint.
"""

import os

from absl import app, flags

from apps import common
from tfvae import config as config_lib
from tfvae import data as data_lib
from tfvae import distribute, pictures, training

FLAGS = flags.FLAGS
MODEL_DEFAULTS = config_lib.ModelConfig()
TRAIN_DEFAULTS = config_lib.TrainConfig()

flags.DEFINE_enum("model", MODEL_DEFAULTS.model, config_lib.MODELS, "model family")
flags.DEFINE_enum("architecture", MODEL_DEFAULTS.architecture, config_lib.ARCHITECTURES, "encoder/decoder family")
flags.DEFINE_list("hidden_units", None, "mlp: hidden layer widths; conv: channels per resolution "
                  f"(default {config_lib.DEFAULT_HIDDEN})")
flags.DEFINE_integer("latent_dim", MODEL_DEFAULTS.latent_dim, "latent dimensions")
flags.DEFINE_enum("likelihood", MODEL_DEFAULTS.likelihood, config_lib.LIKELIHOODS, "p(x|z)")
flags.DEFINE_enum("pixels", None, config_lib.PIXELS, f"pixel representation (default by likelihood: "
                  f"{config_lib.DEFAULT_PIXELS})")
flags.DEFINE_enum("gaussian_scale", MODEL_DEFAULTS.gaussian_scale, ["learned", "optimal"],
                  "gaussian likelihood: a learned global scale, or the closed-form optimum sqrt(MSE)")
flags.DEFINE_integer("num_mixtures", MODEL_DEFAULTS.num_mixtures, "logistic likelihood: mixture components")
flags.DEFINE_float("beta", MODEL_DEFAULTS.beta, "weight of the rate (KL) term")
flags.DEFINE_integer("warmup_steps", MODEL_DEFAULTS.warmup_steps, "KL warm-up steps (0: none)")
flags.DEFINE_float("free_bits", MODEL_DEFAULTS.free_bits, "free nats per latent dimension (0: none)")
flags.DEFINE_integer("iwae_k", MODEL_DEFAULTS.iwae_k, "importance samples in the training bound (1: the ELBO)")
flags.DEFINE_enum("posterior", MODEL_DEFAULTS.posterior, config_lib.POSTERIORS,
                  "q(z|x): diagonal Gaussian, or followed by planar, radial or IAF flow steps")
flags.DEFINE_integer("flow_steps", MODEL_DEFAULTS.flow_steps, "steps K of the posterior flow")
flags.DEFINE_enum("prior", MODEL_DEFAULTS.prior, config_lib.PRIORS,
                  "p(z): standard normal, learned mixture of Gaussians, RealNVP or MAF flow")
flags.DEFINE_integer("prior_steps", MODEL_DEFAULTS.prior_steps, "layers of a flow prior")
flags.DEFINE_integer("flow_width", MODEL_DEFAULTS.flow_width, "hidden units of the flow networks; IAF context size")
flags.DEFINE_integer("mog_components", MODEL_DEFAULTS.mog_components, "components of the mixture prior")
flags.DEFINE_integer("seed", MODEL_DEFAULTS.seed, "seed of weights, data order and noise")
flags.DEFINE_integer("epochs", TRAIN_DEFAULTS.epochs, "training epochs")
flags.DEFINE_float("learning_rate", TRAIN_DEFAULTS.learning_rate, "Adam learning rate")
flags.DEFINE_enum("strategy", TRAIN_DEFAULTS.strategy, distribute.STRATEGIES, "tf.distribute strategy")
flags.DEFINE_integer("cpu_devices", 1, "split the CPU into this many logical devices (for --strategy=mirrored "
                     "without GPUs)")
flags.DEFINE_string("tpu", "", "--strategy=tpu: TPU name or address (empty: from the environment)")
flags.DEFINE_integer("steps_per_execution", TRAIN_DEFAULTS.steps_per_execution, "training steps per graph call")
flags.DEFINE_bool("jit_compile", TRAIN_DEFAULTS.jit_compile, "XLA-compile the training step")
flags.DEFINE_bool("export", True, "write the SavedModel after training")


def configs(shape):
    """ModelConfig and TrainConfig from the flags and the data's image shape."""
    model_config = config_lib.ModelConfig(
        model=FLAGS.model, input_shape=shape, architecture=FLAGS.architecture, latent_dim=FLAGS.latent_dim,
        hidden_units=None if FLAGS.hidden_units is None else [_int("hidden_units", u) for u in FLAGS.hidden_units],
        likelihood=FLAGS.likelihood, pixels=FLAGS.pixels or "", gaussian_scale=FLAGS.gaussian_scale,
        num_mixtures=FLAGS.num_mixtures, beta=FLAGS.beta, warmup_steps=FLAGS.warmup_steps,
        free_bits=FLAGS.free_bits, iwae_k=FLAGS.iwae_k, posterior=FLAGS.posterior, flow_steps=FLAGS.flow_steps,
        prior=FLAGS.prior, prior_steps=FLAGS.prior_steps, flow_width=FLAGS.flow_width,
        mog_components=FLAGS.mog_components, seed=FLAGS.seed)
    train_config = config_lib.TrainConfig(
        dataset=FLAGS.dataset, image_size=FLAGS.image_size or 0, channels=FLAGS.channels or 0,
        batch_size=FLAGS.batch_size, epochs=FLAGS.epochs, learning_rate=FLAGS.learning_rate,
        strategy=FLAGS.strategy, steps_per_execution=FLAGS.steps_per_execution, jit_compile=FLAGS.jit_compile)
    train_config.validate()
    return model_config, train_config


def _int(flag, value):
    try:
        return int(value)
    except ValueError:
        raise config_lib.ConfigError(f"--{flag}: {value!r} is not an integer") from None


@common.reports_errors
def main(argv):
    from export import export_model  # pylint: disable=g-import-not-at-top

    distribute.split_cpu(FLAGS.cpu_devices)
    FLAGS.dataset = FLAGS.dataset or "mnist_offline"
    configs(shape=(1, 1, 1))  # every flag checked before any data is read (the image shape comes from the data)
    data = common.load_data(FLAGS.dataset, FLAGS.image_size, FLAGS.channels)
    model_config, train_config = configs(data.shape)
    strategy = distribute.make_strategy(FLAGS.strategy, FLAGS.tpu)
    print(f"Training on {data.name}: {len(data.x_train)} train / {len(data.x_test)} test images of shape "
          f"{data.shape}, {strategy.num_replicas_in_sync} replica(s), into {FLAGS.model_dir}")
    model = training.train(model_config, train_config, data, FLAGS.model_dir, strategy=strategy)
    if distribute.worker_name(strategy) is not None:
        return  # pictures and the export are the chief's
    test = next(iter(data_lib.eval_dataset(data_lib.prepare(data.x_test, model_config.pixels, model_config.seed,
                                                                False), 64, model_config.pixels, model_config.seed)))
    pictures.write_model_pictures(model, test.numpy(), FLAGS.model_dir, seed=model_config.seed)
    if FLAGS.export:
        step = training.step_of(model.optimizer)
        path = export_model(model, os.path.join(FLAGS.model_dir, "export", str(step)), overwrite=True)
        print(f"Exported the SavedModel to {path}")
    print(f"Done: {FLAGS.model_dir}")


if __name__ == "__main__":
    app.run(main)
