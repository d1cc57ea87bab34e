"""The versions the package declares are the versions CI tests.

``.ci/run_oldest`` runs the suite with every dependency pinned to the
oldest release ``pyproject.toml`` admits (``.ci/oldest-versions.txt``): a
lower bound raised or lowered in one file and not the other would test
versions nobody declared, or declare versions nobody tested.
"""

from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


def project_table() -> dict:
    """The ``[project]`` table of pyproject.toml."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11 and later
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def declared_lower_bounds() -> dict[str, Version]:
    """Each runtime and test dependency's ``>=`` bound, by name."""
    project = project_table()
    bounds = {}
    for line in project["dependencies"] + project["optional-dependencies"]["test"]:
        requirement = Requirement(line)
        for specifier in requirement.specifier:
            if specifier.operator == ">=":
                bounds[requirement.name] = Version(specifier.version)
    return bounds


def oldest_pins() -> dict[str, Version]:
    pins = {}
    for line in (ROOT / ".ci" / "oldest-versions.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.strip()] = Version(version)
    return pins


def test_each_oldest_pin_is_a_declared_lower_bound():
    bounds, pins = declared_lower_bounds(), oldest_pins()
    assert pins, "no pins read"
    for name, version in pins.items():
        assert name in bounds, f"{name} is pinned but not declared"
        # 1.10 and 1.10.0 are one version; a pin past the bound would test
        # a newer release than users may have.
        assert version == bounds[name], (name, version, bounds[name])


def test_every_runtime_dependency_but_torch_is_pinned():
    """torch stays at the local CPU wheel in CI (its oldest is a CUDA
    build on PyPI): ``SKHYPER_OLDEST_TORCH`` runs the declared one."""
    runtime = {Requirement(line).name for line in project_table()["dependencies"]}
    assert runtime - set(oldest_pins()) == {"torch"}
