"""Quality metrics of the generators, measured with a separately trained evaluation classifier.

The evaluation classifier is a small CNN trained once on the full labeled training set (MNIST:
≥ 99.3 % test accuracy, `MIN_ACCURACY`) by `train_evaluation_classifier` — never downloaded — and
cached on disk by `load_evaluation_classifier` under `$XDG_CACHE_HOME/ssgan/eval_classifier/`
(default `~/.cache/...`), keyed by the data set and `CLASSIFIER_VERSION`. It gives:

* the classes of generated images (`predict_classes`, `class_consistency`), from which the
  objectives compute their own metrics (CGAN's class consistency, InfoGAN's code→class accuracy);
* the best one-to-one matching of codes to classes (`matching_accuracy`: a categorical code is
  only defined up to a permutation of the classes; `scipy.optimize.linear_sum_assignment` on the
  code × class confusion matrix);
* a Fréchet distance on the classifier's penultimate features (`frechet_distance`,
  `feature_statistics`, `mnist_fid`, `generator_fid`): the FID recipe of Heusel et al. (2017)
  with the MNIST classifier in place of Inception ("MNIST-FID"); its values are on the scale of
  these 128 features, not comparable with Inception FIDs. For class-conditional generators also
  the intra-class FID (`class_fid`, `generator_class_fid`): the mean of the per-class distances.

`evaluate_generator(trainer)` gives the FID and the metrics of the trainer's objective.
"""

import contextlib
import json
import time
import warnings
import weakref
from pathlib import Path

import numpy as np

from ssgan.util import ArgumentParser
from ssgan.util import atomic_path
from ssgan.util import cache_dir
from ssgan.util import write_json

CLASSIFIER_VERSION = 1
MIN_ACCURACY = 0.993
FEATURES_LAYER = "features"


class ClassifierAccuracyError(RuntimeError):
    """The trained evaluation classifier misses the required test accuracy."""


# ------------------------------------------------------------------------ evaluation classifier


def build_evaluation_classifier(input_shape=(28, 28, 1), n_classes=10, filters=(32, 64),
                                dense_units=128, dropout=0.3):
    """A small CNN: for each entry f of `filters` two 3×3 convolutions (valid padding, batch norm,
    ReLU) and a 2×2 max-pooling; then a dense layer of `dense_units` (batch norm, ReLU) named
    `features` — the penultimate features of the Fréchet distance — dropout and the class logits.
    """
    import keras

    inputs = keras.Input(shape=tuple(input_shape), name="image")
    h = inputs
    for block, n_filters in enumerate(filters):
        for i in range(2):
            h = keras.layers.Conv2D(n_filters, 3, use_bias=False, name=f"conv_{block}{'ab'[i]}")(h)
            h = keras.layers.BatchNormalization(name=f"conv_{block}{'ab'[i]}_bn")(h)
            h = keras.layers.ReLU(name=f"conv_{block}{'ab'[i]}_relu")(h)
        h = keras.layers.MaxPooling2D(2, name=f"pool_{block}")(h)
    h = keras.layers.Flatten(name="flatten")(h)
    h = keras.layers.Dense(dense_units, use_bias=False, name="dense")(h)
    h = keras.layers.BatchNormalization(name="dense_bn")(h)
    features = keras.layers.ReLU(name=FEATURES_LAYER)(h)
    h = keras.layers.Dropout(dropout, name="dropout")(features)
    logits = keras.layers.Dense(n_classes, name="logits")(h)
    return keras.Model(inputs, logits, name="evaluation_classifier")


@contextlib.contextmanager
def _seeded(seed):
    """Seed Keras (and NumPy's and Python's global generators) inside the block; restore the
    global NumPy and Python states afterwards."""
    import keras

    from ssgan.util import global_random_state_preserved

    with global_random_state_preserved():
        keras.utils.set_random_seed(seed)
        yield


def _as_images(images, input_shape):
    """`images` (flat, (N, H, W) or (N, H, W, C); uint8 in [0, 255] or floats in [0, 1]) as float32
    of shape (N,) + `input_shape`."""
    images = np.asarray(images)
    scale = 1.0 / 255 if images.dtype == np.uint8 else 1.0
    images = images.astype("float32") * np.float32(scale)
    return images.reshape((len(images),) + tuple(input_shape))


def _input_shape(model):
    return tuple(int(d) for d in model.input.shape[1:])


def train_evaluation_classifier(x_train, y_train, x_test=None, y_test=None, *, epochs=4,
                                batch_size=128, learning_rate=2e-3, seed=0, model=None,
                                min_accuracy=None, verbose=0, **build_options):
    """Train the evaluation classifier on (`x_train`, `y_train`) and return (model, info).

    Adam with a learning rate decaying linearly from `learning_rate` to 1/20 of it over the
    `epochs`, cross-entropy on the logits, batches of `batch_size`. `model` (default
    `build_evaluation_classifier(**build_options)`) must output logits and have a `features`
    layer. With test data, `info["test_accuracy"]` is measured and, if `min_accuracy` is given,
    `ClassifierAccuracyError` is raised below it. `info` also holds `train_seconds` (the wall time
    of the training alone), `epochs`, `examples`.
    """
    import keras

    y_train = np.asarray(y_train, dtype="int64")
    with _seeded(seed):
        if model is None:
            shape = (28, 28, 1) if np.asarray(x_train).ndim in (2, 3) else np.shape(x_train)[1:]
            build_options.setdefault("input_shape", shape)
            build_options.setdefault("n_classes", int(y_train.max()) + 1)
            model = build_evaluation_classifier(**build_options)
        x_train = _as_images(x_train, _input_shape(model))
        steps = epochs * int(np.ceil(len(x_train) / batch_size))
        schedule = keras.optimizers.schedules.PolynomialDecay(
            learning_rate, max(steps, 1), end_learning_rate=learning_rate / 20
        )
        model.compile(
            optimizer=keras.optimizers.Adam(schedule),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
        start = time.perf_counter()
        model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs, shuffle=True,
                  verbose=verbose)
        seconds = time.perf_counter() - start
    info = {"train_seconds": seconds, "epochs": int(epochs), "examples": int(len(x_train)),
            "batch_size": int(batch_size), "learning_rate": float(learning_rate), "seed": int(seed)}
    if x_test is not None:
        info["test_accuracy"] = classifier_accuracy(model, x_test, y_test)
        if min_accuracy is not None:
            check_classifier_accuracy(info["test_accuracy"], min_accuracy)
    return model, info


def classifier_accuracy(classifier, images, labels):
    """Share of `images` that `classifier` labels as `labels`."""
    return class_consistency(classifier, images, labels)


def check_classifier_accuracy(accuracy, min_accuracy=MIN_ACCURACY):
    """Raise `ClassifierAccuracyError` if `accuracy` < `min_accuracy`."""
    if accuracy < min_accuracy:
        raise ClassifierAccuracyError(
            f"The evaluation classifier reaches {100 * accuracy:.2f}% test accuracy, below the "
            f"required {100 * min_accuracy:.2f}%; train it longer (more epochs)."
        )


def default_cache_dir():
    """`$XDG_CACHE_HOME/ssgan/eval_classifier` (default `~/.cache/ssgan/eval_classifier`)."""
    return cache_dir("eval_classifier")


def classifier_paths(dataset="mnist", cache_dir=None):
    """(model path, metadata path) of the cached classifier of `dataset`."""
    directory = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    stem = f"{dataset}-v{CLASSIFIER_VERSION}"
    return directory / f"{stem}.keras", directory / f"{stem}.json"


def load_evaluation_classifier(dataset="mnist", cache_dir=None, train_if_missing=True,
                               min_accuracy=MIN_ACCURACY, data_dir=None, verbose=1,
                               **train_options):
    """The evaluation classifier of `dataset`, from the cache or trained (and cached) now.

    A cached classifier is used when its recorded test accuracy reaches `min_accuracy`. Otherwise,
    with `train_if_missing`, one is trained on the full labeled training set
    (`train_evaluation_classifier(**train_options)`; the data come from `ssgan.data.load_dataset`
    with `data_dir`), checked against `min_accuracy` on the test set (`ClassifierAccuracyError`
    below it: nothing is cached then) and written to the cache atomically, with a JSON of its
    accuracy and training time next to it. Without `train_if_missing`, a missing classifier
    raises `FileNotFoundError`.
    """
    import keras

    model_path, meta_path = classifier_paths(dataset, cache_dir)
    if model_path.is_file() and meta_path.is_file():
        with open(meta_path) as f:
            meta = json.load(f)
        if meta.get("test_accuracy", 0.0) >= min_accuracy:
            return keras.saving.load_model(model_path)
        if verbose:
            print(f"The cached evaluation classifier ({model_path}) has "
                  f"{100 * meta.get('test_accuracy', 0.0):.2f}% test accuracy, below "
                  f"{100 * min_accuracy:.2f}%.", flush=True)
    if not train_if_missing:
        raise FileNotFoundError(
            f"No evaluation classifier for {dataset!r} with ≥ {100 * min_accuracy:.2f}% test "
            f"accuracy in {model_path.parent}; call load_evaluation_classifier(..., "
            "train_if_missing=True) to train one (a few minutes on a CPU)."
        )
    from ssgan.data import load_dataset

    (x_train, y_train), (x_test, y_test) = load_dataset(dataset, data_dir=data_dir)
    if verbose:
        print(f"Training the evaluation classifier of {dataset!r} on {len(x_train)} images...",
              flush=True)
    model, info = train_evaluation_classifier(
        x_train, y_train, x_test, y_test, min_accuracy=min_accuracy,
        verbose=2 if verbose else 0, **train_options
    )
    if verbose:
        print(f"Evaluation classifier: {100 * info['test_accuracy']:.2f}% test accuracy after "
              f"{info['train_seconds']:.0f}s of training.", flush=True)
    info.update(dataset=dataset, version=CLASSIFIER_VERSION, keras=keras.__version__,
                backend=keras.backend.backend())
    with atomic_path(model_path) as tmp:
        model.save(tmp)
    write_json(meta_path, info)  # last: the metadata marks the cache entry complete
    return model


# ------------------------------------------------------------------------- classifier outputs

_FEATURE_MODELS = weakref.WeakKeyDictionary()


def _feature_model(classifier):
    import keras

    model = _FEATURE_MODELS.get(classifier)
    if model is None:
        # A reloaded model lists its one input; take the tensor so calls with an array match.
        (image,) = classifier.inputs
        model = keras.Model(
            image, [classifier.get_layer(FEATURES_LAYER).output, classifier.output]
        )
        _FEATURE_MODELS[classifier] = model
    return model


def classifier_outputs(classifier, images, batch_size=500):
    """(penultimate features, logits) of `classifier` on `images` (inference mode), as NumPy."""
    import keras

    images = _as_images(images, _input_shape(classifier))
    model = _feature_model(classifier)
    features, logits = [], []
    for start in range(0, len(images), batch_size):
        f, l = model(images[start : start + batch_size], training=False)
        features.append(keras.ops.convert_to_numpy(f))
        logits.append(keras.ops.convert_to_numpy(l))
    return np.concatenate(features), np.concatenate(logits)


def predict_classes(classifier, images, batch_size=500):
    """The classifier's arg-max class of each image."""
    return np.argmax(classifier_outputs(classifier, images, batch_size)[1], axis=-1)


def class_consistency(classifier, images, labels):
    """Share of `images` classified as `labels` (CGAN: the share of G(z, y) classified as y)."""
    return float(np.mean(predict_classes(classifier, images) == np.asarray(labels)))


# --------------------------------------------------------------------------- code matching


def confusion_matrix(codes, classes, n_codes=None, n_classes=None):
    """counts[i, j] = number of examples with code i and class j."""
    codes, classes = np.asarray(codes, "int64"), np.asarray(classes, "int64")
    n_codes = int(n_codes or codes.max() + 1)
    n_classes = int(n_classes or classes.max() + 1)
    counts = np.zeros((n_codes, n_classes), dtype="int64")
    np.add.at(counts, (codes, classes), 1)
    return counts


def matching_accuracy(codes, classes, n_codes=None, n_classes=None):
    """Accuracy of the best one-to-one code→class assignment, and that assignment.

    The assignment maximizes the number of examples whose class is their code's class
    (`scipy.optimize.linear_sum_assignment` on the confusion matrix). With more codes than
    classes the unmatched codes count as errors. Returns (accuracy, {code: class}).
    """
    from scipy.optimize import linear_sum_assignment

    counts = confusion_matrix(codes, classes, n_codes, n_classes)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    accuracy = counts[rows, cols].sum() / max(counts.sum(), 1)
    return float(accuracy), {int(r): int(c) for r, c in zip(rows, cols)}


# ---------------------------------------------------------------------- Fréchet distance


def feature_statistics(features):
    """(mean, covariance) of `features` (N, F) in float64; the covariance is unbiased (N − 1)."""
    features = np.asarray(features, dtype="float64")
    if features.ndim != 2 or len(features) < 2:
        raise ValueError(f"Expected at least two feature vectors (N, F), got {features.shape}.")
    return features.mean(axis=0), np.cov(features, rowvar=False)


def frechet_distance(mu1, sigma1, mu2, sigma2, eps=1e-6):
    """Fréchet distance of the Gaussians N(mu1, sigma1) and N(mu2, sigma2):

        ‖μ1 − μ2‖² + Tr(Σ1) + Tr(Σ2) − 2·Tr((Σ1 Σ2)^½)

    As the reference FID code (Heusel et al. 2017; pytorch-fid): when the product's square root is
    not finite (near-singular covariances) `eps`·I is added to both covariances; a complex square
    root (numerical error) keeps its real part, unless the diagonal's imaginary part exceeds 1e-3
    (then `ValueError`). The result can be slightly negative (≈ −1e−10) through rounding.
    """
    from scipy import linalg

    mu1, mu2 = np.atleast_1d(np.asarray(mu1, "float64")), np.atleast_1d(np.asarray(mu2, "float64"))
    sigma1 = np.atleast_2d(np.asarray(sigma1, "float64"))
    sigma2 = np.atleast_2d(np.asarray(sigma2, "float64"))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError("The two means and the two covariances must have the same shapes.")
    diff = mu1 - mu2
    with warnings.catch_warnings():  # singular products are expected (few samples, dead units)
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(sigma1 @ sigma2)
        if not np.isfinite(covmean).all():
            offset = np.eye(sigma1.shape[0]) * eps
            covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(
                f"Complex square root: imaginary component {np.max(np.abs(covmean.imag))}."
            )
        covmean = covmean.real
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


_TEST_FEATURES = weakref.WeakKeyDictionary()


def _test_features(classifier, dataset, data_dir):
    """(features, labels) of `dataset`'s test set under `classifier` (computed once per
    classifier and data set, kept in memory)."""
    cached = _TEST_FEATURES.setdefault(classifier, {})
    if dataset not in cached:
        from ssgan.data import load_dataset

        _, (x_test, y_test) = load_dataset(dataset, data_dir=data_dir)
        cached[dataset] = (classifier_outputs(classifier, x_test)[0], np.asarray(y_test))
    return cached[dataset]


def reference_statistics(classifier, dataset="mnist", data_dir=None):
    """Feature statistics of `dataset`'s test set under `classifier`."""
    features, _ = _test_features(classifier, dataset, data_dir)
    return feature_statistics(features)


def class_reference_statistics(classifier, n_classes, dataset="mnist", data_dir=None):
    """Feature statistics of each class 0, …, `n_classes` − 1 of `dataset`'s test set."""
    features, labels = _test_features(classifier, dataset, data_dir)
    return class_statistics(features, labels, n_classes)


def class_statistics(features, labels, n_classes):
    """(mean, covariance) of the `features` of each class 0, …, `n_classes` − 1 in `labels`."""
    labels = np.asarray(labels).reshape(-1)
    return [feature_statistics(np.asarray(features)[labels == k]) for k in range(n_classes)]


def class_fid(features, labels, class_reference):
    """Intra-class FID (Miyato & Koyama 2018): the mean over classes k of the Fréchet distance
    between the `features` labeled k and `class_reference[k]` = (mean, covariance). Unlike the
    FID of all samples, it sees a generator that draws one style per class."""
    statistics = class_statistics(features, labels, len(class_reference))
    return float(np.mean([frechet_distance(mu, sigma, *reference)
                          for (mu, sigma), reference in zip(statistics, class_reference)]))


def mnist_fid(images, classifier, reference=None, dataset="mnist", data_dir=None):
    """MNIST-FID of `images` (floats in [0, 1] or uint8, any layout of 28×28 images): the Fréchet
    distance between their features and the test set's (or `reference` = (mean, covariance))."""
    features, _ = classifier_outputs(classifier, images)
    mu, sigma = feature_statistics(features)
    ref_mu, ref_sigma = reference or reference_statistics(classifier, dataset, data_dir)
    return frechet_distance(mu, sigma, ref_mu, ref_sigma)


# ------------------------------------------------------------------------ generator metrics


def generator_fid(trainer, classifier, n=10000, seed=0, dataset="mnist", data_dir=None,
                  reference=None):
    """MNIST-FID of `n` random samples of the trainer's generator against the test set (or
    `reference` = (mean, covariance) of other features)."""
    images = trainer.generate(n, seed=seed)  # through the objective's own sampling of its codes
    return mnist_fid(images, classifier, reference, dataset, data_dir)


def generator_class_fid(trainer, classifier, n=10000, seed=0, dataset="mnist", data_dir=None,
                        class_reference=None):
    """Intra-class MNIST-FID of the trainer's class-conditional samples (n / K of each class,
    `Objective.class_inputs`) against the test set's classes (or `class_reference`, a list of
    (mean, covariance)); None where its generator takes no class."""
    n_classes = trainer.objective.n_classes
    labels = np.repeat(np.arange(n_classes), max(n // n_classes, 2))
    inputs = trainer.objective.class_inputs(labels, seed=seed)
    if inputs is None:
        return None
    features, _ = classifier_outputs(classifier, trainer.generate_from_inputs(inputs))
    if class_reference is None:
        class_reference = class_reference_statistics(classifier, n_classes, dataset, data_dir)
    return class_fid(features, labels, class_reference)


def evaluate_generator(trainer, classifier=None, n=10000, seed=0, dataset="mnist",
                       data_dir=None, reference=None, class_reference=None):
    """`fid` of `trainer`'s generator, `class_fid` where it takes a class, and the quality
    metrics of its objective (`Objective.quality_metrics`: CGAN's class consistency, InfoGAN's
    code→class accuracy). `classifier` defaults to `load_evaluation_classifier(dataset)`;
    `reference` as in `generator_fid`, `class_reference` as in `generator_class_fid`."""
    if classifier is None:
        classifier = load_evaluation_classifier(dataset, data_dir=data_dir)
    results = {"fid": generator_fid(trainer, classifier, n, seed, dataset, data_dir, reference)}
    intra = generator_class_fid(trainer, classifier, n, seed, dataset, data_dir, class_reference)
    if intra is not None:
        results["class_fid"] = intra
    results.update(trainer.objective.quality_metrics(
        trainer.generate_from_inputs, lambda images: predict_classes(classifier, images), n, seed
    ))
    return results


def main(argv=None):
    """`python -m ssgan.metrics [--dataset mnist] [--cache-dir DIR] [--epochs N]`: train (or load)
    the evaluation classifier, check it against `MIN_ACCURACY` and print its accuracy and
    training time. Exit code 1 if it misses the bar."""
    parser = ArgumentParser(prog="python -m ssgan.metrics", tool="ssgan.metrics",
                            description="Train and cache the evaluation classifier.")
    parser.add_argument("--dataset", default="mnist")
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--min-accuracy", type=float, default=MIN_ACCURACY)
    args = parser.parse_args(argv)
    options = {} if args.epochs is None else {"epochs": args.epochs}
    try:
        load_evaluation_classifier(args.dataset, args.cache_dir, min_accuracy=args.min_accuracy,
                                   data_dir=args.data_dir, **options)
    except ClassifierAccuracyError as exc:
        print(f"ssgan.metrics: error: {exc}")
        return 1
    model_path, meta_path = classifier_paths(args.dataset, args.cache_dir)
    with open(meta_path) as f:
        meta = json.load(f)
    print(f"{model_path}: {100 * meta['test_accuracy']:.2f}% test accuracy, trained in "
          f"{meta['train_seconds']:.0f}s ({meta['epochs']} epochs, {meta['backend']}).")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
