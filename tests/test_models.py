"""Models: every weight is trained, configs round-trip, no Keras 2 object hides inside."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfvae import nets
from tfvae.families import make_config
from tfvae.data import pipeline
from tfvae.models import VAE

CASES = [
    dict(architecture="mlp", likelihood="bernoulli", hidden_units=(7,)),
    dict(architecture="conv", likelihood="bernoulli", hidden_units=(3, 5)),
    dict(architecture="conv", likelihood="gaussian", hidden_units=(3, 5)),
    dict(architecture="mlp", likelihood="gaussian", gaussian_scale="optimal", hidden_units=(7,)),
    dict(architecture="mlp", likelihood="logistic", num_mixtures=2, hidden_units=(7,)),
    dict(architecture="mlp", likelihood="bernoulli", hidden_units=(7,), iwae_k=3),
    dict(architecture="mlp", hidden_units=(7,), posterior="planar", flow_steps=2, prior="realnvp", flow_width=5),
    dict(architecture="mlp", hidden_units=(7,), posterior="radial", flow_steps=2, prior="mog", mog_components=3),
    dict(architecture="conv", hidden_units=(3,), posterior="iaf", flow_steps=2, prior="maf", flow_width=5),
]


def make(case, shape=(6, 10, 1)):
    keras.utils.set_random_seed(0)
    model = VAE(make_config(input_shape=shape, latent_dim=2, **case))
    model.build(None)
    return model


def one_batch(model, batch=4, seed=0):
    images = np.random.default_rng(seed).integers(0, 256, (batch, *model.config.input_shape), dtype=np.uint8)
    prepared = pipeline.prepare(images, model.config.pixels, 0, True)
    return pipeline.to_pixels(prepared, model.config.pixels, [0, 1])


@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(str(v) for v in c.values()))
def test_every_weight_is_trainable_and_changes_after_one_step(case):
    model = make(case)
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    tracked = {id(v) for v in model.trainable_variables}
    for layer in (model.encoder, model.decoder, model.likelihood, model.latent_posterior, model.latent_prior):
        for weight in layer.trainable_weights:
            assert id(weight) in tracked, weight.path
    # Every layer is a Keras 3 layer: a Keras 2 (tf_keras) object's weights would be invisible to Keras 3.
    for layer in model._flatten_layers():  # pylint: disable=protected-access
        assert isinstance(layer, keras.layers.Layer), type(layer)
    before = [v.numpy().copy() for v in model.trainable_variables]
    model.train_on_batch(one_batch(model))
    for v, old in zip(model.trainable_variables, before):
        # Any change counts: flow networks start near the identity (small last layers), so early layers move little,
        # but a weight outside the gradient's reach would stay bit-for-bit the same.
        assert not np.array_equal(v.numpy(), old), f"{v.path} did not change after a step"


def test_expected_weight_count_for_mlp():
    model = make(dict(architecture="mlp", likelihood="gaussian", hidden_units=(7,)))
    # encoder: 2 Dense (kernel, bias); decoder: 2 Dense; likelihood: the global scale
    assert len(model.trainable_variables) == 9
    assert model.decoder(tf.zeros([3, 2])).shape == (3, 6, 10, 1)
    assert model.encoder(tf.zeros([3, 6, 10, 1])).shape == (3, 4)


@pytest.mark.parametrize("shape,channels", [((28, 28, 1), (3, 5)), ((7, 9, 3), (4,)), ((13, 6, 1), (2, 3, 4))])
def test_conv_nets_are_sized_by_the_input_shape(shape, channels):
    config = make_config(input_shape=shape, architecture="conv", hidden_units=channels, latent_dim=2)
    encoder, decoder = nets.make_encoder(config, 4), nets.make_decoder(config, 5)
    assert encoder(tf.zeros([2, *shape])).shape == (2, 4)
    assert decoder(tf.zeros([3, 2, 2])).shape == (3, 2, *shape[:2], 5)  # any leading batch dims


def test_model_config_round_trip():
    model = make(CASES[2])
    clone = VAE.from_config(model.get_config())
    assert clone.config == model.config
    for layer in (model.encoder, model.decoder, model.likelihood):
        again = type(layer).from_config(layer.get_config())
        assert again.get_config() == layer.get_config()


def test_keras_save_and_load_round_trip(tmp_path):
    model = make(CASES[0])
    x = one_batch(model)
    path = str(tmp_path / "model.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy(), rtol=1e-6)


def test_sampling_is_a_function_of_the_seed():
    model = make(CASES[0])
    z1, x1 = model.sample(5, 7)
    z2, x2 = model.sample(5, 7)
    z3, _ = model.sample(5, 8)
    np.testing.assert_array_equal(z1.numpy(), z2.numpy())
    np.testing.assert_array_equal(x1.numpy(), x2.numpy())
    assert not np.allclose(z1.numpy(), z3.numpy())
    assert x1.shape == (5, 6, 10, 1) and np.all((x1.numpy() >= 0) & (x1.numpy() <= 1))


def test_every_model_trains_through_the_base_step():
    """The ten trained models write their terms, not their steps: train_step and test_step are TermsModel's."""
    # pylint: disable=g-import-not-at-top
    from tfvae.colorization.baseline import Regressor
    from tfvae.models import CVAE, HVAE, M2, VQVAE, Colorizer
    from tfvae.models.base import TermsModel
    from tfvae.models.pixelcnn_prior import CodePrior
    from tfvae.restoration.deep_prior import DenoiserPrior
    from tfvae.restoration.flow_prior import FlowPatchPrior

    for cls in (VAE, CVAE, M2, VQVAE, HVAE, Colorizer, CodePrior, DenoiserPrior, FlowPatchPrior, Regressor):
        for step in ("train_step", "test_step", "update_trackers"):
            owner = next(c for c in cls.__mro__ if step in vars(c))
            assert owner is TermsModel, f"{cls.__name__}.{step} is {owner.__name__}'s"
        assert "step_terms" in vars(cls), f"{cls.__name__} does not say what its terms are"


def test_m1_plus_m2_on_sampled_latents_draws_them_from_m1s_posterior_at_training_steps_only():
    """m1_features="sample": z1 = loc + scale * eps with this step's eps; the means without a seed (evaluation)."""
    # pylint: disable=g-import-not-at-top
    from tfvae.config import ConditionalConfig
    from tfvae.models import M2
    from tfvae.models.base import replica_normal

    m1 = make(CASES[0])  # 2 latents
    model = M2(ConditionalConfig(model="m2", input_shape=(6, 10, 1), architecture="mlp", hidden_units=(7,),
                                 latent_dim=3, num_classes=5, m1_dir="/a/trained/vae", m1_features="sample"), m1)
    model.build(None)
    assert model.likelihood.raw_scale.shape == (2,)  # one scale per M1 latent: the default with m1_dir
    x, seed = tf.random.stateless_uniform([3, 6, 10, 1], [0, 1]), tf.constant([1, 2], tf.int64)
    q = m1.posterior(x)
    expected = q.mean() + q.stddev() * replica_normal(1, 3, 2, seed)[0]
    np.testing.assert_allclose(model.features(x, seed)[:, 0, 0], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.features(x)[:, 0, 0], m1.encode(x))
    assert not np.allclose(model.features(x, seed), model.features(x, tf.constant([1, 3], tf.int64)))


def test_m1_plus_m2_takes_its_trained_m1_and_freezes_it():
    # pylint: disable=g-import-not-at-top
    from tfvae.config import ConditionalConfig, ConfigError
    from tfvae.models import M2

    m1 = make(CASES[0])  # a VAE on (6, 10, 1) dynamically binarized images with 2 latents
    fields = dict(model="m2", input_shape=(6, 10, 1), architecture="mlp", hidden_units=(7,), latent_dim=3,
                  num_classes=5, m1_dir="/a/trained/vae")
    model = M2(ConditionalConfig(**fields), m1)
    model.build(None)
    assert model.m1 is m1 and not m1.trainable_weights and model.data_shape == (1, 1, 2)
    assert all(id(w) not in {id(v) for v in model.trainable_weights} for w in m1.weights)
    x = tf.random.stateless_uniform([3, 6, 10, 1], [0, 1])
    np.testing.assert_allclose(model.features(x, seed=tf.constant([1, 2], tf.int64))[:, 0, 0], m1.encode(x))
    with pytest.raises(ValueError, match="pass the trained VAE of m1_dir as m1"):
        M2(ConditionalConfig(**fields))
    with pytest.raises(ConfigError, match="its pixels is 'dynamic_binary', this model's 'dequantized'"):
        M2(ConditionalConfig(**fields, likelihood="gaussian"), m1)
