"""TensorFlow: `tf.GradientTape` for gradients, `tf.function` for compilation.

One step is one graph function; a run of steps calls it from a Python loop (the call overhead is
small next to a step). XLA (`jit_compile`) is used on a GPU only: on the CPU, TensorFlow's own
kernels ran the MLP step several times faster than XLA's (benchmarks/SPEED.md).
"""

import numpy as np
import tensorflow as tf


def value_and_grad(fn):
    def wrapped(params, *args):
        with tf.GradientTape() as tape:
            tape.watch(params)
            loss, aux = fn(params, *args)
        return (loss, aux), tape.gradient(loss, params)

    return wrapped


def _use_xla(jit_compile):
    if jit_compile is None:
        return bool(tf.config.list_physical_devices("GPU"))
    return bool(jit_compile)


class _CompiledSteps:
    """`run(state, data, indices)`: the step as one graph function called once per step; `compile`
    traces it (and XLA-compiles it when asked) ahead of the first call."""

    def __init__(self, step_fn, jit_compile):
        self._step = tf.function(step_fn, jit_compile=_use_xla(jit_compile),
                                 reduce_retracing=True)
        self.compiled = False

    @staticmethod
    def _step_indices(indices, i):
        return {k: v[i] for k, v in indices.items()}

    def compile(self, state, data, indices):
        concrete = self._step.get_concrete_function(state, data, self._step_indices(indices, 0))
        if self._step._jit_compile:
            # XLA compiles on the first execution, not at tracing: run the step once, discarding
            # its result (the inputs are not modified: TensorFlow tensors are immutable).
            concrete(state, data, self._step_indices(indices, 0))
        self.compiled = True

    def __call__(self, state, data, indices):
        n_steps = len(next(iter(indices.values())))
        per_step = []
        for i in range(n_steps):
            state, metrics = self._step(state, data, self._step_indices(indices, i))
            per_step.append(metrics)
        stacked = {k: tf.stack([m[k] for m in per_step]) for k in per_step[0]}
        return state, stacked


def compile_steps(step_fn, precision=None, jit_compile=None, data_axes=None, donate=True):
    del precision, donate  # TensorFlow keeps float32 products in float32 unless told otherwise
    if data_axes is not None:
        raise NotImplementedError(
            "Training several runs as one vectorized step (ssgan.train.SeedGroup) needs the "
            "JAX backend (KERAS_BACKEND=jax); with TensorFlow, train the runs one after another."
        )
    return _CompiledSteps(step_fn, jit_compile)


class _TracedOnce:
    """`fn` traced on its first call for a last argument (the batch: an array or a tuple of
    arrays) of any leading size, then called as that one concrete function. A `tf.function`
    called afresh for each fitted model would count every model's first trace as a retrace of
    the same code and warn ("triggered tf.function retracing") during a `GridSearchCV`; a
    concrete function is never retraced."""

    def __init__(self, fn, jit_compile):
        self._function = tf.function(fn, jit_compile=_use_xla(jit_compile))
        self._concrete = None

    @staticmethod
    def _spec(value, free_batch):
        shape = tuple(value.shape)
        return tf.TensorSpec((None, *shape[1:]) if free_batch else shape, value.dtype)

    def __call__(self, *args):
        if self._concrete is None:
            specs = [tf.nest.map_structure(lambda v: self._spec(v, False), a) for a in args[:-1]]
            batch = tf.nest.map_structure(lambda v: self._spec(v, True), args[-1])
            self._concrete = self._function.get_concrete_function(*specs, batch)
        return self._concrete(*args)


def compile_function(fn, precision=None, jit_compile=None, in_axes=None):
    del precision
    if in_axes is not None:
        raise NotImplementedError("Evaluating several runs' states in one call needs the JAX "
                                  "backend (KERAS_BACKEND=jax).")
    return _TracedOnce(fn, jit_compile)


def to_device(array):
    return tf.convert_to_tensor(np.asarray(array))


def to_numpy(tensor):
    return np.asarray(tensor)


def device_description():
    gpus = tf.config.list_physical_devices("GPU")
    return f"tensorflow {tf.__version__} on {'GPU' if gpus else 'CPU'}"
