"""Networks: Keras 3 layers that return tensors, never distributions."""

from tfvae.nets.conv import ConvDecoder, ConvEncoder, ResidualBlock
from tfvae.nets.mlp import MLPDecoder, MLPEncoder


def make_encoder(config, out_dim):
    """The encoder of `config.architecture`: images [B, *input_shape] -> [B, out_dim]."""
    if config.architecture == "mlp":
        return MLPEncoder(config.hidden_units, out_dim, name="encoder")
    return ConvEncoder(config.hidden_units, out_dim, name="encoder")


def make_decoder(config, out_channels):
    """The decoder of `config.architecture`: latents [..., L] -> [..., H, W, out_channels]."""
    if config.architecture == "mlp":
        return MLPDecoder(config.hidden_units, config.input_shape, out_channels, name="decoder")
    return ConvDecoder(config.hidden_units, config.input_shape, out_channels, name="decoder")
