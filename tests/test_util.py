"""Shared helpers (`ssgan.util`): atomic writes, the cache folder, one-line argument errors."""

import json
import os
import random

import numpy as np
import pytest

from ssgan import util


def test_atomic_write_replaces_the_file_whole_or_not_at_all(tmp_path):
    path = tmp_path / "sub" / "file.txt"
    with util.atomic_write(path) as f:
        f.write("first")
    assert path.read_text() == "first"
    with pytest.raises(RuntimeError):
        with util.atomic_write(path) as f:
            f.write("half")
            raise RuntimeError("killed mid-write")
    assert path.read_text() == "first"
    assert os.listdir(path.parent) == ["file.txt"]  # no temporary file left behind


def test_atomic_path_keeps_the_suffix(tmp_path):
    with util.atomic_path(tmp_path / "model.keras") as tmp:
        assert tmp.endswith(".keras") and os.path.dirname(tmp) == str(tmp_path)
        with open(tmp, "w") as f:
            f.write("x")
    assert os.listdir(tmp_path) == ["model.keras"]


def test_write_json_converts_numpy_and_tuples(tmp_path):
    util.write_json(tmp_path / "a.json", {"x": np.float32(0.5), "t": (1, 2), "n": np.int64(3)})
    assert json.loads((tmp_path / "a.json").read_text()) == {"x": 0.5, "t": [1, 2], "n": 3}


def test_cache_dir_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert util.cache_dir("eval_classifier") == tmp_path / "ssgan" / "eval_classifier"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert str(util.cache_dir()).endswith(os.path.join(".cache", "ssgan"))


def test_parser_errors_are_one_line_and_exit_2(capsys):
    parser = util.ArgumentParser(prog="python -m tool", tool="tool")
    parser.add_argument("--n", type=int)
    with pytest.raises(SystemExit) as info:
        parser.parse_args(["--n", "x"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("tool: error: argument --n: invalid int value") and err.count("\n") == 1
    with pytest.raises(SystemExit) as info:
        parser.fail("two\nlines", code=3)
    assert info.value.code == 3 and capsys.readouterr().err == "tool: error: two lines\n"


def test_global_random_states_are_restored():
    np.random.seed(1)
    random.seed(1)
    expected = (np.random.rand(), random.random())
    np.random.seed(1)
    random.seed(1)
    with util.global_random_state_preserved():
        np.random.seed(99)
        random.seed(99)
    assert (np.random.rand(), random.random()) == expected
