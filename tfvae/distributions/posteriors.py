"""Posterior families q(z|x) built from encoder features, fresh on every call.

- `diag`: q = N(loc, diag(scale^2)) from features [loc, raw scale] (tfvae/distributions/latents.py).
- `planar`, `radial`: that Gaussian followed by K amortized planar or radial steps (Rezende & Mohamed 2015) whose
  parameters are further encoder features, so the flow itself depends on x (tfvae/bijectors).
- `iaf`: that Gaussian followed by K inverse-autoregressive steps (Kingma et al. 2016) whose MADE networks are weights
  of this layer and see a context vector h(x) from the encoder (tfvae/distributions/flows.py).

log q(z|x) of a sample follows the change of variables, log q0(z0) - sum_k log |det dz_k / dz_(k-1)|.
"""

import keras
import tensorflow_probability as tfp

from tfvae import bijectors
from tfvae.distributions import latents
from tfvae.distributions.flows import IAFPosterior

tfd = tfp.distributions


@keras.saving.register_keras_serializable(package="tfvae")
class Posterior(keras.layers.Layer):
    """q(z|x) of one of the families above; `num_features` is the encoder output size it needs."""

    def __init__(self, kind, latent_dim, steps=4, width=64, **kwargs):
        super().__init__(**kwargs)
        self.kind, self.latent_dim, self.steps, self.width = kind, latent_dim, steps, width
        self.iaf = IAFPosterior(latent_dim, steps, (width,), width, name="iaf") if kind == "iaf" else None

    @property
    def num_features(self):
        extra = {"diag": 0, "iaf": self.width}.get(self.kind)
        if extra is None:
            extra = bijectors.num_flow_params(self.kind, self.latent_dim, self.steps)
        return 2 * self.latent_dim + extra

    def base(self, features):
        """The Gaussian q0(z|x) before any flow step (q itself for `diag`): batch [B], event [L]."""
        return latents.diagonal_gaussian(features[..., : 2 * self.latent_dim])

    def distribution(self, features):
        """features [B, num_features] -> q(z|x) with batch [B] and event [L]."""
        base = self.base(features)
        if self.kind == "diag":
            return base
        rest = features[..., 2 * self.latent_dim:]
        if self.kind == "iaf":
            return self.iaf.distribution(base.loc, base.stddev(), rest)
        flow = {"planar": bijectors.planar_flow, "radial": bijectors.radial_flow}[self.kind]
        return tfd.TransformedDistribution(base, flow(rest, self.latent_dim, self.steps))

    def get_config(self):
        return {**super().get_config(), "kind": self.kind, "latent_dim": self.latent_dim, "steps": self.steps,
                "width": self.width}


def point(distribution):
    """A deterministic latent of q: its mean where TFP has it in closed form, else the flow applied to the base mean."""
    try:
        return distribution.mean()
    except NotImplementedError:
        return distribution.bijector.forward(point(distribution.distribution))

