"""The hierarchical VAE (tfvae/models/hvae.py, tfvae/families/hvae.py): its bound against exact values, its
training (every weight, 1 vs 2 replicas, resume, update skipping), its apps and its SavedModel reloaded without
tfvae, and its answers to bad input.

Sizes are small and all different (images 8x8 or 1x5, latents 2, 3, 5, widths 4, 6, 7) so that swapped axes fail.
"""

import json
import math
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from absl.testing import flagsaver

from apps import sample as sample_app
from apps import train as train_app
from tfvae import distribute, evaluation, families, runs, serving, training
from tfvae.config import ConfigError, HVAEConfig, TrainConfig
from tfvae.data import load, pipeline
from tfvae.distributions import latents
from tfvae.distributions.likelihoods import bits_per_dim
from tfvae.families import make_config
from tfvae.models import HVAE, VAE
from tfvae.models import guard as guard_lib
from tfvae.models.hvae import SCALE_FLOOR, SHIFT

# Without XLA: CPU replicas cannot use it, it draws other random numbers, and compiling outlasts these epochs.
TRAIN = dict(batch_size=16, jit_compile="off", steps_per_execution=2)
CONV = dict(architecture="conv", hidden_units=(4, 6), latents_per_level=(3, 2))


def softplus(a):
    return np.logaddexp(0.0, a)


def images(config, batch, seed=0):
    """A batch [batch, H, W, C] in the model's pixel representation."""
    raw = np.random.default_rng(seed).integers(0, 256, (batch, *config.input_shape), dtype=np.uint8)
    return pipeline.to_pixels(pipeline.prepare(raw, config.pixels, 0, True), config.pixels, [0, 1])


def built(config, seed=0, spread=0.0):
    """A built HVAE; spread > 0 moves every trainable weight by normal noise of that size (off its initial zeros)."""
    keras.utils.set_random_seed(seed)
    model = HVAE(config)
    model.build(None)
    rng = np.random.default_rng(seed)
    for w in model.trainable_weights if spread else ():
        w.assign(w.numpy() + rng.normal(0.0, spread, w.shape).astype(np.float32))
    return model


def kernel_bias(layer):
    return layer.kernel.numpy().astype(np.float64), layer.bias.numpy().astype(np.float64)


# --- the bound against exact values -----------------------------------------------------------------------------------
def linear_gaussian_hierarchy():
    """(model, its exact marginal N(mean, cov) of x [5]): an mlp hvae with 2 levels (z_1 [3], z_2 [2], width 7) whose
    cells are the identity (last layers zero) and whose level-1 prior scale is constant, so that

        z_2 ~ N(mu_2, s_2),   z_1 | z_2 ~ N(m_1 + z_2 B, s_1),   x | z ~ N(c + z_2 C_2 + z_1 C_1, sigma^2 I)

    with every matrix read from the weights (row vectors, as Dense computes)."""
    config = HVAEConfig(input_shape=(1, 5, 1), architecture="mlp", hidden_units=(7,), levels=2,
                        latents_per_level=(3, 2), likelihood="gaussian", pixels="continuous")
    model = built(config)
    rng = np.random.default_rng(0)
    for w in model.trainable_weights:  # weights of a known size, from a fixed seed
        w.assign(rng.normal(0.0, 0.5, w.shape).astype(np.float32))
    for merge in model.merges:  # identity cells: h + 0
        merge.cell.dense2.kernel.assign(tf.zeros_like(merge.cell.dense2.kernel))
        merge.cell.dense2.bias.assign(tf.zeros_like(merge.cell.dense2.bias))
    prior_1 = model.heads[0].prior_head
    prior_1.kernel.assign(tf.concat([prior_1.kernel[:, :3], tf.zeros([7, 3])], 1))  # s_1 from the bias alone
    for heads in model.heads:  # a posterior near the prior: a good proposal, but not the prior itself
        heads.posterior_head.kernel.assign(0.05 * heads.posterior_head.kernel)
        heads.posterior_head.bias.assign(0.05 * heads.posterior_head.bias)
    sigma = 1.0
    model.likelihood.raw_scale.assign(np.log(np.expm1(sigma - 1e-3)))  # sigma = softplus(raw) + 1e-3

    h_top = model.top.state.numpy().astype(np.float64)
    k2, b2 = kernel_bias(model.heads[1].prior_head)
    p2, c_p2 = kernel_bias(model.merges[1].project)
    up, c_up = kernel_bias(model.merges[1].up)
    k1, b1 = kernel_bias(prior_1)
    p1, c_p1 = kernel_bias(model.merges[0].project)
    out, c_out = kernel_bias(model.to_pixels.out)
    mu_2, s_2 = h_top @ k2[:, :2] + b2[:2], softplus(h_top @ k2[:, 2:] + b2[2:] + SHIFT) + SCALE_FLOOR
    h_1 = (h_top + c_p2) @ up + c_up  # the state at level 1 for z_2 = 0
    m_1, b = h_1 @ k1[:, :3] + b1[:3], p2 @ up @ k1[:, :3]
    s_1 = softplus(b1[3:] + SHIFT) + SCALE_FLOOR
    c, c_2, c_1 = (h_1 + c_p1) @ out + c_out, p2 @ up @ out, p1 @ out
    mean = c + mu_2 @ c_2 + (m_1 + mu_2 @ b) @ c_1
    total = c_2 + b @ c_1  # what z_2 does to x, directly and through z_1
    cov = total.T @ np.diag(s_2 ** 2) @ total + c_1.T @ np.diag(s_1 ** 2) @ c_1 + sigma ** 2 * np.eye(5)
    return model, mean, cov


def test_importance_sampled_nll_recovers_the_exact_marginal_of_a_linear_gaussian_hierarchy():
    model, mean, cov = linear_gaussian_hierarchy()
    rng = np.random.default_rng(1)
    x = mean + 0.5 * rng.normal(size=(3, 5)) @ np.linalg.cholesky(cov).T  # [3, 5], within the bulk
    diff = np.linalg.solve(np.linalg.cholesky(cov), (x - mean).T)  # [5, 3], whitened residuals
    exact = -0.5 * (diff ** 2).sum(0) - np.log(np.diag(np.linalg.cholesky(cov))).sum() - 2.5 * np.log(2 * np.pi)
    batch = tf.constant(x.reshape(3, 1, 5, 1), tf.float32)
    samples = 20000
    estimate = evaluation.log_likelihood(model, batch, samples, tf.constant([3, 4], tf.int64)).numpy()
    # The tolerance: 4 standard errors of log mean w over `samples` weights, measured on another draw.
    log_px, log_q, log_p, _ = model.log_densities(batch, tf.random.stateless_normal([samples, 3, 5], seed=[5, 6]))
    log_w = (log_px + log_p - log_q).numpy().astype(np.float64)
    w = np.exp(log_w - log_w.max(0))
    standard_error = w.std(0) / (math.sqrt(samples) * w.mean(0))
    assert standard_error.max() < 0.02  # sharp enough that a missing or wrong term would show
    np.testing.assert_array_less(np.abs(estimate - exact), 4 * standard_error)
    elbo = log_w.mean(0)
    assert (elbo < exact - 0.1).all()  # the single-sample bound is well below: the importance samples did the work


def test_kl_of_every_level_equals_its_monte_carlo_estimate():
    """rate_l is the analytic KL of level l given the drawn z_{>l}; over many draws its mean equals the mean of
    log q(z_l | z_{>l}, x) - log p(z_l | z_{>l}) (computed by TFP's log_prob, not by the KL's formula)."""
    config = HVAEConfig(input_shape=(8, 8, 1), **CONV)  # maps [4, 4, 3] and [2, 2, 2]
    model = built(config, spread=0.3)
    x = images(config, 2)
    draws = 2000
    densities = model.level_densities(x, tf.random.stateless_normal([draws, 2, config.latent_dim], seed=[7, 8]))
    for level in range(config.levels):
        kl = tf.reduce_sum(densities["kl"][level], -1).numpy()  # [draws, 2]
        difference = (densities["log_q"][level] - densities["log_p"][level]).numpy() - kl  # mean 0 given z_{>l}
        standard_error = difference.std(0) / math.sqrt(draws)
        assert (kl.mean(0) > 0.5).all(), "a KL near 0 would make the test vacuous"
        assert (standard_error < 0.05 * kl.mean(0)).all()
        np.testing.assert_array_less(np.abs(difference.mean(0)), 4 * standard_error)  # 4 standard errors


def test_with_one_level_and_a_standard_normal_prior_the_bound_is_the_vae_s():
    """One level whose prior head gives N(0, I) exactly: the hvae's distortion, rate, ELBO and loss equal those the
    vae (tfvae/models/vae.py) computes from the same posterior and decoder, for the same noise."""
    config = HVAEConfig(input_shape=(8, 8, 1), architecture="mlp", hidden_units=(7,), levels=1,
                        latents_per_level=(5,), beta=1.5)
    hvae = built(config, spread=0.3)
    head = hvae.heads[0].prior_head
    head.kernel.assign(tf.zeros_like(head.kernel))
    raw_one = np.log(np.expm1(1.0 - SCALE_FLOOR)) - SHIFT  # scale_of(raw_one) = 1
    head.bias.assign(np.concatenate([np.zeros(5), np.full(5, raw_one)]).astype(np.float32))

    class SameNetworks(VAE):
        """The vae with the hvae's posterior and decoder."""

        def encoded(self, x):
            params = hvae.level(0, hvae.top(x), hvae.features(x)[0])
            raw = tf.math.log(tf.math.expm1(params["q_scale"] - latents.SCALE_FLOOR))  # softplus(raw) + floor
            return tf.concat([params["q_loc"], raw], -1)

        def decoded(self, z):
            flat = tf.reshape(z, [-1, 5])
            params = hvae.descend(flat, lambda i, h: flat)[1]
            return tf.reshape(params, tf.concat([tf.shape(z)[:-1], params.shape[1:]], 0))

    vae = SameNetworks(make_config(model="vae", input_shape=(8, 8, 1), architecture="mlp", hidden_units=(3,),
                                   latent_dim=5, beta=1.5))
    for model in (vae, hvae):
        model.compile(optimizer=keras.optimizers.SGD(0.1))
        model.optimizer.build(model.trainable_variables)
    x = images(config, 3)
    eps = tf.random.stateless_normal([1, 3, 5], seed=[1, 2])
    ours, theirs = hvae.terms(x, eps), vae.terms(x, eps)
    for name in ("distortion", "rate", "elbo", "objective"):
        np.testing.assert_allclose(ours[name].numpy(), theirs[name].numpy(), rtol=1e-5, atol=1e-5, err_msg=name)
    np.testing.assert_allclose(ours["rate_1"].numpy(), ours["rate"].numpy())
    assert (ours["rate"].numpy() > 0.1).all()


# --- training ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", [dict(**CONV, likelihood="bernoulli"),
                                  dict(architecture="mlp", hidden_units=(6, 7), levels=2, latents_per_level=(3,),
                                       likelihood="logistic", num_mixtures=2)], ids=["conv", "mlp"])
def test_every_weight_is_trainable_and_changes_after_one_step(case):
    model = built(HVAEConfig(input_shape=(8, 6, 1), **case))
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    for layer in model._flatten_layers():  # pylint: disable=protected-access
        assert isinstance(layer, keras.layers.Layer), type(layer)  # no Keras 2 (tf_keras) object inside
    tracked = {id(v) for v in model.trainable_variables}
    for layer in (model.encoder, model.top, *model.heads, *model.merges, model.to_pixels):
        assert all(id(w) in tracked for w in layer.trainable_weights), layer.name
    before = [v.numpy().copy() for v in model.trainable_variables]
    logs = model.train_on_batch(images(model.config, 4), return_dict=True)
    for v, old in zip(model.trainable_variables, before):
        assert not np.array_equal(v.numpy(), old), f"{v.path} did not change after a step"
    assert logs["skipped"] == 0 and logs["grad_norm"] > 0
    assert {"rate_1", "rate_2", "distortion", "elbo"} <= set(logs)


def test_config_and_keras_round_trip(tmp_path):
    model = built(HVAEConfig(input_shape=(8, 6, 1), **CONV), spread=0.1)
    clone = HVAE.from_config(model.get_config())
    assert clone.config == model.config
    x = images(model.config, 2)
    path = str(tmp_path / "model.keras")
    model.save(path)
    np.testing.assert_allclose(keras.models.load_model(path)(x).numpy(), model(x).numpy(), rtol=1e-6)


def weights_of(model):
    return [w.numpy() for w in model.weights]


@pytest.mark.slow  # the long tier (pytest.ini): the 2-replica guard stays in the fast tier (skipping_on_2_replicas)
def test_two_replicas_take_the_steps_of_one(tmp_path, tiny_npz, monkeypatch):
    """As tests/test_replicas.py, for the conv hvae with a clipping norm that every step reaches: the norm (and so
    the clipping factor and the running norm) must be that of the global batch's gradient on every replica."""
    # SGD: its steps scale with the gradient, so a missing or double scaling by the replica count shows.
    monkeypatch.setattr(keras.optimizers, "Adam", lambda learning_rate: keras.optimizers.SGD(learning_rate))
    data = load(f"npz:{tiny_npz}")
    config = make_config(model="hvae", input_shape=data.shape, grad_clip=2.0, **CONV)
    train_config = TrainConfig(dataset=f"npz:{tiny_npz}", epochs=1, learning_rate=0.03, **TRAIN)
    results = {}
    for name in ("default", "mirrored"):
        strategy = distribute.make_strategy(name)
        before = weights_of(training.compiled(lambda: families.make_model(config), config.seed, strategy, 4)[0])
        model = families.train(config, train_config, data, str(tmp_path / name), strategy=strategy, verbose=0,
                               validate=False)
        results[name] = (model.distribute_strategy.num_replicas_in_sync, before, weights_of(model),
                         float(model.guard.running_mean()))
        paths = [w.path for w in model.weights]
    assert results["default"][0] == 1 and results["mirrored"][0] == 2
    (_, before, one, norm_one), (_, _, two, norm_two) = results["default"], results["mirrored"]
    assert norm_one > 2.0  # every step was clipped
    np.testing.assert_allclose(norm_two, norm_one, rtol=1e-4)
    still = [path for path, a, b in zip(paths, before, one) if np.allclose(a, b, rtol=0.0, atol=1e-6)]
    assert still == ["guard/skipped_updates"]  # every weight moved; no update was skipped
    for a, b in zip(one, two):
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)  # up to float32 summation order


@pytest.mark.slow  # the long tier (pytest.ini): test_training.py keeps the resume of the plain VAE
def test_a_killed_run_resumes_to_the_weights_of_an_uninterrupted_one(tmp_path, tiny_npz):
    """Stopped after 1 epoch and run again to 2: the weights, the optimizer's step and the guard's state (running
    norm, steps seen) are those of 2 epochs in one go, with warm-up (over the stop) and free bits in play."""
    data = load(f"npz:{tiny_npz}")
    config = make_config(model="hvae", input_shape=data.shape, architecture="mlp", hidden_units=(6,), levels=2,
                         latents_per_level=(2, 3), warmup_steps=7, free_bits=0.1)
    two = TrainConfig(dataset=f"npz:{tiny_npz}", epochs=2, **TRAIN)
    straight = families.train(config, two, data, str(tmp_path / "a"), verbose=0, validate=False)
    families.train(config, TrainConfig(dataset=f"npz:{tiny_npz}", epochs=1, **TRAIN), data, str(tmp_path / "b"),
                   verbose=0, validate=False)  # "killed" after its first epoch
    resumed = families.train(config, two, data, str(tmp_path / "b"), verbose=0, validate=False)
    assert training.step_of(resumed.optimizer) == training.step_of(straight.optimizer) == 8
    assert float(resumed.guard.steps_seen) == 8
    for a, b in zip(straight.weights, resumed.weights):
        np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-5, atol=1e-6, err_msg=a.path)


BOOST = tf.Variable(1.0, trainable=False)  # multiplies the loss: an injected huge gradient


class Boosted(HVAE):
    def training_loss(self, terms):
        return terms[self.LOSS] * BOOST


@pytest.mark.parametrize("skip_factor,strategy", [(10.0, "default"), (10.0, "mirrored"), (0.0, "default")],
                         ids=["skipping", "skipping_on_2_replicas", "not_skipping"])
def test_an_injected_huge_gradient_is_skipped_and_counted(skip_factor, strategy):
    """After the running norm's warm-up a step whose loss is 10^6 times larger is skipped (on 2 replicas: by both,
    through the cross-replica condition of guard.apply_unless), and the next one is taken; without the rule
    (skip_factor 0) the same step is taken."""
    config = HVAEConfig(input_shape=(8, 6, 1), architecture="mlp", hidden_units=(6,), levels=2,
                        latents_per_level=(2, 3), grad_clip=0.0, skip_factor=skip_factor)
    with distribute.make_strategy(strategy).scope():
        keras.utils.set_random_seed(0)
        model = Boosted(config)
        model.build(None)
        model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=False)
        model.optimizer.build(model.trainable_variables)  # as training.compiled: the step is traced once, not twice
    assert model.distribute_strategy.num_replicas_in_sync == (2 if strategy == "mirrored" else 1)
    x = images(config, 4)
    BOOST.assign(1.0)
    for _ in range(guard_lib.WARMUP + 2):  # past the warm-up of the running norm
        logs = model.train_on_batch(x, return_dict=True)
    assert model.guard.skipped_updates.numpy() == 0 and logs["skipped"] == 0
    state = [v.numpy().copy() for v in [*model.trainable_variables, *model.optimizer.variables]]
    step, running = training.step_of(model.optimizer), float(model.guard.running_mean())
    BOOST.assign(1e6)
    logs = model.train_on_batch(x, return_dict=True)
    BOOST.assign(1.0)
    after = [v.numpy() for v in [*model.trainable_variables, *model.optimizer.variables]]
    assert logs["grad_norm"] > 1e5 * running
    if skip_factor:
        assert model.guard.skipped_updates.numpy() == 1 and logs["skipped"] > 0  # counted and logged
        assert training.step_of(model.optimizer) == step  # as LossScaleOptimizer's skipped steps
        for old, new in zip(state, after):  # weights and Adam's moments untouched
            np.testing.assert_array_equal(new, old)
        model.train_on_batch(x)
        assert training.step_of(model.optimizer) == step + 1 and model.guard.skipped_updates.numpy() == 1
    else:  # the same step without the rule: it is taken
        assert logs["skipped"] == 0 and training.step_of(model.optimizer) == step + 1
        assert not all(np.array_equal(old, new) for old, new in zip(state, after))


def test_a_non_finite_gradient_is_skipped():
    config = HVAEConfig(input_shape=(8, 6, 1), architecture="mlp", hidden_units=(6,), levels=1)
    keras.utils.set_random_seed(0)
    model = Boosted(config)
    model.build(None)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), jit_compile=False)
    model.optimizer.build(model.trainable_variables)  # as training.compiled: the step is traced once, not twice
    x = images(config, 4)
    BOOST.assign(np.inf)  # the loss is inf and its gradient NaN; the logged terms stay finite
    before = [v.numpy().copy() for v in model.trainable_variables]
    logs = model.train_on_batch(x, return_dict=True)
    BOOST.assign(1.0)
    assert logs["skipped"] == 1 and model.guard.skipped_updates.numpy() == 1
    for old, v in zip(before, model.trainable_variables):
        np.testing.assert_array_equal(v.numpy(), old)


# --- the family: evaluation, pictures, SavedModel ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory, session_npz):
    """(model_dir, data, model) of a conv hvae trained 1 epoch on the tiny npz data set."""
    model_dir = str(tmp_path_factory.mktemp("hvae") / "run")
    data = load(f"npz:{session_npz}")
    config = make_config(model="hvae", input_shape=data.shape, **CONV)
    families.train(config, TrainConfig(dataset=f"npz:{session_npz}", epochs=1, **TRAIN), data, model_dir, verbose=0,
                   validate=False)
    return model_dir, data, families.restore(model_dir)


def test_evaluation_reports_the_nll_and_kl_and_active_units_per_level(trained):
    _, data, model = trained
    family = families.of(model)
    results = family.evaluate(model, data, families.EvaluationOptions(num_samples=10, batch_size=8))
    assert results["num_images"] == 16 and results["latent_dim"] == 4 * 4 * 3 + 2 * 2 * 2
    assert [level["latents"] for level in results["levels"]] == [48, 8]
    np.testing.assert_allclose(sum(level["kl"] for level in results["levels"]), results["rate"], rtol=1e-4)
    assert sum(level["active_units"] for level in results["levels"]) == results["active_units"]
    assert results["nll"] <= -results["elbo"] + 1.0  # 10 importance samples do not do worse than the ELBO
    np.testing.assert_allclose(results["bits_per_dim"], bits_per_dim(results["nll"], model.config), rtol=1e-6)
    report = family.report(results)
    assert "level 2" in report and "active units" in report
    json.dumps(results)


def test_temperature_scales_every_prior_scale(trained):
    model = trained[2]
    eps = tf.random.stateless_normal([3, model.config.latent_dim], seed=[1, 1])
    z_cold = model.generate(eps, 0.5)[0].numpy()
    # At temperature t, z_l = mu_p(z_{>l}) + t sigma_p(z_{>l}) eps_l: recompute the top level (whose prior is fixed).
    top = model.level(1, model.top(eps))
    expected_top = (top["p_loc"] + 0.5 * top["p_scale"] * model.split(eps)[1]).numpy()
    np.testing.assert_allclose(z_cold[:, -8:], expected_top, rtol=1e-5, atol=1e-6)
    assert not np.allclose(model.generate(eps, 1.0)[0].numpy(), z_cold)


def test_sample_app_writes_the_temperature_and_top_level_pictures(trained, tmp_path):
    model_dir, _, model = trained
    out = str(tmp_path / "pictures")
    with flagsaver.flagsaver(model_dir=model_dir, output_dir=out, columns=3, temperatures=["1", "0.5"],
                             dataset=None):
        sample_app.main(["sample"])
    shapes = {f: tf.io.decode_png(tf.io.read_file(os.path.join(out, f))).shape for f in os.listdir(out)}
    assert shapes == {"temperatures.png": (2 * 9 + 1, 3 * 9 + 1, 1),  # 2 temperatures x 3 draws of 8x8 images
                      "top_levels.png": (3 * 9 + 1, 4 * 9 + 1, 1)}  # levels 0..2 kept: the image and 3 draws
    x = tf.constant(images(model.config, 1))
    eps = tf.random.stateless_normal([2, model.config.latent_dim], seed=[0, 3])
    kept_all = model.generate(eps, x=tf.repeat(x, 2, 0), keep=0)[0].numpy()
    np.testing.assert_allclose(kept_all, np.repeat(model.encode(x).numpy(), 2, 0), rtol=1e-5, atol=1e-6)
    kept_top = model.generate(eps, x=tf.repeat(x, 2, 0), keep=1)[0].numpy()
    np.testing.assert_allclose(kept_top[:, 48:], kept_all[:, 48:], rtol=1e-5, atol=1e-6)  # level 2 kept
    assert not np.allclose(kept_top[:, :48], kept_all[:, :48])  # level 1 drawn


HVAE_CALLS = {
    "reconstruct": ("reconstruct", {"images": "x"}),
    "encode": ("encode", {"images": "x"}),
    "decode": ("decode", {"z": "z"}),
    "sample": ("sample", {"count": "count", "seed": "seed", "temperature": "temperature"}),
    "sample_cold": ("sample", {"count": "count", "seed": "seed", "temperature": "cold"}),
    "log_prob": ("log_prob", {"images": "x", "num_samples": "num_samples", "seed": "seed"}),
}


def test_export_reloads_without_tfvae_and_every_endpoint_equals_the_model(trained, tmp_path, reload):
    model_dir, _, model = trained
    export_dir = serving.export_model(model, str(tmp_path / "export" / "1"), model_dir=model_dir)
    rng = np.random.default_rng(3)
    x = images(model.config, 3, seed=3)
    inputs = {"x": x, "z": rng.normal(size=(3, model.config.latent_dim)).astype(np.float32), "count": np.int32(2),
              "seed": np.int64(2 ** 33 + 5), "temperature": np.float32(1.0), "cold": np.float32(0.6),
              "zero": np.float32(0.0), "num_samples": np.int32(6)}
    result = reload([{"export_dir": export_dir, "inputs": inputs, "calls": HVAE_CALLS,
                      "bad_calls": {"zero": ("sample", {"count": "count", "seed": "seed", "temperature": "zero"})}}])[0]
    out = result["outputs"]
    assert sorted(out["signature_names"]) == ["decode", "encode", "log_prob", "reconstruct", "sample",
                                              "serving_default"]
    close = lambda a, b: np.testing.assert_allclose(a, np.asarray(b), rtol=1e-5, atol=1e-5)  # noqa: E731
    close(out["reconstruct.images"], model(x))
    z = model.encode(x)
    close(out["encode.z"], z)
    assert out["encode.mean_1"].shape == (3, 4, 4, 3) and out["encode.mean_2"].shape == (3, 2, 2, 2)
    close(out["encode.mean_2"].reshape(3, -1), z[:, 48:])
    close(out["decode.images"], model.decode(inputs["z"]))
    for key, temperature in (("sample", 1.0), ("sample_cold", 0.6)):
        z, samples = model.sample(2, tf.constant(inputs["seed"]), temperature)
        close(out[f"{key}.z"], z)
        close(out[f"{key}.images"], samples)
    seed = tf.stack([tf.constant(inputs["seed"]), tf.constant(1, tf.int64)])
    close(out["log_prob.log_prob"], evaluation.log_likelihood(model, x, 6, seed))
    assert "temperature must be positive" in result["errors"]["zero"]
    metadata = json.load(open(os.path.join(export_dir, serving.METADATA_FILE)))
    assert metadata["model_type"] == "hvae" and metadata["step"] == runs.checkpoint_step(model_dir) == 4


def test_conv_levels_halve_the_side_rounding_up_down_to_one_1x1_level():
    shapes = HVAEConfig(input_shape=(28, 28, 1), levels=5, hidden_units=(4,), latents_per_level=(2,)).latent_shapes()
    assert [shape[:2] for shape in shapes] == [(14, 14), (7, 7), (4, 4), (2, 2), (1, 1)]
    with pytest.raises(ConfigError, match="at most 5 levels"):
        HVAEConfig(input_shape=(28, 28, 1), levels=6, hidden_units=(4,), latents_per_level=(2,))


# --- bad input --------------------------------------------------------------------------------------------------------
BAD_CONFIGS = [
    (dict(levels=4), "--levels: 4 conv levels halve the 8-pixel side 4 times: level 3 is already a 1x1 map (at "
                     "most 3 levels)"),
    (dict(levels=0), "--levels: must be positive"),
    (dict(levels=3), "--hidden_units: --model=hvae takes one width for every level or one per level (3), got 2"),
    (dict(latents_per_level=(1, 2, 3)), "--latents_per_level: one value for every level or one per level (2)"),
    (dict(free_bits=-0.5), "--free_bits: must be >= 0"),
    (dict(skip_factor=0.5), "--skip_factor: must be 0 (never skip) or above 1"),
    (dict(grad_clip=-1.0), "--grad_clip: must be >= 0"),
]


@pytest.mark.parametrize("fields,message", BAD_CONFIGS, ids=[m.split(":")[0] for _, m in BAD_CONFIGS])
def test_bad_configs_name_the_flag(fields, message):
    with pytest.raises(ConfigError) as error:
        HVAEConfig(input_shape=(8, 8, 1), **{**CONV, **fields})
    assert str(error.value).startswith(message), str(error.value)


@pytest.mark.parametrize("flags,message", [
    (dict(levels=4), "--levels: 4 conv levels halve the 8-pixel side"),
    (dict(free_bits=-1.0), "--free_bits: must be >= 0"),
    (dict(latent_dim=3), "--latent_dim: only ('vae', 'cvae', 'm2') have it"),
], ids=["levels", "free_bits", "latent_dim"])
def test_train_app_refuses_bad_flags_with_one_line_and_no_output(tmp_path, tiny_npz, flags, message):
    model_dir = str(tmp_path / "run")
    settings = dict(model="hvae", dataset=f"npz:{tiny_npz}", model_dir=model_dir, hidden_units=["4"], epochs=1,
                    **flags)
    with flagsaver.flagsaver(**settings), pytest.raises(SystemExit) as exit_info:
        train_app.main(["train"])
    text = str(exit_info.value.code)
    assert text.startswith(f"error: {message}") and "\n" not in text, text
    assert not os.path.exists(model_dir)


@pytest.mark.parametrize("values", [["0"], ["1", "-0.5"], ["warm"]])
def test_sample_app_refuses_non_positive_temperatures(tmp_path, values):
    out = str(tmp_path / "pictures")
    with flagsaver.flagsaver(model_dir=str(tmp_path), output_dir=out, temperatures=values), \
            pytest.raises(SystemExit) as exit_info:
        sample_app.main(["sample"])
    text = str(exit_info.value.code)
    assert text.startswith("error: --temperatures: ") and "\n" not in text, text
    assert not os.path.exists(out)
