"""Prior families p(z), learned jointly with the model and built fresh on every call.

- `normal`: N(0, I).
- `mog`: a learned mixture of diagonal Gaussians (a cheap baseline; Tomczak & Welling 2018 motivate learned priors).
- `realnvp`: N(0, I) pushed through affine coupling layers (Dinh et al. 2017): sampling and log p(z) are one pass.
- `maf`: N(0, I) pushed through masked autoregressive layers (Papamakarios et al. 2017): log p(z) is one pass,
  sampling is sequential over the latent dimensions.
The networks are weights of this layer (tfvae/distributions/flows.py), so the model trains and saves them.
"""

import keras

from tfvae.distributions import latents
from tfvae.distributions.flows import MAFPrior, MixturePrior, RealNVPPrior


@keras.saving.register_keras_serializable(package="tfvae")
class Prior(keras.layers.Layer):
    """p(z) of one of the families above."""

    def __init__(self, kind, latent_dim, steps=4, width=64, components=10, **kwargs):
        super().__init__(**kwargs)
        self.kind, self.latent_dim, self.steps = kind, latent_dim, steps
        self.width, self.components = width, components
        if kind == "mog":
            self.flow = MixturePrior(latent_dim, components, name="mog")
        elif kind == "realnvp":
            self.flow = RealNVPPrior(latent_dim, steps, (width, width), name="realnvp")
        elif kind == "maf":
            self.flow = MAFPrior(latent_dim, steps, (width, width), name="maf")
        else:
            self.flow = None

    def distribution(self):
        """p(z) with event shape [L]."""
        return latents.standard_normal(self.latent_dim) if self.flow is None else self.flow.distribution()

    def get_config(self):
        return {**super().get_config(), "kind": self.kind, "latent_dim": self.latent_dim, "steps": self.steps,
                "width": self.width, "components": self.components}
