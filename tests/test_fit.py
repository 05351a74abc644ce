"""`python -m ssgan.fit`: options made from the settings, help, bad arguments, a short run's
directory, resume after a kill."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import run_module

from ssgan import config as settings
from ssgan import fit

FAST = ["--steps-per-epoch", "4", "--verbose", "2"]


def _run_cli(*args, env=None, timeout=600):
    return run_module("ssgan.fit", *args, env=env, timeout=timeout)


def _error_lines(stderr):
    return [line for line in stderr.splitlines() if line.startswith("ssgan.fit: error:")]


def test_help_explains_every_option(capsys):
    with pytest.raises(SystemExit) as exit_info:
        fit.main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for option in ("--labeled", "--epochs", "--seed", "--batch-size", "--dataset", "--data-dir",
                   "--out", "--generator", "--minibatch-discrimination", "--vbn", "--resume",
                   "--recipe"):
        assert option in text


def test_every_setting_is_an_option_with_one_default_in_its_help(capsys):
    parser = fit.build_parser()
    flags = {option for action in parser._actions for option in action.option_strings}
    for field in settings.settings():
        if field.name != "generator_options":  # --generator-option KEY=VALUE
            assert "--" + field.name.replace("_", "-") in flags, field.name
    with pytest.raises(SystemExit):
        fit.main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "(default: 0.003)" in text and "(default: None)" not in text
    assert "(default: half of epochs)" in text  # a derived setting says what None stands for


def test_recipes_set_the_config_and_explicit_options_win():
    def config(*argv):
        return fit.training_config(fit.build_parser().parse_args(list(argv)))

    fast = config()
    assert (fast.epochs, fast.vbn, fast.lr_decay_start, fast.generator_learning_rate) == (
        16, True, None, None)
    full = config("--recipe", "full")
    assert (full.epochs, full.vbn, full.lr_decay_start) == (300, False, 300)
    assert (full.generator_learning_rate, full.generator_beta_1, full.beta_2) == (0.001, 0.0, 0.9999)
    assert full.learning_rate == 0.003 and full.beta_1 == 0.5
    # Explicit options override the recipe; its constant learning rate follows --epochs.
    custom = config("--recipe", "full", "--epochs", "20", "--vbn", "--generator-learning-rate",
                    "0.002")
    assert (custom.epochs, custom.vbn, custom.lr_decay_start) == (20, True, 20)
    assert custom.generator_learning_rate == 0.002
    assert config("--recipe", "full", "--lr-decay-start", "10").lr_decay_start == 10
    assert config("--no-vbn").vbn is False
    assert config("--discriminator-hidden", "64,32").discriminator_hidden == (64, 32)
    assert config("--generator-option", "class_weight=2").generator_options == {"class_weight": 2}


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--labeled", "15"], "divisible by the number of classes"),
        (["--labeled", "5"], "at least the number of classes"),
        (["--dataset", "imagenet"], "invalid choice: 'imagenet'"),
        (["--generator", "nonsense"], "invalid choice: 'nonsense'"),
        (["--generator-option", "novalue"], "KEY=VALUE"),
        (["--generator", "cgan", "--generator-option", "bogus=1"],
         "no option bogus; its options: class_weight"),
        (["--epochs", "0"], "argument --epochs: must be ≥ 1, got 0"),
        (["--learning-rate", "-1"], "argument --learning-rate: must be > 0, got -1"),
        (["--label-smoothing", "1"], "argument --label-smoothing: must be ≥ 0 and < 1"),
        (["--discriminator-hidden", "10,x"], "expected integers"),
        (["--labeled", "0"], "--labeled must be positive"),
        (["--recipe", "slow"], "invalid choice: 'slow'"),
    ],
)
def test_bad_arguments_give_one_error_line_and_exit_2(argv, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        fit.main([*argv, "--out", str(tmp_path / "run")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    lines = _error_lines(err)
    assert len(lines) == 1 and message in lines[0], err
    assert len(err.strip().splitlines()) == 1


def test_missing_data_is_one_clear_error(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SSGAN_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    with pytest.raises(SystemExit) as exit_info:
        fit.main(["--data-dir", str(tmp_path / "nowhere"), "--no-download",
                  "--out", str(tmp_path / "run")])
    assert exit_info.value.code == 2
    (line,) = _error_lines(capsys.readouterr().err)
    assert "not found" in line and "train-images-idx3-ubyte" in line
    assert str(tmp_path / "nowhere") in line and "SSGAN_DATA_DIR" in line


def test_run_directory_and_resume(tmp_path):
    run = tmp_path / "run"
    result = _run_cli("--labeled", "100", "--epochs", "2", "--out", str(run), *FAST)
    assert result.returncode == 0, result.stderr[-3000:]
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("Test accuracy: ") and "after 2 epochs" in last
    for name in ("config.json", "metrics.jsonl", "discriminator.keras", "generator.keras",
                 "samples.png", "learning_curve.png", "checkpoint"):
        assert (run / name).exists(), name
    config = json.loads((run / "config.json").read_text())
    assert config["arguments"]["labeled"] == 100 and config["training"]["epochs"] == 2
    # The settings as given, and as the run resolved them (no derived setting left as null).
    assert config["training"]["steps_per_epoch"] == 4 and config["training"]["ema_rate"] is None
    resolved = config["resolved"]
    assert resolved["ema_rate"] == 1.0 and resolved["lr_decay_start"] == 1  # min(1, 10 / 8)
    assert all(resolved[k] is not None for k in resolved if not k.endswith("_hidden")
               and k != "jit_compile")
    epochs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in epochs] == [1, 2]
    assert all(0.0 <= e["test_accuracy"] <= 1.0 for e in epochs)

    # The same directory again without --resume is refused; with it, the run goes on.
    again = _run_cli("--labeled", "100", "--epochs", "2", "--out", str(run), *FAST)
    assert again.returncode == 2 and "--resume" in again.stderr
    resumed = _run_cli("--resume", "--epochs", "3", "--out", str(run), "--verbose", "2")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Resuming" in resumed.stdout and "after 3 epochs" in resumed.stdout
    epochs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in epochs] == [1, 2, 3]


def test_resume_after_the_process_is_killed(tmp_path):
    """Kill a run right after its first checkpoint; --resume finishes it from there."""
    run = tmp_path / "run"
    checkpoint = run / "checkpoint" / "checkpoint.json"
    process = subprocess.Popen(
        [sys.executable, "-m", "ssgan.fit", "--epochs", "30", "--out", str(run),
         "--steps-per-epoch", "30", "--verbose", "0"],
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 600
        while not checkpoint.exists() and process.poll() is None and time.time() < deadline:
            time.sleep(0.2)
        assert checkpoint.exists(), "no checkpoint was written"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    done = json.loads(checkpoint.read_text())["epoch"]
    assert 1 <= done < 30
    resumed = _run_cli("--resume", "--epochs", str(done + 1), "--out", str(run), "--verbose", "2")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"after epoch {done}" in resumed.stdout
    epochs = [json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert epochs[-1] == done + 1
