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

from ssgan.losses import categorical_cross_entropy
from ssgan.losses import feature_matching_loss
from ssgan.losses import mode_seeking_loss


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

    def generation_inputs(self, seed_generator, n):
        """Generator inputs of `n` samples as users get them (`Trainer.generate` without labels,
        the random sample grid, MNIST-FID): a training draw without the rows that only train
        the classifier (the complement rows of the conditional objectives)."""
        inputs, _ = self.sample(seed_generator, n)
        return inputs

    def discriminator_loss(self, fake_outputs, latent, labeled_outputs, labels, step=None):
        """Terms added to the discriminator's loss, and metrics to report. `step`: the count of
        discriminator updates before this one (a scalar tensor; None outside training)."""
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


class ComplementObjective(Objective):
    """An objective whose training batches begin with complement rows (no class or code: bad
    fakes that only train the classifier, `complement_share` of each batch), which what users
    sample has none of. Subclasses set `complement_share` and implement `_draw`.

    `diversity_weight` (0: off) adds the mode-seeking term (`mode_seeking_loss`, Mao et al. 2019)
    over the rows with a condition, which `_draw` then makes in pairs of one condition
    (`paired_rows`): the distances of the discriminator's features over those of the inputs
    that vary within a pair (`latent["varied"]`). It asks those rows to vary with z, where
    feature matching over a batch of mostly complement rows lets them draw one style each."""

    complement_share = 0.0
    diversity_weight = 0.0

    def _check_diversity(self, weight):
        self.diversity_weight = float(weight)
        if self.diversity_weight < 0:
            raise ValueError(f"diversity_weight must be ≥ 0, got {self.diversity_weight}.")

    def _pairs(self, n):
        """How many of `n` rows with a condition repeat an earlier row's condition (0 without
        the mode-seeking term)."""
        return n // 2 if self.diversity_weight else 0

    def diversity_loss(self, fake_outputs, latent, conditions):
        """(w · mode_seeking_loss, metrics `loss_diversity` (unweighted)) of the rows made with
        `conditions` (0, {} when off, or when a batch has fewer than two such rows to pair)."""
        if not self.diversity_weight or "varied" not in latent:
            return ops.zeros(()), {}
        diversity = mode_seeking_loss(conditioned_rows(fake_outputs["features"], conditions),
                                      latent["varied"])
        return self.diversity_weight * diversity, {"loss_diversity": diversity}

    def sample(self, seed_generator, batch_size):
        return self._draw(seed_generator, batch_size,
                          complement_size(batch_size, self.complement_share))

    def generation_inputs(self, seed_generator, n):
        return self._draw(seed_generator, n, 0)[0]

    def _draw(self, seed_generator, batch_size, free):
        """Inputs of a batch whose first `free` rows are complement rows, and what the losses
        need to know about the others."""
        raise NotImplementedError


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


def check_share(share):
    """A checked `complement_share`: a float in [0, 1)."""
    share = float(share)
    if not 0.0 <= share < 1.0:
        raise ValueError(f"complement_share must be in [0, 1), got {share}.")
    return share


def complement_size(batch_size, share):
    """How many rows of a generated batch of `batch_size` are complement rows (no condition)."""
    return int(round(batch_size * share))


def with_complement_rows(conditions, free):
    """`conditions` (rows of a generator input) after `free` rows of zeros: the complement rows,
    made without a condition, come first."""
    if not free:
        return conditions
    zeros = ops.zeros((free, ops.shape(conditions)[1]), dtype=conditions.dtype)
    return ops.concatenate([zeros, conditions], axis=0)


def paired_rows(values, pairs):
    """`values` followed by their first `pairs` rows again: row i and row len + i share a
    condition, the pairs `mode_seeking_loss` compares (first half against last half)."""
    return ops.concatenate([values, values[:pairs]], axis=0) if pairs else values


def conditioned_rows(values, conditions):
    """The last rows of `values`, one per row of `conditions`: the generated batch's rows made
    with a condition (the complement rows, without one, come first)."""
    return values[ops.shape(values)[0] - ops.shape(conditions)[0]:]


def complement_rows(values, conditions):
    """The first rows of `values`, those made without a condition: all but the last
    len(`conditions`) (see `conditioned_rows`)."""
    return values[: ops.shape(values)[0] - ops.shape(conditions)[0]]


class PairTerm(NamedTuple):
    """The generated-pair ("pseudo-discriminative") term of Triple-GAN (Li et al. 2017): the
    discriminator's K class logits on generated images G(z, y) are trained by cross-entropy
    toward the class y they were made for, with a weight that is 0 before step `start` and grows
    linearly from 0 there to `weight` at step `start + ramp` (all at once when `ramp` is 0)."""

    weight: float
    start: int
    ramp: int

    @classmethod
    def of(cls, weight, start, ramp):
        """A checked term from the objectives' `pair_weight`, `pair_start`, `pair_ramp`."""
        term = cls(float(weight), int(start), int(ramp))
        for option, value in zip(("pair_weight", "pair_start", "pair_ramp"), term, strict=True):
            if not value >= 0:
                raise ValueError(f"{option} must be ≥ 0, got {value}.")
        return term

    def weight_at(self, step):
        """The weight at `step` (a scalar tensor of discriminator updates so far), computed
        with `keras.ops` so that the compiled step stays pure; the full weight when None."""
        if step is None:
            return ops.convert_to_tensor(self.weight, "float32")
        t = ops.cast(step, "float32")
        if self.ramp == 0:
            share = ops.cast(ops.greater_equal(t, float(self.start)), "float32")
        else:
            share = ops.clip((t - float(self.start)) / float(self.ramp), 0.0, 1.0)
        return self.weight * share

    def loss(self, logits, targets, step):
        """(weight · CE(logits, targets), metrics `loss_pairs` (unweighted) and `pair_weight`);
        (0, {}) when the weight is 0. Before `start` the weight, the value and the gradient are
        exactly 0."""
        if self.weight == 0:
            return ops.zeros(()), {}
        cross_entropy = categorical_cross_entropy(logits, targets)
        weight = self.weight_at(step)
        return weight * cross_entropy, {"loss_pairs": cross_entropy, "pair_weight": weight}
