import re
import tomllib

import yaml

from conftest import ROOT


def normalise(spec: str) -> str:
    name, rest = re.match(r"^([A-Za-z0-9_.\-]+)\s*(.*)$", spec.strip()).groups()
    return name.lower().replace("_", "-") + rest.replace(" ", "")


def test_environment_yml_mirrors_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {normalise(s) for s in project["dependencies"]}
    for extra in project["optional-dependencies"].values():
        wanted |= {normalise(s) for s in extra}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda = {normalise(d) for d in env["dependencies"] if isinstance(d, str)} - {"pip"}
    python = {d for d in conda if d.startswith("python=")}
    assert python == {"python=3.11"}
    assert conda - python == wanted
    assert project["requires-python"] == ">=3.11"
