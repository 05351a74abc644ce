"""`benchmarks/compare_sklearn.py`: its splits, a tiny end-to-end run with resumption, and the
report's table."""

import json

import numpy as np

from benchmarks import compare_sklearn

TINY_SSGAN = {"epochs": 1, "steps_per_epoch": 2, "discriminator_hidden": [16],
              "generator_hidden": [16], "latent_dim": 4, "batch_size": 20}


def test_splits_label_a_fixed_number_per_class_and_differ_by_seed():
    benchmark = compare_sklearn.BENCHMARKS["digits-5"]
    X, y, X_test, y_test = compare_sklearn.load_split(benchmark, 0)
    assert X.shape == (1257, 64) and X_test.shape == (540, 64)
    assert 0 <= X.min() and X.max() <= 1 and X.dtype == np.float32
    assert np.array_equal(np.bincount(y[y != -1]), [5] * 10)
    _, y_again, _, _ = compare_sklearn.load_split(benchmark, 0)
    _, y_other, _, _ = compare_sklearn.load_split(benchmark, 1)
    assert np.array_equal(y, y_again) and not np.array_equal(y, y_other)


def test_baseline_rows_keep_every_labeled_row(monkeypatch):
    monkeypatch.setattr(compare_sklearn, "BASELINE_POOL", 10)
    y = np.full(100, -1)
    y[[3, 50, 97]] = [0, 1, 2]
    rows = compare_sklearn.baseline_rows(y, seed=0)
    assert len(rows) == 13 and {3, 50, 97} <= set(rows) and np.all(np.diff(rows) > 0)


def test_a_tiny_run_writes_its_fits_resumes_and_reports(tmp_path, capsys):
    args = ["--datasets", "digits-5", "--splits", "1", "--out", str(tmp_path),
            "--ssgan-params", json.dumps(TINY_SSGAN),
            "--methods", "SSGANClassifier", "LabelSpreading (kNN)"]
    assert compare_sklearn.main(args) == 0
    record = json.loads((tmp_path / "digits-5.json").read_text())
    assert [f["method"] for f in record["fits"]] == ["SSGANClassifier", "LabelSpreading (kNN)"]
    spreading = record["fits"][1]
    assert spreading["labeled"] == 50 and 0.8 < spreading["accuracy"] <= 1  # ~0.94
    assert record["ssgan_params"] == TINY_SSGAN
    capsys.readouterr()
    assert compare_sklearn.main(args) == 0  # everything done: nothing fits again
    assert "split 0" not in capsys.readouterr().out
    report = (tmp_path / "REPORT.md").read_text()
    assert "## digits-5: 5 labels a class" in report
    assert "| LabelSpreading (kNN) | " in report and "| SSGANClassifier | " in report


def test_the_method_names_are_those_run():
    assert tuple(compare_sklearn.methods(0, {})) == compare_sklearn.METHODS


def test_report_marks_the_ssgan_row_against_the_best_baseline():
    fits = [{"split": s, "method": m, "accuracy": a, "fit_seconds": 1.0}
            for s in (0, 1) for m, a in (("LabelSpreading (kNN)", 0.9),
                                         ("SSGANClassifier", 0.9 + s / 100))]
    record = {"benchmark": "b", "labels_per_class": 5, "description": "d", "fits": fits}
    report = compare_sklearn.format_report([record])
    assert "| SSGANClassifier | 90.50 ± 0.50 ✓ | 90.0, 91.0 | 1.0 |" in report
    assert report.index("| SSGANClassifier |") < report.index("| LabelSpreading")  # first
    fits[0]["accuracy"] = fits[2]["accuracy"] = 0.95
    assert "✗" in compare_sklearn.format_report([record])
