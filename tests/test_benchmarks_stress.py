"""benchmarks/stress_guard.py: the criterion on hand-made records, the configurations of its
three variants, and `--resume` keeping only a measurement of the same settings."""

import json

import pytest

from benchmarks import stress_guard


def _run(seed, variant, error, collapsed=False, first=None, done=10, gave_up=False):
    return {"seed": seed, "variant": variant, "final_test_error": error, "collapsed": collapsed,
            "first_collapsed_epoch": first, "epochs": 10, "epochs_done": done,
            "guard_gave_up": gave_up}


def test_criterion_per_seed():
    runs = [_run(0, "unstressed", 0.07), _run(0, "stressed", 0.20, True, 2),
            _run(0, "guarded", 0.075),
            _run(1, "unstressed", 0.11), _run(1, "stressed", 0.21, False, 3),
            _run(1, "guarded", 0.125),  # 1.5 points worse: out of tolerance
            _run(2, "unstressed", 0.09)]  # incomplete: left out
    crit = stress_guard.criterion(runs, tolerance=0.01)
    assert [row["seed"] for row in crit["seeds"]] == [0, 1]
    first, second = crit["seeds"]
    assert first["stressed_collapsed"] and first["guarded_healthy"] and first["within_tolerance"]
    assert first["guarded_minus_unstressed"] == pytest.approx(0.005)
    assert second["stressed_collapsed"] and not second["within_tolerance"]
    assert not crit["met"]
    assert stress_guard.criterion(runs[:3], tolerance=0.01)["met"]
    # A stressed run that never collapsed, or a guarded one that gave up, fails the seed.
    calm = [runs[0], _run(0, "stressed", 0.08), runs[2]]
    assert not stress_guard.criterion(calm, 0.01)["met"]
    gave_up = runs[:2] + [_run(0, "guarded", 0.07, done=7, gave_up=True)]
    assert not stress_guard.criterion(gave_up, 0.01)["seeds"][0]["guarded_healthy"]
    assert not stress_guard.criterion([], 0.01)["met"]


def test_variants_configure_the_stress_and_the_guard():
    args = stress_guard.build_parser().parse_args(["--epochs", "4"])
    assert args.seeds == [0, 1, 2] and args.variants == list(stress_guard.VARIANTS)
    plain = stress_guard.config_for(args, 1, "unstressed")
    stressed = stress_guard.config_for(args, 1, "stressed")
    guarded = stress_guard.config_for(args, 1, "guarded")
    assert plain.generator_learning_rate is None and not plain.collapse_guard
    assert stressed.generator_learning_rate == 0.006 and not stressed.collapse_guard
    assert guarded.generator_learning_rate == 0.006 and guarded.collapse_guard
    for config in (plain, stressed, guarded):  # the paper's recipe, constant rates
        assert (config.vbn, config.epochs, config.lr_decay_start, config.seed) == (False, 4, 4, 1)


def test_resume_keeps_only_a_measurement_of_the_same_settings(tmp_path):
    suite = {"epochs": 10, "labels": 100, "stressed_generator_learning_rate": 0.006,
             "backend": "jax"}
    path = tmp_path / "stress.json"
    path.write_text(json.dumps({"suite": suite, "runs": [_run(0, "stressed", 0.2)]}))
    assert stress_guard.resumed_runs(path, suite) == [_run(0, "stressed", 0.2)]
    with pytest.raises(ValueError, match="measured with epochs 10, not 4"):
        stress_guard.resumed_runs(path, {**suite, "epochs": 4})
