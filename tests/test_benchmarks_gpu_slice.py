"""`benchmarks/gpu_slice.sh`: each preset's command is one the harness (or speed.py) accepts and
plans what the preset says, so a typo is caught here rather than in a borrowed GPU's minutes."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from conftest import parse_harness

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_slice.sh"

pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")


def slice_script(*argv, seconds=540):
    return subprocess.run(["bash", str(SCRIPT), *argv], capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "SLICE_SECONDS": str(seconds)})


def presets():
    """The presets the script's own error message lists."""
    message = slice_script("show", "no-such-preset").stderr
    return re.search(r"\((.*)\)", message).group(1).split(", ")


def preset_argv(preset, seconds=540):
    shown = slice_script("show", preset, seconds=seconds)
    assert shown.returncode == 0, shown.stderr
    return shown.stdout.splitlines()


def test_usage_and_unknown_presets_are_one_line_errors():
    usage = slice_script()
    assert usage.returncode == 2 and usage.stderr.startswith("usage:")
    unknown = slice_script("show", "no-such-preset")
    assert unknown.returncode == 2 and "unknown preset 'no-such-preset'" in unknown.stderr
    assert {"speed", "labels", "labels-20", "cgan", "infogan", "suite"} <= set(presets())


@pytest.mark.parametrize("preset", ["labels", "labels-20", "cgan", "infogan", "infogan-tied",
                                    "minibatch", "suite"])
def test_harness_presets_parse_and_plan_what_they_say(preset):
    argv = preset_argv(preset)
    assert argv[:2] == ["python", "benchmarks/run_all.py"]
    args, _, runs = parse_harness(*argv[2:])
    assert args.resume and args.out == f"/tmp/results/{preset}"
    assert args.classifier_cache == ".gpu_data/eval_classifier"
    assert args.time_limit == 8  # a minute inside the 9-minute slice
    ids = {spec.run_id for spec in runs}
    if preset == "labels":
        assert len(ids) == 20 and args.seeds_per_step == 0
    elif preset == "labels-20":
        assert ids == {f"fm-l20-s{seed}" for seed in range(5)}
    elif preset != "suite":
        generator = "mbd-gan" if preset == "minibatch" else preset
        assert ids == {f"{generator}-l100-s{seed}" for seed in range(5)}
    assert all(spec.settings["epochs"] == 300 for spec in runs)
    assert preset_argv(preset, seconds=300)[preset_argv(preset).index("--time-limit") + 1] == "4"


def test_speed_preset_times_both_precisions_and_the_time_to_99():
    from benchmarks import speed

    shown = slice_script("show", "speed")
    assert shown.returncode == 0 and shown.stdout.startswith("bash\n-c\n")
    script = shown.stdout
    commands = [line.strip(" \\") for line in script.replace("\\\n", " ").splitlines()
                if "benchmarks/speed.py" in line]
    assert len(commands) == 2
    for command in commands:
        flags = command.split("benchmarks/speed.py", 1)[1].split()
        flags = [flag.replace("$p", "high").replace("$data", "d").replace("$out", "o")
                 for flag in flags if flag not in ('"$@"', "||", "exit;", "done")]
        speed.build_parser().parse_args(flags)
    assert "--seeds-in-step 1,5,20" in commands[0] and "for p in highest high" in script
    assert "--to-99" in commands[1]
