"""Flows: MADE's masks, IAF's gated steps against hand and autodiff, and the learned priors' densities, training,
configs and tracing. Sizes are small and all different (L = 2, 3, 5) so swapped axes fail."""

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tfvae.distributions.flows import IAFPosterior, MAFPrior, MixturePrior, RealNVPPrior
from tfvae.nets.made import MADE

tfd = tfp.distributions


def normal(shape, seed, scale=1.0, shift=0.0):
    return tf.constant(np.random.default_rng(seed).normal(shift, scale, size=shape), tf.float32)


def randomize(layer, seed, scale=0.3):
    """Every weight <- N(0, scale^2), so flows are far from their near-identity start (masks stay applied)."""
    rng = np.random.default_rng(seed)
    for w in layer.weights:
        w.assign(rng.normal(0.0, scale, size=w.shape).astype("float32"))


@pytest.fixture(autouse=True)
def seeded():
    keras.utils.set_random_seed(0)


class IAFCase:
    """An IAF posterior with fixed loc, scale and context [B, .], so that `distribution()` takes no arguments."""

    def __init__(self, latent_dim, steps=2, hidden_units=(7,), context_size=3, batch=1):
        self.layer = IAFPosterior(latent_dim, steps, hidden_units, context_size)
        self.loc = normal([batch, latent_dim], 1, 0.5)
        self.scale = tf.exp(normal([batch, latent_dim], 2, 0.3))
        self.context = normal([batch, context_size], 3)

    def distribution(self):
        return self.layer.distribution(self.loc, self.scale, self.context)


def flow_cases(latent_dim):
    """name -> (layer, distribution builder) for every flow at this latent size."""
    iaf = IAFCase(latent_dim)
    cases = {"iaf": (iaf.layer, iaf.distribution)}
    for name, layer in [("mixture", MixturePrior(latent_dim, 3)), ("realnvp", RealNVPPrior(latent_dim, 3, (7,))),
                        ("maf", MAFPrior(latent_dim, 2, (6,)))]:
        cases[name] = (layer, layer.distribution)
    return cases


NAMES = ["iaf", "mixture", "realnvp", "maf"]
BIJECTIVE = ["iaf", "realnvp", "maf"]


# --- MADE -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("event_size,hidden_units,params", [(2, (3,), 1), (3, (5, 4), 2), (5, (7,), 3)])
def test_made_is_autoregressive_and_sees_the_context(event_size, hidden_units, params):
    made = MADE(event_size, hidden_units, params=params, context_size=2)
    randomize(made, seed=4, scale=0.7)
    x, h = normal([16, event_size], 5), normal([16, 2], 6)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, h])
        y = made(x, h)  # [B, D, P]
    assert y.shape == (16, event_size, params)
    # dependence[i, j] = max over batch and channels of |d y_i / d x_j|
    dependence = np.abs(tape.batch_jacobian(y, x).numpy()).max(axis=(0, 2))  # [D, D]
    assert np.all(dependence[np.triu_indices(event_size)] == 0.0)  # exactly zero for j >= i
    assert np.all(dependence[np.tril_indices(event_size, -1)] > 0.0)  # every j < i reaches i
    on_context = np.abs(tape.batch_jacobian(y, h).numpy()).max(axis=(0, 3))  # [D, P]
    assert np.all(on_context > 0.0)  # output 0 included: degree-0 hidden units carry the context


# --- IAF --------------------------------------------------------------------------------------------------------

def test_iaf_starts_as_the_gated_update_computed_by_hand():
    case = IAFCase(5, steps=1, hidden_units=(6,), batch=4)
    z = normal([4, 5], 7)
    m, raw = tf.unstack(case.layer.mades[0](z, case.context), axis=-1)  # each [B, L]
    sigma = tf.sigmoid(raw + 2.0)
    np.testing.assert_allclose(sigma.numpy(), 1 / (1 + np.exp(-2.0)), atol=0.02)  # sigmoid(2) ~ 0.88
    assert np.abs(m.numpy()).max() > 0  # a small, not zero, start: the test below sees m
    bijector = case.distribution().bijector
    np.testing.assert_allclose(bijector.forward(z).numpy(), (sigma * z + (1 - sigma) * m).numpy(), atol=1e-6)
    np.testing.assert_allclose(bijector.forward_log_det_jacobian(z, event_ndims=1).numpy(),
                               tf.reduce_sum(tf.math.log(sigma), -1).numpy(), rtol=1e-5)


@pytest.mark.parametrize("name", BIJECTIVE)
def test_round_trip_and_log_det_match_autodiff(name):
    layer, distribution = flow_cases(3)[name]
    randomize(layer, seed=8)
    x = normal([4, 3], 9)  # [B, L]; the IAF's context [1, C] broadcasts
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = distribution().bijector.forward(x)
    jacobian = tape.batch_jacobian(y, x)  # [B, L, L]
    _, log_abs_det = np.linalg.slogdet(jacobian.numpy().astype(np.float64))
    log_det = distribution().bijector.forward_log_det_jacobian(x, event_ndims=1)
    np.testing.assert_allclose(log_det.numpy(), log_abs_det, atol=1e-4)
    assert np.abs(log_abs_det).max() > 0.1  # not an identity-like start
    # A fresh bijector and a fresh tensor: TFP's cache cannot hand x back.
    back = distribution().bijector.inverse(tf.constant(y.numpy()))
    np.testing.assert_allclose(back.numpy(), x.numpy(), atol=1e-4)


# --- densities ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_density_integrates_to_one_on_a_2d_grid(name):
    """Midpoint sum of p(z) over [-10, 10]^2 at spacing 0.1 (201^2 points) is 1 within 1e-3."""
    layer, distribution = flow_cases(2)[name]
    randomize(layer, seed=10)
    ticks = np.linspace(-10, 10, 201, dtype=np.float32)
    grid = np.stack(np.meshgrid(ticks, ticks, indexing="ij"), -1).reshape(-1, 1, 2)  # [N, 1, 2]
    log_p = distribution().log_prob(grid).numpy()[:, 0]  # [N]
    assert np.isfinite(log_p).all()
    assert abs(np.exp(log_p).sum() * 0.1 ** 2 - 1.0) < 1e-3
    standard = tfd.MultivariateNormalDiag(tf.zeros(2)).log_prob(grid[:, 0]).numpy()
    assert np.abs(np.exp(log_p) - np.exp(standard)).max() > 1e-2  # not the trivial N(0, I)


@pytest.mark.parametrize("name", NAMES)
def test_sample_and_log_prob_shapes(name):
    layer, distribution = flow_cases(5)[name]
    d = distribution()
    batch = (1,) if name == "iaf" else ()
    z = d.sample([2, 3], seed=11)
    assert z.shape == (2, 3, *batch, 5)
    assert d.log_prob(z).shape == (2, 3, *batch)
    assert d.log_prob(normal([7, *batch, 5], 12)).shape == (7, *batch)
    if name == "iaf":  # a batch of posteriors [B = 4]
        q = IAFCase(5, batch=4)
        assert q.distribution().sample(3, seed=13).shape == (3, 4, 5)
        assert q.distribution().log_prob(normal([3, 4, 5], 14)).shape == (3, 4)


def test_mixture_prior_matches_its_closed_form():
    prior = MixturePrior(3, 4)
    randomize(prior, seed=15, scale=1.0)
    d = prior.distribution()
    weights = tf.nn.softmax(prior.logits).numpy()  # [K]
    loc, scale = prior.loc.numpy(), tf.nn.softplus(prior.raw_scale).numpy() + 1e-4  # [K, L]
    # log p(z) = logsumexp_k [log pi_k + sum_l log N(z_l; loc_kl, scale_kl)]
    z = normal([6, 3], 16).numpy()
    log_normal = -0.5 * (((z[:, None] - loc) / scale) ** 2 + np.log(2 * np.pi * scale ** 2)).sum(-1)  # [N, K]
    terms = np.log(weights) + log_normal
    expected = terms.max(-1) + np.log(np.exp(terms - terms.max(-1, keepdims=True)).sum(-1))
    np.testing.assert_allclose(d.log_prob(z).numpy(), expected, rtol=1e-5)
    # Samples: the mean sum_k pi_k loc_k within 4 standard errors of n = 20,000 draws.
    n = 20_000
    mean = weights @ loc  # [L]
    variance = weights @ (scale ** 2 + loc ** 2) - mean ** 2
    samples = d.sample(n, seed=17).numpy()
    assert np.all(np.abs(samples.mean(0) - mean) < 4 * np.sqrt(variance / n))


def test_realnvp_needs_two_dimensions():
    with pytest.raises(ValueError, match="latent_dim >= 2"):
        RealNVPPrior(1, 2, (4,))


# --- Keras: weights, training, configs, tracing ------------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_every_weight_is_trainable_and_changes_after_one_adam_step(name):
    layer, distribution = flow_cases(3)[name]
    assert {id(w) for w in layer.weights} == {id(w) for w in layer.trainable_weights}
    assert layer.trainable_weights
    for sub in layer._flatten_layers():  # pylint: disable=protected-access
        assert isinstance(sub, keras.layers.Layer), type(sub)  # no Keras 2 (tf_keras) object inside
    data = normal([32, 3], 18, 1.5, 0.3)

    def loss():
        d = distribution()
        if name == "iaf":  # KL(q || N(0, I)) by reparameterized samples
            z = d.sample(8, seed=19)
            return tf.reduce_mean(d.log_prob(z) - tfd.MultivariateNormalDiag(tf.zeros(3)).log_prob(z))
        return -tf.reduce_mean(d.log_prob(data))

    optimizer = keras.optimizers.Adam(1e-2)
    optimizer.build(layer.trainable_weights)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            value = loss()
        optimizer.apply(tape.gradient(value, layer.trainable_weights), layer.trainable_weights)

    before = [w.numpy().copy() for w in layer.trainable_weights]
    step()
    for w, old in zip(layer.trainable_weights, before):
        assert not np.allclose(w.numpy(), old), f"{w.path} did not change after a step"


@pytest.mark.parametrize("name", NAMES)
def test_config_round_trip_reproduces_the_density(name):
    layer, distribution = flow_cases(2)[name]
    randomize(layer, seed=20)
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert type(clone) is type(layer) and clone.get_config() == layer.get_config()
    clone.set_weights(layer.get_weights())
    z = normal([5, 1, 2], 21)
    if name == "iaf":
        case = IAFCase(2)
        expected = layer.distribution(case.loc, case.scale, case.context).log_prob(z)
        actual = clone.distribution(case.loc, case.scale, case.context).log_prob(z)
    else:
        expected, actual = layer.distribution().log_prob(z), clone.distribution().log_prob(z)
    np.testing.assert_allclose(actual.numpy(), expected.numpy(), rtol=1e-6)
    for sub in layer._flatten_layers(include_self=False):  # pylint: disable=protected-access
        assert type(sub).from_config(sub.get_config()).get_config() == sub.get_config()


@pytest.mark.parametrize("name", NAMES)
def test_works_inside_tf_function(name):
    layer, distribution = flow_cases(3)[name]
    randomize(layer, seed=22)
    z = normal([4, 1, 3], 23)
    traced = tf.function(lambda z: distribution().log_prob(z))
    np.testing.assert_allclose(traced(z).numpy(), distribution().log_prob(z).numpy(), rtol=1e-5, atol=1e-5)
    samples = tf.function(lambda: distribution().sample(6, seed=(1, 2)))()
    assert samples.shape[0] == 6 and np.isfinite(samples.numpy()).all()
