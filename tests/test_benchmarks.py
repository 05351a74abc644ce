"""The benchmark harness: `benchmarks/run_all.py --quick` end to end (results.json, REPORT.md,
PNGs, --resume) and `benchmarks/speed.py --quick`, plus the pure helpers of the `benchmarks`
package (the report's rendering: test_benchmarks_report.py; the plan of runs:
test_benchmarks_plan.py)."""

import contextlib
import fcntl
import json
import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import PAPER_MINIBATCH_LABEL
from conftest import parse_harness

from benchmarks import cli
from benchmarks import plan
from benchmarks import records
from benchmarks import report
from benchmarks import runner
from benchmarks import schedule
from benchmarks import speed

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"

RECORD_FIELDS = (
    "key", "id", "status", "dataset", "labels", "seed", "generator", "options", "epochs",
    "final_test_error", "best_test_error", "test_errors", "seconds_per_epoch", "wall_seconds",
    "time_to_99_seconds", "backend", "device", "compile_seconds", "fid",
)
QUICK_RUNS = {  # --quick: one seed, every label count, the ablation and every generator (the
    # feature-matching and minibatch generator rows are the ablation's "fm" and "mbd-gan" runs)
    "fm-l20-s0", "fm-l50-s0", "fm-l100-s0", "fm-l200-s0", "fm-vbn-l100-s0",
    "mbd-gan-l100-s0", "mbd-gan-vbn-l100-s0", "cgan-l100-s0", "infogan-l100-s0",
    "infogan-tied-l100-s0",
}


def _run(script, *args, cwd=ROOT):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    start = time.perf_counter()
    result = subprocess.run([sys.executable, str(BENCHMARKS / script), *args],
                            capture_output=True, text=True, timeout=900, env=env, cwd=cwd)
    return result, time.perf_counter() - start


@contextlib.contextmanager
def _locked(path):
    """An exclusive lock on `path` (created) for the block."""
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _shared_tmp(tmp_path_factory):
    """A folder that every pytest-xdist worker of this session sees (this session's own one
    without xdist)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def _quick_suite_commands(tmp):
    """One --quick suite (a smoke classifier for the generator metrics: nothing to download or
    train for minutes), then the same command with --resume. The first runs from another
    working directory: the entry point finds its package from anywhere."""
    out = tmp / "out"
    args = ["--quick", "--out", str(out), "--classifier", "smoke",
            "--compile-cache", str(tmp / "jax_cache")]
    first, first_seconds = _run("run_all.py", *args, cwd=tmp)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    second, second_seconds = _run("run_all.py", *args, "--resume")
    # A narrower plan on the same results: nothing to train, and the report still covers every
    # recorded run (how a suite built by several invocations gets one report).
    third, _ = _run("run_all.py", *args, "--resume", "--labels", "20", "--no-ablation",
                    "--generators", "")
    outputs = {name: {"returncode": r.returncode, "stdout": r.stdout, "stderr": r.stderr}
               for name, r in (("first", first), ("second", second), ("third", third))}
    return {"out": str(out), **outputs, "first_seconds": first_seconds,
            "second_seconds": second_seconds}


@pytest.fixture(scope="module")
def quick_suite(tmp_path_factory):
    """The quick suite's folder and its three invocations, trained once per test session: the
    first pytest-xdist worker to need it trains it, the others wait and read it."""
    shared = _shared_tmp(tmp_path_factory)
    done = shared / "benchmarks_quick_suite.json"
    with _locked(shared / "benchmarks_quick_suite.lock"):
        if not done.exists():
            tmp = shared / "benchmarks_quick_suite"
            tmp.mkdir(exist_ok=True)
            done.write_text(json.dumps(_quick_suite_commands(tmp)))
        suite = json.loads(done.read_text())
    for name in ("first", "second", "third"):
        suite[name] = SimpleNamespace(**suite[name])
    suite["out"] = Path(suite["out"])
    return suite


def test_results_json_has_one_complete_record_per_run(quick_suite):
    document = json.loads((quick_suite["out"] / "results.json").read_text())
    runs = document["runs"]
    assert {r["id"] for r in runs} == QUICK_RUNS and len(runs) == len(QUICK_RUNS)
    for record in runs:
        missing = [f for f in RECORD_FIELDS if f not in record]
        assert not missing, (record["id"], missing)
        assert record["status"] == "ok", (record["id"], record.get("error"))
        assert len(record["test_errors"]) == record["epochs"] == 2
        assert 0.0 <= record["final_test_error"] <= 1.0
        assert record["best_test_error"] == min(record["test_errors"])
        assert record["seconds_per_epoch"] > 0 and record["compile_seconds"] is not None
        assert record["backend"] in ("tensorflow", "jax") and record["device"]
        assert record["fid"] is not None and record["fid"] >= 0, record.get("metrics_error")
        # Every run's result is also written on its own (what --resume falls back on).
        assert (quick_suite["out"] / "runs" / record["id"] / "result.json").exists()
    by_id = {r["id"]: r for r in runs}
    faithful = by_id["mbd-gan-l100-s0"]
    assert faithful["generator"] == "minibatch" and faithful["options"]["generator_steps"] == 3
    assert faithful["options"]["minibatch_discrimination"] is True
    assert faithful["options"]["vbn"] is False
    assert set(faithful["sections"]) == {"ablation", "generators"}
    assert by_id["mbd-gan-vbn-l100-s0"]["options"]["vbn"] is True
    assert by_id["fm-vbn-l100-s0"]["options"]["vbn"] is True
    assert by_id["fm-l100-s0"]["options"]["vbn"] is False
    tied = by_id["infogan-tied-l100-s0"]["options"]["generator_options"]
    # the variant's tie over the objective's defaults (no pair term, the mode-seeking term)
    assert tied["tie_codes_to_labels"] is True and tied["pair_weight"] == 0.0
    assert tied["diversity_weight"] == 1.0
    assert 0.0 <= by_id["cgan-l100-s0"]["class_consistency"] <= 1.0
    for run_id in ("infogan-l100-s0", "infogan-tied-l100-s0"):
        assert 0.0 <= by_id[run_id]["code_accuracy"] <= 1.0
    assert set(by_id["fm-l100-s0"]["sections"]) == {"labels", "ablation", "generators"}
    assert document["suite"]["quick"] is True
    assert document["suite"]["name"] == "out"  # named after its --out folder
    assert (quick_suite["out"] / "REPORT.md").read_text().startswith("# ssgan benchmark: out\n")


def test_report_has_the_tables_beside_the_paper(quick_suite):
    text = (quick_suite["out"] / "REPORT.md").read_text()
    assert "smoke run" in text
    assert "| labels | seeds | test error (%) |" in text and "paper (%)" in text
    for labels, (mean, std) in report.PAPER_MNIST.items():
        assert f"| {labels} | 1 |" in text and f"{mean} ± {std}" in text
    assert "## Ablation at 100 labels" in text and "MNIST-FID" in text
    assert f"{PAPER_MINIBATCH_LABEL} + VBN" in text
    assert "Feature matching is better for classification" in text
    assert "with the paper's minibatch model (minibatch discrimination, generator trained with " \
        "the GAN loss) vs" in text
    assert "feature-matching generator" not in text  # no earlier minibatch rows in this suite
    assert "## Generators at 100 labels" in text
    for label in ("CGAN", "InfoGAN (free codes)", "InfoGAN (codes tied to labels)",
                  "CGAN class consistency", "InfoGAN code→class acc."):
        assert label in text
    assert "## Samples" in text and "## Learning curves" in text
    assert "| seeds per step | s/epoch | s per run-epoch |" in text
    # Every picture the report shows exists.
    pictures = re.findall(r'src="([^"]+)"|\]\(([^)]+\.png)\)', text)
    pictures = [a or b for a, b in pictures]
    assert len(pictures) >= 2 * len(QUICK_RUNS)  # a random grid and a curve per configuration
    for picture in pictures:
        assert (quick_suite["out"] / picture).is_file(), picture


def test_pngs_are_valid_images(quick_suite):
    from PIL import Image

    out = quick_suite["out"]
    curves = sorted((out / "curves").glob("*.png"))
    samples = sorted((out / "samples").glob("*.png"))
    # One learning curve per (configuration, label count); the grids of one seed per config.
    assert {p.stem for p in curves} == {r.rsplit("-s", 1)[0] for r in QUICK_RUNS}
    assert {p.name.split("-samples")[0] for p in samples if p.name.endswith("-samples.png")} \
        == {r.rsplit("-s", 1)[0] for r in QUICK_RUNS}
    assert any("cgan_classes" in p.name for p in samples)
    assert any("infogan_c1" in p.name for p in samples)
    for path in curves + samples:
        with Image.open(path) as image:
            image.verify()
        with Image.open(path) as image:
            assert image.format == "PNG" and min(image.size) >= 50, path


def test_progress_lines_and_backend(quick_suite):
    stdout = quick_suite["first"].stdout
    assert stdout.startswith("Backend: ")
    assert "[1/10]" in stdout and "[10/10]" in stdout and "suite ETA" in stdout


def test_progress_survives_a_rollback_to_the_start(capsys):
    """A run the collapse guard rolled back to epoch 0 has no epoch in its log: no test error
    (NaN) and no progress line, where it used to raise an IndexError that ended the run."""
    assert math.isnan(runner.last_test_error(SimpleNamespace(log=[])))
    assert math.isnan(runner.last_test_error(SimpleNamespace(log=[{"test_error": 0.5}, {}])))
    assert runner.last_test_error(SimpleNamespace(log=[{"test_error": 0.25}])) == 0.25
    run = object.__new__(runner.Run)
    run.trainer = SimpleNamespace(config=SimpleNamespace(epochs=10), epoch=0, log=[])
    run.context = SimpleNamespace(verbose=1, eta_after_unit=lambda: None)
    run.resumed_from, run.epoch_walls = 0, [3.0]
    run.progress("fm-l100-s0", [runner.last_test_error(run.trainer)])
    assert capsys.readouterr().out == ""
    run.trainer.epoch = 1
    run.progress("fm-l100-s0", [0.125])
    assert "fm-l100-s0 epoch 1/10: test error 12.50%, 3.00 s/epoch" in capsys.readouterr().out


def test_resume_skips_completed_runs(quick_suite):
    second = quick_suite["second"]
    assert second.returncode == 0, second.stderr[-3000:]
    assert "(10 already done, 0 to train)" in second.stdout
    assert second.stdout.count("  skip ") == len(QUICK_RUNS)
    assert "[1/" not in second.stdout  # nothing trained
    assert quick_suite["second_seconds"] < quick_suite["first_seconds"]
    document = json.loads((quick_suite["out"] / "results.json").read_text())
    assert len(document["runs"]) == len(QUICK_RUNS)


def test_a_checkpointed_run_resumes_after_its_last_epoch(tiny_mnist, tmp_path, capsys):
    """`--checkpoint --resume`: a run whose folder holds a checkpoint (`checkpoint.npz`)
    continues after the epoch saved there instead of training again from the start."""
    _, _, (spec,) = parse_harness("--quick", "--labels", "20", "--no-ablation",
                                  "--generators", "")
    x_lab, y_lab, x_unl = tiny_mnist
    data = SimpleNamespace(info=SimpleNamespace(image_shape=(28, 28, 1), n_classes=10),
                           split=lambda labels, seed, unlabeled: (x_lab, y_lab, x_unl))
    context = runner.Context("tensorflow", "cpu", checkpoint=True)
    first = runner.Run.create(spec, data, tmp_path, context)
    assert first.resumed_from == 0 and first.ckpt == tmp_path / "ckpt" / spec.run_id
    first.trainer.fit(x_lab, y_lab, x_unl, epochs=1, verbose=0)
    first.trainer.save_checkpoint(first.ckpt)
    second = runner.Run.create(spec, data, tmp_path, context)
    assert second.resumed_from == second.trainer.epoch == 1
    assert second.record["resumed_from_epoch"] == 1 and len(second.trainer.log) == 1
    assert f"resuming {spec.run_id} from its checkpoint after epoch 1" in capsys.readouterr().out
    # The harness continues it: the estimate counts the epoch done, the run trains the second.
    out = tmp_path / "suite"
    runner.checkpoint_dir(out, spec.run_id).parent.mkdir(parents=True)
    first.ckpt.rename(runner.checkpoint_dir(out, spec.run_id))
    assert cli.main(["--quick", "--labels", "20", "--no-ablation", "--generators", "",
                     "--classifier", "none", "--checkpoint", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "(1 continued from their checkpoints, 1 epoch already trained)" in printed
    assert f"resuming {spec.run_id} from its checkpoint after epoch 1" in printed
    (record,) = json.loads((out / "results.json").read_text())["runs"]
    assert record["status"] == "ok" and record["resumed_from_epoch"] == 1
    assert len(record["test_errors"]) == 2 and not (out / "ckpt" / spec.run_id).exists()
    assert "continues the interrupted runs after their last epoch" in cli.resume_hint(True)
    assert "again from the start" in cli.resume_hint(False)


def test_report_covers_runs_recorded_by_earlier_invocations(quick_suite):
    third = quick_suite["third"]
    assert third.returncode == 0, third.stderr[-3000:]
    assert "(1 already done, 0 to train)" in third.stdout
    text = (quick_suite["out"] / "REPORT.md").read_text()
    for label in ("CGAN", "InfoGAN (codes tied to labels)", f"{PAPER_MINIBATCH_LABEL} + VBN"):
        assert label in text
    assert f"of {len(QUICK_RUNS)} planned" in text


def test_existing_suite_needs_resume(quick_suite, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--quick", "--out", str(quick_suite["out"])])
    assert exit_info.value.code == 2
    assert "--resume" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["--generators", "bogus"], ["--seeds", "x"],
                                  ["--set", "bogus=1"], ["--epochs", "0"]])
def test_bad_flags_are_one_error_line(argv, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--quick", *argv, "--out", str(tmp_path)])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("run_all: error: ")
    assert argv[1].partition("=")[0] in err or argv[0] in err


def test_eta_scales_with_the_runs_side_by_side():
    timing = schedule.Timing()
    # Five runs of "fm" side by side: 100 s an epoch, 25 s of overhead (5 s per run).
    timing.add("fm", wall=1025.0, epochs=10, epoch_wall=1000.0, runs=5)
    assert timing.estimate([("fm", 10, 5)]) == pytest.approx(5 * 5 + 1000)  # measured size
    # One run alone, never measured: one run's share of the 5-run epoch (20 s).
    assert timing.estimate([("fm", 10, 1)]) == pytest.approx(5 + 200)
    timing.add("mbd", wall=805.0, epochs=10, epoch_wall=800.0, runs=1)  # 80 s an epoch alone
    # A measured configuration and size wins over other configurations of that size ...
    assert timing.estimate([("mbd", 10, 1)]) == pytest.approx(5 + 800)
    # ... and a configuration not yet measured costs the mean of that size's units.
    assert timing.estimate([("cgan", 10, 1)]) == pytest.approx(5 + 800)
    assert timing.estimate([("cgan", 10, 5)]) == pytest.approx(25 + 1000)


def test_mlp_flops_match_the_arithmetic_in_speed_md():
    flops = speed.mlp_step_flops(batch=100)
    assert flops["step"] == flops["d_update"] + flops["g_update"] == 3_760_300_000
    assert flops["step"] * 600 / 1e12 == pytest.approx(2.256, abs=1e-3)  # TFLOP per epoch
    # Per example the count does not depend on the batch size.
    assert speed.mlp_step_flops(batch=500)["step"] == 5 * flops["step"]
    assert speed.counted_step_flops("mlp", 100) == flops["step"]
    assert speed.counted_step_flops("conv", 100) is None


def test_speed_quick_writes_its_json(tmp_path):
    """By default into results/ under the working directory, never into the source tree."""
    before = sorted((BENCHMARKS / "results").iterdir())
    result, _ = _run("speed.py", "--quick", "--batch-sizes", "100", cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = tmp_path / "results" / "speed.json"
    assert f"Results: {out}" in result.stdout
    assert sorted((BENCHMARKS / "results").iterdir()) == before
    document = json.loads(out.read_text())
    assert [(r["model"], r["batch_size"]) for r in document["results"]] == [
        ("mlp", 100), ("conv", 100)]
    for r in document["results"]:
        assert r["ms_per_step"] > 0 and r["steps_per_second"] > 0
        assert r["seconds_per_epoch"] == pytest.approx(600 * r["ms_per_step"] / 1000)
        assert r["compile_seconds"] >= 0 and len(r["call_seconds"]) == 2
        assert r["backend"] and r["device"]
    assert document["results"][0]["flops_per_step"] == 3_760_300_000
    assert document["to_99"] == []  # --to-99 is off unless asked for
    assert "ms/step" in result.stdout and "s/epoch" in result.stdout


def test_time_to_99_trains_a_recipe_on_its_schedule_and_stops_at_the_limit(mnist):
    """`--to-99-recipe`: the recipe's own settings (the `full` recipe's 300-epoch schedule),
    stopped after `max_epochs` when 99 % is not reached."""
    (x_train, y_train), (x_test, y_test) = mnist
    arrays = (x_train[:1000], y_train[:1000], x_test[:200], y_test[:200])
    result = speed.time_to_99(arrays, 2, "highest", recipe="full")
    assert (result["reached"], result["epochs"], result["recipe"]) == (False, 2, "full")
    assert result["wall_seconds"] is None and len(result["test_errors"]) == 2
    assert 0.0 < result["last_test_error"] < 1.0


def test_units_group_runs_of_a_configuration_on_jax_only():
    _, _, runs = parse_harness("--seeds", "3", "--labels", "20,100", "--no-ablation",
                        "--generators", "cgan")
    assert [len(u) for u in schedule.units(runs, 1, "jax")] == [1] * 9
    assert [len(u) for u in schedule.units(runs, 0, "tensorflow")] == [1] * 9
    units = schedule.units(runs, 0, "jax")  # every label count and seed of a configuration
    assert [len(u) for u in units] == [6, 3]
    assert {spec.variant for spec in units[0]} == {"fm"}
    assert [len(u) for u in schedule.units(runs, 4, "jax")] == [4, 2, 3]
    assert schedule.group_label(units[0]) == "fm labels 20,100 × seeds 0-2 (6 runs)"


def test_report_only_rewrites_the_report_and_shows_interrupted_runs(quick_suite, tmp_path):
    out = tmp_path / "copy"
    document = json.loads((quick_suite["out"] / "results.json").read_text())
    for record in document["runs"]:
        if record["id"] == "fm-l50-s0":  # as a SIGTERM mid-run leaves it
            record.update(status="interrupted", epochs_done=1,
                          error="interrupted after epoch 1")
    out.mkdir()
    (out / "results.json").write_text(json.dumps(document))
    result, _ = _run("run_all.py", "--report-only", "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    text = (out / "REPORT.md").read_text()
    assert "| 50 | 1 (interrupted after epoch 1) |" in text
    assert "| 100 | 1 |" in text
    assert "9 ok and 1 interrupted of 10 planned" in text
    assert "| fm-l50-s0 | interrupted |" in text
    assert (out / "curves" / "fm-l50.png").exists()


def test_a_stop_during_the_generator_metrics_keeps_the_trained_run(tmp_path):
    """SIGTERM while measuring FID: the run stays ok with its curve, the unit's other runs skip
    their metrics, and the suite is told to stop."""
    _, settings, _ = parse_harness("--quick")
    context = runner.Context("jax", "test", verbose=0)
    calls = []

    def evaluator(trainer, n, seed):
        calls.append(seed)
        raise KeyboardInterrupt("signal 15")

    finished = []
    for seed in (0, 1):
        spec = plan.RunSpec("fm", 100, seed, ["labels"], "mnist", settings)
        trainer = SimpleNamespace(epoch=2, log=[{"test_error": 0.5, "seconds": 1.0},
                                                {"test_error": 0.25, "seconds": 1.0}])
        run = runner.Run(spec, tmp_path, context)
        run.trainer = trainer
        run.epoch_walls = [1.0, 2.0]
        run.grids_and_metrics = lambda evaluator, run=run: evaluator(run.trainer, 10, seed)
        finished.append(run.finish(evaluator))
    assert calls == [0]  # the second run did not start its metrics
    assert [r["status"] for r in finished] == ["ok", "ok"]
    assert all(r["final_test_error"] == 0.25 and "interrupted" in r["metrics_error"]
               for r in finished)
    assert context.interrupted is True
    saved = json.loads((tmp_path / "runs" / "fm-l100-s1" / "result.json").read_text())
    assert saved["status"] == "ok" and saved["test_errors"] == [0.5, 0.25]


def test_time_limit_decides_from_the_measured_eta():
    timing = schedule.Timing()
    unit = (("fm", 100), 10, 1)
    assert schedule.unit_fits(timing, unit, 1e9, 1.0)  # nothing measured yet: start it
    timing.add(("fm", 20), wall=12.0, epochs=10, epoch_wall=10.0)  # 1 s/epoch, 2 s overhead
    assert schedule.unit_fits(timing, unit, 40.0, None)  # no limit
    assert schedule.unit_fits(timing, unit, 48.0, 1.0)  # 48 + 12 ≤ 60
    assert not schedule.unit_fits(timing, unit, 49.0, 1.0)


def test_time_limit_stops_before_a_unit_that_would_not_fit(tmp_path, capsys):
    out = tmp_path / "suite"
    argv = ["--quick", "--labels", "20,50", "--no-ablation", "--generators", "",
            "--classifier", "none", "--out", str(out), "--time-limit", "0.0001"]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert "Time limit (0.0001 min): 1 of 2 units not started" in printed
    runs = json.loads((out / "results.json").read_text())["runs"]
    assert [r["id"] for r in runs] == ["fm-l20-s0"] and runs[0]["status"] == "ok"
    assert "Runs: 1 ok of 2 planned" in (out / "REPORT.md").read_text()
    # --resume without the limit trains the rest.
    assert cli.main([a for a in argv if a not in ("--time-limit", "0.0001")] + ["--resume"]) == 0
    runs = json.loads((out / "results.json").read_text())["runs"]
    assert sorted(r["id"] for r in runs) == ["fm-l20-s0", "fm-l50-s0"]


def test_run_epoch_seconds_is_the_steps_epoch_over_its_runs():
    assert records.run_epoch_seconds({"seconds_per_epoch": 10.0, "runs_in_step": 5}) == 2.0
    assert records.run_epoch_seconds({"seconds_per_epoch": 3.0}) == 3.0  # trained alone
    assert records.run_epoch_seconds({"seconds_per_epoch": None, "runs_in_step": 2}) is None
