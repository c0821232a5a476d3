"""The public API: README's ten-line example runs as written, and the package root exports the main names."""

import re

import activeloc
from conftest import ROOT


def test_readme_example_runs_as_written(capsys):
    readme = (ROOT / "README.md").read_text()
    block = re.search(r"## In ten lines\s+```python\n(.*?)```", readme, re.S).group(1)
    assert len(block.strip().splitlines()) <= 10
    exec(compile(block, "README.md", "exec"), {})
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].split() == ["labelled_ratio", "average_mAP"]
    ratios = [float(line.split()[0]) for line in lines[1:]]
    maps = [float(line.split()[1]) for line in lines[1:]]
    assert ratios[0] < 0.15 and ratios[-1] == 1.0 and maps[-1] > maps[0]


def test_the_root_exports_the_main_names():
    for name in ("StageWiseLocalizer", "make_selector", "available_selectors", "ActiveLearningLoop",
                 "SimulatedOracle", "HumanOracle", "AnnotationQueue", "evaluate_detections", "read_ground_truth",
                 "load_dataset", "save_dataset", "run_grid", "make_cells"):
        assert name in activeloc.__all__ and getattr(activeloc, name) is not None
    assert set(activeloc.available_selectors()) == {"random", "uncertainty", "mcle", "lal", "mcle-conflict-only",
                                                    "mcle-label-equality-only"}
