"""tfvae/data/images.py: one lister for every folder data set: recursive, sorted by relative path, filtered by
extension; and the every-10th split. The three folder readers (folder: data sets, colorization images, patch-prior
images) list the same files."""

import os

import numpy as np
import pytest

from tfvae import data
from tfvae.colorization import data as colour_data
from tfvae.data import images
from tfvae.restoration import patch_data

SHARED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "data")


def write(root, relative, value=0, size=(6, 5)):
    path = os.path.join(root, relative)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    data.write_image(path, np.full(size + (3,), value, np.uint8))
    return path


def test_lister_recurses_filters_and_sorts_by_relative_path(tmp_path):
    root = str(tmp_path / "set")
    names = ["b.png", "a.PNG", "a-b.jpg", "a/x.png", "a/deeper/y.tif", "c/z.JPEG", "c/w.bmp", "a.b/v.gif"]
    for name in names:
        write(root, name)
    for other in ("notes.txt", "a/readme.md", "c/photo.png.bak"):
        (tmp_path / "set" / other).write_text("not an image")
    os.makedirs(os.path.join(root, "empty", "deeper"))
    # Sorted as strings of the relative path: '-' < '.' < '/' < letters, so a-b.jpg, a.PNG, a.b/, a/ ... in turn.
    expected = ["a-b.jpg", "a.PNG", "a.b/v.gif", "a/deeper/y.tif", "a/x.png", "b.png", "c/w.bmp", "c/z.JPEG"]
    assert images.image_files(root) == [os.path.join(root, name) for name in expected]
    assert images.image_files(root + os.sep) == [os.path.join(root + os.sep, name) for name in expected]
    assert images.image_files(os.path.join(root, "empty")) == []


def test_split_is_train_and_test_folders_or_every_tenth_file(tmp_path):
    flat = str(tmp_path / "flat")
    files = [write(flat, f"{i // 7}/{i:02d}.png") for i in range(23)]  # nested: 0/, 1/, 2/, 3/
    train, test = images.split_files(flat)
    assert test == [files[9], files[19]] and train == [f for i, f in enumerate(files) if i not in (9, 19)]
    split = str(tmp_path / "split")
    train_files = [write(split, "train/z.png"), write(split, "train/more/a.png")]
    test_files = [write(split, "test/c.png")]
    write(split, "elsewhere/d.png")  # outside train/ and test/: in neither
    assert images.split_files(split) == ([train_files[1], train_files[0]], test_files)
    only_train = str(tmp_path / "only_train")
    inside = [write(only_train, f"train/{i}.png") for i in range(10)]
    assert images.split_files(only_train) == (inside[:9], inside[9:])  # no test/: train/ is just a subfolder


def test_the_three_folder_readers_see_the_same_files(tmp_path):
    root = str(tmp_path / "nested")
    values = {}
    for i in range(12):
        name = f"{'ab'[i % 2]}/{i:02d}.png" if i % 3 else f"{i:02d}.png"
        path = write(root, name, value=10 * i + 5, size=(20, 20))
        marked = data.read_image(path, 3).copy()
        marked[-1, -1] = [255, 0, 0]  # one red pixel: colour readers skip grey pictures (R = G = B everywhere)
        data.write_image(path, marked)
        values[name] = 10 * i + 5
    order = sorted(values)  # by relative path
    train = [values[n] for i, n in enumerate(order) if i % 10 != 9]
    test = [values[n] for i, n in enumerate(order) if i % 10 == 9]
    folder = data.load("folder:" + root, image_size=4, channels=1)
    assert folder.x_train[:, 0, 0, 0].tolist() == train and folder.x_test[:, 0, 0, 0].tolist() == test
    colour = colour_data.load("folder:" + root, 16)
    assert [int(x[0, 0, 0]) for x in colour.x_train] == train and [int(x[0, 0, 0]) for x in colour.x_test] == test
    grey = patch_data.read_grey_images(root)
    assert [round(float(x[0, 0]) * 255) for x in grey] == [values[n] for n in order]


@pytest.mark.skipif(not os.path.isdir(SHARED), reason="needs ../shared/data")
def test_shipped_model_data_lists_are_unchanged():
    """The file lists behind the shipped models (BUILD.md): flat folders, and the colour sets in subfolders."""
    train400 = os.path.join(SHARED, "denoise", "train400")
    assert [os.path.basename(f) for f in images.image_files(train400)] == sorted(
        f for f in os.listdir(train400) if f.endswith(".png"))
    colour = os.path.join(SHARED, "color")
    train, test = images.split_files(colour)
    assert (len(train), len(test)) == (57, 6)  # README: the 57 training images of ../shared/data/color
    walked = sorted((os.path.relpath(os.path.join(d, f), colour) for d, _, fs in os.walk(colour) for f in fs
                     if f.lower().endswith(images.IMAGE_EXTENSIONS)))
    assert [os.path.relpath(f, colour) for f in train + test] == sorted(
        [w for i, w in enumerate(walked) if i % 10 != 9]) + walked[9::10]
