"""CGAN: a class-conditional generator G(z, y) taught by the discriminator's own classifier."""

import keras
import numpy as np
from keras import ops

from ssgan.losses import categorical_cross_entropy
from ssgan.losses import classification_accuracy
from ssgan.losses import non_saturating_generator_loss
from ssgan.objectives.base import CRITIC_HIDDEN
from ssgan.objectives.base import ComplementObjective
from ssgan.objectives.base import Grid
from ssgan.objectives.base import PairTerm
from ssgan.objectives.base import check_share
from ssgan.objectives.base import complement_rows
from ssgan.objectives.base import conditioned_rows
from ssgan.objectives.base import match_features
from ssgan.objectives.base import one_hot
from ssgan.objectives.base import paired_rows
from ssgan.objectives.base import uniform_latent
from ssgan.objectives.base import uniform_z
from ssgan.objectives.base import with_complement_rows


# What trains the rows of a generated batch made with a class to look real.
CONDITIONED_LOSSES = ("feature_matching", "gan")


class ConditionalObjective(ComplementObjective):
    """CGAN: z ~ U(0, 1)^d and a requested class y ~ U{0, …, K−1} given one-hot.

    Generator loss, with l(x) the discriminator's K class logits and f(x) its feature layer:

        L_G = w_fm · ‖E f(x) − E f(G(z, y))‖² + λ_class · E[logsumexp l(G(z, y)) − l_y(G(z, y))]

    The class term asks the K-way softmax (the class posterior given "real") for y. It does not
    fight the K+1 objective: D(x) = sigmoid(logsumexp l) depends on the logits' common level, the
    softmax on their differences only, so the discriminator can call a fake fake while it shows
    class y. Realism comes from feature matching, class identity from the classifier.

    Discriminator: the generated-pair term of Triple-GAN (`PairTerm`), w_P(t) · CE(l(G(z, y)), y)
    with the gradient reaching D only, so the classifier also learns from generated (image,
    class) pairs. Off by default (`pair_weight` 0): measured at 0.3 it did not help the
    classifier and, once a class drifted, taught it the wrong class (benchmarks/GENERATORS.md).
    With `pair_weight` > 0 its weight is 0 for the first `pair_start` steps (2000) and then ramps
    linearly to `pair_weight` over `pair_ramp` steps (2000; Triple-GAN's MNIST code uses 0.1 from
    epoch 300 of 1000): the same term from step 0 (the AC-GAN term, `pair_start=0,
    pair_ramp=0`) teaches the classifier wrong classes from early fakes not yet of their class.

    `complement_share` (default 0.8): the first round(share · batch) rows of each generated batch
    get no class (a zero one-hot) and are trained by feature matching alone: "bad" fakes beside
    the data, which a K+1 classifier learns from (Dai et al. 2017), where good class-y fakes
    teach it that class y is unlikely. The class and pair terms see the other rows only, and
    what users sample (`generation_inputs`: `generate`, the random grid, MNIST-FID) has none.

    `conditioned_loss`: what makes the rows with a class realistic. "feature_matching" (default):
    feature matching over the whole batch, as above. "gan": the non-saturating GAN loss
    mean(softplus(−logsumexp l(G(z, y)))) on the rows with a class, feature matching on the
    complement rows only (none without them), so the sampled classes are trained toward
    realistic images while the complement rows stay "bad" fakes for the classifier.

    `diversity_weight` (default 1; 0 turns it off): the mode-seeking term of
    `ComplementObjective` on the rows with a class, which then come in pairs of one class;
    distances of the discriminator's features f over those of z. Without it feature matching
    over a batch of mostly complement rows lets each class collapse to a few styles.

    `critic_weight` (default 1; 0 turns it off) and `critic_hidden` (512, 256): the critic of
    `ComplementObjective`, a real/fake network of its own for the rows with a class, whose
    GAN loss the generator adds; the classifier's fakes are then the complement rows alone, so
    realistic class-conditioned samples no longer teach it that a class is fake.

    Metrics: `loss_feature_matching`, `loss_class` (unweighted) and `fake_class_accuracy` (share
    of fakes whose arg-max class is y); with the pair term `loss_pairs` (unweighted) and
    `pair_weight` (its current weight); with `conditioned_loss="gan"` `loss_realness`; with
    the mode-seeking term `loss_diversity` (unweighted); with the critic `loss_critic` (D side)
    and `loss_critic_realness` (unweighted).
    """

    name = "cgan"
    label = "CGAN"
    harness_settings = {"vbn": True}
    metrics = (("class_consistency", "CGAN class consistency (%)"),)
    metric_note = "CGAN class consistency: share of G(z, y) that the evaluation classifier labels y."
    grid_note = "CGAN: row k requests class k."
    condition_key = "y"

    def __init__(self, n_classes, latent_dim=100, class_weight=1.0, feature_matching_weight=1.0,
                 pair_weight=0.0, pair_start=2000, pair_ramp=2000, complement_share=0.8,
                 conditioned_loss="feature_matching", diversity_weight=1.0, critic_weight=1.0,
                 critic_hidden=CRITIC_HIDDEN):
        super().__init__(n_classes, latent_dim)
        if conditioned_loss not in CONDITIONED_LOSSES:
            raise ValueError(f"conditioned_loss must be one of {CONDITIONED_LOSSES}, got "
                             f"{conditioned_loss!r}.")
        self.conditioned_loss = conditioned_loss
        self.class_weight = float(class_weight)
        self.feature_matching_weight = float(feature_matching_weight)
        self._check_diversity(diversity_weight)
        for option in ("class_weight", "feature_matching_weight"):
            if getattr(self, option) < 0:
                raise ValueError(f"{option} must be ≥ 0, got {getattr(self, option)}.")
        self.complement_share = check_share(complement_share)
        self._check_critic(critic_weight, critic_hidden)
        self.pairs = PairTerm.of(pair_weight, pair_start, pair_ramp)

    @property
    def condition_dims(self):
        return {"y": self.n_classes}

    def _draw(self, seed_generator, batch_size, free):
        """Inputs of a batch whose first `free` rows have no class, and the others' classes."""
        z = uniform_latent(seed_generator, batch_size, self.latent_dim)
        n = batch_size - free
        pairs = self._pairs(n)
        y = paired_rows(keras.random.randint((n - pairs,), 0, self.n_classes,
                                             seed=seed_generator), pairs)
        conditions = with_complement_rows(ops.one_hot(y, self.n_classes), free)
        return [z, conditions], ({"y": y, "varied": z[free:]} if pairs else {"y": y})

    def discriminator_loss(self, fake_outputs, latent, labeled_outputs, labels, step=None,
                           unlabeled_outputs=None):
        logits = conditioned_rows(fake_outputs["logits"], latent["y"])
        loss, metrics = self.pairs.loss(logits, latent["y"], step)
        critic, critic_metrics = self.critic_discriminator_loss(fake_outputs, unlabeled_outputs,
                                                                latent)
        return loss + critic, {**metrics, **critic_metrics}

    def generator_loss(self, fake_outputs, real_outputs, latent):
        logits = conditioned_rows(fake_outputs["logits"], latent["y"])
        class_loss = categorical_cross_entropy(logits, latent["y"])
        metrics = {"loss_class": class_loss,
                   "fake_class_accuracy": classification_accuracy(logits, latent["y"])}
        diversity, diversity_metrics = self.diversity_loss(fake_outputs, latent, latent["y"])
        critic, critic_metrics = self.critic_generator_loss(fake_outputs, latent)
        loss = self.class_weight * class_loss + diversity + critic
        metrics.update({**diversity_metrics, **critic_metrics})
        matched = fake_outputs  # the fakes feature matching sees
        if self.conditioned_loss == "gan":
            realness = non_saturating_generator_loss(logits)
            loss = loss + realness
            metrics["loss_realness"] = realness
            if not self.complement_share:
                return loss, metrics
            matched = {"features": complement_rows(fake_outputs["features"], latent["y"])}
        fm = match_features(matched, real_outputs)
        metrics["loss_feature_matching"] = fm
        return loss + self.feature_matching_weight * fm, metrics

    def class_inputs(self, labels, seed=0):
        return self.inputs_for(labels, seed=seed)

    def inputs_for(self, labels, seed=0):
        """Generator inputs [z, one_hot(y)] for the classes `labels` (integers in [0, K))."""
        labels = np.asarray(labels, dtype="int64").reshape(-1)
        z = uniform_z(np.random.default_rng(seed), len(labels), self.latent_dim)
        return [z, one_hot(labels, self.n_classes)]

    def grid_inputs(self, per_class=10, seed=0):
        """A K × `per_class` grid: row k requests class k; column j uses the same z in every row,
        so a column shows one "style" across the classes."""
        z = uniform_z(np.random.default_rng(seed), per_class, self.latent_dim)
        labels = np.repeat(np.arange(self.n_classes), per_class)
        return [np.tile(z, (self.n_classes, 1)), one_hot(labels, self.n_classes)]

    def grids(self, seed=0):
        labels = [str(k) for k in range(self.n_classes)]
        return [Grid("cgan_classes.png", self.grid_inputs(10, seed), self.n_classes, 10, labels)]

    def quality_metrics(self, generate, classify, n, seed=0):
        """`class_consistency`: the share of G(z, y) classified as y, n / K samples per class."""
        labels = np.repeat(np.arange(self.n_classes), max(n // self.n_classes, 1))
        images = generate(self.inputs_for(labels, seed=seed))
        return {"class_consistency": float(np.mean(classify(images) == labels))}
