"""The flow patch prior: its density against the Gaussian it starts as and against the change of variables by
autodiff, its gradient MAP against the closed forms of Gaussian priors, the MAP objective along the steps, training,
EPLL with it, and save/load. Patches are 3x3 (D = 9, an 8-dimensional subspace) except where EPLL needs 8x8."""

import os

import numpy as np
import pytest
import tensorflow as tf
from absl.testing import flagsaver

import tfvae
from apps import denoise as denoise_app
from apps import train_patch_prior as prior_app
from tfvae.data import read_image, write_image
from tfvae.restoration import denoise as denoise_lib
from tfvae.restoration import flow_prior, patch_data
from tfvae.restoration.flow_prior import FlowPatchPrior
from tfvae.saving import save_model_file

DIM = 9


def smooth_image(shape, seed):
    """A [0, 1] grey image [H, W] of smooth waves: structure a patch prior can tell from noise."""
    rng = np.random.default_rng(seed)
    grid = np.stack(np.meshgrid(np.linspace(0, 3, shape[1]), np.linspace(0, 3, shape[0])), -1)
    return (0.5 + 0.4 * np.sin(grid @ rng.normal(size=2) + rng.uniform(0, 6))).astype(np.float32)


def dc_removed(rng, count, dim=DIM, scale=1.0):
    x = rng.normal(0.0, scale, size=(count, dim))
    return (x - x.mean(1, keepdims=True)).astype(np.float32)


def prior_with_random_whitening(flow="realnvp", seed=0, prior=None):
    """A FlowPatchPrior over D = 9 (or `prior`, reused so that its MAP graph is traced once) with B, s from
    anisotropic random patches (s from about 2 down to 0.2)."""
    rng = np.random.default_rng(seed)
    if prior is None:
        prior = FlowPatchPrior(DIM, flow, layers=3, width=7)
        prior.build()
    prior.set_whitening(dc_removed(rng, 2000) * np.linspace(0.2, 3.0, DIM).astype(np.float32))
    return prior


@pytest.fixture(scope="module")
def realnvp():
    prior = FlowPatchPrior(DIM, "realnvp", layers=3, width=7)
    prior.build()
    return prior


def set_flow_weights(prior, seed, kernels, biases):
    """Every kernel of the flow <- kernels * N(0, 1), every bias <- biases * N(0, 1) (MADE masks stay applied)."""
    rng = np.random.default_rng(seed)
    for w in prior.flow.weights:
        scale = kernels if w.path.endswith("kernel") else biases
        w.assign(scale * rng.normal(size=w.shape).astype(np.float32))


def log_normal(u, variances):
    """log N(u; 0, diag(variances)) [N] in float64."""
    return -0.5 * np.sum(u ** 2 / variances + np.log(2 * np.pi * variances), -1)


def test_whitening_is_an_orthonormal_basis_of_the_zero_mean_subspace():
    rng = np.random.default_rng(1)
    patches = dc_removed(rng, 3000) * np.linspace(0.2, 3.0, DIM).astype(np.float32)
    basis, scale = flow_prior.whitening(patches)
    assert basis.shape == (DIM, DIM - 1) and scale.shape == (DIM - 1,)
    np.testing.assert_allclose(basis.T @ basis, np.eye(DIM - 1), atol=1e-5)
    np.testing.assert_allclose(basis.T @ np.ones(DIM), 0, atol=1e-5)
    np.testing.assert_allclose(scale, np.std(patches @ basis, 0), rtol=1e-3)  # the variances along the axes
    assert np.all(np.diff(scale) <= 0)


@pytest.mark.parametrize("flow", ["realnvp", "maf"])
def test_an_identity_flow_is_the_gaussian_of_the_whitening(flow):
    prior = prior_with_random_whitening(flow)
    set_flow_weights(prior, 0, 0.0, 0.0)  # zero shifts and log-scales: every step is the identity
    x = dc_removed(np.random.default_rng(2), 5)
    expected = log_normal(x.astype(np.float64) @ prior.basis.numpy(), prior.scale.numpy().astype(np.float64) ** 2)
    np.testing.assert_allclose(prior.log_prob(x), expected, rtol=1e-5)
    np.testing.assert_allclose(prior.log_prob(x + 0.3), expected, rtol=1e-5)  # the patch mean is projected out


@pytest.mark.parametrize("flow", ["realnvp", "maf"])
def test_log_prob_is_the_change_of_variables_computed_by_autodiff(flow):
    prior = prior_with_random_whitening(flow, seed=3)
    set_flow_weights(prior, 3, 0.3, 0.3)
    x = tf.constant(dc_removed(np.random.default_rng(4), 5))
    w = prior.whiten(x)  # [5, 8]
    bijector = prior.flow.distribution().bijector
    with tf.GradientTape() as tape:
        tape.watch(w)
        z = bijector.inverse(w)
    jacobian = tape.batch_jacobian(z, w).numpy().astype(np.float64)  # [5, 8, 8]
    expected = (log_normal(z.numpy().astype(np.float64), 1.0) + np.linalg.slogdet(jacobian)[1]
                - np.sum(np.log(prior.scale.numpy())))
    np.testing.assert_allclose(prior.log_prob(x), expected, rtol=1e-4)


def test_map_under_an_isotropic_gaussian_is_wiener_shrinkage(realnvp):
    prior = prior_with_random_whitening(prior=realnvp)
    set_flow_weights(prior, 0, 0.0, 0.0)
    s, sigma = 0.7, 0.4
    prior.scale.assign(np.full(DIM - 1, s, np.float32))  # p(x) = N(0, s^2 I) on the subspace
    y = dc_removed(np.random.default_rng(5), 6)
    for steps in (0, 3):
        np.testing.assert_allclose(prior.denoise_patches(y, sigma, steps), y * s ** 2 / (s ** 2 + sigma ** 2),
                                   atol=1e-5)


def test_map_converges_to_the_closed_form_of_an_anisotropic_gaussian(realnvp):
    """Constant shifts and log-scales make the flow affine, w = A z + m: p is N(B s m, B S A A^T S B^T) on the
    subspace, a Gaussian the preconditioner does not know, whose MAP is mu + C (C + sigma^2 I)^-1 (v - mu)."""
    prior = prior_with_random_whitening(seed=6, prior=realnvp)
    set_flow_weights(prior, 6, 0.0, 0.25)
    bijector = prior.flow.distribution().bijector
    origin = tf.zeros([1, DIM - 1])
    with tf.GradientTape() as tape:
        tape.watch(origin)
        m = bijector.forward(origin)
    a = tape.batch_jacobian(m, origin)[0].numpy().astype(np.float64)  # [8, 8]
    scale = prior.scale.numpy().astype(np.float64)
    mean, covariance = scale * m.numpy()[0], scale[:, None] * (a @ a.T) * scale[None, :]  # of u = B^T x
    sigma = 0.8
    y = dc_removed(np.random.default_rng(7), 4, scale=2.0)
    v = y @ prior.basis.numpy().astype(np.float64)
    u = mean + (v - mean) @ np.linalg.solve(covariance + sigma ** 2 * np.eye(DIM - 1), covariance)  # C symmetric
    expected = u @ prior.basis.numpy().T
    np.testing.assert_allclose(prior.denoise_patches(y, sigma, steps=40), expected, atol=2e-3 * np.abs(expected).max())
    assert np.abs(prior.denoise_patches(y, sigma, steps=0) - expected).max() > 0.05  # the steps did the work


def test_map_objective_never_decreases_along_the_steps(realnvp):
    prior = prior_with_random_whitening(seed=8, prior=realnvp)
    set_flow_weights(prior, 8, 0.5, 0.3)
    y = dc_removed(np.random.default_rng(9), 50, scale=1.5)
    sigma = 0.6

    def objective(x):
        return prior.log_prob(x).numpy() - np.sum((x - y) ** 2, -1) / (2 * sigma ** 2)

    values = np.stack([objective(prior.denoise_patches(y, sigma, steps).numpy()) for steps in range(6)])  # [6, 50]
    assert np.all(np.diff(values, axis=0) >= -1e-4 * np.abs(values[:-1]))
    assert np.mean(values[-1] - values[0]) > 0.1  # and the steps climbed


@pytest.mark.slow  # the long tier (pytest.ini): the flow's fit and MAP keep their own tests; the app is the GMM's and the denoiser's
def test_train_patch_prior_app_fits_a_flow_that_denoises_through_tfvae(tmp_path):
    """apps.train_patch_prior --prior_type=flow -> load_prior: a higher likelihood than the flow's Gaussian start on
    held-out patches, a PSNR gain through tfvae.denoise, the same prior after a save/load round trip."""
    folder = tmp_path / "images"
    folder.mkdir()
    for seed in range(4):
        write_image(str(folder / f"{seed}.png"), np.round(smooth_image((30, 30), seed) * 255).astype(np.uint8))
    path = str(tmp_path / "flow.keras")
    with flagsaver.flagsaver(data=f"folder:{folder}", output=path, prior_type="flow", num_patches=4000, train_steps=60,
                             batch_size=128, flow_layers=2, flow_units=16, map_steps=2):
        prior_app.main(["train_patch_prior"])
    prior = denoise_lib.load_prior(path)
    assert isinstance(prior, FlowPatchPrior) and (prior.dim, prior.flow_layers, prior.map_steps) == (64, 2, 2)

    images = patch_data.read_grey_images(str(folder))
    untrained = FlowPatchPrior.from_config(prior.get_config())
    untrained.build()
    untrained.set_whitening(patch_data.sample_patches(images, 4000, 8, seed=0))  # the app's patches (seed 0)
    held_out = patch_data.sample_patches(images, 1000, 8, seed=1)
    held_out += flow_prior.QUANTUM * (np.random.default_rng(1).uniform(size=held_out.shape) - 0.5)  # dequantized
    held_out -= held_out.mean(1, keepdims=True)
    assert np.mean(prior.log_prob(held_out)) > np.mean(untrained.log_prob(held_out)) + 1.0

    clean = smooth_image((24, 21), 7)
    noisy = (clean + 0.1 * np.random.default_rng(7).normal(size=clean.shape)).astype(np.float32)
    restored = tfvae.denoise(noisy, 0.1, prior=prior, betas=(1.0, 4.0, 16.0)).numpy()  # a short schedule: quick
    psnr = lambda image: 10 * np.log10(1 / np.mean((np.clip(image, 0, 1) - clean) ** 2))  # noqa: E731
    assert psnr(restored) > psnr(noisy) + 3

    again = str(tmp_path / "again.keras")
    save_model_file(prior, again)
    loaded = denoise_lib.load_prior(again)
    assert loaded.get_config() == prior.get_config()
    np.testing.assert_allclose(loaded.log_prob(held_out), prior.log_prob(held_out), rtol=1e-6)
    np.testing.assert_allclose(loaded.denoise_patches(held_out[:50], 0.1), prior.denoise_patches(held_out[:50], 0.1),
                               atol=1e-6)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again.keras", "flow.keras", "images"]  # no temporary file

    with flagsaver.flagsaver(data=f"folder:{folder}", output=str(tmp_path / "bad.npz"), prior_type="flow"), \
            pytest.raises(SystemExit, match="a flow prior is written to a .keras file"):
        prior_app.main(["train_patch_prior"])


@pytest.mark.skipif(not os.path.isfile(denoise_lib.FLOW_PRIOR_FILE), reason="the shipped flow prior is not built yet")
def test_shipped_flow_prior_prefers_clean_patches_of_the_demo_image():
    """Its MAP graph takes seconds to build, so the benchmark (benchmarks/denoise_set12.py) exercises that."""
    prior = denoise_lib.load_prior("flow")
    assert isinstance(prior, FlowPatchPrior) and prior.dim == 64
    demo = read_image(denoise_app.DEMO_IMAGE, channels=1)[..., 0].astype(np.float32) / 255
    clean = patch_data.sample_patches([demo], 500, 8, seed=0)
    clean -= clean.mean(1, keepdims=True)
    noisy = clean + 10 / 255 * np.random.default_rng(0).normal(size=clean.shape).astype(np.float32)
    assert np.mean(prior.log_prob(clean)) > 120  # nats per patch (a Gaussian fitted to the patches: about 92)
    assert np.mean(prior.log_prob(noisy)) < np.mean(prior.log_prob(clean)) - 20


def test_bad_input(realnvp):
    with pytest.raises(ValueError, match="flow must be one of"):
        FlowPatchPrior(DIM, "glow")
    prior = realnvp
    with pytest.raises(ValueError, match="the prior is over D = 9"):
        prior.denoise_patches(np.zeros((2, 16), np.float32), 0.1)
    with pytest.raises(ValueError, match="must be a float tensor"):
        prior.log_prob(np.zeros((2, DIM), np.int32))
