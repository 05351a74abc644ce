"""The benchmark harness's plan (`benchmarks/plan.py`): which runs a command line asks for,
their configurations (the ablation's, one generator row per registered objective and variant),
the training settings each gets and the keys that `--resume` matches."""

import json
from pathlib import Path

import pytest
from conftest import PAPER_MINIBATCH_LABEL
from conftest import parse_harness

from benchmarks import plan
from benchmarks import report

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def test_plan_shares_runs_between_sections():
    _, _, runs = parse_harness("--seeds", "2")
    ids = [spec.run_id for spec in runs]
    # 4 label counts; the ablation's fm-vbn, mbd-gan, mbd-gan-vbn; the cgan and infogan rows
    # (feature matching's and minibatch's generator rows are the ablation's fm and mbd-gan).
    assert len(ids) == len(set(ids)) == 2 * (4 + 3 + 3)
    assert ids[0] == "fm-l20-s0"
    shared = next(spec for spec in runs if spec.run_id == "fm-l100-s1")
    assert shared.sections == ["labels", "ablation", "generators"]
    minibatch = next(spec for spec in runs if spec.run_id == "mbd-gan-l100-s1")
    assert minibatch.sections == ["ablation", "generators"]
    assert not any(spec.variant in plan.LEGACY_ABLATION for spec in runs)
    # A changed setting is a different run (not skipped by --resume); the seed list is not.
    _, other, _ = parse_harness("--epochs", "7")
    assert plan.RunSpec("fm", 100, 1, [], "mnist", other).key != shared.key
    assert plan.seeds_from("3", False) == [0, 1, 2] and plan.seeds_from("4,7", False) == [4, 7]
    with pytest.raises(ValueError, match="positive"):
        plan.seeds_from("0", False)


def test_run_keys_are_those_of_the_committed_results_unless_a_default_changed():
    """A run's key (what --resume matches) is a hash of its identity: it must not change, or
    committed suites would train again. h200-full-recipe-consistency-50-labels holds runs of
    the default suite with the current "full" recipe: every key must come out of the current
    code. mnist-cpu's runs predate the recipe's shifts and consistency term, a default of the
    harness since, and sampled from the generator's last weights: they are other runs now."""
    results = BENCHMARKS / "results"
    document = json.loads((results / "h200-full-recipe-consistency-50-labels" / "results.json")
                          .read_text())
    settings = document["suite"]["settings"]
    assert settings["overrides"] == {}
    for record in document["runs"]:
        spec = plan.RunSpec(record["variant"], record["labels"], record["seed"], [],
                            record["dataset"], settings)
        assert spec.key == record["key"], record["id"]
        assert spec.config_fields["consistency_weight"] == record["options"]["consistency_weight"]
    last_weights = {**settings, "overrides": {"generator_ema": False}}
    averaged = plan.RunSpec("fm", 100, 0, [], "mnist", settings)
    assert averaged.identity["generator_ema"] is True
    assert averaged.key != plan.RunSpec("fm", 100, 0, [], "mnist", last_weights).key
    old = json.loads((results / "mnist-cpu" / "results.json").read_text())
    old_settings = {**old["suite"]["settings"], "overrides": {"generator_ema": False}}
    for record in old["runs"]:
        spec = plan.RunSpec(record["variant"], record["labels"], record["seed"], [],
                            record["dataset"], old_settings)
        assert spec.key != record["key"] and "consistency_weight" not in record["options"]
    cgan = plan.RunSpec("cgan", 100, 0, [], "mnist", settings).identity["generator_options"]
    assert cgan["pair_weight"] == 0.0 and cgan["diversity_weight"] == 1.0
    assert cgan["class_weight"] == 1.0
    tied = plan.RunSpec("infogan-tied", 100, 0, [], "mnist", settings).identity
    assert tied["generator_options"]["tie_codes_to_labels"] is True  # given over the default


def test_generator_variants_come_from_the_objectives_registry():
    from ssgan.objectives import OBJECTIVES

    names = plan.generators()
    assert list(names) == ["feature-matching", "cgan", "infogan", "infogan-tied", "minibatch"]
    assert names["feature-matching"] == plan.RECOMMENDED  # the label table's configuration
    table = plan.variants()
    assert table["cgan"] == {"label": OBJECTIVES["cgan"].label, "generator": "cgan",
                             **OBJECTIVES["cgan"].harness_settings}
    assert table["infogan-tied"]["generator_options"] == {"tie_codes_to_labels": True}
    assert table["infogan-tied"]["label"] == "InfoGAN (codes tied to labels)"
    assert set(plan.ABLATION) <= set(table)
    columns, notes = report.generator_metrics(["fm", "cgan", "infogan", "infogan-tied"])
    assert list(columns.values()) == ["CGAN class consistency (%)",
                                      "InfoGAN code→class acc. (%)", "code k ↦ class k (%)"]
    assert len(notes) == 2


def test_the_ablations_minibatch_rows_are_the_papers_model():
    """The ablation runs the `minibatch` objective (minibatch discrimination, generator trained
    with the GAN loss), and the minibatch generator row is that run; the earlier rows with the
    feature-matching generator keep their fields (their keys are in committed suites)."""
    from ssgan.objectives import OBJECTIVES

    table = plan.variants()
    faithful = {"generator": "minibatch", **OBJECTIVES["minibatch"].harness_settings}
    assert table["mbd-gan"] == {"label": PAPER_MINIBATCH_LABEL, **faithful}
    assert table["mbd-gan-vbn"] == {"label": f"{PAPER_MINIBATCH_LABEL} + VBN",
                                    **faithful, "vbn": True}
    assert plan.generators()["minibatch"] == "mbd-gan"
    assert plan.ABLATION == ("fm", "fm-vbn", "mbd-gan", "mbd-gan-vbn")
    for variant, vbn in (("mbd", False), ("mbd-vbn", True)):
        assert {k: v for k, v in table[variant].items() if k != "label"} == {
            "generator": "feature-matching", "minibatch_discrimination": True, "vbn": vbn}
        assert "feature-matching generator" in table[variant]["label"]
    _, settings, _ = parse_harness("--epochs", "6")
    fields = plan.RunSpec("mbd-gan", 100, 0, [], "mnist", settings).config_fields
    assert fields["generator_steps"] == 3 and fields["minibatch_discrimination"] is True


def test_quick_widths_come_from_the_architecture():
    from ssgan.models import ARCHITECTURES

    for name, architecture in ARCHITECTURES.items():
        _, settings, _ = parse_harness("--quick", "--architecture", name)
        d_hidden, g_hidden = architecture.smoke_hidden
        assert settings["discriminator_hidden"] == list(d_hidden)
        assert settings["generator_hidden"] == list(g_hidden)


def test_every_variant_trains_with_the_full_recipes_optimizer():
    _, settings, _ = parse_harness("--epochs", "40")
    fields = plan.RunSpec("fm", 100, 0, [], "mnist", settings).config_fields
    assert (fields["vbn"], fields["lr_decay_start"], fields["generator_learning_rate"],
            fields["generator_beta_1"], fields["beta_2"]) == (False, 40, 0.001, 0.0, 0.9999)
    assert plan.RunSpec("fm-vbn", 100, 0, [], "mnist", settings).config_fields["vbn"] is True
    # --set wins over the recipe (it is applied last, in training_config).
    _, settings, _ = parse_harness("--set", "generator_learning_rate=0.003")
    spec = plan.RunSpec("fm", 100, 0, [], "mnist", settings)
    assert plan.training_config(spec).generator_learning_rate == 0.003


def test_a_generator_options_override_adds_to_the_variants_options():
    """`--set generator_options=...` adds to a variant's own options (infogan-tied keeps its
    tied codes) in the trained config and in the run's identity."""
    _, settings, _ = parse_harness(
        "--epochs", "2", "--set", 'generator_options={"complement_share": 0.5}',
        "--set", "consistency_weight=1.0")
    spec = plan.RunSpec("infogan-tied", 100, 0, [], "mnist", settings)
    config = plan.training_config(spec)
    assert config.generator_options == {"tie_codes_to_labels": True, "complement_share": 0.5}
    assert config.consistency_weight == 1.0
    options = spec.identity["generator_options"]
    assert options["tie_codes_to_labels"] is True and options["complement_share"] == 0.5


def test_ablation_rows_choose_part_of_the_ablation():
    """`--ablation-rows` plans only the rows named, with the keys the whole ablation gives them
    (so `--resume` matches), and names an unknown row."""
    _, _, whole = parse_harness("--seeds", "1", "--labels", "", "--generators", "")
    _, _, part = parse_harness("--seeds", "1", "--labels", "", "--generators", "",
                               "--ablation-rows", "mbd-gan,fm")
    assert [s.run_id for s in whole] == ["fm-l100-s0", "fm-vbn-l100-s0", "mbd-gan-l100-s0",
                                        "mbd-gan-vbn-l100-s0"]
    assert [s.run_id for s in part] == ["fm-l100-s0", "mbd-gan-l100-s0"]
    keys = {s.run_id: s.key for s in whole}
    assert all(s.key == keys[s.run_id] and s.sections == ["ablation"] for s in part)
    _, _, none = parse_harness("--seeds", "1", "--labels", "", "--generators", "",
                               "--ablation-rows", "fm", "--no-ablation")
    assert none == []
    with pytest.raises(ValueError, match="Unknown --ablation-rows mbd: expected names from fm"):
        parse_harness("--ablation-rows", "mbd")
