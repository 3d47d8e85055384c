"""The family registry (tfvae/families/): release 0.1.0's config files load, resume compatibility compares only a
family's own fields, nothing outside families/ branches on a family's name, and a new family is one module plus a
registry line."""

import ast
import dataclasses
import glob
import json
import os

import pytest

from tfvae import config as config_lib
from tfvae import families, runs, serving
from tfvae.config import ConfigError, TrainConfig
from tfvae.data import load
from tfvae.families import conditional
from tfvae.families import vae as vae_family

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "configs")
SECTIONS = {"vae": config_lib.VAEConfig, "vqvae": config_lib.VQVAEConfig, "cvae": config_lib.ConditionalConfig,
            "m2": config_lib.ConditionalConfig, "colorize": config_lib.ColorizeConfig}


@pytest.mark.parametrize("name", sorted(SECTIONS))
def test_config_files_of_release_0_1_0_still_load(name):
    """tests/fixtures/configs/NAME.json was written by release 0.1.0 (one flat record of every family's fields)."""
    with open(os.path.join(FIXTURES, f"{name}.json")) as f:
        record = json.load(f)
    section, train = families.config_from_record(record)
    assert type(section) is SECTIONS[name] and section.model == name
    older = conditional.OLDER_RECORDS if name in ("cvae", "m2") else {}  # what the networks were before these fields
    for field in dataclasses.fields(section):  # every stored field keeps its value; newer fields take their default
        stored = record["model"].get(field.name, older.get(field.name, field.default))
        assert getattr(section, field.name) == (tuple(stored) if isinstance(stored, list) else stored), field.name
    assert section.precision == "float32"  # added after 0.1.0, whose runs were all float32
    assert train == TrainConfig(**record["train"])
    assert len(dataclasses.fields(section)) < len(record["model"])  # the other families' fields are dropped


def test_the_prior_config_of_release_0_1_0_still_loads():
    with open(os.path.join(FIXTURES, "vqvae_prior.json")) as f:
        record = json.load(f)
    prior = config_lib.from_dict(config_lib.PriorConfig, record["prior"])
    assert (prior.pixelcnn_layers, prior.pixelcnn_filters, prior.class_conditional) == (6, 32, False)


def test_resume_compares_only_the_family_s_own_fields():
    with open(os.path.join(FIXTURES, "vae.json")) as f:
        record = json.load(f)
    record["model"]["num_segments"] = 3  # a colorize field: not the vae's business
    stored, _ = families.config_from_record(record)
    requested = families.make_config(**{f.name: getattr(stored, f.name) for f in dataclasses.fields(stored)
                                        if f.name != "model"})
    config_lib.check_compatible(stored, requested, "runs/x")
    with pytest.raises(ConfigError, match="holds another model.*beta"):
        config_lib.check_compatible(stored, dataclasses.replace(requested, beta=2.0), "runs/x")
    with pytest.raises(ConfigError, match="holds another model"):
        config_lib.check_compatible(stored, families.make_config(model="vqvae"), "runs/x")


def test_every_family_is_consistent():
    for name, family in families.FAMILIES.items():
        assert family.name == name
        config = family.make_config()
        assert type(config) is family.config_class and config.model == name
        assert families.of(config) is family
        assert issubclass(family.config_class, config_lib.ModelConfig)
    with pytest.raises(ConfigError, match="--model: must be one of"):
        families.get("nope")


def family_names():
    return set(families.NAMES)


def mentions_model(node):
    """Whether an expression reads a `model` attribute or a name with "model" in it (config.model, FLAGS.model)."""
    return any(isinstance(n, ast.Attribute) and n.attr == "model" or isinstance(n, ast.Name) and "model" in n.id
               for n in ast.walk(node))


def name_branches(path):
    """(line, name) of every comparison or membership test of a model field against a family's name in the module
    at path."""
    tree = ast.parse(open(path).read())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare) and any(mentions_model(part) for part in [node.left, *node.comparators]):
            for part in [node.left, *node.comparators]:
                values = part.elts if isinstance(part, (ast.Tuple, ast.List, ast.Set)) else [part]
                for value in values:
                    if isinstance(value, ast.Constant) and value.value in family_names():
                        found.append((node.lineno, value.value))
    return found


def test_nothing_outside_families_branches_on_a_family_name():
    paths = [p for p in glob.glob(os.path.join(ROOT, "tfvae", "**", "*.py"), recursive=True)
             + glob.glob(os.path.join(ROOT, "apps", "*.py")) + glob.glob(os.path.join(ROOT, "export", "*.py"))
             if os.sep + "families" + os.sep not in p]
    branches = {os.path.relpath(p, ROOT): name_branches(p) for p in paths}
    assert not {p: b for p, b in branches.items() if b}, "branches on a family name outside tfvae/families/"


class ToyFamily(vae_family.VAEFamily):
    """A new family as a module would declare it: here the vae under another name, with its own picture."""

    name = "toy"
    description = "a test family"

    def write_pictures(self, model, data, model_dir):
        open(os.path.join(model_dir, "toy.txt"), "w").write("written")
        return ["toy.txt"]


def test_a_new_family_is_one_class_and_one_registry_line(tmp_path, tiny_npz, monkeypatch):
    monkeypatch.setitem(families.FAMILIES, "toy", ToyFamily())  # the registry line
    data = load(f"npz:{tiny_npz}")
    config = families.make_config(model="toy", input_shape=data.shape, architecture="mlp", hidden_units=(4,),
                                  latent_dim=2)
    model_dir = str(tmp_path / "toy")
    # No XLA: the registry does not depend on it, and its compilation outlasts the epoch on CPUs.
    model = families.train(config, TrainConfig(dataset=f"npz:{tiny_npz}", batch_size=16, epochs=1, jit_compile=False),
                           data, model_dir, verbose=0, validate=False)
    families.of(model).write_pictures(model, data, model_dir)
    assert families.read_config(model_dir)[0] == config
    restored = families.restore(model_dir)
    assert [w.numpy().tolist() for w in restored.weights] == [w.numpy().tolist() for w in model.weights]
    path = serving.export_model(restored, str(tmp_path / "export"), model_dir=model_dir)
    with open(os.path.join(path, serving.METADATA_FILE)) as f:
        metadata = json.load(f)
    assert metadata["model_type"] == "toy" and metadata["step"] == runs.checkpoint_step(model_dir) == 4
    assert os.path.exists(os.path.join(model_dir, "toy.txt"))
