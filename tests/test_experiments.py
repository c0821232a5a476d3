import shutil

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from activeloc import make_splits
from activeloc.annotations import write_ground_truth
from activeloc.cli import main
from activeloc.experiments import (bootstrapped_selector, cell_id, load_loop_data, make_cells, read_table, run_grid,
                                   selector_artefact)
from activeloc.features import write_hdf5_features
from activeloc.io_utils import save_table
from activeloc.simulator import make_activitynet_like
from activeloc.statistics import aggregate, interpolate_curves, mean_ci, summarize_runs

pytestmark = pytest.mark.xdist_group("grid")


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("dataset")
    gt, feats = make_activitynet_like(500, 12, feature_dim=12, random_state=0)
    write_ground_truth(gt, folder / "ground_truth.json")
    save_table(make_splits(gt, random_state=0).reset_index(), folder / "splits.csv", markdown=False)
    write_hdf5_features(feats, folder / "features.h5")
    return folder


def cells(dataset_dir, seeds=(0, 1)):
    return make_cells(dataset_dir, ["random", "uncertainty"], [64], [0.0], seeds,
                      selection_videos=200, testing_videos=100)


def test_grid_runs_locally_and_skips_finished_cells(dataset_dir, tmp_path):
    out = tmp_path / "grid"
    history = run_grid(cells(dataset_dir), out, n_jobs=2)
    assert set(history["selector"]) == {"random", "uncertainty"} and set(history["seed"]) == {0, 1}
    assert history.groupby("run_id")["labelled_ratio"].max().eq(1.0).all()
    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "history").glob("*.parquet")}
    again = run_grid(cells(dataset_dir, seeds=(0, 1, 2)), out, n_jobs=1)  # one new seed
    after = {p.name: p.stat().st_mtime_ns for p in (out / "history").glob("*.parquet")}
    assert all(after[name] == stamp for name, stamp in stamps.items())  # finished cells untouched
    assert len(after) == 6 and set(again["seed"]) == {0, 1, 2}
    assert len(read_table(out / "selections")) > 0
    pd.testing.assert_frame_equal(  # a cell's result does not depend on what ran beside it
        again[again.seed < 2].drop(columns=["fit_seconds", "select_seconds", "evaluate_seconds"])
        .sort_values(["run_id", "step"]).reset_index(drop=True),
        history.drop(columns=["fit_seconds", "select_seconds", "evaluate_seconds"])
        .sort_values(["run_id", "step"]).reset_index(drop=True))


def test_grid_on_a_dask_cluster(dataset_dir, tmp_path):
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        history = run_grid(cells(dataset_dir, seeds=(0,)), tmp_path / "dask", scheduler=cluster.scheduler_address)
    local = run_grid(cells(dataset_dir, seeds=(0,)), tmp_path / "local")
    drop = ["fit_seconds", "select_seconds", "evaluate_seconds"]
    key = ["run_id", "step"]
    pd.testing.assert_frame_equal(history.drop(columns=drop).sort_values(key).reset_index(drop=True),
                                  local.drop(columns=drop).sort_values(key).reset_index(drop=True))


def test_lal_bootstrap_is_the_same_serial_on_local_processes_and_on_a_dask_cluster(dataset_dir, tmp_path):
    from dask.distributed import LocalCluster

    lal = {"lal": {"n_subsets": 4, "subset_sizes": [20, 40], "candidates_per_subset": 3}}
    fitted = {}
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        for where, parallel in (("serial", {}), ("local", {"n_jobs": 2}),
                                ("dask", {"scheduler": cluster.scheduler_address})):
            folder = shutil.copytree(dataset_dir, tmp_path / where)  # its own artefact, and features read from HDF5
            cell = make_cells(folder, ["lal"], [64], [0.0], [0], selection_videos=100, selector_params=lal)[0]
            fitted[where] = bootstrapped_selector(cell, load_loop_data(str(folder), 100, None)[2], **parallel)
            assert selector_artefact(cell).is_file()
    for where in ("local", "dask"):
        pd.testing.assert_frame_equal(fitted[where].training_data_, fitted["serial"].training_data_)
    assert len(fitted["serial"].training_data_) == 12


def test_cli_simulate(dataset_dir, tmp_path, capsys):
    args = ["simulate", "--dataset", str(dataset_dir), "--out", str(tmp_path / "cli"), "--selectors", "mcle",
            "--batch-sizes", "64", "--seeds", "0", "--selection-videos", "200", "--testing-videos", "100"]
    assert main(args) == 0
    assert "mcle" in capsys.readouterr().out  # bootstrapped on Knowledge-Source inside the run
    assert len(list((tmp_path / "cli" / "history").glob("*.parquet"))) == 1


def test_cell_ids_are_stable():
    a = make_cells("d", ["random"], [8], [0.1], [0])[0]
    assert cell_id(a) == cell_id(dict(reversed(list(a.items()))))
    assert cell_id(a) != cell_id({**a, "seed": 1})


def test_a_cost_aware_variant_shares_its_selectors_bootstrap_and_parameters():
    plain, per_second = make_cells("d", ["lal", "lal-per-second"], [8], [0.0], [0],
                                   selector_params={"lal": {"n_subsets": 4}})
    assert per_second["selector_params"] == {"n_subsets": 4}
    assert selector_artefact(plain) == selector_artefact(per_second)
    assert cell_id(plain) != cell_id(per_second)


def test_summaries_and_confidence_intervals():
    history = pd.DataFrame({
        "run_id": ["a"] * 3 + ["b"] * 3, "selector": ["x"] * 6, "seed": [0] * 3 + [1] * 3,
        "batch_size": 8, "noise": 0.0, "step": [0, 1, 2] * 2,
        "labelled_ratio": [0.1, 0.5, 1.0] * 2, "average_mAP": [0.1, 0.3, 0.4, 0.2, 0.4, 0.4],
        "seconds_ratio": [0.2, 0.4, 1.0] * 2,
    })
    runs = summarize_runs(history, full_map=0.4).set_index("run_id")
    assert runs.loc["a", "aulc"] == pytest.approx(0.4 * (0.25 + 0.75) / 2 + 0.5 * (0.75 + 1) / 2)
    assert runs.loc["a", "ratio_to_80pct"] == pytest.approx(0.5 + 0.5 * (0.8 - 0.75) / 0.25)
    assert runs.loc["b", "ratio_to_80pct"] == pytest.approx(0.1 + 0.4 * 0.3 / 0.5)
    # The same curves against the fraction of seconds annotated.
    assert runs.loc["a", "aulc_seconds"] == pytest.approx(0.2 * (0.25 + 0.75) / 2 + 0.6 * (0.75 + 1) / 2)
    assert runs.loc["a", "seconds_to_80pct"] == pytest.approx(0.4 + 0.6 * (0.8 - 0.75) / 0.25)
    assert runs.loc["b", "seconds_to_80pct"] == pytest.approx(0.2 + 0.2 * 0.3 / 0.5)
    mean, low, high = mean_ci([1.0, 2.0, 3.0, 4.0])
    half = stats.t.ppf(0.975, 3) * np.std([1, 2, 3, 4], ddof=1) / 2
    assert (mean, low, high) == pytest.approx((2.5, 2.5 - half, 2.5 + half))
    agg = aggregate(runs.reset_index(), "selector", ["aulc", "ratio_to_80pct"])
    assert agg.loc[0, "runs"] == 2 and agg.loc[0, "aulc_ci_low"] < agg.loc[0, "aulc_mean"] < agg.loc[0, "aulc_ci_high"]


def test_curves_are_interpolated_onto_one_grid_over_the_range_all_runs_cover():
    curves = pd.DataFrame({"run_id": ["a"] * 3 + ["b"] * 2, "selector": "x",
                           "seconds_ratio": [0.1, 0.5, 1.0, 0.2, 1.0], "fraction_of_full": [0.2, 0.6, 1.0, 0.4, 0.8]})
    grid = interpolate_curves(curves, "seconds_ratio", points=5)
    assert sorted(set(grid["seconds_ratio"])) == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])  # from the latest start
    a = grid[grid.run_id == "a"].set_index("seconds_ratio")["fraction_of_full"]
    b = grid[grid.run_id == "b"].set_index("seconds_ratio")["fraction_of_full"]
    assert a.to_numpy() == pytest.approx([0.3, 0.5, 0.68, 0.84, 1.0])
    assert b.to_numpy() == pytest.approx([0.4, 0.5, 0.6, 0.7, 0.8])
