"""The harness's run records (`benchmarks/records.py`): what results.json holds of each run."""

from conftest import parse_harness

from benchmarks import records


def test_a_resumed_plan_reports_its_recorded_runs_in_the_sections_of_both():
    """Runs first trained as generator rows, then resumed with `--ablation-rows`: the record and
    the plan both say ablation and generators; a narrower plan later drops neither, and a record
    the plan does not hold keeps its own."""
    _, _, first = parse_harness("--seeds", "1", "--labels", "", "--no-ablation",
                                "--generators", "feature-matching,minibatch")
    recorded = {spec.key: {"key": spec.key, "sections": list(spec.sections), "status": "ok"}
                for spec in first}
    recorded["other"] = {"key": "other", "sections": ["labels"], "status": "ok"}
    _, _, resumed = parse_harness("--seeds", "1", "--labels", "", "--ablation-rows", "mbd-gan,fm",
                                  "--generators", "minibatch")
    assert [s.key for s in resumed] == [s.key for s in first]  # the same runs
    assert [s.sections for s in resumed] == [["ablation"], ["ablation", "generators"]]
    records.merge_sections(recorded, resumed)
    both = ["generators", "ablation"]
    assert [recorded[s.key]["sections"] for s in resumed] == [both, both]
    assert [s.sections for s in resumed] == [both, both]
    _, _, narrower = parse_harness("--seeds", "1", "--labels", "", "--no-ablation",
                                   "--generators", "minibatch")
    records.merge_sections(recorded, narrower)
    assert [s.sections for s in narrower] == [both] == [recorded[narrower[0].key]["sections"]]
    assert recorded["other"]["sections"] == ["labels"]
