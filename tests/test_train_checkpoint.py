"""Checkpoints: one atomic file, checked on load; a resumed run repeats the uninterrupted one;
another configuration, a corrupt file or parts that disagree are refused with one line."""

import json
import os

import numpy as np
import pytest
from conftest import small_config

from ssgan.train import SemiSupervisedGAN
from ssgan.train.checkpoint import (
    CHECKPOINT_FILE,
    HEADER,
    CheckpointError,
    checkpoint_epoch,
    checkpoint_exists,
    load_checkpoint,
)
from ssgan.train.state import flatten


def _trainer(**overrides):
    return SemiSupervisedGAN((28, 28, 1), 10, small_config(**overrides))


@pytest.fixture(scope="module")
def saved(mnist_subset, tmp_path_factory):
    """A trainer after one epoch of 2 steps, and its checkpoint folder."""
    x_lab, y_lab, x_unl, _, _ = mnist_subset
    trainer = _trainer(epochs=2, steps_per_epoch=2)
    trainer.fit(x_lab, y_lab, x_unl, epochs=1, verbose=0)
    folder = tmp_path_factory.mktemp("checkpoint")
    trainer.save_checkpoint(folder)
    return trainer, folder


def test_one_file_with_a_header_that_describes_the_arrays(saved):
    trainer, folder = saved
    assert os.listdir(folder) == [CHECKPOINT_FILE] and checkpoint_exists(folder)
    with np.load(folder / CHECKPOINT_FILE) as data:
        header = json.loads(data[HEADER].tobytes().decode())
        arrays = {k: data[k] for k in data.files if k != HEADER}
    assert header["epoch"] == 1 and header["steps_per_epoch"] == 2 and len(header["history"]) == 1
    assert set(header["arrays"]) == set(arrays) == set(flatten(trainer.state))
    assert int(arrays["step"]) == 2


def test_resume_from_checkpoint_repeats_the_uninterrupted_run(mnist_subset, tmp_path):
    x_lab, y_lab, x_unl, x_test, y_test = mnist_subset
    options = dict(epochs=2, steps_per_epoch=6, seed=5)
    straight = _trainer(**options)
    straight.fit(x_lab, y_lab, x_unl, validation_data=(x_test, y_test), verbose=0)
    first = _trainer(**options)
    first.fit(x_lab, y_lab, x_unl, epochs=1, validation_data=(x_test, y_test), verbose=0)
    first.save_checkpoint(tmp_path)
    resumed = _trainer(**options)
    resumed.load_checkpoint(tmp_path)
    assert resumed.epoch == 1 and len(resumed.log) == 1
    resumed.fit(x_lab, y_lab, x_unl, validation_data=(x_test, y_test), verbose=0)
    assert resumed.epoch == 2
    for key, value in flatten(straight.state).items():
        np.testing.assert_array_equal(np.asarray(value), np.asarray(flatten(resumed.state)[key]))
    assert resumed.log[-1]["test_error"] == straight.log[-1]["test_error"]


def test_a_resumed_run_may_extend_its_epochs(mnist_subset, saved):
    x_lab, y_lab, x_unl, _, _ = mnist_subset
    _, folder = saved
    longer = _trainer(epochs=3, steps_per_epoch=2)
    longer.load_checkpoint(folder)
    longer.fit(x_lab, y_lab, x_unl, verbose=0)
    assert longer.epoch == 3 and [e["epoch"] for e in longer.log] == [1, 2, 3]


def test_another_configuration_is_refused(saved, tmp_path):
    _, folder = saved
    with pytest.raises(CheckpointError, match="another configuration"):
        _trainer(epochs=2, steps_per_epoch=2, learning_rate=0.01).load_checkpoint(folder)
    with pytest.raises(FileNotFoundError, match="No checkpoint"):
        _trainer().load_checkpoint(tmp_path / "missing")


def test_the_generator_average_may_be_turned_on_or_off_on_resume(mnist_subset, tmp_path):
    """A checkpoint without the generator's moving average (written with it off, or before it
    existed) resumes with it on, started at the last weights; one with it resumes without."""
    x_lab, y_lab, x_unl, _, _ = mnist_subset
    trainer = _trainer(epochs=2, steps_per_epoch=2, generator_ema=False)
    trainer.fit(x_lab, y_lab, x_unl, epochs=1, verbose=0)
    folder = tmp_path / "last-weights"
    trainer.save_checkpoint(folder)
    with np.load(folder / CHECKPOINT_FILE) as data:
        assert not any(key.startswith("g_ema") for key in data.files)
    averaged = _trainer(epochs=2, steps_per_epoch=2)  # on by default
    averaged.load_checkpoint(folder)
    for got, last in zip(averaged.sampling_weights(), trainer.state.g_trainable):
        np.testing.assert_allclose(got, np.asarray(last), rtol=1e-6)
    averaged.fit(x_lab, y_lab, x_unl, verbose=0)
    assert averaged.epoch == 2 and len(averaged.state.g_ema) == len(averaged.state.g_trainable)
    averaged.save_checkpoint(tmp_path / "averaged")
    plain = _trainer(epochs=2, steps_per_epoch=2, generator_ema=False)
    plain.load_checkpoint(tmp_path / "averaged")
    assert plain.epoch == 2 and plain.state.g_ema == []
    for got, last in zip(plain.sampling_weights(), averaged.state.g_trainable):
        np.testing.assert_array_equal(got, np.asarray(last))


def _rewrite(source, target, change):
    """Copy the checkpoint in `source` to `target`, with `change(header, arrays)` applied."""
    with np.load(source / CHECKPOINT_FILE) as data:
        header = json.loads(data[HEADER].tobytes().decode())
        arrays = {k: data[k] for k in data.files if k != HEADER}
    change(header, arrays)
    os.makedirs(target, exist_ok=True)
    np.savez(target / CHECKPOINT_FILE, **arrays,
             **{HEADER: np.frombuffer(json.dumps(header).encode(), np.uint8)})


@pytest.mark.parametrize("change, message", [
    (lambda h, a: h.update(epoch=2, history=h["history"] * 2), "state is at step 2, its header"),
    (lambda h, a: a.update({"d_trainable/0000": a["d_trainable/0000"][:1]}), "does not match"),
    (lambda h, a: a.pop("ema/0001"), "lacks"),
])
def test_parts_that_disagree_are_refused(saved, tmp_path, change, message):
    trainer, folder = saved
    _rewrite(folder, tmp_path, change)
    with pytest.raises(CheckpointError, match=message):
        _trainer(epochs=2, steps_per_epoch=2).load_checkpoint(tmp_path)


def test_a_truncated_file_is_one_line_naming_it(saved, tmp_path):
    _, folder = saved
    data = (folder / CHECKPOINT_FILE).read_bytes()
    (tmp_path / CHECKPOINT_FILE).write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="checkpoint.npz is unreadable") as info:
        _trainer(epochs=2, steps_per_epoch=2).load_checkpoint(tmp_path)
    assert "\n" not in str(info.value)


def test_checkpoint_epoch_reads_the_header_of_either_format(saved, tmp_path):
    """What the harness's estimate counts as trained already: 0 without a readable checkpoint."""
    _, folder = saved
    assert checkpoint_epoch(folder) == 1
    assert checkpoint_epoch(tmp_path) == 0 and checkpoint_epoch(tmp_path / "absent") == 0
    data = (folder / CHECKPOINT_FILE).read_bytes()
    (tmp_path / CHECKPOINT_FILE).write_bytes(data[: len(data) // 2])
    assert checkpoint_epoch(tmp_path) == 0
    os.remove(tmp_path / CHECKPOINT_FILE)
    (tmp_path / "checkpoint.json").write_text(json.dumps({"epoch": 3}))
    assert checkpoint_epoch(tmp_path) == 3


def test_the_older_two_file_format_loads_with_the_same_checks(saved, tmp_path):
    trainer, folder = saved
    with np.load(folder / CHECKPOINT_FILE) as data:
        header = json.loads(data[HEADER].tobytes().decode())
        arrays = {k: data[k] for k in data.files if k != HEADER}
    np.savez(tmp_path / "state.npz", **arrays)
    (tmp_path / "checkpoint.json").write_text(json.dumps(header))
    restored = _trainer(epochs=2, steps_per_epoch=2)
    load_checkpoint(restored, tmp_path)
    assert restored.epoch == 1
    np.testing.assert_array_equal(restored.get_weights()[0], trainer.get_weights()[0])
    restored.save_checkpoint(tmp_path)  # the new format replaces the old one
    assert os.listdir(tmp_path) == [CHECKPOINT_FILE]
    # A new state beside an old header (the two files of the older format written apart).
    np.savez(tmp_path / "state.npz", **{**arrays, "step": np.asarray(4, "int32")})
    (tmp_path / "checkpoint.json").write_text(json.dumps(header))
    os.remove(tmp_path / CHECKPOINT_FILE)
    with pytest.raises(CheckpointError, match="inconsistent"):
        _trainer(epochs=2, steps_per_epoch=2).load_checkpoint(tmp_path)
