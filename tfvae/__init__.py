"""tfvae: variational autoencoders on TensorFlow, Keras 3 and TensorFlow Probability.

`tfvae.denoise(image, sigma)` restores a noisy image with the shipped convolutional prior
(tfvae/restoration/denoise.py);
`tfvae.restore(image, degradation)` inverts a known linear degradation, `tfvae.degradations` holds them (Inpaint, Blur,
Downsample, Noise; tfvae/restoration/restore.py);
`tfvae.colorize(image)` colourizes a grey image with the shipped colorizer (tfvae/colorization/inference.py).
"""

__version__ = "0.1.0"


def __getattr__(name):
    """The plain functions at the top level, imported when first used (so `import tfvae` stays light)."""
    if name == "denoise":
        from tfvae.restoration.denoise import denoise  # pylint: disable=g-import-not-at-top
        return denoise
    if name == "restore":
        from tfvae.restoration.restore import restore  # pylint: disable=g-import-not-at-top
        return restore
    if name == "degradations":
        from tfvae.restoration import degradations  # pylint: disable=g-import-not-at-top
        return degradations
    if name == "colorize":
        from tfvae.colorization.inference import colorize  # pylint: disable=g-import-not-at-top
        return colorize
    raise AttributeError(f"module 'tfvae' has no attribute {name!r}")
