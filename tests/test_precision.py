"""Mixed precision (tfvae/precision.py): every stage trains under mixed_bfloat16 to the loss of float32, float16's
loss scaling keeps steps finite where plain float16 overflows, everything probabilistic stays float32 while the
networks compute in bfloat16 or float16, a mixed-precision export serves float32, and a run keeps its precision.

Every training here is tiny (8x8 images, networks of a few units, 50 steps of batch 8) and runs without XLA: its
compilation would outlast the steps, and the float32 and mixed runs must share the compilation anyway, since XLA's
stateless random generators draw other numbers than TensorFlow's kernels. The float32 and mixed_bfloat16 run of
every stage train in a fresh process in the background while other tests run (trained_stages; tests/conftest.py:
BACKGROUND, Background.elsewhere); the tests read their steps, losses and model_dirs.
"""

import dataclasses
import json
import os
import shutil
import traceback

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from app_runs import blobs  # smooth colour pictures (the colorizer's test data)
from tfvae import families, precision, runs
from tfvae.colorization import data as colour_data
from tfvae.config import ConfigError, PriorConfig, TrainConfig, check_compatible, from_dict
from tfvae.data import load, write_image
from tfvae.families.vqvae import code_dataset, encode
from tfvae.models.base import EVAL_STEP, TermsModel
from tfvae.models.pixelcnn_prior import CodePrior
from tfvae.restoration import deep_prior

tfd = tfp.distributions
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "configs")
MIXED = ("mixed_bfloat16", "mixed_float16")

# After 50 steps from the same seed, a mixed_bfloat16 run's loss on held-out data is within RTOL of the float32 run's,
# relative to that loss: half a percent, and 1% for the stages with a discrete choice in their loss (the nearest code,
# the hard segment), where a rounding that flips one choice moves the trajectory more. Measured (2 cores with
# AMX-BF16, with the float32-gradient swish of mixed-precision networks), |bfloat16 - float32| / float32: vae 9.5e-5,
# hvae 9.3e-4 (22.56 against 22.58 nats), cvae 8.0e-4, m2 1.0e-4, vqvae 1.5e-3, colorize 1.1e-5 (24.8963 against
# 24.8966 nats), PixelCNN prior 5.6e-4, denoiser 6.2e-4: bfloat16 networks (8-bit mantissas, float32 weights and
# losses) perturb the trajectory a little. The same bfloat16 runs from seed 1 instead land (measured with TensorFlow's
# swish) 1.3e-2, 2.9e-2, 1.1e-1, 4.9e-1, 1.3e-1, 6.7e-2 and 3.4e-2 away, so the tolerances separate "the same
# training in other arithmetic" from "another training".
# With the cast of precision.to_float32 left out (the identity: distributions built from bfloat16 outputs), six
# stages fail with dtype errors and the PixelCNN prior trains to 1.5e-3 of float32 (its Categorical computes in
# bfloat16): test_distributions_and_terms_are_float32_... catches that one.
RTOL = {"vae": 5e-3, "hvae": 5e-3, "cvae": 5e-3, "m2": 5e-3, "vqvae": 1e-2, "colorize": 1e-2, "prior": 5e-3, "denoiser": 5e-3}
STEPS = 50
# 50 steps of 8 (the colorizer: of 4 crops); learning rates at which 50 steps move the held-out loss well away from
# its start (vae 45.5 -> 34.3 nats, cvae 45.3 -> 23.5, m2 46.6 -> 28.7, vqvae 448 -> 88, colorize 33.4 -> 24.9) while
# the discrete stages (codes, segments) stay out of chaotic jumps. The colorizer's was 3e-3 until its mixed-precision
# swish took the float32 gradient (tfvae/nets/activations.py): at 3e-3 and 2e-3 the float32 run jumps to 39.5 and
# 43.4 nats, above its start, and the bfloat16 run followed it only while its gradient rounded like TensorFlow's.
TRAIN = dict(batch_size=8, epochs=1, jit_compile="off", steps_per_execution=STEPS)
FAMILIES = {  # family -> (its tiny config's fields, learning rate)
    "vae": (dict(architecture="mlp", hidden_units=(6,), latent_dim=3), 1e-2),
    "hvae": (dict(architecture="conv", hidden_units=(4,), levels=2, latents_per_level=(2, 3)), 1e-2),
    "cvae": (dict(architecture="mlp", hidden_units=(6,), latent_dim=3), 1e-2),
    "m2": (dict(architecture="mlp", hidden_units=(6,), latent_dim=3), 1e-2),
    "vqvae": (dict(hidden_units=(3,), num_codes=5, code_dim=2, likelihood="gaussian"), 3e-3),
    "colorize": (dict(hidden_units=(4, 6), num_segments=3), 1e-3),
}
PRIOR = dict(pixelcnn_layers=2, pixelcnn_filters=4)
STAGES = (*FAMILIES, "prior", "denoiser")


def grey_images(rng, count):
    """uint8 [count, 8, 8] of three striped patterns (horizontal, vertical, diagonal) with noise, and their class."""
    i, j = np.meshgrid(np.arange(8), np.arange(8), indexing="ij")
    patterns = np.stack([i % 4 < 2, j % 4 < 2, (i + j) % 4 < 2]).astype(np.float64)
    labels = rng.integers(0, 3, count)
    x = np.clip(0.05 + 0.9 * patterns[labels] + rng.normal(0, 0.05, (count, 8, 8)), 0, 1)
    return (255 * x).astype(np.uint8), labels


def patches(count=400, dim=16):
    """Correlated zero-mean patches [count, dim] for the learned denoiser (as in tests/test_replicas.py)."""
    rng = np.random.default_rng(4)
    return (rng.normal(size=(count, dim)) @ rng.normal(size=(dim, dim))).astype(np.float32) / dim ** 0.5


def final_loss(model, batch):
    """The mean training loss of a held-out batch, with the evaluation noise."""
    return float(tf.reduce_mean(model.training_loss(model.step_terms(batch, EVAL_STEP, training=False))))


class Runs:
    """Each stage trained once per precision, on demand: get(stage, precision) -> (model, held-out loss, model_dir),
    on data sets written into `work` (write=False: read, as written there before)."""

    def __init__(self, work, write=True):
        self.work, self.done = work, {}
        self.npz = str(work / "stripes.npz")
        folder = work / "colour"
        if write:
            x_train, y_train = grey_images(np.random.default_rng(0), 400)  # 400 / 8 = 50 steps
            x_test, y_test = grey_images(np.random.default_rng(1), 16)
            np.savez(self.npz, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
            folder.mkdir()
            for i in range(28):  # every 10th file a test image, every 20th other one a validation image:
                # 25 training images x 8 crops / 4 = 50 steps
                write_image(str(folder / f"{i:02d}.png"), blobs((12 + i % 3, 12), i))
        self.images = load(f"npz:{self.npz}")
        self.colour = colour_data.load(f"folder:{folder}", 8)
        self.folder = str(folder)
        self.results = {}  # (stage, policy) -> what train_every_stage returned for it

    def get(self, stage, policy):
        if (stage, policy) not in self.done:
            self.done[stage, policy] = getattr(self, stage if stage in ("prior", "denoiser") else "family")(
                stage, policy)
        return self.done[stage, policy]

    def train_config(self, stage, **overrides):
        fields, learning_rate = FAMILIES.get(stage, ({}, 3e-3))
        dataset = f"folder:{self.folder}" if stage == "colorize" else f"npz:{self.npz}"
        return TrainConfig(dataset=dataset, learning_rate=learning_rate, **{**TRAIN, **overrides})

    def family(self, name, policy):
        data = self.colour if name == "colorize" else self.images
        config = families.make_config(model=name, input_shape=data.shape, precision=policy, **FAMILIES[name][0])
        train_config = self.train_config(name, batch_size=4 if name == "colorize" else 8)
        model_dir = str(self.work / f"{name}-{policy}")
        model = families.train(config, train_config, data, model_dir, verbose=0, validate=False)
        test = families.of(config).datasets(data, config, train_config, 0, validate=True)[1]
        return model, final_loss(model, next(iter(test))), model_dir

    def prior(self, stage, policy):
        """The PixelCNN prior in `policy` on the codes of the float32 phase-I VQ-VAE (copied: the same codes)."""
        vqvae, _, phase_one = self.get("vqvae", "float32")
        model_dir = str(self.work / f"prior-{policy}")
        shutil.copytree(phase_one, model_dir)
        prior = families.get("vqvae").train_stage(
            "prior", model_dir, vqvae, PriorConfig(**PRIOR, precision=policy), self.train_config(stage), self.images,
            verbose=0, validate=False).prior
        if "test_codes" not in self.done:
            self.done["test_codes"] = next(iter(code_dataset(encode(vqvae, self.images.x_test), None, 16)))
        return prior, final_loss(prior, self.done["test_codes"]), model_dir

    def denoiser(self, stage, policy):
        model = deep_prior.fit_denoiser(patches(), STEPS, batch_size=16, hidden_units=(7,), seed=0, verbose=0,
                                        jit_compile=False, precision=policy)
        return model, final_loss(model, tf.constant(patches(64, 16))), None

    def result(self, stage, policy):
        """(the optimizer's steps, the held-out loss, the model_dir) of the stage's run in `policy` (trained_stages)."""
        result = self.results[stage, policy]
        assert not isinstance(result, str), f"{stage} in {policy} failed:\n{result}"
        return result


def optimizer_steps(model):
    return int(model.optimizer.iterations.numpy())


def train_every_stage(work):
    """{(stage, policy): (the optimizer's steps, the held-out loss, the model_dir), or the traceback of its failure}
    of every stage of STAGES in mixed_bfloat16 and float32, trained on Runs(work)'s data. (Run by trained_stages in a
    fresh process.)"""
    runs, results = Runs(work), {}
    for stage in STAGES:
        for policy in ("mixed_bfloat16", "float32"):
            try:
                model, loss, model_dir = runs.get(stage, policy)
                results[stage, policy] = (optimizer_steps(model), loss, model_dir)
            except Exception:  # pylint: disable=broad-except
                results[stage, policy] = traceback.format_exc()
    return results


def trained_stages(work, background):
    """(A background job: its fresh process trains while other tests run.) (work, train_every_stage's results)."""
    return work, background.elsewhere(train_every_stage, work)


BACKGROUND = {"trained": trained_stages}  # started with the session (tests/conftest.py)


@pytest.fixture(scope="module")
def trained(background):
    """Runs over the folder of trained_stages (its data sets), with its results."""
    work, results = background.get(trained_stages).result()
    runs = Runs(work, write=False)
    runs.results = results
    return runs


@pytest.mark.parametrize("stage", STAGES)
def test_mixed_bfloat16_trains_every_stage_to_the_float32_loss(stage, trained):
    steps, bfloat16, _ = trained.result(stage, "mixed_bfloat16")
    _, float32, _ = trained.result(stage, "float32")
    assert steps == STEPS  # bfloat16 needs no loss scaling: no step is skipped
    assert np.isfinite(bfloat16) and np.isfinite(float32)
    assert abs(bfloat16 - float32) <= RTOL[stage] * abs(float32), (bfloat16, float32)


# --- float16: loss scaling -------------------------------------------------------------------------------------------
class Linear(TermsModel):
    """objective = factor * y with y = Dense(1)(x) computed in float16 (kernel of ones), so dL/dy = factor / B: in
    float32, but it reaches the float16 layer as float16 (the gradient of the cast)."""

    TERMS = ("objective",)

    def __init__(self, factor, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor
        with precision.networks("mixed_float16"):
            self.dense = keras.layers.Dense(1, kernel_initializer="ones")

    def step_terms(self, data, step, training):
        return {"objective": self.factor * precision.to_float32(self.dense(data))[:, 0]}


def train_linear(factor, optimizer, steps=20):
    """The model's weights before and after `steps` of the library's train_step (base.py) on x = ones [1, 3]."""
    model = Linear(factor)
    model.compile(optimizer=optimizer, jit_compile=False, steps_per_execution=1)
    x = tf.ones([1, 3])
    model.dense(x)  # builds the layer
    before = [w.numpy() for w in model.trainable_variables]
    model.fit(tf.data.Dataset.from_tensors(x).repeat(), epochs=1, steps_per_epoch=steps, verbose=0,
              shuffle=False)
    return before, [w.numpy() for w in model.trainable_variables]


def test_loss_scaling_skips_the_steps_whose_float16_gradients_overflow_where_plain_adam_turns_nan():
    # dL/dy = 1e5 > 65504, float16's largest value: inf in float16, and Adam's step inf / sqrt(inf) is NaN.
    _, plain = train_linear(1e5, keras.optimizers.Adam(1e-2))
    assert all(np.isnan(w).all() for w in plain)
    scaled = precision.optimizer("mixed_float16", keras.optimizers.Adam(1e-2))
    assert isinstance(scaled, keras.optimizers.LossScaleOptimizer)
    before, after = train_linear(1e5, scaled)
    # Dynamic loss scaling starts at 2^15 and halves at every non-finite step, which it skips: the gradients
    # 2^s * 1e5 stay infinite while 2^s >= 1, so the 16 steps at s = 15..0 are skipped and the last 4, at s = -1, apply.
    assert float(scaled.dynamic_scale.numpy()) == 0.5
    assert int(scaled.iterations.numpy()) == 4
    assert all(np.isfinite(w).all() for w in after)
    assert not np.allclose(before[0], after[0])


def test_loss_scaling_keeps_gradients_that_underflow_in_float16():
    # dL/dy = 1e-9, below float16's smallest subnormal (6e-8): a zero gradient, so plain Adam does not move at all.
    before, plain = train_linear(1e-9, keras.optimizers.Adam(1e-2))
    for a, b in zip(before, plain):
        np.testing.assert_array_equal(a, b)
    scaled = precision.optimizer("mixed_float16", keras.optimizers.Adam(1e-2))
    before, after = train_linear(1e-9, scaled)
    # Scaled by 2^15 the gradient is 3.3e-5, representable: every step applies, the scale is kept, and every weight
    # goes down the (positive) gradient.
    assert int(scaled.iterations.numpy()) == 20 and float(scaled.dynamic_scale.numpy()) == 2.0 ** 15
    for a, b in zip(before, after):
        assert np.isfinite(b).all() and (b < a).all()


class EpochsRun(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)


def test_a_float16_run_whose_loss_scaling_skips_steps_resumes_where_it_stopped(trained):
    # The VQ-VAE's Gaussian distortion (hundreds of nats) times the initial scale 2^15 overflows float16: its first
    # steps are skipped, so optimizer.iterations lags behind the steps run, and a resume must not start from it
    # (it did: the resumed run below started again at epoch 0).
    config = families.make_config(model="vqvae", input_shape=trained.images.shape, precision="mixed_float16",
                                  **FAMILIES["vqvae"][0])
    model_dir = str(trained.work / "f16-resumed")
    two, one = (trained.train_config("vqvae", batch_size=16, epochs=epochs) for epochs in (2, 1))  # 25 steps each
    first = families.train(config, one, trained.images, model_dir, verbose=0, validate=False)  # "killed" here
    skipped = 25 - optimizer_steps(first)
    assert skipped > 0 and runs.checkpoint_step(model_dir) == 25  # checkpoints count the steps run
    epochs = EpochsRun()
    resumed = families.train(config, two, trained.images, model_dir, verbose=0, validate=False, callbacks=[epochs])
    assert epochs.epochs == [1] and runs.checkpoint_step(model_dir) == 50
    assert optimizer_steps(first) < optimizer_steps(resumed) <= 50 - skipped  # epoch 2's steps, once


# --- dtypes ----------------------------------------------------------------------------------------------------------
def float_dtypes(value):
    """The floating dtypes of every tensor in value: a tensor, a distribution (its parameters, its inner
    distributions), a dict, list or tuple of them."""
    if isinstance(value, tfd.Distribution):
        found = {value.dtype} if value.dtype.is_floating else set()
        for parameter in value.parameters.values():
            found |= float_dtypes(parameter)
        return found
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return set().union(*map(float_dtypes, value)) if value else set()
    if isinstance(value, (tf.Tensor, tf.Variable, np.ndarray)) or hasattr(value, "dtype") and hasattr(value, "shape"):
        dtype = tf.as_dtype(value.dtype)
        return {dtype} if dtype.is_floating else set()
    return set()


NETWORKS = {"vae": ["encoder", "decoder"], "hvae": ["encoder", "top", "heads", "merges", "to_pixels"], "cvae": ["encoder", "head_out", "decoder"],
            "m2": ["encoder", "head_out", "decoder", "classifier"], "vqvae": ["encoder", "to_latent", "decoder"],
            "colorize": ["scene", "encoder"], "prior": ["embeddings", "networks"], "denoiser": ["net"]}


def built(stage, policy):
    """The built and compiled model of a stage (its tiny config) computing in `policy`."""
    if stage == "denoiser":
        model = deep_prior.DenoiserPrior(16, (7,), precision=policy)
    elif stage == "prior":
        vqvae = families.make_config(model="vqvae", input_shape=(8, 8, 1), **FAMILIES["vqvae"][0])
        model = CodePrior(PriorConfig(**PRIOR, precision=policy), vqvae)
    else:
        shape = (8, 8, 3) if stage == "colorize" else (8, 8, 1)
        model = families.make_model(families.make_config(model=stage, input_shape=shape, precision=policy,
                                                         **FAMILIES[stage][0]))
    model.build(None)
    model.compile(optimizer=precision.optimizer(policy, keras.optimizers.Adam()), jit_compile=False)
    return model


def probes(stage, model):
    """(a training batch, a test batch, the output of one network, {what: a distribution or the tensors it is built
    from}) of a built model."""
    rng = np.random.default_rng(3)
    if stage == "denoiser":
        y = tf.constant(patches(5, 16))
        return y, y, model.net(tf.zeros([5, 17])), {"denoised": model((y, tf.fill([5, 1], 0.1)))}
    if stage == "prior":
        codes = tf.constant(rng.integers(0, 5, (3, 4, 4)), tf.int32)
        return ({"codes_0": codes},) * 2 + (model.networks[0](model.embeddings[0](codes)),
                                            {"prior": model.distribution(0, [codes])})
    if stage == "colorize":
        x = tf.constant(rng.uniform(size=(2, 8, 8, 3)), tf.float32)
        lightness, ab = model.lab(x)
        prior_logits, hypotheses = model.scene_outputs(lightness)
        q_logits = model.posterior_logits(lightness, ab, prior_logits)
        return x, x, model.scene(lightness), {
            "prior_logits": prior_logits, "hypotheses": hypotheses, "posterior": tfd.Categorical(q_logits),
            "observation": model.observation(tf.zeros([2, model.config.num_segments, 2]))}
    x = tf.constant(rng.integers(0, 2, (5, 8, 8, 1)), tf.float32)
    if stage == "hvae":
        features = model.features(x)
        top = model.config.levels - 1
        densities = model.level_densities(x, tf.zeros([1, 5, model.config.latent_dim]))
        return x, x, features[0], {"top": model.level(top, model.top(x), features[top]), **densities}
    raw = model.encoder(model.encoder_input(x))
    if stage == "vae":
        q = model.posterior(x)
        return x, x, raw, {"posterior": q, "prior": model.prior(), "observation": model.observation(q.sample(seed=1),
                                                                                                    x)}
    if stage == "vqvae":
        _, decoder_input = model.code_levels(x)
        return x, x, raw, {"posterior": model.posterior(x), "observation": model.observation(decoder_input, x)}
    labels = tf.constant([0, 1, 2, 1, 0])
    y = model.onehot(labels)
    found = {"posterior": model.posterior(model.encoded(x), y), "observation": model.observation(tf.zeros([5, 3]), y,
                                                                                                 x)}
    if stage == "cvae":
        return (x, labels), (x, labels), raw, found
    return (x[:2], labels[:2], x[2:]), (x, labels), raw, {**found, "classifier": model.probabilities(x)}


def layers_of(model, stage):
    """The network layers of a model (NETWORKS), lists flattened."""
    found = []
    for name in NETWORKS[stage]:
        value = getattr(model, name)
        found += value if isinstance(value, list) else [value]
    return found


@pytest.mark.parametrize("policy", MIXED)
@pytest.mark.parametrize("stage", STAGES)
def test_distributions_and_terms_are_float32_while_the_networks_compute_in_the_policy(stage, policy):
    compute = {"mixed_bfloat16": tf.bfloat16, "mixed_float16": tf.float16}[policy]
    model = built(stage, policy)
    train_batch, test_batch, network_output, found = probes(stage, model)
    # The policy really applies: the networks compute in bfloat16 or float16.
    assert all(layer.compute_dtype == compute.name for layer in layers_of(model, stage))
    assert network_output.dtype == compute
    # ... while every weight, distribution parameter, term and loss is float32.
    assert {tf.as_dtype(w.dtype) for w in model.weights} == {tf.float32}
    assert float_dtypes(found) == {tf.float32}, found
    for training, batch in ((True, train_batch), (False, test_batch)):
        terms = model.step_terms(batch, tf.constant(3, tf.int64) if training else EVAL_STEP, training)
        assert float_dtypes(terms) == {tf.float32}, terms
        assert tf.as_dtype(model.training_loss(terms).dtype) == tf.float32


# --- export and config -----------------------------------------------------------------------------------------------
def test_export_of_a_mixed_precision_run_reloads_and_serves_float32(trained, tmp_path):
    from tfvae import serving  # pylint: disable=g-import-not-at-top

    _, _, model_dir = trained.result("vae", "mixed_bfloat16")
    model = families.restore(model_dir)  # the trained run, as `python -m export` exports it
    assert model.config.precision == "mixed_bfloat16"
    export_dir = serving.export_model(model, str(tmp_path / "export"), model_dir=model_dir)
    loaded = tf.saved_model.load(export_dir)
    rng = np.random.default_rng(5)
    images = rng.integers(0, 2, (3, 8, 8, 1)).astype(np.float32)
    values = {"images": images, "z": rng.normal(size=(3, 3)).astype(np.float32), "count": 2, "seed": 7,
              "num_samples": 2}
    assert set(loaded.signatures) == {"serving_default", "reconstruct", "encode", "decode", "sample", "log_prob"}
    for name, signature in loaded.signatures.items():
        specs = signature.structured_input_signature[1]
        outputs = signature(**{arg: tf.constant(values[arg], spec.dtype) for arg, spec in specs.items()})
        assert outputs and {arg: v.dtype for arg, v in outputs.items()} == {arg: tf.float32 for arg in outputs}, name
        assert all(np.isfinite(v.numpy()).all() for v in outputs.values()), name
    # The graph computes what the model does, in the same bfloat16 networks: equal up to where the roundings to
    # bfloat16 (2^-8 relative) fall, which differ between the graph's fused kernels and eager ops (measured 1.1e-3 at
    # most on these Bernoulli means in [0, 1]).
    np.testing.assert_allclose(loaded.signatures["reconstruct"](images=tf.constant(images))["images"],
                               model(tf.constant(images)), rtol=0, atol=5e-3)


def test_precision_is_stored_and_a_resume_with_another_precision_is_refused(trained):
    _, _, model_dir = trained.result("vae", "mixed_bfloat16")
    assert runs.read_record(model_dir)["model"]["precision"] == "mixed_bfloat16"
    stored, _ = families.read_config(model_dir)
    assert stored.precision == "mixed_bfloat16"
    other = dataclasses.replace(stored, precision="float32")
    with pytest.raises(ConfigError, match="its precision is 'mixed_bfloat16', requested 'float32'"):
        check_compatible(stored, other, model_dir)
    with pytest.raises(ConfigError, match="its precision is 'mixed_bfloat16', requested 'mixed_float16'"):
        families.train(dataclasses.replace(stored, precision="mixed_float16"), trained.train_config("vae"),
                       trained.images, model_dir, verbose=0, validate=False)
    # The PixelCNN prior keeps its own precision in MODEL_DIR/prior/config.json.
    _, _, prior_dir = trained.result("prior", "mixed_bfloat16")
    assert families.get("vqvae").read_prior_config(prior_dir).precision == "mixed_bfloat16"
    with pytest.raises(ConfigError, match="holds another prior .its precision is 'mixed_bfloat16'"):
        families.get("vqvae").train_stage("prior", prior_dir, families.restore(prior_dir), PriorConfig(**PRIOR),
                                          trained.train_config("prior"), trained.images, verbose=0, validate=False)


@pytest.mark.parametrize("name", ["vae", "vqvae", "cvae", "m2", "colorize"])
def test_release_0_1_0_configs_read_as_float32(name):
    with open(os.path.join(FIXTURES, f"{name}.json")) as f:
        record = json.load(f)
    assert "precision" not in record["model"]  # written before mixed precision
    section, train = families.config_from_record(record)
    assert section.precision == "float32"
    assert train.jit_compile in ("auto", "off")  # its bool read as the mode it meant (tfvae/config.py)


def test_release_0_1_0_prior_config_reads_as_float32():
    with open(os.path.join(FIXTURES, "vqvae_prior.json")) as f:
        record = json.load(f)
    assert "precision" not in record["prior"]
    assert from_dict(PriorConfig, record["prior"]).precision == "float32"


def test_swish_gradient_is_silus_in_float32_and_computed_in_float32_under_bfloat16():
    from tfvae.nets.activations import Swish, activation_layer, swish

    with precision.networks("mixed_bfloat16"):
        assert isinstance(activation_layer("swish"), Swish)
    assert type(activation_layer("swish")) is keras.layers.Activation  # float32 networks: Keras's, as before

    x = tf.constant(np.linspace(-12, 12, 2001), tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        ours, reference = swish(x), tf.nn.silu(x)
    np.testing.assert_array_equal(ours, reference)
    np.testing.assert_array_equal(tape.gradient(ours, x), tape.gradient(reference, x))
    # bfloat16: the derivative s (1 + x (1 - s)) of the bfloat16 inputs, evaluated in float64, rounded once to
    # bfloat16 (relative error at most 2^-8 for a value not near 0; absolute 2^-9 covers those near 0).
    low = tf.cast(x, tf.bfloat16)
    with tf.GradientTape() as tape:
        tape.watch(low)
        out = swish(low)
    grad = tape.gradient(out, low)
    assert out.dtype == grad.dtype == tf.bfloat16
    x64 = tf.cast(low, tf.float64).numpy()
    s = 1 / (1 + np.exp(-x64))
    exact = s * (1 + x64 * (1 - s))
    np.testing.assert_array_less(np.abs(tf.cast(grad, tf.float64).numpy() - exact), 2 ** -8 * np.abs(exact) + 2 ** -9)
