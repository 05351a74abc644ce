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
  (JAX only: `vmap`; TensorFlow raises NotImplementedError).
- `compile_function(fn, precision, jit_compile)`: a compiled pure function (evaluation).
- `to_device(array)`, `to_numpy(tensor)`, `device_description()`.

`precision` is JAX's matmul precision; `jit_compile` asks TensorFlow for XLA (None: on a GPU).
"""

import os

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
