"""The export matrix and the serving examples of BUILD.md.

Every family of FAMILIES is exported from a tiny model (its weights moved off their initial values by a seeded amount;
an export does not care whether the model was trained). A fresh process that cannot import tfvae, Keras or TFP
(tests/conftest.py's reload) loads every export and
- calls every signature by name; a signature with a `seed` input also once more with the same seed and once with
  another;
- answers every request body of BUILD.md (a ```json block right after a `<!-- request: FAMILY SIGNATURE -->` line)
  as TF Serving's REST API would (tests/serving_rest.py).
The tests compare all of it with the in-process model (the same signature functions, run eagerly), check that
random signatures are functions of their seed, that each export's metadata names its family, and that BUILD.md has
a request body for every signature of every family. The BUILD.md bodies are for these models, so they are small:
4x3 grey images, L = 2, K = 3 classes; VQ-VAE: 6x4 images and 3x2 code maps of 5 codes; colorizer: 8x8 to 9x10
images (its U-Net needs sides of at least 8), K = 3 segments.

The denoiser's export goes through the same checks in tests/test_denoise.py (its EPLL graph takes about 25 s to
export, too long to do twice), which also serves BUILD.md's denoiser request bodies (family `denoise`).
A new family adds one entry to FAMILIES and its request bodies to BUILD.md.
"""

import dataclasses
import json
import os
from typing import Callable

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfvae import serving as export
import serving_rest
import tfvae
from tfvae.families import make_config
from tfvae.families import make_model
from tfvae.config import PriorConfig
from tfvae.models.pixelcnn_prior import CodePrior, VQVAEWithPrior

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD_MD = os.path.join(ROOT, "BUILD.md")
# float32 graph (reloaded) against eager (in-process) execution of the same ops: equal up to reassociation.
RTOL, ATOL = 1e-4, 1e-5
BATCH, COUNT, NUM_SAMPLES, SEED = 3, 4, 5, 7


def perturbed(model, rng, scale=0.3):
    """model, built, with every weight moved by N(0, scale^2) noise (so no output is trivially constant)."""
    model.build(None)
    for w in model.weights:
        w.assign(w.numpy() + rng.normal(0.0, scale, w.shape).astype(np.float32))
    return model


def model_family(**config):
    """make() of a family exported by export.export_model from make_config(**config)."""
    return lambda rng, work: perturbed(make_model(make_config(**config)), rng)


def vqvae_with_prior(rng, work):
    config = make_config(model="vqvae", input_shape=(6, 4, 1), hidden_units=(3,), num_codes=5, code_dim=2,
                         likelihood="gaussian")
    vqvae = perturbed(make_model(config), rng)
    return VQVAEWithPrior(vqvae, perturbed(CodePrior(PriorConfig(pixelcnn_layers=2, pixelcnn_filters=4), config), rng))


def standard_input(obj, name, spec, rng):
    """A value for input `name` of the vae-like families, from the model's config."""
    config = obj.config  # a VQVAEWithPrior's is its VQ-VAE's
    if name == "images":
        shape = (BATCH, *config.input_shape)
        if config.pixels in ("dynamic_binary", "static_binary"):
            return rng.integers(0, 2, shape).astype(np.float32)
        return rng.uniform(0.0, 255.0 if config.pixels == "8bit" else 1.0, shape).astype(np.float32)
    if name == "z":
        return rng.normal(size=(BATCH, config.latent_dim)).astype(np.float32)
    if name == "labels":
        return rng.integers(0, config.num_classes, BATCH).astype(np.int32)
    if name in ("codes", "top_codes"):
        return rng.integers(0, config.num_codes, (BATCH, *spec.shape[1:])).astype(np.int32)
    return {"count": np.int32(COUNT), "seed": np.int64(SEED), "num_samples": np.int32(NUM_SAMPLES),
            "temperature": np.float32(0.8)}[name]


def colorize_input(obj, name, spec, rng):
    """A value for input `name` of the colorizer: images of sizes its U-Net takes (>= 8), uint8 or float."""
    if name != "image":
        return standard_input(obj, name, spec, rng)
    if spec.dtype == tf.uint8:
        return rng.integers(0, 256, (9, 10, 1)).astype(np.uint8)
    return rng.uniform(size=(2, 8, 11, 3)).astype(np.float32)


@dataclasses.dataclass
class Family:
    """How to build, export and call one family (its FAMILIES key: the TF Serving model name of BUILD.md's markers).

    model_type: its metadata's `model_type`; documented: whether BUILD.md must give a request body for each of its
    signatures.
    """

    model_type: str
    make: Callable  # (rng, work folder) -> the object to export
    write: Callable = lambda obj, export_dir: export.export_model(obj, export_dir)
    endpoints: Callable = export.signatures  # obj -> {name: (function, input specs)}; the first is serving_default
    inputs: Callable = standard_input  # (obj, input name, spec, rng) -> a value
    documented: bool = True


FAMILIES = {
    "vae": Family("vae", model_family(input_shape=(4, 3, 1), architecture="mlp", hidden_units=(5,), latent_dim=2)),
    "vae_flow": Family("vae", model_family(input_shape=(4, 3, 1), architecture="mlp", hidden_units=(5,), latent_dim=2,
                                           posterior="iaf", flow_steps=2, prior="maf", prior_steps=2, flow_width=4),
                       documented=False),  # the vae's signatures
    "vqvae": Family("vqvae", vqvae_with_prior),
    "hvae": Family("hvae", model_family(model="hvae", input_shape=(4, 3, 1), architecture="mlp", hidden_units=(5,),
                                        levels=2, latents_per_level=(1,))),
    "cvae": Family("cvae", model_family(model="cvae", input_shape=(4, 3, 1), architecture="mlp", hidden_units=(5,),
                                        latent_dim=2, num_classes=3)),
    "m2": Family("m2", model_family(model="m2", input_shape=(4, 3, 1), architecture="mlp", hidden_units=(5,),
                                    latent_dim=2, num_classes=3)),
    "colorize": Family("colorize", model_family(model="colorize", input_shape=(8, 8, 3), hidden_units=(4, 6),
                                                num_segments=3), inputs=colorize_input),
}
ALL_REQUESTS = serving_rest.build_md_requests(BUILD_MD)
# The denoiser's (TF Serving model "denoise") are served by tests/test_denoise.py.
REQUESTS = [request for request in ALL_REQUESTS if request[0] in FAMILIES]

def call_plan(obj, family, rng):
    """(inputs {key: array}, calls {key: (signature, {argument: input key})}) with one call of every signature, and
    for a signature with a seed two more: `NAME~again` (the same seed) and `NAME~other` (seed + 1)."""
    inputs, calls = {}, {}
    for name, (_, specs) in family.endpoints(obj).items():
        arguments = {}
        for spec in specs:
            inputs[f"{name}/{spec.name}"] = family.inputs(obj, spec.name, spec, rng)
            arguments[spec.name] = f"{name}/{spec.name}"
        calls[name] = (name, arguments)
        if "seed" in arguments:
            inputs[f"{name}/other_seed"] = inputs[arguments["seed"]] + 1
            calls[f"{name}~again"] = (name, arguments)
            calls[f"{name}~other"] = (name, {**arguments, "seed": f"{name}/other_seed"})
    first = next(iter(calls))
    calls["serving_default"] = ("serving_default", calls[first][1])
    return inputs, calls


def run_in_process(obj, family, signature, kwargs):
    """{output: array} of `signature` (serving_default: the first endpoint) run eagerly in this process."""
    endpoints = family.endpoints(obj)
    fn, specs = endpoints[next(iter(endpoints)) if signature == "serving_default" else signature]
    return {k: v.numpy() for k, v in fn(*[tf.constant(kwargs[spec.name]) for spec in specs]).items()}


@pytest.fixture(scope="module")
def served(tmp_path_factory, reload):
    """family -> (object, its export dir, inputs, calls, outputs of the reloaded export, BUILD.md requests and the
    responses of the reloaded export)."""
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    work = tmp_path_factory.mktemp("served")
    jobs, built = [], {}
    for name, family in FAMILIES.items():
        folder = work / name
        folder.mkdir()
        obj = family.make(rng, folder)
        export_dir = family.write(obj, str(folder / "1"))
        inputs, calls = call_plan(obj, family, rng)
        requests = [body for f, _, body in REQUESTS if f == name]
        jobs.append({"export_dir": export_dir, "inputs": inputs, "calls": calls, "requests": requests})
        built[name] = (obj, export_dir, inputs, calls, requests)
    result = {}
    for (name, (obj, export_dir, inputs, calls, requests)), reloaded in zip(built.items(), reload(jobs)):
        result[name] = (obj, export_dir, inputs, calls, reloaded["outputs"], requests, reloaded["responses"])
    return result


@pytest.mark.parametrize("name", FAMILIES)
def test_every_signature_reloads_without_tfvae_and_equals_the_model(served, name):
    obj, _, inputs, calls, outputs, _, _ = served[name]
    family = FAMILIES[name]
    assert sorted(outputs["signature_names"]) == sorted([*family.endpoints(obj), "serving_default"])
    for key, (signature, arguments) in calls.items():
        expected = run_in_process(obj, family, signature, {arg: inputs[source] for arg, source in arguments.items()})
        assert sorted(expected) == sorted(k.split(".", 1)[1] for k in outputs if k.startswith(f"{key}."))
        for output, value in expected.items():
            served_value = outputs[f"{key}.{output}"]
            assert served_value.shape == value.shape and served_value.dtype == value.dtype, f"{key}.{output}"
            assert np.isfinite(value).all(), f"{key}.{output}"
            np.testing.assert_allclose(served_value, value, rtol=RTOL, atol=ATOL, err_msg=f"{key}.{output}")


@pytest.mark.parametrize("name", FAMILIES)
def test_random_signatures_are_functions_of_their_seed(served, name):
    _, _, _, calls, outputs, _, _ = served[name]
    for key in calls:
        if not key.endswith("~again"):
            continue
        signature = key[:-len("~again")]
        names = [k.split(".", 1)[1] for k in outputs if k.startswith(f"{signature}.")]
        for output in names:  # the same seed: exactly the same values
            np.testing.assert_array_equal(outputs[f"{key}.{output}"], outputs[f"{signature}.{output}"])
        assert any(not np.array_equal(outputs[f"{signature}~other.{output}"], outputs[f"{signature}.{output}"])
                   for output in names), f"{signature}: another seed gave the same values"


@pytest.mark.parametrize("name", FAMILIES)
def test_metadata_names_the_family_its_config_and_versions(served, name):
    obj, export_dir, *_ = served[name]
    with open(os.path.join(export_dir, export.METADATA_FILE)) as f:
        record = json.load(f)
    family = FAMILIES[name]
    assert record["model_type"] == family.model_type
    assert record["signatures"] == list(family.endpoints(obj))
    assert record["tfvae_version"] == tfvae.__version__ and record["tensorflow_version"] == tf.__version__
    assert record["config"]
    if isinstance(obj, VQVAEWithPrior):
        assert record["prior_config"] == dataclasses.asdict(obj.prior.config)


@pytest.mark.parametrize("family,signature,body", REQUESTS,
                         ids=[f"{family}-{signature}-{i}" for i, (family, signature, _) in enumerate(REQUESTS)])
def test_build_md_request_bodies_are_served(served, family, signature, body):
    """The body, answered by the reloaded export as TF Serving's REST API would, equals the in-process model's
    answer to the same inputs."""
    assert body.get("signature_name", "serving_default") == signature
    obj, _, _, _, _, requests, responses = served[family]
    response = responses[requests.index(body)]
    assert "error" not in response, response["error"]
    endpoints = FAMILIES[family].endpoints(obj)
    specs = endpoints[next(iter(endpoints)) if signature == "serving_default" else signature][1]
    kwargs, row = serving_rest.parse(body, {spec.name: spec for spec in specs})
    expected = serving_rest.respond(run_in_process(obj, FAMILIES[family], signature, kwargs), row)
    assert_same_json(response, expected, signature)


def assert_same_json(actual, expected, where):
    if isinstance(expected, dict):
        assert sorted(actual) == sorted(expected), where
        for key in expected:
            assert_same_json(actual[key], expected[key], f"{where}.{key}")
    elif isinstance(expected, list) and expected and isinstance(expected[0], dict):
        assert len(actual) == len(expected), where
        for i, (a, e) in enumerate(zip(actual, expected)):
            assert_same_json(a, e, f"{where}[{i}]")
    else:
        actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
        assert actual.shape == expected.shape, where
        np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL, err_msg=where)


@pytest.mark.parametrize("name", [name for name, family in FAMILIES.items() if family.documented])
def test_build_md_has_a_request_body_for_every_signature(served, name):
    obj = served[name][0]
    documented = {signature for family, signature, _ in REQUESTS if family == name}
    assert documented >= set(FAMILIES[name].endpoints(obj)) | {"serving_default"}


def test_every_request_body_of_build_md_is_checked():
    assert {family for family, _, _ in ALL_REQUESTS} <= {*FAMILIES, "denoise"}
    assert {signature for family, signature, _ in ALL_REQUESTS if family == "denoise"} == {
        "serving_default", "denoise", "denoise_fast", "denoise_gmm", "denoise_gmm_fast", "inpaint", "deblur", "upscale"}


def test_rest_semantics_of_the_emulation():
    """Row format stacks instances and splits outputs per example; columnar passes whole tensors; JSON numbers are
    held to the input's dtype."""
    specs = {"images": tf.TensorSpec([None, 2], tf.float32, name="images"),
             "labels": tf.TensorSpec([None], tf.int32, name="labels")}
    inputs, row = serving_rest.parse({"instances": [{"images": [1, 2], "labels": 0},
                                                    {"images": [3, 4.5], "labels": 2}]}, specs)
    assert row and inputs["images"].dtype == np.float32 and inputs["images"].tolist() == [[1, 2], [3, 4.5]]
    assert inputs["labels"].dtype == np.int32 and inputs["labels"].tolist() == [0, 2]
    single = {"z": tf.TensorSpec([None, 2], tf.float32, name="z")}
    assert serving_rest.parse({"instances": [[1, 2], [3, 4]]}, single)[0]["z"].shape == (2, 2)
    assert serving_rest.parse({"inputs": [[1, 2]]}, single)[0]["z"].shape == (1, 2)
    scalars = {"count": tf.TensorSpec([], tf.int32, name="count"), "seed": tf.TensorSpec([], tf.int64, name="seed")}
    inputs, row = serving_rest.parse({"inputs": {"count": 2, "seed": 7}}, scalars)
    assert not row and inputs["count"].shape == () and inputs["seed"].dtype == np.int64
    for bad, match in (({"inputs": {"count": 2.5, "seed": 7}}, "fraction"), ({"inputs": {"count": 2}}, "every"),
                       ({"inputs": {"count": True, "seed": 7}}, "bool"),
                       ({"instances": [{"count": 2, "seed": 7}], "inputs": {}}, "exactly one"),
                       ({"inputs": {"count": 2 ** 40, "seed": 7}}, "range")):
        with pytest.raises(serving_rest.RequestError, match=match):
            serving_rest.parse(bad, scalars)
    outputs = {"mean": np.zeros((2, 3)), "scale": np.ones((2, 3))}
    assert serving_rest.respond(outputs, True) == {"predictions": [{"mean": [0.0] * 3, "scale": [1.0] * 3}] * 2}
    assert serving_rest.respond({"images": np.zeros((2, 1))}, True) == {"predictions": [[0.0], [0.0]]}
    assert serving_rest.respond({"bits": np.zeros(2)}, False) == {"outputs": [0.0, 0.0]}
    assert serving_rest.respond(outputs, False)["outputs"]["scale"] == [[1.0] * 3] * 2
