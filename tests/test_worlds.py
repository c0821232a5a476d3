"""The worlds study: one dataset per (knob, level), the default world shared, a paired table per
world (notebook 06 runs in tests/test_pipeline.py's tiny pipeline)."""

import json

import numpy as np
import pandas as pd
import pytest

from activeloc.data.dataset import load_dataset
from activeloc.experiments.worlds import (WORLD_TABLE_COLUMNS, build_world, world_checks, world_grid, world_name,
                                          worlds_study)
from activeloc.reporting.plots import plot_worlds

TINY = {"n_videos": 240, "n_classes": 12, "feature_dim": 8}


def test_world_grid_and_names():
    assert world_grid(["confusion"], ["low", "high"]) == [("confusion", "low"), ("confusion", "high")]
    assert len(world_grid()) == 15
    assert world_grid("confusion", "high") == [("confusion", "high")]  # a name given as text, not its letters
    assert world_name("confusion", "default") == world_name("submodes", "default") == "default"
    assert world_name("confusion", "high") == "confusion-high"
    with pytest.raises(ValueError, match="unknown world knob 'colour'"):
        world_grid(["colour"])
    with pytest.raises(ValueError, match="unknown world level 'extreme'"):
        world_grid(["confusion"], ["extreme"])


def test_a_world_is_built_once_and_again_when_its_parameters_change(tmp_path):
    folder = build_world(tmp_path / "w", "confusion", "high", **TINY)
    written = json.loads((folder / "parameters.json").read_text())
    assert written["confusion"] == 0.75 and written["world"] == {"knob": "confusion", "level": "high"}
    stamp = (folder / "features.h5").stat().st_mtime_ns
    build_world(tmp_path / "w", "confusion", "high", **TINY)
    assert (folder / "features.h5").stat().st_mtime_ns == stamp  # the same world: reused
    build_world(tmp_path / "w", "confusion", "low", **TINY)
    assert json.loads((folder / "parameters.json").read_text())["confusion"] == 0.25
    # Another world, the same annotations: the knobs change features only.
    other = build_world(tmp_path / "v", "submodes", "low", **TINY)
    pd.testing.assert_frame_equal(load_dataset(folder).ground_truth.instances, load_dataset(other).ground_truth.instances)
    assert not np.array_equal(load_dataset(folder).features.snippets(load_dataset(folder).video_ids[0]),
                              load_dataset(other).features.snippets(load_dataset(folder).video_ids[0]))
    with pytest.raises(ValueError, match=r"world knobs' parameters \['confusion'\]"):
        build_world(tmp_path / "u", "confusion", "low", simulator_params={"confusion": 0.1}, **TINY)


def test_world_checks_measure_each_world_once(tmp_path):
    folders = {("confusion", "default"): build_world(tmp_path / "default", "confusion", "default", **TINY),
               ("submodes", "default"): tmp_path / "default"}
    checks = world_checks(folders, seeds=[0])
    assert list(checks[["knob", "level"]].itertuples(index=False, name=None)) == list(folders)
    assert checks.drop(columns="knob").duplicated(keep=False).all()  # one world, measured once, shown twice
    assert ((checks["average_mAP"] > 0) & (checks["average_mAP"] <= checks["mAP@0.5"])).all()
    assert (checks["fraction_of_full_at_10pct"] > 0).all()


@pytest.mark.slow  # three worlds, each a dataset and eight loop runs
def test_worlds_study_pairs_every_selector_with_random_in_every_world(tmp_path):
    study = worlds_study(tmp_path, ["random", "uncertainty"], [0, 1], knobs=["confusion", "boundary_ambiguity"],
                         levels=["low", "default"], batch_size=64, **TINY)
    table = study.table
    assert list(table.columns[: len(WORLD_TABLE_COLUMNS)]) == WORLD_TABLE_COLUMNS
    assert len(table) == 2 * 2 * 2 and (table["runs"] == 2).all()
    random = table[table["selector"] == "random"]
    assert (random[WORLD_TABLE_COLUMNS[3:]] == 0).all().all()
    # The default world is one world: the same runs, so the same numbers, under both knobs.
    default = table[table["level"] == "default"].drop(columns="knob").reset_index(drop=True)
    pd.testing.assert_frame_equal(default.iloc[:2].reset_index(drop=True), default.iloc[2:].reset_index(drop=True))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["boundary_ambiguity-low", "confusion-low", "default"]
    # The differences are those of the runs, paired by seed.
    runs = study.per_run[study.per_run["world"] == "confusion-low"].set_index(["selector", "seed"])["aulc"]
    diff = (runs["uncertainty"] - runs["random"]).mean()
    row = table[(table["world"] == "confusion-low") & (table["selector"] == "uncertainty")]
    assert row["aulc_diff_vs_random_mean"].item() == pytest.approx(diff)
    assert set(study.references["world"]) == {"default", "confusion-low", "boundary_ambiguity-low"}
    fig = plot_worlds(table)
    assert len(fig.axes) == 2
    with pytest.raises(ValueError, match="must include 'random'"):
        worlds_study(tmp_path, ["uncertainty"], [0], knobs=["confusion"], **TINY)
