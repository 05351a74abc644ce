"""What the generator is trained for, and what it needs from the discriminator.

A generator objective says how to sample the generator's inputs, which extra discriminator heads
it needs, and which loss terms it adds to each player. `ssgan.training` calls these inside the
compiled step, so every method is a pure function of tensors written with `keras.ops`.

Three objectives are registered in `OBJECTIVES` (`--generator NAME` of `ssgan.fit`):

* "feature-matching" — the plain Improved-GAN generator G(z) (Salimans et al. 2016, §3.1);
* "cgan" — a class-conditional generator G(z, y) whose fakes the K-way classifier of the
  discriminator must recognise as the requested class y (`ConditionalObjective`);
* "infogan" — G(z, c) with a 10-way categorical code and two continuous codes whose mutual
  information with the image a Q head on the discriminator maximizes (Chen et al. 2016;
  `InfoGANObjective`; Q reads the categorical code from the class logits by default).

Besides the training-time interface (`condition_dims`, `discriminator_heads`, `sample`,
`discriminator_loss`, `generator_loss`) every objective offers NumPy helpers for evaluation:
`grid_inputs(...)` (the generator inputs of its sample grid, see `ssgan.grids`) and
`inputs_for(...)` (generator inputs for given conditions, see `ssgan.metrics`). Their latent noise
z is drawn like `sample` draws it (U(0, 1)^d), from a NumPy generator seeded by `seed`.
"""

import keras
import numpy as np
from keras import ops

from ssgan import layers as ssgan_layers
from ssgan.losses import feature_matching_loss

# What Q's categorical logits read: the discriminator's feature layer (InfoGAN's Q) or its K
# class logits (through a learned linear map; see InfoGANObjective).
Q_CATEGORICAL_INPUTS = ("features", "class_logits")


def _uniform_z(rng, n, latent_dim):
    return rng.uniform(0.0, 1.0, size=(n, latent_dim)).astype("float32")


def _one_hot(indices, depth):
    indices = np.asarray(indices, dtype="int64")
    if indices.size and (indices.min() < 0 or indices.max() >= depth):
        raise ValueError(f"Indices must lie in [0, {depth}), got {indices.min()}..{indices.max()}.")
    return np.eye(depth, dtype="float32")[indices]


def categorical_cross_entropy(logits, labels):
    """mean_i [logsumexp(l_i) − l_i,y_i]: cross-entropy of softmax(logits) against integer
    labels."""
    labels = ops.cast(labels, "int32")
    target = ops.take_along_axis(logits, labels[:, None], axis=-1)[:, 0]
    return ops.mean(ops.logsumexp(logits, axis=-1) - target)


def gaussian_negative_log_likelihood(means, values):
    """mean_i Σ_j (c_ij − μ_ij)² / 2: the negative log-likelihood of `values` under N(μ, 1) per
    dimension, up to the constant ½·log(2π) per dimension (dropped: it has no gradient)."""
    return ops.mean(ops.sum(0.5 * ops.square(ops.cast(values, means.dtype) - means), axis=-1))


def _accuracy(logits, labels):
    predicted = ops.argmax(logits, axis=-1)
    return ops.mean(ops.cast(ops.equal(predicted, ops.cast(labels, predicted.dtype)), "float32"))


class FeatureMatchingObjective:
    """The plain Improved-GAN generator: z ~ U(0, 1)^d, trained by feature matching (§3.1).

    The generator matches the batch mean of the discriminator's `features` layer on real unlabeled
    data; it adds no term to the discriminator's loss.
    """

    name = "feature-matching"

    def __init__(self, n_classes, latent_dim=100):
        self.n_classes = int(n_classes)
        self.latent_dim = int(latent_dim)

    @property
    def condition_dims(self):
        """Generator inputs besides z, by name and width."""
        return {}

    def discriminator_heads(self, features, logits):
        """Extra discriminator outputs, by name, built on its `features` and class `logits`
        (symbolic tensors of the functional model)."""
        return {}

    def sample(self, seed_generator, batch_size):
        """Generator inputs for one batch, and what the losses need to know about them."""
        z = keras.random.uniform((batch_size, self.latent_dim), seed=seed_generator)
        return z, {}

    def discriminator_loss(self, fake_outputs, latent, labeled_outputs, labels):
        """Terms added to the discriminator's loss, and metrics to report."""
        return ops.zeros(()), {}

    def generator_loss(self, fake_outputs, real_outputs, latent):
        """The generator's loss, and metrics to report."""
        loss = feature_matching_loss(
            ops.stop_gradient(real_outputs["features"]), fake_outputs["features"]
        )
        return loss, {}

    # ------------------------------------------------------------- evaluation helpers (NumPy)

    def inputs_for(self, n, seed=0):
        """Generator inputs of `n` samples: z ~ U(0, 1)^d."""
        return _uniform_z(np.random.default_rng(seed), int(n), self.latent_dim)

    def grid_inputs(self, n=100, seed=0):
        """The random sample grid's generator inputs."""
        return self.inputs_for(n, seed=seed)


class ConditionalObjective(FeatureMatchingObjective):
    """CGAN: a class-conditional generator G(z, y) taught by the discriminator's own classifier.

    Inputs: z ~ U(0, 1)^d and y one-hot over the K classes (`condition_dims == {"y": K}`); during
    training the requested class of every fake is drawn uniformly, y ~ U{0, …, K−1}.

    Generator loss, with l(x) ∈ R^K the discriminator's class logits and f(x) its feature layer:

        L_G = w_fm · ‖E_x f(x) − E_{z,y} f(G(z, y))‖²  (feature matching, as the plain generator)
            + λ_class · E_{z,y} [ log Σ_k exp l_k(G(z, y)) − l_y(G(z, y)) ]

    The second term is the cross-entropy of the K-way softmax of l(G(z, y)) (the class posterior
    p(y | x, real), over the K real classes only) against the requested y.

    Why this does not fight the K+1 objective: write the logits as l = s·1 + log p with
    s = log Z = logsumexp(l) and p = softmax(l). The map l ↦ (s, p) is a bijection from R^K onto
    R × (interior of the simplex), and the two objectives depend on different coordinates:

        D(x) = p(real | x) = Z / (Z + 1) = sigmoid(s)   depends on s only;
        softmax(l)_y = exp(l_y − s)                       is invariant to l → l + c·1: p only.

    So the discriminator can push s(G(z, y)) down (call the fake fake) while the generator pulls
    p(G(z, y)) towards e_y (make it look like class y); every pair (s, p) is reachable, so the
    optima of the two objectives are compatible, and the class term gives the generator no
    incentive to change how real the discriminator thinks its fakes are (that is feature
    matching's job). Realism comes from feature matching, class identity from the classifier.
    (The separation is exact in logit space; through the shared network, a change of the image
    can still move both coordinates, but neither objective asks for a particular s.)

    What it costs the classifier, measured (MNIST, 100 labels, seed 0, VBN, on a CPU): after 10
    epochs, test error 20.7 % against 2.9 % with the plain generator (the "full" recipe), while
    the samples are better (MNIST-FID 5.8 against 15.3) and 91.5 % of them show the requested
    class; after 25 epochs the classifier is back to 14.5 % (and falling) and 96.8 % of the
    samples show their class (FID 2.2; `benchmarks/results/cpu-cgan-25-epochs/`). The fake
    term softplus(s) has ∂s/∂l_k = p_k, so on fakes that look like class y (what the class term
    asks for) the discriminator lowers l_y alone: it learns that class y is unlikely where class y's best
    examples are. A conditional generator that succeeds makes "good" samples, and a K+1
    discriminator trained to reject good samples is a worse classifier (Dai et al. 2017, "Good
    semi-supervised learning that requires a bad GAN"). Raising `class_weight` to 3 changed
    nothing (91.1 %, 24.4 %); the AC-GAN term (`discriminator_class_weight=1`) made both worse
    (36 %, 55 %): early fakes teach the classifier wrong classes.

    Discriminator: by default (`discriminator_class_weight=0`) nothing is added — the
    discriminator's loss is exactly the Improved-GAN one (supervised cross-entropy on labeled data
    + the K+1 real/fake loss, in which fakes are fake), so the semi-supervised classifier is the
    same as with the plain generator, and it never learns classes from generated images: early in
    training the fakes do not look like their requested class, and teaching the classifier that
    they are would feed the generator's mistakes back into the classifier that is being
    evaluated. `discriminator_class_weight = λ_D > 0` adds the AC-GAN-style term (Odena et al.
    2017) λ_D · E[log Z(G(z, y)) − l_y(G(z, y))] to the discriminator (gradients reach D only:
    the fakes are constants in D's step); by the argument above it does not contradict "fake".

    Metrics: `loss_feature_matching`, `loss_class` (the unweighted class cross-entropy of the
    generator's fakes) and `fake_class_accuracy` (share of fakes whose arg-max class is y);
    with λ_D > 0 also `loss_d_fake_class`.
    """

    name = "cgan"

    def __init__(self, n_classes, latent_dim=100, class_weight=1.0, feature_matching_weight=1.0,
                 discriminator_class_weight=0.0):
        super().__init__(n_classes, latent_dim)
        self.class_weight = float(class_weight)
        self.feature_matching_weight = float(feature_matching_weight)
        self.discriminator_class_weight = float(discriminator_class_weight)
        for option in ("class_weight", "feature_matching_weight", "discriminator_class_weight"):
            if getattr(self, option) < 0:
                raise ValueError(f"{option} must be ≥ 0, got {getattr(self, option)}.")

    @property
    def condition_dims(self):
        return {"y": self.n_classes}

    def sample(self, seed_generator, batch_size):
        z = keras.random.uniform((batch_size, self.latent_dim), seed=seed_generator)
        y = keras.random.randint((batch_size,), 0, self.n_classes, seed=seed_generator)
        return [z, ops.one_hot(y, self.n_classes)], {"y": y}

    def discriminator_loss(self, fake_outputs, latent, labeled_outputs, labels):
        if self.discriminator_class_weight == 0:
            return ops.zeros(()), {}
        loss = categorical_cross_entropy(fake_outputs["logits"], latent["y"])
        return self.discriminator_class_weight * loss, {"loss_d_fake_class": loss}

    def generator_loss(self, fake_outputs, real_outputs, latent):
        fm = feature_matching_loss(
            ops.stop_gradient(real_outputs["features"]), fake_outputs["features"]
        )
        class_loss = categorical_cross_entropy(fake_outputs["logits"], latent["y"])
        loss = self.feature_matching_weight * fm + self.class_weight * class_loss
        return loss, {
            "loss_feature_matching": fm,
            "loss_class": class_loss,
            "fake_class_accuracy": _accuracy(fake_outputs["logits"], latent["y"]),
        }

    def inputs_for(self, labels, seed=0):
        """Generator inputs [z, one_hot(y)] for the classes `labels` (integers in [0, K))."""
        labels = np.asarray(labels, dtype="int64").reshape(-1)
        z = _uniform_z(np.random.default_rng(seed), len(labels), self.latent_dim)
        return [z, _one_hot(labels, self.n_classes)]

    def grid_inputs(self, per_class=10, seed=0):
        """A K × `per_class` grid: row k requests class k; column j uses the same z in every row,
        so a column shows one "style" across the classes."""
        rng = np.random.default_rng(seed)
        z = _uniform_z(rng, per_class, self.latent_dim)
        labels = np.repeat(np.arange(self.n_classes), per_class)
        return [np.tile(z, (self.n_classes, 1)), _one_hot(labels, self.n_classes)]


class InfoGANObjective(FeatureMatchingObjective):
    """InfoGAN (Chen et al. 2016) on top of the semi-supervised discriminator.

    Inputs: z ~ U(0, 1)^d, a categorical code c_cat ~ U{0, …, C−1} given one-hot (C =
    `n_categories`, 10) and continuous codes c_cont ~ U(−1, 1)^m (m = `n_continuous`, 2): the
    paper's MNIST set-up. `condition_dims == {"c_cat": C, "c_cont": m}`.

    Q shares the discriminator's body. Its continuous part is a head on the feature layer,
    dense(`q_hidden`) → leaky ReLU(0.1) → dense(m): the means μ of a unit-variance Gaussian
    Q(c_cont | x) = N(μ(x), I) (`q_hidden=0`: linear on the features). Its categorical logits
    depend on `q_categorical_input`:

    * "class_logits" (default): W · log softmax(l(x)) + b, a learned linear map of the
      discriminator's class log-posterior. The code stays free, since no label says which class
      a code stands for (W learns the matching), but Q can read a code only from the class the
      classifier sees in an image, so the code must capture class rather than style. The
      discriminator's loss trains W alone (the gradient stops at the class logits); the
      generator's loss reaches G through the classifier, as CGAN's class term does, and costs
      the classifier as CGAN's does. Measured on a 2-core CPU (seed 0, 100 labels): code→class
      accuracy 85.7 % after 10 epochs and 97.1 % after 25 (each code one digit; the two
      continuous codes took thickness and slant), against 52.5-63 % after 10 and 66.4 % after
      25 with Q on the features; test error 14.9 % after 25 (the price, as with CGAN);
      `benchmarks/results/cpu-infogan-class-logits-25-epochs/`.
    * "features": InfoGAN's own Q, the same head as the continuous part giving C + m outputs.
      Which factor the code captures (class, or width or slant) is then left to chance.

    The `q` output holds the C categorical logits then the m means.

    The variational lower bound of the mutual information (Chen et al. 2016, section "Variational
    Mutual Information Maximization"),

        I(c; G(z, c)) ≥ L_I = H(c) + E_{c, x=G(z,c)} [log Q(c | x)],

    with H(c) a constant, is maximized through the loss

        L_MI = λ_cat · E[ log Σ_k exp q_k(x) − q_{c_cat}(x) ]            (categorical CE)
             + λ_cont · E[ Σ_j (c_cont,j − μ_j(x))² / 2 ]                 (Gaussian NLL, σ = 1)

    i.e. the λ-weighted −E log Q(c | x) without the Gaussian's normalizing constant
    m·½·log(2π) ≈ 0.919·m nats (dropped: no gradient); then L_I = H(c) − (unweighted L_MI) −
    m·½·log(2π), where H(c) = log C + m·log 2 for these uniform codes. A fixed σ = 1 (as the
    InfoGAN code's fixed-std continuous codes) keeps the continuous term bounded below, where a
    learned σ could shrink without limit. λ_cat = `categorical_weight` (default 1, the paper's
    value for discrete codes, section "Implementation"); λ_cont = `continuous_weight` (default
    0.5: the paper takes a smaller λ for continuous codes so that λ·L_I stays on the scale of the
    GAN loss).

    Both players minimize L_MI on the fakes (the paper's min_{G,Q} V(D, G) − λ·L_I):

        L_G = w_fm · (feature matching) + L_MI(G(z, c))          (gradients reach G)
        D/Q: added to the discriminator's loss, L_MI(stop_gradient(G(z, c)))  (reach Q and the
             shared body)

    `tie_codes_to_labels=True` (needs C == K) also ties the categorical code to the classes:
    the discriminator's loss gets λ_tie · E_{(x, y) labeled} [CE(q(x)_{:C}, y)], so that on real
    labeled images Q's categorical logits predict the class; G then learns code k ↦ class k
    (instead of an arbitrary permutation of digits, or a code for some other factor such as
    style). λ_tie = `tie_weight` (default: λ_cat).

    Metrics: D side `loss_q_categorical`, `loss_q_continuous` (unweighted, on the fakes) and
    `loss_q_labels` (tied only); G side `loss_feature_matching`, `loss_info` (λ-weighted L_MI).
    """

    name = "infogan"
    head_name = "q"

    def __init__(self, n_classes, latent_dim=100, n_categories=10, n_continuous=2,
                 categorical_weight=1.0, continuous_weight=0.5, feature_matching_weight=1.0,
                 tie_codes_to_labels=False, tie_weight=None, q_hidden=128,
                 q_categorical_input="class_logits"):
        super().__init__(n_classes, latent_dim)
        self.n_categories = int(n_categories)
        self.n_continuous = int(n_continuous)
        self.categorical_weight = float(categorical_weight)
        self.continuous_weight = float(continuous_weight)
        self.feature_matching_weight = float(feature_matching_weight)
        self.tie_codes_to_labels = bool(tie_codes_to_labels)
        self.tie_weight = self.categorical_weight if tie_weight is None else float(tie_weight)
        self.q_hidden = int(q_hidden)
        self.q_categorical_input = str(q_categorical_input)
        if self.q_categorical_input not in Q_CATEGORICAL_INPUTS:
            raise ValueError(f"q_categorical_input must be one of {Q_CATEGORICAL_INPUTS}, got "
                             f"{q_categorical_input!r}.")
        if self.q_hidden < 0:
            raise ValueError(f"q_hidden must be ≥ 0 (0: a linear Q head), got {self.q_hidden}.")
        if self.n_categories < 2 or self.n_continuous < 0:
            raise ValueError("InfoGAN needs n_categories ≥ 2 and n_continuous ≥ 0, got "
                             f"{self.n_categories} and {self.n_continuous}.")
        if self.tie_codes_to_labels and self.n_categories != self.n_classes:
            raise ValueError(f"tie_codes_to_labels needs n_categories == n_classes "
                             f"({self.n_categories} != {self.n_classes}).")
        for option in ("categorical_weight", "continuous_weight", "feature_matching_weight",
                       "tie_weight"):
            if getattr(self, option) < 0:
                raise ValueError(f"{option} must be ≥ 0, got {getattr(self, option)}.")

    @property
    def condition_dims(self):
        dims = {"c_cat": self.n_categories}
        if self.n_continuous:
            dims["c_cont"] = self.n_continuous
        return dims

    def discriminator_heads(self, features, logits):
        if self.q_categorical_input == "features":
            return {self.head_name: self._q_on_features(
                features, self.n_categories + self.n_continuous, "q_output")}
        # Q's categorical logits are a learned linear map of the class log-posterior. The same
        # layer is applied twice: `q` lets the generator's loss reach G through the classifier;
        # `q_stopped`, for the discriminator's loss, trains the map but not the classifier (an
        # MI gradient into the class logits would teach it to classify fakes as codes' classes,
        # the AC-GAN term that costs the classifier; see ConditionalObjective).
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

    def sample(self, seed_generator, batch_size):
        z = keras.random.uniform((batch_size, self.latent_dim), seed=seed_generator)
        c_cat = keras.random.randint((batch_size,), 0, self.n_categories, seed=seed_generator)
        inputs = [z, ops.one_hot(c_cat, self.n_categories)]
        latent = {"c_cat": c_cat}
        if self.n_continuous:
            c_cont = keras.random.uniform(
                (batch_size, self.n_continuous), -1.0, 1.0, seed=seed_generator
            )
            inputs.append(c_cont)
            latent["c_cont"] = c_cont
        return inputs, latent

    def mutual_information_loss(self, q, latent):
        """(λ-weighted L_MI, unweighted categorical CE, unweighted Gaussian NLL) of the Q head's
        output `q` against the codes in `latent`."""
        logits, means = self.split_q(q)
        categorical = categorical_cross_entropy(logits, latent["c_cat"])
        if self.n_continuous:
            continuous = gaussian_negative_log_likelihood(means, latent["c_cont"])
        else:
            continuous = ops.zeros(())
        total = self.categorical_weight * categorical + self.continuous_weight * continuous
        return total, categorical, continuous

    def discriminator_loss(self, fake_outputs, latent, labeled_outputs, labels):
        loss, categorical, continuous = self.mutual_information_loss(
            self._discriminator_q(fake_outputs), latent
        )
        metrics = {"loss_q_categorical": categorical, "loss_q_continuous": continuous}
        if self.tie_codes_to_labels:
            logits, _ = self.split_q(self._discriminator_q(labeled_outputs))
            tie = categorical_cross_entropy(logits, labels)
            loss = loss + self.tie_weight * tie
            metrics["loss_q_labels"] = tie
        return loss, metrics

    def generator_loss(self, fake_outputs, real_outputs, latent):
        fm = feature_matching_loss(
            ops.stop_gradient(real_outputs["features"]), fake_outputs["features"]
        )
        info, _, _ = self.mutual_information_loss(fake_outputs[self.head_name], latent)
        loss = self.feature_matching_weight * fm + info
        return loss, {"loss_feature_matching": fm, "loss_info": info}

    def inputs_for(self, categories, continuous=None, seed=0):
        """Generator inputs [z, one_hot(c_cat), c_cont] for the codes `categories` (integers in
        [0, C)); `continuous` (N, m) defaults to draws from U(−1, 1)."""
        categories = np.asarray(categories, dtype="int64").reshape(-1)
        n = len(categories)
        rng = np.random.default_rng(seed)
        inputs = [_uniform_z(rng, n, self.latent_dim), _one_hot(categories, self.n_categories)]
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
        z = _uniform_z(np.random.default_rng(seed), 1, self.latent_dim)
        continuous = np.zeros((n, self.n_continuous), dtype="float32")
        continuous[:, continuous_index] = np.tile(values, self.n_categories)
        categories = np.repeat(np.arange(self.n_categories), columns)
        return [np.repeat(z, n, axis=0), _one_hot(categories, self.n_categories), continuous]


OBJECTIVES = {
    objective.name: objective
    for objective in (FeatureMatchingObjective, ConditionalObjective, InfoGANObjective)
}


def make_objective(name, n_classes, latent_dim=100, **options):
    """The generator objective called `name` (see `OBJECTIVES`)."""
    if name not in OBJECTIVES:
        raise ValueError(
            f"Unknown generator {name!r}: expected one of {', '.join(sorted(OBJECTIVES))}."
        )
    return OBJECTIVES[name](n_classes, latent_dim=latent_dim, **options)


__all__ = [
    "OBJECTIVES",
    "ConditionalObjective",
    "FeatureMatchingObjective",
    "InfoGANObjective",
    "categorical_cross_entropy",
    "gaussian_negative_log_likelihood",
    "make_objective",
]
