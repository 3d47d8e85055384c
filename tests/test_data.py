"""Data: the `--dataset` sources and the tf.data pipelines, against ground truth.

Ground truth here is what the test computes independently: the raw MNIST IDX files read with gzip + numpy, known
MNIST class counts and md5s, images the test writes itself with known pixel values, TFDS's own mocked examples, and
the binomial / uniform statistics of the pixel noise (fixed seeds, tolerances stated in units of the standard error).
"""

import gzip
import hashlib
import os
import re
import shutil
import socket
import time

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from tfvae import data
from tfvae.data import sources
from tfvae.data import DataError

DATA_DIR = os.path.dirname(os.path.abspath(sources.__file__))
SHARED_MNIST = os.path.join(os.path.dirname(os.path.dirname(DATA_DIR)), "..", "shared", "data", "mnist")
SHARED_README = os.path.join(SHARED_MNIST, "..", "README.md")
IMAGES_GZ, LABELS_GZ = "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"
# From ../shared/data/README.md (checked against it below when that file is present).
README_MD5 = {IMAGES_GZ: "9fb629c4189551a2d022fa330f9573f3", LABELS_GZ: "ec29112dd5afa0611ce80d1b7f02629c"}
# Class counts of the 10,000-image MNIST test set (LeCun et al.), the well-known ground truth.
MNIST_TEST_CLASS_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def batches(ds):
    return list(ds.as_numpy_iterator())


def split_xy(ds):
    """A train/eval dataset with labels -> (x [S, B, ...] list, y [S, B] array)."""
    pairs = batches(ds)
    return [x for x, _ in pairs], np.stack([y for _, y in pairs]) if pairs else np.zeros(0)


def random_images(shape, seed, extremes=True):
    """uint8 images with values all over 0..255; with `extremes`, some exact 0 and 255 pixels too."""
    images = np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)
    if extremes:
        flat = images.reshape(len(images), -1)
        flat[:, 0], flat[:, 1] = 0, 255
    return images


# ---------------------------------------------------------------------------------------------------------------------
# mnist_offline


def read_idx(path):
    """An IDX file (gzip) read from its documented header: magic (0, 0, dtype 0x08, ndim), ndim big-endian sizes."""
    with gzip.open(path, "rb") as f:
        raw = f.read()
    assert raw[0] == 0 and raw[1] == 0 and raw[2] == 0x08  # unsigned bytes
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    values = np.frombuffer(raw[4 + 4 * ndim:], np.uint8)
    assert values.size == np.prod(dims)
    return values.reshape(dims)


@pytest.fixture(scope="module")
def raw_mnist():
    images, labels = read_idx(os.path.join(DATA_DIR, IMAGES_GZ)), read_idx(os.path.join(DATA_DIR, LABELS_GZ))
    assert images.shape == (10000, 28, 28) and labels.shape == (10000,)
    return images, labels


@pytest.fixture(scope="module")
def offline():
    return data.mnist_offline()


def test_mnist_offline_shapes_dtypes_and_labels(offline):
    assert offline.x_train.shape == (8000, 28, 28, 1) and offline.x_test.shape == (2000, 28, 28, 1)
    assert offline.x_train.dtype == np.uint8 and offline.x_test.dtype == np.uint8
    assert offline.y_train.shape == (8000,) and offline.y_test.shape == (2000,)
    assert offline.y_train.dtype == np.int64 and offline.y_test.dtype == np.int64
    for y in (offline.y_train, offline.y_test):
        assert y.min() == 0 and y.max() == 9
    assert offline.shape == (28, 28, 1) and offline.num_classes == 10
    assert offline.x_train.max() == 255 and offline.x_train.min() == 0  # 0..255 grey, not rescaled
    counts = np.bincount(np.concatenate([offline.y_train, offline.y_test]), minlength=10)
    assert counts.tolist() == MNIST_TEST_CLASS_COUNTS


def test_mnist_offline_is_the_documented_permutation_of_the_raw_files(offline, raw_mnist):
    images, labels = raw_mnist
    order = (7919 * np.arange(10000)) % 10000
    assert len(np.unique(order)) == 10000  # a bijection, as documented
    np.testing.assert_array_equal(offline.y_train, labels[order[:8000]])
    np.testing.assert_array_equal(offline.y_test, labels[order[8000:]])
    # A few images by hand-computed indices: train[i] = raw[7919 i mod 10000], test[j] = raw[7919 (8000 + j) mod 10000].
    for position, raw_index in [(0, 0), (1, 7919), (2, 5838), (7999, 4081)]:
        np.testing.assert_array_equal(offline.x_train[position, ..., 0], images[raw_index])
    for position, raw_index in [(0, 2000), (1999, 2081)]:
        np.testing.assert_array_equal(offline.x_test[position, ..., 0], images[raw_index])
    # And all of them (cheap: 7.8 MB).
    np.testing.assert_array_equal(offline.x_train[..., 0], images[order[:8000]])
    np.testing.assert_array_equal(offline.x_test[..., 0], images[order[8000:]])


def test_mnist_offline_through_load_equals_mnist_offline(offline):
    loaded = data.load("mnist_offline")
    np.testing.assert_array_equal(loaded.x_train, offline.x_train)
    np.testing.assert_array_equal(loaded.y_test, offline.y_test)


def md5(path):
    with open(path, "rb") as f:
        return hashlib.md5(f.read()).hexdigest()


def test_shipped_mnist_files_have_the_documented_md5s():
    for name, expected in README_MD5.items():
        assert md5(os.path.join(DATA_DIR, name)) == expected
    assert sources.MNIST_MD5 == {"images": README_MD5[IMAGES_GZ], "labels": README_MD5[LABELS_GZ]}
    if not os.path.isfile(SHARED_README):
        pytest.skip("../shared/data not present: checked against the md5s copied into this test only")
    with open(SHARED_README) as f:
        readme = f.read()
    for name, expected in README_MD5.items():
        assert re.search(re.escape(name) + r"[^|]*md5 " + expected, readme), name
        assert md5(os.path.join(SHARED_MNIST, name)) == expected  # the shipped copy is the documented file


def copy_mnist(tmp_path):
    for name in (IMAGES_GZ, LABELS_GZ):
        shutil.copy(os.path.join(DATA_DIR, name), tmp_path / name)
    return tmp_path


def flip_byte(path, position):
    raw = bytearray(path.read_bytes())
    raw[position] ^= 0x01
    path.write_bytes(bytes(raw))


def test_mnist_offline_reads_from_here(tmp_path, monkeypatch, offline):
    monkeypatch.setattr(sources, "HERE", str(copy_mnist(tmp_path)))  # an intact copy loads: HERE is honoured
    np.testing.assert_array_equal(data.mnist_offline().x_test, offline.x_test)


@pytest.mark.parametrize("name", [IMAGES_GZ, LABELS_GZ])
def test_damaged_mnist_file_raises(tmp_path, monkeypatch, name):
    directory = copy_mnist(tmp_path)
    flip_byte(directory / name, len((directory / name).read_bytes()) // 2)
    monkeypatch.setattr(sources, "HERE", str(directory))
    with pytest.raises(DataError, match="damaged"):
        data.mnist_offline()
    with pytest.raises(DataError, match="damaged"):
        data.load("mnist_offline")


# ---------------------------------------------------------------------------------------------------------------------
# npz:


def save_npz(tmp_path, name="d.npz", **arrays):
    path = tmp_path / name
    np.savez(path, **arrays)
    return str(path)


def test_npz_uint8_gets_a_channel_axis(tmp_path):
    x_train, x_test = random_images((5, 3, 7), 0), random_images((2, 3, 7), 1)
    path = save_npz(tmp_path, x_train=x_train, x_test=x_test, y_train=np.arange(5) % 3, y_test=np.array([2, 0]))
    loaded = data.load("npz:" + path)
    assert loaded.x_train.shape == (5, 3, 7, 1) and loaded.x_test.shape == (2, 3, 7, 1)
    assert loaded.x_train.dtype == np.uint8
    np.testing.assert_array_equal(loaded.x_train[..., 0], x_train)
    np.testing.assert_array_equal(loaded.x_test[..., 0], x_test)
    assert loaded.y_train.dtype == np.int64 and loaded.y_train.tolist() == [0, 1, 2, 0, 1]
    assert loaded.y_test.tolist() == [2, 0] and loaded.num_classes == 3 and loaded.name == "d.npz"


def test_npz_channels_kept_and_labels_optional(tmp_path):
    x_train, x_test = random_images((3, 5, 2, 3), 2), random_images((2, 5, 2, 3), 3)
    loaded = data.load("npz:" + save_npz(tmp_path, x_train=x_train, x_test=x_test))
    np.testing.assert_array_equal(loaded.x_train, x_train)
    np.testing.assert_array_equal(loaded.x_test, x_test)
    assert loaded.y_train is None and loaded.y_test is None and loaded.num_classes is None
    assert loaded.shape == (5, 2, 3)


def test_npz_tiny_fixture_loads(tiny_npz):
    loaded = data.load("npz:" + tiny_npz)
    assert loaded.x_train.shape == (64, 8, 8, 1) and loaded.x_test.shape == (16, 8, 8, 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_npz_float_converts_exactly(tmp_path, dtype):
    k = np.arange(256).reshape(1, 16, 16)
    # k / 255 must give back k; so must anything within 0.49 / 255 of it (round to nearest).
    x_train = np.concatenate([k / 255, np.clip(k + 0.49, 0, 255) / 255, np.clip(k - 0.49, 0, 255) / 255]).astype(dtype)
    x_test = np.zeros((2, 16, 16), dtype)
    x_test[1] = 1.0
    loaded = data.load("npz:" + save_npz(tmp_path, x_train=x_train, x_test=x_test))
    assert loaded.x_train.dtype == np.uint8 and loaded.x_train.shape == (3, 16, 16, 1)
    for i in range(3):
        np.testing.assert_array_equal(loaded.x_train[i, ..., 0], k[0])
    assert loaded.x_test.dtype == np.uint8
    assert np.all(loaded.x_test[0] == 0) and np.all(loaded.x_test[1] == 255)


def test_npz_bool_is_0_or_255(tmp_path):
    x = np.array([[[True, False], [False, True]]])
    loaded = data.load("npz:" + save_npz(tmp_path, x_train=x, x_test=x))
    assert loaded.x_train[..., 0].tolist() == [[[255, 0], [0, 255]]]


GOOD = np.zeros((4, 3, 5), np.uint8)


@pytest.mark.parametrize("arrays, problem", [
    (dict(x_train=np.full((4, 3, 5), 1.5), x_test=GOOD), r"\[0, 1\]"),
    (dict(x_train=GOOD, x_test=np.full((2, 3, 5), -0.25, np.float32)), r"\[0, 1\]"),
    (dict(x_train=np.zeros((4, 15), np.uint8), x_test=GOOD), "shape"),
    (dict(x_train=np.zeros((4, 3, 5, 1, 1), np.uint8), x_test=GOOD), "shape"),
    (dict(x_train=np.zeros((4, 3, 5), np.int32), x_test=GOOD), "dtype"),
    (dict(x_train=GOOD, x_test=np.zeros((2, 3, 5), np.complex64)), "dtype"),
    (dict(x_train=GOOD), r"missing arrays \['x_test'\]"),
    (dict(images=GOOD), r"missing arrays \['x_test', 'x_train'\]"),
    (dict(x_train=GOOD, x_test=GOOD, y_train=np.arange(3)), "4 train images but 3 labels"),
    (dict(x_train=GOOD, x_test=GOOD[:2], y_train=np.arange(4), y_test=np.arange(5)), "2 test images but 5 labels"),
    (dict(x_train=GOOD, x_test=np.zeros((2, 3, 4), np.uint8)), "differ in shape"),
    (dict(x_train=np.zeros((4, 3, 5, 2), np.uint8), x_test=np.zeros((1, 3, 5, 2), np.uint8)), "channels"),
    (dict(x_train=GOOD[:0], x_test=GOOD), "train split is empty"),
])
def test_npz_bad_arrays_raise(tmp_path, arrays, problem):
    path = save_npz(tmp_path, **arrays)
    with pytest.raises(DataError, match=problem) as info:
        data.load("npz:" + path)
    assert "--dataset=npz:" + path in str(info.value)


def test_npz_missing_and_unreadable_files_raise(tmp_path):
    missing = str(tmp_path / "nope.npz")
    with pytest.raises(DataError, match="--dataset=npz:.*no such file"):
        data.load("npz:" + missing)
    text = tmp_path / "text.npz"
    text.write_text("not an archive\n" * 10)
    with pytest.raises(DataError, match="--dataset=npz:.*not a readable .npz"):
        data.load("npz:" + str(text))
    single = tmp_path / "single.npz"  # a bare .npy array under an .npz name
    with open(single, "wb") as f:
        np.save(f, GOOD)
    with pytest.raises(DataError, match="--dataset=npz:.*not a readable .npz"):
        data.load("npz:" + str(single))


@pytest.mark.filterwarnings("ignore:invalid value encountered in cast:RuntimeWarning")
def test_npz_float_with_nan_raises(tmp_path):
    x = np.full((3, 2, 2), 0.5)
    x[1, 0, 1] = np.nan
    with pytest.raises(DataError, match="--dataset=npz:"):
        data.load("npz:" + save_npz(tmp_path, x_train=x, x_test=GOOD[:, :2, :2]))


def test_npz_object_array_raises_data_error(tmp_path):
    ragged = np.empty(2, object)
    ragged[0], ragged[1] = np.zeros((2, 2), np.uint8), np.zeros((3, 3), np.uint8)
    with pytest.raises(DataError, match="--dataset=npz:"):
        data.load("npz:" + save_npz(tmp_path, x_train=ragged, x_test=GOOD))


@pytest.mark.parametrize("spec", ["", "Some/Path.npz", "zip:x", "/abs/dir"])
def test_unknown_spec_raises(spec):
    with pytest.raises(DataError, match="--dataset=.*is not a data set"):
        data.load(spec)


# ---------------------------------------------------------------------------------------------------------------------
# folder:


def write_png(path, image):
    """image: uint8 [H, W, C]."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tf.io.write_file(str(path), tf.io.encode_png(tf.constant(image, tf.uint8)))


def constant(h, w, colour):
    return np.broadcast_to(np.array(colour, np.uint8), (h, w, len(colour))).copy()


def test_folder_train_test_layout_crops_resizes_and_keeps_order(tmp_path):
    # Sizes all different, none square; colours tell the files apart after resizing.
    train = {"b.png": constant(6, 10, (10, 20, 30)), "a.png": constant(9, 5, (40, 50, 60)),
             "c.png": constant(7, 3, (70, 80, 90))}
    test = {"z.png": constant(5, 11, (100, 110, 120)), "y.png": constant(12, 12, (130, 140, 150))}
    for split, files in (("train", train), ("test", test)):
        for name, image in files.items():
            write_png(tmp_path / "set" / split / name, image)
    (tmp_path / "set" / "train" / "notes.txt").write_text("ignored")
    loaded = data.load("folder:" + str(tmp_path / "set"), image_size=4, channels=3)
    assert loaded.x_train.shape == (3, 4, 4, 3) and loaded.x_test.shape == (2, 4, 4, 3)
    assert loaded.x_train.dtype == np.uint8 and loaded.y_train is None and loaded.name == "set"
    for x, files in ((loaded.x_train, train), (loaded.x_test, test)):
        for got, name in zip(x, sorted(files)):  # sorted by name
            np.testing.assert_array_equal(got, constant(4, 4, files[name][0, 0]))


def test_folder_flat_layout_every_tenth_sorted_file_is_test(tmp_path):
    values = {i: 10 * i + 5 for i in range(21)}
    for i in np.random.default_rng(0).permutation(21):  # written in random order
        extension = ".PNG" if i == 4 else ".png"
        write_png(tmp_path / f"img_{i:02d}{extension}", constant(3 + i % 4, 5, (values[i],)))
    (tmp_path / "readme.md").write_text("not an image")
    loaded = data.load("folder:" + str(tmp_path), image_size=3, channels=1)
    assert loaded.x_train.shape == (19, 3, 3, 1) and loaded.x_test.shape == (2, 3, 3, 1)
    test_ids, train_ids = [9, 19], [i for i in range(21) if i not in (9, 19)]
    assert loaded.x_test[:, 0, 0, 0].tolist() == [values[i] for i in test_ids]
    assert loaded.x_train[:, 0, 0, 0].tolist() == [values[i] for i in train_ids]
    assert np.all(loaded.x_train == loaded.x_train[:, :1, :1])  # constant images stay constant


def test_folder_centre_crop_is_exact(tmp_path):
    wide = np.zeros((4, 8, 3), np.uint8)  # columns: 0-1 black, 2-5 the centre square, 6-7 grey
    wide[:, 2:6] = (200, 100, 50)
    wide[:, 6:] = 90
    tall = np.transpose(wide, (1, 0, 2)).copy()
    for split in ("train", "test"):
        write_png(tmp_path / split / "wide.png", wide)
        write_png(tmp_path / split / "tall.png", tall)
    for size in (4, 2):  # the crop alone, then crop and downsample of a constant square
        loaded = data.load("folder:" + str(tmp_path), image_size=size, channels=3)
        assert loaded.x_train.shape == (2, size, size, 3)
        np.testing.assert_array_equal(loaded.x_train, np.broadcast_to(np.array([200, 100, 50], np.uint8),
                                                                      (2, size, size, 3)))


def test_folder_channels(tmp_path):
    grey = constant(5, 7, (123,))
    rgb_grey = constant(5, 7, (77, 77, 77))
    for split in ("train", "test"):
        write_png(tmp_path / split / "grey.png", grey)
        write_png(tmp_path / split / "rgb.png", rgb_grey)
    one = data.load("folder:" + str(tmp_path), image_size=6, channels=1)  # upsampling too
    assert one.x_train.shape == (2, 6, 6, 1) and one.shape == (6, 6, 1)
    assert one.x_train[0].ravel().tolist() == [123] * 36 and one.x_train[1].ravel().tolist() == [77] * 36
    three = data.load("folder:" + str(tmp_path), image_size=6, channels=3)
    assert three.x_train.shape == (2, 6, 6, 3)
    assert np.all(three.x_train[0] == 123) and np.all(three.x_train[1] == 77)
    default = data.load("folder:" + str(tmp_path), image_size=6)
    assert default.shape == (6, 6, 3)  # channels default to 3


def test_folder_corrupt_file_raises_naming_it(tmp_path):
    write_png(tmp_path / "train" / "ok.png", constant(4, 4, (1, 2, 3)))
    write_png(tmp_path / "test" / "ok.png", constant(4, 4, (1, 2, 3)))
    (tmp_path / "test" / "x.png").write_bytes(np.random.default_rng(0).bytes(200))
    with pytest.raises(DataError, match=r"--dataset=folder:.*x\.png.*not a readable image"):
        data.load("folder:" + str(tmp_path), image_size=4, channels=3)


def test_folder_bad_arguments_raise(tmp_path):
    for split in ("train", "test"):
        write_png(tmp_path / split / "a.png", constant(4, 4, (9, 9, 9)))
    with pytest.raises(DataError, match="--dataset=folder:.*no such directory"):
        data.load("folder:" + str(tmp_path / "missing"), image_size=4)
    for size in (None, 0, -3):
        with pytest.raises(DataError, match="--image_size must be a positive"):
            data.load("folder:" + str(tmp_path), image_size=size)
    with pytest.raises(DataError, match="--channels must be 1 or 3"):
        data.load("folder:" + str(tmp_path), image_size=4, channels=2)


def test_folder_too_few_flat_images_raises(tmp_path):
    for i in range(9):
        write_png(tmp_path / f"{i}.png", constant(4, 4, (i,)))
    with pytest.raises(DataError, match="--dataset=folder:.*both train and test"):
        data.load("folder:" + str(tmp_path), image_size=4)


# ---------------------------------------------------------------------------------------------------------------------
# TFDS names


def fake_prepared(name, data_dir, num_examples):
    """Writes the metadata a prepared TFDS data set has (dataset_info.json with train and test splits), so that
    `builder.is_prepared()` holds; mock_data then serves random examples instead of reading record files."""
    builder = tfds.builder(name, data_dir=data_dir)
    builder.info.set_splits(tfds.core.SplitDict([
        tfds.core.SplitInfo(name=split, shard_lengths=[num_examples], num_bytes=0) for split in ("train", "test")]))
    os.makedirs(builder.data_dir, exist_ok=True)
    builder.info.write_to_directory(builder.data_dir)
    assert builder.is_prepared()
    return str(data_dir)


def no_network(monkeypatch):
    """Every connection attempt fails at once, as on a machine without network; returns the attempted addresses."""
    attempts = []

    def refuse(address, *args, **kwargs):
        attempts.append(address)
        raise OSError(f"[test] no network to {address}")

    monkeypatch.setattr(socket, "create_connection", refuse)
    return attempts


def tfds_arrays(name, data_dir, split):
    return tfds.as_numpy(tfds.builder(name, data_dir=data_dir).as_dataset(split=split, batch_size=-1))


@pytest.mark.parametrize("name, shape, num_classes", [("mnist", (28, 28, 1), 10), ("cifar10", (32, 32, 3), 10)])
def test_tfds_mocked_loads_tfds_examples(tmp_path, monkeypatch, name, shape, num_classes):
    no_network(monkeypatch)  # a prepared data set needs none
    data_dir = fake_prepared(name, tmp_path, 7)
    with tfds.testing.mock_data(num_examples=7, data_dir=data_dir):
        loaded = data.load(name, data_dir=data_dir)
        expected = {split: tfds_arrays(name, data_dir, split) for split in ("train", "test")}
    assert loaded.name == name and loaded.shape == shape
    for split in ("train", "test"):
        x, y = getattr(loaded, "x_" + split), getattr(loaded, "y_" + split)
        assert x.shape == (7,) + shape and x.dtype == np.uint8
        assert y.shape == (7,) and y.dtype == np.int64 and 0 <= y.min() and y.max() < num_classes
        np.testing.assert_array_equal(x, expected[split]["image"])
        np.testing.assert_array_equal(y, expected[split]["label"])


def test_tfds_binarized_mnist_is_scaled_to_0_and_255(tmp_path, monkeypatch):
    no_network(monkeypatch)
    data_dir = fake_prepared("binarized_mnist", tmp_path, 5)
    with tfds.testing.mock_data(num_examples=5, data_dir=data_dir, max_value=2):  # TFDS stores 0/1 pixels
        loaded = data.load("binarized_mnist", data_dir=data_dir)
        stored = tfds_arrays("binarized_mnist", data_dir, "train")["image"]
    assert set(np.unique(stored)) == {0, 1}
    assert loaded.x_train.shape == (5, 28, 28, 1) and loaded.y_train is None
    np.testing.assert_array_equal(loaded.x_train, stored * 255)


def test_tfds_unprepared_without_download_raises_quickly(tmp_path, monkeypatch):
    attempts = no_network(monkeypatch)
    start = time.perf_counter()
    with pytest.raises(DataError, match="--download") as info:
        data.load("mnist", data_dir=str(tmp_path / "fresh"), download=False)
    assert time.perf_counter() - start < 5
    assert "--dataset=mnist" in str(info.value) and "not prepared" in str(info.value)
    assert attempts == []  # no download probe without --download


@pytest.mark.parametrize("name", ["no_such_dataset_xyz", "mnist_ofline"])
@pytest.mark.parametrize("download", [False, True])
def test_tfds_unknown_name_raises(tmp_path, monkeypatch, name, download):
    attempts = no_network(monkeypatch)
    with pytest.raises(DataError, match=f"--dataset={name}: not a TFDS data set"):
        data.load(name, data_dir=str(tmp_path), download=download)
    assert attempts == []


def forbid_download(monkeypatch):
    class DownloadStarted(Exception):
        pass

    def download_and_prepare(self, *args, **kwargs):
        raise DownloadStarted(self.name)

    monkeypatch.setattr(tfds.core.DatasetBuilder, "download_and_prepare", download_and_prepare)
    return DownloadStarted


@pytest.mark.parametrize("name, host", [("mnist", "storage.googleapis.com"), ("cifar10", "www.cs.toronto.edu")])
def test_tfds_download_without_network_fails_fast_naming_the_host(tmp_path, monkeypatch, name, host):
    attempts = no_network(monkeypatch)
    forbid_download(monkeypatch)  # TFDS's own download would retry for minutes: it must not start
    start = time.perf_counter()
    with pytest.raises(DataError, match="cannot be downloaded") as info:
        data.load(name, data_dir=str(tmp_path), download=True)
    assert time.perf_counter() - start < 5
    assert f"{host} is unreachable" in str(info.value) and f"--dataset={name}" in str(info.value)
    assert attempts and attempts[0][0] == host


def test_tfds_download_with_network_starts_the_download(tmp_path, monkeypatch):
    probed = []

    class Connection:
        def close(self):
            pass

    def connect(address, *args, **kwargs):
        probed.append(address)
        return Connection()

    monkeypatch.setattr(socket, "create_connection", connect)
    download_started = forbid_download(monkeypatch)
    with pytest.raises(download_started):
        data.load("mnist", data_dir=str(tmp_path), download=True)
    assert probed == [("storage.googleapis.com", 443)]


def test_tfds_download_probes_the_port_of_the_url_scheme(tmp_path, monkeypatch):
    probed = []

    class Connection:
        def close(self):
            pass

    def http_only(address, *args, **kwargs):  # like an S3 website endpoint: port 80 answers, 443 does not
        probed.append(address)
        if address[1] != 80:
            raise OSError("connection refused")
        return Connection()

    monkeypatch.setattr(socket, "create_connection", http_only)
    download_started = forbid_download(monkeypatch)
    with pytest.raises(download_started):
        data.load("fashion_mnist", data_dir=str(tmp_path), download=True)


def test_tfds_name_with_config_loads(tmp_path, monkeypatch):
    no_network(monkeypatch)
    data_dir = fake_prepared("emnist/letters", tmp_path, 3)
    with tfds.testing.mock_data(num_examples=3, data_dir=data_dir):
        loaded = data.load("emnist/letters", data_dir=data_dir)
    assert loaded.x_train.shape == (3, 28, 28, 1)


# ---------------------------------------------------------------------------------------------------------------------
# pipeline: training batches


def run(images, batch_size, pixels, seed, start_step=0, num_steps=None, labels=None):
    return batches(data.train_dataset(images, batch_size, pixels, seed, start_step, num_steps, labels))


def test_train_batches_shapes_and_dtype():
    images = random_images((7, 3, 5, 2), 0)
    (x, y), = run(images, 3, "continuous", 0, num_steps=1, labels=np.arange(7))
    assert x.shape == (3, 3, 5, 2) and x.dtype == np.float32 and y.dtype == np.int64
    x, = run(images, 3, "continuous", 0, num_steps=1)  # without labels: x alone
    assert x.shape == (3, 3, 5, 2)


def test_train_batches_are_a_function_of_seed_and_step():
    n, batch = 12, 5  # 2 steps per epoch, 2 images dropped each epoch: restarts cross epoch boundaries
    images, labels = random_images((n, 3, 2, 1), 1), np.arange(n)
    full = run(images, batch, "dynamic_binary", 7, 0, 10, labels)
    for start in (1, 4, 7):
        restarted = run(images, batch, "dynamic_binary", 7, start, 10 - start, labels)
        assert len(restarted) == 10 - start
        for (x, y), (x_full, y_full) in zip(restarted, full[start:]):
            np.testing.assert_array_equal(x, x_full)
            np.testing.assert_array_equal(y, y_full)
    unbounded = data.train_dataset(images, batch, "dynamic_binary", 7, start_step=3, labels=labels).take(4)
    for (x, y), (x_full, y_full) in zip(batches(unbounded), full[3:7]):
        np.testing.assert_array_equal(x, x_full)
        np.testing.assert_array_equal(y, y_full)
    for epoch_labels in np.stack([y for _, y in full]).reshape(5, 2 * batch):  # drop_remainder: no repeats
        assert len(set(epoch_labels.tolist())) == 2 * batch


def epoch_orders(n, batch, seed, epochs):
    images = np.zeros((n, 1, 1, 1), np.uint8)
    _, y = split_xy(data.train_dataset(images, batch, "8bit", seed, num_steps=epochs * (n // batch),
                                       labels=np.arange(n)))
    return y.reshape(epochs, n)


def test_every_epoch_is_a_fresh_permutation():
    orders = epoch_orders(15, 5, 3, 4)
    for order in orders:
        assert sorted(order.tolist()) == list(range(15))  # every index exactly once
    for i in range(4):
        for j in range(i):
            assert orders[i].tolist() != orders[j].tolist()
    assert orders[0].tolist() != list(range(15))  # shuffled, not in storage order


def test_different_seeds_give_different_orders():
    a, b = epoch_orders(15, 5, 0, 1), epoch_orders(15, 5, 1, 1)
    assert a.tolist() != b.tolist()
    np.testing.assert_array_equal(a, epoch_orders(15, 5, 0, 1))


def gathered(images, pixels, seed, batch, epochs):
    """Training batches over whole epochs, with the uint8 source images each came from (via labels = indices)."""
    n = len(images)
    x, y = split_xy(data.train_dataset(images, batch, pixels, seed, num_steps=epochs * (n // batch),
                                       labels=np.arange(n)))
    return np.concatenate(x), images[np.concatenate(y)], np.concatenate(y)


@pytest.mark.parametrize("pixels", ["dequantized", "dynamic_binary"])
def test_pixel_noise_is_fresh_every_step(pixels):
    # Identical images, so each batch shows only its noise: steps 0, 1 (epoch 0) and 2, 3 (epoch 1) must all differ.
    images = np.full((10, 4, 6, 1), 100, np.uint8)
    steps = run(images, 5, pixels, 4, num_steps=4)
    for i in range(4):
        for j in range(i):
            assert np.mean(steps[i] != steps[j]) > 0.3, (i, j)


def test_continuous_is_k_over_255_exactly():
    images = random_images((10, 3, 7, 3), 2)
    x, k, _ = gathered(images, "continuous", 0, 5, 2)
    np.testing.assert_array_equal(x, k.astype(np.float32) / np.float32(255))
    assert x.min() == 0.0 and x.max() == 1.0


def test_8bit_is_k():
    images = random_images((10, 3, 7, 3), 3)
    x, k, _ = gathered(images, "8bit", 0, 5, 1)
    np.testing.assert_array_equal(x, k.astype(np.float32))


def test_dynamic_binary_is_bernoulli_k_over_255_with_fresh_draws():
    n = 16
    images = random_images((n, 5, 7, 1), 4)
    x, k, y = gathered(images, "dynamic_binary", 5, 8, 8)  # 8 epochs: every pixel drawn 8 times, 4480 draws
    assert set(np.unique(x).tolist()) == {0.0, 1.0} and x.dtype == np.float32
    assert np.all(x[k == 0] == 0) and np.all(x[k == 255] == 1)
    p = k.astype(np.float64) / 255
    std = np.sqrt(np.sum(p * (1 - p))) / p.size  # standard error of the mean of independent Bernoulli(p) draws
    assert abs(x.mean() - p.mean()) < 5 * std, (x.mean(), p.mean(), std)
    # Fresh draws: the same image in two epochs differs (at ~550 pixels with 0 < p < 1).
    first, second = x[:n][np.argsort(y[:n])], x[n:2 * n][np.argsort(y[n:2 * n])]
    assert np.any(first != second)


@pytest.mark.parametrize("level", [1, 51, 128, 254])
def test_dynamic_binary_probability_is_k_over_255_per_level(level):
    # 2^20 draws per level: standard error <= 0.0005, so k / 256 instead of k / 255 (a bias up to 0.004) is caught.
    x = data.to_pixels(np.full((256, 64, 64, 1), level, np.uint8), "dynamic_binary",
                       tf.constant([3, 1], tf.int64)).numpy()
    p = level / 255
    assert abs(x.mean() - p) < 5 * np.sqrt(p * (1 - p) / x.size), (x.mean(), p)


def test_binarize_probability_is_k_over_255():
    images = np.repeat(np.array([1, 51, 128, 254], np.uint8), 2 ** 18).reshape(4, 512, 512, 1)
    once = data.prepare(images, "static_binary", seed=8, train=True) / 255
    for level, x in zip((1, 51, 128, 254), once):
        p = level / 255
        assert abs(x.mean() - p) < 5 * np.sqrt(p * (1 - p) / x.size), (level, x.mean())


def test_static_binary_prepare_is_fixed_per_seed_and_bernoulli():
    images = random_images((30, 5, 7, 1), 6)
    once = data.prepare(images, "static_binary", seed=3, train=True)
    np.testing.assert_array_equal(once, data.prepare(images, "static_binary", seed=3, train=True))
    assert once.dtype == np.uint8 and set(np.unique(once).tolist()) == {0, 255}
    assert np.all(once[images == 0] == 0) and np.all(once[images == 255] == 255)
    p = images.astype(np.float64) / 255
    std = np.sqrt(np.sum(p * (1 - p))) / p.size
    assert abs(once.mean() / 255 - p.mean()) < 5 * std
    assert np.any(once != data.prepare(images, "static_binary", seed=4, train=True))
    assert np.any(once != data.prepare(images, "static_binary", seed=3, train=False))  # test draws differ
    # Through the pipeline: {0, 1}, the same draw in every epoch.
    x, k, _ = gathered(once, "static_binary", 0, 10, 3)
    assert set(np.unique(x).tolist()) == {0.0, 1.0}
    np.testing.assert_array_equal(x, k / 255)


def test_prepare_binarizes_only_where_asked():
    images = random_images((4, 3, 5, 1), 7)
    for pixels in ("continuous", "dequantized", "8bit"):
        for train in (True, False):
            np.testing.assert_array_equal(data.prepare(images, pixels, 0, train), images)
    np.testing.assert_array_equal(data.prepare(images, "dynamic_binary", 0, True), images)
    test = data.prepare(images, "dynamic_binary", 0, False)
    assert set(np.unique(test).tolist()) == {0, 255}
    np.testing.assert_array_equal(test, data.prepare(images, "static_binary", 1, True))  # documented: seed + 1


def test_dequantized_is_k_plus_uniform_over_256():
    images = random_images((20, 5, 7, 1), 8)
    x, k, y = gathered(images, "dequantized", 9, 10, 4)
    k = k.astype(np.float64)
    assert x.dtype == np.float32
    assert np.all(x >= k / 256) and np.all(x <= (k + 1) / 256)  # the open upper end: see the next test
    u = x.astype(np.float64) * 256 - k
    assert abs(u.mean() - 0.5) < 5 / np.sqrt(12 * u.size)  # U[0, 1): mean 1/2, std 1/sqrt(12)
    assert abs((u < 0.25).mean() - 0.25) < 5 * np.sqrt(0.25 * 0.75 / u.size)
    first, second = x[:20][np.argsort(y[:20])], x[20:40][np.argsort(y[20:40])]
    assert np.all(first != second)  # fresh noise every step


def test_dequantized_stays_below_the_next_level():
    k = np.full((1024, 64, 64, 1), 255, np.uint8)  # 4M pixels: about 32 expected hits at rate 2^-17
    x = data.to_pixels(k, "dequantized", tf.constant([0, 1], tf.int64)).numpy()
    assert x.max() < 1.0


def test_unknown_pixels_raise():
    with pytest.raises(DataError, match="--pixels='binary'"):
        data.to_pixels(np.zeros((1, 2, 2, 1), np.uint8), "binary", tf.constant([0, 0], tf.int64))


def test_steps_per_epoch():
    assert data.steps_per_epoch(10, 3) == 3 and data.steps_per_epoch(10, 10) == 1 and data.steps_per_epoch(7, 1) == 7
    with pytest.raises(DataError, match="--batch_size=11 is larger than the training set \\(10 images\\)"):
        data.steps_per_epoch(10, 11)
    with pytest.raises(DataError, match="--batch_size"):
        data.train_dataset(np.zeros((5, 2, 2, 1), np.uint8), 6, "continuous", 0)


# ---------------------------------------------------------------------------------------------------------------------
# pipeline: evaluation batches


def test_eval_dataset_all_images_once_in_order():
    images, labels = random_images((7, 3, 5, 1), 10), np.arange(7) * 3
    pairs = batches(data.eval_dataset(images, 3, "continuous", 0, labels=labels))
    assert [len(x) for x, _ in pairs] == [3, 3, 1]  # the last batch is smaller
    np.testing.assert_array_equal(np.concatenate([x for x, _ in pairs]), images.astype(np.float32) / np.float32(255))
    np.testing.assert_array_equal(np.concatenate([y for _, y in pairs]), labels)
    alone = batches(data.eval_dataset(images, 3, "8bit", 0))
    np.testing.assert_array_equal(np.concatenate(alone), images.astype(np.float32))


@pytest.mark.parametrize("pixels", ["dequantized", "dynamic_binary"])
def test_eval_dataset_is_the_same_on_every_pass(pixels):
    images = random_images((7, 3, 5, 1), 11)
    ds = data.eval_dataset(images, 3, pixels, 2)
    first, second = np.concatenate(batches(ds)), np.concatenate(batches(ds))
    np.testing.assert_array_equal(first, second)
    np.testing.assert_array_equal(first, np.concatenate(batches(data.eval_dataset(images, 3, pixels, 2))))
    assert np.any(first != np.concatenate(batches(data.eval_dataset(images, 3, pixels, 3))))  # but seeded


def test_eval_dataset_of_a_prepared_binary_test_set_is_exact():
    images = random_images((7, 3, 5, 1), 12)
    test = data.prepare(images, "dynamic_binary", 4, train=False)
    x = np.concatenate(batches(data.eval_dataset(test, 4, "dynamic_binary", 4)))
    np.testing.assert_array_equal(x, test / 255)
