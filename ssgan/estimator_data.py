"""How `SSGANClassifier` prepares its rows and restores its models: the training seed, the shape
of an example (and whether rows are images), the labels (with -1 for unlabeled rows), the [0, 1]
scaling, the held-out rows of early stopping and pickled weights."""

import math
from numbers import Integral

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets

# Training seeds are kept below this bound: the noise layers derive seeds as seed * 1009 + i,
# which must fit JAX's uint32 seeds, and NumPy's global seed must be below 2**32.
MAX_SEED = 2**21


def training_seed(random_state):
    """The training seed of `random_state`: an int in [0, MAX_SEED) itself, else one drawn."""
    if isinstance(random_state, Integral) and 0 <= random_state < MAX_SEED:
        return int(random_state)
    return int(check_random_state(random_state).randint(MAX_SEED))


# Rows are taken for square images (`image_shape="auto"`) when their side has at least
# MIN_IMAGE_SIDE pixels (a 2-pixel shift is a small move only on images of some size) and
# neighbouring pixels correlate across rows by at least NEIGHBOUR_CORRELATION.
MIN_IMAGE_SIDE = 16
NEIGHBOUR_CORRELATION = 0.5
DETECTION_ROWS = 2000  # rows looked at, evenly spaced


def neighbour_correlation(a, b):
    """Mean Pearson correlation, across rows, of the paired columns of `a` and `b` (each of shape
    (rows, ...)); pairs where either column is constant are left out (0.0 if all are)."""
    a, b = (m.reshape(len(m), -1) for m in (a, b))
    a, b = a - a.mean(axis=0), b - b.mean(axis=0)
    norm = np.sqrt(np.sum(a * a, axis=0) * np.sum(b * b, axis=0))
    valid = norm > 1e-12
    if not valid.any():
        return 0.0
    return float(np.mean(np.sum(a * b, axis=0)[valid] / norm[valid]))


def detected_image_shape(X):
    """(side, side) or (side, side, 3) where the rows of `X` look like square images stored in C
    order, else None. They do when each pixel correlates with its right and lower neighbours
    (≥ NEIGHBOUR_CORRELATION), and more with the one below it than with the one half a row to
    its right: a smooth 1-D signal folded into a square fails the last test."""
    n_features = X.shape[1]
    squares = [(math.isqrt(n_features // channels), channels) for channels in (1, 3)]
    squares = [(side, channels) for side, channels in squares
               if side >= MIN_IMAGE_SIDE and side * side * channels == n_features]
    if not squares:
        return None  # most tables: no copy of the rows
    sample = X[:: max(len(X) // DETECTION_ROWS, 1)][:DETECTION_ROWS].astype(np.float64)
    for side, channels in squares:
        images = sample.reshape(len(sample), side, side, channels)
        right = neighbour_correlation(images[:, :, :-1], images[:, :, 1:])
        below = neighbour_correlation(images[:, :-1], images[:, 1:])
        half = side // 2
        far = neighbour_correlation(images[:, :, :-half], images[:, :, half:])
        if min(right, below) >= NEIGHBOUR_CORRELATION and below > far:
            return (side, side) if channels == 1 else (side, side, channels)
    return None


def example_shape(architecture, layout, image_shape, n_features):
    """The shape of one example for `architecture` (whose `layout` is "flat" or "image") from the
    estimator's `image_shape` parameter (after "auto" was resolved: None for vectors), checked
    against the rows' `n_features`."""
    if image_shape is None:
        if layout == "image":
            raise ValueError(
                f"architecture={architecture!r} needs image_shape=(height, width[, channels]) "
                f"to reshape the {n_features} features of each row into an image; the rows "
                f"were not recognized as square images."
            )
        return (n_features,)
    shape = tuple(image_shape)
    if not shape or not all(isinstance(d, Integral) and d > 0 for d in shape):
        raise ValueError(f"image_shape must be a tuple of positive ints, got {shape!r}.")
    shape = tuple(int(d) for d in shape)
    if layout == "image":
        if len(shape) == 2:
            shape = shape + (1,)
        if len(shape) != 3:
            raise ValueError(
                f"image_shape must be (height, width) or (height, width, channels) for "
                f"architecture={architecture!r}, got {shape!r}."
            )
    if math.prod(shape) != n_features:
        raise ValueError(
            f"image_shape={shape!r} holds {math.prod(shape)} values per example, but X has "
            f"{n_features} features."
        )
    return shape


def class_indices(classes, y, n):
    """Indices into `classes` of `y`: one class for all `n` samples, or one per sample."""
    wanted = np.asarray(y, dtype=classes.dtype)
    wanted = np.broadcast_to(wanted, (n,)) if wanted.ndim == 0 else wanted.reshape(-1)
    if len(wanted) != n or len(np.setdiff1d(wanted, classes)):
        raise ValueError(f"y must be one class or {n} classes of classes_ "
                         f"{classes.tolist()}; got {np.asarray(y).tolist()!r}.")
    return np.searchsorted(classes, wanted)


def check_labels(y, owner):
    """The labeled mask, the classes and the labeled rows' class indices of `y` (-1: unlabeled);
    `owner` names the estimator in the errors."""
    if y.dtype.kind in ("U", "S"):
        # As sklearn.semi_supervised.SelfTrainingClassifier: -1 cannot mark unlabeled rows of
        # a string array.
        raise ValueError(
            "y has dtype string. If you wish to predict on string targets, use dtype object, "
            "and use -1 as the label for unlabeled samples."
        )
    labeled = np.asarray(y != -1, dtype=bool)
    if not labeled.any():
        raise ValueError(
            f"y has no labeled rows: all {len(y)} labels are -1 (unlabeled). "
            f"{owner} needs labeled examples of at least 2 classes."
        )
    y_labeled = y[labeled]
    check_classification_targets(y_labeled)
    try:
        classes, encoded = np.unique(y_labeled, return_inverse=True)
    except TypeError as exc:  # e.g. an object array mixing str and int labels
        raise ValueError(
            f"The labels of y cannot be sorted ({exc}); use labels of one type, with the "
            "integer -1 for unlabeled rows."
        ) from exc
    if len(classes) < 2:
        raise ValueError(
            f"y has only 1 class among its {int(labeled.sum())} labeled rows "
            f"(label {classes[0]!r}); {owner} needs labeled examples of at least 2 classes."
        )
    return labeled, classes, encoded.reshape(-1).astype("int32")


def validation_split(y_encoded, fraction, random_state):
    """(training, validation) positions into the labeled rows' classes `y_encoded`: about
    `fraction` of each class held out (stratified, as `MLPClassifier` does), at least one row in
    all, and every class keeping at least one training row."""
    rng = np.random.RandomState(random_state)
    held = []
    spare = []  # classes with a row to spare, in case rounding held out none
    for c in np.unique(y_encoded):
        rows = rng.permutation(np.flatnonzero(y_encoded == c))
        n = min(int(round(fraction * len(rows))), len(rows) - 1)
        held.extend(rows[:n])
        if len(rows) - n > 1:
            spare.append(rows[n])
    if not held:
        if not spare:
            raise ValueError(
                "early_stopping needs a labeled row to hold out for validation, but every class "
                "has a single labeled row: label more rows or set early_stopping=False."
            )
        held.append(spare[rng.randint(len(spare))])
    validation = np.sort(np.asarray(held, dtype=np.int64))
    return np.setdiff1d(np.arange(len(y_encoded)), validation), validation


def scale(X, data_min, data_max):
    """Min-max scale X into [0, 1] (clipped) as float32; constant features map to 0.

    Halves are subtracted, not the values: max − min of finite float64 values can overflow
    (±1e308), their halves' difference cannot, so finite X always scales to finite values.
    """
    half = np.float64(0.5)
    span = data_max * half - data_min * half
    span = np.where(span > 0, span, 1.0)
    scaled = (X * half - data_min * half) / span
    return np.clip(scaled, 0.0, 1.0, out=scaled).astype(np.float32, copy=False)


def unscale(samples, data_min, data_max):
    """The inverse of `scale` for values in [0, 1], overflow-safe in the same way."""
    half_span = data_max * 0.5 - data_min * 0.5
    return data_min + samples * half_span + samples * half_span


def assign_weights(model, arrays):
    """Load `arrays` (from `model.get_weights()` of an identical model) into `model`'s variables,
    cast to each variable's dtype (seed states differ between backends: int64 or uint32)."""
    variables = model.weights
    if len(variables) != len(arrays):
        raise ValueError(
            f"Cannot restore {model.name}: the pickle holds {len(arrays)} arrays, the rebuilt "
            f"model has {len(variables)} variables. Unpickle with the same ssgan version."
        )
    for variable, array in zip(variables, arrays):
        array = np.asarray(array)
        if tuple(variable.shape) != array.shape:
            raise ValueError(
                f"Cannot restore {variable.path}: shape {array.shape} in the pickle, "
                f"{tuple(variable.shape)} in the rebuilt model."
            )
        variable.assign(array.astype(variable.dtype))
