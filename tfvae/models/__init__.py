"""Models: Keras 3 subclassed models that build TFP distributions from network outputs."""

from tfvae.models.vae import VAE


def make_model(config):
    """The model for a ModelConfig."""
    return VAE(config)
