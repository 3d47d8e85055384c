"""A zero-mean Gaussian mixture over DC-removed patches, learned by EM; its approximate patch MAP for EPLL.

Zoran & Weiss 2011, "From learning models of natural image patches to whole image restoration":

    p(x) = sum_k pi_k N(x; 0, Sigma_k)        x: a patch with its mean removed [D], D = p * p, K components

Each covariance is held with its eigendecomposition Sigma_k = V_k diag(l_k) V_k^T, computed once (one tf.linalg.eigh
per parameter setting). Through it everything with an added noise variance s^2 is closed-form, with no inverse:

    log N(y; 0, Sigma_k + s^2 I) = -1/2 [D log 2 pi + sum_d log(l_kd + s^2) + sum_d (V_k^T y)_d^2 / (l_kd + s^2)]
    Sigma_k (Sigma_k + s^2 I)^-1 y = V_k diag(l_k / (l_k + s^2)) V_k^T y        (the Wiener filter)

Patches [N, D] go through in batches of max_floats / (max(K, D) * D) rows, which bounds the largest intermediates
(the projections V_k^T y [batch, K, D], the chosen V_k [batch, D, D]) to max_floats floats each for any N.
"""

import math

import numpy as np
import tensorflow as tf

DEFAULT_MAX_FLOATS = 2 ** 24  # 64 MB per float32 intermediate: large batches, still small next to a CPU's memory
TINY_COUNT = 1e-30  # floors a component's responsibility mass, so an empty component gets log pi = -69 - log N


def as_patches(patches, dim=None):
    """patches as a float32 [N, D] tensor; ValueError unless they are float [N, D] (with D == dim when given)."""
    patches = tf.convert_to_tensor(patches)
    if not patches.dtype.is_floating:
        raise ValueError(f"patches must be a float tensor, got dtype {patches.dtype.name}")
    if patches.shape.rank != 2:
        raise ValueError(f"patches must be [N, D], got shape {patches.shape}")
    if dim is not None and patches.shape[1] not in (None, dim):
        raise ValueError(f"patches have {patches.shape[1]} values each, the prior is over D = {dim}")
    return tf.cast(patches, tf.float32)


def _batch_size(components, dim, max_floats):
    """Rows per batch so that [rows, K, D] and [rows, D, D] intermediates hold at most max_floats floats."""
    return max(1, max_floats // (max(components, dim) * dim))


def _batches(patches, batch_size):
    """patches [N, D] -> (zero-padded batches [B, batch_size, D], mask [B, batch_size]: 1 for real rows)."""
    n, dim = tf.shape(patches)[0], tf.shape(patches)[1]
    padded = n + tf.math.floormod(-n, batch_size)
    batches = tf.reshape(tf.pad(patches, [[0, padded - n], [0, 0]]), [-1, batch_size, dim])
    return batches, tf.reshape(tf.sequence_mask(n, padded, patches.dtype), [-1, batch_size])


def _map_batches(fn, patches, batch_size):
    """fn over row batches of patches [N, D] (each [batch_size, D] -> [batch_size, ...]) -> [N, ...]."""
    batches, _ = _batches(patches, batch_size)
    out = tf.map_fn(fn, batches, fn_output_signature=patches.dtype)
    return tf.reshape(out, tf.concat([[-1], tf.shape(out)[2:]], 0))[:tf.shape(patches)[0]]


def _component_log_likelihoods(y, eigenvalues, eigenvectors, noise_variance):
    """log N(y; 0, Sigma_k + s^2 I) [b, K] for y [b, D], and the projections V_k^T y [b, K, D]."""
    variances = eigenvalues + noise_variance  # [K, D]: the eigenvalues of Sigma_k + s^2 I
    projections = tf.einsum("nd,kde->nke", y, eigenvectors)  # [b, K, D]
    mahalanobis = tf.reduce_sum(tf.square(projections) / variances, -1)  # [b, K]
    log_det = tf.reduce_sum(tf.math.log(variances), -1)  # [K]
    dim = tf.cast(tf.shape(y)[-1], y.dtype)
    return -0.5 * (dim * math.log(2 * math.pi) + log_det + mahalanobis), projections


def _statistics(patches, batch_size, components, responsibilities):
    """Sums over patches [N, D], in batches: counts [K], scatter sum_n r_nk y_n y_n^T [K, D, D], sum log p(y_n).

    responsibilities(y [b, D]) -> (r [b, K], log p(y) [b]); tf.foldl keeps one batch's intermediates at a time.
    """
    batches, mask = _batches(patches, batch_size)

    def add(totals, batch):
        y, real = batch
        r, log_evidence = responsibilities(y)
        r = r * real[:, None]  # padding rows count for nothing
        weighted = r[:, :, None] * y[:, None, :]  # [b, K, D]: no larger than the projections
        return (totals[0] + tf.reduce_sum(r, 0), totals[1] + tf.einsum("nkd,ne->kde", weighted, y),
                totals[2] + tf.reduce_sum(log_evidence * real))

    dim = tf.shape(patches)[1]
    start = (tf.zeros([components]), tf.zeros(tf.stack([components, dim, dim])), tf.constant(0.0))
    return tf.foldl(add, (batches, mask), start)


@tf.function(reduce_retracing=True)
def _em_statistics(patches, log_weights, eigenvalues, eigenvectors, batch_size):
    """E-step sums with the posterior responsibilities r_nk = pi_k N(y_n; 0, Sigma_k) / p(y_n)."""

    def responsibilities(y):
        joint = log_weights + _component_log_likelihoods(y, eigenvalues, eigenvectors, 0.0)[0]  # [b, K]
        log_evidence = tf.reduce_logsumexp(joint, -1)
        return tf.exp(joint - log_evidence[:, None]), log_evidence

    return _statistics(patches, batch_size, tf.shape(log_weights)[0], responsibilities)


@tf.function(reduce_retracing=True)
def _assignment_statistics(patches, seeds, batch_size):
    """Sums with hard responsibilities: each patch to the seed line (unit vector in seeds [K, D]) nearest to it."""

    def responsibilities(y):
        nearest = tf.argmax(tf.abs(tf.matmul(y, seeds, transpose_b=True)), -1)  # max |y . s| = min line distance
        return tf.one_hot(nearest, tf.shape(seeds)[0], dtype=y.dtype), tf.zeros(tf.shape(y)[:1], y.dtype)

    return _statistics(patches, batch_size, tf.shape(seeds)[0], responsibilities)


def _seed_lines(patches, components, seed):
    """k-means++ seeding for lines through 0 (a zero-mean component is sign-free): unit directions [K, D].

    The first seed is a patch drawn with probability proportional to ||y||^2, each next one with probability
    proportional to the squared distance of y to the nearest chosen line, ||y||^2 - max_s (y . s)^2.
    """
    norms = tf.reduce_sum(tf.square(patches), -1)  # [N]
    distance = norms  # to no line yet
    lines = []
    for k in range(components):  # initialisation only: K draws, each vectorized over the patches
        logits = tf.math.log(tf.maximum(distance, 1e-30))[None]  # the floor: rounding and all-zero sets stay drawable
        index = tf.random.stateless_categorical(logits, 1, seed=[seed, k])[0, 0]
        line = tf.math.l2_normalize(patches[index])
        lines.append(line)
        distance = tf.minimum(distance, norms - tf.square(tf.linalg.matvec(patches, line)))
    return tf.stack(lines)


def _m_step(counts, scatter, covariance_floor):
    """M-step from the sums counts [K], scatter [K, D, D] -> log pi [K] (unnormalized), eigenvalues, eigenvectors.

    pi_k = N_k / N; Sigma_k = V diag(max(l, floor)) V^T where S_k = scatter_k / N_k = V diag(l) V^T.
    """
    counts = tf.maximum(counts, TINY_COUNT)
    eigenvalues, eigenvectors = tf.linalg.eigh(scatter / counts[:, None, None])
    return tf.math.log(counts), tf.maximum(eigenvalues, covariance_floor), eigenvectors


class PatchGMM:
    """p(x) = sum_k pi_k N(x; 0, Sigma_k) over DC-removed patches x [D]; float32.

    log_weights: log pi [K] (normalized here); covariances: [K, D, D], symmetric positive definite.
    Implements the patch-prior protocol of tfvae.restoration.epll: log_prob(patches) and
    denoise_patches(patches, noise_sigma).
    """

    def __init__(self, log_weights, covariances, max_floats=DEFAULT_MAX_FLOATS):
        covariances = tf.convert_to_tensor(covariances, tf.float32)
        eigenvalues, eigenvectors = tf.linalg.eigh(covariances)
        self.max_floats = max_floats
        self._assign(log_weights, eigenvalues, eigenvectors)

    def _assign(self, log_weights, eigenvalues, eigenvectors):
        """Set the parameters from log pi [K] and Sigma_k = V_k diag(l_k) V_k^T (eigenvalues [K, D], V [K, D, D])."""
        log_weights = tf.convert_to_tensor(log_weights, tf.float32)
        self.log_weights = log_weights - tf.reduce_logsumexp(log_weights)
        self.eigenvalues = tf.maximum(eigenvalues, 0.0)  # eigh rounding can leave -1e-9 on a PSD matrix
        self.eigenvectors = eigenvectors
        self.covariances = tf.einsum("kde,ke,kfe->kdf", eigenvectors, self.eigenvalues, eigenvectors)

    @property
    def num_components(self):
        return self.log_weights.shape[0]

    @property
    def dim(self):
        return self.eigenvalues.shape[1]

    def _batch_size(self):
        return _batch_size(self.num_components, self.dim, self.max_floats)

    def log_prob(self, patches):
        """log p(x) [N] of DC-removed patches [N, D]: logsumexp_k (log pi_k + log N(x; 0, Sigma_k))."""
        patches = as_patches(patches, self.dim)

        def batch_log_prob(y):
            ll, _ = _component_log_likelihoods(y, self.eigenvalues, self.eigenvectors, 0.0)
            return tf.reduce_logsumexp(self.log_weights + ll, -1)

        return _map_batches(batch_log_prob, patches, self._batch_size())

    def denoise_patches(self, noisy, noise_sigma):
        """Approximate MAP of clean patches [N, D] from DC-removed noisy ones y = x + N(0, noise_sigma^2 I).

        Per patch (Zoran & Weiss 2011): the component k* = argmax_k log pi_k + log N(y; 0, Sigma_k + sigma^2 I),
        then its Wiener filter x = Sigma_k* (Sigma_k* + sigma^2 I)^-1 y = V diag(l / (l + sigma^2)) V^T y.
        noise_sigma: a scalar (Python number or tensor) >= 0.
        """
        noisy = as_patches(noisy, self.dim)
        noise_variance = tf.square(tf.cast(noise_sigma, tf.float32))

        def batch_denoise(y):
            ll, projections = _component_log_likelihoods(y, self.eigenvalues, self.eigenvectors, noise_variance)
            best = tf.argmax(self.log_weights + ll, -1)  # [b]
            eigenvalues = tf.gather(self.eigenvalues, best)  # [b, D]
            shrunk = tf.gather(projections, best, batch_dims=1) * eigenvalues / (eigenvalues + noise_variance)
            return tf.einsum("nde,ne->nd", tf.gather(self.eigenvectors, best), shrunk)  # V_k* (shrunk V_k*^T y)

        return _map_batches(batch_denoise, noisy, self._batch_size())

    def em_step(self, patches, covariance_floor=1e-6):
        """One EM step on patches [N, D]; returns the mean log p(y) under the parameters before the step.

        E-step: r_nk = pi_k N(y_n; 0, Sigma_k) / p(y_n). M-step: pi_k = N_k / N with N_k = sum_n r_nk, and
        Sigma_k = V diag(max(l, floor)) V^T where S_k = sum_n r_nk y_n y_n^T / N_k = V diag(l) V^T. Clamping the
        eigenvalues is the exact maximizer of the EM objective over {Sigma : Sigma >= floor I}, so every step is a
        true EM step on that set and the log-likelihood of the batch never decreases (up to float32 rounding).
        """
        patches = as_patches(patches, self.dim)
        counts, scatter, total = _em_statistics(patches, self.log_weights, self.eigenvalues, self.eigenvectors,
                                                tf.constant(self._batch_size()))
        self._assign(*_m_step(counts, scatter, covariance_floor))
        return float(total) / int(patches.shape[0])

    @classmethod
    def fit(cls, patches, steps, components, seed, covariance_floor=1e-6, max_floats=DEFAULT_MAX_FLOATS):
        """A K-component mixture fitted to DC-removed patches [N, D] by `steps` EM steps; deterministic in seed.

        Initialisation: `components` lines through 0 seeded k-means++-style (_seed_lines), each patch assigned to the
        nearest line, and one M-step from those hard assignments.
        """
        patches = as_patches(patches)
        if patches.shape[0] < components:
            raise ValueError(f"fitting {components} components needs at least as many patches, got {patches.shape[0]}")
        batch_size = tf.constant(_batch_size(components, patches.shape[1], max_floats))
        counts, scatter, _ = _assignment_statistics(patches, _seed_lines(patches, components, seed), batch_size)
        log_weights, eigenvalues, eigenvectors = _m_step(counts, scatter, covariance_floor)
        gmm = cls(log_weights, tf.einsum("kde,ke,kfe->kdf", eigenvectors, eigenvalues, eigenvectors), max_floats)
        for _ in range(steps):
            gmm.em_step(patches, covariance_floor)
        return gmm

    def save(self, path):
        """Write log_weights [K] and covariances [K, D, D] to an .npz file (np.savez adds .npz if missing)."""
        np.savez(path, log_weights=self.log_weights.numpy(), covariances=self.covariances.numpy())

    @classmethod
    def load(cls, path, max_floats=DEFAULT_MAX_FLOATS):
        """The mixture saved at path (.npz with log_weights [K] and covariances [K, D, D])."""
        with np.load(path) as arrays:
            return cls(arrays["log_weights"], arrays["covariances"], max_floats)
