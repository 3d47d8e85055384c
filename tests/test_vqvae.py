"""Tests of the VQ-VAE: the quantizer's gradients and codebook updates against their formulas, the PixelCNN's
causality, the prior, and the export (reloaded in a fresh process without tfvae)."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfvae import families, serving as export
from tfvae.config import ConfigError
from tfvae.families import make_config
from tfvae.config import PriorConfig
from tfvae.models.pixelcnn_prior import CodePrior, VQVAEWithPrior
from tfvae.models.vqvae import VQVAE
from tfvae.nets.pixelcnn import GatedPixelCNN
from tfvae.nets.quantizer import VectorQuantizer, perplexity


def small_config(**overrides):
    return make_config(**{**dict(model="vqvae", input_shape=(12, 10, 1), hidden_units=(4, 6), num_codes=5,
                                 code_dim=3, likelihood="gaussian"), **overrides})


def test_straight_through_passes_the_decoder_input_gradient_to_the_encoder():
    rng = np.random.default_rng(0)
    quantizer = VectorQuantizer(7, 4)
    latents = tf.constant(rng.normal(size=(2, 3, 5, 4)), tf.float32)
    weights = tf.constant(rng.normal(size=(2, 3, 5, 4)), tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(latents)
        indices, codes, straight = quantizer(latents)
        loss = tf.reduce_sum(weights * straight)
    np.testing.assert_allclose(tape.gradient(loss, latents), weights)
    np.testing.assert_allclose(straight, codes, atol=1e-6)  # its value is the nearest code (L + (C_z - L) rounded)

    # In the model: the gradient of the distortion reaching the latents L equals the one at the decoder's input.
    model = VQVAE(small_config())
    model.build(None)
    x = tf.constant(rng.uniform(size=(3, 12, 10, 1)), tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        levels, decoder_input = model.code_levels(x)
        distortion = -tf.reduce_sum(model.observation(decoder_input, x).log_prob(x))
    at_latents = tape.gradient(distortion, levels[0][0])
    at_decoder = tape.gradient(distortion, decoder_input)
    assert np.abs(at_decoder).max() > 0
    # Two backward passes through the decoder's (oneDNN) convolutions: equal up to float32 summation order.
    np.testing.assert_allclose(at_latents, at_decoder, rtol=1e-5, atol=1e-7)


def test_nearest_code_and_codebook_gradient_match_the_formulas():
    rng = np.random.default_rng(1)
    scale = 3.0
    quantizer = VectorQuantizer(5, 3, update="loss", lr_scale=scale)
    quantizer.weights_raw.assign(rng.normal(size=(5, 3)).astype(np.float32))
    latents = rng.normal(size=(4, 7, 3)).astype(np.float32)
    codebook = scale * quantizer.weights_raw.numpy()
    nearest = np.argmin(((latents[..., None, :] - codebook) ** 2).sum(-1), -1)  # brute force [4, 7]
    with tf.GradientTape() as tape:
        indices, codes, _ = quantizer(tf.constant(latents))
        loss = tf.reduce_sum(tf.square(tf.stop_gradient(tf.constant(latents)) - codes))  # ||sg(L) - C_z||^2
    np.testing.assert_array_equal(indices, nearest)
    # d/dC_k = -2 sum_{i: z_i = k} (L_i - C_k); C = scale * W, so d/dW = scale * d/dC.
    expected = np.zeros_like(codebook)
    for vector, k in zip(latents.reshape(-1, 3), nearest.reshape(-1)):
        expected[k] += -2.0 * (vector - codebook[k])
    np.testing.assert_allclose(tape.gradient(loss, quantizer.weights_raw), scale * expected, rtol=1e-5, atol=1e-5)


def test_ema_codebook_converges_to_the_k_means_means_of_its_assigned_vectors():
    rng = np.random.default_rng(2)
    centres = np.array([[0.0, 0.0], [3.0, 0.5], [-1.0, 4.0]])
    data = (centres[rng.integers(0, 3, 90)] + rng.normal(0, 0.6, (90, 2))).astype(np.float32)
    init = data[[0, 1, 2, 3]]  # 4 codes started on data points
    quantizer = VectorQuantizer(4, 2, update="ema", ema_decay=0.7, restart_threshold=0.0)
    quantizer.weights_raw.assign(init)
    for step in range(120):
        indices = quantizer.nearest(tf.constant(data))
        quantizer.update_codebook(tf.constant(data), indices, tf.constant([0, step], tf.int64))
    codebook = quantizer.codebook.numpy()
    # Brute-force Lloyd iterations from the same start reach the same fixed point.
    lloyd = init.astype(np.float64)
    for _ in range(100):
        assign = np.argmin(((data[:, None] - lloyd) ** 2).sum(-1), 1)
        lloyd = np.stack([data[assign == k].mean(0) if (assign == k).any() else lloyd[k] for k in range(4)])
    assign = np.argmin(((data[:, None] - codebook) ** 2).sum(-1), 1)
    for k in range(4):  # each code is the mean of the vectors assigned to it
        np.testing.assert_allclose(codebook[k], data[assign == k].mean(0), atol=1e-4)
    np.testing.assert_allclose(codebook, lloyd, atol=1e-4)


def test_dead_codes_restart_on_batch_vectors_and_perplexity_counts_usage():
    data = tf.constant(np.repeat([[1.0, 2.0], [-3.0, 0.5]], 10, 0), tf.float32)  # 2 distinct vectors
    quantizer = VectorQuantizer(6, 2, update="loss", restart_threshold=0.5)
    quantizer.update_codebook(data, quantizer.nearest(data), tf.constant([1, 2], tf.int64))
    codebook = quantizer.codebook.numpy()
    # Every count starts at 0 < threshold: every code moves onto one of the batch's vectors.
    assert all(any(np.allclose(c, v) for v in data.numpy()) for c in codebook)
    np.testing.assert_allclose(float(perplexity(tf.constant([5.0, 5.0, 0.0, 0.0]))), 2.0, rtol=1e-6)
    np.testing.assert_allclose(float(perplexity(tf.constant([1.0, 1.0, 1.0, 1.0, 1.0]))), 5.0, rtol=1e-6)


def test_one_hot_posterior_costs_log_k_per_position_against_a_uniform_prior():
    import tensorflow_probability as tfp  # pylint: disable=g-import-not-at-top

    model = VQVAE(small_config(levels=2, num_codes=7))
    model.build(None)
    x = tf.constant(np.random.default_rng(3).uniform(size=(2, 12, 10, 1)), tf.float32)
    total = 0.0
    for q in model.posterior(x):
        kl = tfp.distributions.kl_divergence(q, tfp.distributions.Categorical(logits=tf.zeros([7])))
        np.testing.assert_allclose(kl, np.full(q.batch_shape, math.log(7)), rtol=1e-6)
        total += tf.reduce_sum(kl[0])
    np.testing.assert_allclose(total, model.uniform_rate(), rtol=1e-6)
    assert model.code_shapes == [(2, 2), (3, 3)]


def test_pixelcnn_is_causal_in_raster_order_without_a_blind_spot():
    height, width = 4, 5
    net = GatedPixelCNN(num_symbols=3, filters=6, num_layers=4)
    x = tf.constant(np.random.default_rng(4).normal(size=(3, height, width, 2)), tf.float32)
    for i in range(height):
        for j in range(width):
            with tf.GradientTape() as tape:
                tape.watch(x)
                out = tf.reduce_sum(net(x)[:, i, j] * tf.constant([0.3, -1.1, 0.7]))
            grad = np.abs(tape.gradient(out, x).numpy()).sum((0, 3))  # [H, W]
            order = np.arange(height * width).reshape(height, width)
            before = order < i * width + j
            assert (grad[~before] == 0).all(), (i, j, grad)
            assert (grad[before] > 0).all(), (i, j, grad)  # every earlier position is seen: no blind spot


def test_prior_log_prob_is_the_teacher_forced_categorical_and_samples_follow_seeds():
    config = small_config(levels=2)
    prior = CodePrior(PriorConfig(pixelcnn_layers=2, pixelcnn_filters=5, class_conditional=True, num_classes=3),
                      config)
    prior.build(None)
    labels = tf.constant([0, 2])
    codes = prior.sample(2, 11, labels)
    assert [tuple(z.shape) for z in codes] == [(2, 2, 2), (2, 3, 3)]
    again = prior.sample(2, 11, labels)
    other = prior.sample(2, 12, labels)
    for a, b in zip(codes, again):
        np.testing.assert_array_equal(a, b)
    assert any((a.numpy() != b.numpy()).any() for a, b in zip(codes, other))
    for level, log_prob in enumerate(prior.log_prob(codes, labels)):
        logits = prior.logits(level, codes, labels).numpy()
        log_softmax = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
        z = codes[level].numpy()
        expected = np.take_along_axis(log_softmax, z[..., None], -1).sum((1, 2, 3))
        np.testing.assert_allclose(log_prob, expected, rtol=1e-5)


def test_bad_configs_are_named():
    with pytest.raises(ConfigError, match="--num_codes: a codebook needs at least 2 codes"):
        small_config(num_codes=1)
    with pytest.raises(ConfigError, match="--levels"):
        small_config(levels=3)
    with pytest.raises(ConfigError, match="--architecture"):
        small_config(architecture="mlp")
    with pytest.raises(ConfigError, match="--class_conditional"):
        PriorConfig(class_conditional=True, num_classes=0)


def test_export_reloads_without_tfvae_and_samples_reproducibly(tmp_path, reload):
    keras.utils.set_random_seed(5)  # the initial weights, whatever ran before in this process
    rng = np.random.default_rng(5)
    config = small_config(levels=2)
    vqvae = VQVAE(config)
    vqvae.build(None)
    for w in vqvae.weights:
        w.assign(w.numpy() + rng.normal(0.0, 0.3, w.shape).astype(np.float32))
    prior = CodePrior(PriorConfig(pixelcnn_layers=2, pixelcnn_filters=5), config)
    prior.build(None)
    model = VQVAEWithPrior(vqvae, prior)
    export_dir = export.export_model(model, str(tmp_path / "vq" / "1"))
    x = rng.uniform(size=(3, 12, 10, 1)).astype(np.float32)
    codes = vqvae.indices(x)
    inputs = dict(x=x, top=codes[0].numpy(), codes=codes[1].numpy(), count=np.int32(4), seed_a=np.int64(7),
                  seed_b=np.int64(8))
    calls = {"reconstruct": ("reconstruct", {"images": "x"}), "encode": ("encode", {"images": "x"}),
             "decode": ("decode", {"top_codes": "top", "codes": "codes"}), "rate": ("rate", {"images": "x"}),
             "sample_a": ("sample", {"count": "count", "seed": "seed_a"}),
             "sample_a_again": ("sample", {"count": "count", "seed": "seed_a"}),
             "sample_b": ("sample", {"count": "count", "seed": "seed_b"})}
    (result,) = reload([{"export_dir": export_dir, "inputs": inputs, "calls": calls}])
    out = result["outputs"]
    assert sorted(out["signature_names"]) == ["decode", "encode", "rate", "reconstruct", "sample", "serving_default"]
    np.testing.assert_array_equal(out["encode.top_codes"], codes[0])
    np.testing.assert_array_equal(out["encode.codes"], codes[1])
    # Graph (reloaded) against eager execution of four layers of convolutions with perturbed weights.
    close = dict(rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(out["reconstruct.images"], vqvae(x), **close)
    np.testing.assert_allclose(out["decode.images"], vqvae.decode(codes), **close)
    np.testing.assert_allclose(out["rate.bits"], model.rate(x), rtol=1e-5)
    for name in ("images", "codes", "top_codes"):
        np.testing.assert_array_equal(out[f"sample_a.{name}"], out[f"sample_a_again.{name}"])
    assert out["sample_a.codes"].shape == (4, 3, 3) and out["sample_a.top_codes"].shape == (4, 2, 2)
    assert (out["sample_a.codes"] != out["sample_b.codes"]).any()
    # The exported sampler draws what the in-process model draws for the same seed.
    in_process, images = model.sample(4, 7)
    np.testing.assert_array_equal(out["sample_a.top_codes"], in_process[0])
    np.testing.assert_array_equal(out["sample_a.codes"], in_process[1])
    np.testing.assert_allclose(out["sample_a.images"], images, **close)


def test_every_weight_is_saved_and_each_trainable_one_changes_after_a_step():
    import keras  # pylint: disable=g-import-not-at-top

    for update in ("ema", "loss"):
        model = VQVAE(small_config(levels=2, codebook_update=update))
        model.build(None)
        model.compile(optimizer=keras.optimizers.Adam(1e-2), run_eagerly=True)
        before = {w.path: w.numpy() for w in model.weights}
        x = np.random.default_rng(6).uniform(size=(4, 12, 10, 1)).astype(np.float32)
        model.train_on_batch(x)
        statistics = [w for w in model.weights if not w.trainable]
        # The codebooks (EMA: non-trainable), their usage and (EMA) sums are weights, so checkpoints keep them.
        assert {w.name for w in statistics} >= {"usage", *(("codebook", "sums") if update == "ema" else ())}
        for w in model.trainable_weights + [w for q in model.quantizers for w in q.weights]:
            assert not np.array_equal(before[w.path], w.numpy()), f"{update}: {w.path} did not change"


@pytest.mark.slow  # the long tier (pytest.ini): test_distribute.py keeps the 1-vs-2-replica step of the plain VAE
def test_one_and_two_replicas_train_the_same_codebooks(tmp_path, tiny_npz):
    from tfvae import distribute, training  # pylint: disable=g-import-not-at-top
    from tfvae.config import TrainConfig  # pylint: disable=g-import-not-at-top
    from tfvae.data import load  # pylint: disable=g-import-not-at-top

    data = load(f"npz:{tiny_npz}")
    config = make_config(model="vqvae", input_shape=data.shape, hidden_units=(2, 3), num_codes=5, code_dim=3,
                         levels=2, restart_threshold=0.5, likelihood="gaussian")
    train_config = TrainConfig(batch_size=16, epochs=1, learning_rate=3e-3, jit_compile=False,
                               steps_per_execution=2)
    weights = {}
    for name in ("default", "mirrored"):
        model = families.train(config, train_config, data, str(tmp_path / name),
                               strategy=distribute.make_strategy(name), verbose=0, validate=False)
        weights[name] = [(w.path, w.numpy()) for w in model.weights]
    for (path, one), (_, two) in zip(weights["default"], weights["mirrored"]):
        # Summation order differs between 1 and 2 replicas, so equal up to float32 round-off.
        np.testing.assert_allclose(two, one, rtol=1e-4, atol=1e-5, err_msg=path)
