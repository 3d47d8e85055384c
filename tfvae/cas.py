"""The classification accuracy score (CAS; Ravuri & Vinyals 2019, "Classification accuracy score for conditional
generative models").

Draw a labelled training set from a class-conditional generator, train the fixed image classifier
(tfvae/classifiers.py) on it alone, and measure its accuracy on the real test set. The same classifier trained on the
real training set gives the reference it is compared to. Any generator `sample(labels [N] int, seed int) -> images
[N, H, W, C] in [0, 1]` can be scored: `model_sampler` adapts the conditional models (cvae, m2).
"""

import numpy as np

from tfvae import classifiers
from tfvae.data.pixels import to_display


def model_sampler(model):
    """sample(labels, seed) -> images in [0, 1] for a conditional model (mean images of p(x|y, z), z ~ p(z))."""
    def sample(labels, seed):
        return to_display(model.sample(np.asarray(labels, np.int32), seed)[1].numpy(), model.config.pixels)

    return sample


def generate(sample, num_classes, per_class, seed=0, chunk=1000):
    """(images [K * per_class, ...], labels) from `sample`, per_class of every class, in chunks of `chunk` draws."""
    labels = np.repeat(np.arange(num_classes), per_class)
    images = [np.asarray(sample(labels[i:i + chunk], seed + i)) for i in range(0, len(labels), chunk)]
    return np.concatenate(images).astype(np.float32), labels


def real_accuracy(train_images, train_labels, test_images, test_labels, num_classes, steps=classifiers.STEPS,
                  seed=0):
    """Test accuracy of the fixed image classifier trained on real images in [0, 1] [N, H, W, C]."""
    model = classifiers.image_classifier(train_images.shape[1:], num_classes, seed)
    classifiers.fit(model, train_images, train_labels, steps, seed=seed)
    return classifiers.accuracy(model, test_images, test_labels)


def score(sample, test_images, test_labels, num_classes, per_class, steps=classifiers.STEPS, seed=0):
    """CAS: real test accuracy of the fixed image classifier trained only on per_class draws of each class."""
    images, labels = generate(sample, num_classes, per_class, seed)
    return real_accuracy(images, labels, test_images, test_labels, num_classes, steps, seed)
