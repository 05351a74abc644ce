"""Datasets for semi-supervised GAN training: verified loading, labeled/unlabeled splits, scaling.

MNIST and Fashion-MNIST are read from local IDX files (downloaded into the user cache when
absent) and verified against known SHA-256 sums; SVHN and CIFAR-10 come from TensorFlow
Datasets. Only NumPy and the standard library are imported at module import time.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.client
import math
import os
import tempfile
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "DATASETS",
    "CorruptDataError",
    "DataError",
    "DatasetInfo",
    "DatasetNotFoundError",
    "SemiSupervisedSplit",
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


@dataclass(frozen=True)
class DatasetInfo:
    """What the models need to know about a dataset; `source` is "idx" or "tfds"."""

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
            raise CorruptDataError(
                f"{where}: checksum mismatch: expected SHA-256 {expected_sha256} of the uncompressed data, got {digest}."
            )
    return np.frombuffer(raw, dtype=np.uint8, offset=header_len).reshape(shape)


def load_dataset(name="mnist", data_dir=None, download=True):
    """Return `(x_train, y_train), (x_test, y_test)` like `keras.datasets`: uint8 images, int64 labels.

    IDX sets give images of shape (N, 28, 28), TFDS sets (N, H, W, C). The arrays are cached
    in-process and returned READ-ONLY; call `.copy()` before modifying them in place.
    IDX files are looked up in `data_dir`, then $SSGAN_DATA_DIR (each as `D/<name>/`, then `D`),
    then the user cache `$XDG_CACHE_HOME/ssgan/<name>` (default ~/.cache), then system copies;
    when none holds all four files and `download` is true they are downloaded into the cache.
    """
    if name not in DATASETS:
        raise ValueError(f"Unknown dataset {name!r}; known datasets are {sorted(DATASETS)}.")
    if DATASETS[name].source == "tfds":
        tfds_dir = data_dir if data_dir is not None else os.environ.get(ENV_VAR) or None
        return _load_tfds(name, None if tfds_dir is None else str(tfds_dir), bool(download))
    candidates = _candidate_dirs(name, data_dir)
    for directory in candidates:
        if _find_idx_files(directory) is not None:
            return _load_idx(name, directory.resolve())
    cache = _cache_dir(name)
    failures = None
    if download:
        failures = _download(name, cache)
        if not failures:
            return _load_idx(name, cache.resolve())
    raise DatasetNotFoundError(_not_found_message(name, candidates, cache, failures))


def _candidate_dirs(name, data_dir):
    roots = [Path(d).expanduser() for d in (data_dir, os.environ.get(ENV_VAR)) if d]
    dirs = [d for root in roots for d in (root / name, root)]
    return list(dict.fromkeys([*dirs, _cache_dir(name), *_SYSTEM_DIRS.get(name, ())]))


def _cache_dir(name):
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ssgan" / name


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
    arrays = {
        stem: read_idx(path, _SHA256[name][stem], magic=_IDX_FILES[stem])
        for stem, path in _find_idx_files(directory).items()
    }
    splits = []
    for prefix in ("train", "t10k"):
        x, y = arrays[f"{prefix}-images-idx3-ubyte"], arrays[f"{prefix}-labels-idx1-ubyte"]
        if len(x) != len(y):
            raise CorruptDataError(f"{directory}: {prefix} split has {len(x)} images but {len(y)} labels.")
        splits.append((x, _read_only(y.astype(np.int64))))
    return tuple(splits)


def _download(name, cache):
    """Fetch the missing .gz files into `cache`, verifying each before an atomic rename; return failures."""
    failures = []
    for stem in _IDX_FILES:
        fname = f"{stem}.gz"
        if (cache / fname).is_file() or (cache / stem).is_file():
            continue
        for mirror in _MIRRORS[name]:
            url = mirror + fname
            try:
                with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
                    payload = response.read()
                _decode_idx(payload, url, True, _SHA256[name][stem], _IDX_FILES[stem])
                cache.mkdir(parents=True, exist_ok=True)
                fd, tmp = tempfile.mkstemp(dir=cache, prefix=f".{fname}.", suffix=".part")
                try:
                    with os.fdopen(fd, "wb") as out:
                        out.write(payload)
                    os.replace(tmp, cache / fname)
                except BaseException:
                    os.unlink(tmp)
                    raise
                break
            except (OSError, http.client.HTTPException, CorruptDataError) as exc:
                failures.append(f"{url}: {exc}")
        else:
            return failures  # Every mirror failed for this file: stop rather than time out on the rest.
    return []


def _not_found_message(name, searched, cache, failures):
    """Explain where the files were looked for and how to point at them; `failures` is None without download."""
    files = ", ".join(f"{stem}[.gz]" for stem in _IDX_FILES)
    lines = [f"Dataset {name!r} not found: no directory holds all four files ({files}). Searched:"]
    lines += [f"  {d}" for d in searched]
    if failures is not None:
        lines.append(f"Downloading into {cache} failed:")
        lines += [f"  {failure}" for failure in failures]
    else:
        lines.append(f"Downloading is disabled (download=False); mirrors: {', '.join(_MIRRORS[name])}.")
    lines.append(
        f"To use a local copy, pass data_dir=... to load_dataset or set the {ENV_VAR} environment "
        f"variable to the folder holding the files (or to its parent with a {name!r} subfolder)."
    )
    return "\n".join(lines)


@functools.lru_cache(maxsize=2)
def _load_tfds(name, data_dir, download):
    try:
        import tensorflow_datasets as tfds
    except ImportError as exc:
        raise DatasetNotFoundError(
            f"Dataset {name!r} is loaded through tensorflow-datasets, which is not installed ({exc}). "
            "Install it with `pip install tensorflow-datasets`."
        ) from exc
    try:
        splits = tfds.as_numpy(
            tfds.load(name, split=["train", "test"], batch_size=-1, as_supervised=True,
                      data_dir=data_dir, download=download)
        )
    except Exception as exc:  # tfds raises many unrelated types (network, filesystem, TF, assertion).
        where = data_dir or "the tensorflow-datasets default directory (~/tensorflow_datasets)"
        raise DatasetNotFoundError(
            f"Could not load dataset {name!r} with tensorflow-datasets from {where} "
            f"(download={download}): {type(exc).__name__}: {exc}. Prepare it once with internet access, "
            f"then pass data_dir=... or set {ENV_VAR} to that directory."
        ) from exc
    return tuple(
        (_read_only(np.asarray(x, dtype=np.uint8)), _read_only(np.asarray(y, dtype=np.int64)))
        for x, y in splits
    )


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
    """Scale uint8 images to float32 in [0, 1]: "flat" gives (N, H*W*C), "image" gives (N, H, W, C)."""
    if layout not in ("flat", "image"):
        raise ValueError(f"layout must be 'flat' or 'image', got {layout!r}.")
    x = np.asarray(x)
    if x.dtype != np.uint8:
        raise ValueError(f"x must hold uint8 pixel values in [0, 255], got dtype {x.dtype}.")
    if x.ndim not in (3, 4):
        raise ValueError(f"x must have shape (N, H, W) or (N, H, W, C), got shape {x.shape}.")
    x = x.astype(np.float32) / np.float32(255)
    if layout == "flat":
        return x.reshape(len(x), -1)
    return x if x.ndim == 4 else x[..., np.newaxis]
