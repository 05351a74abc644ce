"""Evaluation of the averaged discriminator. After every epoch: from the training state itself,
on the device, for one run or for runs side by side in one vectorized call, so that an epoch's
evaluation neither writes the weights into the Keras models nor brings the state to the host.
On request (`predict_logits`): through the synced Keras model.

A discriminator whose output for an example depends on the rest of its batch (minibatch
discrimination, batch normalization) is evaluated through the synced Keras model instead, in
batches of the training size (`SemiSupervisedGAN.evaluate`).
"""

import functools
import math

import numpy as np
from keras import ops

from ssgan.train import averaging


def count_errors(discriminator, params, non_trainable, scale, batch):
    """How many rows of `batch` = (x, y) the discriminator with weights `params / scale` (a
    moving average and its debiasing divisor, or the weights themselves and 1) does not assign
    class `y`."""
    x, y = batch
    weights = [w / scale for w in params]
    outputs, _ = discriminator.stateless_call(weights, non_trainable, x, training=False)
    predicted = ops.cast(ops.argmax(outputs["logits"], axis=-1), "int32")
    return ops.sum(ops.cast(ops.not_equal(predicted, y), "int32"))


class StateEvaluator:
    """The test error of a trainer's states (its own, or several runs' stacked along a leading
    axis: `vectorized`, JAX), compiled once per trainer; the last validation set stays on the
    device between epochs."""

    def __init__(self, trainer):
        self.trainer = trainer
        self._count = {}  # vectorized → the compiled count
        self._predict = None
        self._data = None  # (x, y) as given, and their device copies

    @property
    def on_device(self):
        """Whether states are evaluated on the device (a discriminator without batch coupling)."""
        return not self.trainer.model.batch_coupled

    def _compiled(self, vectorized):
        if vectorized not in self._count:
            trainer, config = self.trainer, self.trainer.config
            fn = functools.partial(count_errors, trainer.model.discriminator)
            self._count[vectorized] = trainer.backend.compile_function(
                fn, config.matmul_precision, config.jit_compile,
                in_axes=(0, 0, 0, None) if vectorized else None)
        return self._count[vectorized]

    def predict_logits(self, x, batch_size=None):
        """Class logits of the trainer's synced Keras discriminator (the averaged weights),
        noise off, for examples `x` shaped as it takes them, in batches of `batch_size`
        (default: the training batch size with batch coupling, else at least 500).

        A last partial batch is filled up with examples from the start of `x`, so every call has
        the compiled shape and, with minibatch discrimination, every batch holds real data only.
        """
        trainer = self.trainer
        batch_size = batch_size or max(trainer.config.batch_size,
                                       500 if not trainer.model.batch_coupled else 0)
        if self._predict is None:
            def predict(trainable, non_trainable, batch):
                outputs, _ = trainer.model.discriminator.stateless_call(
                    trainable, non_trainable, batch, training=False)
                return outputs["logits"]

            self._predict = trainer.backend.compile_function(
                predict, trainer.config.matmul_precision, trainer.config.jit_compile)
        discriminator = trainer.discriminator  # synced on first use after an epoch
        trainable = [v.value for v in discriminator.trainable_variables]
        non_trainable = [v.value for v in discriminator.non_trainable_variables]
        n = len(x)
        padded = math.ceil(n / batch_size) * batch_size
        if padded > n:
            x = np.concatenate([x, np.resize(x, (padded - n,) + x.shape[1:])], axis=0)
        logits = [trainer.backend.to_numpy(self._predict(trainable, non_trainable,
                                                         x[i : i + batch_size]))
                  for i in range(0, padded, batch_size)]
        return np.concatenate(logits, axis=0)[:n]

    def _device_data(self, x, y):
        if self._data is None or self._data[0] is not x or self._data[1] is not y:
            to = self.trainer.backend.to_device
            self._data = (x, y, to(self.trainer.as_inputs(x)), to(np.asarray(y, "int32")))
        return self._data[2:]

    def _weights(self, state, steps):
        """The arrays to evaluate and their debiasing divisors, one per run (`averaging.source`;
        runs side by side are at the same step, so they agree on the arrays)."""
        rate, debias = self.trainer.resolved.ema_rate, self.trainer.config.ema_debias
        sources = [averaging.source(state.d_trainable, state.ema, rate, int(step), debias)
                   for step in steps.reshape(-1)]
        divisors = np.asarray([divisor for _, divisor in sources], "float32")
        return sources[0][0], divisors.reshape(steps.shape)

    def error(self, state, x, y):
        """The error of `state` on (x, y); a discriminator with batch coupling is synced to the
        trainer's own state and evaluated through its Keras model."""
        if not self.on_device:
            return self.trainer.evaluate(x, y)
        return float(self.errors(state, x, y, vectorized=False))

    def errors(self, state, x, y, vectorized=True):
        """The error of each run of a stacked `state` on (x, y), as a NumPy array (a scalar
        for a state that is not stacked). Needs a discriminator without batch coupling."""
        if not self.on_device:
            raise ValueError("This discriminator couples the examples of a batch (minibatch "
                             "discrimination or batch normalization): evaluate it through its "
                             "model, in batches of the training size (`evaluate`).")
        backend = self.trainer.backend
        steps = np.asarray(backend.to_numpy(state.step))
        params, scales = self._weights(state, steps)
        to = backend.to_device
        x_device, y_device = self._device_data(x, y)
        count = self._compiled(vectorized)(params, list(state.d_non_trainable),
                                           to(scales), (x_device, y_device))
        return np.asarray(backend.to_numpy(count)) / len(y)
