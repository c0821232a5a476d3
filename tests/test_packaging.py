import re
import subprocess
import sys
import tomllib

import pytest
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


@pytest.mark.slow
def test_xdist_groups_keep_their_tests_on_one_worker(tmp_path):
    """`make test` relies on `--dist loadgroup` (the notebook tests, the grid tests that start workers of
    their own): a pytest or pytest-xdist that silently stops grouping fails here, not as a slow or
    overloaded suite."""
    body = "import pytest\n" + "".join(f"\n@pytest.mark.xdist_group('g')\ndef test_{i}():\n    pass\n" for i in range(6))
    for name in ("test_a.py", "test_b.py"):
        (tmp_path / name).write_text(body)
    run = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup", "-v", "-p", "no:cacheprovider",
                          str(tmp_path)], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    passed = re.findall(r"\[(gw\d)\] .*PASSED", run.stdout)
    assert run.returncode == 0 and len(passed) == 12, run.stdout[-2000:]
    assert len(set(passed)) == 1, run.stdout[-2000:]
