import shutil

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from activeloc import StageWiseLocalizer
from activeloc.cli import main
from activeloc.evaluation.curves import aggregate, interpolate_curves, mean_ci, summarize_runs
from activeloc.experiments import (DatasetChanged, bootstrap_report, bootstrapped_selector, cell_id,
                                   full_data_reference, load_study_data, make_cells, read_table, run_grid,
                                   selection_study, selector_artefact)
from activeloc.experiments.grid import run_cell
from conftest import write_dataset_folder

GRID = pytest.mark.xdist_group("grid")  # tests that run two worker processes of their own: one at a time
TIMING = ["fit_seconds", "select_seconds", "evaluate_seconds"]
KEY = ["run_id", "step"]


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory):
    return write_dataset_folder(tmp_path_factory.mktemp("dataset"))


def cells(dataset_dir, seeds=(0, 1), **kwargs):
    return make_cells(dataset_dir, ["random", "uncertainty"], [64], [0.0], seeds,
                      selection_videos=200, testing_videos=100, **kwargs)


def tidy(history):
    return history.drop(columns=TIMING).sort_values(KEY).reset_index(drop=True)


@GRID
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
    added = again.groupby("run_id")["labelled_videos"].agg(lambda v: v.max() - v.min()).sum()
    assert len(read_table(out / "selections")) == added  # one row per video chosen
    pd.testing.assert_frame_equal(tidy(again[again.seed < 2]), tidy(history))  # a run does not depend on its neighbours


@GRID
@pytest.mark.slow
def test_grid_on_a_dask_cluster(dataset_dir, tmp_path, capsys):
    import re
    import urllib.request

    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        history = run_grid(cells(dataset_dir, seeds=(0,)), tmp_path / "dask", scheduler=cluster.scheduler_address)
        # The cluster extra brings bokeh, so the scheduler serves its dashboard, and the grid says where.
        link = re.search(r"Dask dashboard: (\S+)", capsys.readouterr().out).group(1)
        with urllib.request.urlopen(link, timeout=30) as page:
            assert page.status == 200 and b"Dask" in page.read()
    local = run_grid(cells(dataset_dir, seeds=(0,)), tmp_path / "local")
    pd.testing.assert_frame_equal(tidy(history), tidy(local))


@GRID
@pytest.mark.slow
def test_lal_bootstrap_is_the_same_serial_on_local_processes_and_on_a_dask_cluster(dataset_dir, tmp_path):
    from dask.distributed import LocalCluster

    lal = {"lal": {"n_states": 4, "probes_per_state": 3}}
    fitted = {}
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        for where, parallel in (("serial", {}), ("local", {"n_jobs": 2}),
                                ("dask", {"scheduler": cluster.scheduler_address})):
            folder = shutil.copytree(dataset_dir, tmp_path / where)  # its own artefact, and features read from HDF5
            cell = make_cells(folder, ["lal"], [64], [0.0], [0], knowledge_videos=100, selector_params=lal)[0]
            fitted[where] = bootstrapped_selector(cell, load_study_data(folder, knowledge_videos=100).knowledge,
                                                  **parallel)
            assert selector_artefact(cell).is_file()
    for where in ("local", "dask"):
        pd.testing.assert_frame_equal(fitted[where].training_data_, fitted["serial"].training_data_)
    assert len(fitted["serial"].training_data_) == 12


def test_learned_selectors_learn_with_the_grids_localizer(dataset_dir):
    template = StageWiseLocalizer(top_k=7)
    cell = make_cells(dataset_dir, ["mcle"], [64], [0.0], [0], localizer=template, knowledge_videos=50)[0]
    mcle = bootstrapped_selector(cell, load_study_data(dataset_dir, knowledge_videos=50).knowledge)
    assert mcle.prior_.top_k == 7 and not hasattr(template, "coef_")
    assert len(load_study_data(dataset_dir, knowledge_videos=50).knowledge.video_ids) == 50
    other = make_cells(dataset_dir, ["mcle"], [64], [0.0], [0], knowledge_videos=50)[0]
    assert selector_artefact(other) != selector_artefact(cell) and cell_id(other) != cell_id(cell)


def test_the_bootstrap_report_shows_lals_held_out_quality(dataset_dir):
    lal = {"lal": {"n_states": 5, "probes_per_state": 3}}
    grid = make_cells(dataset_dir, ["lal", "mcle"], [64], [0.0], [0], knowledge_videos=100, selector_params=lal)
    fitted = bootstrapped_selector(grid[0], load_study_data(dataset_dir, knowledge_videos=100).knowledge)
    bootstrapped_selector(grid[1], load_study_data(dataset_dir, knowledge_videos=100).knowledge)
    report = bootstrap_report(grid).set_index("selector")
    assert report.loc["lal", "within_state_spearman"] == fitted.within_state_spearman_
    assert report.loc["lal", "regressor_r2"] == fitted.r2_ and report.loc["lal", "monte_carlo_samples"] == 15
    assert np.isnan(report.loc["mcle", "within_state_spearman"]) and report["bootstrap_seconds"].gt(0).all()


def test_cli_simulate(dataset_dir, tmp_path, capsys):
    args = ["simulate", "--dataset", str(dataset_dir), "--out", str(tmp_path / "cli"), "--selectors", "mcle",
            "--batch-sizes", "64", "--seeds", "0", "--selection-videos", "200", "--testing-videos", "100",
            "--knowledge-videos", "60"]
    assert main(args) == 0
    assert "mcle" in capsys.readouterr().out  # bootstrapped on Knowledge-Source inside the run
    assert len(list((tmp_path / "cli" / "history").glob("*.parquet"))) == 1


def test_cell_ids_cover_data_code_and_settings_but_not_the_folder(dataset_dir, tmp_path, monkeypatch):
    a = cells(dataset_dir)[0]
    assert cell_id(a) == cell_id(dict(reversed(list(a.items()))))
    assert cell_id(a) != cell_id({**a, "seed": 1})
    assert cell_id(a) == cell_id({**a, "dataset_dir": "/elsewhere"})  # a moved project keeps its runs
    assert cell_id(a) != cell_id({**a, "localizer": StageWiseLocalizer(top_k=5)})
    monkeypatch.setattr("activeloc.experiments.grid.code_fingerprint", lambda: "other code")
    assert cell_id(cells(dataset_dir)[0]) != cell_id(a)


def test_work_planned_by_other_code_is_refused(dataset_dir, tmp_path):
    from activeloc.core.fingerprint import CodeChanged

    cell = {**make_cells(dataset_dir, ["mcle"], [64], [0.0], [0], knowledge_videos=30)[0], "code": "edited since"}
    with pytest.raises(CodeChanged, match="restart the kernel"):
        run_cell(cell, str(tmp_path))
    with pytest.raises(CodeChanged, match="restart the kernel"):
        bootstrapped_selector(cell, load_study_data(dataset_dir, knowledge_videos=30).knowledge)
    assert not list(tmp_path.rglob("*.parquet")) and not selector_artefact(cell).exists()


def test_the_code_fingerprint_covers_the_result_layers_and_the_libraries(monkeypatch):
    from activeloc.core import fingerprint

    before = fingerprint.code_on_disk()
    assert fingerprint.code_fingerprint() == before  # nothing edited since this process imported it
    monkeypatch.setattr(fingerprint, "version", lambda name: "9.9" if name == "scikit-learn" else "1.0")
    assert fingerprint.code_on_disk() != before


def test_a_cost_aware_variant_shares_its_selectors_bootstrap_and_parameters(dataset_dir):
    plain, per_second = make_cells(dataset_dir, ["lal", "lal-per-second"], [8], [0.0], [0],
                                   selector_params={"lal": {"n_states": 4}})
    assert per_second["selector_params"] == {"n_states": 4}
    assert selector_artefact(plain) == selector_artefact(per_second)
    assert cell_id(plain) != cell_id(per_second)


@GRID
def test_a_rewritten_dataset_is_never_mixed_with_old_results(tmp_path):
    """01 run, then 03; 01 run again with other settings into the same folder; 03 again in the same
    process (and the same worker processes): the second study must run on the new data."""
    folder = write_dataset_folder(tmp_path / "dataset", seed=0, n=300)
    out = tmp_path / "runs"
    study = dict(selectors=["random"], batch_sizes=[64], noises=[0.0], seeds=[0], n_jobs=2)
    first = selection_study(folder, out, **study)
    write_dataset_folder(tmp_path / "dataset", seed=1, n=500)
    second = selection_study(folder, out, **study)
    fresh = load_study_data(folder)
    assert first.curves["run_id"].iloc[0] != second.curves["run_id"].iloc[0]
    assert second.curves["labelled_videos"].max() == len(fresh.selection.video_ids) > first.curves["labelled_videos"].max()
    assert (second.selection_videos, second.testing_videos) == (len(fresh.selection.video_ids),
                                                                len(fresh.testing.video_ids))  # None: all of them
    reference = full_data_reference(second.cells[0]["localizer"], fresh.selection, fresh.testing, [0])
    assert second.full_map == pytest.approx(reference["average_mAP"].iloc[0])
    assert len(list((out / "history").glob("*.parquet"))) == 2  # both kept, each under its own data's key
    with pytest.raises(DatasetChanged, match="changed since the runs were planned"):
        run_cell(first.cells[0], str(tmp_path / "elsewhere"))


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


def test_intervals_of_bounded_ratios_stay_inside_the_runs_range():
    ratios = [0.62, 0.97, 0.99]
    _, t_low, t_high = mean_ci(ratios)
    assert t_high > 1  # the Student-t interval of three bounded values passes 1 ...
    mean, low, high = mean_ci(ratios, method="bootstrap")
    assert min(ratios) <= low < mean < high <= max(ratios)  # ... percentiles of resampled means cannot
    per_run = pd.DataFrame({"selector": "x", "ratio_to_80pct": ratios, "aulc": [0.5, 0.6, 0.7]})
    row = aggregate(per_run, "selector", ["aulc", "ratio_to_80pct"]).iloc[0]
    assert (row["ratio_to_80pct_ci_low"], row["ratio_to_80pct_ci_high"]) == pytest.approx((low, high))
    assert mean_ci([0.5, 0.5, 0.5], method="bootstrap") == (0.5, 0.5, 0.5)


def test_curves_are_interpolated_onto_one_grid_over_the_range_all_runs_cover():
    curves = pd.DataFrame({"run_id": ["a"] * 3 + ["b"] * 2, "selector": "x",
                           "seconds_ratio": [0.1, 0.5, 1.0, 0.2, 1.0], "fraction_of_full": [0.2, 0.6, 1.0, 0.4, 0.8]})
    grid = interpolate_curves(curves, "seconds_ratio", points=5)
    assert sorted(set(grid["seconds_ratio"])) == pytest.approx([0.2, 0.4, 0.6, 0.8, 1.0])  # from the latest start
    a = grid[grid.run_id == "a"].set_index("seconds_ratio")["fraction_of_full"]
    b = grid[grid.run_id == "b"].set_index("seconds_ratio")["fraction_of_full"]
    assert a.to_numpy() == pytest.approx([0.3, 0.5, 0.68, 0.84, 1.0])
    assert b.to_numpy() == pytest.approx([0.4, 0.5, 0.6, 0.7, 0.8])


def test_a_variant_against_its_partner_is_paired_by_seed_within_each_group():
    from activeloc.experiments.studies import SelectionStudy

    rng = np.random.default_rng(0)
    rows = [{"run_id": f"{s}-{b}-{seed}", "selector": s, "seed": seed, "batch_size": b, "noise": 0.0,
             "aulc": rng.random(), "ratio_to_80pct": rng.random(), "last_labelled_ratio": 1.0}
            for s in ("x", "x-diverse", "random") for b in (8, 16) for seed in (0, 1, 2)]
    runs = pd.DataFrame(rows)
    study = SelectionStudy(None, runs, 0.4, None, None, [], 100, 50)
    table = study.against({"x-diverse": "x"}, by=["batch_size"], columns=["aulc"]).set_index("batch_size")
    assert list(table.columns[:3]) == ["selector", "partner", "pairs"] and (table["pairs"] == 3).all()
    for b in (8, 16):
        mine = runs[(runs.selector == "x-diverse") & (runs.batch_size == b)].set_index("seed")["aulc"]
        theirs = runs[(runs.selector == "x") & (runs.batch_size == b)].set_index("seed")["aulc"]
        diff = mine - theirs
        half = stats.t.ppf(0.975, 2) * diff.std(ddof=1) / np.sqrt(3)
        assert table.loc[b, "aulc_diff_vs_partner_mean"] == pytest.approx(diff.mean())
        assert table.loc[b, "aulc_diff_vs_partner_ci_high"] == pytest.approx(diff.mean() + half)
