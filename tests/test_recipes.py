"""Named recipes (`ssgan.recipes`) and the GPU compiler preference (`ssgan.backends`)."""

import dataclasses

import pytest

from ssgan.backends import prefer_cublas_gemm
from ssgan.recipes import RECIPES, recipe_settings
from ssgan.training import TrainingConfig


def test_every_recipe_is_a_valid_config():
    fields = {f.name for f in dataclasses.fields(TrainingConfig)}
    for name in RECIPES:
        settings = recipe_settings(name)
        assert set(settings) <= fields
        assert TrainingConfig(**settings).epochs == RECIPES[name]["epochs"]


def test_full_recipe_keeps_its_learning_rate_constant_for_any_length():
    assert recipe_settings("full")["lr_decay_start"] == 300
    assert recipe_settings("full", epochs=40)["lr_decay_start"] == 40
    assert recipe_settings("full", epochs=40, lr_decay_start=30)["lr_decay_start"] == 30
    # None means "not given": the recipe's value stays.
    assert recipe_settings("full", vbn=None)["vbn"] is False
    assert recipe_settings("full", vbn=True)["vbn"] is True
    assert "lr_decay_start" not in recipe_settings("fast")  # TrainingConfig's default: half


def test_unknown_recipe_names_the_known_ones():
    with pytest.raises(ValueError, match="fast, full"):
        recipe_settings("paper")


def test_prefer_cublas_gemm_adds_the_flag_once_and_respects_the_user(monkeypatch):
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    assert prefer_cublas_gemm() == "--xla_gpu_enable_triton_gemm=false"
    assert prefer_cublas_gemm() == "--xla_gpu_enable_triton_gemm=false"  # not twice
    monkeypatch.setenv("XLA_FLAGS", "--xla_gpu_autotune_level=0")
    assert prefer_cublas_gemm() == "--xla_gpu_autotune_level=0 --xla_gpu_enable_triton_gemm=false"
    monkeypatch.setenv("XLA_FLAGS", "--xla_gpu_enable_triton_gemm=true")
    assert prefer_cublas_gemm() == "--xla_gpu_enable_triton_gemm=true"
