"""How the estimator prepares its rows (`ssgan.estimator_data`): the held-out rows of early
stopping."""

import numpy as np
import pytest

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
