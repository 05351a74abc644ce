"""Tests for ssgan.data: real MNIST, lookup order, corruption and download handling, splits, scaling."""

import gzip
import io
import sys
import types
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from ssgan import data

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
STEMS = list(data._IDX_FILES)


@pytest.fixture(scope="session")
def mnist():
    """Real MNIST as found by load_dataset (normally via $SSGAN_DATA_DIR); fails with its error if absent."""
    return data.load_dataset("mnist")


@pytest.fixture(scope="session")
def mnist_files(mnist):
    """Stem -> path of the real MNIST files that load_dataset resolved."""
    for directory in data._candidate_dirs("mnist", None):
        if (files := data._find_idx_files(directory)) is not None:
            return files
    pytest.fail("load_dataset found MNIST but the lookup helpers did not")


@pytest.fixture
def isolated_env(monkeypatch, tmp_path):
    """No $SSGAN_DATA_DIR and an empty user cache, so only explicit directories are found."""
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    return tmp_path


def uncompressed(path):
    return gzip.decompress(path.read_bytes()) if path.name.endswith(".gz") else path.read_bytes()


def populate(directory, files, damaged=None):
    """Symlink the real files into `directory`, except stems in `damaged` ({stem: (filename, bytes)})."""
    damaged = damaged or {}
    directory.mkdir(parents=True, exist_ok=True)
    for stem, path in files.items():
        if stem in damaged:
            filename, payload = damaged[stem]
            (directory / filename).write_bytes(payload)
        else:
            (directory / path.name).symlink_to(path)
    return directory


# --- real data -------------------------------------------------------------------------------


def test_real_mnist(mnist):
    (x_train, y_train), (x_test, y_test) = mnist
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert y_train.shape == (60000,) and y_test.shape == (10000,)
    assert x_train.dtype == np.uint8 and y_train.dtype == np.int64
    assert set(np.unique(y_train)) == set(range(10)) == set(np.unique(y_test))
    assert x_train.mean(dtype=np.float64) == pytest.approx(33.3184, abs=1e-3)


def test_results_are_cached_and_read_only(mnist):
    (x_train, y_train), _ = data.load_dataset("mnist")
    assert x_train is mnist[0][0]
    with pytest.raises(ValueError, match="read-only"):
        y_train[0] = 3


def test_fashion_mnist_from_the_debian_package(isolated_env):
    """Found in Debian's folder without any setting when `dataset-fashion-mnist` is installed;
    otherwise a clear error that lists that folder among those searched (never a skip)."""
    if not FASHION_DIR.is_dir():
        with pytest.raises(data.DatasetNotFoundError, match=str(FASHION_DIR)):
            data.load_dataset("fashion_mnist", download=False)
        return
    (x_train, y_train), (x_test, y_test) = data.load_dataset("fashion_mnist", download=False)
    assert x_train.shape == (60000, 28, 28) and x_test.shape == (10000, 28, 28)
    assert x_train.dtype == np.uint8 and y_test.dtype == np.int64
    assert np.bincount(y_train).tolist() == [6000] * 10
    assert np.bincount(y_test).tolist() == [1000] * 10


def test_dataset_registry():
    assert data.DATASETS["mnist"] == data.DatasetInfo("mnist", 10, (28, 28, 1), "idx")
    assert data.DATASETS["fashion_mnist"].source == "idx"
    assert data.DATASETS["svhn_cropped"].image_shape == (32, 32, 3)
    assert data.DATASETS["cifar10"].source == "tfds"
    with pytest.raises(ValueError, match="known datasets.*cifar10.*mnist"):
        data.load_dataset("imagenet")


# --- lookup order ----------------------------------------------------------------------------


def test_data_dir_beats_env_var(isolated_env, mnist_files, monkeypatch):
    bad = uncompressed(mnist_files["t10k-labels-idx1-ubyte"])[:-1]
    env_dir = populate(isolated_env / "env", mnist_files, {"t10k-labels-idx1-ubyte": ("t10k-labels-idx1-ubyte", bad)})
    good_dir = populate(isolated_env / "arg", mnist_files)
    monkeypatch.setenv(data.ENV_VAR, str(env_dir))
    (x_train, _), _ = data.load_dataset("mnist", data_dir=good_dir)
    assert x_train.shape == (60000, 28, 28)
    with pytest.raises(data.CorruptDataError, match="truncated"):  # the env var is used, never skipped
        data.load_dataset("mnist")


def test_name_subfolder_is_searched_first(isolated_env, mnist_files):
    bad = b"not gzip at all"
    root = populate(isolated_env / "root", mnist_files, {"train-labels-idx1-ubyte": ("train-labels-idx1-ubyte.gz", bad)})
    populate(root / "mnist", mnist_files)
    (_, y_train), _ = data.load_dataset("mnist", data_dir=root, download=False)
    assert len(y_train) == 60000


def test_uncompressed_files_accepted(isolated_env, mnist_files, mnist):
    directory = isolated_env / "plain"
    directory.mkdir()
    for stem, path in mnist_files.items():
        (directory / stem).write_bytes(uncompressed(path))
    (x_train, y_train), (x_test, y_test) = data.load_dataset("mnist", data_dir=directory, download=False)
    np.testing.assert_array_equal(x_test, mnist[1][0])
    np.testing.assert_array_equal(y_train, mnist[0][1])


def test_read_idx(mnist_files):
    labels = data.read_idx(mnist_files["t10k-labels-idx1-ubyte"], data._SHA256["mnist"]["t10k-labels-idx1-ubyte"])
    assert labels.shape == (10000,) and labels.dtype == np.uint8 and labels.max() == 9


# --- corrupt files ---------------------------------------------------------------------------


def _flip_payload_byte(raw):
    raw = bytearray(raw)
    raw[100] ^= 0xFF
    return gzip.compress(bytes(raw))


def _set_magic(raw, magic):
    return gzip.compress(magic.to_bytes(4, "big") + raw[4:])


@pytest.mark.parametrize(
    "filename, damage, message",
    [
        ("t10k-labels-idx1-ubyte.gz", lambda raw: gzip.compress(raw)[:-100], "gzip"),
        ("t10k-labels-idx1-ubyte.gz", _flip_payload_byte, "checksum mismatch"),
        ("t10k-labels-idx1-ubyte.gz", lambda raw: _set_magic(raw, 2051), "wrong IDX magic number: expected 2049, got 2051"),
        ("t10k-labels-idx1-ubyte", lambda raw: raw[:-10], "truncated.*need 10000 data bytes, found 9990"),
        ("t10k-labels-idx1-ubyte.gz", lambda raw: b"<html>404 Not Found</html>", "not a valid gzip file"),
    ],
    ids=["truncated-gzip", "flipped-bytes", "wrong-magic", "truncated-payload", "not-gzip"],
)
def test_corrupt_file_is_reported(isolated_env, mnist_files, filename, damage, message):
    stem = "t10k-labels-idx1-ubyte"
    payload = damage(uncompressed(mnist_files[stem]))
    directory = populate(isolated_env / "damaged", mnist_files, {stem: (filename, payload)})
    with pytest.raises(data.CorruptDataError, match=message) as excinfo:
        data.load_dataset("mnist", data_dir=directory, download=False)
    assert str((directory / filename).resolve()) in str(excinfo.value)


# --- missing files and downloads -------------------------------------------------------------


def _assert_explains_lookup(message, searched):
    assert str(searched) in message and str(searched / "mnist") in message
    assert all(stem in message for stem in STEMS)
    assert data.ENV_VAR in message and "data_dir" in message


def test_missing_without_download(isolated_env):
    empty = isolated_env / "empty"
    with pytest.raises(data.DatasetNotFoundError) as excinfo:
        data.load_dataset("mnist", data_dir=empty, download=False)
    assert isinstance(excinfo.value, FileNotFoundError)
    _assert_explains_lookup(str(excinfo.value), empty)
    assert "download=False" in str(excinfo.value)


def test_missing_and_offline(isolated_env, monkeypatch):
    def offline(url, timeout):
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    empty = isolated_env / "empty"
    with pytest.raises(data.DatasetNotFoundError) as excinfo:
        data.load_dataset("mnist", data_dir=empty)
    message = str(excinfo.value)
    _assert_explains_lookup(message, empty)
    assert all(mirror in message for mirror in data._MIRRORS["mnist"])
    assert "network is unreachable" in message


def test_download_verifies_and_caches(isolated_env, mnist_files, mnist, monkeypatch):
    first, second = data._MIRRORS["mnist"]
    requested = []

    def serve(url, timeout):
        requested.append(url)
        if url.startswith(first):
            return io.BytesIO(b"corrupt mirror content")  # must be rejected, then the next mirror tried
        path = mnist_files[url.removeprefix(second).removesuffix(".gz")]
        gz = path.read_bytes() if path.name.endswith(".gz") else gzip.compress(path.read_bytes(), compresslevel=1)
        return io.BytesIO(gz)

    monkeypatch.setattr(urllib.request, "urlopen", serve)
    (x_train, y_train), (x_test, y_test) = data.load_dataset("mnist")
    cache = isolated_env / "xdg-cache" / "ssgan" / "mnist"
    assert sorted(p.name for p in cache.iterdir()) == sorted(f"{stem}.gz" for stem in STEMS)
    assert len(requested) == 8
    np.testing.assert_array_equal(x_train, mnist[0][0])
    np.testing.assert_array_equal(y_test, mnist[1][1])

    monkeypatch.setattr(urllib.request, "urlopen", pytest.fail)  # the verified cache is now used
    assert data.load_dataset("mnist")[0][1] is y_train


# --- TensorFlow Datasets sets ----------------------------------------------------------------


def test_tfds_arrays_are_converted(monkeypatch, tmp_path):
    calls = []

    def load(name, **kwargs):
        calls.append((name, kwargs))
        x = np.zeros((4, 32, 32, 3), np.uint8)
        return [(x, np.arange(4, dtype=np.int32)), (x[:2], np.arange(2, dtype=np.int32))]

    monkeypatch.setitem(sys.modules, "tensorflow_datasets", types.SimpleNamespace(load=load, as_numpy=lambda t: t))
    (x_train, y_train), (x_test, y_test) = data.load_dataset("cifar10", data_dir=tmp_path)
    assert x_train.shape == (4, 32, 32, 3) and x_test.shape == (2, 32, 32, 3)
    assert y_train.dtype == np.int64 and not y_train.flags.writeable
    assert calls[0][0] == "cifar10"
    assert calls[0][1] | {"download": True} == dict(
        split=["train", "test"], batch_size=-1, as_supervised=True, data_dir=str(tmp_path), download=True
    )


def test_tfds_failures_are_wrapped(monkeypatch, tmp_path):
    def load(name, **kwargs):
        raise RuntimeError("Failed to resolve storage.googleapis.com")

    monkeypatch.setitem(sys.modules, "tensorflow_datasets", types.SimpleNamespace(load=load, as_numpy=lambda t: t))
    with pytest.raises(data.DatasetNotFoundError, match="svhn_cropped.*Failed to resolve"):
        data.load_dataset("svhn_cropped", data_dir=tmp_path)
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)
    with pytest.raises(data.DatasetNotFoundError, match="not installed"):
        data.load_dataset("svhn_cropped", data_dir=tmp_path)


# --- semi-supervised split -------------------------------------------------------------------


@pytest.fixture
def labels():
    return np.random.default_rng(42).permutation(np.repeat(np.arange(10), 50))


def test_split_is_class_balanced(labels):
    split = data.semi_supervised_split(labels, 100, seed=3)
    assert split.labeled.dtype == np.int64 and np.all(np.diff(split.labeled) > 0)
    assert np.bincount(labels[split.labeled]).tolist() == [10] * 10
    np.testing.assert_array_equal(split.unlabeled, np.arange(len(labels)))


def test_split_on_mnist(mnist):
    y_train = mnist[0][1]
    split = data.semi_supervised_split(y_train, 100)
    assert np.bincount(y_train[split.labeled]).tolist() == [10] * 10
    assert split.labeled.min() >= 0 and split.labeled.max() < len(y_train)


def test_split_is_reproducible(labels):
    a = data.semi_supervised_split(labels, 50, seed=7)
    b = data.semi_supervised_split(labels, 50, seed=7)
    c = data.semi_supervised_split(labels, 50, seed=8)
    np.testing.assert_array_equal(a.labeled, b.labeled)
    assert not np.array_equal(a.labeled, c.labeled)


def test_split_rest_is_complement(labels):
    split = data.semi_supervised_split(labels, 20, unlabeled="rest", n_classes=10)
    assert np.intersect1d(split.labeled, split.unlabeled).size == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([split.labeled, split.unlabeled])), np.arange(len(labels)))
    assert np.all(np.diff(split.unlabeled) > 0)


@pytest.mark.parametrize(
    "y, n_labeled, kwargs, message",
    [
        (np.repeat(np.arange(10), 5), 5, {}, "at least the number of classes \\(10\\)"),
        (np.repeat(np.arange(10), 5), 15, {}, "divisible by the number of classes \\(10\\)"),
        (np.r_[np.repeat([0, 1, 2], 5), [3, 3]], 12, {}, "class 3 has only 2 examples"),
        (np.repeat(np.arange(3), 5), 12, {"n_classes": 4}, "class 3 has only 0 examples"),
        (np.repeat(np.arange(10), 5), 10, {"unlabeled": "some"}, "unlabeled must be 'all' or 'rest'"),
        (np.zeros((4, 2), int), 2, {}, "1-D"),
        (np.array([], int), 2, {}, "non-empty"),
    ],
    ids=["too-few", "not-divisible", "class-too-small", "absent-class", "bad-mode", "2d", "empty"],
)
def test_split_errors(y, n_labeled, kwargs, message):
    with pytest.raises(ValueError, match=message):
        data.semi_supervised_split(y, n_labeled, **kwargs)


# --- scaling ---------------------------------------------------------------------------------


def test_scale_images():
    x = np.zeros((5, 28, 28), np.uint8)
    x[0, 0, 0] = 255
    flat = data.scale_images(x)
    assert flat.shape == (5, 784) and flat.dtype == np.float32
    assert flat.min() == 0.0 and flat.max() == 1.0
    assert data.scale_images(x, layout="image").shape == (5, 28, 28, 1)
    rgb = np.full((2, 32, 32, 3), 128, np.uint8)
    assert data.scale_images(rgb).shape == (2, 3072)
    assert data.scale_images(rgb, layout="image").shape == (2, 32, 32, 3)


def test_scale_images_validates_input():
    with pytest.raises(ValueError, match="layout must be"):
        data.scale_images(np.zeros((1, 28, 28), np.uint8), layout="nchw")
    with pytest.raises(ValueError, match="uint8"):
        data.scale_images(np.zeros((1, 28, 28), np.float32))
    with pytest.raises(ValueError, match="shape"):
        data.scale_images(np.zeros((28, 28), np.uint8))
