"""Vector quantization (van den Oord et al. 2017, "Neural Discrete Representation Learning").

A codebook C [K, D]. Each latent vector L [..., D] is replaced by its nearest code, z = argmin_k ||L - C_k||^2, and
the decoder sees C_z through the straight-through estimator L + sg(C_z - L): its value is C_z, its gradient passes to
L unchanged. The two losses of the paper, per vector (the model sums them over positions):

    codebook   ||sg(L) - C_z||^2     moves the codes towards the vectors assigned to them
    commitment ||L - sg(C_z)||^2     keeps the encoder close to its codes (weighted by beta in the model's loss)

The paper's single beta plays two roles that are kept apart here: `commitment_weight` (in the model) weights the
commitment term against the distortion, and the codebook's own speed is set by
- `update="loss"`: the codebook is trained by the gradient of the codebook loss. Under Adam a loss weight would not
  change the step size (Adam is invariant to gradient scale), so the codebook is parametrized as C = lr_scale * W:
  Adam moves W by about the learning rate, hence C by lr_scale times it. lr_scale is the codebook's learning-rate
  multiplier.
- `update="ema"`: the codebook is no gradient's target. Counts N_k and sums m_k of the vectors assigned to code k are
  moving averages with decay gamma, and C_k = m_k / N_k: an online k-means (Lloyd) step. At a stationary point of
  the updates on fixed data each code is the mean of the vectors assigned to it.

Restart of dead codes (as in Jukebox, Dhariwal et al. 2020): a moving average of each code's use per batch is kept in
either mode; a code used less than `restart_threshold` vectors per batch is moved onto a random latent vector of the
current batch (its count set to 1). With all counts starting at zero, the first step places every code on a data
vector. All statistics are non-trainable weights, so they are checkpointed with the model.
"""

import keras
import tensorflow as tf

UPDATES = ("ema", "loss")


def perplexity(counts):
    """exp(entropy) of the code usage distribution counts / sum(counts): counts [K] -> scalar in [1, K]."""
    p = counts / tf.maximum(tf.reduce_sum(counts), 1e-12)
    return tf.exp(-tf.reduce_sum(tf.math.multiply_no_nan(tf.math.log(p), p)))


def code_counts(indices, num_codes):
    """How many vectors chose each code: indices int [...] -> float32 [K]."""
    flat = tf.reshape(indices, [-1])
    return tf.math.unsorted_segment_sum(tf.ones_like(flat, tf.float32), flat, num_codes)


@keras.saving.register_keras_serializable(package="tfvae")
class VectorQuantizer(keras.layers.Layer):
    """A codebook C [K, D] with nearest-code lookup, straight-through output and EMA / restart updates."""

    def __init__(self, num_codes, code_dim, update="ema", lr_scale=1.0, ema_decay=0.99, restart_threshold=0.0,
                 **kwargs):
        super().__init__(**kwargs)
        if update not in UPDATES:
            raise ValueError(f"update must be one of {UPDATES}, got {update!r}")
        self.num_codes, self.code_dim, self.update = num_codes, code_dim, update
        self.lr_scale, self.ema_decay, self.restart_threshold = lr_scale, ema_decay, restart_threshold
        scale = lr_scale if update == "loss" else 1.0
        # W, with C = scale * W; the initial codes are uniform in [-1/K, 1/K] (before any restart).
        self.weights_raw = self.add_weight(
            shape=(num_codes, code_dim), name="codebook", trainable=update == "loss", aggregation="mean",
            initializer=keras.initializers.RandomUniform(-1.0 / num_codes / scale, 1.0 / num_codes / scale))
        self.usage = self.add_weight(shape=(num_codes,), initializer="zeros", trainable=False, name="usage",
                                     aggregation="mean")  # moving average of vectors per batch, N_k
        self.sums = None
        if update == "ema":
            self.sums = self.add_weight(shape=(num_codes, code_dim), initializer="zeros", trainable=False,
                                        name="sums", aggregation="mean")  # moving average of assigned sums, m_k

    @property
    def codebook(self):
        """C [K, D]."""
        scale = self.lr_scale if self.update == "loss" else 1.0
        return scale * tf.convert_to_tensor(self.weights_raw)

    def nearest(self, latents):
        """z = argmin_k ||L - C_k||^2: latents [..., D] -> int32 indices [...]."""
        c = self.codebook
        flat = tf.reshape(latents, [-1, self.code_dim])  # [N, D]
        # ||L||^2 - 2 L.C + ||C||^2; ||L||^2 does not change the argmin.
        distances = tf.reduce_sum(tf.square(c), 1) - 2.0 * tf.matmul(flat, c, transpose_b=True)  # [N, K]
        return tf.reshape(tf.argmin(distances, 1, output_type=tf.int32), tf.shape(latents)[:-1])

    def lookup(self, indices):
        """C_z: int indices [...] -> codes [..., D]."""
        return tf.gather(self.codebook, indices)

    def call(self, latents):
        """latents L [..., D] -> (indices z [...], codes C_z [..., D], straight-through L + sg(C_z - L) [..., D])."""
        indices = self.nearest(latents)
        codes = self.lookup(indices)
        return indices, codes, latents + tf.stop_gradient(codes - latents)

    def update_codebook(self, latents, indices, seed):
        """One step of the moving averages (and the codebook, for update="ema") and of dead-code restarts.

        latents [..., D] and their indices [...] from this replica's batch; seed: stateless seed [2] for the choice of
        restart vectors. Over several replicas, counts and sums are summed over all of them and the restart vectors
        are drawn from the global batch, so every replica makes the update that one replica would make.
        """
        flat = tf.reshape(tf.stop_gradient(latents), [-1, self.code_dim])  # [N, D]
        idx = tf.reshape(indices, [-1])  # [N]
        counts = code_counts(idx, self.num_codes)  # [K]
        sums = tf.math.unsorted_segment_sum(flat, idx, self.num_codes)  # [K, D]
        # Restart vectors: K positions of the global batch (replica r holds its r-th slice), the same for any
        # number of replicas.
        context = tf.distribute.get_replica_context()
        replicas = context.num_replicas_in_sync if context is not None else 1
        size = tf.shape(flat)[0]
        pick = tf.random.stateless_uniform([self.num_codes], seed, 0, size * replicas, tf.int32)
        if replicas > 1:
            local = pick - context.replica_id_in_sync_group * size
            mine = (local >= 0) & (local < size)
            candidates = tf.where(mine[:, None], tf.gather(flat, tf.clip_by_value(local, 0, size - 1)), 0.0)
            counts, sums, candidates = context.all_reduce(tf.distribute.ReduceOp.SUM, [counts, sums, candidates])
        else:
            candidates = tf.gather(flat, pick)  # [K, D]
        decay = self.ema_decay
        usage = decay * self.usage + (1.0 - decay) * counts  # [K]
        codebook = self.codebook
        if self.update == "ema":
            code_sums = decay * self.sums + (1.0 - decay) * sums  # [K, D]
            # C_k = m_k / N_k: the moving average of the assigned vectors' mean; a code never used keeps its value.
            codebook = tf.where(usage[:, None] > 0, code_sums / tf.maximum(usage, 1e-12)[:, None], codebook)
        if self.restart_threshold > 0:
            dead = usage < self.restart_threshold  # [K]
            codebook = tf.where(dead[:, None], candidates, codebook)
            usage = tf.where(dead, tf.ones_like(usage), usage)
        if self.update == "ema":
            self.sums.assign(codebook * usage[:, None])  # m_k = C_k N_k (changes only the restarted codes)
            self.weights_raw.assign(codebook)
        elif self.restart_threshold > 0:
            self.weights_raw.assign(codebook / self.lr_scale)
        self.usage.assign(usage)
        return counts

    def get_config(self):
        return {**super().get_config(), "num_codes": self.num_codes, "code_dim": self.code_dim,
                "update": self.update, "lr_scale": self.lr_scale, "ema_decay": self.ema_decay,
                "restart_threshold": self.restart_threshold}
