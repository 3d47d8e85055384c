"""Image data sets behind one `--dataset` spec.

Every source returns an `ImageData` of uint8 arrays [N, H, W, C] with values 0..255 (binary sets use 0 and 255) and
optional int64 labels [N]. The specs:

- `mnist_offline`: the real MNIST test set (10,000 images, shipped in this package, md5s in MNIST_MD5), split by the
  fixed permutation i -> (7919 * i) mod 10000 (7919 is prime to 10000, so this is a bijection): the first 8,000
  permuted indices are the training set, the last 2,000 the test set.
- a TFDS name (`mnist`, `binarized_mnist`, `fashion_mnist`, `cifar10`, ...): its `train` and `test` splits.
- `npz:PATH`: arrays `x_train`, `x_test` (uint8 0..255 or float in [0, 1]; [N, H, W] or [N, H, W, C]) and optional
  `y_train`, `y_test`.
- `folder:PATH`: image files, centre-cropped to a square and resized to `image_size`; `PATH/train` and `PATH/test`
  if both exist, otherwise every 10th file is the test set (tfvae.data.images.split_files; files are listed
  recursively, sorted by path relative to the folder).
"""

import dataclasses
import gzip
import hashlib
import os
import re
import socket
import urllib.parse

import numpy as np

from tfvae.data.images import TEST_EVERY, read_image, split_files
from tfvae.data.errors import DataError

HERE = os.path.dirname(os.path.abspath(__file__))
MNIST_FILES = {"images": "t10k-images-idx3-ubyte.gz", "labels": "t10k-labels-idx1-ubyte.gz"}
MNIST_MD5 = {"images": "9fb629c4189551a2d022fa330f9573f3", "labels": "ec29112dd5afa0611ce80d1b7f02629c"}
MNIST_OFFLINE_TRAIN = 8000
TFDS_NAME = re.compile(r"[a-z0-9_]+(/[\w.-]+)?(:[\d.]+)?")  # name[/config][:version], e.g. imagenet_resized/32x32


@dataclasses.dataclass
class ImageData:
    """A data set in memory: uint8 images [N, H, W, C] in 0..255, int64 labels [N] or None."""

    name: str
    x_train: np.ndarray
    x_test: np.ndarray
    y_train: np.ndarray = None
    y_test: np.ndarray = None

    @property
    def shape(self):
        """[H, W, C] of one image."""
        return tuple(self.x_train.shape[1:])

    @property
    def num_classes(self):
        return None if self.y_train is None else int(max(self.y_train.max(), self.y_test.max())) + 1


def load(spec, data_dir=None, download=False, image_size=None, channels=None):
    """Loads the data set named by `spec` (see the module docstring)."""
    if spec == "mnist_offline":
        data = mnist_offline()
    elif spec.startswith("npz:"):
        data = _from_npz(spec[len("npz:"):])
    elif spec.startswith("folder:"):
        data = _from_folder(spec[len("folder:"):], image_size, channels)
    elif TFDS_NAME.fullmatch(spec):
        data = _from_tfds(spec, data_dir, download)
    else:
        raise DataError(f"--dataset={spec!r} is not a data set: use mnist_offline, a TFDS name, npz:PATH or folder:PATH")
    _check(data, spec)
    return data


def mnist_offline():
    """The embedded MNIST default: 8,000 train and 2,000 test images of the real MNIST test set, with labels."""
    images = _read_idx(os.path.join(HERE, MNIST_FILES["images"]), MNIST_MD5["images"])[..., None]
    labels = _read_idx(os.path.join(HERE, MNIST_FILES["labels"]), MNIST_MD5["labels"]).astype(np.int64)
    order = (7919 * np.arange(len(images))) % len(images)
    train, test = order[:MNIST_OFFLINE_TRAIN], order[MNIST_OFFLINE_TRAIN:]
    return ImageData("mnist_offline", images[train], images[test], labels[train], labels[test])


def _read_idx(path, md5):
    with open(path, "rb") as f:
        raw = f.read()
    if hashlib.md5(raw).hexdigest() != md5:
        raise DataError(f"{path} is damaged (md5 differs from {md5}); reinstall tfvae")
    raw = gzip.decompress(raw)
    ndim = raw[3]
    dims = np.frombuffer(raw, ">u4", count=ndim, offset=4)
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _from_npz(path):
    if not os.path.isfile(path):
        raise DataError(f"--dataset=npz:{path}: no such file")
    try:
        with np.load(path) as archive:
            arrays = {k: archive[k] for k in archive.files}  # members load lazily: read them all here
    except Exception as e:  # numpy raises several types for a non-npz file, an object array or a bad member
        raise DataError(f"--dataset=npz:{path}: not a readable .npz file of arrays ({type(e).__name__})") from None
    keys = set(arrays)
    missing = {"x_train", "x_test"} - keys
    if missing:
        raise DataError(f"--dataset=npz:{path}: missing arrays {sorted(missing)} (has {sorted(keys)})")
    x_train, x_test = (_to_uint8(arrays[k], f"npz:{path} {k}") for k in ("x_train", "x_test"))
    labels = [arrays[k].astype(np.int64).reshape(-1) if k in keys else None for k in ("y_train", "y_test")]
    return ImageData(os.path.basename(path), x_train, x_test, *labels)


def _to_uint8(x, what):
    """[N, H, W] or [N, H, W, C] uint8 0..255 or float in [0, 1] -> uint8 [N, H, W, C]."""
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4:
        raise DataError(f"--dataset={what}: expected images [N, H, W] or [N, H, W, C], got shape {x.shape}")
    if x.dtype == np.uint8:
        return x
    if x.dtype == bool:
        return x.astype(np.uint8) * 255
    if np.issubdtype(x.dtype, np.floating):
        if x.size and not (np.isfinite(x).all() and x.min() >= 0 and x.max() <= 1):
            raise DataError(f"--dataset={what}: float images must lie in [0, 1], got [{x.min()}, {x.max()}]")
        return np.round(x * 255).astype(np.uint8)
    raise DataError(f"--dataset={what}: images must be uint8 or float in [0, 1], got dtype {x.dtype}")


def _from_folder(path, image_size, channels):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    if not os.path.isdir(path):
        raise DataError(f"--dataset=folder:{path}: no such directory")
    if image_size is None or image_size <= 0:
        raise DataError(f"--image_size must be a positive size for folder data sets, got {image_size}")
    if channels not in (None, 1, 3):
        raise DataError(f"--channels must be 1 or 3, got {channels}")
    train_files, test_files = split_files(path)
    if not train_files or not test_files:
        raise DataError(f"--dataset=folder:{path}: needs images for both train and test (found "
                        f"{len(train_files)} and {len(test_files)}; at least {TEST_EVERY} images, or train/ and "
                        "test/)")
    channels = channels or 3

    def read(file):
        try:
            image = tf.constant(read_image(file, channels))
        except DataError as e:
            raise DataError(f"--dataset=folder:{path}: {e}") from None
        side = min(image.shape[0], image.shape[1])
        image = tf.image.resize_with_crop_or_pad(image, side, side)
        image = tf.image.resize(image, (image_size, image_size), antialias=True)
        return np.clip(np.round(image.numpy()), 0, 255).astype(np.uint8)

    x_train, x_test = (np.stack([read(f) for f in files]) for files in (train_files, test_files))
    return ImageData(os.path.basename(os.path.normpath(path)), x_train, x_test)


def _from_tfds(name, data_dir, download):
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except Exception as e:  # tfds raises DatasetNotFoundError and others for unknown names
        raise DataError(f"--dataset={name}: not a TFDS data set or spec ({type(e).__name__})") from None
    if not builder.is_prepared():
        if not download:
            raise DataError(f"--dataset={name} is not prepared in --data_dir={builder.data_dir_root}; "
                            "pass --download to fetch it, or use --dataset=mnist_offline")
        host = _unreachable_host(builder)
        if host:
            raise DataError(f"--dataset={name} cannot be downloaded: {host} is unreachable (no network?); "
                            "prepare it on a machine with network and pass --data_dir, or use --dataset=mnist_offline")
        builder.download_and_prepare()
    image_key = "image"
    if image_key not in builder.info.features:
        raise DataError(f"--dataset={name} has no 'image' feature (features: {list(builder.info.features)})")
    has_label = "label" in builder.info.features
    arrays = {}
    for split in ("train", "test"):
        if split not in builder.info.splits:
            raise DataError(f"--dataset={name} has no {split!r} split (splits: {list(builder.info.splits)})")
        batch = tfds.as_numpy(builder.as_dataset(split=split, batch_size=-1))
        arrays["x_" + split] = _to_uint8(np.asarray(batch[image_key]), name)
        if name.startswith("binarized"):  # stored as 0/1
            arrays["x_" + split] = arrays["x_" + split] * np.uint8(255)
        arrays["y_" + split] = np.asarray(batch["label"], np.int64) if has_label else None
    return ImageData(name, **arrays)


def _unreachable_host(builder, timeout=5.0):
    """The download host of a TFDS builder if it cannot be reached in `timeout` s, else None (TFDS itself would
    retry for minutes before failing)."""
    try:
        urls = list(getattr(builder, "url_infos", None) or {})
    except Exception:  # pylint: disable=broad-except; some builders compute url_infos lazily and may fail offline
        urls = []
    ports = {"http": 80, "https": 443}
    addresses = {(p.hostname, p.port or ports.get(p.scheme, 443)) for p in map(urllib.parse.urlparse, urls)
                 if p.hostname} or {("storage.googleapis.com", 443)}
    for host, port in sorted(addresses):
        try:
            socket.create_connection((host, port), timeout=timeout).close()
        except OSError:
            return host
    return None


def _check(data, spec):
    for split in ("train", "test"):
        x, y = getattr(data, "x_" + split), getattr(data, "y_" + split)
        if len(x) == 0:
            raise DataError(f"--dataset={spec}: the {split} split is empty")
        if y is not None and len(y) != len(x):
            raise DataError(f"--dataset={spec}: {len(x)} {split} images but {len(y)} labels")
    if data.x_train.shape[1:] != data.x_test.shape[1:]:
        raise DataError(f"--dataset={spec}: train images {data.x_train.shape[1:]} and test images "
                        f"{data.x_test.shape[1:]} differ in shape")
    if data.shape[-1] not in (1, 3, 4):
        raise DataError(f"--dataset={spec}: images need 1, 3 or 4 channels, got {data.shape[-1]}")
