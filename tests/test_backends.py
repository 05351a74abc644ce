"""The backend-specific part (`ssgan.backends`): lookup and the GPU compiler preference."""

import os
import sys
import types

import keras
import pytest

from ssgan.backends import choose_backend, get_backend, prefer_cublas_gemm


def test_the_backend_module_of_the_current_backend():
    backend = get_backend()
    assert backend.__name__.endswith(f"{keras.backend.backend()}_backend")
    assert backend.device_description()
    with pytest.raises(RuntimeError, match="KERAS_BACKEND=tensorflow"):
        get_backend("torch")


def test_prefer_cublas_gemm_adds_the_flag_once_and_respects_the_user(monkeypatch):
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    assert prefer_cublas_gemm() == "--xla_gpu_enable_triton_gemm=false"
    assert prefer_cublas_gemm() == "--xla_gpu_enable_triton_gemm=false"  # not twice
    monkeypatch.setenv("XLA_FLAGS", "--xla_gpu_autotune_level=0")
    assert prefer_cublas_gemm() == "--xla_gpu_autotune_level=0 --xla_gpu_enable_triton_gemm=false"
    monkeypatch.setenv("XLA_FLAGS", "--xla_gpu_enable_triton_gemm=true")
    assert prefer_cublas_gemm() == "--xla_gpu_enable_triton_gemm=true"


def test_jax_is_chosen_where_it_sees_a_gpu_unless_keras_backend_says(monkeypatch):
    def fake_jax(platform):
        device = types.SimpleNamespace(platform=platform)
        return types.SimpleNamespace(devices=lambda: [device])

    # Recorded first, so that what choose_backend sets is undone after the test.
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    monkeypatch.delenv("KERAS_BACKEND")
    monkeypatch.setitem(sys.modules, "jax", fake_jax("gpu"))
    assert choose_backend() == "KERAS_BACKEND=jax (JAX sees a GPU)"
    assert os.environ["KERAS_BACKEND"] == "jax"
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    assert choose_backend() == "KERAS_BACKEND=tensorflow (from the environment)"
    monkeypatch.delenv("KERAS_BACKEND")
    monkeypatch.setitem(sys.modules, "jax", fake_jax("cpu"))
    assert choose_backend() == "Keras' default backend (no GPU visible to JAX)"
    assert "KERAS_BACKEND" not in os.environ
