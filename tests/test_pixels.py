"""tfvae/data/pixels.py: the encoders' input scale and the display scale of every pixel representation."""

import numpy as np
import pytest
import tensorflow as tf

from tfvae.config import PIXELS
from tfvae.data import pixels, to_pixels

LEVELS = np.arange(256, dtype=np.float32)  # every 8-bit value


def test_network_input_maps_8bit_onto_minus_one_to_one_exactly_as_before():
    for x in (LEVELS, tf.constant(LEVELS)):
        got = np.asarray(pixels.network_input(x, "8bit"))
        np.testing.assert_array_equal(got, LEVELS / 127.5 - 1.0)  # the expression the models used
        assert got.dtype == np.float32
    assert pixels.network_input(np.float32(0), "8bit") == -1.0 and pixels.network_input(np.float32(255), "8bit") == 1.0


@pytest.mark.parametrize("representation", [p for p in PIXELS if p != "8bit"])
def test_network_input_passes_unit_range_representations_through(representation):
    x = tf.constant(np.linspace(0, 1, 7, dtype=np.float32))
    assert pixels.network_input(x, representation) is x


@pytest.mark.parametrize("representation", PIXELS)
def test_to_display_puts_every_representation_in_the_unit_interval(representation):
    images = np.array([[0, 1, 128, 254, 255]], np.uint8).reshape(1, 1, 5, 1)
    x = to_pixels(images, representation, tf.constant([3, 1], tf.int64))
    shown = np.asarray(pixels.to_display(x, representation))
    assert shown.min() >= 0.0 and shown.max() <= 1.0
    np.testing.assert_array_equal(shown, np.asarray(x) / pixels.display_scale(representation))
    expected = 255.0 if representation == "8bit" else 1.0
    assert pixels.display_scale(representation) == expected  # the old `255.0 if pixels == "8bit" else 1.0`
    if representation == "8bit":
        np.testing.assert_array_equal(shown, images.astype(np.float32) / np.float32(255))


def test_numpy_stays_numpy_and_tensors_stay_tensors():
    assert isinstance(pixels.to_display(LEVELS, "8bit"), np.ndarray)
    assert tf.is_tensor(pixels.to_display(tf.constant(LEVELS), "8bit"))
    assert tf.is_tensor(pixels.network_input(tf.constant(LEVELS), "8bit"))
