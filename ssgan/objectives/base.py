"""The generator objective interface (`Objective`) and what objectives share.

An objective says what the generator is trained for: how its inputs are sampled, which extra
discriminator heads it needs, which loss terms it adds to each player, and how its samples are
shown (sample grids) and judged (quality metrics). The training step calls the first four inside
the compiled step, so they are pure functions of tensors written with `keras.ops`; the grids and
metrics work on NumPy arrays outside it.
"""

from typing import NamedTuple

import keras
import numpy as np
from keras import ops

from ssgan.losses import feature_matching_loss


class Grid(NamedTuple):
    """A sample grid: `inputs` (generator inputs, NumPy) laid out in `rows` × `columns`, written
    to `filename`, with optional row and column labels."""

    filename: str
    inputs: object
    rows: int
    columns: int
    row_labels: list | None = None
    column_labels: list | None = None


class Objective:
    """Base class of generator objectives. Subclasses set `name` and implement `sample` and
    `generator_loss`; the rest has defaults (no conditions, no extra heads, no
    discriminator term, no grids or metrics of their own).

    Class attributes read by the tools:

    * `name`: the registry key (`--generator NAME`, `TrainingConfig.generator`);
    * `label`: how reports call it;
    * `harness_settings`: `TrainingConfig` fields the benchmark harness trains it with;
    * `variants`: further rows of the harness, `{row name: (label, objective options)}`;
    * `metrics`: `(key, label)` of what `quality_metrics` returns, for reports (shares in [0, 1]);
    * `metric_note`: one sentence saying what they measure;
    * `grid_note`: one sentence saying how its `grids` read.
    """

    name = None
    label = None
    harness_settings = {}
    variants = {}
    metrics = ()
    metric_note = ""
    grid_note = ""

    def __init__(self, n_classes, latent_dim=100):
        self.n_classes = int(n_classes)
        self.latent_dim = int(latent_dim)

    # ------------------------------------------------------------ inside the step (keras.ops)

    @property
    def condition_dims(self):
        """Generator inputs besides z, by name and width."""
        return {}

    def discriminator_heads(self, features, logits):
        """Extra discriminator outputs, by name, built on its `features` and class `logits`
        (symbolic tensors of the functional model)."""
        return {}

    def sample(self, seed_generator, batch_size):
        """Generator inputs for one batch, and what the losses need to know about them (a dict of
        tensors), drawn with `seed_generator`."""
        raise NotImplementedError

    def discriminator_loss(self, fake_outputs, latent, labeled_outputs, labels):
        """Terms added to the discriminator's loss, and metrics to report."""
        return ops.zeros(()), {}

    def generator_loss(self, fake_outputs, real_outputs, latent):
        """The generator's loss, and metrics to report."""
        raise NotImplementedError

    # ------------------------------------------------------------- outside the step (NumPy)

    def class_inputs(self, labels, seed=0):
        """Generator inputs whose samples are of the classes `labels` (integers in [0, K)), or
        None where this objective's generator takes no class (class-conditional sampling)."""
        return None

    def grids(self, seed=0):
        """The sample grids of this objective besides the random one (a list of `Grid`)."""
        return []

    def quality_metrics(self, generate, classify, n, seed=0):
        """Metrics of the generator's samples: `generate(inputs)` gives the images of generator
        inputs, `classify(images)` an evaluation classifier's classes; `n` samples in all."""
        return {}


def uniform_z(rng, n, latent_dim):
    """`n` latent vectors z ~ U(0, 1)^`latent_dim` from the NumPy generator `rng`."""
    return rng.uniform(0.0, 1.0, size=(n, latent_dim)).astype("float32")


def one_hot(indices, depth):
    """NumPy one-hot rows of `indices` (integers in [0, depth))."""
    indices = np.asarray(indices, dtype="int64")
    if indices.size and (indices.min() < 0 or indices.max() >= depth):
        raise ValueError(f"Indices must lie in [0, {depth}), got {indices.min()}..{indices.max()}.")
    return np.eye(depth, dtype="float32")[indices]


def uniform_latent(seed_generator, batch_size, latent_dim):
    """z ~ U(0, 1)^d for one batch, inside the step."""
    return keras.random.uniform((batch_size, latent_dim), seed=seed_generator)


def match_features(fake_outputs, real_outputs):
    """Feature matching (§3.1) of the fakes' features against the real batch's (constants)."""
    return feature_matching_loss(ops.stop_gradient(real_outputs["features"]),
                                 fake_outputs["features"])
