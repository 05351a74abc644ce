"""The backend-specific part of training: gradients and compilation of one training step.

Everything else in ssgan is written once with `keras.ops`; each module here is the small piece that
differs between Keras backends, with the same functions:

- `value_and_grad(fn)`: `fn(params, *args) -> (loss, aux)` to
  `(params, *args) -> ((loss, aux), grads with respect to params)`.
- `compile_steps(step_fn, precision, jit_compile)`: `step_fn(state, data, indices) ->
  (state, metrics)` to a compiled `run(state, data, indices)` that applies it once per row of
  `indices` and returns the final state and the per-step metrics stacked along a leading axis;
  `run.compile(state, data, indices)` compiles it ahead of the first call (to time compilation),
  after which `run.compiled` is true.
  With `data_axes` (a dict like `data`, 0 or None per entry) it runs several independent runs at
  once: the state, the indices of a step and the data entries marked 0 carry a leading run axis
  (JAX only: `vmap`; TensorFlow raises NotImplementedError). `donate=False` keeps the input
  state valid after the call (JAX otherwise reuses its buffers).
- `compile_function(fn, precision, jit_compile, in_axes)`: a compiled pure function whose last
  argument is a batch (an array or a tuple of arrays: evaluation); TensorFlow traces it once
  for any batch size. `in_axes` (JAX only) vectorizes it over runs as `jax.vmap` does.
- `to_device(array)`, `to_numpy(tensor)`, `device_description()`.

`precision` is JAX's matmul precision; `jit_compile` asks TensorFlow for XLA (None: on a GPU).
"""

import importlib.util
import os
import sys

SUPPORTED_BACKENDS = ("tensorflow", "jax")

# XLA's own (Triton) GEMM kernels autotune for tens of seconds per compilation, and cuBLAS
# suits the vectorized runs' batched products better (benchmarks/SPEED.md, change 10).
_CUBLAS_GEMM_FLAG = "--xla_gpu_enable_triton_gemm=false"


def prefer_cublas_gemm():
    """Have XLA use cuBLAS for matrix products on GPUs (see above), unless XLA_FLAGS already
    chooses. Call before the first JAX computation; a no-op off GPUs. Returns XLA_FLAGS."""
    flags = os.environ.get("XLA_FLAGS", "")
    if "xla_gpu_enable_triton_gemm" not in flags:
        flags = f"{flags} {_CUBLAS_GEMM_FLAG}".strip()
        os.environ["XLA_FLAGS"] = flags
    return flags


def choose_backend():
    """Use JAX when KERAS_BACKEND is unset and JAX sees a GPU (TensorFlow, Keras' default,
    otherwise); returns a note saying why. Call before Keras is imported."""
    if os.environ.get("KERAS_BACKEND"):
        return f"KERAS_BACKEND={os.environ['KERAS_BACKEND']} (from the environment)"
    log_level = os.environ.get("TF_CPP_MIN_LOG_LEVEL")  # JAX sets its own when imported
    try:
        import jax

        if any(d.platform in ("gpu", "cuda", "rocm") for d in jax.devices()):
            os.environ["KERAS_BACKEND"] = "jax"
            return "KERAS_BACKEND=jax (JAX sees a GPU)"
    except Exception as exc:  # no JAX, or a broken GPU plug-in: keep the default backend
        return f"Keras' default backend (JAX unavailable: {type(exc).__name__})"
    finally:
        if log_level is None:
            os.environ.pop("TF_CPP_MIN_LOG_LEVEL", None)
        else:
            os.environ["TF_CPP_MIN_LOG_LEVEL"] = log_level
    return "Keras' default backend (no GPU visible to JAX)"


def import_keras(verbose=1):
    """Import Keras (and so its backend) with the backend's C++ log lines kept off stderr, unless
    `verbose` is 2 or the user's TF_CPP_MIN_LOG_LEVEL asks for them (below 3): TensorFlow prints
    its start-up lines (oneDNN, CUDA drivers) whatever that variable says, so stderr is closed
    while it starts."""
    asked = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "3") not in ("3", "")
    if verbose >= 2 or asked or "keras" in sys.modules:
        import keras

        return keras
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import keras

        if importlib.util.find_spec("tensorflow") is not None:
            # Keras seeds TensorFlow too (`keras.utils.set_random_seed`), whatever the backend.
            import tensorflow as tf

            tf.config.list_physical_devices("GPU")  # its device start-up lines, now
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
    return keras


def get_backend(name=None):
    """The ssgan backend module of the current (or the named) Keras backend."""
    import keras

    name = name or keras.backend.backend()
    if name == "jax":
        from ssgan.backends import jax_backend

        return jax_backend
    if name == "tensorflow":
        from ssgan.backends import tensorflow_backend

        return tensorflow_backend
    raise RuntimeError(
        f"ssgan trains with the Keras backends {', '.join(SUPPORTED_BACKENDS)}; the current "
        f"backend is {name!r}. Set KERAS_BACKEND=tensorflow (CPU) or KERAS_BACKEND=jax (GPU)."
    )
