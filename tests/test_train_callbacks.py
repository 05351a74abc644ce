"""The run directory's writers (`ssgan.train.callbacks`): every file after every epoch, a
metrics log that holds each epoch once, models that reload."""

import json

import keras
import numpy as np
from PIL import Image
from conftest import small_config

import ssgan  # noqa: F401  (registers the custom layers the saved models need)
from ssgan.train import SemiSupervisedGAN
from ssgan.train.callbacks import Checkpoint, MetricsLog, run_directory_callbacks


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
