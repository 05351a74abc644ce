"""TensorFlow: `tf.GradientTape` for gradients, `tf.function(jit_compile=True)` for compilation.

One step is one XLA-compiled function; a run of steps calls it from a Python loop (on the CPU the
call overhead is small next to a step).
"""

import os

import numpy as np
import tensorflow as tf


def value_and_grad(fn):
    def wrapped(params, *args):
        with tf.GradientTape() as tape:
            tape.watch(params)
            loss, aux = fn(params, *args)
        return (loss, aux), tape.gradient(loss, params)

    return wrapped


def compile_steps(step_fn, precision=None):
    del precision  # float32 products are exact float32 on the CPU
    compiled = tf.function(step_fn, jit_compile=os.environ.get("SSGAN_TF_JIT", "1") == "1", reduce_retracing=True)

    def run(state, data, indices):
        n_steps = len(next(iter(indices.values())))
        per_step = []
        for i in range(n_steps):
            state, metrics = compiled(state, data, {k: v[i] for k, v in indices.items()})
            per_step.append(metrics)
        stacked = {k: tf.stack([m[k] for m in per_step]) for k in per_step[0]}
        return state, stacked

    return run


def compile_function(fn, precision=None):
    del precision
    return tf.function(fn, jit_compile=True, reduce_retracing=True)


def to_device(array):
    return tf.convert_to_tensor(np.asarray(array))


def to_numpy(tensor):
    return np.asarray(tensor)


def device_description():
    gpus = tf.config.list_physical_devices("GPU")
    return f"tensorflow {tf.__version__} on {'GPU' if gpus else 'CPU'}"
