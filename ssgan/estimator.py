"""`SSGANClassifier`: the Improved-GAN semi-supervised classifier as a scikit-learn estimator.

The estimator is a thin layer over `ssgan.train.SemiSupervisedGAN`: it validates the inputs
the scikit-learn way, splits `y` into labeled rows and the unlabeled marker -1, scales the features
into the generator's [0, 1] range, trains, and answers `predict`, `predict_proba` and
`decision_function` from the averaged discriminator. Keras models do not pickle, so a fitted
estimator pickles its models' weights and rebuilds them when unpickled.
"""

from numbers import Integral
from numbers import Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.base import ClassifierMixin
from sklearn.utils.validation import check_is_fitted
from sklearn.utils.validation import validate_data

from ssgan import estimator_data as rows
from ssgan.config import ESTIMATOR_RECIPES
from ssgan.estimator_parameters import CONFIG_PARAMETERS
from ssgan.estimator_parameters import SKLEARN_VALIDATES
from ssgan.estimator_parameters import parameter_constraints
from ssgan.estimator_parameters import parameter_docs
from ssgan.estimator_parameters import rows_parameter

__all__ = ["SSGANClassifier"]

_FLOAT_DTYPES = (np.float64, np.float32)


class SSGANClassifier(ClassifierMixin, BaseEstimator):
    """Semi-supervised GAN classifier (Improved-GAN, Salimans et al. 2016).

    A discriminator with K class logits (the "fake" class is an implicit K+1-th logit fixed at 0)
    is trained on the labeled rows with cross-entropy and on all rows to tell real data from the
    samples of a generator, which is trained at the same time (by default with feature matching).
    Learning what real data looks like from the unlabeled rows is what lets a few labels go far:
    the paper reaches ~99% test accuracy on MNIST with 100 labels.

    As in :mod:`sklearn.semi_supervised`, unlabeled rows are marked with the label -1 in `y`.
    **Every row of X is used as unlabeled data**, the labeled rows included, as the
    Improved-GAN code does; fitting with no -1 at all is therefore valid (all rows are labeled
    *and* form the unlabeled pool).

    The generator produces sigmoid outputs in [0, 1], so the estimator min-max scales every
    feature of X into [0, 1]: the minimum and maximum of each feature are taken over all rows
    passed to `fit` (labeled and unlabeled), and at prediction time scaled values are clipped to
    [0, 1]. A feature that is constant during `fit` maps to 0. Images need no preprocessing
    (each pixel is scaled by its own range; on MNIST this scored the same as one global range);
    a scaler in front of the estimator in a :class:`~sklearn.pipeline.Pipeline` is harmless.

    Training runs on the current Keras backend (TensorFlow or JAX).

    Parameters
    ----------
{parameters}
    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The labels found among the labeled rows (those whose label is not -1), sorted. Any
        labels NumPy can sort work, strings included (pass them in an object array, with the
        integer -1 for unlabeled rows). A class is known only through labeled examples, so every
        class in `classes_` has at least one.

    n_features_in_ : int
        Number of features seen during :term:`fit`.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during :term:`fit`. Defined only when `X` has feature names that
        are all strings.

    data_min_ : ndarray of shape (n_features_in_,)
        Per-feature minimum over all rows of X seen in `fit` (the 0 of the scaling).

    data_max_ : ndarray of shape (n_features_in_,)
        Per-feature maximum over all rows of X seen in `fit` (the 1 of the scaling).

    image_shape_ : tuple of int
        Shape of one example as the networks see it: `image_shape` (given or detected by
        "auto"; with a channel axis for an architecture on images, "conv"), or
        ``(n_features_in_,)`` for rows taken as vectors.

    config_ : ssgan.config.TrainingConfig
        The training configuration used, with every derived setting resolved (the seed, steps
        per epoch, learning-rate schedule, the generator's Adam, the moving-average rate).

    discriminator_ : keras.Model
        The trained discriminator, holding the moving-average weights that predict. Its
        ``"logits"`` output is `decision_function` on scaled inputs.

    generator_ : keras.Model
        The trained generator; see :meth:`generate`.

    history_ : list of dict
        Training metrics, one dict per epoch (losses, training error, seconds, ...).

    n_iter_ : int
        Epochs trained (fewer than `config_.epochs` when early stopping stopped).

    loss_curve_ : list of float
        The discriminator's loss at each epoch (mean over its steps): supervised
        cross-entropy + `unlabeled_weight` · real/fake loss.

    best_loss_ : float or None
        The smallest value of `loss_curve_`; None with `early_stopping`.

    validation_scores_ : list of float or None
        Accuracy on the held-out labeled rows after each epoch; None without `early_stopping`.

    best_validation_score_ : float or None
        The best of `validation_scores_`: the epoch whose weights are kept. None without
        `early_stopping`.

    See Also
    --------
    sklearn.semi_supervised.SelfTrainingClassifier : Self-training around a supervised classifier.
    sklearn.semi_supervised.LabelSpreading : Graph-based label spreading.

    Notes
    -----
    A fit compiles the training step for its data and configuration (a few seconds with XLA on
    a CPU) before training; predictions compile once per fitted estimator.

    `score` is plain accuracy against the `y` it is given, so an unlabeled row (-1) there counts
    as an error. To cross-validate on semi-supervised `y` (`GridSearchCV`, `cross_val_score`),
    score only the labeled rows of each fold, e.g. with the scorer
    ``lambda est, X, y: accuracy_score(y[y != -1], est.predict(X[y != -1]))``.

    A fitted estimator pickles (and `copy.deepcopy`-s) by value: the networks' weights are
    stored and the Keras models rebuilt on unpickling, giving identical predictions. The
    optimizer state is not kept: a fitted estimator predicts and generates, it does not resume
    training.

    References
    ----------
    Tim Salimans, Ian Goodfellow, Wojciech Zaremba, Vicki Cheung, Alec Radford and Xi Chen.
    "Improved Techniques for Training GANs". NeurIPS 2016. https://arxiv.org/abs/1606.03498

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import load_digits
    >>> from ssgan import SSGANClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> y_partial = np.copy(y)
    >>> rng = np.random.RandomState(0)
    >>> y_partial[rng.rand(len(y)) < 0.9] = -1          # keep ~10% of the labels
    >>> clf = SSGANClassifier(random_state=0)           # a minute or two on a CPU
    >>> clf.fit(X, y_partial)
    SSGANClassifier(random_state=0)
    >>> clf.predict_proba(X[:2]).shape
    (2, 10)
    >>> accuracy = clf.score(X, y)                      # against all true labels
    """

    _parameter_constraints: dict = parameter_constraints(lambda Interval, StrOptions: {
        "recipe": [StrOptions(set(ESTIMATOR_RECIPES))],
        "early_stopping": ["boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "image_shape": [StrOptions({"auto"}), tuple, list, None],
        "random_state": ["random_state"],
        "verbose": [Interval(Integral, 0, 2, closed="both"), "boolean"],
    })

    def __init__(
        self,
        *,
        recipe="auto",
        # the model
        architecture=None, image_shape="auto", discriminator_hidden=None, generator_hidden=None,
        latent_dim=None, minibatch_discrimination=None, vbn=None, input_shift=None,
        init_examples=None,
        # the generator objective
        generator=None, generator_options=None,
        # the optimizers
        learning_rate=None, beta_1=None, beta_2=None, adam_epsilon=None,
        generator_learning_rate=None, generator_beta_1=None, generator_steps=None,
        # the loss weights
        unlabeled_weight=None, label_smoothing=None, entropy_weight=None,
        consistency_weight=None, distribution_alignment=None, historical_averaging=None,
        # the schedule
        epochs=None, batch_size=None, steps_per_epoch=None, lr_decay_start=None, ema_rate=None,
        ema_debias=None, generator_ema=None,
        # early stopping
        early_stopping=False, validation_fraction=0.1, n_iter_no_change=10, tol=1e-4,
        # the run
        collapse_guard=None, matmul_precision=None, jit_compile=None, steps_per_call=None,
        random_state=None, verbose=0,
    ):
        # scikit-learn's convention: __init__ stores its arguments, unchanged and unchecked.
        for name, value in locals().items():
            if name != "self":
                setattr(self, name, value)

    # ------------------------------------------------------------------------------------ tags

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # Same int random_state and data -> same predictions (seeded weights, noise, latent
        # samples and batch order; the training step is deterministic on CPU).
        tags.non_deterministic = False
        tags.input_tags.sparse = False
        tags.input_tags.allow_nan = False
        # Semi-supervised: y is required (it says which rows are labeled: -1 marks the others),
        # one label per row, no multi-output or multi-label targets.
        tags.target_tags.required = True
        tags.target_tags.multi_output = False
        tags.target_tags.single_output = True
        tags.classifier_tags.multi_class = True
        tags.classifier_tags.multi_label = False
        # scikit-learn's "reasonable score" is 0.83 accuracy on 300 two-dimensional blobs. A GAN
        # trained for a few dozen steps on 300 rows does not reliably reach it (0.82 with the
        # default parameters); it is built for large unlabeled pools of high-dimensional data.
        tags.classifier_tags.poor_score = True
        return tags

    def __sklearn_is_fitted__(self):
        # The trained models, not just any attribute ending in "_": a fit that failed after
        # validating X leaves n_features_in_ behind, but no models.
        return "_trainer" in vars(self)

    # ---------------------------------------------------------------------------- validation

    def _check_names(self):
        # Looked up now, not at import: users may register their own kinds after importing ssgan.
        from ssgan.models import get_architecture
        from ssgan.objectives import get_objective

        get_architecture(self._setting("architecture"))
        get_objective(self._setting("generator"))

    def _setting(self, name):
        """Parameter `name`, or the recipe's value where it is None."""
        from ssgan.config import recipe_value

        value = getattr(self, name)
        return recipe_value(self.recipe, name) if value is None else value

    def _resolve_image_shape(self, X):
        """The shape of one example, and whether the rows are images ("auto" looks at X)."""
        from ssgan.models import get_architecture

        architecture = self._setting("architecture")
        given = self.image_shape
        if isinstance(given, str):  # "auto"
            given = rows.detected_image_shape(X)
        shape = rows.example_shape(architecture, get_architecture(architecture).layout, given,
                                   X.shape[1])
        return shape, given is not None

    # ---------------------------------------------------------------------------------- fit

    def fit(self, X, y):
        """Fit the discriminator and the generator on labeled and unlabeled rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            All training rows. Every row (labeled or not) is used as unlabeled data; features
            are min-max scaled into [0, 1] with the range found here.

        y : array-like of shape (n_samples,)
            Labels, with -1 for unlabeled rows. String labels must come in an object array
            (with the integer -1 for unlabeled rows), as in :mod:`sklearn.semi_supervised`.

        Returns
        -------
        self : SSGANClassifier
            The fitted estimator.
        """
        if SKLEARN_VALIDATES:
            self._validate_params()
        self._check_names()
        vars(self).pop("_trainer", None)  # a failed refit leaves the estimator unfitted
        X, y = validate_data(self, X, y, dtype=_FLOAT_DTYPES, reset=True)
        labeled, classes, y_encoded = rows.check_labels(y, type(self).__name__)
        image_shape, images = self._resolve_image_shape(X)
        seed = rows.training_seed(self.random_state)

        data_min = np.min(X, axis=0)
        data_max = np.max(X, axis=0)
        x_scaled = rows.scale(X, data_min, data_max)
        x_labeled = x_scaled[labeled]
        validation_data, callbacks = None, []
        if self.early_stopping:
            train, held = rows.validation_split(y_encoded, self.validation_fraction, seed)
            validation_data = (x_labeled[held], y_encoded[held])
            x_labeled, y_encoded = x_labeled[train], y_encoded[train]
            callbacks.append(self._early_stopping())

        config = self._config(seed, X.shape[1], len(X), images)
        trainer = self._build_trainer(image_shape, len(classes), config)
        trainer.fit(x_labeled, y_encoded, x_scaled, validation_data=validation_data,
                    callbacks=callbacks, verbose=int(self.verbose))

        self.classes_ = classes
        self.data_min_ = data_min
        self.data_max_ = data_max
        self.image_shape_ = image_shape
        self.config_ = trainer.resolved
        self._set_history(trainer.log)
        self._set_trainer(trainer)
        return self

    def _early_stopping(self):
        """Keras' `EarlyStopping` on the held-out rows' accuracy, keeping the best epoch's state
        (the moving average that predicts included)."""
        from keras.callbacks import EarlyStopping

        return EarlyStopping(monitor="test_accuracy", mode="max", min_delta=self.tol,
                             patience=self.n_iter_no_change, restore_best_weights=True)

    def _set_history(self, log):
        """`history_` and the `MLPClassifier`-style attributes from the trainer's epoch logs."""
        self.history_ = [dict(entry) for entry in log]
        self.n_iter_ = len(self.history_)
        weight = self.config_.unlabeled_weight
        self.loss_curve_ = [entry["loss_supervised"] + weight * entry["loss_unsupervised"]
                            for entry in self.history_]
        if self.early_stopping:
            self.validation_scores_ = [entry["test_accuracy"] for entry in self.history_]
            self.best_validation_score_ = max(self.validation_scores_)
            self.best_loss_ = None
        else:
            self.validation_scores_ = None
            self.best_validation_score_ = None
            self.best_loss_ = min(self.loss_curve_)

    def _config(self, seed, n_features, n_rows, images=False):
        """The `TrainingConfig` of this estimator's recipe and parameters, for data of
        `n_features` features and `n_rows` rows (`images`: rows taken for images), with the
        training `seed`."""
        from ssgan.config import TrainingConfig
        from ssgan.config import adapted_settings

        given = {name: getattr(self, name) for name in CONFIG_PARAMETERS}
        given["generator_options"] = dict(self.generator_options or {})
        if not images and self.input_shift is None:
            given["input_shift"] = 0  # the recipes' shift moves images; these rows are vectors
        values = adapted_settings(self.recipe, n_features, n_rows, **given)
        return TrainingConfig(**values, seed=seed)

    @staticmethod
    def _build_trainer(image_shape, n_classes, config):
        from ssgan.train import SemiSupervisedGAN
        from ssgan.util import global_random_state_preserved

        with global_random_state_preserved():
            return SemiSupervisedGAN(image_shape, n_classes, config)

    def _set_trainer(self, trainer):
        self._trainer = trainer
        self.discriminator_ = trainer.discriminator
        self.generator_ = trainer.generator

    # ----------------------------------------------------------------------------- predict

    def _logits(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, dtype=_FLOAT_DTYPES, reset=False)
        x_scaled = rows.scale(X, self.data_min_, self.data_max_)
        return np.asarray(self._trainer.predict_logits(x_scaled), dtype=np.float64)

    @rows_parameter
    def decision_function(self, X):
        """Class scores: the discriminator's logits of the real classes.

        {rows}

        Returns
        -------
        scores : ndarray of shape (n_samples, n_classes) or (n_samples,)
            The K class logits (the implicit "fake" logit is 0). With two classes, following
            scikit-learn's binary convention, the 1-D difference ``logit[1] - logit[0]``: the
            log-odds of `classes_[1]`, positive where it is predicted.
        """
        logits = self._logits(X)
        if logits.shape[1] == 2:
            return logits[:, 1] - logits[:, 0]
        return logits

    @rows_parameter
    def predict_proba(self, X):
        """Class probabilities: softmax over the K real-class logits (the fake class left out).

        {rows}

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Probabilities of the classes in `classes_` order; each row sums to 1.
        """
        logits = self._logits(X)
        logits -= logits.max(axis=1, keepdims=True)
        proba = np.exp(logits)
        proba /= proba.sum(axis=1, keepdims=True)
        return proba

    @rows_parameter
    def predict(self, X):
        """Predicted class of each row: the label of the largest logit.

        {rows}

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Labels from `classes_`.
        """
        logits = self._logits(X)  # first: it raises NotFittedError before fit
        return self.classes_[np.argmax(logits, axis=1)]

    def generate(self, n_samples=1, random_state=None):
        """Draw samples from the generator, in the units of X: ``sample(n_samples)[0]``.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples.

        random_state : int, RandomState instance or None, default=None
            Seeds the generator's input noise.

        Returns
        -------
        X_generated : ndarray of shape (n_samples, n_features_in_)
            Generated rows, scaled back from [0, 1] to each feature's range seen in `fit`.
        """
        return self.sample(n_samples, random_state=random_state)[0]

    def sample(self, n_samples=1, y=None, random_state=None):
        """Generate rows, of given classes where the generator takes a class.

        Parameters
        ----------
        n_samples : int, default=1
            Number of samples.

        y : label, array-like of shape (n_samples,) or None, default=None
            Classes (from `classes_`) of the samples: one for all, or one per sample. Needs a
            generator that takes a class (``generator="cgan"``, or ``"infogan"`` with
            ``generator_options={"tie_codes_to_labels": True}``). None: the generator's own
            draw (a conditional generator's classes or codes uniformly at random).

        random_state : int, RandomState instance or None, default=None
            Seeds the generator's input noise.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features_in_)
            Generated rows, scaled back from [0, 1] to each feature's range seen in `fit`.

        y : ndarray of shape (n_samples,)
            Their classes: `y` where given, else the classifier's predictions.
        """
        check_is_fitted(self)
        if not isinstance(n_samples, Integral) or n_samples < 1:
            raise ValueError(f"n_samples must be a positive int, got {n_samples!r}.")
        n = int(n_samples)
        labels = None if y is None else rows.class_indices(self.classes_, y, n)
        seed = rows.training_seed(random_state)
        samples = self._trainer.generate(n, seed=seed, labels=labels)
        X = rows.unscale(np.asarray(samples, dtype=np.float64).reshape(n, -1), self.data_min_,
                         self.data_max_)
        return X, (self.classes_[labels] if labels is not None else self.predict(X))

    # ------------------------------------------------------------------------------ pickle

    def __getstate__(self):
        state = dict(super().__getstate__())  # a copy: never drop attributes of self
        trainer = state.pop("_trainer", None)
        state.pop("discriminator_", None)
        state.pop("generator_", None)
        if trainer is not None:
            state["_model_weights"] = {
                "discriminator": [np.asarray(w) for w in trainer.discriminator.get_weights()],
                "generator": [np.asarray(w) for w in trainer.generator.get_weights()],
            }
        return state

    def __setstate__(self, state):
        state = dict(state)
        weights = state.pop("_model_weights", None)
        super().__setstate__(state)
        if weights is not None:
            trainer = self._build_trainer(self.image_shape_, len(self.classes_), self.config_)
            rows.assign_weights(trainer.discriminator, weights["discriminator"])
            rows.assign_weights(trainer.generator, weights["generator"])
            trainer.log = list(self.history_)
            trainer.epoch = self.config_.epochs
            self._set_trainer(trainer)


SSGANClassifier.__doc__ = SSGANClassifier.__doc__.replace(
    "{parameters}\n", parameter_docs(SSGANClassifier))
