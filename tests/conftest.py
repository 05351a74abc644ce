"""Shared fixtures and helpers of the test suite: MNIST subsets, small configurations, seeding,
and running a command-line tool as a real process.

MNIST comes from `ssgan.data.load_dataset` ($SSGAN_DATA_DIR in CI): tests never skip for lack of
it. Helpers are imported by the test modules with `from conftest import ...`.
"""

import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from ssgan.config import TrainingConfig
from ssgan.data import load_dataset, scale_images, semi_supervised_split

# Small networks: a step takes milliseconds on a CPU, and a few steps still learn.
SMALL = dict(discriminator_hidden=(200, 100, 100), generator_hidden=(100, 100), batch_size=50)
# Tiny networks: for checks of mechanics only.
TINY = dict(discriminator_hidden=(32, 16), generator_hidden=(32,), latent_dim=16, batch_size=20,
            init_examples=100)


def small_config(**overrides):
    """A `TrainingConfig` of the small networks, with `overrides`."""
    return TrainingConfig(**{**SMALL, **overrides})


def as_numpy(tensor, dtype=None):
    """A backend tensor (or anything array-like) as a NumPy array."""
    array = np.asarray(keras.ops.convert_to_numpy(tensor))
    return array if dtype is None else array.astype(dtype)


def run_module(module, *args, env=None, timeout=600):
    """`python -m module args...` as a real process (TensorFlow's logs quiet), its result."""
    return subprocess.run(
        [sys.executable, "-m", module, *map(str, args)], capture_output=True, text=True,
        timeout=timeout, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})},
    )


def run_python(code, *args, backend=None, timeout=600):
    """`python -c code args...` as a real process, optionally on another Keras backend; returns
    the JSON printed on its line starting with "RESULT " (asserting that it succeeded)."""
    import json

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    if backend:
        env["KERAS_BACKEND"] = backend
    result = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True,
                            text=True, env=env, timeout=timeout)
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(l for l in result.stdout.splitlines() if l.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


@pytest.fixture
def keras_seed():
    """Keras', NumPy's and Python's global seeds set to 0 (models built in a test are fixed)."""
    keras.utils.set_random_seed(0)


@pytest.fixture(scope="session")
def mnist():
    """MNIST as `load_dataset` gives it: ((x_train, y_train), (x_test, y_test)), uint8 images."""
    return load_dataset("mnist")


@pytest.fixture(scope="session")
def mnist_subset(mnist):
    """100 labeled (10 per class), 3000 unlabeled and 2000 test MNIST images, flat in [0, 1]:
    (x_labeled, y_labeled, x_unlabeled, x_test, y_test)."""
    (x_train, y_train), (x_test, y_test) = mnist
    pool = np.random.default_rng(0).permutation(len(x_train))[:3000]
    split = semi_supervised_split(y_train[pool], 100, seed=0)
    labeled = pool[split.labeled]
    return (scale_images(x_train[labeled]), y_train[labeled], scale_images(x_train[pool]),
            scale_images(x_test[:2000]), y_test[:2000])


@pytest.fixture(scope="session")
def tiny_mnist(mnist):
    """20 labeled (2 per class) and 400 unlabeled MNIST images, flat in [0, 1]:
    (x_labeled, y_labeled, x_unlabeled)."""
    (x_train, y_train), _ = mnist
    pool = np.random.default_rng(0).permutation(len(x_train))[:400]
    x = scale_images(x_train[pool])
    labeled = np.concatenate([np.flatnonzero(y_train[pool] == k)[:2] for k in range(10)])
    return x[labeled], y_train[pool][labeled], x


# The estimator's tiny networks, one short epoch: a fit of the estimator checks' data takes
# ~0.7 s.
ESTIMATOR_TINY = dict(discriminator_hidden=(16, 16), generator_hidden=(16,), latent_dim=8,
                      epochs=1, steps_per_epoch=3, batch_size=16, random_state=0)


def blobs(n=120, centers=3, labeled_fraction=0.3, seed=0):
    """Three well separated blobs: (X, y, y_partial), where `y_partial` keeps about
    `labeled_fraction` of the labels (at least two per class) and marks the rest -1."""
    from sklearn.datasets import make_blobs

    X, y = make_blobs(n_samples=n, centers=centers, cluster_std=0.5, random_state=seed)
    keep = np.random.default_rng(seed).random(n) < labeled_fraction
    for c in range(centers):
        keep[np.flatnonzero(y == c)[:2]] = True
    return X, y, np.where(keep, y, -1)


def blurred_images(n, side, channels=1, seed=0):
    """`n` random images of `side`² pixels, smoothed so that neighbouring pixels correlate,
    flattened in C order."""
    noise = np.random.default_rng(seed).uniform(size=(n, side + 4, side + 4, channels))
    images = sum(noise[:, i:i + side, j:j + side] for i in range(5) for j in range(5)) / 25
    return images.reshape(n, -1)


@pytest.fixture(scope="session")
def estimator_mnist(mnist):
    """1000 training images with 100 labels (10 per class, the rest -1), and 2000 test images,
    flat in [0, 1]: (X, y_partial, X_test, y_test), as an estimator takes them."""
    (x_train, y_train), (x_test, y_test) = mnist
    pool = np.random.default_rng(0).permutation(len(x_train))[:1000]
    X, y = scale_images(x_train[pool]), y_train[pool]
    split = semi_supervised_split(y, 100, seed=0)
    y_partial = np.full(len(y), -1)
    y_partial[split.labeled] = y[split.labeled]
    return X, y_partial, scale_images(x_test[:2000]), y_test[:2000]


def softmax_cross_entropy(logits, labels):
    """NumPy (mean CE, its gradient w.r.t. the logits) of softmax(logits) against labels."""
    logits = np.asarray(logits, np.float64)
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    n = len(labels)
    ce = -np.mean(np.log(p[np.arange(n), labels]))
    return ce, (p - np.eye(logits.shape[1])[labels]) / n


def assert_pair_term(value, metrics, grads, logits, targets, weight):
    """A generated-pair term at `weight` is weight × the NumPy cross-entropy of `logits` against
    `targets`, in value and gradient, and exactly 0 in both at weight 0."""
    ce, ce_grad = softmax_cross_entropy(logits, targets)
    assert metrics["pair_weight"] == pytest.approx(weight, rel=1e-6)
    assert metrics["loss_pairs"] == pytest.approx(ce, rel=1e-5)
    if weight == 0.0:
        assert value == 0.0 and np.all(grads == 0.0)
    else:
        assert value == pytest.approx(weight * ce, rel=1e-5)
        np.testing.assert_allclose(grads, weight * ce_grad, rtol=1e-4, atol=1e-7)


def assert_diversity_term(plain, diverse, fake, real, latent, weight):
    """`diverse`'s generator loss is `plain`'s plus weight × mode_seeking_loss of the features of
    the rows made with a condition (the last len(latent["varied"])) over `latent["varied"]`."""
    from ssgan.losses import mode_seeking_loss

    varied = as_numpy(latent["varied"])
    base, _ = plain.generator_loss(fake, real, latent)
    value, metrics = diverse.generator_loss(fake, real, latent)
    expected = float(mode_seeking_loss(as_numpy(fake["features"])[-len(varied):], varied))
    assert float(metrics["loss_diversity"]) == pytest.approx(expected, rel=1e-5)
    assert float(value) == pytest.approx(float(base) + weight * expected, rel=1e-5)


# The label of the ablation's minibatch rows (the paper's minibatch model) in reports.
PAPER_MINIBATCH_LABEL = "minibatch discrimination (the paper's model: GAN loss)"


def parse_harness(*argv):
    """The settings and plan of `benchmarks/run_all.py argv`: (args, settings, runs)."""
    from benchmarks import cli
    from benchmarks import plan

    args = cli.build_parser().parse_args(list(argv))
    settings = plan.settings_from_args(args)
    return args, settings, plan.build_plan(args, settings, plan.seeds_from(args.seeds, args.quick))
