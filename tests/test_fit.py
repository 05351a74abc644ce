"""`python -m ssgan.fit`: options made from the settings, help, bad arguments, a short run's
directory, resume after a kill."""

import json
import os
import subprocess
import sys
import time

import numpy as np
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
        parser = fit.build_parser()
        return fit.training_config(fit.effective(fit.given(parser.parse_args(list(argv)))),
                                   parser)

    fast = config()
    assert (fast.epochs, fast.vbn, fast.lr_decay_start, fast.generator_learning_rate) == (
        12, False, 10, 0.0005)
    assert (fast.batch_size, fast.input_shift, fast.consistency_weight) == (50, 2, 1.0)
    assert fast.distribution_alignment is True
    assert config("--epochs", "30").lr_decay_start == 26  # the last eighth, as --epochs says
    full = config("--recipe", "full")
    assert (full.epochs, full.vbn, full.lr_decay_start) == (300, False, 300)
    assert (full.generator_learning_rate, full.generator_beta_1, full.beta_2) == (0.001, 0.0, 0.9999)
    assert full.learning_rate == 0.003 and full.beta_1 == 0.5
    assert (full.input_shift, full.consistency_weight) == (2, 1.0)
    assert full.distribution_alignment is True
    # Explicit options override the recipe; its constant learning rate follows --epochs.
    custom = config("--recipe", "full", "--epochs", "20", "--vbn", "--generator-learning-rate",
                    "0.002")
    assert (custom.epochs, custom.vbn, custom.lr_decay_start) == (20, True, 20)
    assert custom.generator_learning_rate == 0.002
    assert config("--recipe", "full", "--lr-decay-start", "10").lr_decay_start == 10
    assert config("--vbn").vbn is True and config("--input-shift", "0").input_shift == 0
    assert config("--discriminator-hidden", "64,32").discriminator_hidden == (64, 32)
    assert config("--generator", "cgan", "--generator-option", "class_weight=2"
                  ).generator_options == {"class_weight": 2}


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--labeled", "15"], "divisible by the number of classes"),
        (["--labeled", "5"], "at least the number of classes"),
        (["--dataset", "imagenet"], "Unknown dataset 'imagenet'; known datasets are cifar10"),
        (["--dataset", "minst"], "did you mean 'mnist'?"),
        (["--dataset", "missing.npz"], "missing.npz does not exist"),
        (["--generator", "nonsense"], "invalid choice: 'nonsense'"),
        (["--generator-option", "novalue"], "KEY=VALUE"),
        (["--generator", "cgan", "--generator-option", "bogus=1"],
         "--generator-option bogus: generator 'cgan' has no such option; its options: "
         "class_weight"),
        (["--epochs", "0"], "argument --epochs: must be ≥ 1, got 0"),
        (["--learning-rate", "-1"], "argument --learning-rate: must be > 0, got -1"),
        (["--label-smoothing", "1"], "argument --label-smoothing: must be ≥ 0 and < 1"),
        (["--discriminator-hidden", "10,x"], "expected integers"),
        (["--labeled", "0"], "argument --labeled: must be a positive int, got '0'"),
        (["--lables", "100"], "unrecognized arguments: --lables 100; did you mean --labeled?"),
        (["--generator", "cgna"], "did you mean 'cgan'?"),
        (["--save-every", "0"], "expected a positive int or 'auto'"),
        (["--resume"], "--resume: no run to resume in"),
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
    assert str(tmp_path / "nowhere") in line and "does not exist" in line


def test_help_version_and_bad_arguments_answer_before_any_backend_starts():
    """As real processes: well under a second each, and one line for an error."""
    for args, code, stream, expected in ((["--help"], 0, "stdout", "usage: python -m ssgan.fit"),
                                         (["--version"], 0, "stdout", "ssgan 0.1.0"),
                                         (["--epochs", "-3"], 2, "stderr", "must be ≥ 1")):
        start = time.perf_counter()
        result = _run_cli(*args)
        seconds = time.perf_counter() - start
        assert result.returncode == code and expected in getattr(result, stream), result
        assert seconds < 5.0, seconds  # a backend start alone takes several seconds here
    code = ("import sys, ssgan.fit\n"
            "try:\n    ssgan.fit.main(['--epochs', '0'])\nexcept SystemExit:\n    pass\n"
            "print('RESULT ' + str(sorted(m for m in ('keras', 'tensorflow', 'jax') "
            "if m in sys.modules)))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "RESULT []" in result.stdout, result.stdout + result.stderr


def test_the_console_script_names_itself():
    script = os.path.join(os.path.dirname(sys.executable), "ssgan-fit")
    result = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.startswith("usage: ssgan-fit ")


def test_run_directory(tmp_path):
    run = tmp_path / "run"
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    result = subprocess.run(
        [sys.executable, "-m", "ssgan.fit", "--labeled", "100", "--epochs", "2", "--out",
         str(run), "--steps-per-epoch", "4", "--verbose", "1"],
        capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    # No backend log lines: stderr holds at most the progress bar's own output, nothing else.
    assert "oneDNN" not in result.stderr and "cuda" not in result.stderr.lower(), result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("tensorflow ") and "recipe fast, 2 epochs" in lines[0]
    assert lines[-1].startswith("Test accuracy: ") and "after 2 epochs" in lines[-1]
    for name in ("config.json", "metrics.jsonl", "discriminator.keras", "generator.keras",
                 "samples.png", "learning_curve.png", "checkpoint", "summary.json"):
        assert (run / name).exists(), name
    config = json.loads((run / "config.json").read_text())
    assert config["arguments"]["labeled"] == 100 and config["training"]["epochs"] == 2
    # The settings as given, and as the run resolved them (no derived setting left as null).
    assert config["training"]["steps_per_epoch"] == 4 and config["training"]["ema_rate"] is None
    resolved = config["resolved"]
    assert resolved["ema_rate"] == 1.0 and resolved["lr_decay_start"] == 1  # min(1, 10 / 8)
    assert all(resolved[k] is not None for k in resolved if not k.endswith("_hidden")
               and k != "jit_compile")
    assert set(config["versions"]) >= {"ssgan", "keras", "tensorflow", "python", "numpy"}
    epochs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in epochs] == [1, 2]
    summary = json.loads((run / "summary.json").read_text())
    assert summary["epochs"] == 2 and summary["final_test_error"] == epochs[-1]["test_error"]
    assert summary["best_test_error"] == min(e["test_error"] for e in epochs)

    # The same directory again without --resume is refused; with it, the run goes on.
    again = _run_cli("--labeled", "100", "--epochs", "2", "--out", str(run), *FAST)
    assert again.returncode == 2 and "--resume" in again.stderr
    resumed = _run_cli("--resume", "--epochs", "3", "--out", str(run), "--verbose", "2")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resumed after epoch 2" in resumed.stdout and "after 3 epochs" in resumed.stdout
    epochs = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [e["epoch"] for e in epochs] == [1, 2, 3]


def test_saving_every_n_epochs_writes_the_last_one_too(tmp_path, capsys):
    run = tmp_path / "run"
    assert fit.main(["--epochs", "3", "--steps-per-epoch", "2", "--save-every", "2",
                     "--plot-every", "5", "--batch-size", "20", "--discriminator-hidden", "32",
                     "--generator-hidden", "32", "--verbose", "0", "--out", str(run)]) == 0
    header = json.loads(np.load(run / "checkpoint" / "checkpoint.npz")["__checkpoint__"]
                        .tobytes().decode())
    assert header["epoch"] == 3  # saved at 2 and after the last, 3
    assert (run / "samples.png").exists()  # plotted after the last epoch only
    assert capsys.readouterr().out.splitlines()[-1].endswith("after 3 epochs")


def test_a_users_npz_data_set_trains_from_the_command_line(mnist, tmp_path, capsys,
                                                           monkeypatch):
    (x_train, y_train), (x_test, y_test) = mnist
    path = tmp_path / "digits.npz"
    np.savez(path, x_train=x_train[:600], y_train=y_train[:600], x_test=x_test[:100],
             y_test=y_test[:100])
    monkeypatch.chdir(tmp_path)
    assert fit.main(["--dataset", str(path), "--labeled", "20", "--epochs", "1",
                     "--steps-per-epoch", "2", "--batch-size", "20", "--discriminator-hidden",
                     "32", "--generator-hidden", "32", "--verbose", "0"]) == 0
    run = tmp_path / "runs" / "digits-20-feature-matching-seed0"
    config = json.loads((run / "config.json").read_text())
    assert config["n_labeled"] == 20 and config["n_unlabeled"] == 600
    assert "Test accuracy: " in capsys.readouterr().out
