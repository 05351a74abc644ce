"""The package's metadata, offline: every third-party import of `ssgan/` is declared, the pinned
minimums of CI's second job are the declared lower bounds, the version is written once, and the
LICENSE file is the license the metadata names."""

import ast
import importlib.metadata
import re
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

import ssgan

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PROJECT = PYPROJECT["project"]
# Import names whose distribution is called otherwise.
DISTRIBUTIONS = {"PIL": "pillow", "sklearn": "scikit-learn", "yaml": "pyyaml",
                 "tensorflow_datasets": "tensorflow-datasets"}


def _normalized(name):
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def _declared():
    """Every requirement of the project and its extras."""
    extras = [r for group in PROJECT["optional-dependencies"].values() for r in group]
    return [Requirement(text) for text in PROJECT["dependencies"] + extras]


def _imported_modules(package=ROOT / "ssgan"):
    """The top-level names of the absolute imports in `package`'s modules, with a file each."""
    found = {}
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.partition(".")[0], path.relative_to(ROOT))
    return found


def test_every_third_party_import_is_declared():
    declared = {_normalized(r.name) for r in _declared()}
    third_party = {name: path for name, path in _imported_modules().items()
                   if name not in sys.stdlib_module_names and name not in ("ssgan", "__future__")}
    assert {"numpy", "keras", "PIL", "sklearn"} <= set(third_party)  # the scan sees them
    missing = {name: str(path) for name, path in third_party.items()
               if _normalized(DISTRIBUTIONS.get(name, name)) not in declared}
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"


def _lower_bounds():
    """{distribution: the version of its one `>=` bound}; every requirement has one."""
    bounds = {}
    for requirement in _declared():
        specifiers = list(requirement.specifier)
        assert [s.operator for s in specifiers] == [">="], f"{requirement}: one >= bound wanted"
        version = Version(specifiers[0].version)
        assert bounds.setdefault(_normalized(requirement.name), version) == version, requirement
    return bounds


def test_ci_minimums_pin_exactly_the_lower_bounds():
    pins = {}
    for line in (ROOT / ".ci" / "minimums.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            requirement = Requirement(line)
            (specifier,) = requirement.specifier
            assert specifier.operator == "==", line
            pins[_normalized(requirement.name)] = Version(specifier.version)
    assert pins == _lower_bounds()


def test_the_version_is_written_once():
    assert "version" not in PROJECT and PROJECT["dynamic"] == ["version"]
    assert PYPROJECT["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "ssgan.__version__"}
    assert importlib.metadata.version("ssgan") == ssgan.__version__
    Version(ssgan.__version__)  # a valid version


def test_license_file_matches_the_metadata():
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License\n") and "the ssgan developers" in text
    assert "Permission is hereby granted, free of charge" in text
    assert PROJECT["license"] == "MIT" and PROJECT["license-files"] == ["LICENSE"]
    metadata = importlib.metadata.metadata("ssgan")
    assert metadata["License-Expression"] == "MIT"
    assert "LICENSE" in (metadata.get_all("License-File") or [])
