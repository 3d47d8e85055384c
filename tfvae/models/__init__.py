"""Models: Keras 3 subclassed models that build TFP distributions from network outputs; pure Keras (no disk access,
no knowledge of families: tfvae/families/ maps a config to its model)."""

import importlib

MODULES = {"CVAE": "cvae", "Colorizer": "colorizer", "HVAE": "hvae", "M2": "m2", "VAE": "vae", "VQVAE": "vqvae"}
__all__ = sorted(MODULES)


def __getattr__(name):
    """The model classes, each imported with its module when first used (so `tfvae.models.base` alone, which the
    restoration priors train with, does not import TensorFlow Probability)."""
    if name in MODULES:
        return getattr(importlib.import_module(f"{__name__}.{MODULES[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
