"""A generator objective defined here alone, registered through the public API, trains through
the benchmark harness (`benchmarks.cli.main --quick`) with its grids, its metric and its report
row: the harness knows generators from the registry only."""

import json
from pathlib import Path

import numpy as np
import pytest
from keras import ops

from benchmarks import cli
from benchmarks import plan
from ssgan.objectives import OBJECTIVES
from ssgan.objectives import Grid
from ssgan.objectives import Objective
from ssgan.objectives import register_objective
from ssgan.objectives.base import match_features
from ssgan.objectives.base import uniform_latent
from ssgan.objectives.base import uniform_z


class ToyObjective(Objective):
    """z ~ U(0, 1)^d; feature matching plus a zero-weighted term on the fakes' class logits."""

    name = "toy-test"
    label = "toy generator (test)"
    metrics = (("toy_zero_share", "toy: samples called 0 (%)"),)
    metric_note = "Toy: the share of samples the evaluation classifier calls 0."

    def sample(self, seed_generator, batch_size):
        return uniform_latent(seed_generator, batch_size, self.latent_dim), {}

    def generator_loss(self, fake_outputs, real_outputs, latent):
        fm = match_features(fake_outputs, real_outputs)
        return fm + 0.0 * ops.mean(fake_outputs["logits"]), {"loss_toy": fm}

    def grids(self, seed=0):
        z = uniform_z(np.random.default_rng(seed), 16, self.latent_dim)
        return [Grid("toy_grid.png", z, 4, 4)]

    def quality_metrics(self, generate, classify, n, seed=0):
        z = uniform_z(np.random.default_rng(seed), n, self.latent_dim)
        return {"toy_zero_share": float(np.mean(classify(generate(z)) == 0))}


@pytest.fixture
def toy_objective():
    register_objective(ToyObjective)
    yield ToyObjective
    OBJECTIVES.pop(ToyObjective.name, None)


def test_the_registered_generator_is_a_harness_row(toy_objective):
    assert list(plan.generators())[-1] == "toy-test"
    assert plan.variants()["toy-test"] == {"label": "toy generator (test)",
                                           "generator": "toy-test"}


def test_a_registered_generator_trains_through_the_quick_path(toy_objective, tmp_path):
    out = tmp_path / "toy"
    code = cli.main(["--quick", "--generators", "toy-test", "--no-ablation", "--labels", "",
                     "--epochs", "1", "--out", str(out), "--classifier", "smoke"])
    assert code == 0
    (record,) = json.loads((out / "results.json").read_text())["runs"]
    assert record["id"] == "toy-test-l100-s0" and record["status"] == "ok", record.get("error")
    assert record["generator"] == "toy-test" and record["sections"] == ["generators"]
    assert len(record["test_errors"]) == 1 and record["fid"] is not None
    assert 0.0 <= record["toy_zero_share"] <= 1.0, record.get("metrics_error")
    assert sorted(Path(p).name for p in record["samples"]) == ["samples.png", "toy_grid.png"]
    for rel in record["samples"]:
        assert (out / rel).is_file()
    assert (out / "samples" / "toy-test-l100-toy_grid.png").is_file()
    report = (out / "REPORT.md").read_text()
    assert ("| generator | seeds | test error (%) | feature matching, same seeds (%) | MNIST-FID ↓ "
            "| toy: samples called 0 (%) |" in report)
    assert "| toy generator (test) | 1 |" in report
    assert ToyObjective.metric_note in report
    assert "toy-test-l100-toy_grid.png" in report
