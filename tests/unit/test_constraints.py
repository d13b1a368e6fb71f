"""Both README commands install from constraints.txt: every dependency pyproject.toml names is pinned there."""

from __future__ import annotations

import re
import tomllib

from tests.support.messages import ROOT


def _name(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def test_every_dependency_and_dev_extra_is_pinned_to_one_version() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(r) for r in [*project["dependencies"], *project["optional-dependencies"]["dev"]]}
    pins: dict[str, str] = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, sep, version = line.partition("==")
            assert sep and version, f"not a pin: {line!r}"
            pins[name.lower().replace("_", "-")] = version
    assert wanted - pins.keys() == set()
    assert {"pip", "setuptools"} <= pins.keys()  # the installer itself is pinned too
