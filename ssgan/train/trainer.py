"""`SemiSupervisedGAN`: builds the two networks, owns the training state, and fits, evaluates and
generates. The step (`ssgan.train.step`), the epoch loop (`ssgan.train.loop`) and checkpoints
(`ssgan.train.checkpoint`) are its parts; `ssgan.backends` differentiates and compiles the step.
"""

import functools
import os

import keras
import numpy as np

from ssgan import layers as ssgan_layers
from ssgan.backends import get_backend
from ssgan.config import TrainingConfig
from ssgan.models import get_architecture
from ssgan.models import set_generator_reference
from ssgan.models import set_reference_batches
from ssgan.objectives import make_objective
from ssgan.optimizers import Adam
from ssgan.train import averaging
from ssgan.train import checkpoint
from ssgan.train import evaluation
from ssgan.train import loop
from ssgan.train import step as steps
from ssgan.train.guard import CollapseGuard
from ssgan.train.state import TrainState
from ssgan.train.state import flatten
from ssgan.train.state import unflatten
from ssgan.util import atomic_path


class SingleRun(loop.Runs):
    """One trainer's run, as the epoch loop sees it: the state is the trainer's own."""

    def __init__(self, trainer, data):
        config = trainer.resolved
        super().__init__([trainer], trainer.compiled_steps(), data, config.steps_per_epoch,
                         config.steps_per_call)
        self.n_labeled = len(data["y_labeled"])
        self.n_unlabeled = len(data["x_unlabeled"])

    @property
    def state(self):
        return self.trainers[0].state

    @state.setter
    def state(self, value):
        # After every call, so that the trainer holds the newest state even if the loop raises.
        self.trainers[0].state = value

    def epoch_indices(self, epoch):
        config = self.trainers[0].resolved
        return loop.epoch_indices(config.seed, epoch, self.n_labeled, self.n_unlabeled,
                                  self.steps, config.batch_size)

    def finish_epoch(self):
        # Follow the trainer: a callback may have rolled it back, with a gentler generator
        # step compiled anew (ssgan.train.guard.CollapseGuard).
        trainer = self.trainers[0]
        self.epoch = trainer.epoch
        self.run_steps = trainer.compiled_steps()

    def diverge(self, index, message):
        raise loop.TrainingDivergedError(
            f"{message}; training stopped after epoch {self.trainers[0].epoch}. A lower learning "
            "rate (or label smoothing) may help."
        )


class SemiSupervisedGAN:
    """A K+1-class discriminator and its generator, trained together on labeled and unlabeled data.

    Args:
        image_shape: (height, width, channels) of one example.
        n_classes: K, the number of real classes.
        config: a `TrainingConfig` (default: the defaults).

    The discriminator (`discriminator`) holds the moving-average weights that evaluate and
    predict, the generator (`generator`) its sampling weights, synced from the training state
    when first used after an epoch (the epoch's test error is measured from the state itself:
    `ssgan.train.evaluation`). `log` holds one dict of metrics per epoch trained (over
    resumptions too); `history` is the `keras.callbacks.History` of the last `fit`. The trainer
    is the `model` its callbacks see: `stop_training`, `get_weights` / `set_weights` (the whole
    training state) and `save` (the discriminator) work as Keras' callbacks expect.
    """

    optimizer = None  # for Keras callbacks: the two players' optimizers are in `optimizers`
    train_function = None

    def __init__(self, image_shape, n_classes, config=None):
        self.config = cfg = config or TrainingConfig()
        self.image_shape = tuple(int(d) for d in image_shape)
        self.n_classes = int(n_classes)
        self.backend = get_backend()
        self.architecture = get_architecture(cfg.architecture)
        self.objective = make_objective(cfg.generator, self.n_classes, latent_dim=cfg.latent_dim,
                                        **cfg.generator_options)
        keras.utils.set_random_seed(cfg.seed)
        self._discriminator = self.architecture.discriminator(
            self.image_shape, self.n_classes, cfg.discriminator_hidden,
            minibatch_discrimination=cfg.minibatch_discrimination, vbn=cfg.vbn,
            input_shift=cfg.input_shift,
            extra_heads=self.objective.discriminator_heads, seed=cfg.seed,
        )
        self._generator = self.architecture.generator(
            self.image_shape, cfg.generator_hidden, latent_dim=cfg.latent_dim, vbn=cfg.vbn,
            condition_dims=self.objective.condition_dims, seed=cfg.seed,
        )
        self._stale_models = False  # set after an epoch, cleared by `sync_models`
        self._stale_batch_norm = False  # set by `sync_models`, cleared by `generator`
        self.input_shape = tuple(self._discriminator.input.shape[1:])
        self.model = steps.GANModel(self._discriminator, self._generator, self.objective,
                                    keras.random.SeedGenerator(cfg.seed + 7919),
                                    ssgan_layers.couples_batch(self._discriminator))
        self.resolved = None  # the config with its derived settings, once set up for data
        self.optimizers = None
        self._state = None
        self._state_source = None  # set by `defer_state`
        self.generator_lr_scale = 1.0  # lowered by the collapse guard (`set_generator_lr_scale`)
        self.epoch = 0
        self.log = []
        self.history = None
        self.stop_training = False
        self._run_steps = None
        self.state_evaluator = evaluation.StateEvaluator(self)

    @property
    def state(self):
        """The training state, a `TrainState`. Runs side by side hand a trainer its slice only
        when something reads it (`defer_state`)."""
        if self._state_source is not None:
            source, self._state_source = self._state_source, None
            self._state = source()
        return self._state

    @state.setter
    def state(self, value):
        self._state_source = None
        self._state = value

    def defer_state(self, source):
        """Make `source()`, called when the state is next read, the state, and the models
        stale (as after an epoch)."""
        self._state_source = source
        self._stale_models = True

    @property
    def discriminator(self):
        """The Keras discriminator with the averaged weights that evaluate and predict, synced
        from the state on first use after an epoch (`sync_models`)."""
        if self._stale_models:
            self.sync_models()
        return self._discriminator

    # ----------------------------------------------------------------------------------- set-up

    def as_inputs(self, x):
        """`x` as float32 examples shaped as the discriminator takes them."""
        x = np.asarray(x, dtype="float32")
        return x.reshape((len(x),) + self.input_shape)

    def initialize(self, x_unlabeled):
        """Data-dependent initialization, reference batches, optimizers and the initial state."""
        cfg = self.config
        x_unlabeled = self.as_inputs(x_unlabeled)
        rng = np.random.default_rng([cfg.seed, 104729])
        init = x_unlabeled[rng.choice(len(x_unlabeled), min(cfg.init_examples, len(x_unlabeled)),
                                      replace=False)]
        set_reference_batches(self._discriminator, init)
        sizes = [layer.size for layer in self._generator.layers
                 if isinstance(layer, ssgan_layers.ReferenceBatch)]
        if sizes:
            # The generator's reference batch: a sample of its own latent distribution.
            reference, _ = self.objective.sample(
                keras.random.SeedGenerator(cfg.seed + 1), max(sizes)
            )
            set_generator_reference(self._generator, reference)
        ssgan_layers.initialize_weight_norm(self._discriminator, init, training=True)
        return self.set_up(cfg.steps_for(len(x_unlabeled)))

    def set_up(self, steps_per_epoch):
        """Resolve the configuration for `steps_per_epoch`, build the optimizers and set the
        initial state from the models' variables; returns that state."""
        self.resolved = self.config.replace(steps_per_epoch=steps_per_epoch).resolve(0)
        self.optimizers = self._make_optimizers()
        self.state = self._initial_state()
        self._run_steps = None  # a step compiled for other settings
        return self.state

    def _make_optimizers(self):
        cfg = self.resolved
        # The generator updates `generator_steps` times per step: its schedule counts those.
        d_steps = cfg.epochs * cfg.steps_per_epoch
        g_steps = d_steps * cfg.generator_steps
        d_decay = g_decay = None
        if cfg.lr_decay_start < cfg.epochs:
            d_decay = cfg.lr_decay_start * cfg.steps_per_epoch
            g_decay = d_decay * cfg.generator_steps
        return steps.Optimizers(
            Adam(cfg.learning_rate, cfg.beta_1, cfg.beta_2, cfg.adam_epsilon, d_decay, d_steps),
            Adam(cfg.generator_learning_rate * self.generator_lr_scale, cfg.generator_beta_1,
                 cfg.beta_2, cfg.adam_epsilon, g_decay, g_steps),
        )

    def set_generator_lr_scale(self, scale):
        """Scale the generator's learning rate (its whole schedule) by `scale` from the next
        step on; the step, which holds the rate as a constant, is compiled anew."""
        self.generator_lr_scale = float(scale)
        if self.resolved is not None:
            self.optimizers = self._make_optimizers()
            self._run_steps = None

    def _copy(self, variables):
        # Copies, never the variables' own buffers: the JAX step donates (reuses) its input state.
        return [self.backend.to_device(np.array(keras.ops.convert_to_numpy(v)))
                for v in variables]

    def _zeros(self, variables):
        return [self.backend.to_device(np.zeros(v.shape, "float32")) for v in variables]

    def _initial_state(self):
        d, g = self._discriminator, self._generator
        d_trainable = self._copy(d.trainable_variables)
        with_history = self.config.historical_averaging > 0
        return TrainState(
            d_trainable=d_trainable,
            d_non_trainable=self._copy(d.non_trainable_variables),
            g_trainable=self._copy(g.trainable_variables),
            g_non_trainable=self._copy(g.non_trainable_variables),
            d_optimizer=self.optimizers.discriminator.init(d_trainable),
            g_optimizer=self.optimizers.generator.init(self._copy(g.trainable_variables)),
            ema=self._zeros(d_trainable),
            g_ema=self._zeros(g.trainable_variables) if self.config.generator_ema else [],
            d_history=self._copy(d.trainable_variables) if with_history else [],
            g_history=self._copy(g.trainable_variables) if with_history else [],
            mean_prediction=([self.backend.to_device(np.full(
                (self.n_classes,), 1.0 / self.n_classes, "float32"))]
                if self.config.distribution_alignment else []),
            latent_seed=self._copy([self.model.latent_seed.state])[0],
            step=self.backend.to_device(np.zeros((), "int32")),
        )

    def set_up_for(self, x_unlabeled):
        """Initialize the run on `x_unlabeled` on first use; later, check that these data give
        the steps per epoch it was set up for."""
        steps_per_epoch = self.config.steps_for(len(x_unlabeled))
        if self.state is None:
            self.initialize(x_unlabeled)
        elif steps_per_epoch != self.resolved.steps_per_epoch:
            raise ValueError(
                f"This run was set up for {self.resolved.steps_per_epoch} steps per epoch; the "
                f"data now give {steps_per_epoch}. Resume with the same data and batch size."
            )

    def device_data(self, x_labeled, y_labeled, x_unlabeled):
        """The arrays the step reads, on the device (the run set up or checked for them)."""
        x_unlabeled = self.as_inputs(x_unlabeled)
        self.set_up_for(x_unlabeled)
        to = self.backend.to_device
        return {"x_labeled": to(self.as_inputs(x_labeled)),
                "y_labeled": to(np.asarray(y_labeled, dtype="int32")),
                "class_shares": to(self.class_shares(y_labeled)),
                "x_unlabeled": to(x_unlabeled)}

    def class_shares(self, y_labeled):
        """Each class's share of the labels (what distribution alignment aligns the predictions
        with), computed once on the host from the labels as given, before any padding."""
        counts = np.bincount(np.asarray(y_labeled, dtype="int64"), minlength=self.n_classes)
        return (counts / max(len(y_labeled), 1)).astype("float32")

    @property
    def train_step(self):
        """The pure step `(state, data, indices) -> (state, metrics)` the backend compiles."""
        return functools.partial(steps.train_step, self.model, self.resolved, self.optimizers,
                                 self.backend.value_and_grad)

    def compiled_steps(self, data_axes=None):
        """The compiled run of steps (`ssgan.backends`), made once per trainer (with
        `data_axes`: vectorized over runs, made anew, keeping its input state, whose slices the
        runs' trainers read when they need them: `SeedGroup`)."""
        cfg = self.resolved
        if data_axes is not None:
            return self.backend.compile_steps(self.train_step, cfg.matmul_precision,
                                              cfg.jit_compile, data_axes=data_axes, donate=False)
        if self._run_steps is None:
            self._run_steps = self.backend.compile_steps(self.train_step, cfg.matmul_precision,
                                                         cfg.jit_compile)
        return self._run_steps

    # ------------------------------------------------------------------------------ training

    def fit(self, x_labeled, y_labeled, x_unlabeled, epochs=None, validation_data=None,
            callbacks=None, verbose=1):
        """Train from the current epoch up to `epochs` (default: `config.epochs`).

        Args:
            x_labeled, y_labeled: labeled examples (floats in [0, 1]) and integer classes in [0, K).
            x_unlabeled: unlabeled examples (may include the labeled ones, as in the paper).
            validation_data: optional (x, y) evaluated after every epoch with the averaged
                discriminator (noise off); its error goes into the logs as `test_error` (and
                `test_accuracy`).
            callbacks: `keras.callbacks.Callback`s, called as `model.fit` calls them; with
                `config.collapse_guard` a `CollapseGuard` (`ssgan.train.guard`) goes first,
                unless one is given.
            verbose: 0 silent, 1 a progress bar per epoch, 2 one line per epoch.

        Returns the `keras.callbacks.History` of this call.
        """
        data = self.device_data(x_labeled, y_labeled, x_unlabeled)
        epochs = self.config.epochs if epochs is None else int(epochs)
        callbacks = list(callbacks or [])
        if self.config.collapse_guard and not any(isinstance(c, CollapseGuard)
                                                  for c in callbacks):
            # First: the callbacks after it see its rollback (state, log) and its log entries.
            callbacks.insert(0, CollapseGuard(verbose=verbose))
        (history,) = loop.fit_runs(SingleRun(self, data), epochs, validation_data, [callbacks],
                                   verbose)
        return history

    def end_epoch(self, epoch, logs, validation_data=None, test_error=None):
        """After epoch `epoch` (the state already updated): add the error on `validation_data`
        to `logs`, or the `test_error` measured already, and record them in `log`. The Keras
        models are synced when next used, not after every epoch."""
        self.epoch = epoch
        self._stale_models = True
        if test_error is None and validation_data is not None:
            test_error = self.state_evaluator.error(self.state, *validation_data)
        if test_error is not None:
            logs["test_error"] = float(test_error)
            logs["test_accuracy"] = 1.0 - float(test_error)
        self.log.append(logs)
        return logs

    def compute_losses(self, x_labeled, y_labeled, x_unlabeled, x_unlabeled_2, generator_inputs,
                       latent=None, training=False):
        """Both players' losses at the current state on given inputs, as floats (no update).

        With `training=False` the discriminator's noise is off, so the result is a deterministic
        function of the weights and inputs (used to check that backends agree).
        """
        state, to, model = self.state, self.backend.to_device, self.model
        generator_inputs = (
            [to(g) for g in generator_inputs] if isinstance(generator_inputs, (list, tuple))
            else to(generator_inputs)
        )
        latent = {k: to(v) for k, v in (latent or {}).items()}
        x_fake, _ = self._generator.stateless_call(
            state.g_trainable, state.g_non_trainable, generator_inputs, training=True
        )
        d_batch = {"x_labeled": to(self.as_inputs(x_labeled)),
                   "y_labeled": to(np.asarray(y_labeled, "int32")),
                   "x_unlabeled": to(self.as_inputs(x_unlabeled)), "x_fake": x_fake,
                   "latent": latent}
        d_loss, (_, d_metrics, _) = steps.discriminator_loss(
            model, self.resolved, state.d_trainable, state.d_non_trainable, d_batch,
            training=training, step=state.step)
        real, _ = steps.real_outputs(model, state.d_trainable, state.d_non_trainable,
                                     to(self.as_inputs(x_unlabeled_2)), training)
        g_batch = {"generator_inputs": generator_inputs, "latent": latent, "real_outputs": real}
        g_loss, (_, _, g_metrics) = steps.generator_loss(
            model, self.resolved, state.g_trainable, state.g_non_trainable, state.d_trainable,
            state.d_non_trainable, g_batch, training=training,
        )
        values = {"discriminator": d_loss, "generator": g_loss, **d_metrics, **g_metrics}
        return {k: float(self.backend.to_numpy(v)) for k, v in values.items()}

    # ---------------------------------------------------------------------------- evaluation

    def evaluation_weights(self):
        """The discriminator weights used for evaluation: the (debiased) moving average."""
        return self._averaged(self.state.d_trainable, self.state.ema)

    def sampling_weights(self):
        """The generator weights that sample: the (debiased) moving average with
        `generator_ema`, else the last weights."""
        return self._averaged(self.state.g_trainable, self.state.g_ema)

    def _averaged(self, params, average):
        # Chosen (and debiased) on the device: only the arrays that are used come to the host.
        to_numpy = self.backend.to_numpy
        weights = averaging.current(params, average, self.resolved.ema_rate,
                                    int(to_numpy(self.state.step)), self.config.ema_debias)
        return [to_numpy(w) for w in weights]

    def sync_models(self):
        """Write the state into the Keras models: the averaged discriminator, the generator's
        sampling weights (`sampling_weights`)."""
        self._stale_models = False
        state = self.state
        pairs = [
            (self._discriminator.trainable_variables, self.evaluation_weights()),
            (self._discriminator.non_trainable_variables, state.d_non_trainable),
            (self._generator.trainable_variables, self.sampling_weights()),
            (self._generator.non_trainable_variables, state.g_non_trainable),
        ]
        for variables, values in pairs:
            for variable, value in zip(variables, values):
                variable.assign(self.backend.to_numpy(value))
        self._stale_batch_norm = bool(state.g_ema)

    @property
    def generator(self):
        """The Keras generator with its sampling weights. After a sync to averaged weights, a
        batch-norm generator's statistics are drawn for them on first use
        (`averaging.recalibrate_batch_norm`), not after every epoch of training."""
        if self._stale_models:
            self.sync_models()
        if self._stale_batch_norm:
            self._stale_batch_norm = False
            averaging.recalibrate_batch_norm(self._generator, self.objective,
                                             self.config.batch_size)
        return self._generator

    def predict_logits(self, x, batch_size=None):
        """Class logits of the synced (averaged) discriminator, noise off, in batches of
        `batch_size` (see `evaluation.StateEvaluator.predict_logits`)."""
        return self.state_evaluator.predict_logits(self.as_inputs(x), batch_size)

    def evaluate(self, x, y):
        """Classification error of the averaged discriminator on (x, y)."""
        # Without batch-coupled layers, the whole set (up to 10000) goes through in one call.
        batch_size = None if self.model.batch_coupled else min(len(x), 10000)
        predicted = np.argmax(self.predict_logits(x, batch_size), axis=-1)
        return float(np.mean(predicted != np.asarray(y)))

    def generate(self, n, seed=0, labels=None):
        """`n` samples of the generator (inference mode), as an array shaped like the data.

        `labels` (an int, or `n` ints in [0, K)) asks for samples of those classes, from a
        generator that takes a class (CGAN, InfoGAN with codes tied to labels); without them,
        the objective's `generation_inputs` (a conditional generator's classes or codes drawn
        uniformly, no complement rows)."""
        if labels is None:
            inputs = self.objective.generation_inputs(keras.random.SeedGenerator(seed), n)
            return self.backend.to_numpy(self.generator(inputs, training=False))
        labels = np.broadcast_to(np.asarray(labels), (n,)) if np.ndim(labels) == 0 else labels
        labels = np.asarray(labels).reshape(-1)
        if len(labels) != n or labels.dtype.kind not in "iu" or not (
                0 <= labels.min() and labels.max() < self.n_classes):
            raise ValueError(f"labels must be an int or {n} ints in [0, {self.n_classes}), got "
                             f"{np.asarray(labels).dtype} values of shape {labels.shape}.")
        inputs = self.objective.class_inputs(labels, seed=seed)
        if inputs is None:
            raise ValueError(
                f"The {self.config.generator!r} generator takes no class, so it cannot sample "
                "given labels: train with a conditional one (generator 'cgan', or 'infogan' "
                "with the option tie_codes_to_labels=True)."
            )
        inputs = [np.asarray(a, dtype="float32") for a in inputs]
        return self.backend.to_numpy(self.generator(inputs, training=False))

    def generate_from_inputs(self, inputs, batch_size=1000):
        """The generator's outputs (inference mode) for NumPy generator `inputs` (one array, or a
        list as the generator takes them), in batches, as examples shaped like the data."""
        arrays = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        outputs = []
        for start in range(0, len(arrays[0]), batch_size):
            batch = [np.asarray(a[start : start + batch_size], dtype="float32") for a in arrays]
            out = self.generator(batch if len(batch) > 1 else batch[0], training=False)
            outputs.append(self.backend.to_numpy(out))
        return np.concatenate(outputs, axis=0).reshape((-1,) + self.image_shape)

    # ------------------------------------------------------------- checkpoints and callbacks

    def save_checkpoint(self, directory):
        """Write the whole training state to `directory` (see `ssgan.train.checkpoint`)."""
        checkpoint.save_checkpoint(self, directory)

    def load_checkpoint(self, directory):
        """Restore a state written by `save_checkpoint`; training continues from its epoch."""
        checkpoint.load_checkpoint(self, directory)

    def restore(self, state, epoch, log):
        """Continue from `state` after `epoch` epochs whose logs are `log`."""
        self.state = state
        self.epoch = int(epoch)
        self.log = list(log)
        self._stale_models = True

    def get_weights(self):
        """The whole training state as a list of NumPy arrays (copies): what `set_weights`
        takes back, e.g. `EarlyStopping(restore_best_weights=True)`."""
        return [np.array(self.backend.to_numpy(v)) for v in flatten(self.state).values()]

    def set_weights(self, weights):
        """Restore a state from `get_weights`' list (the models follow on next use)."""
        keys = list(flatten(self.state))
        if len(weights) != len(keys):
            raise ValueError(f"Expected {len(keys)} arrays (get_weights' list), got {len(weights)}.")
        arrays = dict(zip(keys, weights))
        self.state = unflatten(self.state, lambda key: self.backend.to_device(arrays[key]))
        self._stale_models = True

    def save(self, filepath, overwrite=True):
        """Save the discriminator, the classifier, to a `.keras` file, atomically
        (`ModelCheckpoint`)."""
        if not overwrite and os.path.exists(filepath):
            raise FileExistsError(f"{filepath} exists (overwrite=False).")
        with atomic_path(filepath) as tmp:
            self.discriminator.save(tmp)

    def save_weights(self, filepath, overwrite=True):
        """Save the discriminator's weights to a `.weights.h5` file."""
        self.discriminator.save_weights(filepath, overwrite=overwrite)

    @property
    def layers(self):
        return self.discriminator.layers + self.generator.layers
