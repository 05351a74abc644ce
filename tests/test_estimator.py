"""SSGANClassifier: scikit-learn's estimator checks, input errors, semi-supervised labels, pickling,
Pipeline/GridSearchCV/cross_val_score, and a short MNIST fit that learns (its samples:
test_estimator_sampling.py)."""

import copy
import os
import pickle
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.metrics import accuracy_score
from sklearn.model_selection import GridSearchCV
from sklearn.model_selection import StratifiedKFold
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from conftest import ESTIMATOR_TINY as TINY
from conftest import blobs as _blobs

from ssgan import SSGANClassifier
from ssgan.estimator_data import scale

REPO_ROOT = Path(__file__).resolve().parents[1]


def labeled_accuracy(estimator, X, y):
    """Accuracy on the labeled rows of a fold (y != -1): a scorer for semi-supervised CV."""
    y = np.asarray(y)
    mask = y != -1
    return accuracy_score(y[mask], estimator.predict(np.asarray(X)[mask]))


# ------------------------------------------------------------------------- estimator checks

EXPECTED_FAILED_CHECKS = {
    "check_classifiers_classes": (
        "semi-supervised labels: the check fits string labels in a str-dtype array, rejected as "
        "SelfTrainingClassifier does (-1 cannot mark unlabeled rows there; object arrays work), "
        "and the classes [-1, 1], where -1 marks unlabeled rows here. scikit-learn exempts only "
        "its own semi-supervised estimators from both, by name."
    ),
}


@parametrize_with_checks(
    [SSGANClassifier(**TINY), SSGANClassifier(**TINY, recipe="full"),
     SSGANClassifier(**TINY, early_stopping=True, validation_fraction=0.2, n_iter_no_change=1)],
    expected_failed_checks=lambda estimator: EXPECTED_FAILED_CHECKS,
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def test_tags_declare_a_deterministic_single_output_classifier():
    tags = SSGANClassifier().__sklearn_tags__()
    assert tags.estimator_type == "classifier"
    assert tags.target_tags.required  # y says which rows are labeled
    assert not tags.non_deterministic
    assert not tags.input_tags.allow_nan and not tags.input_tags.sparse
    assert not tags.target_tags.multi_output and not tags.classifier_tags.multi_label


# ------------------------------------------------------------------------------ input errors

def _with_nan(X, y):
    X = X.copy()
    X[3, 1] = np.nan
    return X, y


def _with_inf(X, y):
    X = X.copy()
    X[5, 0] = np.inf
    return X, y


@pytest.mark.parametrize(
    "make_input, params, message",
    [
        (_with_nan, {}, "Input X contains NaN"),
        (_with_inf, {}, "Input X contains infinity"),
        (lambda X, y: (X, y[:-3]), {}, "inconsistent numbers of samples"),
        (lambda X, y: (X, np.full(len(y), -1)), {}, "no labeled rows"),
        (lambda X, y: (X, np.where(y == 0, 0, -1)), {}, "only 1 class among its"),
        (lambda X, y: (X, np.array(["a", "b", "c"])[y]), {}, "y has dtype string"),
        (lambda X, y: (X, y + 0.5), {}, "Unknown label type"),
        (lambda X, y: (X, y), {"generator": "no-such-kind"}, "Unknown generator 'no-such-kind'"),
        (lambda X, y: (X, y), {"architecture": "conv"}, "needs image_shape"),
        (lambda X, y: (X, y), {"image_shape": (3, 3)}, "holds 9 values per example"),
        (lambda X, y: (X, y), {"epochs": 0}, "'epochs' parameter"),
        (lambda X, y: (X, y), {"architecture": "rnn"}, "Unknown architecture 'rnn': expected"),
        (lambda X, y: (X, y), {"label_smoothing": 1.0}, "'label_smoothing' parameter"),
        (lambda X, y: (X, y), {"discriminator_hidden": (8, 0)}, "positive ints"),
    ],
    ids=["nan", "inf", "y-length", "no-labels", "one-class", "str-dtype", "continuous-y",
         "unknown-generator", "conv-without-shape", "shape-mismatch", "epochs-0", "architecture",
         "smoothing-1", "zero-width"],
)
def test_fit_rejects_bad_input_with_a_clear_value_error(make_input, params, message):
    X, _, y_partial = _blobs()
    X, y = make_input(X, y_partial)
    with pytest.raises(ValueError, match=message):
        SSGANClassifier(**{**TINY, **params}).fit(X, y)


@pytest.mark.parametrize("method", ["predict", "predict_proba", "decision_function", "score"])
def test_methods_before_fit_raise_not_fitted(method):
    X, y, _ = _blobs()
    args = (X, y) if method == "score" else (X,)
    with pytest.raises(NotFittedError):
        getattr(SSGANClassifier(), method)(*args)
    with pytest.raises(NotFittedError):
        SSGANClassifier().generate(3)


def test_predict_rejects_wrong_features_and_non_finite_values():
    X, _, y_partial = _blobs()
    clf = SSGANClassifier(**TINY).fit(X, y_partial)
    with pytest.raises(ValueError, match="X has 3 features, but SSGANClassifier is expecting 2"):
        clf.predict(np.hstack([X, X[:, :1]]))
    X_bad = X.copy()
    X_bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="Input X contains NaN"):
        clf.predict_proba(X_bad)
    # A refit that fails leaves no stale model behind.
    with pytest.raises(ValueError, match="no labeled rows"):
        clf.fit(X, np.full(len(X), -1))
    with pytest.raises(NotFittedError):
        clf.predict(X)


# -------------------------------------------------------------------- semi-supervised labels

def test_classes_are_the_labels_of_labeled_rows_only():
    X, y, _ = _blobs()
    # Rows of class 2 are all unlabeled: nothing tells the estimator that class 2 exists, so it
    # is not in classes_ (and nothing can be predicted as 2); -1 is never a class.
    y_partial = np.where(y == 2, -1, y)
    y_partial[::4] = -1
    clf = SSGANClassifier(**TINY).fit(X, y_partial)
    np.testing.assert_array_equal(clf.classes_, [0, 1])
    assert set(np.unique(clf.predict(X))) <= {0, 1}
    assert clf.predict_proba(X).shape == (len(X), 2)


def test_fully_labeled_y_is_accepted_without_warning(recwarn):
    X, y, _ = _blobs()
    clf = SSGANClassifier(**TINY).fit(X, y)  # all rows also form the unlabeled pool
    np.testing.assert_array_equal(clf.classes_, [0, 1, 2])
    assert not [w for w in recwarn if issubclass(w.category, UserWarning)]


def test_string_labels_in_an_object_array_with_minus_one_for_unlabeled():
    X, y, y_partial = _blobs()
    names = np.array(["setosa", "versicolor", "virginica"], dtype=object)
    y_names = np.where(y_partial == -1, -1, names[y]).astype(object)
    assert y_names.dtype == object and (y_names == -1).sum() == (y_partial == -1).sum()
    clf = SSGANClassifier(**TINY).fit(X, y_names)
    assert clf.classes_.dtype == object
    assert list(clf.classes_) == list(names)
    predicted = clf.predict(X)
    assert set(predicted) <= set(names)
    # Same seed, integer labels: the same model, so the same predictions, renamed.
    by_index = SSGANClassifier(**TINY).fit(X, y_partial).predict(X)
    np.testing.assert_array_equal(predicted, names[by_index])
    # A str-dtype array cannot hold the integer -1: the same error as SelfTrainingClassifier.
    with pytest.raises(ValueError, match="y has dtype string"):
        SSGANClassifier(**TINY).fit(X, names[y].astype(str))


def test_labels_of_mixed_types_are_refused():
    X, y, _ = _blobs()
    y_mixed = np.array(["a", 1, "b"], dtype=object)[y]
    with pytest.raises(ValueError, match="Unknown label type"):
        SSGANClassifier(**TINY).fit(X, y_mixed)


# ------------------------------------------------------------------------------------ outputs

def test_probabilities_scores_and_predictions_agree():
    X, _, y_partial = _blobs()
    clf = SSGANClassifier(**TINY).fit(X, y_partial)
    proba = clf.predict_proba(X)
    logits = clf.decision_function(X)
    assert proba.shape == logits.shape == (len(X), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    np.testing.assert_allclose(proba, shifted / shifted.sum(axis=1, keepdims=True), rtol=1e-6)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[np.argmax(logits, axis=1)])
    # The logits are the discriminator's own output on the scaled rows.
    scaled = scale(X, clf.data_min_, clf.data_max_)
    direct = np.asarray(clf.discriminator_(scaled, training=False)["logits"])
    np.testing.assert_allclose(logits, direct, rtol=1e-4, atol=1e-5)


def test_binary_decision_function_is_the_log_odds_of_the_second_class():
    X, y, y_partial = _blobs(centers=2)
    clf = SSGANClassifier(**TINY).fit(X, y_partial)
    scores = clf.decision_function(X)
    proba = clf.predict_proba(X)
    assert scores.shape == (len(X),)
    np.testing.assert_allclose(proba[:, 1], 1 / (1 + np.exp(-scores)), rtol=1e-6)
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[(scores > 0).astype(int)])


def test_features_are_min_max_scaled_on_all_rows_and_clipped_at_predict_time():
    X, _, y_partial = _blobs()
    X = np.hstack([X * [1000.0, 0.001], np.full((len(X), 1), 7.0)])  # + a constant feature
    clf = SSGANClassifier(**TINY).fit(X, y_partial)
    np.testing.assert_array_equal(clf.data_min_, X.min(axis=0))
    np.testing.assert_array_equal(clf.data_max_, X.max(axis=0))
    scaled = scale(X, clf.data_min_, clf.data_max_)
    assert scaled.dtype == np.float32 and scaled.min() == 0.0 and scaled.max() == 1.0
    np.testing.assert_array_equal(scaled[:, 2], 0.0)
    far = X + 10 * (X.max(axis=0) - X.min(axis=0))  # beyond the range seen in fit
    clipped = np.broadcast_to(X.max(axis=0), X.shape)
    np.testing.assert_array_equal(clf.decision_function(far), clf.decision_function(clipped))


def test_features_near_the_float64_limit_scale_without_overflow():
    X, y, y_partial = _blobs()
    X = X / np.abs(X).max() * 1e308  # max − min would overflow to inf
    clf = SSGANClassifier(**TINY, recipe="fast").fit(X, y_partial)  # learns in 3 steps
    assert np.all(np.isfinite(clf.predict_proba(X))) and clf.score(X, y) > 0.5
    generated = clf.generate(5, random_state=0)
    assert np.all(np.isfinite(generated))
    assert np.all(generated >= clf.data_min_) and np.all(generated <= clf.data_max_)


# ---------------------------------------------------- MLPClassifier's habits: early stopping

def test_training_attributes_without_early_stopping():
    X, _, y_partial = _blobs()
    clf = SSGANClassifier(**{**TINY, "epochs": 3}).fit(X, y_partial)
    assert clf.n_iter_ == 3 == len(clf.loss_curve_) == len(clf.history_)
    entry = clf.history_[0]
    assert clf.loss_curve_[0] == pytest.approx(
        entry["loss_supervised"] + clf.config_.unlabeled_weight * entry["loss_unsupervised"])
    assert clf.best_loss_ == min(clf.loss_curve_)
    assert clf.validation_scores_ is None and clf.best_validation_score_ is None


def test_early_stopping_stops_and_keeps_the_best_epoch():
    """Labels that are noise can only be memorized: the held-out accuracy wanders, training stops
    `n_iter_no_change` epochs after its best, and the model predicts as at that best epoch."""
    from ssgan.estimator_data import validation_split

    rng = np.random.default_rng(0)
    X, y = rng.random((200, 6)), rng.integers(0, 2, 200)
    clf = SSGANClassifier(**{**TINY, "epochs": 40, "learning_rate": 0.02}, early_stopping=True,
                          validation_fraction=0.3, n_iter_no_change=3).fit(X, y)
    scores = clf.validation_scores_
    assert clf.n_iter_ == len(scores) == len(clf.loss_curve_) < 40
    best = int(np.argmax(scores))
    assert clf.n_iter_ == best + 1 + 3 and clf.best_validation_score_ == scores[best]
    assert clf.best_loss_ is None
    _, held = validation_split(y, 0.3, 0)  # the rows fit held out (random_state 0)
    assert len(held) == 60
    assert clf.score(X[held], y[held]) == pytest.approx(clf.best_validation_score_)


def test_grid_search_logs_no_retracing_warning():
    """Each fit and each predict of any size reuses its compiled function: TensorFlow warns of
    "tf.function retracing" otherwise."""
    import io
    import logging

    import keras

    if keras.backend.backend() != "tensorflow":
        pytest.skip("the warning is TensorFlow's")
    import tensorflow as tf

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    tf.get_logger().addHandler(handler)
    try:
        X, _, y_partial = _blobs(n=150)
        search = GridSearchCV(SSGANClassifier(**TINY), {"learning_rate": [0.001, 0.003]},
                              cv=StratifiedKFold(3), scoring=labeled_accuracy).fit(X, y_partial)
        for n in (1, 7, 130):
            search.predict(X[:n])
    finally:
        tf.get_logger().removeHandler(handler)
    assert "retracing" not in stream.getvalue()


# ------------------------------------------------------------------ reproducibility, pickling

def test_same_random_state_same_model_and_the_global_rng_is_left_alone():
    X, _, y_partial = _blobs()
    np.random.seed(123)
    expected_draw = np.random.rand()
    np.random.seed(123)
    first = SSGANClassifier(**TINY).fit(X, y_partial)
    assert np.random.rand() == expected_draw  # fit did not reseed NumPy's global generator
    second = SSGANClassifier(**TINY).fit(X, y_partial)
    other = SSGANClassifier(**{**TINY, "random_state": 1}).fit(X, y_partial)
    np.testing.assert_array_equal(first.decision_function(X), second.decision_function(X))
    assert not np.array_equal(first.decision_function(X), other.decision_function(X))
    assert first.config_.seed == 0 and other.config_.seed == 1


def test_pickle_joblib_and_deepcopy_of_a_fitted_estimator_predict_identically(tmp_path):
    X, _, y_partial = _blobs()
    clf = SSGANClassifier(**TINY).fit(X, y_partial)
    expected = clf.predict_proba(X)
    samples = clf.generate(10, random_state=0)
    joblib.dump(clf, tmp_path / "clf.joblib")
    restored = [
        pickle.loads(pickle.dumps(clf)),
        joblib.load(tmp_path / "clf.joblib"),
        copy.deepcopy(clf),
    ]
    for other in restored:
        assert other.discriminator_ is not clf.discriminator_
        np.testing.assert_array_equal(other.predict_proba(X), expected)
        np.testing.assert_array_equal(other.predict(X), clf.predict(X))
        np.testing.assert_array_equal(other.generate(10, random_state=0), samples)
        assert other.history_ == clf.history_ and other.config_ == clf.config_
        assert other.get_params() == clf.get_params()
    # Pickling did not strip the original of its models.
    np.testing.assert_array_equal(clf.predict_proba(X), expected)
    # An unfitted estimator pickles as plain parameters.
    unfitted = pickle.loads(pickle.dumps(SSGANClassifier(epochs=7)))
    assert unfitted.epochs == 7 and not hasattr(unfitted, "classes_")


def test_clone_get_params_and_set_params():
    clf = SSGANClassifier(**TINY)
    params = clf.get_params()
    assert params["generator"] is None and params["epochs"] == 1  # None: the recipe's
    cloned = clone(clf).set_params(learning_rate=0.01, generator_hidden=(8,))
    assert cloned.learning_rate == 0.01 and cloned.generator_hidden == (8,)
    assert clf.learning_rate is None
    X, _, y_partial = _blobs()
    clf.fit(X, y_partial)
    assert not hasattr(clone(clf), "classes_")


# -------------------------------------------------------------------- settings as parameters

def test_config_is_resolved_from_the_parameters():
    X, _, y_partial = _blobs()
    clf = SSGANClassifier(**TINY, generator_learning_rate=0.001).fit(X, y_partial)
    config = clf.config_
    assert config.seed == 0 and config.steps_per_epoch == 3 and config.epochs == 1
    assert config.generator_learning_rate == 0.001 and config.generator_beta_1 == 0.5
    assert config.ema_rate == 1.0 and config.lr_decay_start == 0  # derived: 10/3 steps, epochs//2


def test_feature_names_are_recorded_and_checked():
    pa = pytest.importorskip("pyarrow")
    X, _, y_partial = _blobs()
    table = pa.table({"width": X[:, 0], "height": X[:, 1]})
    clf = SSGANClassifier(**TINY).fit(table, y_partial)
    assert list(clf.feature_names_in_) == ["width", "height"]
    with pytest.warns(UserWarning, match="does not have valid feature names"):
        np.testing.assert_array_equal(clf.predict(table), clf.predict(X))
    swapped = pa.table({"height": X[:, 1], "width": X[:, 0]})
    with pytest.raises(ValueError, match="feature names"):
        clf.predict(swapped)


# ----------------------------------------------------------------------------- real MNIST

def test_short_fit_on_mnist_learns(estimator_mnist):
    X, y_partial, X_test, y_test = estimator_mnist
    clf = SSGANClassifier(discriminator_hidden=(200, 100, 100), generator_hidden=(100, 100),
                          batch_size=50, epochs=6, random_state=0)
    clf.fit(X, y_partial)
    assert len(clf.history_) == 6 and clf.config_.steps_per_epoch == 20
    # Taken for 28 × 28 images, so the labeled rows move by up to 2 pixels: their loss falls
    # more slowly than on fixed vectors (2.6 → 1.4 when written).
    assert clf.image_shape_ == (28, 28) and clf.config_.input_shift == 2
    assert clf.history_[-1]["loss_supervised"] < 0.75 * clf.history_[0]["loss_supervised"]
    # Chance is 10%; 100 labels take this run to ~61% in 120 steps. Misaligned labels, a
    # broken scaling or predictions from untrained weights all stay near chance.
    accuracy = clf.score(X_test, y_test)
    assert accuracy > 0.55, accuracy


def test_pipeline_grid_search_and_cross_val_score_on_mnist(estimator_mnist):
    X, y_partial, X_test, y_test = estimator_mnist
    pipe = Pipeline([
        ("scale", StandardScaler()),
        ("clf", SSGANClassifier(discriminator_hidden=(64, 32), generator_hidden=(32,),
                                latent_dim=16, batch_size=50, epochs=2, random_state=0,
                                recipe="fast")),
    ])
    cv = StratifiedKFold(n_splits=2, shuffle=True, random_state=0)  # strata include -1
    search = GridSearchCV(pipe, {"clf__learning_rate": [0.003, 0.01]}, cv=cv,
                          scoring=labeled_accuracy)
    search.fit(X, y_partial)
    assert search.cv_results_["mean_test_score"].shape == (2,)
    assert search.best_params_["clf__learning_rate"] in (0.003, 0.01)
    assert search.best_score_ > 0.25  # on ~50 held-out labels per fold; chance is 0.1
    assert search.best_estimator_.named_steps["clf"].n_features_in_ == 784
    assert search.score(X_test, y_test) > 0.3

    scores = cross_val_score(pipe, X, y_partial, cv=cv, scoring=labeled_accuracy)
    assert scores.shape == (2,) and np.all(scores > 0.25), scores


# ------------------------------------------------------------------------------ JAX backend

_JAX_SCRIPT = """
import pickle
import keras
import numpy as np
from sklearn.datasets import make_blobs
from ssgan import SSGANClassifier
assert keras.backend.backend() == "jax"
X, y = make_blobs(n_samples=90, centers=3, cluster_std=0.5, random_state=0)
y[::3] = -1
params = dict(discriminator_hidden=(16, 16), generator_hidden=(16,), latent_dim=8, epochs=1,
              steps_per_epoch=3, batch_size=16, random_state=0)
clf = SSGANClassifier(**params).fit(X, y)
again = SSGANClassifier(**params).fit(X, y)
proba = clf.predict_proba(X)
assert np.allclose(proba.sum(axis=1), 1.0)
assert np.array_equal(again.predict_proba(X), proba)
assert np.array_equal(pickle.loads(pickle.dumps(clf)).predict_proba(X), proba)
print("JAX-OK", clf.score(X[y != -1], y[y != -1]))
"""


@pytest.mark.slow
def test_estimator_runs_on_the_jax_backend():
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, "-c", _JAX_SCRIPT], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "JAX-OK" in result.stdout
