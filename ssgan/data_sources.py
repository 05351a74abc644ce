"""The data sets that are not IDX files: `.npz` files of arrays and tensorflow-datasets sets.

`ssgan.data.load_dataset` and `dataset_info` call these; a .npz file's description reads only
its .npy headers and labels, and tensorflow-datasets is imported only when a `tfds:` set is used.
"""

import difflib
import functools
import os
import zipfile
from pathlib import Path

import numpy as np

from ssgan.data import ENV_VAR
from ssgan.data import CorruptDataError
from ssgan.data import DataError
from ssgan.data import DatasetInfo
from ssgan.data import DatasetNotFoundError
from ssgan.data import _read_only

# --- .npz files ----------------------------------------------------------------------------

_NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


def _npz_headers(path):
    """{array name: (shape, dtype)} of a .npz file, read from the .npy headers only."""
    if not path.is_file():
        raise DatasetNotFoundError(f"Dataset file {path} does not exist.")
    try:
        with zipfile.ZipFile(path) as archive:
            headers = {}
            for member in archive.namelist():
                with archive.open(member) as f:
                    major, _ = np.lib.format.read_magic(f)
                    read = (np.lib.format.read_array_header_1_0 if major == 1
                            else np.lib.format.read_array_header_2_0)
                    shape, _, dtype = read(f)
                headers[member.removesuffix(".npy")] = (shape, dtype)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise CorruptDataError(f"{path}: not a readable .npz file ({type(exc).__name__}: {exc}).") from exc
    missing = [key for key in _NPZ_KEYS if key not in headers]
    if missing:
        raise DataError(f"{path}: missing {', '.join(missing)} (a dataset .npz holds "
                        f"{', '.join(_NPZ_KEYS)}; found {', '.join(sorted(headers)) or 'nothing'}).")
    return headers


def _check_npz_shapes(path, headers):
    """The image shape (H, W, C) of a .npz dataset's arrays; DataError for wrong dims or kinds."""
    shapes = {}
    for split in ("train", "test"):
        (x_shape, x_dtype), (y_shape, y_dtype) = headers[f"x_{split}"], headers[f"y_{split}"]
        if len(x_shape) not in (3, 4) or 0 in x_shape:
            raise DataError(f"{path}: x_{split} has shape {x_shape}; images must be (N, H, W) or (N, H, W, C).")
        if not (x_dtype == np.uint8 or x_dtype.kind == "f"):
            raise DataError(f"{path}: x_{split} has dtype {x_dtype}; images must be uint8 or float.")
        if len(y_shape) != 1 or y_dtype.kind not in "iu":
            raise DataError(f"{path}: y_{split} has shape {y_shape} and dtype {y_dtype}; labels "
                            "must be a 1-D integer array.")
        if y_shape[0] != x_shape[0]:
            raise DataError(f"{path}: x_{split} holds {x_shape[0]} images but y_{split} {y_shape[0]} labels.")
        shapes[split] = tuple(x_shape[1:]) + (() if len(x_shape) == 4 else (1,))
    if shapes["train"] != shapes["test"]:
        raise DataError(f"{path}: x_train's images are {shapes['train']} but x_test's {shapes['test']}.")
    return shapes["train"]


def _n_classes(path, y_train, y_test):
    """K, when the training labels are exactly 0..K-1 (each present) and the test labels within."""
    classes = np.unique(y_train)
    if classes[0] < 0 or len(classes) != classes[-1] + 1 or len(classes) < 2:
        raise DataError(f"{path}: y_train's labels must be the integers 0..K-1 (K >= 2), each "
                        f"present; found {len(classes)} distinct values from {classes[0]} to {classes[-1]}.")
    k = len(classes)
    if y_test.size and (y_test.min() < 0 or y_test.max() >= k):
        raise DataError(f"{path}: y_test has labels outside 0..{k - 1} ({y_test.min()} to {y_test.max()}).")
    return k


def npz_info(path):
    """The DatasetInfo of a .npz dataset from its headers and labels (a DataError if malformed)."""
    headers = _npz_headers(path)
    image_shape = _check_npz_shapes(path, headers)
    with np.load(path, allow_pickle=False) as arrays:
        k = _n_classes(path, arrays["y_train"], arrays["y_test"])
    return DatasetInfo(str(path), k, image_shape, "npz")


@functools.lru_cache(maxsize=2)
def load_npz(path, mtime_ns, size):
    """The arrays of a checked .npz dataset (cached per file version: path, mtime, size)."""
    path = Path(path)
    _check_npz_shapes(path, _npz_headers(path))
    with np.load(path, allow_pickle=False) as arrays:
        x_train, y_train, x_test, y_test = (arrays[key] for key in _NPZ_KEYS)
    _n_classes(path, y_train, y_test)
    splits = []
    for split, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        if x.dtype != np.uint8:
            if not (np.isfinite(x).all() and x.min() >= 0 and x.max() <= 1):
                raise DataError(f"{path}: x_{split}'s float images must lie in [0, 1] (found "
                                f"{np.nanmin(x):g} to {np.nanmax(x):g}); store uint8 pixels or divide by 255.")
            x = x.astype(np.float32)
        splits.append((_read_only(x), _read_only(y.astype(np.int64))))
    return tuple(splits)


# --- TensorFlow Datasets ------------------------------------------------------------------


def tfds_dir(name, data_dir):
    """tensorflow-datasets' data_dir: `data_dir`, else $SSGAN_DATA_DIR when it holds `name`
    (`D/<name>/`), else None (tfds' default, ~/tensorflow_datasets or $TFDS_DATA_DIR)."""
    if data_dir is not None:
        return str(Path(data_dir).expanduser())
    root = os.environ.get(ENV_VAR)
    return root if root and (Path(root).expanduser() / name).is_dir() else None


def _import_tfds(name):
    try:
        import tensorflow_datasets as tfds
    except ImportError as exc:
        raise DatasetNotFoundError(
            f"Dataset {name!r} is loaded through tensorflow-datasets, which is not installed ({exc}). "
            "Install it with `pip install tensorflow-datasets`."
        ) from exc
    return tfds


def _tfds_builder(tfds, name, data_dir):
    try:
        return tfds.builder(name, data_dir=data_dir)
    except Exception as exc:  # tfds' DatasetNotFoundError lists every data set on many lines
        if type(exc).__name__ != "DatasetNotFoundError":
            raise DataError(f"tfds:{name}: {type(exc).__name__}: {str(exc).splitlines()[0]}") from exc
        try:
            close = difflib.get_close_matches(name, tfds.list_builders(), n=1)
        except Exception:  # the suggestion is optional
            close = []
        hint = f" (did you mean tfds:{close[0]}?)" if close else ""
        raise DataError(f"Unknown tensorflow-datasets data set {name!r}{hint}.") from exc


@functools.lru_cache(maxsize=8)
def tfds_info(name, data_dir, download):
    """The DatasetInfo of `tfds:name` from its builder's info, and its (train, test) splits."""
    tfds = _import_tfds(f"tfds:{name}")
    builder = _tfds_builder(tfds, name, data_dir)
    info = builder.info
    keys = tuple(info.supervised_keys or ())
    if len(keys) < 2 or not all(isinstance(k, str) for k in keys[:2]):
        raise DataError(f"tfds:{name} is not an image classification set: its supervised keys are "
                        f"{info.supervised_keys!r}, not (image, label).")
    image, label = info.features[keys[0]], info.features[keys[1]]
    shape = tuple(getattr(image, "shape", None) or ())
    n_classes = getattr(label, "num_classes", None)
    if len(shape) != 3 or not all(isinstance(s, int) and s > 0 for s in shape) or not n_classes:
        raise DataError(f"tfds:{name} is not an image classification set of fixed size: "
                        f"{keys[0]!r} has shape {shape}, {keys[1]!r} {n_classes} classes.")
    splits = list(info.splits.keys()) if info.splits else []
    test = next((s for s in ("test", "validation") if s in splits), "test" if not splits else None)
    if "train" not in (splits or ["train"]) or test is None:
        raise DataError(f"tfds:{name} has no train and test (or validation) splits: {splits}.")
    if not download and hasattr(builder, "is_prepared") and not builder.is_prepared():
        raise DatasetNotFoundError(f"tfds:{name} is not prepared in {data_dir or 'the default tfds folder'} "
                                   "and downloading is off.")
    return DatasetInfo(f"tfds:{name}", int(n_classes), shape, "tfds"), ("train", test)


@functools.lru_cache(maxsize=2)
def load_tfds(name, data_dir, download, splits=("train", "test"), image_shape=None):
    tfds = _import_tfds(name)
    try:
        loaded = tfds.as_numpy(
            tfds.load(name, split=list(splits), batch_size=-1, as_supervised=True,
                      data_dir=data_dir, download=download)
        )
    except Exception as exc:  # tfds raises many unrelated types (network, filesystem, TF, assertion).
        where = data_dir or "the tensorflow-datasets default directory (~/tensorflow_datasets)"
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise DatasetNotFoundError(
            f"Could not load dataset {name!r} with tensorflow-datasets from {where} "
            f"(download={download}): {type(exc).__name__}: {first}. Prepare it once with internet access, "
            f"then pass data_dir=... or set {ENV_VAR} to that directory."
        ) from exc
    result = []
    for x, y in loaded:
        x = np.asarray(x)
        if x.dtype != np.uint8 or (image_shape is not None and x.shape[1:] != tuple(image_shape)):
            raise DataError(f"{name}: tensorflow-datasets gave images of dtype {x.dtype} and shape "
                            f"{x.shape[1:]}; uint8 images of shape {image_shape} were expected.")
        result.append((_read_only(x), _read_only(np.asarray(y, dtype=np.int64))))
    return tuple(result)
