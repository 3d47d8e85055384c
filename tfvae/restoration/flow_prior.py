"""A normalizing-flow density over DC-removed patches, and its patch MAP by gradient steps, for EPLL.

Coordinates. A DC-removed p x p patch x [D] (D = p * p) lies in the (D - 1)-dimensional subspace 1^T x = 0, where a
density on R^D does not exist. A fixed orthonormal basis B [D, D - 1] of that subspace (the principal axes of the
training patches within it) maps it isometrically to u = B^T x in R^(D-1) (log |det| = 0: x = B u on the subspace),
and a fixed diagonal scaling whitens it, w = u / s with s_d = sqrt(max(l_d, SCALE_FLOOR^2)), l_d the variance of the
training patches along axis d. The density of w is a flow q: N(0, I) pushed through learned bijections, the library's
RealNVP or MAF prior (tfvae/distributions/priors.py, flows.py). By the change of variables

    log p(x) = log q(B^T x / s) - sum_d log s_d                                                    (nats)

a proper density on the subspace (with respect to its (D - 1)-dimensional Lebesgue measure). The flow starts near the
identity, so p starts near N(0, B diag(s^2) B^T), the Gaussian of the training patches. Training maximizes the mean
log p of the patches plus uniform dequantization noise of one 8-bit level (Theis et al. 2016), so that the flow
cannot put spikes on the lattice of 8-bit values.

MAP (EPLL's z-step, Zoran & Weiss 2011): for y = x + N(0, sigma^2 I), maximize log p(x) - ||x - y||^2 / (2 sigma^2).
With v = B^T y (||x - y|| = ||B^T x - v|| for x, y in the subspace), in w coordinates that is

    J(w) = log q(w) - ||s w - v||^2 / (2 sigma^2),

maximized by `map_steps` preconditioned gradient steps w <- w + eta P grad J(w), P = diag(sigma^2 / (sigma^2 + s^2)),
the inverse of -Hessian J when q = N(0, I) (then a step of eta = 1 is Newton's, and exact), started at the Wiener
estimate w_0 = s v / (s^2 + sigma^2) (the MAP under that Gaussian). A step is kept for a patch only where J rose;
otherwise the patch stays and its eta halves (backtracking), so J never decreases. eta starts at INITIAL_STEP = 0.3:
with the shipped flow on noisy Set12 patches, steps of 1 were mostly rejected, and 3 steps starting from 0.3 reached a
9% lower patch MSE at sigma 25 than starting from 1. Each step is one forward and one backward pass of the flow for all
the patches of a batch (XLA-compiled); batches of MAP_BATCH patches bound the memory.
"""


import keras
import numpy as np
import tensorflow as tf

from tfvae import training
from tfvae.data import step_batches
from tfvae.distributions.priors import Prior
from tfvae.models.base import TermsModel, replica_rows
from tfvae.restoration.gmm import as_patches
from tfvae.restoration.patches import map_batches
from tfvae.seeds import BASE_STREAM, fold

FLOWS = ("realnvp", "maf")
SCALE_FLOOR = 1e-3  # smallest whitening scale: a standard deviation of 1/4 of an 8-bit level ([0, 1] scale)
QUANTUM = 1 / 255  # the 8-bit level: training patches get U(-1/2, 1/2) of it per pixel (dequantization)
MAP_BATCH = 8192  # patches per MAP batch: the flow's activations for forward and backward stay ~100 MB
INITIAL_STEP = 0.3  # eta of the first step (module docstring)
MIN_VARIANCE = 1e-12  # noise variance floor, so that noise_sigma = 0 gives y back instead of dividing by zero


def whitening(patches, scale_floor=SCALE_FLOOR):
    """(B [D, D - 1], s [D - 1]) of DC-removed patches [N, D]: an orthonormal basis of the zero-mean subspace along
    the patches' principal axes (variance decreasing), and the standard deviations along them, floored."""
    patches = np.asarray(patches, np.float64)
    dim = patches.shape[1]
    _, centering = np.linalg.eigh(np.eye(dim) - 1.0 / dim)  # eigenvalues 0 (the DC direction), then 1 (D - 1 times)
    subspace = centering[:, 1:]  # [D, D - 1], orthonormal, orthogonal to the all-ones vector
    projected = patches @ subspace
    variances, axes = np.linalg.eigh(projected.T @ projected / len(patches))
    order = np.argsort(variances)[::-1]
    basis = subspace @ axes[:, order]
    return basis.astype(np.float32), np.sqrt(np.maximum(variances[order], scale_floor ** 2)).astype(np.float32)


@keras.saving.register_keras_serializable(package="tfvae")
class FlowPatchPrior(TermsModel):
    """log p(x) of DC-removed patches [N, D] under a flow on the whitened zero-mean subspace (module docstring).

    flow: "realnvp" or "maf"; layers: flow steps; width: hidden units of each step's two-layer network;
    map_steps: gradient steps of denoise_patches; seed: of the training noise.
    """

    TERMS = ("nll",)
    LOSS = "nll"

    def __init__(self, dim=64, flow="realnvp", layers=6, width=128, map_steps=3, seed=0, **kwargs):
        super().__init__(**kwargs)
        if flow not in FLOWS:
            raise ValueError(f"flow must be one of {FLOWS}, got {flow!r}")
        self.dim, self.flow_kind, self.flow_layers, self.width = dim, flow, layers, width  # Model.layers is Keras's
        self.map_steps, self.seed = map_steps, seed
        self.flow = Prior(flow, dim - 1, steps=layers, width=width, name="flow")
        self.basis = self.add_weight(shape=(dim, dim - 1), initializer="zeros", trainable=False, name="basis")
        self.scale = self.add_weight(shape=(dim - 1,), initializer="ones", trainable=False, name="scale")

    def set_whitening(self, patches):
        """B and s from DC-removed training patches [N, D] (`whitening`)."""
        basis, scale = whitening(patches)
        self.basis.assign(basis)
        self.scale.assign(scale)

    def whiten(self, patches):
        """w = B^T x / s: patches [N, D] -> [N, D - 1]."""
        return tf.matmul(patches, self.basis) / self.scale

    def log_prob(self, patches):
        """log p(x) [N] in nats of DC-removed patches [N, D] (any patch mean is projected out), in batches of
        MAP_BATCH."""
        return _in_batches(self.call, as_patches(patches, self.dim))

    def call(self, patches):
        """log p(x) [N] of patches [N, D] in one batch."""
        return self.flow.distribution().log_prob(self.whiten(patches)) - tf.reduce_sum(tf.math.log(self.scale))

    def denoise_patches(self, noisy, noise_sigma, steps=None):
        """MAP estimates [N, D] of clean patches from DC-removed noisy ones y = x + N(0, noise_sigma^2 I), [N, D].

        noise_sigma: a scalar >= 0 (Python number or tensor); steps: gradient steps (None: self.map_steps).
        """
        noisy = as_patches(noisy, self.dim)
        variance = tf.maximum(tf.square(tf.cast(noise_sigma, tf.float32)), MIN_VARIANCE)
        steps = tf.cast(self.map_steps if steps is None else steps, tf.int32)
        return self._denoise(noisy, variance, steps)

    @tf.function(input_signature=[tf.TensorSpec([None, None]), tf.TensorSpec([]), tf.TensorSpec([], tf.int32)],
                 autograph=False)  # no Python control flow on tensors here; converting TFP's code takes seconds
    def _denoise(self, noisy, variance, steps):
        """One graph for any N and steps, traced once per prior (eager calls run at graph speed)."""
        return map_batches(lambda y: self._map(y, variance, steps), noisy, MAP_BATCH)

    # XLA, on batches of exactly MAP_BATCH patches (zero-padded; one compilation per prior): measured 20-30% faster
    # than the plain graph on one CPU core, and without it the first EPLL call spent 3-7x its run time in TensorFlow's
    # graph optimizations (once per image size).
    @tf.function(input_signature=[tf.TensorSpec([MAP_BATCH, None]), tf.TensorSpec([]), tf.TensorSpec([], tf.int32)],
                 autograph=False, jit_compile=True)
    def _map(self, noisy, variance, steps):
        """The preconditioned, backtracking gradient ascent of the module docstring on y [b, D] -> x [b, D]."""
        q = self.flow.distribution()
        s2 = tf.square(self.scale)
        v = tf.matmul(noisy, self.basis)  # [b, D - 1]
        precondition = variance / (variance + s2)  # [D - 1]

        def objective(w):
            """(J(w) [b], grad J(w) [b, D - 1])."""
            with tf.GradientTape() as tape:
                tape.watch(w)
                value = q.log_prob(w) - tf.reduce_sum(tf.square(self.scale * w - v), -1) / (2 * variance)
            return value, tape.gradient(value, w)  # the patches are independent: grad of the sum is per patch

        def step(w, value, gradient, eta):
            candidate = w + eta * precondition * gradient
            new_value, new_gradient = objective(candidate)
            better = new_value >= value  # [b]; False where new_value is NaN
            return (tf.where(better[:, None], candidate, w), tf.where(better, new_value, value),
                    tf.where(better[:, None], new_gradient, gradient), tf.where(better[:, None], eta, eta / 2))

        w = self.scale * v / (s2 + variance)  # the Wiener estimate
        value, gradient = objective(w)
        eta = INITIAL_STEP * tf.ones_like(value)[:, None]  # [b, 1]
        w, *_ = tf.while_loop(lambda *_: True, step, (w, value, gradient, eta), maximum_iterations=steps)
        return tf.matmul(self.scale * w, self.basis, transpose_b=True)  # x = B (s w)

    def step_terms(self, data, step, training):
        """nll: the mean -log p(x) [scalar] of DC-removed patches x [B, D], in training with the dequantization
        noise of the step."""
        x = data
        if training:
            seed = fold(self.seed, BASE_STREAM, step)
            # This replica's rows of the draw for the global batch, so 1 or N replicas take the same step.
            rows, start = replica_rows(tf.shape(x)[0])
            u = tf.random.stateless_uniform([rows, self.dim], seed)[start:start + tf.shape(x)[0]]
            x = x + QUANTUM * (u - 0.5)  # the mean is projected out later
        return {"nll": -tf.reduce_mean(self(x))}

    def build(self, input_shape=None):
        self.call(tf.zeros([1, self.dim]))  # creates every weight of the flow
        self.built = True

    def get_config(self):
        return {"dim": self.dim, "flow": self.flow_kind, "layers": self.flow_layers, "width": self.width,
                "map_steps": self.map_steps, "seed": self.seed}


def _in_batches(fn, patches):
    """fn over batches of at most MAP_BATCH rows of patches [N, D] (fewer patches: one batch, no padding)."""
    return map_batches(fn, patches, tf.clip_by_value(tf.shape(patches)[0], 1, MAP_BATCH))


def fit_flow(patches, steps, batch_size=512, flow="realnvp", layers=6, width=128, map_steps=3, learning_rate=1e-3,
             seed=0, verbose=2, strategy=None, jit_compile=False, model_dir=None):
    """A FlowPatchPrior fitted by maximum likelihood, `steps` Adam steps (cosine-decayed learning rate), to DC-removed
    patches [N, D]; the whitening (B, s) comes from all of them first.

    strategy: a tf.distribute.Strategy (default: the current one); batch_size is the global batch. jit_compile: XLA
    where the strategy allows it (distribute.jit_possible); off by default: on a CPU core it measured no faster for
    the default flow (28 steps/s either way) and its compilation takes seconds. model_dir: checkpoints and logs
    there, and a killed run resumes from them (tfvae/training/fit.py); None: an in-memory fit.
    """
    patches = np.asarray(patches, np.float32)
    table = tf.constant(patches)
    per_epoch = min(steps, 1000)

    def make():
        model = FlowPatchPrior(patches.shape[1], flow, layers, width, map_steps, seed)
        model.build()
        model.set_whitening(patches)
        return model

    def datasets(start_step):
        return step_batches(len(patches), batch_size, seed, lambda step, index: tf.gather(table, index),
                            start_step), None

    return training.fit(make, datasets, epochs=-(-steps // per_epoch), steps_per_epoch=per_epoch, run_dir=model_dir,
                        seed=seed, strategy=strategy,
                        learning_rate=keras.optimizers.schedules.CosineDecay(learning_rate, steps),
                        jit_compile=jit_compile, per_execution=1, verbose=verbose)

