"""Tests for ssgan.data: real MNIST, lookup order, corruption and download handling, splits, scaling."""

import gzip
import hashlib
import io
import re
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
    for directory in data._candidate_dirs("mnist"):
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
    assert data.dataset_info("cifar10") == data.DATASETS["cifar10"]  # no tensorflow-datasets needed
    with pytest.raises(ValueError, match="known datasets.*cifar10.*mnist"):
        data.load_dataset("imagenet")


@pytest.mark.parametrize(
    "name, message",
    [
        ("mnst", "Unknown dataset 'mnst' \\(did you mean 'mnist'\\?\\)"),
        ("fashion-mnist", "did you mean 'fashion_mnist'"),
        ("imagenet", "Unknown dataset 'imagenet'; known datasets are cifar10, fashion_mnist, mnist, svhn_cropped, 'tfds:NAME'"),
        ("tfds:", "'tfds:' needs a tensorflow-datasets name"),
        ("", "A dataset is a name"),
        (None, "A dataset is a name"),
    ],
)
def test_unknown_names_are_one_line_errors(name, message):
    for call in (data.dataset_info, data.load_dataset):
        with pytest.raises(data.DataError, match=message) as excinfo:
            call(name)
        assert len(str(excinfo.value).splitlines()) == 1


def test_a_file_that_is_not_npz_is_named_as_such(tmp_path):
    path = tmp_path / "images.csv"
    path.write_text("1,2\n")
    with pytest.raises(data.DataError, match="a data file must be a .npz"):
        data.dataset_info(str(path))


# --- lookup order ----------------------------------------------------------------------------


def test_data_dir_beats_env_var(isolated_env, mnist_files, monkeypatch):
    bad = uncompressed(mnist_files["t10k-labels-idx1-ubyte"])[:-1]
    env_dir = populate(isolated_env / "env", mnist_files, {"t10k-labels-idx1-ubyte": ("t10k-labels-idx1-ubyte", bad)})
    good_dir = populate(isolated_env / "arg", mnist_files)
    monkeypatch.setenv(data.ENV_VAR, str(env_dir))
    (x_train, _), _ = data.load_dataset("mnist", data_dir=good_dir)
    assert x_train.shape == (60000, 28, 28)
    # Without data_dir the corrupt env folder is skipped with a warning naming it, and the search
    # goes on (to an empty cache here: not found, naming what was skipped).
    with pytest.warns(data.DataWarning, match=f"skipping {env_dir} .*truncated"):
        with pytest.raises(data.DatasetNotFoundError, match=f"skipped .*{env_dir}"):
            data.load_dataset("mnist", download=False)


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


def idx_bytes(array):
    """`array` (uint8) as the bytes of an IDX file."""
    array = np.asarray(array, np.uint8)
    dims = b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return (2048 + array.ndim).to_bytes(4, "big") + dims + array.tobytes()


def fake_idx_set(directory, seed):
    """A small IDX data set (40 + 20 images of 28x28, labels 0..9) gzipped into `directory`;
    returns the SHA-256 of each file's content, as `data._SHA256` holds them."""
    rng = np.random.default_rng(seed)
    arrays = {"train-images-idx3-ubyte": rng.integers(0, 256, (40, 28, 28)),
              "train-labels-idx1-ubyte": rng.permutation(np.arange(40) % 10),
              "t10k-images-idx3-ubyte": rng.integers(0, 256, (20, 28, 28)),
              "t10k-labels-idx1-ubyte": rng.permutation(np.arange(20) % 10)}
    directory.mkdir(parents=True, exist_ok=True)
    sums = {}
    for stem, array in arrays.items():
        raw = idx_bytes(array)
        (directory / f"{stem}.gz").write_bytes(gzip.compress(raw))
        sums[stem] = hashlib.sha256(raw).hexdigest()
    return sums


@pytest.fixture
def fake_sets(isolated_env, monkeypatch):
    """Fake MNIST in a folder of its own, fake Fashion-MNIST in a system folder, their checksums
    in place of the real ones: (mnist folder, fashion folder)."""
    mnist_dir, fashion_dir = isolated_env / "mnist-folder", isolated_env / "usr-share-fashion"
    monkeypatch.setattr(data, "_SHA256", {"mnist": fake_idx_set(mnist_dir, 1),
                                          "fashion_mnist": fake_idx_set(fashion_dir, 2)})
    monkeypatch.setattr(data, "_SYSTEM_DIRS", {"fashion_mnist": (fashion_dir,)})
    return mnist_dir, fashion_dir


def test_a_folder_of_another_set_is_skipped_with_a_warning(fake_sets, monkeypatch):
    """$SSGAN_DATA_DIR at the MNIST folder (as the README advises) must not stop Fashion-MNIST
    from being found in the system folder: the MNIST files fail Fashion-MNIST's checksums, the
    folder is skipped with one warning line naming it, and the search goes on."""
    mnist_dir, fashion_dir = fake_sets
    monkeypatch.setenv(data.ENV_VAR, str(mnist_dir))
    with pytest.warns(data.DataWarning) as caught:
        (x_train, y_train), (x_test, _) = data.load_dataset("fashion_mnist", download=False)
    (warning,) = caught
    message = str(warning.message)
    assert len(message.splitlines()) == 1
    assert f"skipping {mnist_dir} for 'fashion_mnist'" in message and "checksum mismatch" in message
    assert re.search(r"\(it is mnist's t\w+-labels-idx1-ubyte\)", message)  # labels are checked first
    expected = data.read_idx(fashion_dir / "train-images-idx3-ubyte.gz")
    np.testing.assert_array_equal(x_train, expected)
    assert x_test.shape == (20, 28, 28) and np.bincount(y_train).tolist() == [4] * 10
    assert data.dataset_info("fashion_mnist", download=False) == data.DATASETS["fashion_mnist"]
    (x_mnist, _), _ = data.load_dataset("mnist", download=False)  # the same folder serves MNIST
    np.testing.assert_array_equal(x_mnist, data.read_idx(mnist_dir / "train-images-idx3-ubyte.gz"))


def test_a_corrupt_cache_is_skipped_and_repaired_by_the_download(fake_sets, monkeypatch):
    mnist_dir, _ = fake_sets
    cache = data._cache_dir("mnist")
    cache.mkdir(parents=True)
    for path in mnist_dir.iterdir():
        (cache / path.name).write_bytes(path.read_bytes())
    (cache / "t10k-labels-idx1-ubyte.gz").write_bytes(b"<html>404</html>")
    served = []

    def serve(url, timeout):
        served.append(url)
        return io.BytesIO((mnist_dir / url.rsplit("/", 1)[1]).read_bytes())

    monkeypatch.setattr(urllib.request, "urlopen", serve)
    with pytest.warns(data.DataWarning, match=f"skipping {cache} .*not a valid gzip file"):
        (_, _), (_, y_test) = data.load_dataset("mnist")
    assert [url.rsplit("/", 1)[1] for url in served] == ["t10k-labels-idx1-ubyte.gz"]
    assert len(y_test) == 20 and (cache / "t10k-labels-idx1-ubyte.gz").read_bytes() == (
        mnist_dir / "t10k-labels-idx1-ubyte.gz").read_bytes()


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
    assert len(message.splitlines()) == 1
    assert str(searched) in message and str(searched / "mnist") in message
    assert all(stem in message for stem in STEMS)
    assert data.ENV_VAR in message and "data_dir" in message


def test_missing_without_download(isolated_env, monkeypatch):
    empty = isolated_env / "empty"
    monkeypatch.setenv(data.ENV_VAR, str(empty))
    with pytest.raises(data.DatasetNotFoundError) as excinfo:
        data.load_dataset("mnist", download=False)
    assert isinstance(excinfo.value, FileNotFoundError)
    _assert_explains_lookup(str(excinfo.value), empty)
    assert "download=False" in str(excinfo.value)
    with pytest.raises(data.DatasetNotFoundError, match=f"not found in {empty}/mnist, {empty}, .*downloading is off"):
        data.dataset_info("mnist", download=False)
    assert data.dataset_info("mnist") == data.DATASETS["mnist"]  # it would download


def test_missing_and_offline(isolated_env, monkeypatch):
    def offline(url, timeout):
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    empty = isolated_env / "empty"
    monkeypatch.setenv(data.ENV_VAR, str(empty))
    with pytest.raises(data.DatasetNotFoundError) as excinfo:
        data.load_dataset("mnist")
    message = str(excinfo.value)
    _assert_explains_lookup(message, empty)
    assert all(mirror in message for mirror in data._MIRRORS["mnist"])
    assert "network is unreachable" in message


def _partial(directory):
    directory.mkdir()
    (directory / "train-images-idx3-ubyte.gz").write_bytes(b"")
    return directory


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda tmp: tmp / "missing", "does not exist"),
        (lambda tmp: (tmp / "file").write_text("x") and tmp / "file", "is a file, not a folder"),
        (lambda tmp: (tmp / "empty").mkdir() or tmp / "empty", "missing in .*: train-images-idx3-ubyte, "),
        (lambda tmp: _partial(tmp / "partial"), "missing in .*: train-labels-idx1-ubyte, t10k-images"),
    ],
    ids=["missing", "file", "empty", "partial"],
)
def test_explicit_data_dir_without_the_files_is_an_error(isolated_env, mnist_files, monkeypatch, make, message):
    """A wrong data_dir never falls back to $SSGAN_DATA_DIR or the cache, though both hold MNIST."""
    monkeypatch.setenv(data.ENV_VAR, str(populate(isolated_env / "env", mnist_files)))
    populate(isolated_env / "xdg-cache" / "ssgan" / "mnist", mnist_files)
    wrong = make(isolated_env)
    for call in (data.load_dataset, data.dataset_info):
        with pytest.raises(data.DatasetNotFoundError, match=message) as excinfo:
            call("mnist", data_dir=wrong)
        text = str(excinfo.value)
        assert len(text.splitlines()) == 1 and text.startswith(f"Dataset 'mnist': data_dir {wrong} ")


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


@pytest.mark.parametrize("shape", [(3, 5, 7), (3, 5, 7, 1), (3, 5, 7, 2), (3, 9, 4, 4)])
def test_scale_images_any_shape_and_float_input(shape):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, shape).astype(np.uint8)
    flat, image = data.scale_images(x), data.scale_images(x, layout="image")
    h, w, c = (*shape[1:], 1)[:3]
    assert flat.shape == (3, h * w * c) and image.shape == (3, h, w, c)
    np.testing.assert_allclose(image.reshape(3, -1), flat)
    np.testing.assert_allclose(flat, x.reshape(3, -1) / 255.0, rtol=1e-6)
    floats = x.astype(np.float64) / 255.0  # a .npz set's float images pass through as float32
    np.testing.assert_allclose(data.scale_images(floats, layout="image"), image, rtol=1e-6)
    assert data.scale_images(floats).dtype == np.float32


def test_scale_images_validates_input():
    with pytest.raises(ValueError, match="layout must be"):
        data.scale_images(np.zeros((1, 28, 28), np.uint8), layout="nchw")
    with pytest.raises(ValueError, match="uint8 .* or floats in \\[0, 1\\], got dtype float32 with values from 0.0 to 255.0"):
        data.scale_images(np.array([[[0.0, 255.0]]], np.float32))
    with pytest.raises(ValueError, match="got dtype int64"):
        data.scale_images(np.zeros((1, 28, 28), np.int64))
    with pytest.raises(ValueError, match="shape"):
        data.scale_images(np.zeros((28, 28), np.uint8))
