"""The class-conditional families: cvae (tfvae/models/cvae.py) and m2 (tfvae/models/m2.py), also stacked on a
trained vae (M1+M2, `m1_dir`).

    python -m apps.train --model=cvae|m2 ...  class_styles.png, analogies.png, interpolation.png
    python -m apps.classify                   m2: the test error of q(y|x)
    python -m apps.sample                     the same pictures, with options

SavedModel endpoints (images float32 [B, H, W, C] in the model's pixel representation, labels int32 [B] in
0..K-1, z float32 [B, L]; for M1+M2 models images go in and come out, the M1 model inside does the rest):
- `classify` (m2 only; its serving_default): images -> {probabilities [B, K]}: q(y|x).
- `reconstruct` (the cvae's serving_default): images, labels -> {images}: the mean of p(x|y, z) at z = E[q(z|x, y)].
- `sample`: labels [N], seed (int64 scalar) -> {images, z}: z ~ N(0, I) from a stateless seed, one per label.
- `decode`: z, labels -> {images}: the mean of p(x|y, z).
- `encode`: images, labels -> {mean, scale}, each [B, L]: q(z|x, y).
"""

import tensorflow as tf

from tfvae import config as config_lib
from tfvae import runs, semi_supervised
from tfvae.config import ConfigError
from tfvae.families import vae
from tfvae.families.base import ExplorationOptions
from tfvae.models.cvae import CVAE, check_m1
from tfvae.models.m2 import M2


def read_m1(config):
    """The config of the vae in config.m1_dir; ConfigError unless it is a vae fed the same images as this model."""
    try:
        record = runs.read_record(config.m1_dir)["model"]
    except ConfigError as e:
        raise ConfigError(f"--m1_dir: {e}") from None
    if record.get("model", "vae") != vae.FAMILY.name:
        raise ConfigError(f"--m1_dir={config.m1_dir} holds a {record['model']}, not a vae")
    m1_config = vae.FAMILY.config_from_record(record)
    check_m1(config, m1_config)
    return m1_config


# Fields a record written before they existed reads as: its q(y|x) was encoder-shaped and U drew noise per class.
OLDER_RECORDS = {"classifier": "encoder", "shared_noise": False}


class CVAEFamily(vae.VAEFamily):
    name = "cvae"
    config_class = config_lib.ConditionalConfig
    model_class = CVAE
    description = "class-conditional VAE: q(z|x, y), p(x|y, z)"
    mixed = False  # batches of labelled images only (the m2's also hold unlabelled ones)

    def config_from_record(self, values):
        if "classifier" not in values:
            values = {**values, **OLDER_RECORDS}
        return super().config_from_record(values)

    def make_model(self, config):
        m1 = None
        if config.m1_dir:
            m1 = vae.FAMILY.restore(config.m1_dir, read_m1(config))
        return self.model_class(config, m1=m1)

    def data_fields(self, data, train_config):
        return {"num_classes": data.num_classes} if data.num_classes else {}

    def check(self, data, config, train_config):
        semi_supervised.check(data, config, train_config, unlabelled=self.mixed)
        if config.m1_dir:
            read_m1(config)

    def datasets(self, data, config, train_config, start_step, validate=True):
        batches = semi_supervised.mixed_batches if self.mixed else semi_supervised.labelled_batches
        test = semi_supervised.labelled_test_batches(data, config, train_config.batch_size) if validate else None
        return batches(data, config, train_config, start_step), test

    def write_pictures(self, model, data, model_dir):
        """Class styles, analogies and interpolations (tfvae/exploration.py) of the first test images."""
        return self.explore(model, data, model_dir, ExplorationOptions(seed=model.config.seed))

    def evaluate(self, model, data, options):
        raise ConfigError(f"apps.evaluate does not evaluate {self.name} models; use apps.classify (m2) or "
                          "apps.sample")

    def explore(self, model, data, output_dir, options):
        if not 0 <= options.label < model.config.num_classes:
            raise ConfigError(f"--label: must lie in 0..{model.config.num_classes - 1}, got {options.label}")
        if self.name == "cvae" and data.y_test is None:
            raise ConfigError(f"--dataset={data.name} has no test labels, which a cvae needs to encode images")
        return super().explore(model, data, output_dir, options)

    def classify(self, model, data, train_config, options):
        raise ConfigError(f"apps.classify takes a vae (M1) or an m2, not a {self.name}")

    def signatures(self, model):
        h, w, c = model.config.input_shape
        images = tf.TensorSpec([None, h, w, c], tf.float32, name="images")
        labels = tf.TensorSpec([None], tf.int32, name="labels")

        def sample(labels, seed):
            z, images = model.sample(labels, seed)
            return {"images": images, "z": z}

        def decode(z, labels):
            return {"images": model.decode(z, model.onehot(labels))}

        def encode(images, labels):
            q = model.posterior(model.encoder(model.encoder_input(model.features(images))), model.onehot(labels))
            return {"mean": q.mean(), "scale": q.stddev()}

        def reconstruct(images, labels):
            y = model.onehot(labels)
            return {"images": model.decode(model.encode(images, y), y)}

        return {
            "reconstruct": (reconstruct, [images, labels]),
            "sample": (sample, [labels, tf.TensorSpec([], tf.int64, name="seed")]),
            "decode": (decode, [tf.TensorSpec([None, model.config.latent_dim], tf.float32, name="z"), labels]),
            "encode": (encode, [images, labels]),
        }


class M2Family(CVAEFamily):
    name = "m2"
    model_class = M2
    description = "M2 (Kingma et al. 2014): semi-supervised, q(y|x) and the enumerated unlabelled bound"
    mixed = True

    def data_fields(self, data, train_config):
        fields = super().data_fields(data, train_config)
        fields["labelled_share"] = semi_supervised.labelled_share(len(data.x_train), train_config.num_labels)
        return fields

    def classify(self, model, data, train_config, options):
        semi_supervised.require_labels(data, train_config.dataset, self.name)
        return {"method": "M1+M2" if model.config.m1_dir else "M2", "num_labels": train_config.num_labels,
                "test_error": semi_supervised.m2_error(model, data, options.batch_size)}

    def signatures(self, model):
        h, w, c = model.config.input_shape

        def classify(images):
            return {"probabilities": model.probabilities(images)}

        return {"classify": (classify, [tf.TensorSpec([None, h, w, c], tf.float32, name="images")]),
                **super().signatures(model)}


CVAE_FAMILY = CVAEFamily()
M2_FAMILY = M2Family()
