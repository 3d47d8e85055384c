"""Labels in training: the class-balanced labelled subset, batches that mix labelled and unlabelled images, and M1.

- `labelled_subset`: `--num_labels=N` picks N // K training images of every class (the first N mod K classes one
  more), uniformly at random with a fixed seed; the rest of the training set is unlabelled.
- `labelled_batches` (the cvae's): (x [B, ...], y [B]) from the labelled images; `mixed_batches` (the m2's):
  (x_l [B_l, ...], y_l [B_l], x_u [B_u, ...]) with B_l = round(B * labelled_fraction), every step, each stream a
  pure function of (seed, step) like tfvae/data/pipeline.py (so a resumed run sees the same batches);
  `labelled_test_batches`: (x, y) of the test set.
- `m2_error`: the test error of an m2's classifier q(y|x).
- `m1_error`: M1 (Kingma et al. 2014): a VAE trained on all images, then a classifier (tfvae/classifiers.py) on the
  latent means E[q(z|x)] of the labelled images only; its error on the test set's latent means.
"""

import numpy as np
import tensorflow as tf

from tfvae import classifiers
from tfvae import data as data_lib
from tfvae.config import ConfigError

LABELLED_STREAM = 1009  # added to the data seed of the labelled stream, so its pixel noise differs from the other's


def require_labels(data, dataset, model):
    """Raises DataError unless `data` has training and test labels."""
    if data.y_train is None or data.y_test is None:
        raise data_lib.DataError(f"--dataset={dataset} has no labels; --model={model} needs labelled images")


def labelled_subset(labels, num_labels, num_classes, seed, flag="num_labels"):
    """Sorted indices [num_labels] of a class-balanced subset of `labels` [N] (ints in 0..num_classes - 1); errors
    name `flag`."""
    labels = np.asarray(labels)
    if num_labels > len(labels):
        raise ConfigError(f"--{flag}={num_labels} is larger than the {len(labels)} labelled training images")
    if num_labels < num_classes:
        raise ConfigError(f"--{flag}={num_labels} is fewer than one label per class ({num_classes} classes)")
    rng = np.random.default_rng(seed)
    chosen = []
    for c in range(num_classes):
        members = np.flatnonzero(labels == c)
        need = num_labels // num_classes + (c < num_labels % num_classes)
        if len(members) < need:
            raise ConfigError(f"--{flag}={num_labels}: class {c} has {len(members)} training images, fewer than "
                              f"the {need} a class-balanced subset needs")
        chosen.append(rng.choice(members, need, replace=False))
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def check(data, model_config, train_config, unlabelled=False):
    """Checks labels and label flags before anything is written (raises ConfigError or DataError); unlabelled:
    batches also hold unlabelled images (`mixed_batches`)."""
    model = model_config.model
    require_labels(data, train_config.dataset, model)
    if data.num_classes > model_config.num_classes:
        raise data_lib.DataError(f"--dataset={train_config.dataset} has labels up to {data.num_classes - 1}, more "
                                 f"than the model's num_classes={model_config.num_classes}")
    split(data, model_config, train_config)
    if unlabelled and labelled_batch_size(train_config) >= train_config.batch_size:
        raise ConfigError(f"--batch_size={train_config.batch_size} leaves no room for unlabelled images at "
                          f"--labelled_fraction={train_config.labelled_fraction}")


def labelled_batch_size(train_config):
    """B_l: the labelled images in every m2 batch, at least one."""
    return max(1, round(train_config.batch_size * train_config.labelled_fraction))


def split(data, model_config, train_config):
    """(labelled indices, unlabelled indices) of the training set; every image is labelled for --num_labels=0, and
    then also every image is an unlabelled one."""
    n = len(data.x_train)
    if train_config.num_labels == 0:
        everything = np.arange(n, dtype=np.int64)
        return everything, everything
    labelled = labelled_subset(data.y_train, train_config.num_labels, model_config.num_classes, model_config.seed)
    unlabelled = np.setdiff1d(np.arange(n, dtype=np.int64), labelled)
    return labelled, (unlabelled if len(unlabelled) else labelled)


def labelled_share(num_images, num_labels):
    """N_l / (N_l + N_u) of `split`: num_labels / num_images, or 1/2 where every image is both labelled and
    unlabelled (num_labels 0 or all of them)."""
    return 0.5 if num_labels == 0 or num_labels >= num_images else num_labels / num_images  # more: refused later


def _tiled(index, batch_size):
    """`index` repeated so that a batch of batch_size fits into one pass."""
    return np.tile(index, -(-batch_size // len(index)))


def labelled_test_batches(data, model_config, batch_size):
    """(x, y) batches of the whole test set, x in the model's pixel representation."""
    pixels, seed = model_config.pixels, model_config.seed
    return data_lib.eval_dataset(data_lib.prepare(data.x_test, pixels, seed, False), batch_size, pixels, seed,
                                 labels=data.y_test)


def labelled_batches(data, model_config, train_config, start_step):
    """(x [B, ...], y [B]) training batches of the labelled images from step start_step on."""
    pixels, seed, batch = model_config.pixels, model_config.seed, train_config.batch_size
    images = data_lib.prepare(data.x_train, pixels, seed, True)
    labelled, _ = split(data, model_config, train_config)
    index = _tiled(labelled, batch)
    return data_lib.train_dataset(images[index], batch, pixels, seed, start_step, labels=data.y_train[index])


def mixed_batches(data, model_config, train_config, start_step):
    """(x_l [B_l, ...], y_l [B_l], x_u [B - B_l, ...]) training batches from step start_step on."""
    pixels, seed, batch = model_config.pixels, model_config.seed, train_config.batch_size
    images = data_lib.prepare(data.x_train, pixels, seed, True)
    labelled, unlabelled = split(data, model_config, train_config)
    batch_l = labelled_batch_size(train_config)
    index_l, index_u = _tiled(labelled, batch_l), _tiled(unlabelled, batch - batch_l)
    with_labels = data_lib.train_dataset(images[index_l], batch_l, pixels, seed + LABELLED_STREAM, start_step,
                                         labels=data.y_train[index_l])
    without = data_lib.train_dataset(images[index_u], batch - batch_l, pixels, seed, start_step)

    def flat(labelled_batch, x_u):  # ((x_l, y_l), x_u) -> (x_l, y_l, x_u)
        return (*labelled_batch, x_u)

    return tf.data.Dataset.zip(with_labels, without).map(flat)


def latent_means(model, images, pixels, seed, batch_size=500):
    """E[q(z|x)] [N, L] of a VAE for uint8 images [N, H, W, C] (binarized once where the pixels are binary)."""
    prepared = data_lib.prepare(images, pixels, seed, False)
    return np.concatenate([model.encode(x).numpy() for x in data_lib.eval_dataset(prepared, batch_size, pixels, seed)])


def m2_error(model, data, batch_size=500):
    """Test error of the arg-max of an m2's q(y|x) on the test images (binarized once, as for evaluation)."""
    pixels, seed = model.config.pixels, model.config.seed
    test = data_lib.eval_dataset(data_lib.prepare(data.x_test, pixels, seed, False), batch_size, pixels, seed)
    predicted = np.concatenate([np.argmax(model.probabilities(x).numpy(), -1) for x in test])
    return float(np.mean(predicted != data.y_test))


def m1_error(vae, data, labelled, steps=2000, seed=0):
    """M1: test error of a classifier trained on the latent means of the labelled training images `labelled`."""
    pixels = vae.config.pixels
    train = latent_means(vae, data.x_train[labelled], pixels, vae.config.seed)
    test = latent_means(vae, data.x_test, pixels, vae.config.seed)
    num_classes = data.num_classes
    model = classifiers.fit(classifiers.vector_classifier(train.shape[-1], num_classes, seed), train,
                            data.y_train[labelled], steps, seed=seed)
    return 1.0 - classifiers.accuracy(model, test, data.y_test)


# --- diagnosis of M2 (benchmarks/m2_diagnosis.py) ---------------------------------------------------------------------
def diagnose(model, images, labels, draws=4, seed=0, batch_size=250):
    """What an m2's classifier and generative model say about uint8 images [N, ...] with integer labels [N].

    U(x) = sum_y q(y|x) L(x, y) + H(q) is maximized over q(y|x) by q(y|x) = softmax_y L(x, y), the generative
    model's own posterior: the unlabelled bound teaches q(y|x) the labels arg max_y L(x, y), right or wrong.
    Returns (L averaged over `draws` noise draws):
    - q_error: the error of arg max q(y|x);
    - bound_error: the error of arg max_y L(x, y), the label U pulls q(y|x) towards;
    - agreement: the share of images where the two arg maxes agree;
    - label_gain: mean L(x, y_true) - mean over y != y_true of L(x, y), in nats: how much the bound (p(x|y, z) with
      q(z|x, y)) depends on y; near 0 when the decoder ignores y.
    """
    pixels, k = model.config.pixels, model.config.num_classes
    batches = data_lib.eval_dataset(data_lib.prepare(images, pixels, seed, False), batch_size, pixels, seed,
                                    labels=labels)
    q_pred, bound_pred, gains, truth = [], [], [], []
    for i, (x, y) in enumerate(batches):
        v = model.features(x)
        h = model.encoded(v)
        eps = tf.random.stateless_normal([draws, k, tf.shape(x)[0], model.config.latent_dim], [seed, i])
        bounds = tf.reduce_mean(tf.stack([model.class_bounds(v, h, e)[0] for e in tf.unstack(eps)]), 0)  # [B, K]
        bounds = bounds.numpy()
        y = y.numpy()
        true = bounds[np.arange(len(y)), y]
        others = (bounds.sum(-1) - true) / (k - 1)
        q_pred.append(np.argmax(model.logits(v).numpy(), -1))
        bound_pred.append(np.argmax(bounds, -1))
        gains.append(true - others)
        truth.append(y)
    q_pred, bound_pred, truth = map(np.concatenate, (q_pred, bound_pred, truth))
    return {"q_error": float(np.mean(q_pred != truth)), "bound_error": float(np.mean(bound_pred != truth)),
            "agreement": float(np.mean(q_pred == bound_pred)), "label_gain": float(np.mean(np.concatenate(gains)))}


def classifier_gradients(model, batch, shared_noise=True, seed=0):
    """Norms of the gradients that reach q(y|x)'s weights on one mixed training batch (x_l, y_l, x_u): {unlabelled:
    of the loss's U term, classification: of its classification term (the two terms that depend on q), cosine:
    between the two}, with U's K classes scored with one shared noise draw or one draw each."""
    x, labels, x_u = batch
    k, dim = model.config.num_classes, model.config.latent_dim
    eps = tf.random.stateless_normal([1, tf.shape(x)[0], dim], [seed, 0])
    eps_u = tf.random.stateless_normal([1 if shared_noise else k, tf.shape(x_u)[0], dim], [seed, 1])
    weights = model.classifier.trainable_variables
    with tf.GradientTape(persistent=True) as tape:
        terms = model.terms(x, labels, x_u, eps, tf.broadcast_to(eps_u, [k, tf.shape(x_u)[0], dim]), training=True)
        loss_weights = model.loss_weights()
        bound = loss_weights["unlabelled_loss"] * tf.reduce_mean(terms["unlabelled_loss"])
        classification = loss_weights["classification"] * tf.reduce_mean(terms["classification"])
    flat = [tf.concat([tf.reshape(g, [-1]) for g in tape.gradient(t, weights)], 0) for t in (bound, classification)]
    norms = [float(tf.norm(g)) for g in flat]
    cosine = float(tf.reduce_sum(flat[0] * flat[1])) / max(norms[0] * norms[1], 1e-30)
    return {"unlabelled": norms[0], "classification": norms[1], "cosine": cosine}
