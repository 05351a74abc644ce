"""Training of the K+1-class semi-supervised GAN: the step, the epoch loop, evaluation, checkpoints.

Two players with two optimizers do not fit `model.fit`, so the step is written here as a pure
function over `model.stateless_call` and `optimizer.stateless_apply`. All training state (both
players' weights, optimizer slots, the moving average of the discriminator, the seeds of every noise
source) is one dict of tensors threaded from step to step; the Keras models only receive values
back once per epoch. `ssgan.backends` holds the only backend-specific parts: gradients and
compilation.

One step (Salimans et al. 2016, Improved-GAN's `train_mnist_feature_matching.py`):

1. discriminator update on a labeled batch (the labeled set tiled and reshuffled), an unlabeled
   batch and a generated batch: supervised cross-entropy + unlabeled_weight · real/fake loss;
2. exponential moving average of the discriminator's weights (used for evaluation, noise off);
3. generator update: feature matching against a second, independently shuffled unlabeled batch.

What collapses, and what prevents it (measured on the CPU in full float32, seed 0, 100 labels;
see benchmarks/STABILITY.md). The collapse seen on GPUs (the discriminator wins within ~10 epochs,
its loss goes to 0 and the feature-matching loss to 100+, accuracy stays near 80 %) is the
generator's: its sigmoid output saturates (99 % of pixels at 0 or 1) and every sample becomes the
same image (per-pixel spread across samples 0.002), so its gradient vanishes and the discriminator
wins for good. Anything that makes the generator's updates larger or noisier sets it off: TF32
matmuls on a GPU, or a generator learning rate of 0.006 instead of 0.003, which collapses the
paper's recipe within two epochs (feature-matching loss 6 → 21 → 29 → 92 over epochs 1-4). Under
that stress test, of the paper's stabilizers, virtual batch normalization in the generator
prevents the collapse and learns fastest (feature-matching loss 0.9 → 0.3 → 0.2, test accuracy
82 → 88 → 91 %); historical averaging prevents it but stalls learning (81 → 81 → 79 %); one-sided
label smoothing and minibatch discrimination do not prevent it. VBN is therefore on by default
(`vbn`); at the paper's learning rate it also learns faster: the discriminator's current weights
reach 96 % test accuracy at epoch 8, the plain recipe's at epoch 19. The JAX path also keeps
float32 matmuls at "highest" precision (`matmul_precision`).

Over the paper's 300 epochs VBN costs accuracy, and the collapse is better prevented at its
source, the generator's step size. The "full" recipe (`ssgan.recipes`) keeps the paper's batch
norm generator and gives the generator Adam(1e-3, β1 = 0) (the discriminator keeps 3e-3, β1 =
0.5), β2 = 0.9999 for both, constant rates: on an H200, 100 labels, seeds 0-4, 0.90 / 0.86 / 0.91
/ 0.72 / 0.93 % test error (0.86 ± 0.08 %; paper 0.93 %), none collapsed. With VBN, seed 1
stayed at 2.26 %; the paper's exact recipe reached 0.88 % on that seed.

`SeedGroup` trains several runs of one configuration side by side as one vectorized step (JAX).
"""

import contextlib
import dataclasses
import json
import math
import os
import random
import time

import keras
import numpy as np
from keras import ops

from ssgan import layers as ssgan_layers
from ssgan import losses
from ssgan.backends import get_backend
from ssgan.models import build_discriminator
from ssgan.models import build_generator
from ssgan.models import set_generator_reference
from ssgan.models import set_reference_batches
from ssgan.objectives import make_objective
from ssgan.optimizers import Adam

CHECKPOINT_STATE = "state.npz"
CHECKPOINT_META = "checkpoint.json"


class TrainingDivergedError(RuntimeError):
    """A loss became NaN or infinite; training stops and the last good checkpoint is kept."""


@dataclasses.dataclass
class TrainingConfig:
    """Everything that defines a training run besides the data.

    Attributes:
        architecture: "mlp" (the paper's MNIST pair, on flat images) or "conv" (DCGAN-style).
        generator: generator objective, a name in `ssgan.objectives.OBJECTIVES`.
        minibatch_discrimination: add minibatch discrimination to the discriminator.
        vbn: virtual batch normalization in the generator (and the conv discriminator). On by
            default: it is the stabilizer that prevents the generator's collapse (see above).
        latent_dim: width of the generator's noise z.
        discriminator_hidden, generator_hidden: hidden widths (mlp) or filters (conv) of the two
            networks; None keeps the architecture's defaults (the paper's sizes for mlp).
        epochs: epochs to train.
        batch_size: examples per batch, for each of the labeled, unlabeled and generated batches.
        steps_per_epoch: steps per epoch; None means one pass over the unlabeled data.
        learning_rate, beta_1, beta_2, adam_epsilon: Adam (ε inside the square root) for both players.
        generator_learning_rate, generator_beta_1: the generator's own values (None: the above).
        generator_steps: generator updates per discriminator update.
        lr_decay_start: epoch from which the learning rate decays linearly to 0 at the last epoch;
            None starts at half of `epochs`; `epochs` (or more) keeps it constant, as the
            Improved-GAN MNIST code does.
        unlabeled_weight: weight of the real/fake loss against the supervised one.
        label_smoothing: one-sided label smoothing of the real target (0 = off).
        historical_averaging: weight of the historical-averaging penalty of both players (0 = off).
        ema_rate: per-step rate of the moving average of the discriminator's weights; None
            averages over about the last tenth of training, 10 / total steps clipped to
            [1e-4, 1] (1e-4, the paper's rate, for runs of 100 000 steps and more).
        ema_debias: divide the average by 1 − (1 − rate)^t, as Adam does; without it, an average
            started at zero shrinks the weights it evaluates during the first ~1/rate steps.
        init_examples: unlabeled examples for the data-dependent initialization.
        matmul_precision: JAX matmul precision ("highest" = true float32; "default" allows TF32).
        jit_compile: TensorFlow only: XLA-compile the step; None uses XLA on a GPU only (on the
            CPU it ran the step several times slower than TensorFlow's own kernels).
        steps_per_call: steps per compiled call (the progress bar updates between calls);
            None picks a divisor of `steps_per_epoch` near 50.
        seed: seeds weights, noise, latent samples and batch order.
        generator_options: keyword arguments of the generator objective (see
            `ssgan.objectives`).
    """

    architecture: str = "mlp"
    generator: str = "feature-matching"
    minibatch_discrimination: bool = False
    vbn: bool = True
    latent_dim: int = 100
    discriminator_hidden: tuple | None = None
    generator_hidden: tuple | None = None
    epochs: int = 300
    batch_size: int = 100
    steps_per_epoch: int | None = None
    learning_rate: float = 0.003
    beta_1: float = 0.5
    beta_2: float = 0.999
    adam_epsilon: float = 1e-8
    generator_learning_rate: float | None = None
    generator_beta_1: float | None = None
    generator_steps: int = 1
    lr_decay_start: int | None = None
    unlabeled_weight: float = 1.0
    label_smoothing: float = 0.0
    historical_averaging: float = 0.0
    ema_rate: float | None = None
    ema_debias: bool = True
    init_examples: int = 500
    matmul_precision: str = "highest"
    jit_compile: bool | None = None
    steps_per_call: int | None = None
    seed: int = 0
    generator_options: dict = dataclasses.field(default_factory=dict)

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values):
        known = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in values.items() if k in known}
        for key in ("discriminator_hidden", "generator_hidden"):  # JSON turns tuples into lists
            if values.get(key) is not None:
                values[key] = tuple(values[key])
        return cls(**values)


@contextlib.contextmanager
def global_random_state_preserved():
    """Restore Python's and NumPy's global random states after the block.

    `SemiSupervisedGAN` seeds every global generator (`keras.utils.set_random_seed`) so that its
    models are reproducible; callers that must not reset the user's global NumPy state as a side
    effect (the estimator, the generator metrics) wrap it in this. (TensorFlow's global seed is
    set too and stays set.)
    """
    python_state, numpy_state = random.getstate(), np.random.get_state()
    try:
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)


def _tiled_permutations(rng, n, count):
    """`count` indices into range(n): consecutive random permutations of range(n), cut to length."""
    reps = math.ceil(count / n)
    return np.concatenate([rng.permutation(n) for _ in range(reps)])[:count]


def epoch_indices(seed, epoch, n_labeled, n_unlabeled, steps, batch_size):
    """Batch indices of one epoch, a pure function of (seed, epoch) so that a resumed run repeats
    exactly the batches the interrupted one would have seen."""
    rng = np.random.default_rng([seed, epoch])
    count = steps * batch_size
    shape = (steps, batch_size)
    return {
        "labeled": _tiled_permutations(rng, n_labeled, count).reshape(shape).astype("int32"),
        "unlabeled": _tiled_permutations(rng, n_unlabeled, count).reshape(shape).astype("int32"),
        "unlabeled_2": _tiled_permutations(rng, n_unlabeled, count).reshape(shape).astype("int32"),
    }


def _divisor_near(n, target):
    """The divisor of n closest to `target` (ties towards the larger)."""
    divisors = [d for d in range(1, n + 1) if n % d == 0]
    return min(divisors, key=lambda d: (abs(d - target), -d))


def _steps_per_call(config, steps):
    """Steps per compiled call: `config.steps_per_call`, else a divisor of `steps` near 50."""
    per_call = config.steps_per_call or _divisor_near(steps, 50)
    if steps % per_call:
        raise ValueError(f"steps_per_call={per_call} must divide steps_per_epoch={steps}.")
    return per_call


def _run_epoch_calls(owner, data, indices, steps, per_call, collect):
    """One epoch as `steps / per_call` calls of `owner._run_steps` on `owner.state`.

    `owner` is a `SemiSupervisedGAN` or a `SeedGroup`. Its state is updated after every call, so
    it holds the newest state even if `collect(first_step, metrics)` raises. Each call is queued
    before the previous call's metrics are pulled by `collect` (JAX dispatches asynchronously, so
    the device never idles on the host). The first call is compiled ahead of time, to time
    compilation apart; returns its seconds (None when already compiled).
    """
    compile_seconds = None
    pending = None
    for first in range(0, steps, per_call):
        chunk = {k: owner.backend.to_device(v[first : first + per_call])
                 for k, v in indices.items()}
        if not owner._compiled:
            compile_start = time.perf_counter()
            owner._run_steps.compile(owner.state, data, chunk)
            compile_seconds = time.perf_counter() - compile_start
            owner._compiled = True
        owner.state, metrics = owner._run_steps(owner.state, data, chunk)
        if pending is not None:
            collect(*pending)
        pending = (first, metrics)
    collect(*pending)
    return compile_seconds


class SemiSupervisedGAN:
    """A K+1-class discriminator and its generator, trained together on labeled and unlabeled data.

    Args:
        image_shape: (height, width, channels) of one example.
        n_classes: K, the number of real classes.
        config: a `TrainingConfig`.

    The discriminator (`discriminator`) holds the moving-average weights used for evaluation after
    every epoch; the generator (`generator`) its current weights.
    """

    def __init__(self, image_shape, n_classes, config=None):
        self.config = config or TrainingConfig()
        self.image_shape = tuple(int(d) for d in image_shape)
        self.n_classes = int(n_classes)
        self.backend = get_backend()
        cfg = self.config
        self.objective = make_objective(
            cfg.generator, self.n_classes, latent_dim=cfg.latent_dim, **cfg.generator_options
        )
        keras.utils.set_random_seed(cfg.seed)
        self.discriminator = build_discriminator(
            cfg.architecture,
            self.image_shape,
            self.n_classes,
            hidden=cfg.discriminator_hidden,
            minibatch_discrimination=cfg.minibatch_discrimination,
            vbn=cfg.vbn,
            extra_heads=self.objective.discriminator_heads,
            seed=cfg.seed,
        )
        self.generator = build_generator(
            cfg.architecture,
            self.image_shape,
            hidden=cfg.generator_hidden,
            latent_dim=cfg.latent_dim,
            vbn=cfg.vbn,
            condition_dims=self.objective.condition_dims,
            seed=cfg.seed,
        )
        self.input_shape = tuple(self.discriminator.input.shape[1:])
        self._batch_coupled = any(
            isinstance(
                layer, (ssgan_layers.MinibatchDiscrimination, keras.layers.BatchNormalization)
            )
            for layer in self.discriminator.layers
        )
        self._latent_seed = keras.random.SeedGenerator(cfg.seed + 7919)
        self.state = None
        self.epoch = 0
        self.history = []
        self._run_steps = None
        self._compiled = False
        self._predict = None
        self._steps_per_epoch = None

    # ----------------------------------------------------------------------------------- set-up

    def _reshape(self, x):
        x = np.asarray(x, dtype="float32")
        return x.reshape((len(x),) + self.input_shape)

    def initialize(self, x_unlabeled, steps_per_epoch):
        """Data-dependent initialization, reference batches, optimizers and the initial state."""
        cfg = self.config
        x_unlabeled = self._reshape(x_unlabeled)
        rng = np.random.default_rng([cfg.seed, 104729])
        init = x_unlabeled[rng.choice(len(x_unlabeled), min(cfg.init_examples, len(x_unlabeled)),
                                      replace=False)]
        set_reference_batches(self.discriminator, init)
        sizes = [layer.size for layer in self.generator.layers
                 if isinstance(layer, ssgan_layers.ReferenceBatch)]
        if sizes:
            # The generator's reference batch: a sample of its own latent distribution.
            reference, _ = self.objective.sample(
                keras.random.SeedGenerator(cfg.seed + 1), max(sizes)
            )
            set_generator_reference(self.generator, reference)
        ssgan_layers.initialize_weight_norm(self.discriminator, init, training=True)
        self._build_optimizers(steps_per_epoch)
        self.state = self._state_from_models()

    def _build_optimizers(self, steps_per_epoch):
        cfg = self.config
        self._steps_per_epoch = steps_per_epoch
        # The generator updates `generator_steps` times per step: its schedule counts those.
        d_steps = cfg.epochs * steps_per_epoch
        g_steps = d_steps * cfg.generator_steps
        d_decay = g_decay = None
        decay_epoch = cfg.epochs // 2 if cfg.lr_decay_start is None else cfg.lr_decay_start
        if decay_epoch < cfg.epochs:
            d_decay = decay_epoch * steps_per_epoch
            g_decay = d_decay * cfg.generator_steps
        self.ema_rate = cfg.ema_rate
        if self.ema_rate is None:
            self.ema_rate = min(1.0, max(1e-4, 10.0 / d_steps))
        self.d_optimizer = Adam(cfg.learning_rate, cfg.beta_1, cfg.beta_2, cfg.adam_epsilon,
                                d_decay, d_steps)
        self.g_optimizer = Adam(
            cfg.learning_rate if cfg.generator_learning_rate is None
            else cfg.generator_learning_rate,
            cfg.beta_1 if cfg.generator_beta_1 is None else cfg.generator_beta_1,
            cfg.beta_2, cfg.adam_epsilon, g_decay, g_steps,
        )

    def _copy(self, variables):
        # Copies, never the variables' own buffers: the JAX step donates (reuses) its input state.
        return [self.backend.to_device(np.array(keras.ops.convert_to_numpy(v)))
                for v in variables]

    def _state_from_models(self):
        d_trainable = self._copy(self.discriminator.trainable_variables)
        with_history = self.config.historical_averaging > 0
        return {
            "d_trainable": d_trainable,
            "d_non_trainable": self._copy(self.discriminator.non_trainable_variables),
            "g_trainable": self._copy(self.generator.trainable_variables),
            "g_non_trainable": self._copy(self.generator.non_trainable_variables),
            "d_optimizer": self.d_optimizer.init(d_trainable),
            "g_optimizer": self.g_optimizer.init(self._copy(self.generator.trainable_variables)),
            "ema": [self.backend.to_device(np.zeros(v.shape, "float32")) for v in d_trainable],
            "d_history": self._copy(self.discriminator.trainable_variables) if with_history else [],
            "g_history": self._copy(self.generator.trainable_variables) if with_history else [],
            "latent_seed": self._copy([self._latent_seed.state])[0],
            "step": self.backend.to_device(np.zeros((), "int32")),
        }

    # ------------------------------------------------------------------------------------ step

    def _draw(self, seed_state, batch_size):
        """Sample generator inputs with the latent seed generator, statelessly."""
        with keras.StatelessScope(state_mapping=[(self._latent_seed.state, seed_state)]) as scope:
            inputs, latent = self.objective.sample(self._latent_seed, batch_size)
        return inputs, latent, scope.get_current_value(self._latent_seed.state)

    def _discriminate(self, trainable, non_trainable, batches, training=True):
        """Discriminator outputs for each batch in `batches`.

        Without batch-coupled layers an example's output does not depend on its batch, so the
        batches go through as one concatenated call (one matmul per layer instead of several).
        """
        if self._batch_coupled:
            outputs = []
            for x in batches:
                out, non_trainable = self.discriminator.stateless_call(
                    trainable, non_trainable, x, training=training
                )
                outputs.append(out)
            return outputs, non_trainable
        sizes = [ops.shape(x)[0] for x in batches]
        out, non_trainable = self.discriminator.stateless_call(
            trainable, non_trainable, ops.concatenate(batches, axis=0), training=training
        )
        outputs, start = [], 0
        for size in sizes:
            outputs.append({k: v[start : start + size] for k, v in out.items()})
            start += size
        return outputs, non_trainable

    def discriminator_loss(self, d_trainable, d_non_trainable, batch, history=None, training=True):
        """The discriminator's loss on `batch` (x_labeled, y_labeled, x_unlabeled, x_fake, latent):
        supervised cross-entropy + unlabeled_weight · real/fake loss + the objective's terms
        (+ historical averaging). Returns (loss, (new non-trainable state, metrics))."""
        cfg = self.config
        (out_lab, out_unl, out_fake), d_non_trainable = self._discriminate(
            d_trainable, d_non_trainable,
            [batch["x_labeled"], batch["x_unlabeled"], batch["x_fake"]], training,
        )
        y_lab = batch["y_labeled"]
        loss_sup = losses.supervised_loss(out_lab["logits"], y_lab)
        loss_unsup = losses.unsupervised_discriminator_loss(
            out_unl["logits"], out_fake["logits"],
            losses.one_sided_label_smoothing(cfg.label_smoothing),
        )
        extra, extra_metrics = self.objective.discriminator_loss(
            out_fake, batch["latent"], out_lab, y_lab
        )
        total = loss_sup + cfg.unlabeled_weight * loss_unsup + extra
        if history:
            total = total + cfg.historical_averaging * losses.historical_averaging_penalty(
                d_trainable, history
            )
        metrics = {
            "loss_supervised": loss_sup,
            "loss_unsupervised": loss_unsup,
            "train_error": losses.classification_error(out_lab["logits"], y_lab),
            **extra_metrics,
        }
        return total, (d_non_trainable, metrics)

    def generator_loss(self, g_trainable, g_non_trainable, d_trainable, d_non_trainable, batch,
                       history=None, training=True):
        """The generator's loss on `batch` (generator_inputs, latent, real_outputs: the
        discriminator's outputs on a real unlabeled batch): the objective's loss against the
        discriminator (+ historical averaging).
        Returns (loss, (new generator state, new discriminator state, metrics))."""
        cfg = self.config
        x_fake, g_non_trainable = self.generator.stateless_call(
            g_trainable, g_non_trainable, batch["generator_inputs"], training=True
        )
        out_fake, d_non_trainable = self.discriminator.stateless_call(
            d_trainable, d_non_trainable, x_fake, training=training
        )
        loss, extra_metrics = self.objective.generator_loss(
            out_fake, batch["real_outputs"], batch["latent"]
        )
        metrics = {"loss_generator": loss, **extra_metrics}
        if history:
            loss = loss + cfg.historical_averaging * losses.historical_averaging_penalty(
                g_trainable, history
            )
        return loss, (g_non_trainable, d_non_trainable, metrics)

    def _real_outputs(self, d_trainable, d_non_trainable, x, training=True):
        """Discriminator outputs on real data for the generator's loss: constants to it, computed
        once per step outside the gradient (no backward pass through them)."""
        outputs, d_non_trainable = self.discriminator.stateless_call(
            d_trainable, d_non_trainable, x, training=training
        )
        return {k: ops.stop_gradient(v) for k, v in outputs.items()}, d_non_trainable

    def _train_step(self, state, data, indices):
        cfg = self.config
        grad = self.backend.value_and_grad
        step = state["step"] + 1

        # 1. Discriminator, on a labeled, an unlabeled and a generated batch.
        g_inputs, latent, seed = self._draw(state["latent_seed"], cfg.batch_size)
        x_fake, _ = self.generator.stateless_call(
            state["g_trainable"], state["g_non_trainable"], g_inputs, training=True
        )
        d_batch = {
            "x_labeled": ops.take(data["x_labeled"], indices["labeled"], axis=0),
            "y_labeled": ops.take(data["y_labeled"], indices["labeled"], axis=0),
            "x_unlabeled": ops.take(data["x_unlabeled"], indices["unlabeled"], axis=0),
            "x_fake": ops.stop_gradient(x_fake),
            "latent": latent,
        }
        (_, (d_non_trainable, d_metrics)), d_grads = grad(self.discriminator_loss)(
            state["d_trainable"], state["d_non_trainable"], d_batch, state["d_history"]
        )
        d_trainable, d_optimizer = self.d_optimizer.apply(
            state["d_optimizer"], d_grads, state["d_trainable"]
        )
        ema = [e + self.ema_rate * (p - e) for e, p in zip(state["ema"], d_trainable)]

        # 2. Generator, against the updated discriminator and a second unlabeled batch.
        g_trainable, g_non_trainable = state["g_trainable"], state["g_non_trainable"]
        g_optimizer = state["g_optimizer"]
        real_outputs, d_non_trainable = self._real_outputs(
            d_trainable, d_non_trainable,
            ops.take(data["x_unlabeled"], indices["unlabeled_2"], axis=0),
        )
        for _ in range(cfg.generator_steps):
            g_inputs, latent, seed = self._draw(seed, cfg.batch_size)
            g_batch = {"generator_inputs": g_inputs, "latent": latent,
                       "real_outputs": real_outputs}
            (_, (g_non_trainable, d_non_trainable, g_metrics)), g_grads = grad(
                self.generator_loss
            )(g_trainable, g_non_trainable, d_trainable, d_non_trainable, g_batch,
              state["g_history"])
            g_trainable, g_optimizer = self.g_optimizer.apply(g_optimizer, g_grads, g_trainable)

        new_state = {
            "d_trainable": d_trainable,
            "d_non_trainable": d_non_trainable,
            "g_trainable": g_trainable,
            "g_non_trainable": g_non_trainable,
            "d_optimizer": d_optimizer,
            "g_optimizer": g_optimizer,
            "ema": ema,
            "d_history": state["d_history"],
            "g_history": state["g_history"],
            "latent_seed": seed,
            "step": step,
        }
        if cfg.historical_averaging > 0:
            new_state["d_history"] = losses.update_historical_average(
                state["d_history"], d_trainable, step
            )
            new_state["g_history"] = losses.update_historical_average(
                state["g_history"], g_trainable, step
            )
        metrics = {**d_metrics, **g_metrics}
        return new_state, {k: ops.cast(v, "float32") for k, v in metrics.items()}

    def compute_losses(self, x_labeled, y_labeled, x_unlabeled, x_unlabeled_2, generator_inputs,
                       latent=None, training=False):
        """Both players' losses at the current state on given inputs, as floats (no update).

        With `training=False` the discriminator's noise is off, so the result is a deterministic
        function of the weights and inputs (used to check that backends agree).
        """
        state = self.state
        to = self.backend.to_device
        generator_inputs = (
            [to(g) for g in generator_inputs] if isinstance(generator_inputs, (list, tuple))
            else to(generator_inputs)
        )
        latent = {k: to(v) for k, v in (latent or {}).items()}
        x_fake, _ = self.generator.stateless_call(
            state["g_trainable"], state["g_non_trainable"], generator_inputs, training=True
        )
        d_batch = {"x_labeled": to(self._reshape(x_labeled)),
                   "y_labeled": to(np.asarray(y_labeled, "int32")),
                   "x_unlabeled": to(self._reshape(x_unlabeled)), "x_fake": x_fake,
                   "latent": latent}
        d_loss, (_, d_metrics) = self.discriminator_loss(
            state["d_trainable"], state["d_non_trainable"], d_batch, training=training
        )
        real_outputs, _ = self._real_outputs(
            state["d_trainable"], state["d_non_trainable"], to(self._reshape(x_unlabeled_2)),
            training,
        )
        g_batch = {"generator_inputs": generator_inputs, "latent": latent,
                   "real_outputs": real_outputs}
        g_loss, (_, _, g_metrics) = self.generator_loss(
            state["g_trainable"], state["g_non_trainable"], state["d_trainable"],
            state["d_non_trainable"], g_batch, training=training,
        )
        values = {"discriminator": d_loss, "generator": g_loss, **d_metrics, **g_metrics}
        return {k: float(self.backend.to_numpy(v)) for k, v in values.items()}

    # ------------------------------------------------------------------------------ training

    def fit(
        self,
        x_labeled,
        y_labeled,
        x_unlabeled,
        epochs=None,
        validation_data=None,
        callbacks=(),
        verbose=1,
    ):
        """Train from the current epoch up to `epochs` (default: `config.epochs`).

        Args:
            x_labeled, y_labeled: labeled examples (floats in [0, 1]) and integer classes in [0, K).
            x_unlabeled: unlabeled examples (may include the labeled ones, as in the paper).
            validation_data: optional (x, y) evaluated after every epoch with the averaged
                discriminator (noise off); its error goes to the history as `test_error`.
            callbacks: callables `callback(trainer, logs)` run after every epoch.
            verbose: 0 silent, 1 a progress bar per epoch, 2 one line per epoch.

        Returns the history: one dict of metrics per epoch.
        """
        cfg = self.config
        epochs = cfg.epochs if epochs is None else int(epochs)
        x_labeled = self._reshape(x_labeled)
        x_unlabeled = self._reshape(x_unlabeled)
        y_labeled = np.asarray(y_labeled, dtype="int32")
        steps = self._set_up_epochs(x_unlabeled)
        per_call = _steps_per_call(cfg, steps)
        if self._run_steps is None:
            self._run_steps = self.backend.compile_steps(
                self._train_step, cfg.matmul_precision, cfg.jit_compile
            )
        data = {
            "x_labeled": self.backend.to_device(x_labeled),
            "y_labeled": self.backend.to_device(y_labeled),
            "x_unlabeled": self.backend.to_device(x_unlabeled),
        }
        while self.epoch < epochs:
            logs = self._train_epoch(data, steps, per_call, len(x_labeled), len(x_unlabeled),
                                     verbose, epochs)
            self._end_epoch(logs, validation_data)
            if verbose:
                print(_format_epoch(logs, epochs), flush=True)
            for callback in callbacks:
                callback(self, logs)
        return self.history

    def _set_up_epochs(self, x_unlabeled):
        """Steps per epoch on `x_unlabeled`; sets up the state on first use, else checks that the
        data gives the steps the run was set up for."""
        cfg = self.config
        steps = cfg.steps_per_epoch or max(len(x_unlabeled) // cfg.batch_size, 1)
        if self.state is None:
            self.initialize(x_unlabeled, steps)
        elif steps != self._steps_per_epoch:
            raise ValueError(
                f"This run was set up for {self._steps_per_epoch} steps per epoch; the data now "
                f"gives {steps}. Resume with the same data and batch size."
            )
        return steps

    def _end_epoch(self, logs, validation_data):
        """After an epoch: sync the models, add the error on `validation_data` to `logs`, and
        record them in the history."""
        self.sync_models()
        if validation_data is not None:
            error = self.evaluate(*validation_data)
            logs["test_error"] = error
            logs["test_accuracy"] = 1.0 - error
        self.history.append(logs)
        return logs

    def _train_epoch(self, data, steps, per_call, n_labeled, n_unlabeled, verbose, epochs):
        cfg = self.config
        epoch = self.epoch + 1
        indices = epoch_indices(cfg.seed, epoch, n_labeled, n_unlabeled, steps, cfg.batch_size)
        progress = None
        if verbose == 1:
            print(f"Epoch {epoch}/{epochs}", flush=True)
            progress = keras.utils.Progbar(steps, stateful_metrics=None)
        totals = {}
        start = time.perf_counter()

        def collect(first, metrics):
            # Pulling the metrics waits for their call; by then the next call is already queued
            # (JAX dispatches asynchronously), so the device never idles on the host.
            metrics = {k: self.backend.to_numpy(v) for k, v in metrics.items()}
            bad = [k for k, v in metrics.items() if not np.all(np.isfinite(v))]
            if bad:
                raise TrainingDivergedError(
                    f"{', '.join(bad)} became NaN or infinite at epoch {epoch}, step "
                    f"{first + 1}-{first + per_call}; stopping. The last checkpoint (end of epoch "
                    f"{self.epoch}) is kept. Try a lower learning rate or label smoothing."
                )
            for k, v in metrics.items():
                totals[k] = totals.get(k, 0.0) + float(np.sum(v))
            if progress is not None:
                progress.update(first + per_call,
                                [(k, float(np.mean(v))) for k, v in metrics.items()])

        compile_seconds = _run_epoch_calls(self, data, indices, steps, per_call, collect)
        seconds = time.perf_counter() - start
        self.epoch = epoch
        logs = {"epoch": epoch, **{k: v / steps for k, v in totals.items()}}
        if compile_seconds is not None:
            logs["compile_seconds"] = compile_seconds
            seconds -= compile_seconds
        logs["seconds"] = seconds
        logs["learning_rate"] = float(self.d_optimizer.learning_rate_at(self.epoch * steps))
        return logs

    # ---------------------------------------------------------------------------- evaluation

    def evaluation_weights(self):
        """The discriminator weights used for evaluation: the (debiased) moving average."""
        cfg = self.config
        t = int(self.backend.to_numpy(self.state["step"]))
        if t == 0:
            return [self.backend.to_numpy(p) for p in self.state["d_trainable"]]
        correction = 1.0 - (1.0 - self.ema_rate) ** t if cfg.ema_debias else 1.0
        return [self.backend.to_numpy(e) / correction for e in self.state["ema"]]

    def sync_models(self):
        """Write the state into the Keras models: the averaged discriminator, the current generator."""
        state = self.state
        for variable, value in zip(self.discriminator.trainable_variables,
                                   self.evaluation_weights()):
            variable.assign(value)
        pairs = [
            (self.discriminator.non_trainable_variables, state["d_non_trainable"]),
            (self.generator.trainable_variables, state["g_trainable"]),
            (self.generator.non_trainable_variables, state["g_non_trainable"]),
        ]
        for variables, values in pairs:
            for variable, value in zip(variables, values):
                variable.assign(self.backend.to_numpy(value))

    def predict_logits(self, x, batch_size=None):
        """Class logits of the synced (averaged) discriminator, noise off, in fixed-size batches.

        A last partial batch is filled up with examples from the start of `x`, so every call has the
        compiled shape and, with minibatch discrimination, every batch holds real data only.
        """
        x = self._reshape(x)
        batch_size = batch_size or max(self.config.batch_size, 500 if not self._batch_coupled else 0)
        if self._predict is None:
            def predict(trainable, non_trainable, batch):
                outputs, _ = self.discriminator.stateless_call(
                    trainable, non_trainable, batch, training=False
                )
                return outputs["logits"]

            self._predict = self.backend.compile_function(
                predict, self.config.matmul_precision, self.config.jit_compile
            )
        trainable = [v.value for v in self.discriminator.trainable_variables]
        non_trainable = [v.value for v in self.discriminator.non_trainable_variables]
        n = len(x)
        padded = math.ceil(n / batch_size) * batch_size
        if padded > n:
            x = np.concatenate([x, np.resize(x, (padded - n,) + x.shape[1:])], axis=0)
        logits = [
            self.backend.to_numpy(self._predict(trainable, non_trainable, x[i : i + batch_size]))
            for i in range(0, padded, batch_size)
        ]
        return np.concatenate(logits, axis=0)[:n]

    def evaluate(self, x, y):
        """Classification error of the averaged discriminator on (x, y)."""
        # Without batch-coupled layers, the whole set (up to 10000) goes through in one call:
        # evaluation after every epoch then costs one dispatch, not one per 500 examples.
        batch_size = None if self._batch_coupled else min(len(x), 10000)
        predicted = np.argmax(self.predict_logits(x, batch_size), axis=-1)
        return float(np.mean(predicted != np.asarray(y)))

    def generate(self, n, seed=0):
        """`n` samples of the generator (inference mode), as an array shaped like the data."""
        generator = keras.random.SeedGenerator(seed)
        inputs, _ = self.objective.sample(generator, n)
        return self.backend.to_numpy(self.generator(inputs, training=False))

    # --------------------------------------------------------------------------- checkpoints

    def save_checkpoint(self, directory):
        """Write the whole training state to `directory` atomically (a crash never leaves half)."""
        os.makedirs(directory, exist_ok=True)
        arrays = {k: self.backend.to_numpy(v) for k, v in _flatten(self.state).items()}
        meta = {
            "epoch": self.epoch,
            "steps_per_epoch": self._steps_per_epoch,
            "history": self.history,
            "config": self.config.to_dict(),
            "image_shape": list(self.image_shape),
            "n_classes": self.n_classes,
        }
        state_path = os.path.join(directory, CHECKPOINT_STATE)
        meta_path = os.path.join(directory, CHECKPOINT_META)
        with open(state_path + ".tmp", "wb") as f:
            np.savez(f, **arrays)
        with open(meta_path + ".tmp", "w") as f:
            json.dump(meta, f, indent=1)
        os.replace(state_path + ".tmp", state_path)
        os.replace(meta_path + ".tmp", meta_path)

    def load_checkpoint(self, directory):
        """Restore a state written by `save_checkpoint`; training continues from its epoch."""
        meta_path = os.path.join(directory, CHECKPOINT_META)
        state_path = os.path.join(directory, CHECKPOINT_STATE)
        if not (os.path.exists(meta_path) and os.path.exists(state_path)):
            raise FileNotFoundError(f"No checkpoint in {directory} (expected {CHECKPOINT_STATE} "
                                    f"and {CHECKPOINT_META}).")
        with open(meta_path) as f:
            meta = json.load(f)
        saved = dataclasses.replace(TrainingConfig.from_dict(meta["config"]),
                                    epochs=self.config.epochs)
        if saved != self.config:  # a resumed run may extend its epochs, nothing else
            raise ValueError(f"The checkpoint in {directory} was written with another "
                             "configuration; resume with the run's own config.")
        self._steps_per_epoch = meta["steps_per_epoch"]
        if self.state is None:
            self._build_optimizers(self._steps_per_epoch)
            self.state = self._state_from_models()
        with np.load(state_path) as arrays:
            missing = set(_flatten(self.state)) - set(arrays.files)
            if missing:
                raise ValueError(f"The checkpoint in {directory} lacks {sorted(missing)[:3]}...: "
                                 "it was written by another model.")
            self.state = _unflatten(self.state, lambda key: self.backend.to_device(arrays[key]))
        self.epoch = meta["epoch"]
        self.history = meta["history"]
        self.sync_models()


class SeedGroup:
    """Runs of one configuration that differ only in their seed and labeled set (its split and
    size), trained side by side as one vectorized step.

    On a GPU a step of the paper's MLP pair is latency-bound (about a hundred kernels of a few
    microseconds each, far below what the card can do: benchmarks/SPEED.md), so S seeds in one
    `vmap`ped step cost little more than one. Each trainer keeps its own models, history and
    checkpoints: after every epoch it receives its slice of the group's state, its models are
    synced and it is evaluated exactly as if it had trained alone. JAX only.

    Args:
        trainers: `SemiSupervisedGAN`s whose configurations are equal except `seed`, all at the
            same epoch.
    """

    def __init__(self, trainers):
        self.trainers = list(trainers)
        if not self.trainers:
            raise ValueError("A SeedGroup needs at least one trainer.")
        first = self.trainers[0]
        for trainer in self.trainers[1:]:
            same = (dataclasses.replace(trainer.config, seed=first.config.seed) == first.config
                    and trainer.image_shape == first.image_shape
                    and trainer.n_classes == first.n_classes)
            if not same:
                raise ValueError("The trainers of a SeedGroup must have the same configuration "
                                 "except their seed, and the same data shape.")
        if len({trainer.epoch for trainer in self.trainers}) > 1:
            raise ValueError("The trainers of a SeedGroup must be at the same epoch; got epochs "
                             f"{[trainer.epoch for trainer in self.trainers]}.")
        self.backend = first.backend
        self.epoch = first.epoch
        self.state = None  # while training: the trainers' states stacked along a run axis
        self.diverged = {}  # trainer index -> message: those stop being updated
        self._run_steps = None
        self._compiled = False

    def fit(self, datasets, epochs=None, validation_data=None, callbacks=(), verbose=1):
        """Train every trainer up to `epochs` (default: the configuration's).

        Args:
            datasets: one (x_labeled, y_labeled, x_unlabeled) per trainer. Unlabeled sets must
                have equal sizes (one equal for all, as in the paper's whole training set, is
                stored on the device once); labeled sets may differ (say 20 to 200 labels).
            validation_data: optional (x, y) evaluated after every epoch for every trainer.
            callbacks: `callback(trainer, logs)`, run for every trainer after every epoch.
            verbose: 0 silent, 1 a progress bar per epoch, 2 one line per epoch.

        A trainer whose losses become NaN is left out from then on (see `diverged`); the others
        go on. Returns the trainers' histories.
        """
        trainers = self.trainers
        first = trainers[0]
        cfg = first.config
        epochs = cfg.epochs if epochs is None else int(epochs)
        if len(datasets) != len(trainers):
            raise ValueError(f"Expected {len(trainers)} datasets (one per trainer), got "
                             f"{len(datasets)}.")
        prepared = [(t._reshape(x_lab), np.asarray(y_lab, dtype="int32"), t._reshape(x_unl))
                    for t, (x_lab, y_lab, x_unl) in zip(trainers, datasets)]
        if len({len(x_unl) for _, _, x_unl in prepared}) > 1:
            raise ValueError("The runs of a SeedGroup need unlabeled sets of equal size; got "
                             f"{sorted({len(x_unl) for _, _, x_unl in prepared})}.")
        n_unlabeled = len(prepared[0][2])
        # Labeled sets may differ in size (label counts): each is padded to the largest, and a
        # run's batch indices only ever point into its own rows.
        self._n_labeled = [len(x_lab) for x_lab, _, _ in prepared]
        width = max(self._n_labeled)

        def pad(array):
            return np.concatenate([array, np.zeros((width - len(array),) + array.shape[1:],
                                                   array.dtype)]) if len(array) < width else array

        # Equal configurations and unlabeled sizes: every trainer has the same steps per epoch.
        steps = [t._set_up_epochs(x_unl) for t, (_, _, x_unl) in zip(trainers, prepared)][0]
        per_call = _steps_per_call(cfg, steps)
        shared = all(p[2] is prepared[0][2] or np.array_equal(p[2], prepared[0][2])
                     for p in prepared[1:])
        to = self.backend.to_device
        data = {
            "x_labeled": to(np.stack([pad(p[0]) for p in prepared])),
            "y_labeled": to(np.stack([pad(p[1]) for p in prepared])),
            "x_unlabeled": to(prepared[0][2] if shared else np.stack([p[2] for p in prepared])),
        }
        data_axes = {"x_labeled": 0, "y_labeled": 0, "x_unlabeled": None if shared else 0}
        if self._run_steps is None:
            self._run_steps = self.backend.compile_steps(
                first._train_step, cfg.matmul_precision, cfg.jit_compile, data_axes=data_axes
            )
        template = first.state
        flats = [_flatten(t.state) for t in trainers]
        # The group's state: every trainer's, stacked along a leading run axis.
        self.state = _unflatten(template, lambda key: ops.stack([flat[key] for flat in flats]))
        while self.epoch < epochs:
            logs = self._train_epoch(data, steps, per_call, n_unlabeled, verbose, epochs)
            # One transfer per leaf of the stacked state, then each run's slice on the host:
            # slicing on the device cost one dispatch per leaf and run (~0.15 s per run-epoch).
            flat = {k: self.backend.to_numpy(v) for k, v in _flatten(self.state).items()}
            for i, trainer in enumerate(trainers):
                if i in self.diverged:
                    continue
                trainer.state = _unflatten(template, lambda key: flat[key][i])
                trainer.epoch = self.epoch
                trainer_logs = trainer._end_epoch(dict(logs[i]), validation_data)
                for callback in callbacks:
                    callback(trainer, trainer_logs)
            if verbose:
                print(self._format_epoch(epochs), flush=True)
        return [trainer.history for trainer in trainers]

    def _train_epoch(self, data, steps, per_call, n_unlabeled, verbose, epochs):
        trainers = self.trainers
        first = trainers[0]
        cfg = first.config
        epoch = self.epoch + 1
        per_seed = [epoch_indices(t.config.seed, epoch, n_labeled, n_unlabeled, steps,
                                  cfg.batch_size)
                    for t, n_labeled in zip(trainers, self._n_labeled)]
        # (steps, runs, batch): the scan runs over steps, the vectorized step over runs.
        indices = {k: np.stack([p[k] for p in per_seed], axis=1) for k in per_seed[0]}
        progress = None
        if verbose == 1:
            print(f"Epoch {epoch}/{epochs} ({len(trainers)} seeds)", flush=True)
            progress = keras.utils.Progbar(steps)
        totals = [{} for _ in trainers]
        start = time.perf_counter()

        def collect(first_step, metrics):
            metrics = {k: self.backend.to_numpy(v) for k, v in metrics.items()}  # (steps, runs)
            for i, trainer in enumerate(trainers):
                if i in self.diverged:
                    continue
                bad = [k for k, v in metrics.items() if not np.all(np.isfinite(v[:, i]))]
                if bad:
                    self.diverged[i] = (
                        f"{', '.join(bad)} became NaN or infinite at epoch {epoch}, step "
                        f"{first_step + 1}-{first_step + per_call} (seed {trainer.config.seed}); "
                        f"this run stopped. Its last checkpoint (end of epoch {trainer.epoch}) "
                        "is kept."
                    )
                    continue
                for k, v in metrics.items():
                    totals[i][k] = totals[i].get(k, 0.0) + float(np.sum(v[:, i]))
            if progress is not None:
                alive = [i for i in range(len(trainers)) if i not in self.diverged]
                progress.update(first_step + per_call,
                                [(k, float(np.mean(v[:, alive]))) for k, v in metrics.items()]
                                if alive else None)

        compile_seconds = _run_epoch_calls(self, data, indices, steps, per_call, collect)
        seconds = time.perf_counter() - start
        self.epoch = epoch
        learning_rate = float(first.d_optimizer.learning_rate_at(epoch * steps))
        logs = []
        for total in totals:
            entry = {"epoch": epoch, **{k: v / steps for k, v in total.items()}}
            if compile_seconds is not None:
                entry["compile_seconds"] = compile_seconds
            # The group's time: every run of the group trained in these seconds.
            entry["seconds"] = seconds - (compile_seconds or 0.0)
            entry["runs_in_step"] = len(trainers)
            entry["learning_rate"] = learning_rate
            logs.append(entry)
        return logs

    def _format_epoch(self, epochs):
        alive = [t for i, t in enumerate(self.trainers) if i not in self.diverged]
        parts = [f"epoch {self.epoch}/{epochs}, {len(alive)}/{len(self.trainers)} seeds"]
        errors = [t.history[-1]["test_error"] for t in alive
                  if t.history and "test_error" in t.history[-1]]
        if errors:
            parts.append("test accuracy " + " ".join(f"{100 * (1 - e):.2f}%" for e in errors))
        if alive and alive[0].history:
            parts.append(f"{alive[0].history[-1]['seconds']:.2f}s")
        return " - ".join(parts)


def _flatten(tree, prefix=""):
    """{"a/0": leaf, "b/m/1": leaf, ...} for a tree of dicts and lists."""
    if isinstance(tree, dict):
        items = tree.items()
    elif isinstance(tree, list):
        items = ((f"{i:04d}", v) for i, v in enumerate(tree))
    else:
        return {prefix: tree}
    flat = {}
    for key, value in items:
        flat.update(_flatten(value, f"{prefix}/{key}" if prefix else str(key)))
    return flat


def _unflatten(template, load, prefix=""):
    """A tree shaped like `template` whose leaves are `load(path)`."""
    join = (lambda key: f"{prefix}/{key}") if prefix else str
    if isinstance(template, dict):
        return {k: _unflatten(v, load, join(k)) for k, v in template.items()}
    if isinstance(template, list):
        return [_unflatten(v, load, join(f"{i:04d}")) for i, v in enumerate(template)]
    return load(prefix)


def _format_epoch(logs, epochs):
    """One line per epoch: losses, train error, test accuracy and time."""
    parts = [f"epoch {logs['epoch']}/{epochs}"]
    for key in ("loss_supervised", "loss_unsupervised", "loss_generator", "train_error"):
        if key in logs:
            parts.append(f"{key} {logs[key]:.4f}")
    if "test_accuracy" in logs:
        parts.append(f"test_accuracy {100 * logs['test_accuracy']:.2f}%")
    parts.append(f"{logs['seconds']:.1f}s")
    return " - ".join(parts)
