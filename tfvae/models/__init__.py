"""Models: Keras 3 subclassed models that build TFP distributions from network outputs; pure Keras (no disk access,
no knowledge of families: tfvae/families/ maps a config to its model)."""

from tfvae.models.colorizer import Colorizer
from tfvae.models.cvae import CVAE
from tfvae.models.hvae import HVAE
from tfvae.models.m2 import M2
from tfvae.models.vae import VAE
from tfvae.models.vqvae import VQVAE

__all__ = ["CVAE", "Colorizer", "HVAE", "M2", "VAE", "VQVAE"]
