"""Checkpoints: a resumed run repeats the uninterrupted one; another configuration is refused."""

import json

import numpy as np
import pytest
from conftest import small_config

from ssgan.train import SemiSupervisedGAN
from ssgan.train.checkpoint import META_FILE, STATE_FILE


def _trainer(**overrides):
    return SemiSupervisedGAN((28, 28, 1), 10, small_config(**overrides))


def test_resume_from_checkpoint_repeats_the_uninterrupted_run(mnist_subset, tmp_path):
    x_lab, y_lab, x_unl, x_test, y_test = mnist_subset
    options = dict(epochs=2, steps_per_epoch=6, seed=5)
    straight = _trainer(**options)
    straight.fit(x_lab, y_lab, x_unl, validation_data=(x_test, y_test), verbose=0)

    first = _trainer(**options)
    first.fit(x_lab, y_lab, x_unl, epochs=1, validation_data=(x_test, y_test), verbose=0)
    first.save_checkpoint(tmp_path)
    assert {p.name for p in tmp_path.iterdir()} == {STATE_FILE, META_FILE}
    meta = json.loads((tmp_path / META_FILE).read_text())
    assert meta["epoch"] == 1 and meta["steps_per_epoch"] == 6 and len(meta["history"]) == 1

    resumed = _trainer(**options)
    resumed.load_checkpoint(tmp_path)
    assert resumed.epoch == 1 and len(resumed.log) == 1
    resumed.fit(x_lab, y_lab, x_unl, validation_data=(x_test, y_test), verbose=0)
    assert resumed.epoch == 2
    for key in ("d_trainable", "g_trainable", "ema"):
        for a, b in zip(getattr(straight.state, key), getattr(resumed.state, key)):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert resumed.log[-1]["test_error"] == straight.log[-1]["test_error"]


def test_a_resumed_run_may_extend_its_epochs(mnist_subset, tmp_path):
    x_lab, y_lab, x_unl, _, _ = mnist_subset
    trainer = _trainer(epochs=1, steps_per_epoch=2)
    trainer.fit(x_lab, y_lab, x_unl, verbose=0)
    trainer.save_checkpoint(tmp_path)
    longer = _trainer(epochs=2, steps_per_epoch=2)
    longer.load_checkpoint(tmp_path)
    longer.fit(x_lab, y_lab, x_unl, verbose=0)
    assert longer.epoch == 2 and [e["epoch"] for e in longer.log] == [1, 2]


def test_checkpoint_of_another_configuration_is_refused(mnist_subset, tmp_path):
    x_lab, y_lab, x_unl, _, _ = mnist_subset
    trainer = _trainer(epochs=1, steps_per_epoch=2)
    trainer.fit(x_lab, y_lab, x_unl, verbose=0)
    trainer.save_checkpoint(tmp_path)
    with pytest.raises(ValueError, match="another configuration"):
        _trainer(epochs=1, steps_per_epoch=2, learning_rate=0.01).load_checkpoint(tmp_path)
    with pytest.raises(FileNotFoundError, match="No checkpoint"):
        _trainer().load_checkpoint(tmp_path / "missing")
