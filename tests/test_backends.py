"""The backend-specific part (`ssgan.backends`): lookup and the GPU compiler preference."""

import keras
import pytest

from ssgan.backends import get_backend, prefer_cublas_gemm


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
