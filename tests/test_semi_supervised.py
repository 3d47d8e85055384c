"""M2's bounds against brute force, the class-conditional VAE, the labelled subset and the mixed batches."""

import dataclasses

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


# A toy M2: 3x2 binary images, 2 latents, 3 classes, one hidden layer of 5 units (q(y|x) too); all sizes differ.
TOY = make_config(model="m2", input_shape=(3, 2, 1), architecture="mlp", hidden_units=(5,), latent_dim=2,
                  num_classes=3, classifier="encoder")
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



def test_without_alpha_the_classifier_learns_only_through_the_unlabelled_bound():
    """alpha = 0: no gradient from the labelled classification loss, a non-zero one from -U, and the objective's
    gradient on q(y|x) is exactly that of the unlabelled rows."""
    config = dataclasses.replace(TOY, alpha=0.0)
    model, x, x_u = toy_model(config, seed=9), toy_images(seed=10), toy_images(seed=11)
    labels = tf.constant([0, 1, 2, 1])
    eps = tf.random.stateless_normal([1, BATCH, TOY.latent_dim], seed=[5, 6])
    eps_u = tf.random.stateless_normal([TOY.num_classes, BATCH, TOY.latent_dim], seed=[7, 8])
    weights = model.classifier.trainable_variables
    with tf.GradientTape(persistent=True) as tape:
        terms = model.terms(x, labels, x_u, eps, eps_u, training=True)
        objective = model.objective(terms)
        unlabelled_rows = (1 - config.labelled_share) * tf.reduce_mean(terms["unlabelled_loss"])
        classification = config.alpha * tf.reduce_mean(terms["classification"])
    total, from_u = tape.gradient(objective, weights), tape.gradient(unlabelled_rows, weights)
    assert all(g is None or np.all(g.numpy() == 0) for g in tape.gradient(classification, weights))
    assert sum(float(tf.reduce_sum(g ** 2)) for g in from_u) > 1e-6
    for a, b in zip(total, from_u):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-7)


def test_the_loss_of_a_batch_holding_every_image_is_the_papers_objective_over_n():
    """A batch of all N_l labelled and all N_u unlabelled images: loss = -J^a / N with
    J^a = sum_l L + sum_u U + a mean_l log q(y|x), a = alpha N (Kingma et al. 2014), whatever the batch's shape."""
    n_l, n_u = 2, 6
    n = n_l + n_u
    config = dataclasses.replace(TOY, alpha=0.1, labelled_share=semi_supervised.labelled_share(n, n_l),
                                 labelled_weight=0.0)  # 0: the paper's weighting
    model = toy_model(config, seed=14)
    x, x_u = toy_images(seed=15)[:n_l], tf.concat([toy_images(seed=16), toy_images(seed=17)], 0)[:n_u]
    labels = tf.constant([2, 0])
    eps = tf.random.stateless_normal([1, n_l, TOY.latent_dim], seed=[1, 1])
    eps_u = tf.random.stateless_normal([TOY.num_classes, n_u, TOY.latent_dim], seed=[2, 2])
    terms = model.terms(x, labels, x_u, eps, eps_u)
    a = config.alpha * n
    paper = (np.sum(terms["labelled_bound"].numpy())
             + np.sum(terms["unlabelled_bound"].numpy()) - a * np.mean(terms["classification"].numpy()))
    np.testing.assert_allclose(model.objective(terms).numpy(), -paper / n, rtol=1e-5)
    assert config.labelled_share == 0.25
    # Another labelled weight s changes the labelled bound's weight, not alpha's ratio to U's: the loss is linear in
    # the three means, with coefficients s, 1 - s and (1 - s) alpha / (1 - p).
    half = M2(dataclasses.replace(config, labelled_weight=0.5))
    means = {k: tf.Variable(1.0) for k in ("labelled_loss", "unlabelled_loss", "classification")}
    with tf.GradientTape() as tape:
        loss = half.objective({k: tf.fill([3], v) for k, v in means.items()})
    grads = dict(zip(means, tape.gradient(loss, list(means.values()))))
    np.testing.assert_allclose([float(grads[k]) for k in means], [0.5, 0.5, 0.5 * 0.1 / 0.75], rtol=1e-6)


def test_unlabelled_rows_share_one_noise_draw_across_classes_unless_asked_not_to():
    for shared in (True, False):
        model = toy_model(dataclasses.replace(TOY, shared_noise=shared))
        eps, eps_u = model.step_noise(BATCH, 3, tf.constant(7, tf.int64))
        assert eps.shape == (1, BATCH, TOY.latent_dim) and eps_u.shape == (TOY.num_classes, 3, TOY.latent_dim)
        assert np.allclose(eps_u[0], eps_u[1]) == shared and np.allclose(eps_u[1], eps_u[2]) == shared


def ignoring_labels(model):
    """The model with the label inputs of q(z|x, y)'s head and of p(x|y, z)'s first layer cut: L(x, y) is the same
    for every y (given the same noise)."""
    k = model.config.num_classes
    for layer in (model.head_hidden, model.decoder.weights[0]):
        kernel = layer.kernel if hasattr(layer, "kernel") else layer
        kernel.assign(tf.concat([kernel[:-k], tf.zeros_like(kernel[-k:])], 0))
    return model


def q_trained_by_u_alone(model, x, steps=200):
    """q(y|x) [B, K] of free per-image logits (the most flexible classifier) trained to maximize U(x) alone, with one
    noise draw shared by the classes; and L(x, y) [B, K]."""
    eps = tf.tile(tf.random.stateless_normal([1, BATCH, TOY.latent_dim], seed=[1, 3]), [TOY.num_classes, 1, 1])
    h = model.encoder(x)
    bounds = model.class_bounds(x, h, eps)[0]
    logits = tf.Variable(tf.random.stateless_normal([BATCH, TOY.num_classes], seed=[4, 4]))
    optimizer = keras.optimizers.Adam(0.1)

    # No autograph: the suite's background threads trace other functions meanwhile, and autograph's conversion of
    # the model's methods raced with them once (its arguments arrived shifted); the step needs no conversion.
    @tf.function(autograph=False)
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(model.unlabelled_bound(x, h, logits, eps)[1])
        optimizer.apply_gradients([(tape.gradient(loss, logits), logits)])

    for _ in range(steps):
        step()
    return tf.nn.softmax(logits).numpy(), bounds.numpy()


def test_u_alone_leaves_q_uniform_when_the_decoder_ignores_y_and_not_when_it_uses_y():
    x = toy_images(seed=12)
    q, bounds = q_trained_by_u_alone(ignoring_labels(toy_model(seed=13)), x)
    np.testing.assert_allclose(bounds, bounds[:, :1].repeat(TOY.num_classes, 1), rtol=1e-5)  # the cut works
    np.testing.assert_allclose(q, 1.0 / TOY.num_classes, atol=0.02)
    q, bounds = q_trained_by_u_alone(toy_model(seed=13), x)
    np.testing.assert_allclose(q, softmax(bounds, -1), atol=0.05)  # the maximizer of U: the model's p(y|x)
    assert np.max(np.abs(q - 1.0 / TOY.num_classes)) > 0.2

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


@pytest.mark.parametrize("classifier", ["encoder", "fixed"])
def test_m2_training_moves_every_weight_and_resumes(tmp_path, tiny_npz, classifier):
    from tfvae.data import load  # pylint: disable=g-import-not-at-top

    data = load(f"npz:{tiny_npz}")
    config = make_config(model="m2", input_shape=data.shape, architecture="mlp", hidden_units=(6,), latent_dim=3,
                         classifier=classifier)
    train_config = TrainConfig(dataset=f"npz:{tiny_npz}", batch_size=16, epochs=1, num_labels=20,
                               labelled_fraction=0.25, steps_per_execution=2, jit_compile="off")
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
    assert model.config.labelled_share == 20 / len(data.x_train)  # set from the data (families.train)
    clone = M2.from_config(model.get_config())
    assert clone.config == model.config


def test_classifier_gradients_separate_u_from_the_classification():
    model = toy_model(dataclasses.replace(TOY, alpha=0.0), seed=18)
    x, x_u = toy_images(seed=19), toy_images(seed=20)
    batch = (x, tf.constant([0, 1, 2, 0]), x_u)
    norms = semi_supervised.classifier_gradients(model, batch)
    assert norms["classification"] == 0 and norms["unlabelled"] > 0  # alpha = 0: q learns only through U
    other = toy_model(dataclasses.replace(TOY, alpha=1.0))
    other.set_weights(model.get_weights())
    with_alpha = semi_supervised.classifier_gradients(other, batch)
    assert with_alpha["classification"] > 0
    np.testing.assert_allclose(with_alpha["unlabelled"], norms["unlabelled"], rtol=1e-5)  # same weights, same U
