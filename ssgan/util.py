"""Small helpers shared by the library, its command-line tools and the benchmarks: atomic writes,
the user cache folder, an argument parser whose errors are one line, and a guard of the global
random states.

Only the standard library is imported at module level, so that the command-line tools can check
their arguments before any backend starts.
"""

import argparse
import contextlib
import inspect
import json
import os
import sys
import tempfile
from pathlib import Path

EXIT_USAGE = 2


def cache_dir(*parts):
    """`$XDG_CACHE_HOME/ssgan/<parts>` (default `~/.cache/ssgan/<parts>`), not created."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base, "ssgan", *parts)


@contextlib.contextmanager
def atomic_path(path):
    """A temporary path beside `path`, with the same suffix, that replaces `path` in one rename
    when the block ends without an exception (and is removed when it raises): readers see the old
    file or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}")
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
        _fsync_directory(path.parent)  # the rename itself survives a power cut
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(tmp)
        raise


def _fsync_directory(directory):
    with contextlib.suppress(OSError):  # not every file system allows it
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_write(path, mode="w"):
    """`open(path, mode)` for writing, made atomic by `atomic_path`; the data reach the disk
    (fsync) before the rename."""
    with atomic_path(path) as tmp, open(tmp, mode) as f:
        yield f
        f.flush()
        os.fsync(f.fileno())


def _json_default(value):
    if hasattr(value, "item"):  # NumPy scalars
        return value.item()
    if isinstance(value, (set, tuple)):
        return list(value)
    return str(value)


def write_json(path, data, indent=1):
    """Write `data` as JSON to `path` atomically; NumPy scalars, tuples and sets are converted."""
    with atomic_write(path) as f:
        json.dump(data, f, indent=indent, default=_json_default)
        f.write("\n")


def one_line(message):
    """`message` with its lines joined into one."""
    return " ".join(line.strip() for line in str(message).splitlines() if line.strip())


def fail(prog, message, code=EXIT_USAGE):
    """Print `prog: error: message` as one line on stderr and exit with `code`."""
    print(f"{prog}: error: {one_line(message)}", file=sys.stderr, flush=True)
    sys.exit(code)


class ArgumentParser(argparse.ArgumentParser):
    """An `argparse.ArgumentParser` whose errors are one line on stderr, `tool: error: ...`, and
    exit code 2; `tool` defaults to `prog`."""

    def __init__(self, *args, tool=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.tool = tool or self.prog

    def error(self, message):
        fail(self.tool, message + self._suggestion(message))

    def _suggestion(self, message):
        """"; did you mean ...?" for a misspelt option or choice, else ""."""
        import difflib
        import re

        choice = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if choice:
            options = re.findall(r"'([^']*)'", choice.group(2))
            close = difflib.get_close_matches(choice.group(1), options, n=1)
            return f"; did you mean {close[0]!r}?" if close else ""
        if message.startswith("unrecognized arguments:"):
            flags = [o for action in self._actions for o in action.option_strings]
            guesses = [difflib.get_close_matches(word.split("=")[0], flags, n=1)
                       for word in message.split()[2:] if word.startswith("-")]
            guesses = [g[0] for g in guesses if g]
            return f"; did you mean {', '.join(guesses)}?" if guesses else ""
        return ""

    def fail(self, message, code=EXIT_USAGE):
        """Exit with one error line, as for a bad argument."""
        fail(self.tool, message, code)




def takes_argument(function, name):
    """Whether `function` accepts a keyword argument `name` (or any, through **kwargs): how the
    training code passes newer arguments to users' objectives written before them."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == name or p.kind is p.VAR_KEYWORD for p in parameters)


@contextlib.contextmanager
def global_random_state_preserved():
    """Restore Python's and NumPy's global random states after the block (the trainer seeds
    them with `keras.utils.set_random_seed`; TensorFlow's global seed stays set)."""
    import random

    import numpy as np

    python_state, numpy_state = random.getstate(), np.random.get_state()
    try:
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)


__all__ = ["ArgumentParser", "atomic_path", "atomic_write", "cache_dir", "fail",
           "global_random_state_preserved", "one_line", "write_json"]
