"""Tests for ssgan.data_sources through `ssgan.data`: `.npz` files of arrays and `tfds:NAME` sets
(a fake tensorflow_datasets module stands in for the real one: everything runs offline)."""

import sys
import types

import numpy as np
import pytest

from ssgan import data

# --- .npz files ----------------------------------------------------------------------------


def arrays(n_train=30, n_test=12, shape=(6, 5), k=3, dtype=np.uint8, seed=0):
    """The four arrays of a small .npz data set: images of `shape`, labels 0..k-1 each present."""
    rng = np.random.default_rng(seed)
    if np.dtype(dtype) == np.uint8:
        images = lambda n: rng.integers(0, 256, (n, *shape)).astype(np.uint8)  # noqa: E731
    else:
        images = lambda n: rng.random((n, *shape)).astype(dtype)  # noqa: E731
    return {"x_train": images(n_train), "y_train": np.arange(n_train) % k,
            "x_test": images(n_test), "y_test": rng.integers(0, k, n_test)}


def save(path, compressed=False, **arrays_):
    (np.savez_compressed if compressed else np.savez)(path, **arrays_)
    return path


def test_npz_uint8_grayscale(tmp_path):
    source = arrays()
    path = save(tmp_path / "digits.npz", **source)
    info = data.dataset_info(str(path))
    assert info == data.DatasetInfo(str(path.resolve()), 3, (6, 5, 1), "npz")
    assert data.dataset_info(info.name) == info  # the name round-trips
    (x_train, y_train), (x_test, y_test) = data.load_dataset(path)
    np.testing.assert_array_equal(x_train, source["x_train"])
    np.testing.assert_array_equal(y_test, source["y_test"])
    assert x_train.dtype == np.uint8 and y_train.dtype == np.int64
    assert not x_train.flags.writeable and not y_test.flags.writeable
    assert data.load_dataset(str(path))[0][0] is x_train  # cached per file version
    assert data.scale_images(x_test, layout="image").shape == (12, 6, 5, 1)


def test_npz_float_color_compressed(tmp_path):
    source = arrays(shape=(4, 4, 3), k=4, dtype=np.float64, seed=1)
    path = save(tmp_path / "colour.npz", compressed=True, **source)
    assert data.dataset_info(path) == data.DatasetInfo(str(path), 4, (4, 4, 3), "npz")
    (x_train, _), (x_test, _) = data.load_dataset(path)
    assert x_train.dtype == np.float32 and x_test.shape == (12, 4, 4, 3)
    np.testing.assert_allclose(x_train, source["x_train"], rtol=1e-6)
    assert data.scale_images(x_train).shape == (30, 48)


def test_npz_changed_on_disk_is_read_again(tmp_path):
    path = save(tmp_path / "d.npz", **arrays(k=3))
    assert data.load_dataset(path)[0][1].max() == 2
    save(path, **arrays(n_train=40, k=4))
    assert data.load_dataset(path)[0][1].max() == 3


def _without(key):
    return lambda a: {k: v for k, v in a.items() if k != key}


@pytest.mark.parametrize(
    "change, message",
    [
        (_without("y_test"), "missing y_test \\(a dataset .npz holds x_train, y_train, x_test, y_test; found x_test, x_train, y_train\\)"),
        (lambda a: {**a, "y_train": a["y_train"][:-1]}, "x_train holds 30 images but y_train 29 labels"),
        (lambda a: {**a, "y_train": a["y_train"] + 1}, "y_train's labels must be the integers 0..K-1"),
        (lambda a: {**a, "y_train": np.where(a["y_train"] == 1, 2, a["y_train"])}, "found 2 distinct values from 0 to 2"),
        (lambda a: {**a, "y_train": a["y_train"] - 1}, "from -1 to 1"),
        (lambda a: {**a, "y_test": a["y_test"] + 3}, "y_test has labels outside 0..2"),
        (lambda a: {**a, "y_test": a["y_test"].astype(np.float32)}, "y_test has shape \\(12,\\) and dtype float32"),
        (lambda a: {**a, "x_train": a["x_train"][:, 0]}, "x_train has shape \\(30, 5\\); images must be"),
        (lambda a: {**a, "x_test": a["x_test"][:, :, :4]}, "x_train's images are \\(6, 5, 1\\) but x_test's \\(6, 4, 1\\)"),
        (lambda a: {**a, "x_train": a["x_train"].astype(np.int32)}, "x_train has dtype int32; images must be uint8 or float"),
    ],
    ids=["missing-key", "lengths", "labels-from-1", "class-absent", "negative", "test-labels",
         "float-labels", "2d-images", "test-shape", "int-images"],
)
def test_malformed_npz_is_a_one_line_error(tmp_path, change, message):
    path = save(tmp_path / "bad.npz", **change(arrays()))
    for call in (data.dataset_info, data.load_dataset):
        with pytest.raises(data.DataError, match=message) as excinfo:
            call(path)
        text = str(excinfo.value)
        assert len(text.splitlines()) == 1 and text.startswith(str(path))


def test_float_images_must_lie_in_0_1(tmp_path):
    source = arrays(dtype=np.float32)
    path = save(tmp_path / "f.npz", **{**source, "x_test": source["x_test"] * 255})
    assert data.dataset_info(path).n_classes == 3  # the images' values are read on loading only
    with pytest.raises(data.DataError, match="x_test's float images must lie in \\[0, 1\\] .*divide by 255"):
        data.load_dataset(path)


def test_missing_or_unreadable_npz(tmp_path):
    for call in (data.dataset_info, data.load_dataset):
        with pytest.raises(data.DatasetNotFoundError, match="absent.npz does not exist"):
            call(tmp_path / "absent.npz")
    (tmp_path / "text.npz").write_text("not a zip file")
    with pytest.raises(data.CorruptDataError, match="text.npz: not a readable .npz file"):
        data.dataset_info(tmp_path / "text.npz")


# --- tensorflow-datasets -------------------------------------------------------------------


class FakeNotFound(Exception):
    pass


FakeNotFound.__name__ = "DatasetNotFoundError"  # how tfds names its error


def fake_tfds(monkeypatch, *, supervised_keys=("image", "label"), shape=(12, 10, 1), n_classes=7,
              splits=("train", "validation"), prepared=True):
    """A stand-in `tensorflow_datasets` with one set, `fake_digits`; returns its calls."""
    calls = []

    def builder(name, data_dir=None):
        calls.append(("builder", name, data_dir))
        if name != "fake_digits":
            raise FakeNotFound(f"Dataset {name} not found.\nAvailable datasets:\n\t- fake_digits")
        features = {"image": types.SimpleNamespace(shape=shape),
                    "label": types.SimpleNamespace(num_classes=n_classes)}
        info = types.SimpleNamespace(supervised_keys=supervised_keys, features=features,
                                     splits={s: None for s in splits})
        return types.SimpleNamespace(info=info, is_prepared=lambda: prepared)

    def load(name, **kwargs):
        calls.append(("load", name, kwargs))
        rng = np.random.default_rng(0)
        return [(rng.integers(0, 256, (n, *shape)).astype(np.uint8), np.arange(n) % n_classes)
                for n in (14, 7)]

    module = types.SimpleNamespace(builder=builder, load=load, as_numpy=lambda t: t,
                                   list_builders=lambda: ["fake_digits", "mnist"])
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", module)
    return calls


def test_tfds_info_and_loading(monkeypatch, tmp_path):
    calls = fake_tfds(monkeypatch)
    info = data.dataset_info("tfds:fake_digits", data_dir=tmp_path)
    assert info == data.DatasetInfo("tfds:fake_digits", 7, (12, 10, 1), "tfds")
    assert calls == [("builder", "fake_digits", str(tmp_path))]
    (x_train, y_train), (x_test, y_test) = data.load_dataset("tfds:fake_digits", data_dir=tmp_path, download=False)
    assert x_train.shape == (14, 12, 10, 1) and x_test.shape == (7, 12, 10, 1)
    assert y_train.dtype == np.int64 and not x_train.flags.writeable
    assert calls[-1] == ("load", "fake_digits", dict(split=["train", "validation"], batch_size=-1,
                                                      as_supervised=True, data_dir=str(tmp_path), download=False))


@pytest.mark.parametrize(
    "options, name, error, message",
    [
        ({}, "tfds:fake_digit", data.DataError, "Unknown tensorflow-datasets data set 'fake_digit' \\(did you mean tfds:fake_digits\\?\\)"),
        ({"supervised_keys": None}, "tfds:fake_digits", data.DataError, "not an image classification set: its supervised keys are None"),
        ({"shape": (None, None, 3)}, "tfds:fake_digits", data.DataError, "of fixed size: 'image' has shape \\(None, None, 3\\)"),
        ({"n_classes": None}, "tfds:fake_digits", data.DataError, "'label' None classes"),
        ({"splits": ("train",)}, "tfds:fake_digits", data.DataError, "no train and test \\(or validation\\) splits"),
        ({"prepared": False}, "tfds:fake_digits", data.DatasetNotFoundError, "not prepared in .* and downloading is off"),
    ],
    ids=["unknown", "unsupervised", "variable-size", "no-classes", "no-test-split", "not-prepared"],
)
def test_tfds_errors_are_one_line(monkeypatch, tmp_path, options, name, error, message):
    fake_tfds(monkeypatch, **options)
    with pytest.raises(error, match=message) as excinfo:
        data.dataset_info(name, data_dir=tmp_path, download=False)
    assert len(str(excinfo.value).splitlines()) == 1


def test_tfds_data_dir_falls_back_to_the_env_var_only_when_it_holds_the_set(monkeypatch, tmp_path):
    calls = fake_tfds(monkeypatch)
    monkeypatch.setenv(data.ENV_VAR, str(tmp_path))
    data.dataset_info("tfds:fake_digits")
    (tmp_path / "fake_digits").mkdir()
    data.dataset_info("tfds:fake_digits")
    assert [c[2] for c in calls] == [None, str(tmp_path)]


def test_tfds_not_installed(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)
    with pytest.raises(data.DatasetNotFoundError, match="tfds:fake_digits.*not installed"):
        data.dataset_info("tfds:fake_digits", data_dir=tmp_path / "x")
