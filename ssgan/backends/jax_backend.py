"""JAX: `jax.value_and_grad` for gradients, `jax.jit` over a `lax.scan` of steps for compilation.

A whole run of steps is one compiled call: the data stays on the device, the step indices come in
as one array, the state is donated (updated in place) unless the caller keeps it, and nothing
returns to the host until the run ends.
"""

import contextlib

import jax
import numpy as np


def value_and_grad(fn):
    return jax.value_and_grad(fn, has_aux=True)


def _precision_scope(precision):
    # The matmul precision is read when a function is traced, so the scope must wrap the first call.
    # "highest" keeps float32 products in float32; the GPU default (TF32) rounds operands to 10
    # mantissa bits, which made Improved-GAN runs diverge (benchmarks/STABILITY.md).
    return jax.default_matmul_precision(precision) if precision else contextlib.nullcontext()


class _CompiledSteps:
    """`run(state, data, indices)`, compiled ahead of time by `compile` (which `__call__` does on
    first use), so that compilation can be timed apart from training."""

    def __init__(self, step_fn, precision, data_axes=None, donate=True):
        if data_axes is not None:
            # Independent runs side by side: the state and each step's indices carry a leading
            # run axis; the data too where `data_axes` says 0, else it is shared.
            step_fn = jax.vmap(step_fn, in_axes=(0, data_axes, 0))

        def run(state, data, indices):
            def body(carry, step_indices):
                return step_fn(carry, data, step_indices)

            return jax.lax.scan(body, state, indices)

        self._jitted = jax.jit(run, donate_argnums=0 if donate else ())
        self._precision = precision
        self._executable = None

    @property
    def compiled(self):
        return self._executable is not None

    def compile(self, state, data, indices):
        with _precision_scope(self._precision):
            self._executable = self._jitted.lower(state, data, indices).compile()

    def __call__(self, state, data, indices):
        if self._executable is None:
            self.compile(state, data, indices)
        return self._executable(state, data, indices)


def compile_steps(step_fn, precision=None, jit_compile=None, data_axes=None, donate=True):
    del jit_compile  # always compiled: JAX has no faster uncompiled path
    return _CompiledSteps(step_fn, precision, data_axes, donate)


def compile_function(fn, precision=None, jit_compile=None, in_axes=None):
    del jit_compile
    compiled = jax.jit(fn if in_axes is None else jax.vmap(fn, in_axes=in_axes))

    def call(*args):
        with _precision_scope(precision):
            return compiled(*args)

    return call


def to_device(array):
    return jax.device_put(np.asarray(array))


def to_numpy(tensor):
    return np.asarray(tensor)


def device_description():
    device = jax.devices()[0]
    return f"jax {jax.__version__} on {device.platform.upper()} ({device.device_kind})"
