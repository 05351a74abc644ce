"""Checkpoints: a trainer's whole state and progress on disk, so that a killed run resumes.

A checkpoint is a folder holding `state.npz` (every array of the `TrainState`, by its `flatten`
key) and `checkpoint.json` (the epoch, the steps per epoch, the per-epoch log, the
configuration, the data's shape), each written atomically.
"""

import json
import os

import numpy as np

from ssgan.config import TrainingConfig
from ssgan.train.state import flatten
from ssgan.train.state import unflatten
from ssgan.util import atomic_write
from ssgan.util import write_json

STATE_FILE = "state.npz"
META_FILE = "checkpoint.json"


def save_checkpoint(trainer, directory):
    """Write `trainer`'s state and progress to `directory` (each file atomically)."""
    os.makedirs(directory, exist_ok=True)
    arrays = {k: trainer.backend.to_numpy(v) for k, v in flatten(trainer.state).items()}
    meta = {
        "epoch": trainer.epoch,
        "steps_per_epoch": trainer.resolved.steps_per_epoch,
        "history": trainer.log,
        "config": trainer.config.to_dict(),
        "image_shape": list(trainer.image_shape),
        "n_classes": trainer.n_classes,
    }
    with atomic_write(os.path.join(directory, STATE_FILE), "wb") as f:
        np.savez(f, **arrays)
    write_json(os.path.join(directory, META_FILE), meta)


def load_checkpoint(trainer, directory):
    """Restore a state written by `save_checkpoint` into `trainer` (built with the same
    configuration; only `epochs` may differ, to extend a run)."""
    meta_path = os.path.join(directory, META_FILE)
    state_path = os.path.join(directory, STATE_FILE)
    if not (os.path.exists(meta_path) and os.path.exists(state_path)):
        raise FileNotFoundError(f"No checkpoint in {directory} (expected {STATE_FILE} and "
                                f"{META_FILE}).")
    with open(meta_path) as f:
        meta = json.load(f)
    saved = TrainingConfig.from_dict(meta["config"]).replace(epochs=trainer.config.epochs)
    if saved != trainer.config:  # a resumed run may extend its epochs, nothing else
        raise ValueError(f"The checkpoint in {directory} was written with another "
                         "configuration; resume with the run's own config.")
    template = trainer.set_up(meta["steps_per_epoch"])
    with np.load(state_path) as arrays:
        missing = set(flatten(template)) - set(arrays.files)
        if missing:
            raise ValueError(f"The checkpoint in {directory} lacks {sorted(missing)[:3]}...: "
                             "it was written by another model.")
        state = unflatten(template, lambda key: trainer.backend.to_device(arrays[key]))
    trainer.restore(state, meta["epoch"], meta["history"])
