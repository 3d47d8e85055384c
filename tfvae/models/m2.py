"""M2, the semi-supervised generative model of Kingma et al. (2014), "Semi-supervised learning with deep generative
models", on top of the class-conditional VAE (cvae.py).

    p(y) = Cat(1/K), p(z) = N(0, I), p(x|y, z);  q(z|x, y) (cvae.py) and the classifier q(y|x) = Cat(softmax(g(x)))

    labelled:    L(x, y) = E_q(z|x,y)[log p(x|y, z)] + log p(y) - KL(q(z|x, y) || p(z))   <= log p(x, y)
    unlabelled:  U(x) = sum_y q(y|x) L(x, y) + H(q(y|x))                                   <= log p(x)

U is computed by exact enumeration: the batch is scored under all K classes at once (labels [K, 1, K] broadcast
against the batch, noise [K, B, L]), so its gradient reaches q(y|x) without a score-function estimator. The gradient
of U with respect to q(y|x)'s logits g is dU/dg_k = q_k (L(x, k) - log q_k - U): it is driven by the differences
of L between classes, and with a single-sample L those differences carry the Monte Carlo noise of each class's own
draw. By default (config.shared_noise) the K classes share one draw eps (z_y = mu_y + sigma_y eps, common random
numbers): every L(x, y) keeps its expectation, and where the model ignores y the differences are exactly zero.

The objective. The paper maximizes J^a = sum_l L(x, y) + sum_u U(x) + a E_l[log q(y|x)] over the N = N_l + N_u
training images with a = 0.1 N. Divided by N, with p = N_l / N (config.labelled_share, set from the data) and
alpha = a / N (config.alpha, the flag; the paper's 0.1):

    J^a / N = p mean_l L + (1 - p) (mean_u U + alpha / (1 - p) mean_l log q(y|x))

Every batch holds B_l labelled and B_u unlabelled rows in a fixed ratio (tfvae/semi_supervised.py); the means over
each kind of row estimate mean_l and mean_u without bias whatever that ratio. The training loss weighs the labelled
bound by s (config.labelled_weight; 0: s = p, the paper's objective) and keeps alpha's ratio to U:

    loss = s mean_{B_l}(-L) + (1 - s) (mean_{B_u}(-U) + alpha / (1 - p) mean_{B_l}(-log q(y|x))),

that conversion made once, here. With 100 labels among 7,000 images p = 0.014: the paper's objective gives the
labelled bound a weight of 1.4%, under which the decoder learns what y means slowly (the diagnosis below); s = 1/2
weighs it like the unlabelled one. (Before this convention the loss was the mean of -L and -U over all rows plus
alpha mean(-log q), alpha = 0.1: with half the rows labelled, N = 8,000 and N_l = 100, that is s = 1/2 with the
classification weighed 0.1 / 0.5 = 0.2 against U, the paper's alpha = 0.1 weighs it 0.1 N / N_u = 0.101.) The beta
and warm-up weights of the rate apply inside L (and U).

Diagnosis (benchmarks/m2_diagnosis.py on a validation split of `mnist_offline`: 100 labels among the first 7,000
training images, the last 1,000 measured; README, "Semi-supervised classification"):
- U teaches q(y|x) the generative model's own labels: U is maximized by q(y|x) = softmax_y L(x, y), and over
  training q's arg max agrees with arg max_y L(x, y) on more and more images (13% after 5 epochs, 50 to 92% later).
  That generative classifier is poor: with 100 labels arg max_y L errs on 24 to 87% of the images after 30 to 100
  epochs, and on 13% even when all 7,000 images are labelled (where q(y|x) errs on 3.8%). q(y|x) therefore starts
  near the plain classifier (it learns the labels first) and gets worse as U pulls it towards arg max L.
- With the paper's alpha (0.1) and weighting (the labelled bound at N_l / N = 1.4%) the labelled classification's
  gradient on q's weights is 5 to 30 times smaller than U's, and the decoder hardly uses y: L(x, y_true) exceeds the
  other labels' by 0.5 to 3.5 nats in 30 epochs (15 nats with s = 1/2, 30 with 10 latents), so q follows a
  generative classifier near chance (69 to 87% error) to 41 to 58% error.
- One noise draw per class adds Monte Carlo noise to the differences of L that steer q: at the same weights U's
  gradient on q's weights is 1.5 to 8 times larger than with one draw shared by the classes (now the default; the
  lowest validation error is the same either way, the shared draw reaches it sooner).
- Weighing the labelled bound by s = 1/2, alpha = 20 and the baseline's own network for q(y|x) (with dropout), the
  defaults now, keep q near the plain classifier (18.3% at epoch 5 against its 19.6%); longer training slowly
  improves the generative classifier (34.7% error at epoch 10, 24.1% at epoch 100, with 10 latents) and q with it
  (21.8% to 20.6%). With the defaults (50 latents) over 300 epochs q(y|x) goes from 20.1% (epoch 20) to 17.9 (100),
  16.3 (200) and 14.5% (300), arg max L from 34.2 to 15.6% and the label gain from 13 to 54 nats: M2 profits from U
  only after far longer training than 30 epochs, as the paper's long runs suggest, and was still improving at 300.
- M1+M2 (cvae.py, `m1_dir`) over 200 epochs: one learned scale for the Gaussian p(z1|y, z2) has to fit M1's active
  latents (spread near 1) and its unused ones (near 0) at once; a learned scale per latent
  (config.gaussian_scale = "per_channel") lowers q(y|x)'s error from 13.8 to 11.8% and raises the label gain from
  28 to 36 nats. Drawing z1 ~ q(z1|x) afresh at every step (config.m1_features = "sample", as the paper does)
  instead of its mean leaves the decoder 3 to 5 times less label gain (8 to 12 nats: the draw's noise dominates
  what y explains) and q(y|x) worse (15.5% one scale, 14.2% per latent). The means with per-latent scales are the
  defaults; over 600 epochs their validation error reaches about 11% by epoch 220 and stays on a plateau (10.6 to
  12.0%) to the end.

q(y|x) is an encoder-shaped network (config.classifier = "encoder") or the plain baseline's small conv net with
dropout ("fixed", tfvae/classifiers.py), so that M2's classifier differs from the baseline's only by what U teaches.
"""

import math

import keras
import tensorflow as tf

from tfvae import classifiers, precision
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
        with precision.networks(self.config.precision):  # the logits of q(y|x)
            if self.config.classifier == "fixed":
                layers = (classifiers.image_layers if self.m1 is None else classifiers.vector_layers)(
                    self.config.num_classes, self.config.seed)
                self.classifier = keras.Sequential(layers, name="classifier")
            else:
                self.classifier = make_net(self.data_config, self.config.num_classes, "classifier")

    def log_prior_y(self):
        """log p(y) = -log K for every class."""
        return -math.log(self.config.num_classes)

    def logits(self, v, training=False):
        """Logits [B, K] of q(y|x) from the modelled data v (as the encoder sees them); training: dropout on."""
        return precision.to_float32(self.classifier(self.encoder_input(v), training=training))

    def probabilities(self, x):
        """q(y|x) [B, K] for images x."""
        return tf.nn.softmax(self.logits(self.features(x)))

    # --- the bounds ---------------------------------------------------------------------------------------------
    def labelled_bound(self, v, h, y, eps, training=False):
        """L(v, y) [B] and its training loss [B] for one-hot labels y [B, K] and noise eps [1, B, L]."""
        terms = self.elbo_terms(v, h, y, eps, training)
        return terms["elbo"][0] + self.log_prior_y(), self.loss_of(terms)[0] - self.log_prior_y()

    def class_bounds(self, v, h, eps, training=False):
        """L(v, y) [B, K] for every class y at once and its training loss [B, K]; eps [K, B, L]."""
        every_class = tf.eye(self.config.num_classes)[:, None, :]  # [K, 1, K], broadcast against the batch
        terms = self.elbo_terms(v, h, every_class, eps, training)  # each [K, B]
        return (tf.transpose(terms["elbo"]) + self.log_prior_y(),
                tf.transpose(self.loss_of(terms)) - self.log_prior_y())

    def unlabelled_bound(self, v, h, logits, eps, training=False):
        """U(v) [B] and its training loss [B] by enumeration over the K classes; logits [B, K], eps [K, B, L]."""
        bound, loss = self.class_bounds(v, h, eps, training)  # L(x, y) [B, K]
        q = tf.nn.softmax(logits)  # [B, K]
        entropy = -tf.reduce_sum(q * tf.nn.log_softmax(logits), -1)  # H(q(y|x)) [B]
        return tf.reduce_sum(q * bound, -1) + entropy, tf.reduce_sum(q * loss, -1) - entropy

    def terms(self, x, labels, x_unlabelled, eps, eps_unlabelled, training=False, feature_seed=None):
        """Named per-example terms: labelled_bound, classification (-log q(y|x)), accuracy and labelled_loss (-L as
        weighted for training) [B_l] for images x [B_l] with integer labels; unlabelled_bound and unlabelled_loss
        [B_u] for x_unlabelled. eps [1, B_l, L], eps_unlabelled [K, B_u, L]; feature_seed: the seed of sampled M1
        latents (cvae.py: features), None for the means."""
        seeds = [None, None] if feature_seed is None else [fold_in(feature_seed, i, dtype=tf.int32) for i in (0, 1)]
        v, v_u = self.features(x, seeds[0]), self.features(x_unlabelled, seeds[1])
        logits, logits_u = self.logits(v, training), self.logits(v_u, training)
        y = self.onehot(labels)
        labelled, labelled_loss = self.labelled_bound(v, self.encoded(v), y, eps, training)
        unlabelled, unlabelled_loss = self.unlabelled_bound(
            v_u, self.encoded(v_u), logits_u, eps_unlabelled, training)
        classification = tf.nn.softmax_cross_entropy_with_logits(y, logits)
        correct = tf.cast(tf.equal(tf.argmax(logits, -1, tf.int32), tf.cast(labels, tf.int32)), tf.float32)
        return {"labelled_bound": labelled, "unlabelled_bound": unlabelled, "classification": classification,
                "accuracy": correct, "labelled_loss": labelled_loss, "unlabelled_loss": unlabelled_loss}

    def loss_weights(self):
        """{labelled_loss: s, unlabelled_loss: 1 - s, classification: (1 - s) alpha / (1 - p)}: the weight of each
        term's batch mean in the loss (module docstring)."""
        p = self.config.labelled_share
        s = self.config.labelled_weight or p
        return {"labelled_loss": s, "unlabelled_loss": 1 - s, "classification": (1 - s) * self.config.alpha / (1 - p)}

    def objective(self, terms):
        """The scalar training loss s mean(-L) + (1 - s) (mean(-U) + alpha / (1 - p) mean(-log q(y|x)))."""
        return sum(w * tf.reduce_mean(terms[name]) for name, w in self.loss_weights().items())

    # --- Keras -------------------------------------------------------------------------------------------------
    def call(self, x):
        """q(y|x) [B, K] for images x."""
        return self.probabilities(x)

    def step_noise(self, batch, batch_unlabelled, step):
        """eps [1, B_l, L] of the labelled rows and eps_unlabelled [K, B_u, L]: one draw for all K classes
        (config.shared_noise) or one per class."""
        seed, k = model_seed(self.config.seed, step), self.config.num_classes
        eps_u = self.noise(batch_unlabelled, 1 if self.config.shared_noise else k, fold_in(seed, 1, dtype=tf.int32))
        return (self.noise(batch, 1, fold_in(seed, 0, dtype=tf.int32)),
                tf.broadcast_to(eps_u, [k, batch_unlabelled, self.config.latent_dim]))

    def step_terms(self, data, step, training):
        """`terms` and their scalar `objective` for a training batch (labelled images [B_l, ...], their labels [B_l],
        unlabelled images [B_u, ...]) or a test batch (images, labels), whose images are also scored unlabelled."""
        x, labels, x_u = data if training else (*data, data[0])
        eps, eps_u = self.step_noise(tf.shape(x)[0], tf.shape(x_u)[0], step)
        feature_seed = fold_in(model_seed(self.config.seed, step), 2, dtype=tf.int32) if training else None
        terms = self.terms(x, labels, x_u, eps, eps_u, training, feature_seed)
        return {**terms, "objective": self.objective(terms)}

    def build(self, input_shape=None):
        """Creates every weight by one pass of a zero image, labelled 0 and unlabelled, through every network."""
        x = tf.zeros([1, *self.config.input_shape])
        latent = self.config.latent_dim
        self.terms(x, tf.zeros([1], tf.int32), x, tf.zeros([1, 1, latent]),
                   tf.zeros([self.config.num_classes, 1, latent]))
        self.built = True
