"""Every model family trains under --strategy=mirrored: 2 replicas (logical CPU devices, tests/conftest.py) take the
steps of 1 on the same data and seed.

Each entry of FAMILIES trains one tiny model a few steps under a given strategy and returns what the step changed:
(replicas in sync, weights before, weights after). replica_runs runs every entry under `default` and `mirrored`, in
a fresh process in the background while other tests run (tests/conftest.py: BACKGROUND, Background.elsewhere); the
test checks that the weights moved and that 2 replicas end where 1 does, up to float32 summation order. The plain
VAE (diagonal posterior, both architectures) is in tests/test_distribute.py, the VQ-VAE's phase I in
tests/test_vqvae.py. A new family adds one entry here.
"""

import shutil
import traceback
from unittest import mock

import keras
import numpy as np
import pytest

from tfvae import distribute, families, training
from tfvae.config import TrainConfig
from tfvae.families import make_config
from tfvae.data import load
from tfvae.config import PriorConfig
from tfvae.models.pixelcnn_prior import CodePrior
from tfvae.restoration import deep_prior
from tfvae.restoration.gmm import PatchGMM

from app_runs import write_tiny_npz

# The long tier (pytest.ini): every family in a fresh process; tests/test_distribute.py and the 2-replica tests of
# tests/test_hvae.py keep the mirrored step in the fast tier.
pytestmark = pytest.mark.slow

# 64 training images / 16 = 4 steps. Without XLA: CPU replicas cannot use it, and XLA draws other random numbers.
TRAIN = dict(batch_size=16, epochs=1, learning_rate=3e-3, jit_compile=False, steps_per_execution=2)


def weights_of(model):
    return [w.numpy() for w in model.weights]


def image_family(**model):
    """A family trained by training.train on the tiny npz data set (8x8 grey images with labels)."""

    def run(strategy, work, npz):
        data = load(f"npz:{npz}")
        model_config = make_config(input_shape=data.shape, architecture="mlp", hidden_units=(6,), latent_dim=3,
                                   **model)
        train_config = TrainConfig(dataset=f"npz:{npz}", **TRAIN)
        before = training.compiled(lambda: families.make_model(model_config), model_config.seed, strategy, 4)[0]
        after = families.train(model_config, train_config, data, str(work), strategy=strategy, verbose=0,
                               validate=False)
        return after.distribute_strategy.num_replicas_in_sync, weights_of(before), weights_of(after)

    return run


def pixelcnn_prior(strategy, work, npz):
    """Phase II (--stage=prior) on the codes of one phase-I VQ-VAE, trained once and copied for every strategy."""
    phase_one = work.parent / "phase_one"
    data = load(f"npz:{npz}")
    if not phase_one.exists():
        config = make_config(model="vqvae", input_shape=data.shape, hidden_units=(3,), num_codes=5, code_dim=2,
                             likelihood="gaussian")
        families.train(config, TrainConfig(dataset=f"npz:{npz}", **TRAIN), data, str(phase_one),
                       strategy=distribute.make_strategy("default"), verbose=0, validate=False)
    shutil.copytree(phase_one, work)
    prior_config = PriorConfig(pixelcnn_layers=2, pixelcnn_filters=4, seed=3)
    train_config = TrainConfig(dataset=f"npz:{npz}", **TRAIN)
    vqvae = families.restore(str(work))
    before = training.compiled(lambda: CodePrior(prior_config, vqvae.config), prior_config.seed, strategy, 4)[0]
    prior = families.get("vqvae").train_stage("prior", str(work), vqvae, prior_config, train_config, data,
                                              strategy=strategy, verbose=0, validate=False).prior
    return prior.distribute_strategy.num_replicas_in_sync, weights_of(before), weights_of(prior)


def patches(count=64, dim=16):
    """Correlated zero-mean patches [count, dim], all directions of variance well above the covariance floor."""
    rng = np.random.default_rng(4)
    return (rng.normal(size=(count, dim)) @ rng.normal(size=(dim, dim))).astype(np.float32) / dim ** 0.5


def denoiser_prior(strategy, work, npz):
    """The learned patch prior (apps.train_patch_prior --prior_type=denoiser): 4 steps of a global batch of 16."""
    keras.utils.set_random_seed(0)  # the weights fit_denoiser starts from
    before = deep_prior.DenoiserPrior(16, (7,), seed=0)
    before.build()
    after = deep_prior.fit_denoiser(patches(), 4, batch_size=16, hidden_units=(7,), seed=0, verbose=0,
                                    strategy=strategy, jit_compile=False)
    return after.distribute_strategy.num_replicas_in_sync, weights_of(before), weights_of(after)


def patch_gmm(strategy, work, npz):
    """The patch GMM (--prior_type=gmm): EM whose sufficient statistics each replica sums over its share of the
    patches (an odd count, so the shares differ). The weights are log pi, the covariances and the log-likelihood
    em_step reports (a MEAN instead of a SUM over replicas would halve only that)."""
    data = patches(count=301, dim=4)
    gmm = PatchGMM.fit(data, steps=0, components=3, seed=0, strategy=strategy)
    before = [gmm.log_weights.numpy(), gmm.covariances.numpy(), np.zeros(1)]
    log_likelihood = [gmm.em_step(data, strategy=strategy) for _ in range(2)]
    return strategy.num_replicas_in_sync, before, [gmm.log_weights.numpy(), gmm.covariances.numpy(),
                                                   np.array(log_likelihood)]


def colorize_family(strategy, work, npz):
    """The colorizer (--model=colorize) on random crops of ten small colour images (tfvae/colorization/data.py)."""
    from tfvae.colorization import data as colour_data  # pylint: disable=g-import-not-at-top
    from tfvae.data import write_image  # pylint: disable=g-import-not-at-top

    folder = work.parent / "colour"
    if not folder.exists():
        folder.mkdir()
        rng = np.random.default_rng(5)
        for i in range(10):
            write_image(str(folder / f"{i}.png"), rng.integers(0, 256, (12 + i, 14, 3), dtype=np.uint8))
    data = colour_data.load(f"folder:{folder}", 8)  # 9 training images x 8 crops / 16 = 4 steps
    model_config = make_config(model="colorize", input_shape=data.shape, hidden_units=(4, 6), num_segments=3)
    train_config = TrainConfig(dataset=f"folder:{folder}", **TRAIN)
    before = training.compiled(lambda: families.make_model(model_config), model_config.seed, strategy, 4)[0]
    after = families.train(model_config, train_config, data, str(work), strategy=strategy, verbose=0, validate=False)
    return after.distribute_strategy.num_replicas_in_sync, weights_of(before), weights_of(after)


FAMILIES = {
    "vae_iaf_realnvp": image_family(posterior="iaf", flow_steps=2, prior="realnvp", prior_steps=2, flow_width=5),
    "cvae": image_family(model="cvae"),
    # q(y|x) encoder-shaped: the fixed classifier's dropout masks are drawn per replica (config.py: classifier).
    "m2": image_family(model="m2", classifier="encoder"),
    "pixelcnn_prior": pixelcnn_prior,
    "denoiser_prior": denoiser_prior,
    "patch_gmm": patch_gmm,
    "colorize": colorize_family,
}


def train_every_family(work):
    """family -> {"default": (replicas in sync, weights before, weights after), "mirrored": (the same)} of every
    entry of FAMILIES on tiny_npz's data, or the traceback of its failure. (Run by replica_runs in a fresh process.)"""
    npz = write_tiny_npz(work / "tiny.npz")
    results = {}
    # SGD instead of Adam: SGD steps scale with the gradient (Adam's hardly do), so a missing or double scaling of
    # the loss by the replica count shows as a factor 2.
    with mock.patch.object(keras.optimizers, "Adam", lambda learning_rate: keras.optimizers.SGD(learning_rate)):
        for family, run in FAMILIES.items():
            (work / family).mkdir()
            try:
                results[family] = {name: run(distribute.make_strategy(name), work / family / name, npz)
                                   for name in ("default", "mirrored")}
            except Exception:  # pylint: disable=broad-except
                results[family] = traceback.format_exc()
    return results


def replica_runs(work, background):
    """(A background job: its fresh process trains while other tests run.) train_every_family's results."""
    return background.elsewhere(train_every_family, work)


BACKGROUND = {"trained": replica_runs}  # started with the session (tests/conftest.py)


@pytest.fixture
def trained(background):
    return background.get(replica_runs).result()


@pytest.mark.parametrize("family", FAMILIES)
def test_two_replicas_take_the_steps_of_one(family, trained):
    results = trained[family]
    assert not isinstance(results, str), f"{family} failed:\n{results}"
    assert results["default"][0] == 1 and results["mirrored"][0] == 2
    _, before, one = results["default"]
    _, _, two = results["mirrored"]
    assert len(before) == len(one) == len(two) > 0
    moved = 0
    for start, a, b in zip(before, one, two):
        moved += not np.allclose(start, a, rtol=0.0, atol=1e-6)
        # Summation order differs between 1 and 2 replicas, so equal up to float32 round-off.
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)
    assert moved >= len(one) // 2  # training changed most weights (biases of unused paths may stay)
