"""The floors of tfvae/colorization (its package docstring), read from the source with `ast` (deferred imports
count): below the model nothing imports tfvae.models, and the model imports only modules below it."""

import ast
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "tfvae", "colorization")
BELOW = ("colour", "metrics", "data")
ABOVE = ("inference", "baseline", "evaluation", "pictures")


def imports(path):
    """Every module a file imports, as dotted names: `from tfvae.colorization import colour` gives both
    tfvae.colorization and tfvae.colorization.colour."""
    names = set()
    for node in ast.walk(ast.parse(open(path).read(), path)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def colorization_modules():
    return sorted(f[:-3] for f in os.listdir(PACKAGE) if f.endswith(".py") and f != "__init__.py")


def test_every_module_has_a_floor():
    assert colorization_modules() == sorted(BELOW + ABOVE), "a new module of tfvae/colorization needs a floor"


def test_nothing_below_the_model_imports_models_or_what_is_above_it():
    for name in BELOW:
        found = imports(os.path.join(PACKAGE, name + ".py"))
        assert not [m for m in found if m == "tfvae.models" or m.startswith("tfvae.models.")], name
        assert not found & {f"tfvae.colorization.{above}" for above in ABOVE}, name


def test_the_model_imports_only_modules_below_it():
    found = imports(os.path.join(ROOT, "tfvae", "models", "colorizer.py"))
    used = {m.rsplit(".", 1)[1] for m in found if m.startswith("tfvae.colorization.")}
    assert used and used <= set(BELOW), used
    for folder, _, files in os.walk(os.path.join(ROOT, "tfvae", "models")):  # and no model imports an upper floor
        for file in (f for f in files if f.endswith(".py")):
            found = imports(os.path.join(folder, file))
            assert not found & {f"tfvae.colorization.{above}" for above in ABOVE}, file
