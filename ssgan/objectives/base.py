"""The generator objective interface (`Objective`) and what objectives share.

An objective says what the generator is trained for: how its inputs are sampled, which extra
discriminator heads it needs, which loss terms it adds to each player, and how its samples are
shown (sample grids) and judged (quality metrics). The training step calls the first four inside
the compiled step, so they are pure functions of tensors written with `keras.ops`; the grids and
metrics work on NumPy arrays outside it.
"""

import numbers
from typing import NamedTuple

import keras
import numpy as np
from keras import ops

from ssgan.losses import categorical_cross_entropy
from ssgan.losses import feature_matching_loss
from ssgan.losses import mode_seeking_loss
from ssgan.losses import non_saturating_generator_loss
from ssgan.losses import unsupervised_discriminator_loss


CRITIC_HIDDEN = (512, 256)  # the critic's layer widths (a small MLP; untuned)


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

    def classifier_fakes(self, fake_outputs, latent):
        """The class logits of the generated rows that the K+1 real/fake term counts as fakes:
        all of them unless an objective judges some by a head of their own."""
        return fake_outputs["logits"]

    def discriminator_loss(self, fake_outputs, latent, labeled_outputs, labels, step=None):
        """Terms added to the discriminator's loss, and metrics to report. `step`: the count of
        discriminator updates before this one (a scalar tensor; None outside training). An
        objective that takes `unlabeled_outputs=` also gets the outputs on the unlabeled reals."""
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
    feature matching over a batch of mostly complement rows lets them draw one style each.

    `critic_weight` (0: off) keeps the two roles apart (as Triple-GAN does with networks of their
    own): a critic head with no layer shared with the classifier (`discriminator_heads`) learns
    unlabeled reals against the rows with a condition, the generator adds critic_weight · its
    non-saturating GAN loss on those rows, and the K+1 real/fake term counts only the complement
    rows as fakes (`classifier_fakes`; all rows when there are none, `complement_share=0`).
    Subclasses set `condition_key`."""

    complement_share = 0.0
    diversity_weight = 0.0
    critic_weight = 0.0
    critic_hidden = CRITIC_HIDDEN
    condition_key = None  # the `latent` entry of the conditioned rows' classes or codes

    def _check_critic(self, weight, hidden):
        """Set and check `critic_weight` and `critic_hidden` (after `complement_share`)."""
        self.critic_weight = float(weight)
        if isinstance(hidden, int | float):
            hidden = (hidden,)
        self.critic_hidden = tuple(int(units) for units in hidden)
        if self.critic_weight < 0:
            raise ValueError(f"critic_weight must be ≥ 0, got {self.critic_weight}.")
        if not self.critic_hidden or min(self.critic_hidden) < 1:
            raise ValueError(f"critic_hidden must be one or more layer widths ≥ 1, got {hidden!r}.")

    def discriminator_heads(self, features, logits, inputs=None):
        """With the critic, `critic`: a real/fake logit of its own on the discriminator's input
        (flatten → [dense → leaky ReLU(0.2)] per `critic_hidden` → dense(1)), no layer shared."""
        if not self.critic_weight:
            return {}
        if inputs is None:
            raise ValueError("critic_weight > 0 needs an architecture that gives the "
                             "discriminator's heads its input (discriminator_model(inputs=...)).")
        h = keras.layers.Flatten(name="critic_flatten")(inputs)
        for i, units in enumerate(self.critic_hidden):
            h = keras.layers.Dense(units, name=f"critic_dense_{i}")(h)
            h = keras.layers.LeakyReLU(0.2, name=f"critic_lrelu_{i}")(h)
        return {"critic": keras.layers.Dense(1, name="critic")(h)}

    def classifier_fakes(self, fake_outputs, latent):
        # With the critic the rows with a condition are its fakes, not the classifier's: good
        # class-y fakes called fake teach a K+1 classifier that their class is unlikely.
        logits = fake_outputs["logits"]
        conditions = latent[self.condition_key]
        if not self.critic_weight or _rows(logits) == _rows(conditions):
            return logits
        return complement_rows(logits, conditions)

    def _critic_fakes(self, fake_outputs, latent):
        """The critic's logits on the rows with a condition; None when the critic is off or the
        batch has no such row."""
        conditions = latent[self.condition_key]
        if not self.critic_weight or _rows(conditions) == 0:
            return None
        return conditioned_rows(fake_outputs["critic"], conditions)

    def critic_discriminator_loss(self, fake_outputs, unlabeled_outputs, latent):
        """(The critic's binary cross-entropy, unlabeled reals against the rows with a
        condition, metrics `loss_critic`); (0, {}) when off or without such rows. On one logit
        the K+1 real/fake loss is exactly that cross-entropy (log Z = the logit)."""
        fake = self._critic_fakes(fake_outputs, latent)
        if fake is None:
            return ops.zeros(()), {}
        loss = unsupervised_discriminator_loss(unlabeled_outputs["critic"], fake)
        return loss, {"loss_critic": loss}

    def critic_generator_loss(self, fake_outputs, latent):
        """(critic_weight · the non-saturating GAN loss of the rows with a condition against the
        critic, metrics `loss_critic_realness` (unweighted)); (0, {}) when off."""
        fake = self._critic_fakes(fake_outputs, latent)
        if fake is None:
            return ops.zeros(()), {}
        realness = non_saturating_generator_loss(fake)
        return self.critic_weight * realness, {"loss_critic_realness": realness}

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


def _rows(values):
    """The static number of rows of `values` (None when the compiled step does not know it)."""
    return values.shape[0]


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
        """A checked term from the objectives' `pair_weight`, `pair_start`, `pair_ramp`: a
        number ≥ 0 and two whole numbers ≥ 0 (ValueError naming the option otherwise)."""
        values = []
        for option, value, kind in (("pair_weight", weight, float), ("pair_start", start, int),
                                    ("pair_ramp", ramp, int)):
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= 0:
                raise ValueError(f"{option} must be a number ≥ 0, got {value!r}.")
            if kind is int and value != int(value):
                raise ValueError(f"{option} must be a whole number of steps, got {value!r}.")
            values.append(kind(value))
        return cls(*values)

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
