"""InfoGAN (Chen et al. 2016) on top of the semi-supervised discriminator: G(z, c) with a
categorical code and continuous codes whose mutual information with the image Q maximizes."""

import keras
import numpy as np
from keras import ops

from ssgan import layers as ssgan_layers
from ssgan.losses import categorical_cross_entropy
from ssgan.losses import gaussian_negative_log_likelihood
from ssgan.objectives.base import CRITIC_HIDDEN
from ssgan.objectives.base import ComplementObjective
from ssgan.objectives.base import Grid
from ssgan.objectives.base import PairTerm
from ssgan.objectives.base import check_share
from ssgan.objectives.base import conditioned_rows
from ssgan.objectives.base import match_features
from ssgan.objectives.base import one_hot
from ssgan.objectives.base import paired_rows
from ssgan.objectives.base import uniform_latent
from ssgan.objectives.base import uniform_z
from ssgan.objectives.base import with_complement_rows

# What Q's categorical logits read: the discriminator's feature layer (InfoGAN's Q), its K
# class logits through a learned linear map, or the class logits themselves (codes are classes).
Q_CATEGORICAL_INPUTS = ("features", "class_logits", "classifier")
FREE_BALANCE_WEIGHT = 1.0  # the class-balance term's weight with free codes (untuned)


class InfoGANObjective(ComplementObjective):
    """InfoGAN: z ~ U(0, 1)^d, a categorical code c_cat ~ U{0, …, C−1} given one-hot and
    continuous codes c_cont ~ U(−1, 1)^m (the paper's MNIST set-up: C = 10, m = 2).

    Q shares the discriminator's body. Its continuous part is a head on the features,
    dense(`q_hidden`) → leaky ReLU(0.1) → dense(m) (linear when `q_hidden=0`): the means of
    Q(c_cont | x) = N(μ(x), I). Its categorical logits, by `q_categorical_input`:

    * "class_logits" (default): W · log softmax(l(x)) + b, a learned linear map of the
      discriminator's class log-posterior, so the code must capture class rather than style (no
      label says which class a code is: W learns the matching). The discriminator's loss trains
      W alone (the gradient stops at the class logits); the generator's reaches G through the
      classifier.
    * "features": InfoGAN's own Q, the continuous head's layers giving C + m outputs; which factor
      the code captures is then left to chance.
    * "classifier" (needs C == K): the class logits l(x) themselves, so code k is class k and the
      categorical MI term is CGAN's class term. The default with `tie_codes_to_labels` (None
      resolves to it; "class_logits" otherwise): a map that also learns from the fakes can
      absorb the generator's mistakes (a code-k fake that looks like class j still reads as k).

    Both players minimize L_MI = λ_cat · CE(q_cat(x), c_cat) + λ_cont · Σ_j (c_cont,j − μ_j(x))²/2
    on the fakes, −E log Q(c | x) without constants (a lower bound of the mutual information up to
    H(c)): the generator through G, the discriminator through Q on stopped fakes. λ_cat =
    `categorical_weight` (1, the paper's), λ_cont = `continuous_weight` (0.5). The generator
    also keeps feature matching (weight `feature_matching_weight`).

    `tie_codes_to_labels=True` (needs C == K) makes code k mean class k: through Q = the
    classifier by default, or, with a learned map, by adding `tie_weight` · CE(q_cat(x), y) on
    the labeled batch to the discriminator's loss.

    With `pair_weight` > 0 (default 0: off) the discriminator also learns classes from generated
    pairs (`PairTerm`, Triple-GAN's pseudo-discriminative term): w_P(t) · CE(l(G(z, c)), k(c))
    on its K class logits, the weight 0 for `pair_start` steps (2000), then ramped to
    `pair_weight` over `pair_ramp` steps (2000). Tied codes: k(c) = c. Free codes: k(c) is the
    class the discriminator itself gives code c on the batch (arg-max of the summed class
    posterior of code c's fakes, no gradient), which asks the classifier to call all of one
    code's samples alike; the map need not be one-to-one. Off by default for both: codes that
    match classes only in part teach the classifier wrong classes, and with tied codes the
    classifier did as well without it (benchmarks/GENERATORS.md).

    `balance_weight` λ_B (None: 1 for free codes, 0 for tied ones, which are classes already)
    adds λ_B · KL(p̄ ‖ uniform) = λ_B · (log K − H(p̄)) to the generator's loss, p̄ the
    classifier's class posterior softmax(l) averaged over the coded fakes: free codes must then
    cover every class, where the MI term alone lets two codes settle on one class (CatGAN's
    marginal-entropy term, Springenberg 2016; benchmarks/GENERATORS.md). With it the codes of a
    batch are drawn stratified (each code equally often, from a random offset), so that a
    one-to-one code→class generator has a uniform p̄.

    `complement_share` (default 0.8): the first round(share · batch) rows of each generated batch
    have all codes 0 and are trained by feature matching alone, as in `ConditionalObjective`;
    the mutual-information and pair terms see the other rows only, and what users sample
    (`generation_inputs`) has none.

    `diversity_weight` (default 1; 0 turns it off): the mode-seeking term of
    `ComplementObjective` on the coded rows, which then come in pairs of one categorical code;
    distances of the discriminator's features over those of (z, c_cont).

    `critic_weight` (default 1; 0 turns it off) and `critic_hidden` (512, 256): the critic of
    `ComplementObjective` for the coded rows, the classifier's fakes then the complement rows.

    The `q` output holds the C categorical logits then the m means. Metrics: D side
    `loss_q_categorical`, `loss_q_continuous` (unweighted), `loss_q_labels` (tied, with a learned
    map), `loss_pairs` (unweighted) and `pair_weight` (current); G side
    `loss_feature_matching`, `loss_info` (λ-weighted L_MI), with λ_B `loss_balance`, with
    the mode-seeking term `loss_diversity` (unweighted), with the critic `loss_critic` (D side)
    and `loss_critic_realness` (unweighted). Measured: benchmarks/GENERATORS.md.
    """

    name = "infogan"
    label = "InfoGAN (free codes)"
    head_name = "q"
    harness_settings = {"vbn": True}
    variants = {"infogan-tied": ("InfoGAN (codes tied to labels)", {"tie_codes_to_labels": True})}
    metrics = (("code_accuracy", "InfoGAN code→class acc. (%)"),
               ("code_identity_accuracy", "code k ↦ class k (%)"))
    metric_note = ("InfoGAN code→class accuracy: agreement of the categorical code with the "
                   "classifier's label under the best one-to-one matching of codes to classes; "
                   "code k ↦ class k: without the matching (what tying codes to labels aims for).")
    grid_note = "InfoGAN: rows are the categorical code, columns sweep one continuous code."
    condition_key = "c_cat"

    def __init__(self, n_classes, latent_dim=100, n_categories=10, n_continuous=2,
                 categorical_weight=1.0, continuous_weight=0.5, feature_matching_weight=1.0,
                 tie_codes_to_labels=False, tie_weight=None, q_hidden=128,
                 q_categorical_input=None, pair_weight=0.0, pair_start=2000,
                 pair_ramp=2000, complement_share=0.8, balance_weight=None,
                 diversity_weight=1.0, critic_weight=1.0, critic_hidden=CRITIC_HIDDEN):
        super().__init__(n_classes, latent_dim)
        self.n_categories = int(n_categories)
        self.n_continuous = int(n_continuous)
        self.categorical_weight = float(categorical_weight)
        self.continuous_weight = float(continuous_weight)
        self.feature_matching_weight = float(feature_matching_weight)
        self.tie_codes_to_labels = bool(tie_codes_to_labels)
        self.tie_weight = self.categorical_weight if tie_weight is None else float(tie_weight)
        self.q_hidden = int(q_hidden)
        if q_categorical_input is None:
            q_categorical_input = "classifier" if self.tie_codes_to_labels else "class_logits"
        self.q_categorical_input = str(q_categorical_input)
        self.complement_share = check_share(complement_share)
        if balance_weight is None:
            balance_weight = 0.0 if self.tie_codes_to_labels else FREE_BALANCE_WEIGHT
        self.balance_weight = float(balance_weight)
        self._check_diversity(diversity_weight)
        self._check_critic(critic_weight, critic_hidden)
        self._check()
        self.pairs = PairTerm.of(pair_weight, pair_start, pair_ramp)

    def _check(self):
        if self.q_categorical_input not in Q_CATEGORICAL_INPUTS:
            raise ValueError(f"q_categorical_input must be one of {Q_CATEGORICAL_INPUTS}, got "
                             f"{self.q_categorical_input!r}.")
        if self.q_hidden < 0:
            raise ValueError(f"q_hidden must be ≥ 0 (0: a linear Q head), got {self.q_hidden}.")
        if self.n_categories < 2 or self.n_continuous < 0:
            raise ValueError("InfoGAN needs n_categories ≥ 2 and n_continuous ≥ 0, got "
                             f"{self.n_categories} and {self.n_continuous}.")
        for needs, asked in (("tie_codes_to_labels", self.tie_codes_to_labels),
                             ("q_categorical_input='classifier'",
                              self.q_categorical_input == "classifier")):
            if asked and self.n_categories != self.n_classes:
                raise ValueError(f"{needs} needs n_categories == n_classes "
                                 f"({self.n_categories} != {self.n_classes}).")
        for option in ("categorical_weight", "continuous_weight", "feature_matching_weight",
                       "tie_weight", "balance_weight"):
            if getattr(self, option) < 0:
                raise ValueError(f"{option} must be ≥ 0, got {getattr(self, option)}.")

    @property
    def condition_dims(self):
        dims = {"c_cat": self.n_categories}
        if self.n_continuous:
            dims["c_cont"] = self.n_continuous
        return dims

    def discriminator_heads(self, features, logits, inputs=None):
        return {**super().discriminator_heads(features, logits, inputs),
                **self._q_heads(features, logits)}

    def _q_heads(self, features, logits):
        if self.q_categorical_input == "features":
            return {self.head_name: self._q_on_features(
                features, self.n_categories + self.n_continuous, "q_output")}
        # One map applied twice: `q` lets the generator's loss reach G through the classifier;
        # `q_stopped`, for the discriminator's loss, trains the map but not the classifier (an MI
        # gradient into the class logits would teach it to classify fakes as their codes' classes).
        if self.q_categorical_input == "classifier":
            categorical = keras.layers.Identity(name="q_categorical")(logits)
            stopped = ssgan_layers.StopGradient(name="q_stop_gradient")(logits)
        else:
            log_posterior = keras.layers.Activation("log_softmax", name="q_log_posterior")(logits)
            mapping = keras.layers.Dense(self.n_categories, name="q_categorical")
            categorical = mapping(log_posterior)
            stopped = mapping(ssgan_layers.StopGradient(name="q_stop_gradient")(log_posterior))
        if not self.n_continuous:
            return {self.head_name: categorical, "q_stopped": stopped}
        continuous = self._q_on_features(features, self.n_continuous, "q_continuous")
        return {
            self.head_name: keras.layers.Concatenate(name="q")([categorical, continuous]),
            "q_stopped": keras.layers.Concatenate(name="q_with_stopped_categorical")(
                [stopped, continuous]
            ),
        }

    def _q_on_features(self, features, units, name):
        h = features
        if self.q_hidden:
            h = keras.layers.Dense(self.q_hidden, name="q_hidden")(h)
            h = keras.layers.LeakyReLU(0.1, name="q_lrelu")(h)
        return keras.layers.Dense(units, name=name)(h)

    def _discriminator_q(self, outputs):
        """Q's output for the discriminator's loss (the categorical part's gradient stopped at
        the class logits when Q reads them)."""
        return outputs.get("q_stopped", outputs[self.head_name])

    def split_q(self, q):
        """Q head output → (categorical logits (N, C), continuous means (N, m))."""
        return q[:, : self.n_categories], q[:, self.n_categories :]

    def _draw(self, seed_generator, batch_size, free):
        """Inputs of a batch whose first `free` rows have all codes 0, and the others' codes."""
        z = uniform_latent(seed_generator, batch_size, self.latent_dim)
        n = batch_size - free
        pairs = self._pairs(n)  # rows n − pairs + i repeat row i's categorical code
        if self.balance_weight:
            offset = keras.random.randint((), 0, self.n_categories, seed=seed_generator)
            c_cat = (ops.arange(n - pairs, dtype="int32") + offset) % self.n_categories
        else:
            c_cat = keras.random.randint((n - pairs,), 0, self.n_categories, seed=seed_generator)
        c_cat = paired_rows(c_cat, pairs)
        codes = [ops.one_hot(c_cat, self.n_categories)]
        latent = {"c_cat": c_cat}
        varied = [z[free:]]
        if self.n_continuous:
            c_cont = keras.random.uniform((n, self.n_continuous), -1.0, 1.0, seed=seed_generator)
            codes.append(c_cont)
            latent["c_cont"] = c_cont
            varied.append(c_cont)
        if pairs:
            latent["varied"] = ops.concatenate(varied, axis=1)
        return [z, *(with_complement_rows(c, free) for c in codes)], latent

    def mutual_information_loss(self, q, latent):
        """(λ-weighted L_MI, unweighted categorical CE, unweighted Gaussian NLL) of the Q head's
        output `q` against the codes in `latent` (the rows made with codes)."""
        logits, means = self.split_q(conditioned_rows(q, latent["c_cat"]))
        categorical = categorical_cross_entropy(logits, latent["c_cat"])
        if self.n_continuous:
            continuous = gaussian_negative_log_likelihood(means, latent["c_cont"])
        else:
            continuous = ops.zeros(())
        total = self.categorical_weight * categorical + self.continuous_weight * continuous
        return total, categorical, continuous

    def pair_targets(self, logits, codes):
        """The class each generated image stands for: its code when codes are tied to labels,
        else the class the discriminator gives its code on this batch (`code_classes`)."""
        if self.tie_codes_to_labels:
            return codes
        return ops.take(code_classes(logits, codes, self.n_categories), codes, axis=0)

    def discriminator_loss(self, fake_outputs, latent, labeled_outputs, labels, step=None,
                           unlabeled_outputs=None):
        loss, categorical, continuous = self.mutual_information_loss(
            self._discriminator_q(fake_outputs), latent
        )
        critic, metrics = self.critic_discriminator_loss(fake_outputs, unlabeled_outputs, latent)
        loss = loss + critic
        metrics.update({"loss_q_categorical": categorical, "loss_q_continuous": continuous})
        # With Q = the classifier the tie has no parameter to train (the supervised loss is it).
        if self.tie_codes_to_labels and self.q_categorical_input != "classifier":
            logits, _ = self.split_q(self._discriminator_q(labeled_outputs))
            tie = categorical_cross_entropy(logits, labels)
            loss = loss + self.tie_weight * tie
            metrics["loss_q_labels"] = tie
        if self.pairs.weight:
            logits = conditioned_rows(fake_outputs["logits"], latent["c_cat"])
            pairs, pair_metrics = self.pairs.loss(
                logits, self.pair_targets(logits, latent["c_cat"]), step)
            loss = loss + pairs
            metrics.update(pair_metrics)
        return loss, metrics

    def generator_loss(self, fake_outputs, real_outputs, latent):
        fm = match_features(fake_outputs, real_outputs)
        info, _, _ = self.mutual_information_loss(fake_outputs[self.head_name], latent)
        diversity, metrics = self.diversity_loss(fake_outputs, latent, latent["c_cat"])
        critic, critic_metrics = self.critic_generator_loss(fake_outputs, latent)
        metrics.update(critic_metrics)
        loss = self.feature_matching_weight * fm + info + diversity + critic
        metrics.update({"loss_feature_matching": fm, "loss_info": info})
        if self.balance_weight:
            balance = class_imbalance(conditioned_rows(fake_outputs["logits"], latent["c_cat"]))
            loss = loss + self.balance_weight * balance
            metrics["loss_balance"] = balance
        return loss, metrics

    def class_inputs(self, labels, seed=0):
        # Free codes find classes of their own (which code is which class is only known after
        # training, by matching); tied codes are the classes.
        return self.inputs_for(labels, seed=seed) if self.tie_codes_to_labels else None

    def inputs_for(self, categories, continuous=None, seed=0):
        """Generator inputs [z, one_hot(c_cat), c_cont] for the codes `categories` (integers in
        [0, C)); `continuous` (N, m) defaults to draws from U(−1, 1)."""
        categories = np.asarray(categories, dtype="int64").reshape(-1)
        n = len(categories)
        rng = np.random.default_rng(seed)
        inputs = [uniform_z(rng, n, self.latent_dim), one_hot(categories, self.n_categories)]
        if self.n_continuous:
            if continuous is None:
                continuous = rng.uniform(-1.0, 1.0, size=(n, self.n_continuous))
            continuous = np.asarray(continuous, dtype="float32").reshape(n, self.n_continuous)
            inputs.append(continuous)
        return inputs

    def grid_inputs(self, continuous_index=0, values=None, seed=0):
        """A C × len(`values`) grid: row k sets the categorical code to k, column j sets the
        continuous code `continuous_index` to values[j] (default 10 values from −2 to 2, beyond
        the training range ±1, as in the paper's Figure 2); z is one draw for the whole grid and
        the other continuous codes are 0."""
        if not 0 <= continuous_index < self.n_continuous:
            raise ValueError(f"continuous_index must be in [0, {self.n_continuous}), got "
                             f"{continuous_index}.")
        values = np.linspace(-2.0, 2.0, 10) if values is None else np.asarray(values, "float32")
        columns = len(values)
        n = self.n_categories * columns
        z = uniform_z(np.random.default_rng(seed), 1, self.latent_dim)
        continuous = np.zeros((n, self.n_continuous), dtype="float32")
        continuous[:, continuous_index] = np.tile(values, self.n_categories)
        categories = np.repeat(np.arange(self.n_categories), columns)
        return [np.repeat(z, n, axis=0), one_hot(categories, self.n_categories), continuous]

    def grids(self, seed=0):
        """`infogan_c<j>.png` per continuous code j: rows are the categorical code, columns sweep
        code j from −2 to 2, z and the other codes fixed."""
        values = np.linspace(-2.0, 2.0, 10)
        rows = [str(k) for k in range(self.n_categories)]
        columns = [f"{v:+.1f}" for v in values]
        return [Grid(f"infogan_c{j + 1}.png", self.grid_inputs(j, values, seed=seed),
                     self.n_categories, len(values), rows, columns)
                for j in range(self.n_continuous)]

    def quality_metrics(self, generate, classify, n, seed=0):
        """`code_accuracy` (best one-to-one code→class matching), `code_mapping` and
        `code_identity_accuracy` (code k ↦ class k), n / C samples per code."""
        from ssgan.metrics import matching_accuracy

        codes = np.repeat(np.arange(self.n_categories), max(n // self.n_classes, 1))
        predicted = classify(generate(self.inputs_for(codes, seed=seed)))
        accuracy, mapping = matching_accuracy(codes, predicted, self.n_categories, self.n_classes)
        identity = (float(np.mean(predicted == codes)) if self.n_categories == self.n_classes
                    else float("nan"))
        return {"code_accuracy": accuracy, "code_mapping": mapping,
                "code_identity_accuracy": identity}


def code_classes(logits, codes, n_codes):
    """The class the discriminator gives each of `n_codes` codes on a batch: the arg-max of the
    class posterior softmax(`logits`) summed over the rows of that code (held constant)."""
    posterior = ops.softmax(ops.stop_gradient(logits), axis=-1)
    votes = ops.matmul(ops.transpose(ops.one_hot(codes, n_codes)), posterior)
    return ops.argmax(votes, axis=-1)


def class_imbalance(logits):
    """KL(p̄ ‖ uniform) = log K − H(p̄) of the class posterior softmax(`logits`) averaged over the
    rows: 0 when the rows cover the K classes evenly, log K when they all show one class."""
    marginal = ops.mean(ops.softmax(logits, axis=-1), axis=0)
    n_classes = ops.shape(logits)[-1]
    return ops.sum(marginal * ops.log(marginal * n_classes + 1e-12))
