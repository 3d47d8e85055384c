"""A learned convolutional denoiser D(y, sigma) of whole images, one network for every noise level: the library's
convolutional prior (plug-and-play: tfvae/restoration/pnp.py uses it as the z-step of the splitting).

Network (in the spirit of FFDNet and DRUNet, Zhang et al. 2018 and 2021), all Keras 3 layers:

    y [B, H, W, C], sigma [B]  ->  concat(y, sigma map) [B, H, W, C + 1]
      -> pixel unshuffle by 2 (space_to_depth)                       [B, H/2, W/2, 4 (C + 1)]: 4x fewer positions
      -> 3x3 conv to w_0
      -> U-Net: at level i, `blocks` residual blocks (x + conv(relu(conv(relu(x))))) of w_i channels, then a 2x2
         stride-2 conv to w_{i+1}; at the deepest level `blocks` blocks; back up by 2x2 stride-2 transposed convs,
         adding the encoder's features of that level (DRUNet's additive skips), then `blocks` blocks
      -> 3x3 conv to 4 C, pixel shuffle (depth_to_space)            [B, H, W, C]: the noise estimate n
    D(y, sigma) = y - n                                              (residual learning, as DnCNN)

The noise level enters as a constant input map, so one network serves sigma from 0 to S_MAX (FFDNet). Any H, W work:
the input is padded by reflection (symmetric) to a multiple of `factor` = 2^len(widths) and the output cropped back.

Training (`fit_conv_denoiser`): clean random crops of the training images (a random flip/rotation per step), noise
sigma ~ U[0, S_MAX] per crop drawn from (seed, step) in `step_terms`, loss the mean squared error ||D(y, sigma) - x||^2
per pixel, Adam with a warm-up and cosine decay. Pixels are on the [0, 1] scale of 8-bit images divided by 255.
"""

import math
import os

import keras
import numpy as np
import tensorflow as tf

from tfvae import precision as precision_lib
from tfvae import runs, training
from tfvae.data import DataError, read_image
from tfvae.data.images import image_files
from tfvae.models.base import TermsModel, replica_rows
from tfvae.nets.conv import ResidualBlock
from tfvae.saving import save_model_file
from tfvae.seeds import DATA_STREAM, MODEL_STREAM, fold

S_MAX = 75 / 255  # the largest noise level trained for ([0, 1] scale), FFDNet's range


@keras.saving.register_keras_serializable(package="tfvae")
class ConvDenoiser(TermsModel):
    """D(y, sigma): noisy images y [B, H, W, channels] on [0, 1] and noise levels sigma [B] (or a scalar) -> the
    denoised images [B, H, W, channels], float32 (module docstring)."""

    TERMS = ("denoising_loss",)
    LOSS = "denoising_loss"

    def __init__(self, channels=1, widths=(64, 128, 256), blocks=2, seed=0, precision="float32", **kwargs):
        super().__init__(**kwargs)
        self.channels, self.widths, self.blocks = int(channels), tuple(int(w) for w in widths), int(blocks)
        self.seed, self.precision = seed, precision
        if self.channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels}")
        conv = keras.layers.Conv2D
        with precision_lib.networks(precision):  # the convolutions compute in `precision`; the output is cast back
            self.head = conv(self.widths[0], 3, padding="same")
            self.down = [([ResidualBlock(w, "relu") for _ in range(self.blocks)], conv(wide, 2, strides=2))
                         for w, wide in zip(self.widths[:-1], self.widths[1:])]
            self.body = [ResidualBlock(self.widths[-1], "relu") for _ in range(self.blocks)]
            self.up = [(keras.layers.Conv2DTranspose(w, 2, strides=2), [ResidualBlock(w, "relu")
                                                                        for _ in range(self.blocks)])
                       for w in reversed(self.widths[:-1])]
            self.tail = conv(4 * self.channels, 3, padding="same")

    @property
    def factor(self):
        """Input sides are padded to a multiple of this: 2 (the unshuffle) * 2^(levels - 1)."""
        return 2 ** len(self.widths)

    def call(self, inputs):
        """inputs (y [B, H, W, C], sigma [B] or a scalar) -> D(y, sigma) [B, H, W, C] float32."""
        y, sigma = inputs
        y = tf.cast(y, tf.float32)
        batch, height, width = tf.shape(y)[0], tf.shape(y)[1], tf.shape(y)[2]
        sigma = tf.broadcast_to(tf.reshape(tf.cast(sigma, tf.float32), [-1]), [batch])
        pad_h, pad_w = (-height) % self.factor, (-width) % self.factor
        padded = tf.pad(y, [[0, 0], [0, pad_h], [0, pad_w], [0, 0]], mode="SYMMETRIC")
        level = tf.ones_like(padded[..., :1]) * sigma[:, None, None, None]
        h = tf.nn.space_to_depth(tf.concat([padded, level], -1), 2)  # [B, H'/2, W'/2, 4 (C + 1)]
        h = self.head(h)
        skips = []
        for blocks, down in self.down:
            for block in blocks:
                h = block(h)
            skips.append(h)
            h = down(h)
        for block in self.body:
            h = block(h)
        for (up, blocks), skip in zip(self.up, reversed(skips)):
            h = up(h) + skip
            for block in blocks:
                h = block(h)
        noise = tf.nn.depth_to_space(precision_lib.to_float32(self.tail(h)), 2)  # [B, H', W', C]
        return y - noise[:, :height, :width]

    def denoise(self, image, sigma):
        """One image [H, W, C] (or [H, W] for one channel) on [0, 1] with noise level sigma (a scalar) -> D(y, sigma),
        the same shape, float32."""
        image = tf.convert_to_tensor(image, tf.float32)
        grey = image.shape.rank == 2
        batch = image[None, ..., None] if grey else image[None]
        out = self((batch, tf.reshape(tf.cast(sigma, tf.float32), [1])))[0]
        return out[..., 0] if grey else out

    def noise(self, shape, step):
        """(sigma [B], eps [B, H, W, C]) of this replica at `step`: sigma ~ U[0, S_MAX] per crop, eps ~ N(0, I); its
        rows of the draw for the global batch, a function of (seed, step) only (tfvae/models/base.py)."""
        rows, start = replica_rows(shape[0])
        seed = fold(self.seed, MODEL_STREAM, step)
        sigma = tf.random.stateless_uniform([rows], seed, 0.0, S_MAX)
        eps = tf.random.stateless_normal(tf.concat([[rows], shape[1:]], 0), fold(self.seed, MODEL_STREAM, step, 1))
        return sigma[start:start + shape[0]], eps[start:start + shape[0]]

    def step_terms(self, data, step, training):
        """The MSE on clean crops x [B, H, W, C] for y = x + sigma eps (`noise`): denoising_loss [B], the mean over
        pixels of (D(y, sigma) - x)^2."""
        sigma, eps = self.noise(tf.shape(data), step)
        estimate = self((data + sigma[:, None, None, None] * eps, sigma))
        return {"denoising_loss": tf.reduce_mean(tf.square(estimate - data), axis=[1, 2, 3])}

    def build(self, input_shape=None):
        self.call((tf.zeros([1, self.factor, self.factor, self.channels]), tf.zeros([1])))  # creates every weight
        self.built = True

    def get_config(self):
        return {"channels": self.channels, "widths": self.widths, "blocks": self.blocks, "seed": self.seed,
                "precision": self.precision}


def colour_from_grey(grey, precision=None):
    """A colour ConvDenoiser (channels 3) that computes what the grey one `grey` does on each image's channel mean:
    the head's weights for R, G and B are the grey weights for y divided by 3, its sigma-map weights are kept, and the
    tail writes the grey noise estimate to every channel. So for an RGB image whose channels are equal it returns the
    grey network's output in all three; training then learns colour from there (every other weight is shared, so the
    features of the grey network are kept). Both are pixel-unshuffled by 2 (channels fastest): head input channel
    p (C + 1) + c and tail output channel p C + c for block position p = 0..3 and channel c."""
    colour = ConvDenoiser(3, grey.widths, grey.blocks, seed=grey.seed, precision=precision or grey.precision)
    grey.build(), colour.build()
    for source, target in zip(grey.weights, colour.weights):
        if source.shape == target.shape:
            target.assign(source)
    head = grey.head.kernel.numpy().reshape(3, 3, 4, 2, -1)  # [3, 3, position, (y, sigma), w_0]
    colour.head.kernel.assign(np.concatenate([np.repeat(head[..., :1, :] / 3, 3, axis=3), head[..., 1:, :]],
                                             axis=3).reshape(colour.head.kernel.shape))
    tail, bias = grey.tail.kernel.numpy(), grey.tail.bias.numpy()  # [3, 3, w_0, 4 positions], [4]
    colour.tail.kernel.assign(np.repeat(tail, 3, axis=-1))
    colour.tail.bias.assign(np.repeat(bias, 3))
    return colour


def crops(images, crop, batch_size, seed, start_step=0):
    """Training batches [batch_size, crop, crop, C] from step start_step on: crops at uniform positions of uniform
    images, all turned by one of the 8 flips/rotations of the square, a function of (seed, step).

    images: float32 [N, H, W, C] (equal sizes, at least crop x crop).
    """
    table = tf.constant(images, tf.float32)
    count, height, width = images.shape[:3]
    rows = tf.range(crop)

    def batch(step):
        seed_ = fold(seed, DATA_STREAM, step)
        picks = tf.random.stateless_uniform([batch_size, 3], seed_, 0, 2 ** 30, tf.int32)
        index = picks[:, 0] % count
        top, left = picks[:, 1] % (height - crop + 1), picks[:, 2] % (width - crop + 1)
        x = tf.gather(table, index)  # [B, H, W, C]
        x = tf.gather(x, top[:, None] + rows, axis=1, batch_dims=1)  # [B, crop, W, C]
        x = tf.gather(x, left[:, None] + rows, axis=2, batch_dims=1)  # [B, crop, crop, C]
        turn = tf.random.stateless_uniform([], fold(seed, DATA_STREAM, step, 1), 0, 8, tf.int32)
        x = tf.image.rot90(x, turn % 4)
        return tf.cond(turn >= 4, lambda: tf.reverse(x, [2]), lambda: x)

    steps = tf.data.Dataset.range(start_step, np.iinfo(np.int64).max)
    return steps.map(batch, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True).prefetch(tf.data.AUTOTUNE)


def psnr(estimate, clean):
    """10 log10(1 / MSE) in dB of images on [0, 1]."""
    mse = float(np.mean((np.asarray(estimate, np.float64) - np.asarray(clean, np.float64)) ** 2))
    return 10 * math.log10(1.0 / max(mse, 1e-12))


def noisy_copies(images, sigmas, seed):
    """{sigma (0-255 scale): [noisy image]} of images [H, W, C] on [0, 1], sigma / 255 Gaussian noise, not clipped;
    fixed by seed (the validation's noise is the same at every evaluation)."""
    rng = np.random.default_rng(seed)
    return {s: [x + s / 255 * rng.standard_normal(x.shape).astype(np.float32) for x in images] for s in sigmas}


def validation_psnr(model, clean, noisy):
    """{sigma: mean PSNR} of model.denoise on the validation images (noisy from noisy_copies), outputs clipped to [0, 1]."""
    return {s: float(np.mean([psnr(np.clip(model.denoise(y, s / 255).numpy(), 0, 1), x)
                              for x, y in zip(clean, images)])) for s, images in noisy.items()}


VALIDATION_EVERY = 20  # files 0, 20, 40, ... (sorted by path) of a training folder are its validation split
VALIDATION_SIGMAS = (15, 25, 50)  # noise levels (0-255 scale) of the validation PSNR


def read_training_images(folder, channels):
    """(training images [N, H, W, C], validation images [H, W, C] list) of the image files under folder (sorted by
    path; every VALIDATION_EVERY-th, from the first, is validation), on [0, 1]. Portrait images are transposed to
    landscape (a flip/rotation is an augmentation anyway) and the training images cropped to the smallest size, so
    they stack."""
    if folder.startswith("folder:"):
        folder = folder[len("folder:"):]
    if not os.path.isdir(folder):
        raise DataError(f"--data={folder}: no such folder")
    files = image_files(folder)
    if len(files) < 2:
        raise DataError(f"--data={folder}: needs at least 2 image files (training and validation), found {len(files)}")
    images = []
    for path in files:
        x = read_image(path, channels=channels).astype(np.float32) / 255
        images.append(x.transpose(1, 0, 2) if x.shape[0] > x.shape[1] else x)
    validation = images[::VALIDATION_EVERY]
    train = [x for i, x in enumerate(images) if i % VALIDATION_EVERY]
    height, width = min(x.shape[0] for x in train), min(x.shape[1] for x in train)
    return np.stack([x[:height, :width] for x in train]), validation


class Validation(keras.callbacks.Callback):
    """After every epoch: the validation PSNR at VALIDATION_SIGMAS, appended to RUN_DIR/validation.json; when its
    mean is the best so far (that file survives a resume), the model is written to `output` (saving.save_model_file)."""

    def __init__(self, images, run_dir, output, steps_per_epoch, seed=0):
        super().__init__()
        self.clean, self.noisy = images, noisy_copies(images, VALIDATION_SIGMAS, seed)
        self.path = os.path.join(run_dir, "validation.json") if run_dir else None
        self.output, self.steps_per_epoch = output, steps_per_epoch
        self.history = runs.read_json(self.path) if self.path and os.path.exists(self.path) else []

    def on_epoch_end(self, epoch, logs=None):
        scores = validation_psnr(self.model, self.clean, self.noisy)
        mean = float(np.mean(list(scores.values())))
        best = max([h["mean_psnr"] for h in self.history], default=-np.inf)
        self.history.append({"step": (epoch + 1) * self.steps_per_epoch, "mean_psnr": mean,
                             "psnr": {str(s): v for s, v in scores.items()},
                             "loss": float((logs or {}).get("denoising_loss", np.nan))})
        if self.path:
            runs.write_json(self.path, self.history)
        shown = ", ".join(f"sigma {s}: {v:.2f}" for s, v in scores.items())
        print(f"validation PSNR after step {(epoch + 1) * self.steps_per_epoch}: {shown} dB (mean {mean:.2f})",
              flush=True)
        if mean > best and self.output:
            save_model_file(self.model, self.output)
            print(f"  best so far: wrote {self.output}", flush=True)


def fit_conv_denoiser(images, validation, steps, *, crop=96, batch_size=16, widths=(64, 128, 256), blocks=2,
                      learning_rate=5e-4, warmup_steps=500, steps_per_epoch=500, seed=0, strategy=None,
                      jit_compile="auto", precision="float32", run_dir=None, output=None, init_from=None, verbose=2,
                      callbacks=()):
    """A ConvDenoiser trained for `steps` Adam steps (linear warm-up, then cosine decay to 0) on crops of images
    [N, H, W, C] (`crops`), validated after every epoch of steps_per_epoch (`Validation`: the best model goes to
    output; validation=None: none). run_dir: checkpoints, logs and validation.json, and a killed run resumes from them
    (tfvae/training/fit.py); batch_size is the global batch under `strategy`. init_from: a ConvDenoiser (.keras) of
    the same architecture whose weights a new run starts from (a resumed run takes its checkpoint's); a grey one
    starts a colour run through `colour_from_grey`. callbacks: Keras callbacks called before the validation's."""
    initial = keras.models.load_model(init_from, compile=False) if init_from else None

    def make():
        model = ConvDenoiser(images.shape[-1], widths, blocks, seed=seed, precision=precision)
        if initial is not None:
            model.build()
            source = initial
            if getattr(initial, "channels", None) == 1 and model.channels == 3:
                source = colour_from_grey(initial, precision=precision)
            if [w.shape for w in source.weights] != [w.shape for w in model.weights]:
                raise DataError(f"--init_from={init_from} is not a ConvDenoiser of widths {tuple(widths)}, "
                                f"{blocks} blocks and {images.shape[-1]} channels (or a grey one of them)")
            model.set_weights(source.get_weights())
        return model

    schedule = keras.optimizers.schedules.CosineDecay(0.0, steps - warmup_steps, warmup_target=learning_rate,
                                                      warmup_steps=warmup_steps)
    callbacks = list(callbacks)
    if validation is not None:
        callbacks.append(Validation(validation, run_dir, output, steps_per_epoch, seed))
    return training.fit(make, lambda start: (crops(images, crop, batch_size, seed, start), None),
                        epochs=-(-steps // steps_per_epoch), steps_per_epoch=steps_per_epoch, run_dir=run_dir,
                        seed=seed, strategy=strategy, learning_rate=schedule, jit_compile=jit_compile,
                        per_execution=10, precision=precision, verbose=verbose, callbacks=callbacks)
