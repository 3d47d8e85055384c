"""What a model family declares, in one place: its config section, its model, its data, its pictures, its
evaluation and its SavedModel endpoints. `Family` gives the defaults of an unconditional image model; a family
module overrides what differs and ends with `FAMILY = TheFamily()`, which the registry (tfvae/families/__init__.py)
lists. Apps, training and export look a family up; nothing outside tfvae/families/ branches on a family's name.
"""

import dataclasses

from tfvae import config as config_lib
from tfvae import data as data_lib
from tfvae import runs, training


class Family:
    """An unconditional image model trained on ImageData with the image pipeline (tfvae/data/pipeline.py)."""

    name = None  # config section's `model`
    config_class = None  # its config section (tfvae/config.py)
    model_class = None
    description = ""  # one line for --helpfull and README
    default_dataset = "mnist_offline"  # apps.train's --dataset when none is given
    stages = {}  # further training stages after the model's (--stage): name -> config section

    # --- the config --------------------------------------------------------------------------------------------
    def make_config(self, **fields):
        """The config section of this family from field values (unknown fields are refused)."""
        return self.config_class(model=self.name, **fields)

    def config_from_record(self, values):
        """The section from a config.json record, also one of release 0.1.0 (one flat record of every family's
        fields, of which this family takes its own)."""
        return config_lib.from_dict(self.config_class, {**values, "model": self.name})

    # --- the model ---------------------------------------------------------------------------------------------
    def make_model(self, config):
        """The model of a config section (unbuilt). May read what the config names from disk (M1)."""
        return self.model_class(config)

    def restore(self, model_dir, config):
        """The model of model_dir's config with the weights of its newest checkpoint."""
        return training.restore_weights(self.make_model(config), model_dir)

    def restore_run(self, model_dir):
        """The trained model of model_dir, which must hold a model of this family (else ConfigError)."""
        record = runs.read_record(model_dir)["model"]
        if record.get("model", "vae") != self.name:
            raise config_lib.ConfigError(f"--model_dir={model_dir} holds a {record.get('model', 'vae')} model, not "
                                         f"a {self.name} model")
        return self.restore(model_dir, self.config_from_record(record))

    # --- the data ----------------------------------------------------------------------------------------------
    def load_data(self, dataset, image_size=0, channels=0, data_dir=None, download=False):
        """The data set of a run (the data flags): ImageData of uint8 images [N, H, W, C] and labels."""
        return data_lib.load(dataset, data_dir=data_dir, download=download, image_size=image_size or None,
                             channels=channels or None)

    def data_fields(self, data, train_config):
        """Config fields set from the data and the training flags, not from flags of their own (the conditional
        families' num_classes, the m2's labelled_share)."""
        return {}

    def shape_before_data(self, image_size):
        """An input_shape that lets apps.train check every flag before reading data (the data's shape comes later)."""
        return (1, 1, 1)

    def make_stage_config(self, stage, fields, data=None):
        """The config section of a later stage (`stages`) from field values (and the data, when it is read)."""
        return self.stages[stage](**fields)

    def check(self, data, config, train_config):
        """Raises ConfigError or DataError before anything is written (labels, label flags, M1)."""

    def examples_per_epoch(self, data):
        return len(data.x_train)

    def test_batches(self, data, config, batch_size, count=None):
        """The first `count` (None: all) test images as batches in the model's pixel representation."""
        images = data.x_test[:count]
        return data_lib.eval_dataset(data_lib.prepare(images, config.pixels, config.seed, False), batch_size,
                                     config.pixels, config.seed)

    def datasets(self, data, config, train_config, start_step, validate=True):
        """(training batches from step start_step on, test batches or None)."""
        pixels, seed = config.pixels, config.seed
        train = data_lib.train_dataset(data_lib.prepare(data.x_train, pixels, seed, True), train_config.batch_size,
                                       pixels, seed, start_step=start_step)
        return train, (self.test_batches(data, config, train_config.batch_size) if validate else None)

    # --- after training: pictures, evaluation, exploration, classification, export ------------------------------
    def write_pictures(self, model, data, model_dir):
        """The pictures apps.train leaves in model_dir; returns their paths."""
        return []

    def evaluate(self, model, data, options):
        """apps.evaluate's results (a JSON-able dict) on data's test images. options: EvaluationOptions."""
        raise config_lib.ConfigError(f"apps.evaluate does not evaluate {self.name} models")

    def report(self, results):
        """The results of `evaluate` as aligned text lines."""
        width = max(map(len, results))
        return "\n".join(f"{name:<{width}}  {value:.4g}" if isinstance(value, float) else f"{name:<{width}}  {value}"
                         for name, value in results.items())

    def explore(self, model, data, output_dir, options):
        """apps.sample's latent-exploration pictures; returns their paths."""
        raise config_lib.ConfigError(f"apps.sample explores the latents of vae, cvae and m2 models, not of a "
                                     f"{self.name}")

    def classify(self, model, data, train_config, options):
        """apps.classify's {"method", "num_labels", "test_error"}."""
        raise config_lib.ConfigError(f"apps.classify takes a vae (M1) or an m2, not a {self.name}")

    def with_stages(self, model, model_dir):
        """The model with what its later stages trained in model_dir (the VQ-VAE adds its phase-II prior): what
        apps.evaluate evaluates and the SavedModel of model_dir serves."""
        return model

    def signatures(self, model):
        """name -> (function, [tf.TensorSpec]) of the SavedModel's endpoints; the first is also serving_default."""
        raise NotImplementedError

    def run_metadata(self, model_dir):
        """What a run adds to its SavedModel's metadata (tfvae/serving.py)."""
        return {"step": runs.checkpoint_step(model_dir)}


@dataclasses.dataclass
class EvaluationOptions:
    """apps.evaluate's flags."""

    num_samples: int = 500  # importance samples per test image for the NLL
    max_images: int = 0  # 0: every test image
    surgery_samples: int = 500  # draws z_i for the ELBO-surgery split of the rate (0: skip)
    batch_size: int = 128
    progress: object = None  # a callable (done, total) for long loops, or None


@dataclasses.dataclass
class ExplorationOptions:
    """apps.sample's flags."""

    columns: int = 10
    pairs: int = 5
    interpolation_steps: int = 8
    label: int = 0
    seed: int = 0
    temperatures: tuple = (1.0, 0.8, 0.6)  # hierarchical models: the prior's scales are multiplied by each


@dataclasses.dataclass
class ClassifyOptions:
    """apps.classify's flags."""

    m1_labels: int = 100  # vae (M1): labelled training images for the classifier on latent means
    batch_size: int = 500
