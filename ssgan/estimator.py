"""`SSGANClassifier`: the Improved-GAN semi-supervised classifier as a scikit-learn estimator.

The estimator is a thin layer over `ssgan.train.SemiSupervisedGAN`: it validates the inputs
the scikit-learn way, splits `y` into labeled rows and the unlabeled marker -1, scales the features
into the generator's [0, 1] range, trains, and answers `predict`, `predict_proba` and
`decision_function` from the averaged discriminator. Keras models do not pickle, so a fitted
estimator pickles its models' weights and rebuilds them when unpickled.
"""

import math
from numbers import Integral

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.base import ClassifierMixin
from sklearn.utils import check_random_state

from ssgan.estimator_parameters import CONFIG_PARAMETERS
from ssgan.estimator_parameters import SKLEARN_VALIDATES
from ssgan.estimator_parameters import parameter_constraints
from ssgan.estimator_parameters import default as _default
from ssgan.estimator_parameters import parameter_docs
from ssgan.estimator_parameters import rows_parameter
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted
from sklearn.utils.validation import validate_data

__all__ = ["SSGANClassifier"]

# Training seeds are kept below this bound: the noise layers derive seeds as seed * 1009 + i,
# which must fit JAX's uint32 seeds, and NumPy's global seed must be below 2**32.
_MAX_SEED = 2**21

_FLOAT_DTYPES = (np.float64, np.float32)


def _assign_weights(model, arrays):
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
        Shape of one example as the networks see it: `image_shape` (with a channel axis) for
        an architecture on images ("conv"), ``(n_features_in_,)`` for one on flat rows ("mlp")
        unless `image_shape` was given.

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
    >>> clf = SSGANClassifier(discriminator_hidden=(200, 100), generator_hidden=(100,),
    ...                       epochs=10, batch_size=50, random_state=0)
    >>> clf.fit(X, y_partial)
    SSGANClassifier(...)
    >>> clf.predict_proba(X[:2]).shape
    (2, 10)
    >>> accuracy = clf.score(X, y)                      # about 0.96 against all true labels
    """

    _parameter_constraints: dict = parameter_constraints(lambda Interval: {
        "image_shape": [tuple, list, None],
        "random_state": ["random_state"],
        "verbose": [Interval(Integral, 0, 2, closed="both"), "boolean"],
    })

    def __init__(
        self,
        *,
        # the model
        architecture=_default("architecture"), image_shape=None,
        discriminator_hidden=_default("discriminator_hidden"),
        generator_hidden=_default("generator_hidden"), latent_dim=_default("latent_dim"),
        minibatch_discrimination=_default("minibatch_discrimination"), vbn=_default("vbn"),
        init_examples=_default("init_examples"),
        # the generator objective
        generator=_default("generator"), generator_options=None,
        # the optimizers
        learning_rate=_default("learning_rate"), beta_1=_default("beta_1"),
        beta_2=_default("beta_2"), adam_epsilon=_default("adam_epsilon"),
        generator_learning_rate=_default("generator_learning_rate"),
        generator_beta_1=_default("generator_beta_1"), generator_steps=_default("generator_steps"),
        # the loss weights
        unlabeled_weight=_default("unlabeled_weight"), label_smoothing=_default("label_smoothing"),
        historical_averaging=_default("historical_averaging"),
        # the schedule
        epochs=_default("epochs"), batch_size=_default("batch_size"),
        steps_per_epoch=_default("steps_per_epoch"), lr_decay_start=_default("lr_decay_start"),
        ema_rate=_default("ema_rate"), ema_debias=_default("ema_debias"),
        # the run
        matmul_precision=_default("matmul_precision"), jit_compile=_default("jit_compile"),
        steps_per_call=_default("steps_per_call"), random_state=None, verbose=0,
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

        get_architecture(self.architecture)
        get_objective(self.generator)

    def _resolve_image_shape(self, n_features):
        from ssgan.models import get_architecture

        takes_images = get_architecture(self.architecture).layout == "image"
        if self.image_shape is None:
            if takes_images:
                raise ValueError(
                    f"architecture={self.architecture!r} needs image_shape=(height, width[, "
                    f"channels]) to reshape the {n_features} features of each row into an image."
                )
            return (n_features,)
        shape = tuple(self.image_shape)
        if not shape or not all(isinstance(d, Integral) and d > 0 for d in shape):
            raise ValueError(f"image_shape must be a tuple of positive ints, got {shape!r}.")
        shape = tuple(int(d) for d in shape)
        if takes_images:
            if len(shape) == 2:
                shape = shape + (1,)
            if len(shape) != 3:
                raise ValueError(
                    f"image_shape must be (height, width) or (height, width, channels) for "
                    f"architecture={self.architecture!r}, got {shape!r}."
                )
        if math.prod(shape) != n_features:
            raise ValueError(
                f"image_shape={shape!r} holds {math.prod(shape)} values per example, but X has "
                f"{n_features} features."
            )
        return shape

    def _training_seed(self, random_state):
        if isinstance(random_state, Integral) and 0 <= random_state < _MAX_SEED:
            return int(random_state)
        return int(check_random_state(random_state).randint(_MAX_SEED))

    def _check_labels(self, y):
        """The labeled mask, classes_ and the labeled rows' class indices."""
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
                f"{type(self).__name__} needs labeled examples of at least 2 classes."
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
                f"(label {classes[0]!r}); {type(self).__name__} needs labeled examples of at "
                "least 2 classes."
            )
        return labeled, classes, encoded.reshape(-1).astype("int32")

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
        labeled, classes, y_encoded = self._check_labels(y)
        image_shape = self._resolve_image_shape(X.shape[1])

        data_min = np.min(X, axis=0)
        data_max = np.max(X, axis=0)
        x_scaled = self._scale(X, data_min, data_max)

        config = self._config(self._training_seed(self.random_state))
        trainer = self._build_trainer(image_shape, len(classes), config)
        trainer.fit(x_scaled[labeled], y_encoded, x_scaled, verbose=int(self.verbose))

        self.classes_ = classes
        self.data_min_ = data_min
        self.data_max_ = data_max
        self.image_shape_ = image_shape
        self.config_ = trainer.resolved
        self.history_ = list(trainer.log)
        self._set_trainer(trainer)
        return self

    def _config(self, seed):
        """The `TrainingConfig` of this estimator's parameters, with the training `seed`."""
        from ssgan.config import TrainingConfig

        values = {name: getattr(self, name) for name in CONFIG_PARAMETERS}
        values["generator_options"] = dict(self.generator_options or {})
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

    @staticmethod
    def _scale(X, data_min, data_max):
        """Min-max scale X into [0, 1] (clipped) as float32; constant features map to 0.

        Halves are subtracted, not the values: max − min of finite float64 values can overflow
        (±1e308), their halves' difference cannot, so finite X always scales to finite values.
        """
        half = np.float64(0.5)
        span = data_max * half - data_min * half
        span = np.where(span > 0, span, 1.0)
        scaled = (X * half - data_min * half) / span
        return np.clip(scaled, 0.0, 1.0, out=scaled).astype(np.float32, copy=False)

    # ----------------------------------------------------------------------------- predict

    def _logits(self, X):
        check_is_fitted(self)
        X = validate_data(self, X, dtype=_FLOAT_DTYPES, reset=False)
        x_scaled = self._scale(X, self.data_min_, self.data_max_)
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
        """Draw samples from the generator, in the units of X.

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
        check_is_fitted(self)
        if not isinstance(n_samples, Integral) or n_samples < 1:
            raise ValueError(f"n_samples must be a positive int, got {n_samples!r}.")
        seed = self._training_seed(random_state)
        samples = np.asarray(self._trainer.generate(int(n_samples), seed=seed), dtype=np.float64)
        samples = samples.reshape(int(n_samples), -1)
        half_span = self.data_max_ * 0.5 - self.data_min_ * 0.5  # as in `_scale`: no overflow
        return self.data_min_ + samples * half_span + samples * half_span

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
            _assign_weights(trainer.discriminator, weights["discriminator"])
            _assign_weights(trainer.generator, weights["generator"])
            trainer.log = list(self.history_)
            trainer.epoch = self.config_.epochs
            self._set_trainer(trainer)


SSGANClassifier.__doc__ = SSGANClassifier.__doc__.replace(
    "{parameters}\n", parameter_docs(SSGANClassifier))
