"""Datasets for semi-supervised GAN training: verified loading, labeled/unlabeled splits, scaling.

A dataset is named (`DATASETS`: MNIST and Fashion-MNIST from verified IDX files, downloaded into
the user cache when absent; SVHN and CIFAR-10 from TensorFlow Datasets), `"tfds:NAME"` (any image
classification set of tensorflow-datasets) or the path of a `.npz` file with `x_train`, `y_train`,
`x_test` and `y_test`. `dataset_info` checks a name and describes the set without loading it or
importing TensorFlow (except for `tfds:`). Only NumPy and the standard library are imported at
module import time.
"""

from __future__ import annotations

import difflib
import functools
import gzip
import hashlib
import http.client
import math
import os
import urllib.request
import warnings
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ssgan.util import atomic_path
from ssgan.util import cache_dir

__all__ = [
    "DATASETS",
    "CorruptDataError",
    "DataError",
    "DataWarning",
    "DatasetInfo",
    "DatasetNotFoundError",
    "SemiSupervisedSplit",
    "dataset_info",
    "load_dataset",
    "read_idx",
    "scale_images",
    "semi_supervised_split",
]

ENV_VAR = "SSGAN_DATA_DIR"
DOWNLOAD_TIMEOUT_S = 60


class DataError(ValueError):
    """Base class for missing or invalid dataset files."""


class DatasetNotFoundError(DataError, FileNotFoundError):
    """The dataset's files are not on disk and could not be downloaded."""


class CorruptDataError(DataError):
    """A dataset file is unreadable, truncated, malformed or fails its checksum."""


class DataWarning(UserWarning):
    """A folder searched for a data set was skipped: its files failed their checks."""


@dataclass(frozen=True)
class DatasetInfo:
    """What the models need to know about a dataset. `name` is what `load_dataset` takes (a
    .npz file's absolute path); `source` is "idx", "tfds" or "npz"."""

    name: str
    n_classes: int
    image_shape: tuple[int, int, int]
    source: str


DATASETS = {
    "mnist": DatasetInfo("mnist", 10, (28, 28, 1), "idx"),
    "fashion_mnist": DatasetInfo("fashion_mnist", 10, (28, 28, 1), "idx"),
    "svhn_cropped": DatasetInfo("svhn_cropped", 10, (32, 32, 3), "tfds"),
    "cifar10": DatasetInfo("cifar10", 10, (32, 32, 3), "tfds"),
}

# File stem -> IDX magic number (2051: unsigned-byte 3-D images, 2049: unsigned-byte 1-D labels).
_IDX_FILES = {
    "train-images-idx3-ubyte": 2051,
    "train-labels-idx1-ubyte": 2049,
    "t10k-images-idx3-ubyte": 2051,
    "t10k-labels-idx1-ubyte": 2049,
}

# SHA-256 of the uncompressed files: mirrors recompress, so compressed bytes differ.
_SHA256 = {
    "mnist": {
        "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
    "fashion_mnist": {
        "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
}

_MIRRORS = {
    "mnist": (
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
    ),
    "fashion_mnist": (
        "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    ),
}

_SYSTEM_DIRS = {"fashion_mnist": (Path("/usr/share/datasets/fashion-mnist"),)}


def read_idx(path, expected_sha256=None, *, magic=None):
    """Read an IDX file (gzip-compressed when named *.gz) into a read-only uint8 array.

    Raises CorruptDataError for a bad gzip stream, a wrong magic number (any unsigned-byte IDX
    file is accepted when `magic` is None), a size that disagrees with the header, or a
    SHA-256 of the uncompressed bytes that differs from `expected_sha256`.
    """
    path = Path(path).absolute()
    return _decode_idx(path.read_bytes(), str(path), path.name.endswith(".gz"), expected_sha256, magic)


def _decode_idx(raw, where, compressed, expected_sha256, magic):
    if compressed:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise CorruptDataError(f"{where}: not a valid gzip file or truncated/corrupt gzip stream ({exc}).") from exc
    if len(raw) < 4:
        raise CorruptDataError(f"{where}: file too short ({len(raw)} bytes) to hold an IDX header.")
    found = int.from_bytes(raw[:4], "big")
    ndim = raw[3]
    if raw[:3] != b"\x00\x00\x08" or ndim == 0 or (magic is not None and found != magic):
        wanted = magic if magic is not None else "an unsigned-byte IDX magic number (2048 + ndim)"
        raise CorruptDataError(f"{where}: wrong IDX magic number: expected {wanted}, got {found}.")
    header_len = 4 + 4 * ndim
    if len(raw) < header_len:
        raise CorruptDataError(f"{where}: truncated IDX header: {ndim} dimensions need {header_len} bytes, file has {len(raw)}.")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    expected = math.prod(shape)
    actual = len(raw) - header_len
    if actual != expected:
        problem = "truncated" if actual < expected else "has trailing bytes"
        raise CorruptDataError(
            f"{where}: file {problem}: header dimensions {shape} need {expected} data bytes, found {actual}."
        )
    if expected_sha256 is not None:
        digest = hashlib.sha256(raw).hexdigest()
        if digest != expected_sha256:
            other = next((f" (it is {name}'s {stem})" for name, sums in _SHA256.items()
                          for stem, known in sums.items() if known == digest), "")
            raise CorruptDataError(
                f"{where}: checksum mismatch{other}: expected SHA-256 {expected_sha256} of the "
                f"uncompressed data, got {digest}."
            )
    return np.frombuffer(raw, dtype=np.uint8, offset=header_len).reshape(shape)


def load_dataset(name="mnist", data_dir=None, download=True):
    """Return `(x_train, y_train), (x_test, y_test)` like `keras.datasets`: images, int64 labels.

    `name`: a key of `DATASETS`, `"tfds:NAME"` or the path of a `.npz` file (see `dataset_info`).
    Images are uint8 of shape (N, H, W) (IDX sets, grayscale .npz) or (N, H, W, C); a .npz
    file's float images come as float32 in [0, 1]. The arrays are cached in-process and returned
    READ-ONLY; call `.copy()` before modifying them in place. IDX files are read from `data_dir`
    alone when it is given (as `D/<name>/` or `D`: a folder without valid files is an error);
    otherwise from the first of $SSGAN_DATA_DIR (the same way), the user cache
    `$XDG_CACHE_HOME/ssgan/<name>` and system copies that holds valid files (a folder whose
    files fail their checks is skipped with a `DataWarning`), else downloaded into the cache
    when `download` is true.
    """
    from ssgan import data_sources as sources

    kind, key = _parse_name(name)
    if kind == "npz":
        path = Path(key).resolve()
        if not path.is_file():
            raise DatasetNotFoundError(f"Dataset file {path} does not exist.")
        stat = path.stat()
        return sources.load_npz(str(path), stat.st_mtime_ns, stat.st_size)
    if kind == "tfds":
        tfds_dir = sources.tfds_dir(key, data_dir)
        info, splits = sources.tfds_info(key, tfds_dir, bool(download))
        return sources.load_tfds(key, tfds_dir, bool(download), splits, info.image_shape)
    if DATASETS[key].source == "tfds":
        return sources.load_tfds(key, sources.tfds_dir(key, data_dir), bool(download))
    if data_dir is not None:
        return _load_idx(key, _explicit_idx_dir(key, data_dir))
    return _search_idx(key, bool(download))


def dataset_info(name="mnist", data_dir=None, download=True):
    """The `DatasetInfo` of `name` without loading the data (no TensorFlow import but for
    `tfds:`): a one-line `DataError` for an unknown name (with a "did you mean"), an explicit
    `data_dir` without the files, IDX files that are nowhere with `download` off, or a `.npz`
    file that is missing or malformed (only its headers and labels are read)."""
    from ssgan import data_sources as sources

    kind, key = _parse_name(name)
    if kind == "npz":
        return sources.npz_info(Path(key).resolve())
    if kind == "tfds":
        return sources.tfds_info(key, sources.tfds_dir(key, data_dir), bool(download))[0]
    info = DATASETS[key]
    if info.source == "idx" and data_dir is not None:
        _explicit_idx_dir(key, data_dir)
    elif info.source == "idx" and not download:
        searched = _candidate_dirs(key)
        if not any(_find_idx_files(d) is not None for d in searched):
            raise DatasetNotFoundError(
                f"Dataset {key!r} not found in {', '.join(map(str, searched))} and downloading is "
                f"off: set {ENV_VAR} (or pass a data folder) to the folder holding its four files.")
    return info


def _parse_name(name):
    """("npz", path), ("tfds", tfds name) or ("named", key of DATASETS); DataError otherwise."""
    text = os.fspath(name) if isinstance(name, (str, os.PathLike)) else None
    if not text:
        raise DataError(f"A dataset is a name, 'tfds:NAME' or a .npz path, got {name!r}.")
    if text.lower().endswith(".npz"):
        return "npz", str(Path(text).expanduser())
    if text.startswith("tfds:"):
        if not text[5:]:
            raise DataError("'tfds:' needs a tensorflow-datasets name, e.g. tfds:cifar10.")
        return "tfds", text[5:]
    if text in DATASETS:
        return "named", text
    close = difflib.get_close_matches(text, DATASETS, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    extra = " (a data file must be a .npz)" if Path(text).expanduser().is_file() else ""
    raise DataError(f"Unknown dataset {text!r}{hint}{extra}; known datasets are "
                    f"{', '.join(sorted(DATASETS))}, 'tfds:NAME' (a tensorflow-datasets image "
                    "classification set) or the path of a .npz file.")


# --- IDX files: lookup, verification, download ---------------------------------------------


def _candidate_dirs(name):
    """The folders searched when no data_dir is given, in order."""
    root = os.environ.get(ENV_VAR)
    dirs = [Path(root).expanduser() / name, Path(root).expanduser()] if root else []
    return list(dict.fromkeys([*dirs, _cache_dir(name), *_SYSTEM_DIRS.get(name, ())]))


def _cache_dir(name):
    """The user cache of data set `name`, where downloads go."""
    return cache_dir(name)


def _explicit_idx_dir(name, data_dir):
    """The folder of an explicit `data_dir` (`D/<name>` or `D`) that holds the four files."""
    root = Path(data_dir).expanduser()
    where = f"Dataset {name!r}: data_dir {root}"
    if not root.exists():
        raise DatasetNotFoundError(f"{where} does not exist.")
    if not root.is_dir():
        raise DatasetNotFoundError(f"{where} is a file, not a folder.")
    for directory in (root / name, root):
        if _find_idx_files(directory) is not None:
            return directory.resolve()
    missing = [s for s in _IDX_FILES if not any((root / f).is_file() for f in (s, f"{s}.gz"))]
    raise DatasetNotFoundError(
        f"{where} holds neither in {root / name} nor in itself all four files "
        f"({', '.join(f'{s}[.gz]' for s in _IDX_FILES)}; missing in {root}: {', '.join(missing)}); "
        f"without data_dir, {ENV_VAR} and the cache are searched.")


def _search_idx(name, download):
    """Load from the first candidate folder with valid files (warning about the others), else
    download into the cache."""
    candidates, skipped = _candidate_dirs(name), []
    for directory in candidates:
        if _find_idx_files(directory) is None:
            continue
        try:
            return _load_idx(name, directory.resolve())
        except CorruptDataError as exc:
            warnings.warn(f"ssgan.data: skipping {directory} for {name!r}: {exc}", DataWarning,
                          stacklevel=3)
            skipped.append(directory)
    cache, failures = _cache_dir(name), None
    if download:
        failures = _download(name, cache)
        if not failures:
            return _load_idx(name, cache.resolve())
    raise DatasetNotFoundError(_not_found_message(name, candidates, skipped, cache, failures))


def _find_idx_files(directory):
    """Map each expected file stem to its path in `directory` (plain or .gz), or None if any is missing."""
    found = {}
    for stem in _IDX_FILES:
        path = next((p for p in (directory / stem, directory / f"{stem}.gz") if p.is_file()), None)
        if path is None:
            return None
        found[stem] = path
    return found


@functools.lru_cache(maxsize=4)
def _load_idx(name, directory):
    files = _find_idx_files(directory)
    if files is None:
        raise DatasetNotFoundError(f"Dataset {name!r}: {directory} no longer holds its four files.")
    # The label files first: a folder of another data set fails on its smallest file.
    order = sorted(files, key=lambda stem: files[stem].stat().st_size)
    arrays = {stem: read_idx(files[stem], _SHA256[name][stem], magic=_IDX_FILES[stem]) for stem in order}
    splits = []
    for prefix in ("train", "t10k"):
        x, y = arrays[f"{prefix}-images-idx3-ubyte"], arrays[f"{prefix}-labels-idx1-ubyte"]
        if len(x) != len(y):
            raise CorruptDataError(f"{directory}: {prefix} split has {len(x)} images but {len(y)} labels.")
        splits.append((x, _read_only(y.astype(np.int64))))
    return tuple(splits)


def _cached_file_is_valid(name, cache, stem):
    """Whether the cache holds a valid copy of `stem`; an invalid one is removed (re-downloaded)."""
    for path in (cache / stem, cache / f"{stem}.gz"):
        if path.is_file():
            try:
                read_idx(path, _SHA256[name][stem], magic=_IDX_FILES[stem])
                return True
            except (OSError, CorruptDataError):
                path.unlink()
    return False


def _download(name, cache):
    """Fetch the missing .gz files into `cache`, verifying each before an atomic rename; return failures."""
    failures = []
    for stem in _IDX_FILES:
        if _cached_file_is_valid(name, cache, stem):
            continue
        fname = f"{stem}.gz"
        for mirror in _MIRRORS[name]:
            url = mirror + fname
            try:
                with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
                    payload = response.read()
                _decode_idx(payload, url, True, _SHA256[name][stem], _IDX_FILES[stem])
                with atomic_path(cache / fname) as tmp:
                    Path(tmp).write_bytes(payload)
                break
            except (OSError, http.client.HTTPException, CorruptDataError) as exc:
                failures.append(f"{url}: {exc}")
        else:
            return failures  # Every mirror failed for this file: stop rather than time out on the rest.
    return []


def _not_found_message(name, searched, skipped, cache, failures):
    """One line: where the files were looked for, what was skipped, why downloading did not help."""
    files = ", ".join(f"{stem}[.gz]" for stem in _IDX_FILES)
    message = (f"Dataset {name!r} not found: no folder holds valid copies of its four files "
               f"({files}); searched {', '.join(map(str, searched)) or 'nothing'}")
    if skipped:
        message += f" (skipped as corrupt or of another data set: {', '.join(map(str, skipped))})"
    if failures is not None:
        message += f"; downloading into {cache} failed: {'; '.join(failures)}"
    else:
        message += f"; downloading is disabled (download=False; mirrors: {', '.join(_MIRRORS[name])})"
    return (message + f". To use a local copy, pass data_dir=... to load_dataset or set {ENV_VAR} "
            f"to the folder holding the files (or to its parent with a {name!r} subfolder).")


def _read_only(array):
    array.setflags(write=False)
    return array


@dataclass(frozen=True, eq=False)
class SemiSupervisedSplit:
    """Read-only int64 indices into the training labels: the labeled subset and the unlabeled pool."""

    labeled: np.ndarray
    unlabeled: np.ndarray


def semi_supervised_split(y, n_labeled, *, seed=0, unlabeled="all", n_classes=None):
    """Draw `n_labeled` class-balanced labeled indices (n_labeled / K per class) reproducibly from `seed`.

    `unlabeled="all"` uses the whole training set as the unlabeled pool, as in Improved-GAN
    (Salimans et al., 2016); `"rest"` uses only the indices not labeled.
    """
    if unlabeled not in ("all", "rest"):
        raise ValueError(f"unlabeled must be 'all' or 'rest', got {unlabeled!r}.")
    y = np.asarray(y)
    if y.ndim != 1 or y.size == 0:
        raise ValueError(f"y must be a non-empty 1-D array of labels, got an array of shape {y.shape}.")
    if isinstance(n_labeled, bool) or not isinstance(n_labeled, (int, np.integer)):
        raise TypeError(f"n_labeled must be an integer, got {n_labeled!r}.")
    if n_classes is None:
        classes = np.unique(y)
    else:
        classes = np.arange(n_classes)
        if not np.isin(y, classes).all():
            raise ValueError(f"y has labels outside 0..{n_classes - 1} (n_classes={n_classes}).")
    k = len(classes)
    if n_labeled < k:
        raise ValueError(f"n_labeled={n_labeled} must be at least the number of classes ({k}).")
    if n_labeled % k:
        raise ValueError(f"n_labeled={n_labeled} must be divisible by the number of classes ({k}).")
    per_class = n_labeled // k
    rng = np.random.default_rng(seed)
    chosen = []
    for c in classes:
        members = np.flatnonzero(y == c)
        if len(members) < per_class:
            raise ValueError(
                f"class {c.item()!r} has only {len(members)} examples, fewer than the {per_class} per class "
                f"needed for n_labeled={n_labeled}."
            )
        chosen.append(rng.choice(members, size=per_class, replace=False))
    labeled = np.sort(np.concatenate(chosen)).astype(np.int64)
    if unlabeled == "all":
        pool = np.arange(len(y), dtype=np.int64)
    else:
        pool = np.setdiff1d(np.arange(len(y), dtype=np.int64), labeled)
    return SemiSupervisedSplit(_read_only(labeled), _read_only(pool))


def scale_images(x, layout="flat"):
    """Images as float32 in [0, 1]: "flat" gives (N, H*W*C), "image" gives (N, H, W, C).

    `x`: (N, H, W) or (N, H, W, C) of uint8 pixels (divided by 255) or of floats already in [0, 1]
    (a .npz data set's float images), any H, W and C.
    """
    if layout not in ("flat", "image"):
        raise ValueError(f"layout must be 'flat' or 'image', got {layout!r}.")
    x = np.asarray(x)
    if x.ndim not in (3, 4):
        raise ValueError(f"x must have shape (N, H, W) or (N, H, W, C), got shape {x.shape}.")
    if x.dtype == np.uint8:
        x = x.astype(np.float32) / np.float32(255)
    elif x.dtype.kind == "f" and (x.size == 0 or (np.isfinite(x).all() and x.min() >= 0 and x.max() <= 1)):
        x = x.astype(np.float32)
    else:
        raise ValueError(f"x must hold uint8 pixel values in [0, 255] or floats in [0, 1], got dtype {x.dtype}"
                         + (f" with values from {x.min()} to {x.max()}." if x.size and x.dtype.kind in "fiub" else "."))
    if layout == "flat":
        return x.reshape(len(x), -1)
    return x if x.ndim == 4 else x[..., np.newaxis]
