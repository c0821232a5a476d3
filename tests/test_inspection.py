"""The run inspector's data: a step of a finished run replayed gives the batch the run recorded,
explained by each selector's evidence."""
import shutil

import joblib
import numpy as np
import pytest

from activeloc.active.histograms import entropies
from activeloc.experiments import make_cells, run_grid
from activeloc.experiments.inspection import NotReplayable, grid_folders, inspect_step, list_runs, side_by_side
from conftest import write_dataset_folder

SELECTORS = ["random", "uncertainty", "mcle", "lal", "uncertainty-diverse", "mcle-per-second"]
LAL_SMALL = {"lal": {"n_states": 4, "probes_per_state": 4}}


@pytest.fixture(scope="module")
def grid(tmp_path_factory):
    folder = write_dataset_folder(tmp_path_factory.mktemp("dataset"), n=400)
    out = tmp_path_factory.mktemp("grid")
    sizes = dict(selection_videos=120, testing_videos=60, knowledge_videos=120, selector_params=LAL_SMALL)
    # Every selector without annotation noise; Uncertainty with it too (the replayed oracle's draws).
    cells = (make_cells(folder, SELECTORS, [16], [0.0], [3], **sizes)
             + make_cells(folder, ["uncertainty"], [16], [0.2], [3], **sizes))
    run_grid(cells, out)
    return folder, out


def test_runs_are_listed_with_their_settings(grid):
    _, out = grid
    runs = list_runs(out)
    assert sorted(runs["selector"].unique()) == sorted(SELECTORS)
    assert len(runs) == len(SELECTORS) + 1 and runs["replayable"].all() and set(runs["seed"]) == {3}
    assert set(runs.loc[runs["noise"] == 0.2, "selector"]) == {"uncertainty"}
    # 120 Selection videos, 12 labelled to start, batches of 16: 7 selections (the last one of 12).
    assert runs["steps"].eq(7).all()


@pytest.mark.parametrize("selector", SELECTORS)
def test_a_replayed_step_chooses_what_the_run_recorded(grid, selector):
    _, out = grid
    runs = list_runs(out)
    for run_id in runs.loc[runs["selector"] == selector, "run_id"]:  # Uncertainty's with and without noise
        for step in (0, 3):
            seen = inspect_step(out, run_id, step)
            assert seen.matches_record, seen.table[["video_id", "recorded_video_id", "utility", "recorded_utility"]]
            labelled = set(seen.replay.labelled.video_ids)
            assert len(labelled) == 12 + 16 * step and not labelled & set(seen.video_ids)
            assert set(seen.replay.pool.video_ids) == set(seen.dataset.video_ids) - labelled


def test_the_evidence_is_the_selectors_own(grid):
    _, out = grid
    runs = list_runs(out).set_index(["selector", "noise"])["run_id"]
    unc = inspect_step(out, runs["uncertainty", 0.0], 2)
    scores = unc.replay.localizer.attention_scores(unc.replay.pool.subset(unc.video_ids))
    for _, row in unc.table.iterrows():  # the utility is the entropy of the histogram shown
        hist = np.histogram(np.clip(scores[row["video_id"]], 0, 1), bins=10, range=(0, 1))[0]
        assert np.allclose(row["histogram"], hist / hist.sum())
        assert row["entropy"] == pytest.approx(entropies(np.asarray([row["histogram"]]))[0])
        assert row["utility"] == pytest.approx(row["entropy"])
    mcle = inspect_step(out, runs["mcle", 0.0], 1)
    t = mcle.table
    assert np.allclose(t["disagreement"], (1 + t["conflict"]) / 2)
    # The first pick's utility is its disagreement over one plus its class's labelled videos.
    assert t["utility"].iloc[0] == pytest.approx(t["disagreement"].iloc[0] / (1 + t["labelled_of_class"].iloc[0]))
    assert t["current_attention"].between(0, 1).all() and t["prior_attention"].between(0, 1).all()
    lal = inspect_step(out, runs["lal", 0.0], 1)
    assert np.allclose(lal.table["utility"], lal.table["predicted_gain"]) and "score_mean" in lal.table
    diverse = inspect_step(out, runs["uncertainty-diverse", 0.0], 1)
    assert {"base_utility", "redundancy", "entropy"} <= set(diverse.table.columns)
    assert np.allclose(diverse.table["base_utility"], diverse.table["entropy"])
    per_second = inspect_step(out, runs["mcle-per-second", 0.0], 1)
    assert np.allclose(per_second.table["seconds"], per_second.table["duration"])


def test_two_runs_side_by_side(grid):
    _, out = grid
    runs = list_runs(out).set_index(["selector", "noise"])["run_id"]
    a, b = inspect_step(out, runs["uncertainty", 0.0], 0), inspect_step(out, runs["random", 0.0], 0)
    both = side_by_side(a, b)
    assert both["a_video_id"].tolist() == a.video_ids and both["b_utility"].tolist() == b.table["utility"].tolist()
    assert both["a_also_chosen_by_other"].tolist() == [v in set(b.video_ids) for v in a.video_ids]
    assert both.attrs["a"] == "uncertainty (seed 3, step 0)"


def test_what_cannot_be_replayed_says_why(grid, tmp_path):
    folder, out = grid
    run_id = list_runs(out)["run_id"].iloc[0]
    with pytest.raises(NotReplayable, match="no such run"):
        inspect_step(out, "nope", 0)
    with pytest.raises(ValueError, match="not at step 99"):
        inspect_step(out, run_id, 99)
    # Another folder holding these runs, whose dataset was rewritten: listed, not replayable.
    copy = tmp_path / "grid"
    shutil.copytree(out, copy)
    for path in (copy / "cells").glob("*.joblib"):
        cell = joblib.load(path)
        joblib.dump({**cell, "dataset": "0" * 32}, path)
    runs = list_runs(copy)
    assert not runs["replayable"].any() and runs["why_not"].str.contains("changed since the run").all()
    with pytest.raises(NotReplayable, match="changed since the run"):
        inspect_step(copy, run_id, 0)


def test_the_inspector_widget_opens_a_clicked_videos_timeline(grid, tmp_path):
    from activeloc.ui import RunInspector

    _, out = grid
    runs = list_runs(out).set_index(["selector", "noise"])["run_id"]
    view = RunInspector(out, run_id=runs["mcle", 0.0], compare=runs["uncertainty", 0.0], step=2)
    assert view.inspection.step == 2 and view.compared.selector_name == "uncertainty"
    assert "the replay chose what the run recorded" in view.status.value
    buttons = [w for row in view.batch.children if hasattr(row, "children") for w in row.children
               if "activeloc-open-video" in w._dom_classes]
    assert [b.description for b in buttons] == view.inspection.video_ids
    assert view.timeline is None
    buttons[1].click()
    vid = view.inspection.video_ids[1]
    assert view.timeline.video_id == vid and view.timeline_box.children == (view.timeline,)
    lanes = [ln["name"] for ln in view.timeline.lanes]
    assert lanes == ["ground truth", "candidates", "detections", "evidence"]
    assert "conflict" in view.detail.value and vid in view.detail_title.value
    view.step_box.value = 4  # another step: replayed, the detail cleared
    assert view.inspection.step == 4 and view.timeline is None and view.compared.step == 4
    unc = RunInspector(out, run_id=runs["uncertainty", 0.0])
    unc.open_video(unc.inspection.video_ids[0])
    assert unc.detail.value.count("activeloc-bar'") == 10  # the score histogram, as bars
    rnd = RunInspector(out, run_id=runs["random", 0.0])
    rnd.open_video(rnd.inspection.video_ids[0])
    assert "a random draw" in rnd.detail.value and "evidence" not in [ln["name"] for ln in rnd.timeline.lanes]
    # Several folders (testbeds, experiments), picked in the first box; one without runs says so.
    several = RunInspector({"simulated/grid": out, "elsewhere/none": tmp_path / "none"}, run_id=runs["lal", 0.0])
    assert several.inspection.selector_name == "lal" and several.folder_box.value == "simulated/grid"
    several.folder_box.value = "elsewhere/none"
    assert "no replayable run" in several.status.value and several.batch.children == ()
    several.folder_box.value = "simulated/grid"
    assert several.inspection.selector_name == list_runs(out)["selector"].iloc[0] and len(several.batch.children) > 2


def test_grid_folders_are_every_testbeds_kept_grids(tmp_path):
    for folder in ("data/processed/experiments/selection-ablation/cells", "data/processed/experiments/no-cells",
                   "data/processed/experiments-kinetics/batch-size/cells"):
        (tmp_path / folder).mkdir(parents=True)
    assert grid_folders(tmp_path) == {
        "simulated/selection-ablation": tmp_path / "data/processed/experiments/selection-ablation",
        "kinetics/batch-size": tmp_path / "data/processed/experiments-kinetics/batch-size"}
