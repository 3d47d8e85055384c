"""A zero-mean Gaussian mixture over DC-removed patches, learned by EM; its approximate patch MAP for EPLL.

Zoran & Weiss 2011, "From learning models of natural image patches to whole image restoration":

    p(x) = sum_k pi_k N(x; 0, Sigma_k)        x: a patch with its mean removed [D], D = p * p, K components

Each covariance is held with its eigendecomposition Sigma_k = V_k diag(l_k) V_k^T, computed once (one tf.linalg.eigh
per parameter setting). Through it everything with an added noise variance s^2 is closed-form:

    log N(y; 0, Sigma_k + s^2 I) = -1/2 [D log 2 pi + sum_d log(l_kd + s^2) + y^T A_k y],
        A_k = (Sigma_k + s^2 I)^-1 = V_k diag(1 / (l_k + s^2)) V_k^T
    Sigma_k (Sigma_k + s^2 I)^-1 y = V_k diag(l_k / (l_k + s^2)) V_k^T y        (the Wiener filter)

The quadratic forms of all K components are one matrix product with quadratic features: y^T A y is linear in the
P = D (D + 1) / 2 products y_d y_e (d <= e), so with f(y) = [y_d y_e]_{d<=e} [N, P] and the packed precisions
a_k = [A_dd, 2 A_de]_{d<e} [K, P], all Mahalanobis terms are f(y) a^T [N, K]. That costs N K D (D + 1) / 2
multiply-adds, half of projecting every patch on every eigenbasis, with no [N, K, D] intermediate; the EM scatter
sums sum_n r_nk y_n y_n^T are the same product transposed, r^T f(y) [K, P]. Only the chosen component's eigenbasis
is applied to a patch (the Wiener filter, N D^2).

Patches [N, D] go through in batches of max_floats / max(K, P) rows (tfvae/restoration/patches.py: map_batches),
which bounds the largest intermediates (the features [batch, P], the scores [batch, K], the chosen V_k
[batch, D, D]) to about max_floats floats each.
"""

import math
import os

import numpy as np
import tensorflow as tf

from tfvae.progress import require_eager
from tfvae.restoration.patches import map_batches, pad_to_batches
from tfvae.seeds import pair

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
    """Rows per batch so that [rows, P], [rows, K] and [rows, D, D] intermediates hold about max_floats floats."""
    return max(1, max_floats // max(components, dim * dim))


def _upper(dim):
    """Flat indices into [D, D] of the entries d <= e, row by row [P], and whether each is off the diagonal [P]."""
    rows, cols = np.triu_indices(dim)
    return rows * dim + cols, rows != cols


def quadratic_features(y):
    """f(y) = [y_d y_e]_{d <= e}: patches [N, D] -> [N, P], P = D (D + 1) / 2, in the order of _upper.

    Built from D products of slices (y_d times y_d..y_D-1), several times faster on CPUs than gathering the
    upper triangle of the outer products.
    """
    return tf.concat([y[:, d:d + 1] * y[:, d:] for d in range(y.shape[-1])], axis=1)


def pack_quadratic_forms(matrices):
    """Symmetric A [K, D, D] -> a [K, P] with y^T A_k y = f(y) . a_k: the diagonal, and twice each d < e entry."""
    dim = matrices.shape[-1]
    index, off_diagonal = _upper(dim)
    packed = tf.gather(tf.reshape(matrices, [-1, dim * dim]), index, axis=1)
    return packed * np.where(off_diagonal, 2.0, 1.0).astype(np.float32)


def unpack_symmetric(packed, dim):
    """The inverse of taking [S_de]_{d <= e}: packed [K, P] -> symmetric S [K, D, D]."""
    index, off_diagonal = _upper(dim)
    upper = tf.scatter_nd(index[:, None], tf.transpose(packed), [dim * dim, packed.shape[0]])  # [D * D, K]
    upper = tf.reshape(tf.transpose(upper), [-1, dim, dim])
    return upper + tf.linalg.matrix_transpose(upper) - tf.linalg.diag(tf.linalg.diag_part(upper))


def _noisy_components(eigenvalues, eigenvectors, noise_variance):
    """(packed precisions a [K, P] of Sigma_k + s^2 I, log-likelihood offsets [K]: -1/2 (D log 2 pi + log det))."""
    variances = eigenvalues + noise_variance  # [K, D]: the eigenvalues of Sigma_k + s^2 I
    precisions = tf.einsum("kde,ke,kfe->kdf", eigenvectors, 1.0 / variances, eigenvectors)
    dim = eigenvalues.shape[-1]
    offsets = -0.5 * (dim * math.log(2 * math.pi) + tf.reduce_sum(tf.math.log(variances), -1))
    return pack_quadratic_forms(precisions), offsets


def _log_likelihoods(features, packed_precisions, offsets):
    """log N(y; 0, Sigma_k + s^2 I) [b, K] from f(y) [b, P]: offsets_k - 1/2 f(y) . a_k."""
    return offsets - 0.5 * tf.matmul(features, packed_precisions, transpose_b=True)


def _statistics(patches, batch_size, components, responsibilities):
    """Sums over patches [N, D], in batches: counts [K], packed scatter sum_n r_nk f(y_n) [K, P], sum log p(y_n).

    responsibilities(y [b, D], f(y) [b, P]) -> (r [b, K], log p(y) [b]); tf.foldl keeps one batch at a time.
    """
    batches, mask = pad_to_batches(patches, batch_size)

    def add(totals, batch):
        y, real = batch
        features = quadratic_features(y)
        r, log_evidence = responsibilities(y, features)
        r = r * real[:, None]  # padding rows count for nothing
        return (totals[0] + tf.reduce_sum(r, 0), totals[1] + tf.matmul(r, features, transpose_a=True),
                totals[2] + tf.reduce_sum(log_evidence * real))

    dim = patches.shape[1]
    start = (tf.zeros([components]), tf.zeros([components, dim * (dim + 1) // 2]), tf.constant(0.0))
    return tf.foldl(add, (batches, mask), start)


@tf.function
def _em_statistics(patches, log_weights, eigenvalues, eigenvectors, batch_size):
    """E-step sums with the posterior responsibilities r_nk = pi_k N(y_n; 0, Sigma_k) / p(y_n)."""
    packed, offsets = _noisy_components(eigenvalues, eigenvectors, 0.0)

    def responsibilities(y, features):
        joint = log_weights + _log_likelihoods(features, packed, offsets)  # [b, K]
        log_evidence = tf.reduce_logsumexp(joint, -1)
        return tf.exp(joint - log_evidence[:, None]), log_evidence

    return _statistics(patches, batch_size, tf.shape(log_weights)[0], responsibilities)


@tf.function
def _assignment_statistics(patches, seeds, batch_size):
    """Sums with hard responsibilities: each patch to the seed line (unit vector in seeds [K, D]) nearest to it."""

    def responsibilities(y, features):
        nearest = tf.argmax(tf.abs(tf.matmul(y, seeds, transpose_b=True)), -1)  # max |y . s| = min line distance
        return tf.one_hot(nearest, tf.shape(seeds)[0], dtype=y.dtype), tf.zeros(tf.shape(y)[:1], y.dtype)

    return _statistics(patches, batch_size, tf.shape(seeds)[0], responsibilities)


def _summed(statistics, patches, *args, strategy=None):
    """The sums statistics(patches, *args) over patches [N, D] under a tf.distribute strategy: each replica sums
    one contiguous shard of the rows and the replicas' sums are all-reduced, so N replicas give the sums of one
    device up to float32 summation order. strategy None or of one replica: all rows on the current device."""
    if strategy is None or strategy.num_replicas_in_sync == 1:
        return statistics(patches, *args)
    bounds = np.linspace(0, int(patches.shape[0]), strategy.num_replicas_in_sync + 1).astype(int)
    shards = strategy.experimental_distribute_values_from_function(
        lambda context: patches[bounds[context.replica_id_in_sync_group]:bounds[context.replica_id_in_sync_group + 1]])
    sums = strategy.run(statistics, args=(shards, *args))
    return tf.nest.map_structure(lambda part: strategy.reduce("SUM", part, axis=None), sums)


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
        index = tf.random.stateless_categorical(logits, 1, seed=pair(seed, k))[0, 0]  # tfvae/seeds.py
        line = tf.math.l2_normalize(patches[index])
        lines.append(line)
        distance = tf.minimum(distance, norms - tf.square(tf.linalg.matvec(patches, line)))
    return tf.stack(lines)


def _m_step(counts, packed_scatter, dim, covariance_floor):
    """M-step from the sums counts [K], packed scatter [K, P] -> log pi [K] (unnormalized), eigenvalues, eigenvectors.

    pi_k = N_k / N; Sigma_k = V diag(max(l, floor)) V^T where S_k = scatter_k / N_k = V diag(l) V^T.
    """
    counts = tf.maximum(counts, TINY_COUNT)
    scatter = unpack_symmetric(packed_scatter, dim)
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

    @classmethod
    def from_eigendecomposition(cls, log_weights, eigenvalues, eigenvectors, max_floats=DEFAULT_MAX_FLOATS):
        """The mixture with Sigma_k = V_k diag(l_k) V_k^T: eigenvalues [K, D], eigenvectors [K, D, D] (may be variables
        read inside a tf.function, as in a SavedModel)."""
        gmm = cls.__new__(cls)
        gmm.max_floats = max_floats
        gmm._assign(log_weights, tf.convert_to_tensor(eigenvalues), tf.convert_to_tensor(eigenvectors))
        return gmm

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

        packed, offsets = _noisy_components(self.eigenvalues, self.eigenvectors, 0.0)

        def batch_log_prob(y):
            ll = _log_likelihoods(quadratic_features(y), packed, offsets)
            return tf.reduce_logsumexp(self.log_weights + ll, -1)

        return map_batches(batch_log_prob, patches, self._batch_size())

    def denoise_patches(self, noisy, noise_sigma):
        """Approximate MAP of clean patches [N, D] from DC-removed noisy ones y = x + N(0, noise_sigma^2 I).

        Per patch (Zoran & Weiss 2011): the component k* = argmax_k log pi_k + log N(y; 0, Sigma_k + sigma^2 I),
        then its Wiener filter x = Sigma_k* (Sigma_k* + sigma^2 I)^-1 y = V diag(l / (l + sigma^2)) V^T y (the K
        filter matrices are formed once per call, one gathered matrix-vector product per patch).
        noise_sigma: a scalar (Python number or tensor) >= 0.
        """
        noisy = as_patches(noisy, self.dim)
        noise_variance = tf.square(tf.cast(noise_sigma, tf.float32))

        packed, offsets = _noisy_components(self.eigenvalues, self.eigenvectors, noise_variance)
        shrinkage = self.eigenvalues / (self.eigenvalues + noise_variance)  # [K, D]
        filters = tf.einsum("kde,ke,kfe->kdf", self.eigenvectors, shrinkage, self.eigenvectors)  # [K, D, D]

        def batch_denoise(y):
            best = tf.argmax(self.log_weights + _log_likelihoods(quadratic_features(y), packed, offsets), -1)  # [b]
            return tf.linalg.matvec(tf.gather(filters, best), y)  # the Wiener filter of component k*

        return map_batches(batch_denoise, noisy, self._batch_size())

    def em_step(self, patches, covariance_floor=1e-6, strategy=None):
        """One EM step on patches [N, D]; returns the mean log p(y) under the parameters before the step.

        E-step: r_nk = pi_k N(y_n; 0, Sigma_k) / p(y_n). M-step: pi_k = N_k / N with N_k = sum_n r_nk, and
        Sigma_k = V diag(max(l, floor)) V^T where S_k = sum_n r_nk y_n y_n^T / N_k = V diag(l) V^T. Clamping the
        eigenvalues is the exact maximizer of the EM objective over {Sigma : Sigma >= floor I}, so every step is a
        true EM step on that set and the log-likelihood of the batch never decreases (up to float32 rounding).
        strategy: a tf.distribute.Strategy whose replicas share the E-step sums (`_summed`); the M-step, K
        eigendecompositions, runs once.
        """
        patches = as_patches(patches, self.dim)
        counts, scatter, total = _summed(_em_statistics, patches, self.log_weights, self.eigenvalues,
                                         self.eigenvectors, tf.constant(self._batch_size()), strategy=strategy)
        self._assign(*_m_step(counts, scatter, self.dim, covariance_floor))
        return float(total) / int(patches.shape[0])

    @classmethod
    def fit(cls, patches, steps, components, seed, covariance_floor=1e-6, max_floats=DEFAULT_MAX_FLOATS,
            strategy=None, progress=None):
        """A K-component mixture fitted to DC-removed patches [N, D] by `steps` EM steps; deterministic in seed.

        Initialisation: `components` lines through 0 seeded k-means++-style (_seed_lines, on one device), each patch
        assigned to the nearest line, and one M-step from those hard assignments. strategy: as for em_step.
        progress: None, or progress(EM steps done, steps), called after each step (tfvae/progress.py).
        """
        require_eager(progress, "PatchGMM.fit")
        patches = as_patches(patches)
        if patches.shape[0] < components:
            raise ValueError(f"fitting {components} components needs at least as many patches, got {patches.shape[0]}")
        batch_size = tf.constant(_batch_size(components, patches.shape[1], max_floats))
        counts, scatter, _ = _summed(_assignment_statistics, patches, _seed_lines(patches, components, seed),
                                     batch_size, strategy=strategy)
        log_weights, eigenvalues, eigenvectors = _m_step(counts, scatter, patches.shape[1], covariance_floor)
        gmm = cls(log_weights, tf.einsum("kde,ke,kfe->kdf", eigenvectors, eigenvalues, eigenvectors), max_floats)
        for step in range(steps):
            gmm.em_step(patches, covariance_floor, strategy)
            if progress is not None:
                progress(step + 1, steps)
        return gmm

    def save(self, path):
        """Write log_weights [K] and covariances [K, D, D] to the .npz file path, atomically."""
        path = os.fspath(path)
        tmp = path + ".tmp.npz"
        np.savez_compressed(tmp, log_weights=self.log_weights.numpy(), covariances=self.covariances.numpy())
        os.replace(tmp, path)

    @classmethod
    def load(cls, path, max_floats=DEFAULT_MAX_FLOATS):
        """The mixture saved at path (.npz with log_weights [K] and covariances [K, D, D])."""
        with np.load(path) as arrays:
            return cls(arrays["log_weights"], arrays["covariances"], max_floats)
