"""The run directory's writers (`ssgan.train.callbacks`): every file after every epoch, a
metrics log that holds each epoch once, models that reload."""

import json
import time
from types import SimpleNamespace

import keras
import numpy as np
import pytest
from PIL import Image
from conftest import small_config

import ssgan  # noqa: F401  (registers the custom layers the saved models need)
from ssgan.train import SemiSupervisedGAN
from ssgan.train.callbacks import (
    Checkpoint,
    MetricsLog,
    RunDirectoryCallback,
    run_directory_callbacks,
)


def test_run_directory_after_each_epoch_and_after_a_resumption(mnist_subset, tmp_path):
    x_lab, y_lab, x_unl, x_test, y_test = mnist_subset
    trainer = SemiSupervisedGAN((28, 28, 1), 10, small_config(generator="cgan", epochs=2,
                                                              steps_per_epoch=2))
    callbacks = run_directory_callbacks(tmp_path, seed=0, title="test")
    assert isinstance(callbacks[0], MetricsLog) and isinstance(callbacks[-1], Checkpoint)
    trainer.fit(x_lab, y_lab, x_unl, epochs=1, validation_data=(x_test[:200], y_test[:200]),
                callbacks=callbacks, verbose=0)
    assert {p.name for p in tmp_path.iterdir()} == {
        "metrics.jsonl", "discriminator.keras", "generator.keras", "samples.png",
        "cgan_classes.png", "learning_curve.png", "checkpoint"}
    with Image.open(tmp_path / "learning_curve.png") as image:
        assert image.format == "PNG"
    discriminator = keras.saving.load_model(tmp_path / "discriminator.keras")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(discriminator(x_test[:5], training=False)["logits"]),
        trainer.predict_logits(x_test[:5]), rtol=1e-5, atol=1e-5)

    # A killed run resumes from its checkpoint: the log is cut back to it, then goes on.
    (tmp_path / "metrics.jsonl").write_text('{"epoch": 1}\n{"epoch": 2}\n')
    resumed = SemiSupervisedGAN((28, 28, 1), 10, trainer.config)
    resumed.load_checkpoint(tmp_path / "checkpoint")
    resumed.fit(x_lab, y_lab, x_unl, validation_data=(x_test[:200], y_test[:200]),
                callbacks=run_directory_callbacks(tmp_path), verbose=0)
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2]
    assert json.loads(lines[0]) == trainer.log[0]


class _Counting(RunDirectoryCallback):
    """Counts its writes (and makes each cost `cost` seconds)."""

    def __init__(self, every, cost=0.0):
        super().__init__("unused", every)
        self.cost, self.epochs = cost, []

    def write(self):
        time.sleep(self.cost)
        self.epochs.append(self._epoch)

    def on_epoch_end(self, epoch, logs=None):
        self._epoch = epoch + 1
        super().on_epoch_end(epoch, logs)


def _drive(callback, epochs, epoch_seconds=0.0, stop_at=None):
    """Call `callback` as a fit of `epochs` epochs would (the trainer a stand-in)."""
    trainer = SimpleNamespace(stop_training=False)
    callback.set_model(trainer)
    callback.set_params({"epochs": epochs})
    callback.on_train_begin()
    for epoch in range(epochs):
        time.sleep(epoch_seconds)
        trainer.stop_training = epoch + 1 == stop_at
        callback.on_epoch_end(epoch)
        if trainer.stop_training:
            break
    return callback.epochs


def test_writes_every_n_epochs_and_after_the_last_or_a_stop():
    assert _drive(_Counting(1), 4) == [1, 2, 3, 4]
    assert _drive(_Counting(3), 7) == [3, 6, 7]
    assert _drive(_Counting(3), 7, stop_at=5) == [3, 5]
    with pytest.raises(ValueError, match="positive int or 'auto'"):
        _Counting(0)


def test_auto_writes_once_ten_times_its_cost_was_trained():
    # Writes cost 30 ms: with 10 ms epochs, one write per ~30 epochs' worth (300 ms) of training.
    written = _drive(_Counting("auto", cost=0.03), 40, epoch_seconds=0.01)
    assert written[0] == 1 and written[-1] == 40  # the first (to measure) and the last
    assert 2 <= len(written) <= 12, written  # not 40: about one a 300 ms of training
    # With epochs far longer than ten writes, every epoch (200 ms against 10 × 1 ms: a loaded
    # machine's slower sleeps still leave a wide margin).
    assert _drive(_Counting("auto", cost=0.001), 4, epoch_seconds=0.2) == [1, 2, 3, 4]
