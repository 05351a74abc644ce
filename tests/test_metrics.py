"""Quality metrics: code matching, Fréchet distance, the evaluation classifier's training and cache,
and the generator metrics (with a tiny classifier: the real one takes minutes to train)."""

import json

import numpy as np
import pytest

from ssgan import data as ssgan_data
from ssgan import metrics
from ssgan.train import SemiSupervisedGAN, TrainingConfig

TINY = dict(filters=(4,), dense_units=16, batch_size=128)


# ----------------------------------------------------------------------------- code matching


def test_matching_accuracy_of_a_permuted_assignment_is_one():
    permutation = np.random.default_rng(0).permutation(10)
    codes = np.repeat(np.arange(10), 30)
    accuracy, mapping = metrics.matching_accuracy(codes, permutation[codes])
    assert accuracy == 1.0
    assert mapping == {k: int(permutation[k]) for k in range(10)}


def test_matching_accuracy_of_a_partly_wrong_assignment():
    # Codes 0, 1, 2 → classes 2, 0, 1, each with 10 examples; 3 of code 0's and 1 of code 2's
    # examples are misclassified, so the best matching keeps the permutation: (40 − 4) / 40.
    codes = np.repeat([0, 1, 2, 0], 10)
    classes = np.repeat([2, 0, 1, 2], 10)
    classes[:3] = 0
    classes[25] = 2
    accuracy, mapping = metrics.matching_accuracy(codes, classes)
    assert mapping == {0: 2, 1: 0, 2: 1}
    assert accuracy == pytest.approx(36 / 40)
    # Two codes that both mean class 0: only one can be matched to it.
    accuracy, mapping = metrics.matching_accuracy([0, 0, 1, 1], [0, 0, 0, 0], n_classes=2)
    assert accuracy == 0.5 and sorted(mapping.values()) == [0, 1]
    counts = metrics.confusion_matrix([0, 1, 1], [1, 1, 0], 2, 3)
    np.testing.assert_array_equal(counts, [[0, 1, 0], [1, 1, 0]])


# -------------------------------------------------------------------------- Fréchet distance


def test_feature_statistics():
    features = np.random.default_rng(0).normal(size=(50, 3))
    mu, sigma = metrics.feature_statistics(features)
    np.testing.assert_allclose(mu, features.mean(axis=0))
    np.testing.assert_allclose(sigma, np.cov(features.T))
    with pytest.raises(ValueError):
        metrics.feature_statistics(features[:1])


def test_frechet_distance_of_a_set_with_itself_and_with_a_shifted_set():
    features = np.random.default_rng(1).normal(size=(500, 8)) @ np.diag(np.arange(1, 9))
    stats = metrics.feature_statistics(features)
    assert abs(metrics.frechet_distance(*stats, *stats)) < 1e-6
    shift = np.full(8, 0.5)
    shifted = metrics.feature_statistics(features + shift)
    # A shift moves the mean only: the distance is ‖shift‖².
    assert metrics.frechet_distance(*stats, *shifted) == pytest.approx(8 * 0.25, rel=1e-6)


def test_class_fid_is_the_mean_of_the_classes_distances():
    rng = np.random.default_rng(2)
    labels = np.repeat(np.arange(3), 200)
    features = rng.normal(size=(600, 4)) + labels[:, None]
    reference = metrics.class_statistics(features, labels, 3)
    assert abs(metrics.class_fid(features, labels, reference)) < 1e-6
    # Class 1 shifted by (1, 1, 1, 1): its distance is 4, the mean over the 3 classes 4 / 3.
    shifted = features + (labels == 1)[:, None]
    assert metrics.class_fid(shifted, labels, reference) == pytest.approx(4 / 3, rel=1e-6)
    # One style per class: each class collapsed onto its mean is far from the reference.
    collapsed = np.stack([f.mean(0) for f in np.split(features, 3)]).repeat(200, axis=0)
    collapsed += rng.normal(scale=0.01, size=collapsed.shape)
    assert metrics.class_fid(collapsed, labels, reference) > 3.5


def test_frechet_distance_matches_the_closed_form_for_diagonal_covariances():
    mu1, mu2 = np.array([0.0, 1.0, -2.0]), np.array([1.0, 1.0, 0.5])
    var1, var2 = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    # Σ (μ1 − μ2)² + Σ (σ1² + σ2² − 2 σ1 σ2) = Σ (μ1 − μ2)² + Σ (σ1 − σ2)².
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(var1) - np.sqrt(var2)) ** 2)
    got = metrics.frechet_distance(mu1, np.diag(var1), mu2, np.diag(var2))
    assert got == pytest.approx(expected, rel=1e-9)
    assert expected == pytest.approx(1 + 6.25 + 4 + 1)


def test_frechet_distance_of_singular_covariances_is_finite():
    rng = np.random.default_rng(2)
    few = rng.normal(size=(5, 20))  # 5 vectors in 20 dimensions: rank-4 covariances
    other = rng.normal(size=(5, 20)) + 1.0
    value = metrics.frechet_distance(*metrics.feature_statistics(few),
                                     *metrics.feature_statistics(other))
    assert np.isfinite(value) and value > 0
    zero = np.zeros((3, 3))
    assert metrics.frechet_distance(np.zeros(3), zero, np.ones(3), zero) == pytest.approx(3.0)


# ---------------------------------------------------------------- the evaluation classifier


@pytest.fixture(scope="module")
def mnist():
    return ssgan_data.load_dataset("mnist")


@pytest.fixture(scope="module")
def tiny_classifier(mnist):
    """A tiny CNN trained for 2 steps: the training function's mechanics, not its accuracy."""
    (x_train, y_train), (x_test, y_test) = mnist
    model, info = metrics.train_evaluation_classifier(
        x_train[:256], y_train[:256], x_test[:300], y_test[:300], epochs=1, **TINY
    )
    return model, info


def test_training_function_on_a_subset(tiny_classifier, mnist):
    model, info = tiny_classifier
    assert model.get_layer(metrics.FEATURES_LAYER).output.shape[-1] == 16
    assert tuple(model.output.shape[1:]) == (10,)
    assert info["examples"] == 256 and info["epochs"] == 1 and info["train_seconds"] > 0
    assert 0.0 <= info["test_accuracy"] <= 1.0
    (x_train, y_train), (x_test, y_test) = mnist
    # The accuracy bar: an under-trained classifier is refused.
    with pytest.raises(metrics.ClassifierAccuracyError, match="99.30%"):
        metrics.check_classifier_accuracy(info["test_accuracy"])
    with pytest.raises(metrics.ClassifierAccuracyError):
        metrics.train_evaluation_classifier(x_train[:128], y_train[:128], x_test[:100],
                                            y_test[:100], epochs=1, min_accuracy=0.999, **TINY)
    metrics.check_classifier_accuracy(0.995)
    # Flat float images and uint8 images give the same predictions.
    flat = ssgan_data.scale_images(x_test[:20])
    np.testing.assert_array_equal(metrics.predict_classes(model, flat),
                                  metrics.predict_classes(model, x_test[:20]))


def test_classifier_cache(tmp_path, monkeypatch, mnist):
    (x_train, y_train), (x_test, y_test) = mnist
    small = ((x_train[:256], y_train[:256]), (x_test[:200], y_test[:200]))
    monkeypatch.setattr(ssgan_data, "load_dataset", lambda *args, **kwargs: small)
    cache = tmp_path / "cache"
    with pytest.raises(FileNotFoundError, match="train_if_missing"):
        metrics.load_evaluation_classifier("mnist", cache_dir=cache, train_if_missing=False)

    trained = metrics.load_evaluation_classifier("mnist", cache_dir=cache, min_accuracy=0.0,
                                                 verbose=0, epochs=1, **TINY)
    model_path, meta_path = metrics.classifier_paths("mnist", cache)
    assert model_path.parent == cache
    assert model_path.name == f"mnist-v{metrics.CLASSIFIER_VERSION}.keras"
    assert sorted(p.name for p in cache.iterdir()) == sorted([model_path.name, meta_path.name])
    meta = json.loads(meta_path.read_text())
    assert meta["dataset"] == "mnist" and meta["examples"] == 256 and "train_seconds" in meta

    def no_training(*args, **kwargs):
        raise AssertionError("a cached classifier must not be trained again")

    monkeypatch.setattr(metrics, "train_evaluation_classifier", no_training)
    loaded = metrics.load_evaluation_classifier("mnist", cache_dir=cache, min_accuracy=0.0,
                                                train_if_missing=False)
    x = x_test[:10]
    np.testing.assert_allclose(metrics.classifier_outputs(loaded, x)[1],
                               metrics.classifier_outputs(trained, x)[1], rtol=1e-5, atol=1e-5)
    # A cached classifier below the required accuracy is not used.
    meta["test_accuracy"] = 0.5
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(FileNotFoundError):
        metrics.load_evaluation_classifier("mnist", cache_dir=cache, min_accuracy=0.9,
                                           train_if_missing=False, verbose=0)


def test_default_cache_dir_follows_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert metrics.default_cache_dir() == tmp_path / "ssgan" / "eval_classifier"
    assert metrics.classifier_paths("mnist")[0].parent == tmp_path / "ssgan" / "eval_classifier"


# ---------------------------------------------------------------------- generator metrics


def test_mnist_fid_of_the_test_set_with_itself_is_zero(tiny_classifier, mnist):
    model, _ = tiny_classifier
    _, (x_test, _) = mnist
    images = x_test[:1000]
    reference = metrics.feature_statistics(metrics.classifier_outputs(model, images)[0])
    assert abs(metrics.mnist_fid(images, model, reference=reference)) < 1e-6
    # Other real digits are much closer than uniform noise (even under this 2-step classifier).
    other_digits = metrics.mnist_fid(x_test[1000:2000], model, reference=reference)
    noise = np.random.default_rng(0).uniform(size=(1000, 784)).astype("float32")
    assert metrics.mnist_fid(noise, model, reference=reference) > 5 * other_digits > 0


def _trainer(generator):
    config = TrainingConfig(generator=generator, latent_dim=8, discriminator_hidden=(16, 8),
                            generator_hidden=(16,))
    return SemiSupervisedGAN((28, 28, 1), 10, config)


@pytest.mark.parametrize("generator", ["feature-matching", "cgan", "infogan"])
def test_evaluate_generator(tiny_classifier, mnist, generator):
    model, _ = tiny_classifier
    trainer = _trainer(generator)
    _, (x_test, y_test) = mnist
    # 500 test images as the reference: the 10,000 would take most of the test's time.
    features = metrics.classifier_outputs(model, x_test[:500])[0]
    reference = metrics.feature_statistics(features)
    class_reference = metrics.class_statistics(features, y_test[:500], 10)
    results = metrics.evaluate_generator(trainer, model, n=200, seed=0, reference=reference,
                                         class_reference=class_reference)
    assert np.isfinite(results["fid"]) and results["fid"] > 0
    # Only a generator that takes a class has an intra-class FID.
    assert ("class_fid" in results) == (generator == "cgan")
    if generator == "cgan":
        assert 0.0 <= results["class_consistency"] <= 1.0
        assert np.isfinite(results["class_fid"]) and results["class_fid"] > 0
    if generator == "infogan":
        assert 0.1 <= results["code_accuracy"] <= 1.0  # a matching is never below chance here
        assert results["code_accuracy"] >= results["code_identity_accuracy"]
        assert sorted(results["code_mapping"]) == list(range(10))
