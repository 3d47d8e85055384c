"""Image restoration: patch extraction (patches), a Gaussian mixture prior (gmm), a learned patch denoiser prior
(deep_prior), a normalizing-flow prior (flow_prior), the convolutional prior (conv_prior), EPLL (epll), plug-and-play
splitting (pnp), patches for training priors (patch_data), the front end for noisy images (denoise), linear
degradations (degradations) and the restoration loop for any of them (restore)."""

import importlib

SUBMODULES = ("conv_prior", "deep_prior", "degradations", "denoise", "epll", "flow_prior", "gmm", "patch_data",
              "patches", "pnp", "restore")


def __getattr__(name):
    """The submodules, imported when first used: denoising does not pay for the flow prior's TensorFlow Probability."""
    if name in SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
