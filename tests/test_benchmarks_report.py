"""The benchmark report's rendering (`benchmarks/report.py`): the ablation table and its
verdicts on the paper's claims, the generator table's same-seed cells, and the committed
REPORT.md files and the READMEs that cite them. The harness end to end: test_benchmarks.py."""

import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from benchmarks import figures
from benchmarks import fit_runs
from benchmarks import records
from benchmarks import report
from benchmarks import schedule

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"

PAPER_MINIBATCH_LABEL = "minibatch discrimination (the paper's model: GAN loss)"


def _ablation_report(measured):
    """The ablation section of a suite of two seeds at 100 labels of each variant of `measured`
    ({variant: (test error, MNIST-FID)}: seed 0's; seed 1's a little higher)."""
    runs, recorded = [], {}
    for variant, (error, fid) in measured.items():
        for seed in (0, 1):
            key = f"{variant}-{seed}"
            runs.append(records.RecordedRun(key, variant, 100, seed, ["ablation"],
                                            f"{variant}-l100-s{seed}"))
            recorded[key] = {"key": key, "status": "ok", "final_test_error": error + seed / 500,
                             "fid": fid + seed / 50, "seconds_per_epoch": 1.0}
    return "\n".join(report.ablation_table({"section_labels": 100}, report.Runs(runs, recorded)))


def test_ablation_verdict_is_on_the_papers_minibatch_model():
    text = _ablation_report({"fm": (0.05, 20.0), "fm-vbn": (0.06, 25.0),
                             "mbd-gan": (0.15, 5.0), "mbd-gan-vbn": (0.2, 6.0)})
    assert f"| {PAPER_MINIBATCH_LABEL} | GAN loss | ✓ |  | 2 |" in text
    assert "| feature matching | feature matching |  |  | 2 |" in text
    assert ("MNIST-FID 5.01 with the paper's minibatch model (minibatch discrimination, generator "
            "trained with the GAN loss) vs 20.01 with feature matching → **reproduced**") in text
    assert "feature matching 5.10 % vs the paper's minibatch model" in text
    assert "VBN in the generator, the paper's minibatch model (GAN loss)" in text
    assert "earlier row" not in text


def test_reports_of_suites_with_the_earlier_minibatch_rows_still_render():
    """An older suite's "mbd" rows (feature-matching generator) are shown as such, with no
    verdict on the paper's claims; the committed mnist-cpu suite renders too."""
    text = _ablation_report({"fm": (0.05, 20.0), "fm-vbn": (0.06, 25.0), "mbd": (0.07, 90.0),
                             "mbd-vbn": (0.08, 9.0)})
    assert ("| minibatch discrimination + feature-matching generator | feature matching | ✓ |  "
            "| 2 |") in text
    assert "Feature matching is better" not in text and "better samples" not in text
    assert "not the paper's minibatch model, so it tests neither claim" in text
    assert "No run of the paper's minibatch model here, so no verdict" in text
    assert "MNIST-FID 20.01 → 90.01" in text and "MNIST-FID 25.01 → 9.01" in text
    folder = BENCHMARKS / "results" / "mnist-cpu"
    committed = records.load_records(folder)
    suite = json.loads((folder / "results.json").read_text())["suite"]
    runs = report.Runs(records.recorded_runs(committed, []), committed)
    text = "\n".join(report.ablation_table(suite, runs) + report.generator_table(suite, runs))
    assert "minibatch discrimination + feature-matching generator + VBN" in text
    assert "tests neither claim" in text and PAPER_MINIBATCH_LABEL not in text


def test_verdicts_and_eta():
    assert report.compare(0.02, 0.01, 3) == "reproduced"
    assert report.compare(-0.02, 0.01, 3) == "refuted"
    assert report.compare(0.005, 0.01, 3).startswith("inconclusive")
    assert report.compare(0.5, 0.0, 1).startswith("inconclusive")
    timing = schedule.Timing()
    assert timing.estimate([("a", 10, 1)]) is None
    timing.add("a", wall=25.0, epochs=10, epoch_wall=20.0)  # 2 s/epoch, 5 s of overhead
    assert timing.estimate([("a", 10, 1), ("b", 10, 1)]) == pytest.approx(50.0)
    timing.add("a", wall=21.0, epochs=10, epoch_wall=20.0)  # a repeat: 1 s of overhead
    # A repeat of a seen group costs the repeat overhead; a new group the first-run one, once.
    units = [("a", 10, 1), ("b", 10, 1), ("b", 10, 1)]
    assert timing.estimate(units) == pytest.approx(21 + 25 + 21)


def _pictures(report_text):
    """The image paths a REPORT.md shows."""
    return [a or b for a, b in re.findall(r'src="([^"]+)"|\]\(([^)]+\.png)\)', report_text)]


def test_committed_reports_are_true_to_their_folders():
    """Each committed suite is titled and named by its folder and shows only committed pictures
    (the per-run runs/ folders are not committed: .gitignore's `runs/`)."""
    folders = sorted(p for p in (BENCHMARKS / "results").iterdir() if p.is_dir())
    assert len(folders) >= 10
    for folder in folders:
        if folder.name.startswith("compare-sklearn"):  # compare_sklearn.py: a JSON a data set
            title = "# SSGANClassifier against scikit-learn's semi-supervised classifiers\n"
            assert (folder / "REPORT.md").read_text().startswith(title)
            records = sorted(folder.glob("*.json"))
            assert records and all(json.loads(p.read_text())["benchmark"] == p.stem
                                   for p in records)
            continue
        title = fit_runs.TITLE.format(name=folder.name)
        if (folder / "REPORT.md").read_text().startswith(title):
            runs = [p for p in folder.iterdir() if p.is_dir()]  # fit_runs.py: command-line runs
            assert runs and (folder / fit_runs.CURVES).is_file()
            assert all(fit_runs.read_run(run)["epochs"] for run in runs)
            continue
        suite = json.loads((folder / "results.json").read_text())["suite"]
        assert suite["name"] == folder.name
        text = (folder / "REPORT.md").read_text()
        assert text.startswith(f"# ssgan benchmark: {folder.name}\n"), folder.name
        for picture in _pictures(text):
            assert not picture.startswith("runs/") and (folder / picture).is_file(), picture


def test_the_readmes_cite_only_committed_results():
    """benchmarks/README.md's table of committed results lists exactly what results/ holds, and
    every suite or file of results/ named in the READMEs and notes exists."""
    results = BENCHMARKS / "results"
    readme = (BENCHMARKS / "README.md").read_text()
    section = readme.split("## Committed results")[1].split("\n## ")[0]
    first_cells = re.findall(r"^\| ([^|]+) \|", section, re.M)[2:]  # past the header rows
    listed = {name for cell in first_cells for name in re.findall(r"`([^`]+)`", cell)}
    committed = {p.name + "/" if p.is_dir() else p.name for p in results.iterdir()}
    assert listed == committed
    texts = [p.read_text() for p in [*BENCHMARKS.glob("*.md"), ROOT / "README.md"]]
    named = r"results/([a-z0-9]+(?:-[a-z0-9]+)+(?:\.json)?)"  # a suite or file, not a pattern
    cited = {m for text in texts for m in re.findall(named, text)}
    assert cited and all((results / name).exists() for name in cited), cited



def test_generator_table_shows_feature_matchings_error_on_the_same_seeds():
    reference = {0: 0.02, 1: 0.04, 2: 0.10}
    assert report.same_seeds_cell([{"seed": 0}, {"seed": 1}], reference) == report.pct([0.02, 0.04])
    assert report.same_seeds_cell([{"seed": 2}, {"seed": 5}], reference) == (
        report.pct([0.10]) + " (1 of 2 seeds)")
    assert report.same_seeds_cell([{"seed": 7}], reference) == "—"


def _generator_report(cgan_record):
    """The generator section of a suite of feature matching and the CGAN, seed 0 at 100 labels."""
    measured = {"fm": {"final_test_error": 0.02, "fid": 10.0}, "cgan": cgan_record}
    runs = [records.RecordedRun(v, v, 100, 0, ["generators"], f"{v}-l100-s0") for v in measured]
    recorded = {v: {"key": v, "status": "ok", "seed": 0, **r} for v, r in measured.items()}
    return "\n".join(report.generator_table({"section_labels": 100}, report.Runs(runs, recorded)))


def test_generator_table_shows_the_intra_class_fid_where_a_run_has_one():
    text = _generator_report({"final_test_error": 0.03, "fid": 6.0, "class_fid": 12.345})
    assert "| intra-class MNIST-FID ↓ |" in text and report.INTRA_CLASS_NOTE in text
    fm_row, cgan_row = [line for line in text.splitlines() if line.startswith("| ")][2:]
    assert fm_row.split("|")[6].strip() == "—" and cgan_row.split("|")[6].strip() == "12.35"
    text = _generator_report({"final_test_error": 0.03, "fid": 6.0})
    assert "intra-class" not in text


def test_the_time_table_counts_runs_side_by_side_once():
    """Three runs of one vectorized step (each recording the group's wall, 600 s) and one alone
    (100 s): 11m40s of training in all, not 31m40s."""
    plan = [SimpleNamespace(key=key, variant="fm", labels=100) for key in "abcd"]
    walls = {"a": 600, "b": 600, "c": 600, "d": 100}
    records = {k: {"status": "ok", "wall_seconds": w, "runs_in_step": 1 if k == "d" else 3,
                   "seconds_per_epoch": 1.0, "variant": "fm", "labels": 100, "seed": i}
               for i, (k, w) in enumerate(walls.items())}
    lines = report.time_table(report.Runs(plan, records))
    assert "4 runs, 11m40s of training in all" in "\n".join(lines)


def test_sample_copies_stand_in_for_run_folders_that_are_gone(tmp_path):
    """A report regenerated after the per-run runs/ folders were removed keeps its grids (the
    copies under samples/), and a grid neither place has is not listed."""
    plan = [SimpleNamespace(key=key, variant="fm", labels=100, seed=seed)
            for seed, key in enumerate("ab")]
    grid = tmp_path / "runs" / "a" / "samples.png"
    grid.parent.mkdir(parents=True)
    grid.write_bytes(b"png")
    recorded = {"a": {"seed": 0, "samples": ["runs/a/samples.png", "runs/a/other.png"]},
                "b": {"seed": 1, "samples": ["runs/b/samples.png"]}}
    first = figures.copy_samples(plan, recorded, tmp_path)
    grid.unlink()
    again = figures.copy_samples(plan, recorded, tmp_path)
    target = tmp_path / "samples" / "fm-l100-samples.png"
    assert first == again == {("fm", 100): [(target, 0)]}
    assert target.read_bytes() == b"png"


def _fit_run(folder, labels, seed, errors, rollbacks=0):
    folder.mkdir(parents=True)
    config = {"arguments": {"labeled": labels}, "resolved": {"seed": seed}}
    (folder / "config.json").write_text(json.dumps(config))
    lines = [json.dumps({"epoch": i + 1, "test_error": e, "guard_rollbacks": rollbacks,
                         "generator_lr_scale": 0.5 ** rollbacks}) for i, e in enumerate(errors)]
    (folder / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    return folder


def test_fit_runs_report_copies_the_records_and_summarizes_each_label_count(tmp_path):
    runs = [_fit_run(tmp_path / "a", 50, 0, [0.3, 0.02]),
            _fit_run(tmp_path / "b", 50, 1, [0.4, 0.04], rollbacks=1),
            _fit_run(tmp_path / "c", 20, 0, [0.5, 0.2])]
    out = tmp_path / "cpu-report"
    rows = fit_runs.write_report(runs, out, note="Made by a test.")
    assert [(r["labels"], r["seed"], r["epochs"], r["test_error"]) for r in rows] == [
        (50, 0, 2, 0.02), (50, 1, 2, 0.04), (20, 0, 2, 0.2)]
    assert (out / "b" / "metrics.jsonl").read_text() == (runs[1] / "metrics.jsonl").read_text()
    assert (out / fit_runs.CURVES).stat().st_size > 0
    text = (out / "REPORT.md").read_text()
    assert text.startswith("# ssgan runs: cpu-report\n\nMade by a test.")
    # 50 labels: mean 3 %, sd of (2, 4) = 1.41 points, worst 4 %; one seed at 20 labels.
    assert "| 50 | 2 | 0, 1 | 3.00 % ± 1.41 | 4.00 % |" in text
    assert "| 20 | 1 | 0 | 20.00 % ± 0.00 | 20.00 % |" in text
    assert "| `b` | 50 | 1 | 2 | 4.00 % | 1 | ×0.5 |" in text
    fit_runs.write_report(runs[:2], out, by_label=False)
    text = (out / "REPORT.md").read_text()
    assert "## By label count" not in text and "| `a` | 50 | 0 | 2 | 2.00 % | 0 | ×1 |" in text
    with pytest.raises(ValueError, match="holds no epoch"):
        fit_runs.read_run(_fit_run(tmp_path / "empty", 50, 2, []))
