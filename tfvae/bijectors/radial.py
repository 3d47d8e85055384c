"""The radial flow (Rezende & Mohamed 2015, "Variational Inference with Normalizing Flows", eq. 14, Appendix A).

    y = x + beta h(r) (x - z0),   h(r) = 1 / (alpha + r),   r = |x - z0|       x, y [..., B, D]; z0 [B, D]
    alpha = softplus(alpha_raw) + FLOOR,   beta = -alpha + softplus(beta_raw) + FLOOR     alpha_raw, beta_raw [B]
    log|det dy/dx| = (D - 1) log(1 + beta h) + log(1 + beta h - beta r / (alpha + r)^2)

B is the parameters' batch shape (any number of dimensions, broadcasting against the input's); inputs may carry extra
leading sample dimensions "...", e.g. x [k, B, D]. beta >= -alpha (Appendix A) makes r -> r (1 + beta h(r))
increasing, so the flow is invertible, in closed form: rho = |y - z0| = r (1 + beta / (alpha + r)) rearranges to
    r^2 + (alpha + beta - rho) r - alpha rho = 0,
whose non-negative root gives r, and then x = z0 + (y - z0) / (1 + beta h(r)).

Everything is written with gamma = alpha + beta = softplus(beta_raw) + FLOOR, computed directly, so that no formula
subtracts nearly equal numbers when beta is close to -alpha:
    1 + beta h = (gamma + r) / (alpha + r)
    1 + beta h - beta r / (alpha + r)^2 = 1 + alpha beta / (alpha + r)^2
                                        = (r^2 + 2 alpha r + alpha gamma) / (alpha + r)^2
"""

import tensorflow as tf
import tensorflow_probability as tfp

tfb = tfp.bijectors

# alpha >= FLOOR keeps h(r) = 1 / (alpha + r) finite at r = 0 (x exactly at z0), and alpha + beta >= FLOOR keeps the
# Jacobian there, (1 + beta / alpha) I, non-singular, even where softplus underflows for very negative raw params.
FLOOR = 1e-4


class Radial(tfb.Bijector):
    """y = x + beta (x - z0) / (alpha + |x - z0|) on events [D]; see the module docstring. z0 [B, D], raw params [B]."""

    def __init__(self, z0, alpha_raw, beta_raw, validate_args=False, name="radial"):
        parameters = dict(locals())
        with tf.name_scope(name) as name:
            self._z0 = tf.convert_to_tensor(z0, dtype_hint=tf.float32, name="z0")
            self._alpha_raw = tf.convert_to_tensor(alpha_raw, dtype=self._z0.dtype, name="alpha_raw")
            self._beta_raw = tf.convert_to_tensor(beta_raw, dtype=self._z0.dtype, name="beta_raw")
            super().__init__(forward_min_event_ndims=1, dtype=self._z0.dtype, validate_args=validate_args,
                             parameters=parameters, name=name)

    @property
    def z0(self):
        return self._z0

    @property
    def alpha_raw(self):
        return self._alpha_raw

    @property
    def beta_raw(self):
        return self._beta_raw

    @classmethod
    def _parameter_properties(cls, dtype):
        return {"z0": tfp.util.ParameterProperties(event_ndims=1),
                "alpha_raw": tfp.util.ParameterProperties(),
                "beta_raw": tfp.util.ParameterProperties()}

    def alpha(self):
        """alpha = softplus(alpha_raw) + FLOOR [B]."""
        return tf.nn.softplus(self.alpha_raw) + FLOOR

    def gamma(self):
        """gamma = alpha + beta = softplus(beta_raw) + FLOOR [B], > 0."""
        return tf.nn.softplus(self.beta_raw) + FLOOR

    def beta(self):
        """beta = -alpha + gamma [B]; beta >= -alpha holds exactly in floating point, as rounding is monotone."""
        return -self.alpha() + self.gamma()

    def _forward(self, x):
        d = x - self.z0  # [..., B, D]
        scale = self.beta() / (self.alpha() + _safe_norm(d))  # beta h(r) [..., B]
        return x + scale[..., tf.newaxis] * d

    def _forward_log_det_jacobian(self, x):
        alpha, gamma, r = self.alpha(), self.gamma(), _safe_norm(x - self.z0)  # [B], [B], [..., B]
        dim = tf.cast(tf.shape(x)[-1], x.dtype)
        # (D - 1) log((gamma + r) / (alpha + r)) + log((r^2 + 2 alpha r + alpha gamma) / (alpha + r)^2); every
        # argument of a log is at least FLOOR^2 > 0 (module docstring).
        return ((dim - 1.0) * tf.math.log(gamma + r) + tf.math.log(r * (r + 2.0 * alpha) + alpha * gamma)
                - (dim + 1.0) * tf.math.log(alpha + r))

    def _inverse(self, y):
        alpha, gamma = self.alpha(), self.gamma()
        d = y - self.z0  # [..., B, D]
        rho = _safe_norm(d)  # [..., B]
        # The non-negative root of r^2 - c r - alpha rho = 0, c = rho - gamma: r = (c + sqrt(c^2 + 4 alpha rho)) / 2.
        # For c < 0 that form subtracts nearly equal numbers; the product of the roots, -alpha rho, gives the same
        # root as 2 alpha rho / (sqrt(...) - c), which then adds two positive numbers. The denominator is written
        # sqrt(...) + |c| so that the branch tf.where does not take stays finite (and so does its gradient); it is
        # positive because rho = 0 implies c = -gamma < 0.
        c = rho - gamma
        root = tf.sqrt(tf.square(c) + 4.0 * alpha * rho)
        r = tf.where(c >= 0.0, 0.5 * (c + root), 2.0 * alpha * rho / (root + tf.abs(c)))  # [..., B]
        return self.z0 + d * ((alpha + r) / (gamma + r))[..., tf.newaxis]  # (y - z0) / (1 + beta h(r))


def _safe_norm(v):
    """|v| over the last axis [...], with gradient 0 rather than NaN at v = 0.

    sqrt has an infinite derivative at 0 and 0 * inf = NaN; the inner tf.where keeps sqrt away from 0. The zero
    gradient is the right one for the flow: y - z0 = (x - z0)(1 + beta h(r)), so r's gradient is multiplied by
    x - z0 = 0 there, and the Jacobian at z0 is (1 + beta / alpha) I.
    """
    sq = tf.reduce_sum(tf.square(v), axis=-1)
    positive = sq > 0.0
    return tf.where(positive, tf.sqrt(tf.where(positive, sq, 1.0)), 0.0)
