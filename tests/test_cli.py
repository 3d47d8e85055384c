"""Every app through `python -m`, in subprocesses (tests/app_runs.py, tests/cli_driver.py): `--help` of each, and
one real short run per family: apps.train on tiny data (a later --stage where the family has one), then
apps.evaluate where the family has an evaluation, then `python -m export`. Running a module as __main__ is what
in-process tests of main() cannot check: its `if __name__ == "__main__":` block, and names it needs defined below
that block.
"""

import json
import math
import os

import pytest

import tfvae
from app_runs import APPS, METADATA

FAMILIES = ("vae", "vae_flow", "vqvae", "cvae", "m2", "colorize")
APP_RUNS = ("help", *FAMILIES)  # started with the session (tests/conftest.py)
# One flag of each app's own that its --help must list.
OWN_FLAG = {"apps.train": "model", "apps.evaluate": "num_samples", "apps.sample": "output_dir",
            "apps.classify": "m1_labels", "apps.denoise": "sigma", "apps.train_patch_prior": "prior_type",
            "apps.train_denoiser": "init_from",
            "apps.colorize": "segmentation_output", "export": "export_dir"}


@pytest.fixture(scope="module")
def runs(app_runs):
    return app_runs.get(*APP_RUNS)  # all at once: the runs share processes


def succeeded(run, name):
    result = run.results[name]
    assert result.status == 0, str(result)
    return result.stdout


def metadata(export_dir):
    with open(os.path.join(export_dir, METADATA)) as f:
        return json.load(f)


@pytest.mark.parametrize("app", APPS)
def test_help_lists_the_flags_and_exits_0(runs, app):
    result = runs["help"].results[app]
    module_file = os.path.join(app.replace(".", os.sep) if app != "export" else "export/__main__") + ".py"
    assert f"{module_file}:" in result.stdout and f"--{OWN_FLAG[app]}" in result.stdout, str(result)
    assert result.status == 0, f"--help printed its help, then exited with {result.status} (absl's app.run exits " \
                               f"with 1 after --help unless the app handles it)\n{result}"


def test_vae_trains_evaluates_and_exports(runs):
    run = runs["vae"]
    succeeded(run, "train")
    model_dir = run.model_dir
    for name in ("config.json", "samples.png", "reconstructions.png", "checkpoints", "logs", "export/8/saved_model.pb"):
        assert os.path.exists(os.path.join(model_dir, name)), name
    assert any(f.startswith("events.out.tfevents") for _, _, files in os.walk(os.path.join(model_dir, "logs"))
               for f in files)
    config = json.load(open(os.path.join(model_dir, "config.json")))
    assert config["model"]["input_shape"] == [8, 8, 1] and config["train"]["epochs"] == 2

    out = succeeded(run, "evaluate")
    assert "test NLL (20 importance samples)" in out and "bits/dim" in out
    results = json.load(open(os.path.join(model_dir, "evaluation.json")))
    assert results["num_images"] == 16 and results["num_samples"] == 20
    assert results["nll"] > 0 and results["nll"] <= -results["elbo"] + 1.0  # the IS bound is (nearly) tighter

    assert f"Exported the SavedModel to {run.export_dir}" in succeeded(run, "export")
    record = metadata(run.export_dir)
    assert record["model_type"] == "vae" and record["step"] == 8 and record["evaluation"] == results


def test_flow_vae_trains_evaluates_and_reports_elbo_surgery(runs):
    run = runs["vae_flow"]
    succeeded(run, "train")
    out = succeeded(run, "evaluate")
    assert "mutual information I[x; z] (16 draws)" in out and "marginal KL(q_agg || p)" in out
    results = json.load(open(os.path.join(run.model_dir, "evaluation.json")))
    assert results["kl_per_dim"] is None  # no closed form: the rate is Monte Carlo
    surgery = results["elbo_surgery"]
    assert 0 <= surgery["mutual_information"] <= surgery["mutual_information_cap"] + 1e-3
    config = json.load(open(os.path.join(run.model_dir, "config.json")))["model"]
    assert (config["posterior"], config["prior"], config["flow_steps"]) == ("iaf", "realnvp", 2)


def test_vqvae_phases_evaluate_and_export(runs):
    run = runs["vqvae"]
    model_dir = run.model_dir
    succeeded(run, "train")
    for name in ("config.json", "reconstructions.png", "checkpoints", "export/4/saved_model.pb"):
        assert os.path.exists(os.path.join(model_dir, name)), name
    succeeded(run, "prior")
    for name in ("config.json", "samples.png", "checkpoints", "export/4/saved_model.pb"):
        assert os.path.exists(os.path.join(model_dir, "prior", name)), name
    stored = json.load(open(os.path.join(model_dir, "prior", "config.json")))["prior"]
    assert stored["class_conditional"] and stored["num_classes"] == 10
    # Each export's metadata: family, configs, the training steps of phase I (and II), the versions.
    phase_one = metadata(os.path.join(model_dir, "export", "4"))
    with_prior = metadata(os.path.join(model_dir, "prior", "export", "4"))
    assert phase_one["model_type"] == with_prior["model_type"] == "vqvae"
    assert phase_one["step"] == with_prior["step"] == with_prior["prior_step"] == 4 and "prior_step" not in phase_one
    assert with_prior["prior_config"] == stored and with_prior["config"] == phase_one["config"]
    assert with_prior["config"]["levels"] == 2 and with_prior["tfvae_version"] == tfvae.__version__
    assert with_prior["signatures"] == ["reconstruct", "encode", "decode", "sample", "rate"]

    out = succeeded(run, "evaluate")
    assert "rate under the PixelCNN prior" in out and "codebook perplexity, level 1" in out
    results = json.load(open(os.path.join(model_dir, "evaluation.json")))
    assert results["step"] == results["prior_step"] == 4  # what was evaluated
    # 8x8 images, channels (4, 6): a 2x2 bottom and a 1x1 top code map of K = 6 codes.
    assert results["code_shapes"] == [[1, 1], [2, 2]] and results["num_images"] == 16
    assert math.isclose(results["rate_uniform_bits"], 5 * math.log2(6), rel_tol=1e-6)
    assert results["rate_distortion"]["rate_bits"] == results["rate_prior_bits"] > 0
    assert all(1.0 <= p <= 6.0 for p in results["perplexity"])
    assert math.isclose(results["mse_per_image"], 64 * results["mse_per_pixel"], rel_tol=1e-6)

    succeeded(run, "export")  # the model with its phase-II prior, as MODEL_DIR/prior/export/4
    record = metadata(run.export_dir)
    assert record["signatures"] == with_prior["signatures"] and record["prior_step"] == 4


@pytest.mark.parametrize("family", ["cvae", "m2"])
def test_labelled_families_train_and_export(runs, family):
    run = runs[family]
    succeeded(run, "train")
    assert os.path.exists(os.path.join(run.model_dir, "export", "4", "saved_model.pb"))
    assert f"Exported the SavedModel to {run.export_dir}" in succeeded(run, "export")
    record = metadata(run.export_dir)
    assert record["model_type"] == family and record["step"] == 4
    assert record["signatures"] == metadata(os.path.join(run.model_dir, "export", "4"))["signatures"]


def test_colorizer_trains_evaluates_and_exports(runs):
    run = runs["colorize"]
    succeeded(run, "train")
    out = succeeded(run, "evaluate")
    results = json.load(open(os.path.join(run.model_dir, "evaluation.json")))
    assert results["num_images"] == 1 and results["step"] == 9
    assert 0 < results["auc"] <= 1 and 1 <= results["usage_perplexity"] <= 5  # K = 5 segments
    assert results["best_of_8_psnr"] >= 0 and "shuffle_cost_per_pixel" in results
    assert "psnr" in out
    succeeded(run, "export")
    record = metadata(run.export_dir)
    assert record["model_type"] == "colorize" and record["signatures"][0] == "colorize" and record["step"] == 9
