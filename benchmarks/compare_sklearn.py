"""`python benchmarks/compare_sklearn.py`: the default `SSGANClassifier` against scikit-learn's
semi-supervised classifiers (LabelSpreading, LabelPropagation, SelfTrainingClassifier over an
RBF SVM) and the SVM on the labeled rows only, on several data sets available offline, each with
a few labels a class, over several random splits. Writes one JSON per data set (resumable: done
fits are kept) and a REPORT.md table under `--out`; benchmarks/README.md says what each method
sees.
"""

import argparse
import dataclasses
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from ssgan.util import ArgumentParser
from ssgan.util import atomic_write
from ssgan.util import write_json


@dataclasses.dataclass(frozen=True)
class Benchmark:
    """A data set of the comparison: where its rows come from, how many labels a class."""

    name: str
    source: str  # "digits", or a name of ssgan.data.DATASETS
    labels_per_class: int
    pool: int | None = None  # training rows drawn per split (None: all)
    test: int | None = None  # test rows (None: all)
    description: str = ""


BENCHMARKS = {b.name: b for b in (
    Benchmark("digits-5", "digits", 5, description="scikit-learn's 8×8 digits: 1257 training "
              "rows (70 %, stratified), 540 test rows"),
    Benchmark("digits-10", "digits", 10, description="the same, 10 labels a class"),
    Benchmark("mnist-2000", "mnist", 10, pool=2000, test=5000,
              description="2000 MNIST training images drawn per split, 5000 test images"),
    Benchmark("fashion-2000", "fashion_mnist", 10, pool=2000, test=5000,
              description="2000 Fashion-MNIST training images drawn per split, 5000 test images"),
    Benchmark("mnist", "mnist", 10, description="all 60000 MNIST training images (100 labels), "
              "the 10000 test images; the baselines see the labeled rows and 10000 others"),
)}
DEFAULT_BENCHMARKS = ("digits-5", "digits-10", "mnist-2000", "fashion-2000")
BASELINE_POOL = 10000  # rows given to the graph and self-training baselines on large sets


def build_parser():
    parser = ArgumentParser(
        prog="python benchmarks/compare_sklearn.py", tool="compare_sklearn",
        description="Compare the default SSGANClassifier with scikit-learn's semi-supervised "
        "classifiers on several data sets with few labels.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = parser.add_argument
    add("--datasets", nargs="+", default=list(DEFAULT_BENCHMARKS), choices=sorted(BENCHMARKS),
        help="data sets to run")
    add("--splits", type=int, default=5, help="random splits (labeled rows, pools) per data set")
    add("--out", default="results/compare-sklearn", help="directory of the JSONs and REPORT.md")
    add("--methods", nargs="+", default=None, help="run only these methods (default: all)")
    add("--ssgan-params", type=json.loads, default={},
        help="JSON of SSGANClassifier parameters (default: none, the estimator's defaults)")
    add("--report-only", action="store_true", help="write REPORT.md from the JSONs and stop")
    return parser


# ------------------------------------------------------------------------------------ data

def load_split(benchmark, split):
    """(X, y_partial, X_test, y_test) of `split`: features in [0, 1], `labels_per_class`
    labeled rows a class drawn at random, the others -1."""
    rng = np.random.default_rng([split, 17])
    if benchmark.source == "digits":
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        X, y = load_digits(return_X_y=True)
        X, X_test, y, y_test = train_test_split(X / 16.0, y, test_size=0.3, stratify=y,
                                                random_state=split)
    else:
        from ssgan.data import load_dataset

        (x_train, y_train), (x_test, y_test) = load_dataset(benchmark.source)
        pool = rng.permutation(len(x_train))[: benchmark.pool or len(x_train)]
        X = x_train[np.sort(pool)].reshape(len(pool), -1) / 255.0
        y = y_train[np.sort(pool)]
        test = benchmark.test or len(x_test)
        X_test, y_test = x_test[:test].reshape(test, -1) / 255.0, y_test[:test]
    y_partial = np.full(len(y), -1, dtype=np.int64)
    for c in np.unique(y):
        chosen = rng.choice(np.flatnonzero(y == c), benchmark.labels_per_class, replace=False)
        y_partial[chosen] = y[chosen]
    return X.astype(np.float32), y_partial, X_test.astype(np.float32), np.asarray(y_test)


def baseline_rows(y_partial, seed):
    """The labeled rows and at most `BASELINE_POOL` unlabeled ones (graph methods and
    self-training are quadratic or worse in the rows), sorted."""
    labeled = np.flatnonzero(y_partial != -1)
    unlabeled = np.flatnonzero(y_partial == -1)
    if len(unlabeled) > BASELINE_POOL:
        unlabeled = np.random.default_rng([seed, 1]).choice(unlabeled, BASELINE_POOL,
                                                            replace=False)
    return np.sort(np.concatenate([labeled, unlabeled]))


# --------------------------------------------------------------------------------- methods

def methods(seed, ssgan_params):
    """name → (estimator, what it is fitted on: "all", "baseline" rows or "labeled" rows)."""
    from sklearn.semi_supervised import LabelPropagation
    from sklearn.semi_supervised import LabelSpreading
    from sklearn.semi_supervised import SelfTrainingClassifier
    from sklearn.svm import SVC

    from ssgan import SSGANClassifier

    return {
        "SSGANClassifier": (SSGANClassifier(random_state=seed, **ssgan_params), "all"),
        "LabelSpreading (kNN)": (LabelSpreading(kernel="knn", n_neighbors=7, max_iter=100),
                                 "baseline"),
        "LabelPropagation (kNN)": (LabelPropagation(kernel="knn", n_neighbors=7, max_iter=1000),
                                   "baseline"),
        "SelfTraining (RBF SVC)": (SelfTrainingClassifier(
            SVC(probability=True, random_state=seed)), "baseline"),
        "RBF SVC (labeled rows only)": (SVC(random_state=seed), "labeled"),
    }


def run_fit(estimator, X, y, X_test, y_test):
    import warnings

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # LabelPropagation's convergence and divide warnings
        estimator.fit(X, y)
        fit_seconds = time.perf_counter() - start
        start = time.perf_counter()
        accuracy = float(np.mean(estimator.predict(X_test) == y_test))
    return {"accuracy": accuracy, "fit_seconds": fit_seconds,
            "predict_seconds": time.perf_counter() - start, "rows": int(len(X)),
            "labeled": int(np.sum(y != -1))}


def run_benchmark(benchmark, args, path):
    """Every (split, method) fit of `benchmark` not yet in the JSON at `path`, saved after each."""
    import keras

    record = json.loads(path.read_text()) if path.exists() else {
        "benchmark": benchmark.name, "description": benchmark.description,
        "labels_per_class": benchmark.labels_per_class, "fits": []}
    record["environment"] = {"keras_backend": keras.backend.backend(), "cpus": os.cpu_count(),
                             "python": platform.python_version(), "machine": platform.machine()}
    record["ssgan_params"] = args.ssgan_params
    done = {(f["split"], f["method"]) for f in record["fits"]}
    for split in range(args.splits):
        X, y_partial, X_test, y_test = load_split(benchmark, split)
        rows = {"all": slice(None), "baseline": baseline_rows(y_partial, split),
                "labeled": np.flatnonzero(y_partial != -1)}
        for name, (estimator, sees) in methods(split, args.ssgan_params).items():
            if (split, name) in done or (args.methods and name not in args.methods):
                continue
            fit = run_fit(estimator, X[rows[sees]], y_partial[rows[sees]], X_test, y_test)
            print(f"{benchmark.name} split {split} {name}: {100 * fit['accuracy']:.2f} % "
                  f"({fit['fit_seconds']:.1f} s)", flush=True)
            record["fits"].append({"split": split, "method": name, **fit})
            record["date"] = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
            write_json(path, record)


# ---------------------------------------------------------------------------------- report

METHODS = ("SSGANClassifier", "LabelSpreading (kNN)", "LabelPropagation (kNN)",
           "SelfTraining (RBF SVC)", "RBF SVC (labeled rows only)")  # `methods`' names, in order


def summarize(record):
    """method → (accuracies by split, mean fit seconds), in the order of METHODS."""
    table = {}
    for fit in record["fits"]:
        accuracies, seconds = table.setdefault(fit["method"], ({}, []))
        accuracies[fit["split"]] = fit["accuracy"]
        seconds.append(fit["fit_seconds"])
    order = sorted(table, key=lambda m: METHODS.index(m) if m in METHODS else len(METHODS))
    return {m: (table[m][0], float(np.mean(table[m][1]))) for m in order}


def format_report(records):
    """REPORT.md: one table per data set, mean ± std accuracy over the splits, mean fit time."""
    lines = ["# SSGANClassifier against scikit-learn's semi-supervised classifiers", "",
             "Written by `python benchmarks/compare_sklearn.py`; accuracy on held-out test rows, "
             "mean ± std over the splits; fit time in seconds (mean).", ""]
    for record in records:
        env = record.get("environment", {})
        lines += [f"## {record['benchmark']}: {record['labels_per_class']} labels a class", "",
                  f"{record['description']}. Backend {env.get('keras_backend')}, "
                  f"{env.get('cpus')} CPUs; SSGANClassifier parameters: "
                  f"{record.get('ssgan_params') or 'the defaults'}.", "",
                  "| method | accuracy (%) | per split (%) | fit (s) |", "| --- | ---: | --- | ---: |"]
        summary = summarize(record)
        best_baseline = max((np.mean(list(a.values())) for m, (a, _) in summary.items()
                             if m != "SSGANClassifier"), default=None)
        for method, (accuracies, seconds) in summary.items():
            values = 100 * np.array([accuracies[s] for s in sorted(accuracies)])
            mark = ""
            if method == "SSGANClassifier" and best_baseline is not None:
                mark = " ✓" if np.mean(values) >= 100 * best_baseline else " ✗"
            lines.append(f"| {method} | {values.mean():.2f} ± {values.std():.2f}{mark} | "
                         f"{', '.join(f'{v:.1f}' for v in values)} | {seconds:.1f} |")
        lines.append("")
    lines.append("✓ / ✗: the SSGANClassifier's mean at least / below the best baseline's.")
    return "\n".join(lines) + "\n"


def write_report(out):
    records = [json.loads(p.read_text()) for p in sorted(out.glob("*.json"))]
    order = {name: i for i, name in enumerate(BENCHMARKS)}
    records.sort(key=lambda r: order.get(r["benchmark"], len(order)))
    with atomic_write(out / "REPORT.md") as f:
        f.write(format_report(records))
    return out / "REPORT.md"


def main(argv=None):
    args = build_parser().parse_args(argv)
    out = Path(args.out)
    if not args.report_only:
        from ssgan.backends import import_keras

        import_keras(verbose=False)
        for name in args.datasets:
            run_benchmark(BENCHMARKS[name], args, out / f"{name}.json")
    print(f"Wrote {write_report(out)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
