"""Small fixed classifiers: the yardstick of M1 (on latent means), of the plain labelled-only baseline and of the
classification accuracy score (tfvae/cas.py). Fixed means: the same architecture, optimizer and number of steps
whatever they are trained on, so only the training data differ between the numbers compared.

- `image_classifier`: images [B, H, W, C] in [0, 1] -> logits [B, K]: two stride-2 3x3 convolutions (16, 32 channels,
  ReLU), a 128-unit hidden layer, dropout 0.25.
- `vector_classifier`: vectors [B, D] -> logits [B, K]: one 128-unit hidden layer, dropout 0.25.
Both are trained by Adam (1e-3) on the softmax cross-entropy for a fixed number of steps of batch 64.
"""

import keras
import numpy as np
import tensorflow as tf

STEPS = 2000
BATCH_SIZE = 64


def image_layers(num_classes, seed=0):
    """The image classifier's layers: [B, H, W, C] -> logits [B, K] (also M2's q(y|x) with --classifier=fixed)."""
    return [keras.layers.Conv2D(16, 3, strides=2, padding="same", activation="relu"),
            keras.layers.Conv2D(32, 3, strides=2, padding="same", activation="relu"),
            keras.layers.Flatten(),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dropout(0.25, seed=seed),
            keras.layers.Dense(num_classes)]


def vector_layers(num_classes, seed=0):
    """The vector classifier's layers: [B, ...] (flattened) -> logits [B, K]."""
    return [keras.layers.Flatten(),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dropout(0.25, seed=seed),
            keras.layers.Dense(num_classes)]


def image_classifier(input_shape, num_classes, seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input(tuple(input_shape)), *image_layers(num_classes, seed)],
                            name="image_classifier")


def vector_classifier(dim, num_classes, seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((dim,)), *vector_layers(num_classes, seed)], name="vector_classifier")


def fit(model, inputs, labels, steps=STEPS, batch_size=BATCH_SIZE, seed=0):
    """Trains `model` on (inputs [N, ...], integer labels [N]) for `steps` Adam steps; returns it."""
    inputs, labels = np.asarray(inputs, np.float32), np.asarray(labels, np.int64)
    batches = (tf.data.Dataset.from_tensor_slices((inputs, labels))
               .shuffle(len(inputs), seed=seed, reshuffle_each_iteration=True).repeat()
               .batch(min(batch_size, len(inputs))))
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(batches, epochs=1, steps_per_epoch=steps, shuffle=False, verbose=0)  # batches: already shuffled
    return model


def accuracy(model, inputs, labels, batch_size=500):
    """The share of inputs [N, ...] whose arg-max logit is their label [N]."""
    logits = model.predict(np.asarray(inputs, np.float32), batch_size=batch_size, verbose=0)
    return float(np.mean(np.argmax(logits, -1) == np.asarray(labels)))
