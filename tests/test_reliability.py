"""Run directories that never lie: `python -m ssgan.fit` killed at its dangerous moments, run twice
at once, resumed with changed options, given bad options or corrupt files, as real processes.

A kill is injected by a small wrapper around `ssgan.fit.main` that sends the process SIGKILL at
one named moment: after an epoch's metrics line, in the middle of writing the checkpoint, or in
the middle of writing a `.keras` model. Nothing may be lost: a resumed run's log holds each epoch
once and its numbers equal those of a run that was never interrupted.
"""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from ssgan import fit

# Tiny networks, few steps: an epoch takes a fraction of a second.
RUN = ["--steps-per-epoch", "3", "--batch-size", "20", "--discriminator-hidden", "32,16",
       "--generator-hidden", "32", "--labeled", "20", "--save-every", "1", "--plot-every", "1",
       "--verbose", "0"]

_WRAPPER = """
import os, signal, sys
moment, epoch = sys.argv[1], int(sys.argv[2])
import ssgan.fit
from ssgan.train import callbacks, checkpoint

def die():
    os.kill(os.getpid(), signal.SIGKILL)

def at(cls, method, when):
    original = getattr(cls, method)
    def wrapped(self, *args, **kwargs):
        when(self, original, *args, **kwargs)
    setattr(cls, method, wrapped)

if moment == "after-metrics":  # the epoch's metrics line is written, its checkpoint is not
    def when(self, original, *args, **kwargs):
        if self.model.epoch >= epoch:
            die()
        original(self, *args, **kwargs)
    at(callbacks.Checkpoint, "write", when)
elif moment == "in-checkpoint":  # half of the new checkpoint file is on disk
    savez = checkpoint.np.savez
    def half_savez(f, **arrays):
        if arrays[checkpoint.HEADER] is not None and '"epoch": %d' % epoch in bytes(
                arrays[checkpoint.HEADER]).decode():
            f.write(b"PK\\x03\\x04 half a zip")
            f.flush()
            die()
        savez(f, **arrays)
    checkpoint.np.savez = half_savez
elif moment == "in-model":  # half of the new discriminator.keras is on disk
    import keras
    def when(self, original, path, *args, **kwargs):
        if self.name == "discriminator" and ssgan_epoch[0] >= epoch:
            with open(path, "wb") as f:
                f.write(b"half a model")
            die()
        original(self, path, *args, **kwargs)
    at(keras.Model, "save", when)
    ssgan_epoch = [0]
    def count(self, original, *args, **kwargs):
        ssgan_epoch[0] = self.model.epoch
        original(self, *args, **kwargs)
    at(callbacks.SaveModels, "write", count)
sys.exit(ssgan.fit.main(sys.argv[3:]))
"""


def _env():
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


def _fit(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "ssgan.fit", *map(str, args)],
                          capture_output=True, text=True, env=_env(), timeout=timeout)


def _killed(moment, epoch, *args):
    result = subprocess.run([sys.executable, "-c", _WRAPPER, moment, str(epoch), *map(str, args)],
                            capture_output=True, text=True, env=_env(), timeout=600)
    assert result.returncode == -signal.SIGKILL, result.stderr[-2000:]


def _log(run):
    """The metrics log without its timings."""
    lines = (run / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if "seconds" not in k} for line in lines]


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    """A 3-epoch run never interrupted: what every resumed run must end as."""
    run = tmp_path_factory.mktemp("straight") / "run"
    result = _fit(*RUN, "--epochs", 3, "--out", run)
    assert result.returncode == 0, result.stderr[-2000:]
    return _log(run)


@pytest.mark.parametrize("moment", ["after-metrics", "in-checkpoint", "in-model"])
def test_a_kill_at_a_dangerous_moment_loses_nothing(moment, straight, tmp_path):
    run = tmp_path / "run"
    _killed(moment, 2, *RUN, "--epochs", 3, "--out", run)
    if moment == "in-model":  # the discriminator of epoch 1 is whole, not the half-written one
        import keras

        import ssgan.layers  # noqa: F401  (registers its layers)

        keras.saving.load_model(run / "discriminator.keras")
    resumed = _fit("--resume", "--out", run, "--verbose", 0)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert [e["epoch"] for e in _log(run)] == [1, 2, 3]
    assert _log(run) == straight  # the same numbers as a run never interrupted
    # The killed write's temporary file is gone too.
    assert not [p for p in run.rglob(".*") if ".tmp" in p.name]


def test_two_processes_on_one_run_directory(tmp_path):
    run = tmp_path / "run"
    first = subprocess.Popen([sys.executable, "-m", "ssgan.fit", *RUN, "--epochs", "200",
                              "--out", str(run)], env=_env(), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while not (run / "config.json").exists() and time.time() < deadline:
            time.sleep(0.1)
        assert first.poll() is None, "the first run ended early"
        start = time.perf_counter()
        second = _fit(*RUN, "--epochs", 200, "--out", run)
        resumer = _fit("--resume", "--out", run)
        assert time.perf_counter() - start < 10.0  # refused at once, before any backend starts
        for result in (second, resumer):
            assert result.returncode == 2
            assert f"is in use by process {first.pid}" in result.stderr
            assert len(result.stderr.strip().splitlines()) == 1
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
    # The killed process left no stuck lock.
    from ssgan.rundir import RunDirectory

    RunDirectory(run).lock()


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A finished 1-epoch run to resume."""
    run = tmp_path_factory.mktemp("finished") / "run"
    result = _fit(*RUN, "--epochs", 1, "--out", run)
    assert result.returncode == 0, result.stderr[-2000:]
    return run


@pytest.mark.parametrize("argv, named", [
    (["--labeled", "30"], "--labeled 30 (saved: 20)"),
    (["--seed", "1"], "--seed 1 (saved: 0)"),
    (["--learning-rate", "0.1"], "--learning-rate 0.1 (saved: 0.003)"),
    (["--generator", "cgan"], "--generator cgan (saved: feature-matching)"),
    (["--recipe", "full"], "--recipe full (saved: fast)"),
    (["--batch-size", "50"], "--batch-size 50 (saved: 20)"),
    (["--discriminator-hidden", "32"], "--discriminator-hidden 32 (saved: 32,16)"),
    (["--generator-option", "x=1"], "--generator-option x=1 (saved: none)"),
    (["--epochs", "4", "--seed", "7"], "--seed 7 (saved: 0)"),
])
def test_resume_refuses_every_change_to_the_run(finished, argv, named, capsys):
    with pytest.raises(SystemExit) as info:
        fit.main(["--resume", "--out", str(finished), *argv])
    assert info.value.code == 2
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert named in line and "cannot change the run" in line


def test_resume_may_extend_epochs_not_shorten_them_and_same_values_are_no_change(
        finished, tmp_path, capsys):
    run = tmp_path / "run"
    subprocess.run(["cp", "-r", str(finished), str(run)], check=True)
    config = json.loads((run / "config.json").read_text())
    config["training"]["epochs"] = 5  # as if the run had been started for 5 epochs
    (run / "config.json").write_text(json.dumps(config))
    with pytest.raises(SystemExit):
        fit.main(["--resume", "--out", str(run), "--epochs", "2"])
    assert "--epochs 2 (saved: 5)" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        fit.main(["--resume", "--out", str(run), "--epochs", "6", "--seed", "0",
                  "--labeled", "20", "--discriminator-hidden", "32,16", "--seed", "3"])
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.endswith("cannot change the run in " + str(run) + ": --seed 3 (saved: 0). "
                         "Only --epochs (upwards), --verbose, --save-every, --plot-every, "
                         "--data-dir and --no-download may change; start a new run with another "
                         "--out for the rest.")  # the values equal to the saved ones are no change


@pytest.mark.parametrize("damage, message", [
    ("config.json", "config.json is unreadable (JSONDecodeError"),
    ("checkpoint/checkpoint.npz", "checkpoint.npz is unreadable"),
])
def test_a_corrupt_file_is_one_line_naming_it(finished, tmp_path, damage, message):
    run = tmp_path / "run"
    subprocess.run(["cp", "-r", str(finished), str(run)], check=True)
    path = run / damage
    path.write_bytes(path.read_bytes()[:40])
    result = _fit("--resume", "--out", run, "--epochs", 2)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("ssgan.fit: error:") and message in line


@pytest.mark.parametrize("out", ["a-file", "/proc/ssgan-run"])
def test_a_bad_out_fails_in_under_a_second(tmp_path, out):
    target = tmp_path / out if not out.startswith("/") else out
    if out == "a-file":
        target.write_text("not a folder")
    start = time.perf_counter()
    result = _fit("--out", target, "--epochs", 1)
    seconds = time.perf_counter() - start
    assert result.returncode == 2 and "cannot use" in result.stderr and seconds < 5.0
    assert len(result.stderr.strip().splitlines()) == 1
