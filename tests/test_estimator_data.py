"""How the estimator prepares its rows (`ssgan.estimator_data`): the held-out rows of early
stopping, and whether rows are images."""

import numpy as np
import pytest
from conftest import blurred_images

from ssgan.estimator_data import detected_image_shape
from ssgan.estimator_data import neighbour_correlation
from ssgan.estimator_data import validation_split


def test_validation_split_is_stratified_and_keeps_every_class():
    y = np.array([0] * 10 + [1] * 5 + [2])
    train, held = validation_split(y, 0.2, 0)
    assert sorted(np.bincount(y[held], minlength=3)) == [0, 1, 2]  # 2 of 10, 1 of 5, 0 of 1
    assert set(y[train]) == {0, 1, 2} and len(train) + len(held) == len(y)
    _, held = validation_split(np.array([0, 0, 1, 1]), 0.1, 0)  # rounds to none: one row
    assert len(held) == 1
    with pytest.raises(ValueError, match="every class has a single labeled row"):
        validation_split(np.array([0, 1, 2]), 0.5, 0)


def test_neighbour_correlation_on_hand_made_columns():
    a = np.array([[0.0, 1.0, 5.0], [1.0, 2.0, 5.0], [2.0, 0.0, 5.0]])
    b = np.array([[0.0, 2.0, 1.0], [2.0, 0.0, 2.0], [4.0, 4.0, 3.0]])
    # column 0: b = 2a (correlation 1); column 1: a = (1, 2, 0), b = (2, 0, 4): centred
    # (0, 1, -1) and (0, -2, 2), correlation -1; column 2: a constant, left out.
    assert neighbour_correlation(a, b) == pytest.approx(0.0)
    assert neighbour_correlation(a[:, :1], b[:, :1]) == pytest.approx(1.0)
    assert neighbour_correlation(a[:, 2:], b[:, 2:]) == 0.0


@pytest.mark.parametrize("side, channels, expected", [
    (28, 1, (28, 28)), (16, 1, (16, 16)), (16, 3, (16, 16, 3)), (8, 1, None)])
def test_smooth_square_images_are_detected_from_a_side_of_16(side, channels, expected):
    assert detected_image_shape(blurred_images(300, side, channels)) == expected


def test_vectors_are_not_taken_for_images():
    rng = np.random.default_rng(0)
    images = blurred_images(300, 28)
    assert detected_image_shape(rng.uniform(size=(300, 784))) is None  # no structure
    assert detected_image_shape(images[:, rng.permutation(784)]) is None  # pixels shuffled
    assert detected_image_shape(images[:, :783]) is None  # not a square
    t = np.linspace(0, 1, 256)  # smooth 1-D signals folded into 16 × 16: the "far" test
    signals = np.sin(2 * np.pi * (rng.uniform(0.5, 2, (300, 1)) * t + rng.uniform(size=(300, 1))))
    assert detected_image_shape(signals) is None
