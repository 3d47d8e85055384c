"""The planar flow (Rezende & Mohamed 2015, "Variational Inference with Normalizing Flows", eq. 10-12, Appendix A).

    y = x + u_hat tanh(w^T x + b)                                     x, y [..., B, D]; u, w [B, D]; b [B]
    u_hat = u + (m(w^T u) - w^T u) w / |w|^2,   m(a) = -1 + softplus(a)   so  w^T u_hat = m(w^T u) >= -1
    log|det dy/dx| = log|1 + (1 - tanh^2(w^T x + b)) w^T u_hat|

The parameters are tensors (an encoder's output) with batch shape B (any number of dimensions, broadcasting against
the input's); inputs may carry extra leading sample dimensions "...", e.g. x [k, B, D].

w^T u_hat >= -1 makes the scalar map alpha -> alpha + w^T u_hat tanh(alpha + b) non-decreasing, and that is what makes
the flow invertible: with alpha = w^T x, projecting y onto w gives w^T y = alpha + w^T u_hat tanh(alpha + b), a monotone
scalar equation for alpha; then x = y - u_hat tanh(alpha + b). The inverse solves it with Chandrupatla's bracketed
method (`tfp.math.find_root_chandrupatla`), a few iterations for well-conditioned elements and at most MAX_ITERATIONS,
and differentiates through the solution by the implicit function theorem rather than through the solver's loop.
Everything works in graph mode and under `tf.function(jit_compile=True)` (the solver is a `tf.while_loop`).
"""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

tfb = tfp.bijectors

# Chandrupatla's method falls back to bisection, which needs about 24 (float32) or 53 (float64) halvings to shrink the
# bracket to the tolerance; in practice it takes about 5 iterations on average and under 30 for the hardest elements
# (w^T u_hat near -1, |x| up to 1e4). The loop runs until every element of the batch has converged.
MAX_ITERATIONS = 60


class Planar(tfb.Bijector):
    """y = x + u_hat tanh(w^T x + b) on events [D]; see the module docstring. u, w [B, D], b [B]."""

    def __init__(self, u, w, b, validate_args=False, name="planar"):
        parameters = dict(locals())
        with tf.name_scope(name) as name:
            self._u = tf.convert_to_tensor(u, dtype_hint=tf.float32, name="u")
            self._w = tf.convert_to_tensor(w, dtype=self._u.dtype, name="w")
            self._b = tf.convert_to_tensor(b, dtype=self._u.dtype, name="b")
            super().__init__(forward_min_event_ndims=1, dtype=self._u.dtype, validate_args=validate_args,
                             parameters=parameters, name=name)

    @property
    def u(self):
        return self._u

    @property
    def w(self):
        return self._w

    @property
    def b(self):
        return self._b

    @classmethod
    def _parameter_properties(cls, dtype):
        return {"u": tfp.util.ParameterProperties(event_ndims=1),
                "w": tfp.util.ParameterProperties(event_ndims=1),
                "b": tfp.util.ParameterProperties()}

    def u_hat(self):
        """The constrained u_hat [B, D]."""
        return self._constrained()[0]

    def w_dot_u_hat(self):
        """w^T u_hat [B], >= -1 by construction (computed as softplus(w^T u) - 1, not as a dot product)."""
        return self._constrained()[1] - 1.0

    def _constrained(self):
        """u_hat [B, D] and 1 + w^T u_hat [B] (Appendix A)."""
        a = tf.reduce_sum(self.w * self.u, axis=-1)  # w^T u [B]
        w_sq = tf.reduce_sum(tf.square(self.w), axis=-1)  # [B]
        # w = 0 (say from a zero-initialized encoder head) makes the flow the shift x + u tanh(b) whatever u_hat is;
        # keep u_hat = u there rather than divide by zero. Below the smallest normal float, 1 / |w|^2 would overflow,
        # and w is then so small that w^T u_hat = w^T u ~ 0.
        nonzero = w_sq >= np.finfo(self.dtype.as_numpy_dtype).tiny
        # m(a) - a = softplus(a) - 1 - a = softplus(-a) - 1: the right-hand side has no cancellation for large |a|.
        # The inner tf.where keeps the unused branch, and so its gradient, finite.
        coefficient = tf.where(nonzero, (tf.nn.softplus(-a) - 1.0) / tf.where(nonzero, w_sq, 1.0), 0.0)
        u_hat = self.u + coefficient[..., tf.newaxis] * self.w
        # 1 + w^T u_hat = 1 + m(a) = softplus(a) >= 0, computed without forming -1 + 1.
        one_plus_s = tf.where(nonzero, tf.nn.softplus(a), 1.0 + a)
        return u_hat, one_plus_s

    def _forward(self, x):
        u_hat, _ = self._constrained()
        t = tf.tanh(tf.reduce_sum(self.w * x, axis=-1) + self.b)  # [..., B]
        return x + u_hat * t[..., tf.newaxis]

    def _forward_log_det_jacobian(self, x):
        _, one_plus_s = self._constrained()
        return _log_jacobian_factor(tf.reduce_sum(self.w * x, axis=-1) + self.b, one_plus_s)  # [..., B]

    def _inverse(self, y):
        u_hat, one_plus_s = self._constrained()
        s = one_plus_s - 1.0  # w^T u_hat [B]
        target = tf.reduce_sum(self.w * y, axis=-1)  # w^T y [..., B]

        def residual(alpha, s, b, target):
            return alpha + s * tf.tanh(alpha + b) - target

        # The solver sees constants; the gradient comes from the implicit function theorem below.
        s_, b_, target_ = (tf.stop_gradient(v) for v in (s, self.b, target))
        # The tolerance is float precision at the scale of the numbers involved; a tighter one cannot be met and would
        # only spend MAX_ITERATIONS. |s tanh| <= |s| puts the root in [target - |s|, target + |s|], and it is the
        # only one as the residual is non-decreasing (s >= -1). But where tanh saturates the root can sit on an end of
        # that interval, and rounding may then give both ends the same sign, which the solver needs to differ: the
        # bracket is widened by a margin of 1024 tolerances, far above the residual's rounding error (a few
        # tolerances), so that the residual is strictly negative at `low` and positive at `high`.
        tolerance = np.finfo(self.dtype.as_numpy_dtype).eps * (1.0 + tf.abs(target_) + tf.abs(s_))  # [..., B]
        half_width = tf.abs(s_) + 1024.0 * tolerance
        root = tfp.math.find_root_chandrupatla(
            lambda alpha: residual(alpha, s_, b_, target_), low=target_ - half_width, high=target_ + half_width,
            position_tolerance=tolerance, max_iterations=MAX_ITERATIONS).estimated_root  # alpha [..., B]
        # Implicit differentiation: alpha(theta) solves residual(alpha, theta) = 0, so
        # d alpha = -d residual / residual'. The correction below is exactly zero in value and carries that gradient to
        # s, b and y. residual' is the Jacobian factor 1 + (1 - tanh^2) s, floored (see _log_jacobian_factor) so that
        # the gradient stays finite where the flow is singular.
        value = residual(root, s, self.b, target)
        slope = tf.stop_gradient(tf.exp(_log_jacobian_factor(root + self.b, one_plus_s)))
        alpha = root - (value - tf.stop_gradient(value)) / slope
        return y - u_hat * tf.tanh(alpha + self.b)[..., tf.newaxis]


def _log_jacobian_factor(z, one_plus_s):
    """log(1 + (1 - tanh^2 z) s) [...] for s = w^T u_hat >= -1, given z [...] and 1 + s, without cancellation.

    With e = exp(-2|z|): tanh^2 z = (1 - e)^2 / (1 + e)^2 and 1 - tanh^2 z = 4e / (1 + e)^2, so
        1 + (1 - tanh^2 z) s = tanh^2 z + (1 - tanh^2 z)(1 + s) = ((1 - e)^2 + 4e (1 + s)) / (1 + e)^2,
    a sum of non-negative terms: no abs is needed, 1 - e = -expm1(-2|z|) stays accurate near z = 0, and e underflows
    harmlessly for large |z|. It vanishes only at s = -1 and z = 0, where the flow is not locally invertible; the floor
    `tiny` puts that point at log(tiny) (about -87 in float32) rather than -inf, so that a single unlucky sample cannot
    turn a loss into inf or NaN.
    """
    e = tf.exp(-2.0 * tf.abs(z))
    numerator = tf.square(tf.math.expm1(-2.0 * tf.abs(z))) + 4.0 * e * one_plus_s
    tiny = np.finfo(z.dtype.as_numpy_dtype).tiny
    return tf.math.log(tf.maximum(numerator, tiny)) - 2.0 * tf.math.log1p(e)
