"""Models: Keras 3 subclassed models that build TFP distributions from network outputs."""

from tfvae.models.vae import VAE

MODEL_CLASSES = {"vae": VAE}  # ModelConfig.model -> class; each takes the ModelConfig


def make_model(config):
    """The model for a ModelConfig: MODEL_CLASSES[config.model](config)."""
    return MODEL_CLASSES[config.model](config)
