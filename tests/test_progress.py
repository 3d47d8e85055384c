"""tfvae/progress.py and the progress callbacks of the long loops: the printer's rhythm, callbacks called between
chunks with (done, total), and the same numbers with a callback as without one."""

import io

import numpy as np
import pytest
import tensorflow as tf

from tfvae import evaluation
from tfvae.families import make_config
from tfvae.models import VAE
from tfvae.progress import Progress, require_eager
from tfvae.restoration import denoise as denoise_lib
from tfvae.restoration import epll
from tfvae.restoration.gmm import PatchGMM
from tfvae.seeds import model_seed


class Recorder:
    """A progress callback that keeps its calls."""

    def __init__(self):
        self.calls = []

    def __call__(self, done, total):
        assert tf.executing_eagerly()  # called from Python, not while a graph is traced
        self.calls.append((done, total))


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_printer_prints_at_most_every_few_seconds_and_always_the_end():
    out, clock = io.StringIO(), Clock()
    progress = Progress("nll", every=5.0, stream=out, clock=clock)
    for done, now in ((1, 101.0), (2, 104.9), (3, 105.0), (4, 107.0), (5, 110.2), (6, 110.3)):
        clock.now = now
        progress(done, 6)
    assert out.getvalue().splitlines() == ["nll: 3/6 (5 s)", "nll: 5/6 (10 s)", "nll: 6/6 (10 s)"]
    quick = io.StringIO()
    fast = Progress("em", total=3, stream=quick, clock=Clock())
    for done in (1, 2, 3):
        fast(done)  # total from the constructor
    assert quick.getvalue() == "em: 3/3 (0 s)\n"  # quick work: only the last line
    unknown, clock = io.StringIO(), Clock()
    open_ended = Progress("batches", every=1.0, stream=unknown, clock=clock)
    clock.now = 102.0
    open_ended(7, None)
    assert unknown.getvalue() == "batches: 7 (2 s)\n"


def test_progress_refused_inside_a_graph():
    require_eager(None, "f")
    require_eager(Recorder(), "f")
    with pytest.raises(ValueError, match="call it eagerly"):
        tf.function(lambda: require_eager(Recorder(), "f"))()


def small_vae():
    model = VAE(make_config(input_shape=(5, 1, 1), architecture="mlp", hidden_units=(7,), latent_dim=3,
                            likelihood="gaussian", pixels="continuous"))
    model.build(None)
    return model


def test_log_likelihood_and_evaluate_report_chunks_and_batches_with_the_same_numbers():
    model = small_vae()
    x = tf.constant(np.random.default_rng(0).uniform(size=(4, 5, 1, 1)).astype(np.float32))
    seed = model_seed(0, 5)
    budget = 3 * 4 * 5 * model.likelihood.params_per_channel  # max_floats: chunks of 3 samples of 4 images of 5 values
    silent = evaluation.log_likelihood(model, x, 11, seed, max_floats=budget).numpy()
    recorder = Recorder()
    reported = evaluation.log_likelihood(model, x, 11, seed, max_floats=budget, progress=recorder).numpy()
    np.testing.assert_array_equal(reported, silent)
    assert recorder.calls == [(3, 11), (6, 11), (9, 11), (11, 11)]
    with pytest.raises(ValueError, match="call it eagerly"):
        tf.function(lambda: evaluation.log_likelihood(model, x, 11, seed, progress=Recorder()))()

    dataset = tf.data.Dataset.from_tensor_slices(x).batch(3)  # 2 batches
    recorder = Recorder()
    reported = evaluation.evaluate(model, dataset, num_samples=6, seed=1, progress=recorder)
    assert reported == evaluation.evaluate(model, dataset, num_samples=6, seed=1)
    assert recorder.calls == [(1, 2), (2, 2)]
    recorder = Recorder()
    evaluation.evaluate(model, dataset.filter(lambda _: True), num_samples=2, progress=recorder)
    assert recorder.calls == [(1, None), (2, None)]  # unknown length
    recorder = Recorder()
    reported = evaluation.elbo_surgery(model, x, num_z=4, chunk=3, progress=recorder)
    assert reported == evaluation.elbo_surgery(model, x, num_z=4, chunk=3)
    assert recorder.calls == [(3, 4), (4, 4)]


def test_gmm_fit_reports_every_em_step_with_the_same_mixture():
    patches = np.random.default_rng(0).normal(size=(300, 4)).astype(np.float32) * [1.0, 2.0, 0.5, 0.1]
    recorder = Recorder()
    reported = PatchGMM.fit(patches, steps=3, components=2, seed=4, progress=recorder)
    silent = PatchGMM.fit(patches, steps=3, components=2, seed=4)
    assert recorder.calls == [(1, 3), (2, 3), (3, 3)]
    np.testing.assert_array_equal(reported.covariances, silent.covariances)
    np.testing.assert_array_equal(reported.log_weights, silent.log_weights)


@pytest.fixture(scope="module")
def small_prior():
    """A 3-component GMM over DC-removed 4x4 patches (quick to compile)."""
    rng = np.random.default_rng(0)
    patches = rng.normal(size=(500, 16)) * np.linspace(0.01, 0.2, 16)
    return PatchGMM.fit((patches - patches.mean(1, keepdims=True)).astype(np.float32), 2, 3, seed=0)


@pytest.mark.parametrize("channels, colour", [(1, None), (3, "opponent"), (3, "per_channel")])
def test_denoise_reports_every_splitting_step_with_the_same_image(small_prior, channels, colour):
    """The steps run one by one, each compiled: bit for bit the image of the one-graph call (measured with the shipped
    GMM, learned and flow priors too); run eagerly, the same steps would differ in the last bit."""
    rng = np.random.default_rng(channels)
    shape = (19, 23) if channels == 1 else (19, 23, 3)
    noisy = np.clip(0.5 + 0.2 * rng.normal(size=shape), 0, 1).astype(np.float32)
    betas = (1.0, 4.0)
    compiled = denoise_lib.denoise(noisy, 0.2, prior=small_prior, colour=colour, betas=betas).numpy()
    recorder = Recorder()
    stepwise = denoise_lib.denoise(noisy, 0.2, prior=small_prior, colour=colour, betas=betas, progress=recorder)
    np.testing.assert_array_equal(stepwise, compiled)
    runs = 1 if channels == 1 else 3
    assert recorder.calls == [(i, 2 * runs) for i in range(1, 2 * runs + 1)]


def test_epll_reports_its_steps(small_prior):
    noisy = np.random.default_rng(2).uniform(size=(12, 10)).astype(np.float32)
    recorder = Recorder()
    reported = epll.epll(noisy, 0.1, small_prior, patch_size=4, betas=(1.0, 2.0, 4.0), progress=recorder)
    np.testing.assert_array_equal(reported, epll.epll(noisy, 0.1, small_prior, patch_size=4, betas=(1.0, 2.0, 4.0)))
    assert recorder.calls == [(1, 3), (2, 3), (3, 3)]
