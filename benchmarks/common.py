"""What the benchmark scripts share: train one config on a data set, time it, evaluate it."""

import os
import platform
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf

from tfvae import data as data_lib
from tfvae import evaluation, families, runs
from tfvae.config import TrainConfig


class EpochTimer(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self.start)

    def throughput(self, per_epoch):
        """(median, mean) examples per second over the epochs from the second on (the first compiles), each of
        `per_epoch` examples; the only epoch if there is one."""
        steady = sorted(self.times[1:] or self.times)
        return per_epoch / steady[len(steady) // 2], per_epoch * len(steady) / sum(steady)


class WallClockBudget(keras.callbacks.Callback):
    """Stops training at the end of the first epoch that ends past `seconds` since training began."""

    def __init__(self, seconds):
        super().__init__()
        self.seconds, self.epochs = seconds, 0

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.epochs = epoch + 1
        if time.perf_counter() - self.start >= self.seconds:
            self.model.stop_training = True


def validation_split(data, count):
    """ImageData that trains on all but the last `count` training images of `data` and measures those."""
    n = len(data.x_train) - count
    return data_lib.ImageData(f"{data.name}_validation", data.x_train[:n], data.x_train[n:], data.y_train[:n],
                              data.y_train[n:])


def train_and_evaluate(model_config, data, epochs, num_samples, surgery=0):
    """Trains model_config for `epochs` (batch 128, Adam 1e-3) and evaluates it on the test split.

    Throughput is images per epoch over the median epoch time from epoch 2 on (compilation excluded, robust to
    passing slow-downs of a shared machine); the mean-based figure and wall times are returned too.
    """
    train_config = TrainConfig(batch_size=128, epochs=epochs, learning_rate=1e-3)
    timer = EpochTimer()
    with tempfile.TemporaryDirectory() as model_dir:
        start = time.perf_counter()
        model = families.train(model_config, train_config, data, model_dir, verbose=0, validate=False,
                               callbacks=[timer])
        wall = time.perf_counter() - start
    median, mean = timer.throughput(data_lib.steps_per_epoch(len(data.x_train), 128) * 128)
    pixels, seed = model_config.pixels, model_config.seed
    test_images = data_lib.prepare(data.x_test, pixels, seed, False)
    test = data_lib.eval_dataset(test_images, 100, pixels, seed)
    start = time.perf_counter()
    results = evaluation.evaluate(model, test, num_samples, seed)
    if surgery:
        prepared = tf.concat(list(test), 0).numpy()
        results["elbo_surgery"] = evaluation.elbo_surgery(model, prepared, surgery, seed)
    results.update(epochs=epochs, images_per_s=median, images_per_s_mean=mean, epoch_s=timer.times,
                   train_wall_s=wall, eval_wall_s=time.perf_counter() - start, pixels=pixels,
                   params=int(sum(v.numpy().size for v in model.trainable_variables)))
    return results


def measure_training(model_config, train_config, data, strategy=None):
    """Trains model_config per train_config in a temporary model_dir; returns the throughput figures.

    images_per_s: images per epoch over the median epoch time from epoch 2 on (compilation excluded, robust to
    passing slow-downs of a shared machine); images_per_s_mean, every epoch_s and the wall time are returned too.
    """
    timer = EpochTimer()
    with tempfile.TemporaryDirectory() as model_dir:
        start = time.perf_counter()
        families.train(model_config, train_config, data, model_dir, strategy=strategy, verbose=0, validate=False,
                       callbacks=[timer])
        wall = time.perf_counter() - start
    median, mean = timer.throughput(
        data_lib.steps_per_epoch(len(data.x_train), train_config.batch_size) * train_config.batch_size)
    return dict(images_per_s=median, images_per_s_mean=mean, epoch_s=timer.times, train_wall_s=wall)


def machine():
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, TF {tf.__version__}"


def psnr(estimate, clean):
    """PSNR in dB on the 0-255 scale of the estimate clipped to [0, 1] against clean on [0, 1] (the denoising and
    restoration benchmarks' measure)."""
    mse = np.mean((np.clip(np.asarray(estimate, np.float64), 0, 1) * 255 - np.asarray(clean, np.float64) * 255) ** 2)
    return float(10 * np.log10(255.0 ** 2 / mse))


def noisy(clean, sigma, index):
    """clean [H, W(, C)] on [0, 1] plus white Gaussian noise of sigma / 255 (sigma on the 0-255 scale), seed
    1000 * sigma + index (the denoising benchmarks' fixed noise, not clipped or rounded), float32."""
    return clean + sigma / 255 * np.random.default_rng(1000 * sigma + index).normal(size=clean.shape).astype(np.float32)


def write_results(path, results):
    """results as indented JSON to path (its folder made if needed; atomically, tfvae.runs.write_json), and a line
    saying so."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    runs.write_json(path, results)
    print(f"Wrote {path}")


def denoising_row(images, method, sigmas):
    """{str(sigma): {"psnr", "seconds_per_image"}, ..., "mean_psnr"}: the mean PSNR and wall-clock seconds of
    method(noisy image, sigma / 255) -> restored over images (each `noisy(clean, sigma, index)`), at every sigma
    (0-255 scale), and the mean PSNR over the sigmas."""
    row = {}
    for sigma in sigmas:
        scores, seconds = [], []
        for index, clean in enumerate(images):
            observed = noisy(clean, sigma, index)
            start = time.perf_counter()
            restored = method(observed, sigma / 255)
            seconds.append(time.perf_counter() - start)
            scores.append(psnr(restored, clean))
        row[str(sigma)] = {"psnr": float(np.mean(scores)), "seconds_per_image": float(np.mean(seconds))}
    row["mean_psnr"] = float(np.mean([row[str(s)]["psnr"] for s in sigmas]))
    return row
