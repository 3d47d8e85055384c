"""tfvae: variational autoencoders on TensorFlow, Keras 3 and TensorFlow Probability."""

__version__ = "0.1.0"
