"""`python benchmarks/compare_sklearn.py`: SSGANClassifier against scikit-learn's semi-supervised
classifiers (LabelSpreading, SelfTrainingClassifier) and a labeled-only logistic regression on
MNIST with few labels, on the same labeled split and test images. Writes a table and a JSON
(`--out`); what each method sees: benchmarks/README.md.
"""

import argparse
import datetime
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from ssgan.util import ArgumentParser
from ssgan.util import write_json



def build_parser():
    parser = ArgumentParser(
        prog="python benchmarks/compare_sklearn.py", tool="compare_sklearn",
        description="Compare SSGANClassifier with LabelSpreading and SelfTrainingClassifier on "
        "MNIST with few labels.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = parser.add_argument
    add("--epochs", type=int, default=None,
        help="SSGANClassifier epochs (default 20, or 10 with --quick)")
    add("--seed", type=int, default=0,
        help="seed of the labeled split, the subsamples and every model")
    add("--labeled", type=int, default=100,
        help="number of labeled training images, class-balanced (a multiple of 10)")
    add("--out", default=None, help="JSON file to write (default "
        "results/compare_sklearn[-quick].json under the current directory)")
    add("--quick", action="store_true",
        help="a 3000-image pool, 2000 test images and 10 epochs: a minute or two on a CPU")
    add("--pool", type=int, default=None,
        help="training images used (labeled + unlabeled; default all 60000, 3000 with --quick)")
    add("--test", type=int, default=None,
        help="test images scored (default all 10000, 2000 with --quick)")
    add("--baseline-pool", type=int, default=20000,
        help="unlabeled rows given to LabelSpreading and SelfTraining (a random subsample)")
    add("--knn", type=int, default=7, help="neighbours of LabelSpreading's kNN kernel")
    add("--batch-size", type=int, default=100, help="SSGANClassifier batch size")
    add("--verbose", type=int, default=0, choices=(0, 1, 2), help="SSGANClassifier verbosity")
    return parser


def load_data(args):
    from ssgan.data import load_dataset, scale_images, semi_supervised_split

    (x_train, y_train), (x_test, y_test) = load_dataset("mnist")
    rng = np.random.default_rng(args.seed)
    pool_size = args.pool or (3000 if args.quick else len(x_train))
    test_size = args.test or (2000 if args.quick else len(x_test))
    pool = np.sort(rng.permutation(len(x_train))[:pool_size])
    X = scale_images(x_train[pool])
    y = y_train[pool]
    split = semi_supervised_split(y, args.labeled, seed=args.seed, n_classes=10)
    y_partial = np.full(len(y), -1, dtype=np.int64)
    y_partial[split.labeled] = y[split.labeled]
    return X, y_partial, split.labeled, scale_images(x_test[:test_size]), y_test[:test_size]


def baseline_rows(n_rows, labeled, baseline_pool, seed):
    """Labeled rows plus at most `baseline_pool` random unlabeled rows, sorted."""
    unlabeled = np.setdiff1d(np.arange(n_rows), labeled)
    rng = np.random.default_rng([seed, 1])
    if len(unlabeled) > baseline_pool:
        unlabeled = rng.choice(unlabeled, baseline_pool, replace=False)
    return np.sort(np.concatenate([labeled, unlabeled]))


def run_method(name, estimator, X, y, X_test, y_test):
    print(f"fitting {name} on {len(X)} rows ({int(np.sum(y != -1))} labeled) ...", flush=True)
    start = time.perf_counter()
    estimator.fit(X, y)
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    accuracy = float(np.mean(estimator.predict(X_test) == y_test))
    predict_seconds = time.perf_counter() - start
    print(f"  {name}: test accuracy {100 * accuracy:.2f}%, fit {fit_seconds:.1f}s", flush=True)
    return {
        "method": name,
        "test_accuracy": accuracy,
        "fit_seconds": fit_seconds,
        "predict_seconds": predict_seconds,
        "n_rows": int(len(X)),
        "n_labeled": int(np.sum(y != -1)),
        "n_unlabeled": int(np.sum(y == -1)),
    }


def format_table(results):
    header = (f"{'method':<44} {'test acc':>9} {'fit (s)':>9} {'predict (s)':>12} "
              f"{'rows':>7} {'labeled':>8}")
    lines = [header, "-" * len(header)]
    for r in results:
        lines.append(f"{r['method']:<44} {100 * r['test_accuracy']:>8.2f}% "
                     f"{r['fit_seconds']:>9.1f} {r['predict_seconds']:>12.2f} "
                     f"{r['n_rows']:>7} {r['n_labeled']:>8}")
    return "\n".join(lines)


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.labeled <= 0 or args.labeled % 10:
        parser.fail("--labeled must be a positive multiple of 10.")
    epochs = args.epochs or (10 if args.quick else 20)

    import keras
    from sklearn.linear_model import LogisticRegression
    from sklearn.semi_supervised import LabelSpreading, SelfTrainingClassifier

    from ssgan.estimator import SSGANClassifier

    X, y_partial, labeled, X_test, y_test = load_data(args)
    rows = baseline_rows(len(X), labeled, args.baseline_pool, args.seed)
    print(f"MNIST: {len(X)} training images, {len(labeled)} labeled, {len(X_test)} test images; "
          f"baselines see {len(rows)} rows.", flush=True)

    methods = [
        ("SSGANClassifier (feature matching, MLP)",
         SSGANClassifier(epochs=epochs, batch_size=args.batch_size, random_state=args.seed,
                         verbose=args.verbose),
         X, y_partial),
        (f"LabelSpreading (kNN, k={args.knn})",
         LabelSpreading(kernel="knn", n_neighbors=args.knn, max_iter=100, n_jobs=-1),
         X[rows], y_partial[rows]),
        ("SelfTrainingClassifier (LogisticRegression)",
         SelfTrainingClassifier(LogisticRegression(max_iter=1000), max_iter=10),
         X[rows], y_partial[rows]),
        ("LogisticRegression (labeled rows only)",
         LogisticRegression(max_iter=1000),
         X[labeled], y_partial[labeled]),
    ]
    results = [run_method(name, est, Xm, ym, X_test, y_test) for name, est, Xm, ym in methods]
    ssgan_estimator = methods[0][1]

    print()
    print(format_table(results))
    report = {
        "benchmark": "compare_sklearn",
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "arguments": {**vars(args), "epochs": epochs},
        "data": {"dataset": "mnist", "n_pool": int(len(X)), "n_labeled": int(len(labeled)),
                 "n_test": int(len(X_test)), "n_baseline_rows": int(len(rows))},
        "ssgan_config": ssgan_estimator.config_.to_dict(),
        "environment": {
            "keras_backend": keras.backend.backend(),
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
        },
        "results": results,
    }
    out = Path(args.out) if args.out else (
        Path.cwd() / "results" / f"compare_sklearn{'-quick' if args.quick else ''}.json"
    )
    write_json(out, report)
    print(f"\nWrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
