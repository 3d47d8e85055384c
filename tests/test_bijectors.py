"""Planar and radial flows: round trips, log-dets against autodiff Jacobians, the invertibility constraints, densities
that integrate to one, the builders, and graph mode.

Results of `forward` and `inverse` pass through tf.identity before going back in: TFP caches each bijector's
x <-> y pairs by tensor, and a cache hit would make a round trip exact whatever the inverse computes.
"""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

from tfvae.bijectors import Planar, Radial, num_flow_params, planar_flow, radial_flow

tfd = tfp.distributions


def random_params(shape, seed=0, scale=1.0, dtype=tf.float32):
    return tf.constant(np.random.default_rng(seed).normal(size=shape) * scale, dtype)


def make_bijector(kind, batch, dim, seed=0, scale=1.0, dtype=tf.float32):
    """A Planar or Radial bijector with random raw params of batch shape `batch` in `dim` dimensions."""
    vector = random_params([*batch, 2 * dim], seed, scale, dtype)
    scalar = random_params([*batch, 2], seed + 100, scale, dtype)
    if kind == "planar":
        return Planar(vector[..., :dim], vector[..., dim:], scalar[..., 0])
    return Radial(vector[..., :dim], scalar[..., 0], scalar[..., 1])


def log_abs_det(jacobian):
    return np.linalg.slogdet(np.asarray(jacobian, np.float64))[1]


KINDS = ["planar", "radial"]
SHAPES = [(3, 5, 2), (7, 2, 3)]  # (B, D, k): x [k, B, D]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("batch,dim,k", SHAPES)
@pytest.mark.parametrize("scale,dtype,tolerance", [(1.0, tf.float32, 1e-5), (1.0, tf.float64, 1e-10),
                                                   (3.0, tf.float64, 1e-10)])
def test_round_trip(kind, batch, dim, k, scale, dtype, tolerance):
    """x -> y -> x and y -> x -> y. Large params (scale 3) reach the constraints, where a step contracts some region
    by factors in the thousands (radial: gamma / alpha near z0; planar: w^T u_hat near -1 near the hyperplane
    w^T x + b = 0); float32 cannot round-trip there, as the contracted points are no longer distinct, so those params
    are checked in float64, which tests the same formulas and root finder."""
    bijector = make_bijector(kind, [batch], dim, seed=dim, scale=scale, dtype=dtype)
    x = random_params([k, batch, dim], seed=10 + dim, scale=scale, dtype=dtype)
    x_again = bijector.inverse(tf.identity(bijector.forward(x)))
    np.testing.assert_allclose(x_again.numpy(), x.numpy(), rtol=tolerance, atol=tolerance)
    y_again = bijector.forward(tf.identity(bijector.inverse(x)))
    np.testing.assert_allclose(y_again.numpy(), x.numpy(), rtol=tolerance, atol=tolerance)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("scale", [1.0, 3.0])
def test_log_dets_match_autodiff_jacobians(kind, scale):
    bijector = make_bijector(kind, [7], 3, seed=1, scale=scale)
    x = random_params([7, 3], seed=2, scale=scale)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = bijector.forward(x)
    fldj = bijector.forward_log_det_jacobian(x, event_ndims=1)  # [B]
    np.testing.assert_allclose(fldj.numpy(), log_abs_det(tape.batch_jacobian(y, x)), rtol=1e-4, atol=1e-4)

    # The inverse log-det against the autodiff Jacobian of the inverse (for planar, the implicit gradient of the root
    # finder), and against minus the forward log-det at the inverse point.
    y = tf.identity(y)
    with tf.GradientTape() as tape:
        tape.watch(y)
        x_inv = bijector.inverse(y)
    ildj = bijector.inverse_log_det_jacobian(y, event_ndims=1)
    np.testing.assert_allclose(ildj.numpy(), log_abs_det(tape.batch_jacobian(x_inv, y)), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(ildj.numpy(), -fldj.numpy(), rtol=1e-4, atol=1e-4)
    fresh = make_bijector(kind, [7], 3, seed=1, scale=scale)  # no cache: the fldj at the computed inverse point
    np.testing.assert_allclose(ildj.numpy(), -fresh.forward_log_det_jacobian(x_inv, 1).numpy(), rtol=1e-5, atol=1e-5)


def test_planar_inverse_gradients_wrt_params_match_finite_differences():
    """In float64, central differences along a random direction per parameter, step 1e-6 (error ~1e-10)."""
    params = [random_params(shape, 3 + i, dtype=tf.float64) for i, shape in enumerate([[3, 5], [3, 5], [3]])]
    y = random_params([2, 3, 5], 6, scale=2.0, dtype=tf.float64)

    def loss(u, w, b):
        return tf.reduce_sum(tf.sin(Planar(u, w, b).inverse(y)))

    with tf.GradientTape() as tape:
        tape.watch(params)
        value = loss(*params)
    grads = tape.gradient(value, params)
    step = 1e-6
    for i, (param, grad) in enumerate(zip(params, grads)):
        direction = random_params(param.shape, 7 + i, dtype=tf.float64)
        plus, minus = list(params), list(params)
        plus[i], minus[i] = param + step * direction, param - step * direction
        numeric = (loss(*plus) - loss(*minus)).numpy() / (2 * step)
        np.testing.assert_allclose(tf.reduce_sum(grad * direction).numpy(), numeric, rtol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_finite_at_extreme_inputs(kind):
    raw = [random_params([5, 3], 8), random_params([5, 3], 9), random_params([5], 10)]
    x = tf.constant([[1e4, -1e4, 3.0], [-1e4, -1e4, -1e4], [0.0, 0.0, 0.0], [1e4, 0.0, 1e-30], [0.0, 0.0, 0.0]])
    if kind == "radial":
        x = tf.concat([x[:4], raw[0][4:]], 0)  # the last example exactly at z0
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([x, *raw])
        bijector = Planar(*raw) if kind == "planar" else Radial(raw[0], raw[1][:, 0], raw[2])
        outputs = [bijector.forward(x), bijector.inverse(x), bijector.forward_log_det_jacobian(x, 1),
                   bijector.inverse_log_det_jacobian(x, 1)]
    for out in outputs:
        assert np.all(np.isfinite(out.numpy()))
        for grad in tape.gradient(out, [x, *raw]):
            assert np.all(np.isfinite(grad.numpy()))
    if kind == "radial":  # at z0: y = z0 and the Jacobian is (1 + beta / alpha) I = (gamma / alpha) I
        np.testing.assert_allclose(outputs[0][4].numpy(), raw[0][4].numpy())
        expected = 3 * np.log(bijector.gamma()[4].numpy() / bijector.alpha()[4].numpy())
        np.testing.assert_allclose(outputs[2][4].numpy(), expected, rtol=1e-5)


def test_planar_constraint_holds_for_random_and_optimized_params():
    u, w = random_params([1000, 3], 11, scale=10.0), random_params([1000, 3], 12, scale=10.0)
    planar = Planar(u, w, tf.zeros([1000]))
    assert np.all(planar.w_dot_u_hat().numpy() >= -1.0)
    # The dot product of the float32 u_hat with w, in float64, meets the bound up to float32 rounding of u_hat.
    dot = np.sum(w.numpy().astype(np.float64) * planar.u_hat().numpy(), -1)
    assert np.all(dot >= -1.0 - 1e-6 * (1.0 + np.abs(np.sum(u.numpy() * w.numpy(), -1)))), dot.min()

    # Gradient descent on w^T u_hat pushes w^T u towards -inf. The flow must stay invertible (checked in float64, see
    # test_round_trip) with finite log-dets.
    u, w = tf.Variable(random_params([7, 2], 13)), tf.Variable(random_params([7, 2], 14))
    b = random_params([7], 15)
    optimizer = tf.keras.optimizers.SGD(1.0)
    for _ in range(20):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(w * Planar(u, w, b).u_hat())
        optimizer.apply_gradients(zip(tape.gradient(loss, [u, w]), [u, w]))
    planar = Planar(u, w, b)
    assert np.all(tf.reduce_sum(w * u, -1).numpy() < -5.0)  # pushed well past the unconstrained bound
    assert np.all(planar.w_dot_u_hat().numpy() >= -1.0)
    x = random_params([3, 7, 2], 16)
    assert np.all(np.isfinite(planar.forward_log_det_jacobian(x, 1).numpy()))
    planar = Planar(*(tf.cast(p, tf.float64) for p in (u, w, b)))
    x = tf.cast(x, tf.float64)
    np.testing.assert_allclose(planar.inverse(tf.identity(planar.forward(x))).numpy(), x.numpy(), rtol=1e-10)


def test_radial_constraint_holds_for_random_and_optimized_params():
    alpha_raw, beta_raw = random_params([1000], 17, scale=30.0), random_params([1000], 18, scale=30.0)
    radial = Radial(tf.zeros([1000, 3]), alpha_raw, beta_raw)
    assert np.all(radial.beta().numpy() >= -radial.alpha().numpy())

    # Gradient descent on beta pushes alpha up and beta + alpha down to the floor.
    z0, alpha_raw, beta_raw = (tf.Variable(random_params(shape, 19 + i)) for i, shape in enumerate([[7, 2], [7], [7]]))
    optimizer = tf.keras.optimizers.SGD(10.0)
    for _ in range(20):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(Radial(z0, alpha_raw, beta_raw).beta())
        optimizer.apply_gradients(zip(tape.gradient(loss, [alpha_raw, beta_raw]), [alpha_raw, beta_raw]))
    radial = Radial(z0, alpha_raw, beta_raw)
    assert np.all(radial.beta().numpy() >= -radial.alpha().numpy())
    assert np.all(radial.beta().numpy() < -0.9 * radial.alpha().numpy())  # close to the bound
    x = random_params([3, 7, 2], 22)
    assert np.all(np.isfinite(radial.forward_log_det_jacobian(x, 1).numpy()))
    radial = Radial(*(tf.cast(p, tf.float64) for p in (z0, alpha_raw, beta_raw)))
    x = tf.cast(x, tf.float64)
    np.testing.assert_allclose(radial.inverse(tf.identity(radial.forward(x))).numpy(), x.numpy(), rtol=1e-10)


@pytest.mark.parametrize("builder,kind,h,tolerance", [(planar_flow, "planar", 0.08, 1e-4),
                                                     (radial_flow, "radial", 0.02, 1e-3)])
def test_flow_density_integrates_to_one(builder, kind, h, tolerance):
    """The density of a 3-step flow of N(0, I_2), summed over an h-spaced grid on [-10, 10]^2.

    Each step moves points by at most |u_hat| (planar) or |beta| (radial), 3.4 (planar) and 1.2 (radial) units in all
    for these params, so the mass outside the grid is negligible (< 1e-9). The planar density is smooth and the
    midpoint rule converges fast (error below 1e-6 at h = 0.08; float32 sums add about 1e-6). The radial density has a
    cusp at each z0 (|x - z0| is not differentiable there), where the first step here contracts by
    gamma / alpha = 0.14 and the density peaks sharply; the rule's error there is O(h^2), about 2e-3 at h = 0.04 and
    2e-4 at h = 0.02. A wrong log-det is far outside either tolerance: leaving it out, or flipping its sign, gives
    integrals below 0.5 for these params.
    """
    params = random_params([num_flow_params(kind, 2, 3)], seed=23)  # unbatched: [P]
    flow = tfd.TransformedDistribution(tfd.MultivariateNormalDiag(tf.zeros(2)), builder(params, 2, 3))
    ticks = np.arange(-10 + h / 2, 10, h)
    grid = tf.constant(np.stack(np.meshgrid(ticks, ticks), -1).reshape(-1, 2), tf.float32)  # [N, 2]
    density = tf.exp(flow.log_prob(grid))  # [N]
    np.testing.assert_allclose(tf.reduce_sum(density).numpy() * h ** 2, 1.0, atol=tolerance)
    base = tf.exp(flow.distribution.log_prob(grid))
    assert np.max(np.abs(density - base)) > 0.5  # the flow does change the density


@pytest.mark.parametrize("builder,kind", [(planar_flow, "planar"), (radial_flow, "radial")])
def test_zero_params_give_the_identity(builder, kind):
    """A zero-initialized encoder head starts the posterior at its base distribution (radial: alpha = alpha + beta)."""
    chain = builder(tf.zeros([3, num_flow_params(kind, 5, 2)]), 5, 2)
    x = random_params([7, 3, 5], seed=28)
    np.testing.assert_array_equal(chain.forward(x).numpy(), x.numpy())
    np.testing.assert_allclose(chain.forward_log_det_jacobian(x, 1).numpy(), np.zeros([7, 3]), atol=1e-5)


def by_hand(kind, step_params, dim):
    """One step's bijector from its slice [B, P / K] of the params, without the builders."""
    if kind == "planar":
        return Planar(step_params[..., :dim], step_params[..., dim:2 * dim], step_params[..., 2 * dim])
    return Radial(step_params[..., :dim], step_params[..., dim], step_params[..., dim + 1])


@pytest.mark.parametrize("builder,kind,per_step", [(planar_flow, "planar", 11), (radial_flow, "radial", 7)])
def test_builders_apply_the_first_slice_first_with_sample_dims(builder, kind, per_step):
    batch, dim, steps, k = 3, 5, 2, 7
    assert num_flow_params(kind, dim, steps) == steps * per_step
    params = random_params([batch, steps * per_step], seed=24)  # [B, P]
    chain = builder(params, dim, steps)
    x = random_params([k, batch, dim], seed=25)  # [k, B, D]
    y, fldj = x, 0.0
    for i in range(steps):
        step = by_hand(kind, params[:, i * per_step:(i + 1) * per_step], dim)
        fldj += step.forward_log_det_jacobian(y, 1)
        y = step.forward(y)
    np.testing.assert_allclose(chain.forward(x).numpy(), y.numpy(), rtol=1e-6, atol=1e-6)
    assert fldj.shape == [k, batch]
    np.testing.assert_allclose(chain.forward_log_det_jacobian(x, 1).numpy(), fldj.numpy(), rtol=1e-6, atol=1e-6)
    first = chain.bijectors[-1]  # tfb.Chain applies its last bijector first
    np.testing.assert_array_equal((first.u if kind == "planar" else first.z0).numpy(), params[:, :dim].numpy())
    q = tfd.TransformedDistribution(tfd.MultivariateNormalDiag(tf.zeros(dim)), chain)
    assert q.batch_shape == [batch] and q.log_prob(x).shape == [k, batch]
    with pytest.raises(ValueError):
        builder(params[:, 1:], dim, steps)
    with pytest.raises(ValueError):
        num_flow_params("sylvester", dim, steps)


@pytest.mark.parametrize("builder,kind", [pytest.param(planar_flow, "planar", marks=pytest.mark.slow),  # slow tier
                                          (radial_flow, "radial")])
def test_flows_in_graph_mode_and_xla(builder, kind):
    """Built inside a tf.function from params, as a model would: unknown sample and batch sizes, then XLA."""
    dim, steps = 3, 2
    params = random_params([5, num_flow_params(kind, dim, steps)], seed=26)  # [B, P]
    eps = random_params([2, 5, dim], seed=27)  # [k, B, D]

    def run(params, eps):
        with tf.GradientTape() as tape:
            tape.watch(params)
            q = tfd.TransformedDistribution(tfd.MultivariateNormalDiag(tf.zeros(dim)), builder(params, dim, steps))
            z = q.bijector.forward(eps)
            log_q = q.log_prob(z)  # [k, B], through the bijectors' cache
            log_q_eps = q.log_prob(tf.identity(eps))  # [k, B], at points not from forward: the inverse is computed
            loss = tf.reduce_sum(log_q) + tf.reduce_sum(log_q_eps)
        return z, log_q, log_q_eps, tape.gradient(loss, params)

    signature = [tf.TensorSpec([None, params.shape[-1]]), tf.TensorSpec([None, None, dim])]
    eager = run(params, eps)
    for compiled in (tf.function(run, input_signature=signature), tf.function(run, jit_compile=True)):
        for got, want in zip(compiled(params, eps), eager):
            assert np.all(np.isfinite(got.numpy()))
            np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-4, atol=1e-4)
