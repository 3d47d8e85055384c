"""M2's bounds against brute force, the class-conditional VAE, the labelled subset and the mixed batches."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfvae import families, semi_supervised, training
from tfvae.config import ConfigError, TrainConfig
from tfvae.families import make_config
from tfvae.data import DataError, ImageData
from tfvae.models import CVAE, M2

def logsumexp(a, axis):
    return tf.reduce_logsumexp(a, axis).numpy()


def softmax(a, axis):
    return tf.nn.softmax(a, axis).numpy()


# A toy M2: 3x2 binary images, 2 latents, 3 classes, one hidden layer of 5 units; all sizes differ.
TOY = make_config(model="m2", input_shape=(3, 2, 1), architecture="mlp", hidden_units=(5,), latent_dim=2,
                  num_classes=3)
BATCH = 4


def toy_model(config=TOY, seed=0):
    """A built model whose weights are moved off their initial values by a seeded amount."""
    rng = np.random.default_rng(seed)
    model = {"m2": M2, "cvae": CVAE}[config.model](config)
    model.build(None)
    for w in model.weights:
        w.assign(w.numpy() + rng.normal(0.0, 0.5, w.shape).astype(np.float32))
    return model


def toy_images(seed=1):
    return tf.constant(np.random.default_rng(seed).integers(0, 2, (BATCH, *TOY.input_shape)).astype(np.float32))


def test_unlabelled_bound_equals_the_loop_over_classes():
    model, x = toy_model(), toy_images()
    h, logits = model.encoder(x), model.logits(x)
    eps = tf.random.stateless_normal([TOY.num_classes, BATCH, TOY.latent_dim], seed=[3, 4])
    bound, loss = model.unlabelled_bound(x, h, logits, eps)
    q = softmax(logits.numpy(), -1)  # [B, K]
    per_class = []
    for c in range(TOY.num_classes):  # L(x, c) one class at a time, with that class's noise
        y = tf.one_hot(tf.fill([BATCH], c), TOY.num_classes)
        per_class.append(model.labelled_bound(x, h, y, eps[c:c + 1])[0].numpy())
    per_class = np.stack(per_class, -1)  # [B, K]
    expected = np.sum(q * per_class, -1) - np.sum(q * np.log(q), -1)
    np.testing.assert_allclose(bound.numpy(), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(loss.numpy(), -expected, rtol=1e-5, atol=1e-5)  # beta = 1, no warm-up


def log_joint_by_importance_sampling(model, x, samples, seed):
    """log p(x, y) [B, K] = log p(y) + log p(x|y), with log p(x|y) by `samples` draws from q(z|x, y)."""
    k = model.config.num_classes
    h = model.encoder(x)
    out = []
    for c in range(k):
        y = tf.one_hot(tf.fill([BATCH], c), k)
        q = model.posterior(h, y)
        z = q.sample(samples, seed=[seed, c])  # [S, B, L]
        log_w = model.observation(z, y).log_prob(x) + model.prior().log_prob(z) - q.log_prob(z)  # [S, B]
        out.append(logsumexp(log_w.numpy(), 0) - np.log(samples) + model.log_prior_y())
    return np.stack(out, -1)


def test_unlabelled_bound_is_a_lower_bound_with_the_predicted_gap():
    """log p(x) - E[U(x)] = sum_y q(y|x) (log p(x, y) - E[L(x, y)]) + KL(q(y|x) || p(y|x)) >= 0."""
    model, x = toy_model(seed=2), toy_images(seed=3)
    samples = 4000
    log_joint = log_joint_by_importance_sampling(model, x, samples, seed=5)  # [B, K]
    log_px = logsumexp(log_joint, -1)  # [B]

    # E[U] and E[L(x, y)] by averaging over `samples` noise draws: the batch tiled samples times.
    tiled = tf.tile(x, [samples, 1, 1, 1])
    h, logits = model.encoder(tiled), model.logits(tiled)
    eps = tf.random.stateless_normal([TOY.num_classes, samples * BATCH, TOY.latent_dim], seed=[6, 7])
    mean_u = model.unlabelled_bound(tiled, h, logits, eps)[0].numpy().reshape(samples, BATCH).mean(0)
    per_class = [model.labelled_bound(tiled, h, tf.one_hot(tf.fill([samples * BATCH], c), TOY.num_classes),
                                      eps[c:c + 1])[0].numpy().reshape(samples, BATCH).mean(0)
                 for c in range(TOY.num_classes)]
    mean_l = np.stack(per_class, -1)  # [B, K]

    q = softmax(model.logits(x).numpy(), -1)
    posterior_y = softmax(log_joint, -1)  # p(y|x)
    predicted_gap = np.sum(q * (log_joint - mean_l), -1) + np.sum(q * (np.log(q) - np.log(posterior_y)), -1)
    gap = log_px - mean_u
    assert np.all(gap > 0.05), gap  # a strict bound on this toy model
    np.testing.assert_allclose(gap, predicted_gap, atol=0.05)


def test_labelled_bound_is_below_log_joint():
    model, x = toy_model(seed=4), toy_images(seed=5)
    log_joint = log_joint_by_importance_sampling(model, x, 4000, seed=8)
    samples = 2000
    tiled = tf.tile(x, [samples, 1, 1, 1])
    eps = tf.random.stateless_normal([1, samples * BATCH, TOY.latent_dim], seed=[9, 9])
    for c in range(TOY.num_classes):
        y = tf.one_hot(tf.fill([samples * BATCH], c), TOY.num_classes)
        mean_l = model.labelled_bound(tiled, model.encoder(tiled), y, eps)[0].numpy().reshape(samples, BATCH).mean(0)
        assert np.all(mean_l < log_joint[:, c]), (mean_l, log_joint[:, c])


def test_cvae_terms_are_the_elbo_of_its_label():
    config = make_config(model="cvae", input_shape=(3, 2, 1), architecture="mlp", hidden_units=(5,), latent_dim=2,
                         num_classes=3)
    model, x = toy_model(config, seed=6), toy_images(seed=7)
    labels = tf.constant([0, 2, 1, 2])
    eps = tf.random.stateless_normal([1, BATCH, 2], seed=[1, 2])
    terms = model.terms(x, labels, eps)
    y = tf.one_hot(labels, 3)
    q = model.posterior(model.encoder(x), y)
    z = q.loc + q.stddev() * eps[0]
    log_px = model.observation(z, y).log_prob(x)
    kl = q.kl_divergence(model.prior())
    np.testing.assert_allclose(terms["elbo"].numpy(), (log_px - kl).numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(terms["objective"].numpy(), -terms["elbo"].numpy(), rtol=1e-5, atol=1e-5)
    # The label matters: another label gives another reconstruction.
    other = model((x, (labels + 1) % 3)).numpy()
    assert not np.allclose(model((x, labels)).numpy(), other, atol=1e-3)


# --- the labelled subset -----------------------------------------------------------------------------------------------
LABELS = np.random.default_rng(0).integers(0, 5, 300)


def test_labelled_subset_is_class_balanced_and_fixed_by_the_seed():
    chosen = semi_supervised.labelled_subset(LABELS, 23, 5, seed=3)
    assert len(chosen) == len(set(chosen)) == 23 and np.all(np.diff(chosen) > 0)
    counts = np.bincount(LABELS[chosen], minlength=5)
    np.testing.assert_array_equal(counts, [5, 5, 5, 4, 4])
    np.testing.assert_array_equal(chosen, semi_supervised.labelled_subset(LABELS, 23, 5, seed=3))
    assert not np.array_equal(chosen, semi_supervised.labelled_subset(LABELS, 23, 5, seed=4))


@pytest.mark.parametrize("num_labels,message", [
    (301, "--num_labels=301 is larger than the 300 labelled training images"),
    (4, "--num_labels=4 is fewer than one label per class (5 classes)"),
])
def test_labelled_subset_rejects_impossible_sizes(num_labels, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        semi_supervised.labelled_subset(LABELS, num_labels, 5, seed=0)


def test_labelled_subset_rejects_a_class_too_small_for_balance():
    labels = np.array([0] * 10 + [1] * 2)
    with pytest.raises(ConfigError, match="class 1 has 2 training images"):
        semi_supervised.labelled_subset(labels, 6, 2, seed=0)


def test_conditional_training_needs_labels(tmp_path):
    data = ImageData("unlabelled", np.zeros((8, 3, 2, 1), np.uint8), np.zeros((4, 3, 2, 1), np.uint8))
    with pytest.raises(DataError, match="has no labels"):
        families.train(TOY, TrainConfig(dataset="npz:x", batch_size=4, epochs=1), data, str(tmp_path / "run"))
    assert not (tmp_path / "run").exists()


def test_mixed_batches_hold_the_labelled_subset_and_the_rest_in_a_fixed_ratio():
    n = 40
    index = np.arange(n)
    images = np.zeros((n, 3, 2, 1), np.uint8)
    images[:, 0, 0, 0] = index  # the first pixel names the image (8-bit pixels pass it through unchanged)
    labels = index % 4
    data = ImageData("toy", images, images[:8], labels, labels[:8])
    config = make_config(model="m2", input_shape=(3, 2, 1), architecture="mlp", hidden_units=(5,), latent_dim=2,
                         num_classes=4, likelihood="logistic", num_mixtures=1)
    train_config = TrainConfig(batch_size=10, num_labels=8, labelled_fraction=0.3)
    subset = set(semi_supervised.labelled_subset(labels, 8, 4, config.seed))
    batches = semi_supervised.mixed_batches(data, config, train_config, start_step=0)
    test = semi_supervised.labelled_test_batches(data, config, train_config.batch_size)
    seen = set()
    for x, y, x_u in batches.take(12):
        ids, ids_u = x.numpy()[:, 0, 0, 0].astype(int), x_u.numpy()[:, 0, 0, 0].astype(int)
        assert len(ids) == 3 and len(ids_u) == 7
        assert set(ids) <= subset and not set(ids_u) & subset
        np.testing.assert_array_equal(y.numpy(), labels[ids])
        seen |= set(ids_u)
    assert seen == set(range(n)) - subset  # 12 steps of 7 cover the 32 unlabelled images
    resumed = semi_supervised.mixed_batches(data, config, train_config, start_step=5)
    for a, b in zip(list(batches.skip(5).take(2)), list(resumed.take(2))):
        for u, v in zip(a, b):
            np.testing.assert_array_equal(u.numpy(), v.numpy())
    x_test, y_test = next(iter(test))
    np.testing.assert_array_equal(y_test.numpy(), labels[:8])


def test_m2_training_moves_every_weight_and_resumes(tmp_path, tiny_npz):
    from tfvae.data import load  # pylint: disable=g-import-not-at-top

    data = load(f"npz:{tiny_npz}")
    config = make_config(model="m2", input_shape=data.shape, architecture="mlp", hidden_units=(6,), latent_dim=3)
    train_config = TrainConfig(dataset=f"npz:{tiny_npz}", batch_size=16, epochs=1, num_labels=20,
                               labelled_fraction=0.25, steps_per_execution=2)
    keras.utils.set_random_seed(config.seed)  # as training.train does: the same initial weights
    fresh = M2(config)
    fresh.build(None)
    before = [w.numpy().copy() for w in fresh.weights]
    model = families.train(config, train_config, data, str(tmp_path / "run"), verbose=0, validate=False)
    assert len(model.trainable_variables) == len(model.weights)
    for w, old in zip(model.weights, before):
        assert not np.allclose(w.numpy(), old), w.path
    restored = families.restore(str(tmp_path / "run"))
    for a, b in zip(model.weights, restored.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    clone = M2.from_config(model.get_config())
    assert clone.config == model.config
