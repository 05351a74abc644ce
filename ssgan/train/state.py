"""The training state: every array that changes during training, as one typed pytree.

A `TrainState` is what the compiled step takes and returns, what a checkpoint holds and what
several runs side by side stack along a leading axis. Its leaves are backend arrays, never Keras
variables: the models receive values back only when used after an epoch
(`SemiSupervisedGAN.sync_models`).
"""

from typing import NamedTuple

import numpy as np

from ssgan.optimizers import AdamState


class TrainState(NamedTuple):
    """Both players' weights and optimizer slots, the moving averages of the discriminator and
    (with `generator_ema`; else empty) the generator, historical averages, the mean prediction,
    the latent seed and the step count.

    `d_non_trainable` / `g_non_trainable` are the models' non-trainable variables (batch-norm
    statistics, reference batches, the noise layers' seed states), threaded from step to step.
    `d_history` / `g_history` are empty lists unless historical averaging is on;
    `mean_prediction` holds the running mean of the class predictions on unlabeled rows (one
    vector) with distribution alignment, and is empty without.
    """

    d_trainable: list
    d_non_trainable: list
    g_trainable: list
    g_non_trainable: list
    d_optimizer: AdamState
    g_optimizer: AdamState
    ema: list
    g_ema: list
    d_history: list
    g_history: list
    mean_prediction: list
    latent_seed: object
    step: object


def flatten(tree, prefix=""):
    """{"d_trainable/0000": leaf, "d_optimizer/m/0001": leaf, ...} for a tree of named tuples,
    dicts and lists: the keys of a checkpoint."""
    if isinstance(tree, tuple) and hasattr(tree, "_asdict"):
        items = tree._asdict().items()
    elif isinstance(tree, dict):
        items = tree.items()
    elif isinstance(tree, list):
        items = ((f"{i:04d}", v) for i, v in enumerate(tree))
    else:
        return {prefix: tree}
    flat = {}
    for key, value in items:
        flat.update(flatten(value, f"{prefix}/{key}" if prefix else str(key)))
    return flat


def unflatten(template, load, prefix=""):
    """A tree shaped like `template` whose leaves are `load(key)`, keys as `flatten` makes them."""
    join = (lambda key: f"{prefix}/{key}") if prefix else str
    if isinstance(template, tuple) and hasattr(template, "_asdict"):
        return type(template)(**{k: unflatten(v, load, join(k))
                                 for k, v in template._asdict().items()})
    if isinstance(template, dict):
        return {k: unflatten(v, load, join(k)) for k, v in template.items()}
    if isinstance(template, list):
        return [unflatten(v, load, join(f"{i:04d}")) for i, v in enumerate(template)]
    return load(prefix)


def map_leaves(fn, tree):
    """`tree` with every leaf replaced by `fn(leaf)`."""
    flat = flatten(tree)
    return unflatten(tree, lambda key: fn(flat[key]))


def stack(states, backend):
    """The states of several runs as one, each leaf stacked along a new leading run axis."""
    flats = [flatten(state) for state in states]
    return unflatten(states[0], lambda key: backend.to_device(
        np.stack([backend.to_numpy(flat[key]) for flat in flats])))


def unstack(state, count, backend):
    """The `count` runs' states of a stacked state, as host (NumPy) arrays.

    One transfer per leaf, then each run's slice on the host: slicing on the device cost one
    dispatch per leaf and run."""
    flat = {key: backend.to_numpy(value) for key, value in flatten(state).items()}
    return [unflatten(state, lambda key, i=i: flat[key][i]) for i in range(count)]
