"""Checkpoints: a trainer's whole state and progress on disk, so that a killed run resumes.

A checkpoint is one file, `checkpoint.npz` in the checkpoint folder: every array of the
`TrainState` by its `flatten` key, and a JSON header (the epoch, the steps per epoch, the
per-epoch log, the configuration, the data's shape and a manifest of the arrays). It is written
to a temporary file, synced and renamed over the old one, so a crash leaves the old checkpoint or
the new one, never a mix; on load the header and the arrays are checked against each other and
against the trainer. Folders of the older two-file format (`state.npz`, `checkpoint.json`) load
too, with the same checks.
"""

import json
import os
import zipfile

import numpy as np

from ssgan.config import TrainingConfig
from ssgan.train import averaging
from ssgan.train.state import flatten
from ssgan.train.state import unflatten
from ssgan.util import atomic_write

CHECKPOINT_FILE = "checkpoint.npz"
HEADER = "__checkpoint__"  # the array holding the JSON header
_LEGACY_STATE, _LEGACY_META = "state.npz", "checkpoint.json"


class CheckpointError(ValueError):
    """A checkpoint that is missing, unreadable, inconsistent or of another run."""


def checkpoint_exists(directory):
    """Whether `directory` holds a checkpoint (of either format)."""
    return (os.path.isfile(os.path.join(directory, CHECKPOINT_FILE))
            or os.path.isfile(os.path.join(directory, _LEGACY_STATE)))


def _decode_header(array):
    """The JSON header stored as the uint8 array `HEADER` of a checkpoint file."""
    return json.loads(array.tobytes().decode())


def checkpoint_epoch(directory):
    """The epoch the checkpoint in `directory` was written after, read from its header alone
    (the arrays stay on disk); 0 when there is none or it cannot be read."""
    try:
        if os.path.isfile(os.path.join(directory, CHECKPOINT_FILE)):
            with np.load(os.path.join(directory, CHECKPOINT_FILE), allow_pickle=False) as data:
                header = _decode_header(data[HEADER])
        else:
            with open(os.path.join(directory, _LEGACY_META)) as f:
                header = json.load(f)
        return int(header["epoch"])
    except (OSError, ValueError, KeyError, TypeError, EOFError, zipfile.BadZipFile):
        return 0


def save_checkpoint(trainer, directory):
    """Write `trainer`'s state and progress to `directory`/checkpoint.npz, atomically."""
    os.makedirs(directory, exist_ok=True)
    arrays = {k: np.asarray(trainer.backend.to_numpy(v)) for k, v in flatten(trainer.state).items()}
    header = {
        "epoch": trainer.epoch,
        "steps_per_epoch": trainer.resolved.steps_per_epoch,
        "history": trainer.log,
        "config": trainer.config.to_dict(),
        "image_shape": list(trainer.image_shape),
        "n_classes": trainer.n_classes,
        "arrays": {k: [list(v.shape), str(v.dtype)] for k, v in arrays.items()},
    }
    encoded = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    with atomic_write(os.path.join(directory, CHECKPOINT_FILE), "wb") as f:
        np.savez(f, **{HEADER: encoded}, **arrays)
    for legacy in (_LEGACY_STATE, _LEGACY_META):  # superseded by the file just written
        if os.path.exists(os.path.join(directory, legacy)):
            os.remove(os.path.join(directory, legacy))


def _read(directory):
    """(header, arrays) of the checkpoint in `directory`; CheckpointError naming the file and
    the problem when it cannot be read."""
    path = os.path.join(directory, CHECKPOINT_FILE)
    if not os.path.isfile(path):
        return _read_legacy(directory)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
        header = _decode_header(arrays.pop(HEADER))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, UnicodeDecodeError) as exc:
        raise CheckpointError(f"The checkpoint {path} is unreadable ({type(exc).__name__}: "
                              f"{exc}); delete it to start the run over.") from exc
    return path, header, arrays


def _read_legacy(directory):
    state_path = os.path.join(directory, _LEGACY_STATE)
    meta_path = os.path.join(directory, _LEGACY_META)
    if not (os.path.isfile(state_path) and os.path.isfile(meta_path)):
        raise FileNotFoundError(f"No checkpoint in {directory} (expected {CHECKPOINT_FILE}).")
    try:
        with open(meta_path) as f:
            header = json.load(f)
        with np.load(state_path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise CheckpointError(f"The checkpoint in {directory} is unreadable "
                              f"({type(exc).__name__}: {exc}); delete it to start over.") from exc
    return state_path, header, arrays


def _check(path, header, arrays, template):
    """The header and the arrays agree with each other and with the trainer's state."""
    missing = sorted(set(flatten(template)) - set(arrays))
    if missing:
        raise CheckpointError(f"The checkpoint {path} lacks {missing[:3]}: it was written by "
                              "another model.")
    for key, (shape, dtype) in header.get("arrays", {}).items():
        if key not in arrays or list(arrays[key].shape) != shape or str(arrays[key].dtype) != dtype:
            raise CheckpointError(f"The checkpoint {path} is inconsistent: its array {key} does "
                                  "not match its header.")
    step = int(arrays["step"])
    expected = header["epoch"] * header["steps_per_epoch"]
    if step != expected or len(header["history"]) != header["epoch"]:
        raise CheckpointError(
            f"The checkpoint {path} is inconsistent: its state is at step {step}, its header at "
            f"epoch {header['epoch']} of {header['steps_per_epoch']} steps ({expected}); delete "
            "it to start the run over.")


def _start_generator_average(arrays, template, trainer):
    """`arrays` with the generator's moving average (`generator_ema`) added where the checkpoint
    has none (written with it off, or before it existed): started at the last weights, scaled
    so that its debiased value is those weights."""
    missing = [k for k in flatten(template) if k.startswith("g_ema/") and k not in arrays]
    if not missing or "step" not in arrays:
        return arrays
    scale = averaging.correction(trainer.resolved.ema_rate, int(arrays["step"]),
                                 trainer.config.ema_debias)
    started = {k: arrays.get("g_trainable/" + k.split("/", 1)[1]) for k in missing}
    if any(v is None for v in started.values()):
        return arrays  # not this model's checkpoint: `_check` says so
    return {**arrays, **{k: (v * scale).astype(v.dtype) for k, v in started.items()}}


def load_checkpoint(trainer, directory):
    """Restore a state written by `save_checkpoint` into `trainer` (built with the same
    configuration; only `epochs` may differ, to extend a run, and with them a learning-rate decay
    tied to them: `TrainingConfig.extended`)."""
    path, header, arrays = _read(directory)
    epochs = trainer.config.epochs
    try:
        saved = TrainingConfig.from_dict(header["config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError(f"The checkpoint {path} has no valid configuration ({exc}).") from exc
    # A resumed run may extend its epochs (and a decay tied to them), nothing else that trains;
    # the generator's moving average only samples, so it may be turned on or off.
    saved = saved.replace(generator_ema=trainer.config.generator_ema)
    if trainer.config not in (saved.replace(epochs=epochs), saved.extended(epochs)):
        raise CheckpointError(f"The checkpoint {path} was written with another configuration; "
                              "resume with the run's own config.")
    template = trainer.set_up(header["steps_per_epoch"])
    arrays = _start_generator_average(arrays, template, trainer)
    _check(path, header, arrays, template)
    state = unflatten(template, lambda key: trainer.backend.to_device(arrays[key]))
    trainer.restore(state, header["epoch"], header["history"])
