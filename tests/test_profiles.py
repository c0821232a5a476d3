"""Notebook sources and profiles: clean notebooks whose defaults are the quick profile, and a
`profile` parameter that works interactively."""

import ast

import nbformat
import pytest

from activeloc.reporting.pipeline import notebooks
from activeloc.reporting.profiles import DEFAULT_PROFILE, apply_profile, load_profiles, profile_values
from conftest import ROOT


def test_notebooks_are_clean_sources():
    for nb_path in notebooks(ROOT):
        nb = nbformat.read(nb_path, as_version=4)
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1, f"{nb_path.name}: needs exactly one parameters cell"
        assert all(c.get("outputs", []) == [] and c.get("execution_count") is None
                   for c in nb.cells if c.cell_type == "code"), f"{nb_path.name} holds outputs"


def parameters_of(nb_path) -> dict:
    """The values a notebook's parameters cell assigns."""
    nb = nbformat.read(nb_path, as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    return {t.id: ast.literal_eval(node.value) for node in ast.parse(cell.source).body
            if isinstance(node, ast.Assign) for t in node.targets}


@pytest.mark.parametrize("nb_path", notebooks(ROOT), ids=lambda p: p.stem)
def test_notebook_defaults_are_the_quick_profile(nb_path):
    """The parameters cell holds the quick values, and every value any profile sets is a parameter
    of the notebook that quick sets too (so that apply_profile can tell a default from a choice)."""
    defaults, profiles = parameters_of(nb_path), load_profiles(ROOT)
    assert defaults["profile"] == DEFAULT_PROFILE
    quick = profiles[DEFAULT_PROFILE].get(nb_path.stem, {})
    assert {k: defaults[k] for k in quick} == quick
    for name, profile in profiles.items():
        for key in profile:
            if key.split("@")[0] == nb_path.stem:
                assert set(profile[key]) - {"testbed"} <= set(quick), f"{name}.{key} sets what quick does not"
                assert set(profile[key]) <= set(defaults), f"{name}.{key} sets what is no parameter"


def test_apply_profile_changes_defaults_and_keeps_choices(capsys):
    namespace = {**parameters_of(ROOT / "notebooks" / "03-selection-ablation.ipynb"), "profile": "tiny",
                 "seeds": [7]}
    changed = apply_profile(namespace, "03-selection-ablation", root=ROOT)
    tiny = profile_values(load_profiles(ROOT)["tiny"], "03-selection-ablation")
    assert namespace["selection_videos"] == tiny["selection_videos"] == changed["selection_videos"]
    assert namespace["seeds"] == [7] and "seeds" not in changed  # set by the user: kept
    assert "kept your seeds" in capsys.readouterr().out
    namespace = {**parameters_of(ROOT / "notebooks" / "04-batch-size.ipynb"), "testbed": "activitynet"}
    apply_profile(namespace, "04-batch-size", root=ROOT)  # quick on the second testbed: its variant applies
    assert namespace["batch_sizes"] == load_profiles(ROOT)["quick"]["04-batch-size@activitynet"]["batch_sizes"]
    with pytest.raises(ValueError, match="unknown profile 'huge'"):
        apply_profile({"profile": "huge"}, "01-dataset", root=ROOT)
