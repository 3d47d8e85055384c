"""Normalizing-flow bijectors for amortized posteriors: planar and radial flows (Rezende & Mohamed 2015).

`planar_flow` and `radial_flow` turn an encoder output params [B, P], P = num_flow_params(kind, D, K), into a
`tfb.Chain` of K steps that applies step 1 first. Step k reads the k-th of K equal slices of the last axis:

    planar: [u (D), w (D), b (1)]                radial: [z0 (D), alpha_raw (1), beta_raw (1)]

The chain acts on x [..., B, D] with any leading sample shape.
"""

import tensorflow as tf
import tensorflow_probability as tfp

from tfvae.bijectors.planar import Planar
from tfvae.bijectors.radial import Radial

tfb = tfp.bijectors

PARAMS_PER_STEP = {"planar": lambda dim: 2 * dim + 1, "radial": lambda dim: dim + 2}


def num_flow_params(kind, latent_dim, steps):
    """P, the size of the last axis of the params a flow of `steps` steps of `kind` reads: K (2D + 1) or K (D + 2)."""
    if kind not in PARAMS_PER_STEP:
        raise ValueError(f"Unknown flow {kind!r}; expected one of {sorted(PARAMS_PER_STEP)}.")
    return steps * PARAMS_PER_STEP[kind](latent_dim)


def planar_flow(params, latent_dim, steps):
    """K planar steps from params [B, K (2D + 1)], step 1 first."""
    bijectors = []
    for k, step in enumerate(_split_steps(params, "planar", latent_dim, steps)):
        u, w, b = tf.split(step, [latent_dim, latent_dim, 1], axis=-1)  # [B, D], [B, D], [B, 1]
        bijectors.append(Planar(u, w, b[..., 0], name=f"planar_{k}"))
    return _chain(bijectors, "planar_flow")


def radial_flow(params, latent_dim, steps):
    """K radial steps from params [B, K (D + 2)], step 1 first."""
    bijectors = []
    for k, step in enumerate(_split_steps(params, "radial", latent_dim, steps)):
        z0, alpha_raw, beta_raw = tf.split(step, [latent_dim, 1, 1], axis=-1)  # [B, D], [B, 1], [B, 1]
        bijectors.append(Radial(z0, alpha_raw[..., 0], beta_raw[..., 0], name=f"radial_{k}"))
    return _chain(bijectors, "radial_flow")


def _split_steps(params, kind, latent_dim, steps):
    """The K per-step slices [B, P / K] of params [B, P], step 1 first."""
    params = tf.convert_to_tensor(params, dtype_hint=tf.float32)
    expected = num_flow_params(kind, latent_dim, steps)
    if params.shape[-1] != expected:
        raise ValueError(f"A {steps}-step {kind} flow in {latent_dim} dimensions reads {expected} params per example, "
                         f"got {params.shape[-1]}.")
    return tf.split(params, steps, axis=-1)


def _chain(bijectors, name):
    # tfb.Chain applies its list last to first: reverse it so that step 1 acts on the base sample first.
    return tfb.Chain(bijectors[::-1], name=name)
