"""Image restoration with patch priors: patch extraction (patches), a Gaussian mixture prior (gmm), EPLL (epll)."""

from tfvae.restoration import epll, gmm, patches
