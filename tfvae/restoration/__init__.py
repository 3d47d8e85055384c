"""Image restoration with patch priors: patch extraction (patches), a Gaussian mixture prior (gmm), EPLL (epll),
patches for training priors (patch_data) and the front end for whole images (denoise)."""

from tfvae.restoration import denoise, epll, gmm, patch_data, patches
