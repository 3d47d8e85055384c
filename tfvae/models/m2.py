"""M2, the semi-supervised generative model of Kingma et al. (2014), "Semi-supervised learning with deep generative
models", on top of the class-conditional VAE (cvae.py).

    p(y) = Cat(1/K), p(z) = N(0, I), p(x|y, z);  q(z|x, y) (cvae.py) and the classifier q(y|x) = Cat(softmax(g(x)))

    labelled:    L(x, y) = E_q(z|x,y)[log p(x|y, z)] + log p(y) - KL(q(z|x, y) || p(z))   <= log p(x, y)
    unlabelled:  U(x) = sum_y q(y|x) L(x, y) + H(q(y|x))                                   <= log p(x)

U is computed by exact enumeration: the batch is scored under all K classes at once (labels [K, 1, K] broadcast
against the batch, noise [K, B, L]), so its gradient reaches q(y|x) without a score-function estimator.

Training maximizes, per step, the mean over the batch's rows of L (labelled rows) and U (unlabelled rows) plus
alpha * mean_labelled log q(y|x). The paper's objective is J^alpha = sum_l L + sum_u U + alpha' E_l[log q(y|x)] over
N examples with alpha' = 0.1 N; divided by N, that is the per-example weight alpha = alpha' / N = 0.1 (the default).
Batches hold labelled and unlabelled rows in a fixed ratio (tfvae/semi_supervised.py), so labelled rows weigh by that
ratio rather than by their share of the data set. The beta and warm-up weights of the rate apply inside L (and U).
"""

import math

import keras
import tensorflow as tf

from tfvae import precision
from tfvae.models.cvae import CVAE, make_net
from tfvae.seeds import fold_in, model_seed

TERMS = ("objective", "labelled_bound", "unlabelled_bound", "classification", "accuracy")


@keras.saving.register_keras_serializable(package="tfvae")
class M2(CVAE):
    """M2 over images [B, *config.input_shape] with labels in 0..K-1; see the module docstring."""

    TERMS = TERMS

    def __init__(self, config, m1=None, **kwargs):
        """m1: with config.m1_dir, its trained VAE (CVAE)."""
        super().__init__(config, m1, **kwargs)
        with precision.networks(self.config.precision):
            self.classifier = make_net(self.data_config, self.config.num_classes, "classifier")  # logits of q(y|x)

    def log_prior_y(self):
        """log p(y) = -log K for every class."""
        return -math.log(self.config.num_classes)

    def logits(self, v):
        """Logits [B, K] of q(y|x) from the modelled data v."""
        return precision.to_float32(self.classifier(self.encoder_input(v)))

    def probabilities(self, x):
        """q(y|x) [B, K] for images x."""
        return tf.nn.softmax(self.logits(self.features(x)))

    # --- the bounds ---------------------------------------------------------------------------------------------
    def labelled_bound(self, v, h, y, eps, training=False):
        """L(v, y) [B] and its training loss [B] for one-hot labels y [B, K] and noise eps [1, B, L]."""
        terms = self.elbo_terms(v, h, y, eps, training)
        return terms["elbo"][0] + self.log_prior_y(), self.loss_of(terms)[0] - self.log_prior_y()

    def unlabelled_bound(self, v, h, logits, eps, training=False):
        """U(v) [B] and its training loss [B] by enumeration over the K classes; logits [B, K], eps [K, B, L]."""
        every_class = tf.eye(self.config.num_classes)[:, None, :]  # [K, 1, K], broadcast against the batch
        terms = self.elbo_terms(v, h, every_class, eps, training)  # each [K, B]
        bound = tf.transpose(terms["elbo"]) + self.log_prior_y()  # L(x, y) [B, K]
        loss = tf.transpose(self.loss_of(terms)) - self.log_prior_y()  # [B, K]
        q = tf.nn.softmax(logits)  # [B, K]
        entropy = -tf.reduce_sum(q * tf.nn.log_softmax(logits), -1)  # H(q(y|x)) [B]
        return tf.reduce_sum(q * bound, -1) + entropy, tf.reduce_sum(q * loss, -1) - entropy

    def terms(self, x, labels, x_unlabelled, eps, eps_unlabelled, training=False):
        """Named per-example terms: labelled_bound, classification (-log q(y|x)), accuracy [B_l] for images x [B_l]
        with integer labels; unlabelled_bound [B_u] for x_unlabelled; the loss terms bound_loss [B_l + B_u] (rows of
        -L, then of -U, as weighted for training) and classification. eps [1, B_l, L], eps_unlabelled [K, B_u, L]."""
        v, v_u = self.features(x), self.features(x_unlabelled)
        logits, logits_u = self.logits(v), self.logits(v_u)
        y = self.onehot(labels)
        labelled, labelled_loss = self.labelled_bound(v, self.encoded(v), y, eps, training)
        unlabelled, unlabelled_loss = self.unlabelled_bound(
            v_u, self.encoded(v_u), logits_u, eps_unlabelled, training)
        classification = tf.nn.softmax_cross_entropy_with_logits(y, logits)
        correct = tf.cast(tf.equal(tf.argmax(logits, -1, tf.int32), tf.cast(labels, tf.int32)), tf.float32)
        return {"labelled_bound": labelled, "unlabelled_bound": unlabelled, "classification": classification,
                "accuracy": correct, "bound_loss": tf.concat([labelled_loss, unlabelled_loss], 0)}

    def objective(self, terms):
        """The scalar training loss: mean bound loss over all rows + alpha * mean classification loss."""
        return tf.reduce_mean(terms["bound_loss"]) + self.config.alpha * tf.reduce_mean(terms["classification"])

    # --- Keras -------------------------------------------------------------------------------------------------
    def call(self, x):
        """q(y|x) [B, K] for images x."""
        return self.probabilities(x)

    def step_noise(self, batch, batch_unlabelled, step):
        seed = model_seed(self.config.seed, step)
        return (self.noise(batch, 1, fold_in(seed, 0, dtype=tf.int32)),
                self.noise(batch_unlabelled, self.config.num_classes, fold_in(seed, 1, dtype=tf.int32)))

    def step_terms(self, data, step, training):
        """`terms` and their scalar `objective` for a training batch (labelled images [B_l, ...], their labels [B_l],
        unlabelled images [B_u, ...]) or a test batch (images, labels), whose images are also scored unlabelled."""
        x, labels, x_u = data if training else (*data, data[0])
        eps, eps_u = self.step_noise(tf.shape(x)[0], tf.shape(x_u)[0], step)
        terms = self.terms(x, labels, x_u, eps, eps_u, training)
        return {**terms, "objective": self.objective(terms)}

    def build(self, input_shape=None):
        """Creates every weight by one pass of a zero image, labelled 0 and unlabelled, through every network."""
        x = tf.zeros([1, *self.config.input_shape])
        latent = self.config.latent_dim
        self.terms(x, tf.zeros([1], tf.int32), x, tf.zeros([1, 1, latent]),
                   tf.zeros([self.config.num_classes, 1, latent]))
        self.built = True
