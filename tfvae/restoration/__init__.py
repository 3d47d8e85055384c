"""Image restoration: patch extraction (patches), a Gaussian mixture prior (gmm), a learned patch denoiser prior
(deep_prior), a normalizing-flow prior (flow_prior), the convolutional prior (conv_prior), EPLL (epll), plug-and-play
splitting (pnp), patches for training priors (patch_data), the front end for noisy images (denoise), linear
degradations (degradations) and the restoration loop for any of them (restore)."""

from tfvae.restoration import (conv_prior, deep_prior, degradations, denoise, epll, flow_prior, gmm, patch_data,
                               patches, pnp, restore)
