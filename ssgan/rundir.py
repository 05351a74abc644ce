"""The run directory of `python -m ssgan.fit`: one process at a time, its configuration, its
summary, and what a resumed run may change.

A run directory holds `config.json` (the arguments, the settings as given and as resolved, the
versions), `metrics.jsonl`, the models, the sample grids, the learning curve, `checkpoint/` and,
once training ends, `summary.json`. While a process trains in it, it holds a lock on `.lock`
(released by the system when the process ends, however it ends).
"""

import contextlib
import glob
import json
import os
import platform

from ssgan.util import write_json

CONFIG_FILE = "config.json"
SUMMARY_FILE = "summary.json"
LOCK_FILE = ".lock"
CHECKPOINT_DIR = "checkpoint"

# Arguments a resumed run may change: `epochs` upwards, how it reports, and where its (checked)
# data are found.
RESUMABLE = ("epochs", "verbose", "save_every", "plot_every", "data_dir", "no_download")


class RunDirectoryError(RuntimeError):
    """The run directory cannot be used: not a folder, not writable, in use, or corrupt."""


class RunDirectory:
    """The folder `path` of one training run."""

    def __init__(self, path):
        self.path = str(path)
        self._lock = None

    def file(self, name):
        return os.path.join(self.path, name)

    @property
    def checkpoint(self):
        return self.file(CHECKPOINT_DIR)

    def holds_a_run(self):
        return os.path.exists(self.file(CONFIG_FILE)) or os.path.exists(self.checkpoint)

    def lock(self):
        """Create the folder and take its lock, or raise RunDirectoryError at once: another
        process trains here, or the folder cannot be made or written."""
        try:
            os.makedirs(self.path, exist_ok=True)
            handle = open(self.file(LOCK_FILE), "a+")
        except OSError as exc:
            raise RunDirectoryError(f"cannot use {self.path} as the run directory: "
                                    f"{exc.strerror or exc}.") from exc
        try:
            import fcntl

            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # no advisory locks on this system: one process is trusted
            pass
        except OSError:
            handle.seek(0)
            owner = handle.read().strip() or "another process"
            handle.close()
            raise RunDirectoryError(f"{self.path} is in use by process {owner}; wait for it to "
                                    "end, or choose another --out.") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._lock = handle  # held until the process ends
        self._remove_leftovers()

    def release(self):
        """Give the lock up (a process's end does it too)."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    def _remove_leftovers(self):
        """Remove the temporary files of writes a killed process did not finish (safe: the lock
        says no one else writes here)."""
        for folder in (self.path, self.checkpoint):
            for leftover in glob.glob(os.path.join(folder, ".*.tmp*")):
                with contextlib.suppress(OSError):
                    os.remove(leftover)

    def read_config(self):
        """The saved `config.json`, or RunDirectoryError naming what is wrong with it."""
        path = self.file(CONFIG_FILE)
        try:
            with open(path) as f:
                saved = json.load(f)
            saved["arguments"]  # noqa: B018  (the part a resumption needs)
        except FileNotFoundError:
            raise RunDirectoryError(f"--resume: no run to resume in {self.path} (no {CONFIG_FILE}); "
                                    "start it without --resume.") from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise RunDirectoryError(f"{path} is unreadable ({type(exc).__name__}: {exc}); "
                                    "delete the run directory to start over.") from None
        return saved

    def write_config(self, arguments, trainer, extra):
        """`config.json`: the arguments, the settings as given and resolved, the versions."""
        import keras

        write_json(self.file(CONFIG_FILE), {
            "arguments": arguments,
            "training": trainer.config.to_dict(),
            "resolved": trainer.resolved.to_dict(),
            "backend": trainer.backend.device_description(),
            "versions": versions(keras.__version__, keras.backend.backend()),
            **extra,
        })

    def write_summary(self, trainer, wall_seconds):
        """`summary.json`: the final and best test error, the epochs, the time."""
        errors = [entry.get("test_error") for entry in trainer.log]
        valid = [e for e in errors if e is not None]
        best = min(valid) if valid else None
        write_json(self.file(SUMMARY_FILE), {
            "epochs": trainer.epoch,
            "final_test_error": valid[-1] if valid else None,
            "best_test_error": best,
            "best_epoch": errors.index(best) + 1 if valid else None,
            "final_test_accuracy": 1.0 - valid[-1] if valid else None,
            "train_seconds": sum(entry.get("seconds", 0.0) for entry in trainer.log),
            "wall_seconds_this_invocation": wall_seconds,
        })


def changed_arguments(saved, given):
    """The arguments given to a resumption that would change the saved run (`saved`: its
    config.json), as "--name VALUE (saved: VALUE)"; a setting is compared with the value the run
    used, and `epochs` may only grow."""
    used = {**saved["arguments"], **{k: v for k, v in saved.get("training", {}).items()
                                     if v is not None}}
    changes = []
    for name, value in given.items():
        if name in RESUMABLE and name != "epochs":
            continue
        old = used.get(name)
        if isinstance(old, list) and isinstance(value, tuple):
            old = tuple(old)
        if (name == "epochs" and old is not None and value >= old) or value == old:
            continue
        changes.append(f"--{name.replace('_', '-')} {_shown(value)} (saved: {_shown(old)})")
    return changes


def _shown(value):
    if isinstance(value, (list, tuple)):
        return ",".join(map(str, value)) or "none"
    return "none" if value is None else str(value)


def versions(keras_version, backend):
    """The versions a run depends on."""
    from importlib import metadata

    import numpy as np

    import ssgan

    found = {"ssgan": ssgan.__version__, "python": platform.python_version(),
             "numpy": np.__version__, "keras": keras_version}
    try:
        found[backend] = metadata.version(backend)  # the backend's package: tensorflow, jax
    except metadata.PackageNotFoundError:
        pass
    return found
