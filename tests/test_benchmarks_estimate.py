"""`run_all.py` before it trains: the estimated wall time of the plan, the question (or --yes)
when it runs past `estimate.CONFIRM_HOURS`, and a stop while the data load or the evaluation
classifier trains (one line, no traceback, nothing lost)."""

import io
import json

import pytest

from benchmarks import cli
from benchmarks import estimate
from benchmarks import plan
from benchmarks import runner

# One run of 2 epochs: the smallest plan that trains.
ONE_RUN = ["--quick", "--labels", "20", "--no-ablation", "--generators", "", "--classifier", "none"]


def _specs(*argv):
    args = cli.build_parser().parse_args(list(argv))
    settings = plan.settings_from_args(args)
    return plan.build_plan(args, settings, plan.seeds_from(args.seeds, args.quick))


def _probe(step_seconds):
    """Costs as if measured: `step_seconds` a step, 600 steps an epoch."""
    return estimate.Probe("fm-l20-s0", 50, step_seconds, eval_seconds=2.0,
                          overhead_seconds=10.0, steps_per_epoch=600)


def test_plan_seconds_adds_every_run():
    todo = _specs("--seeds", "2", "--epochs", "10")  # (4 label counts + 3 ablation + 3) × 2
    assert len(todo) == 20
    measured = _probe(0.05)  # an epoch: 600 × 0.05 + 2 = 32 s; a run: 10 + 10 × 32 = 330 s
    assert estimate.plan_seconds(measured, todo) == pytest.approx(20 * 330)
    line = estimate.estimate_line(measured, todo, "jax 0.4 on CPU (cpu)")
    assert line.startswith("Estimate: ~1h50m for 20 runs × 10 epochs on this machine (jax 0.4 on "
                           "CPU (cpu)), from a timing of 50 steps of fm-l20-s0: 50.0 ms a step")
    # The other configurations are not timed, and the line says so.
    assert ("set-up and compilation a run; fm-vbn, mbd-gan, mbd-gan-vbn, cgan, infogan, "
            "infogan-tied counted at its cost, not timed") in line
    assert "not timed" not in estimate.estimate_line(measured, todo[:8], "cpu")  # fm only


def test_runs_continued_from_checkpoints_count_their_remaining_epochs():
    todo = _specs("--seeds", "2", "--epochs", "10")[:2]
    measured = _probe(0.05)  # a run of 10 epochs: 330 s; of the last 4: 10 + 4 × 32 = 138 s
    done = {todo[0].run_id: 6}
    assert estimate.plan_seconds(measured, todo, done) == pytest.approx(330 + 138)
    line = estimate.estimate_line(measured, todo, "cpu", done)
    assert ("for 2 runs × 10 epochs (1 continued from their checkpoints, 6 epochs already "
            "trained) on this machine") in line
    assert "continued" not in estimate.estimate_line(measured, todo, "cpu", {todo[0].run_id: 0})


def test_the_real_probe_times_the_first_configuration():
    data = runner.Data("mnist", None, "mlp", 200)
    (spec,) = _specs(*ONE_RUN)
    measured = estimate.probe(spec, data)
    assert measured.run_id == "fm-l20-s0" and measured.steps == 2  # --quick: 2 steps a call
    assert measured.steps_per_epoch == 4
    assert 0 < measured.step_seconds < 5 and measured.eval_seconds >= 0
    assert measured.overhead_seconds > 0


def test_confirm():
    long = 3600.0 * estimate.CONFIRM_HOURS + 1
    fails = []
    tty = type("TTY", (io.StringIO,), {"isatty": lambda self: True})()
    assert estimate.confirm(60.0, False, fails.append, io.StringIO())  # short: no question
    assert estimate.confirm(long, True, fails.append, io.StringIO())  # --yes
    assert estimate.confirm(long, False, fails.append, tty, ask=lambda prompt: "y")
    assert not estimate.confirm(long, False, fails.append, tty, ask=lambda prompt: "")
    assert fails == []
    assert not estimate.confirm(long, False, fails.append, io.StringIO())  # no terminal: fail
    assert len(fails) == 1 and "--yes" in fails[0]


@pytest.fixture
def slow_machine(monkeypatch):
    """The probe says a step takes 10 s and an epoch has 600 steps: one run of --quick's 2 epochs
    then needs ~3h20m, past the confirmation threshold."""
    monkeypatch.setattr(estimate, "probe", lambda spec, data: _probe(10.0))


def test_a_long_plan_without_terminal_stops_with_one_line(slow_machine, tmp_path, capsys):
    out = tmp_path / "suite"
    with pytest.raises(SystemExit) as exit_info:
        cli.main([*ONE_RUN, "--epochs", "5", "--out", str(out)])
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    (err,) = captured.err.strip().splitlines()
    assert err.startswith("run_all: error: the plan needs ~8h")
    assert "--quick" in err and "--yes" in err and 'pip install -e ".[jax]" "jax[cuda13]"' in err
    assert "Estimate: ~8h" in captured.out
    assert not out.exists()  # nothing written


def test_a_long_plan_on_a_terminal_asks(slow_machine, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", type("TTY", (io.StringIO,), {"isatty": lambda self: True})())
    monkeypatch.setattr("builtins.input", lambda prompt: print(prompt) or "n")
    out = tmp_path / "suite"
    assert cli.main([*ONE_RUN, "--epochs", "5", "--out", str(out)]) == cli.EXIT_DECLINED
    printed = capsys.readouterr().out
    assert "Continue? [y/N]" in printed and "Not started: nothing was trained." in printed
    assert not out.exists()


def test_yes_starts_a_long_plan(slow_machine, tmp_path, capsys):
    out = tmp_path / "suite"
    assert cli.main([*ONE_RUN, "--yes", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Estimate: ~" in printed and "Continue?" not in printed
    (record,) = json.loads((out / "results.json").read_text())["runs"]
    assert record["status"] == "ok"


@pytest.mark.parametrize("phase", ["loading the data", "preparing the evaluation classifier"])
def test_a_stop_before_training_is_one_line(phase, tmp_path, capsys, monkeypatch):
    def stop(*args, **kwargs):
        raise KeyboardInterrupt("signal 15")

    if phase == "loading the data":
        monkeypatch.setattr(runner, "Data", stop)
    else:
        monkeypatch.setattr(estimate, "probe", lambda spec, data: _probe(0.001))
        monkeypatch.setattr(runner.Evaluator, "prepare", stop)
    out = tmp_path / "suite"
    assert cli.main([*ONE_RUN, "--out", str(out)]) == cli.EXIT_INTERRUPTED
    captured = capsys.readouterr()
    last = captured.out.strip().splitlines()[-1]
    assert last == f"Interrupted while {phase}: nothing was trained."
    assert captured.err == ""
    assert not (out / "results.json").exists()  # a new suite: nothing to keep, nothing written


def test_a_stop_while_writing_the_report_keeps_the_results(tmp_path, capsys, monkeypatch):
    from benchmarks import report

    monkeypatch.setattr(estimate, "probe", lambda spec, data: _probe(0.001))
    real = report.write_report
    calls = []

    def interrupted_once(*args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise KeyboardInterrupt("signal 15")
        return real(*args, **kwargs)

    monkeypatch.setattr(report, "write_report", interrupted_once)
    out = tmp_path / "suite"
    assert cli.main([*ONE_RUN, "--out", str(out)]) == cli.EXIT_INTERRUPTED
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last == (f"Interrupted while writing the report: what was done is in {out} "
                    "(REPORT.md); --resume continues.")
    (record,) = json.loads((out / "results.json").read_text())["runs"]
    assert record["status"] == "ok" and (out / "REPORT.md").exists()
