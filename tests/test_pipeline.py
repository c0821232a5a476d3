import json
import os
import subprocess
import sys

import nbformat
import numpy as np
import pandas as pd
import pytest

from activeloc import read_ground_truth
from activeloc.cli import main
from activeloc.data.attributes import PAIRS
from activeloc.experiments.worlds import WORLD_TABLE_COLUMNS
from activeloc.reporting.pipeline import PipelineError, run_pipeline
from activeloc.reporting.profiles import load_profiles
from conftest import ANET, KINETICS, ROOT, SHARED, write_notebook

pytestmark = [pytest.mark.notebook, pytest.mark.xdist_group("notebooks")]


@pytest.mark.realdata  # 01 compares with the real annotations when they are present
def test_profile_set_in_the_notebook_applies_its_values(project):
    """What a user does in JupyterLab: only `profile = "tiny"` changed, the rest at its defaults."""
    import papermill as pm

    pm.execute_notebook(project / "notebooks" / "01-dataset.ipynb", project / "out.ipynb",
                        parameters={"profile": "tiny"}, cwd=str(project), kernel_name="python3", progress_bar=False)
    written = (project / "data" / "processed" / "dataset" / "parameters.json").read_text()
    tiny = load_profiles(ROOT)["tiny"]["01-dataset"]
    assert f'"n_videos": {tiny["n_videos"]}' in written and f'"feature_dim": {tiny["feature_dim"]}' in written
    outputs = [o for c in nbformat.read(project / "out.ipynb", as_version=4).cells for o in c.get("outputs", [])]
    assert not [o for o in outputs if o.get("name") == "stderr" or o.get("output_type") == "error"]


@pytest.mark.realdata  # the second testbed and the comparisons run when the real annotations are present
def test_pipeline_tiny(project, capfd):
    real = {"real_annotations": str(ANET)} if ANET.is_file() else {}
    overrides = {"01-dataset": real, "02-localizer": real}
    records = run_pipeline("tiny", root=project, overrides=overrides)
    log = capfd.readouterr().err  # the kernels' and their workers' stderr too: the reproduce log
    assert "Warning" not in log and "WARNING" not in log, log[-3000:]
    assert [r["notebook"] for r in records] == [
        "01-dataset.ipynb", "01-dataset@activitynet.ipynb", "01-dataset@kinetics.ipynb",
        "02-localizer.ipynb",  # 02@activitynet: quick and paper only
        "03-selection-ablation.ipynb",
        "03-selection-ablation@activitynet.ipynb", "03-selection-ablation@kinetics.ipynb", "03b-bootstrap-selectors.ipynb",
        "04-batch-size.ipynb", "04-batch-size@activitynet.ipynb",  # 04 and 05 @kinetics: quick and paper only
        "05-noisy-oracle.ipynb", "05-noisy-oracle@activitynet.ipynb", "06-worlds.ipynb",
        "07-kinetics-campaign.ipynb", "08-kinetics-statistics.ipynb", "09-kinetics-benchmark.ipynb",
        "10-inspector.ipynb"]
    second = [r for r in records if "@activitynet" in r["notebook"]]
    assert all(bool(r.get("skipped")) != ANET.is_file() for r in second)  # skipped exactly when the data is absent
    kinetics = [r for r in records if "kinetics" in r["notebook"]]  # the @kinetics runs, 07, 08 and 09
    assert all(bool(r.get("skipped")) != KINETICS["annotations"].is_file() for r in kinetics)
    assert (project / "reports" / "notebooks" / "01-dataset.ipynb").is_file()
    stats = pd.read_csv(project / "reports" / "tables" / "dataset_stats.csv").set_index("split")
    assert stats.loc["all", "videos"] > 0 and stats.loc["knowledge_source", "classes"] == 5  # 20 classes / 4
    processed = project / "data" / "processed" / "dataset"
    assert {"ground_truth.json", "splits.csv", "features.h5", "parameters.json"} <= {p.name for p in processed.iterdir()}
    if ANET.is_file():
        assert (project / "reports" / "figures" / "dataset_vs_activitynet.png").stat().st_size > 10_000
        ks = pd.read_csv(project / "reports" / "tables" / "dataset_vs_activitynet.csv")
        assert set(ks["attribute"]) == {"duration", "length", "coverage", "instances_per_video"}
    tables = project / "reports" / "tables"
    maps = pd.read_csv(tables / "localizer_map.csv")
    assert maps["tiou"].iloc[-1] == "average" and len(maps) == 15  # 0.1..0.9 and 0.5..0.95 merged (14), + average
    assert maps["mAP"].between(0, 1).all()
    curve = pd.read_csv(tables / "localizer_learning_curve.csv")
    assert set(curve["ratio"]) == {0.3, 1.0}
    assert (project / "reports" / "figures" / "localizer_learning_curve.png").stat().st_size > 10_000
    recall = pd.read_csv(tables / "proposal_recall.csv").set_index("source")
    if ANET.is_file():
        assert 0.6 < recall.loc["ActivityNet 1.3 validation", "AR@100"] < 0.72
    ablation = pd.read_csv(tables / "localizer_ablation.csv")
    assert len(ablation) == 12
    stages = pd.read_csv(tables / "localizer_stages.csv")
    assert stages["stages"].str.startswith(("exact", "paper")).tolist() == [True] * 3 and stages["relative_to_first"].iloc[0] == 1
    # The paper's protocol: every noise-free run ends on the full-data model, at 1.0 of its mAP; MCLE's
    # runs on their warm start's (the attention regularised toward the prior), within a few percent of it.
    curves = pd.read_csv(tables / "selection_ablation_curves.csv")
    last = curves[curves["labelled_ratio"] == 1.0]
    assert len(last) == curves["run_id"].nunique()
    warm = last["selector"].str.startswith("mcle")
    assert warm.any() and np.allclose(last.loc[~warm, "fraction_of_full"], 1.0, atol=1e-9)
    assert last.loc[warm, "fraction_of_full"].between(0.95, 1.05).all()
    # Figure 3: three tables with the columns, one row per selector (and setting), three figures.
    left = pd.read_csv(tables / "selection_ablation.csv")
    assert {"selector", "aulc_mean", "aulc_ci_low", "aulc_ci_high", "ratio_to_80pct_mean"} <= set(left.columns)
    assert set(left["selector"]) == {"random", "uncertainty", "mcle", "lal"} and (left["runs"] == 2).all()
    paired = [f"{col}_diff_vs_random_{part}" for col in ("aulc", "ratio_to_80pct")
              for part in ("mean", "ci_low", "ci_high", "boot_ci_low", "boot_ci_high")]
    assert {"selection_videos", "testing_videos", "runs_never_80pct", *paired} <= set(left.columns)
    assert (left.set_index("selector").loc["random", paired] == 0).all()
    assert left["selection_videos"].eq(120).all() and left["testing_videos"].gt(0).all()
    paired_curve = pd.read_csv(tables / "selection_ablation_paired_curve.csv")
    assert list(paired_curve.columns) == ["selector", "labelled_ratio", "diff_mean", "diff_ci_low", "diff_ci_high", "runs"]
    assert set(paired_curve["selector"]) == set(left["selector"]) and (paired_curve["runs"] == 2).all()
    assert set(pd.read_csv(tables / "selector_bootstrap.csv")["selector"]) == {"mcle", "lal"}
    # 03's ablations and diverse batches, each against Random and against its partner, paired by seed.
    variants = pd.read_csv(tables / "selection_variants.csv")
    assert set(variants["selector"]) == {"random", "uncertainty", "mcle", "lal", "mcle-conflict-only",
                                         "mcle-label-equality-only", "uncertainty-diverse"}
    against = pd.read_csv(tables / "selection_variants_vs_partner.csv").set_index("selector")
    assert against["partner"].to_dict() == {"mcle-conflict-only": "mcle", "mcle-label-equality-only": "mcle",
                                            "uncertainty-diverse": "uncertainty"} and (against["pairs"] == 2).all()
    assert (project / "reports" / "figures" / "selection_variants.png").stat().st_size > 10_000
    diverse = pd.read_csv(tables / "batch_size_diverse.csv")
    assert diverse[["selector", "partner", "batch_size", "pairs"]].values.tolist() == [
        ["uncertainty-diverse", "uncertainty", 16, 2]] and diverse["aulc_diff_vs_partner_mean"].notna().all()
    centre = pd.read_csv(tables / "batch_size.csv")
    assert {"selector", "batch_size", "aulc_mean", "aulc_ci_low", "aulc_ci_high"} <= set(centre.columns)
    assert set(centre["batch_size"]) == {16, 64} and {"runs_never_80pct", *paired} <= set(centre.columns)
    right = pd.read_csv(tables / "noise.csv")
    assert {"selector", "noise", "aulc_mean", "aulc_ci_low", "aulc_ci_high"} <= set(right.columns)
    assert set(right["noise"]) == {0.0, 0.2} and {"runs_never_80pct", *paired} <= set(right.columns)
    for name in ("fig3_left", "fig3_center", "fig3_right", "annotation_cost"):
        assert (project / "reports" / "figures" / f"{name}.png").stat().st_size > 10_000
    # 03b: what the bootstraps learned, from the artefacts 03 made.
    mc = pd.read_csv(tables / "lal_monte_carlo.csv")
    assert mc["samples"].sum() == 16  # tiny: 4 states x 4 probes
    assert set(pd.read_csv(tables / "lal_regressors.csv")["regressor"]) == {"svr", "forest"}
    importances = pd.read_csv(tables / "lal_feature_importances.csv")
    assert len(importances) == 29 and set(importances["group"]) == {"model state", "video"}
    summary = (project / "reports" / "SUMMARY.md").read_text()
    assert "--profile tiny" in summary and "## Figure 3 left" in summary and "## Notebook runs" in summary
    assert "aulc_diff_vs_random" in summary
    assert "not from this run" not in summary
    assert "03-selection-ablation" in pd.read_csv(tables / "notebook_runs.csv")["notebook"].tolist()
    noise = pd.read_csv(tables / "lal_target_repeatability.csv")
    assert noise.loc[0, "probes"] == 6 and noise.loc[0, "seeds"] == 2 and np.isfinite(noise.loc[0, "icc"])
    transfer = pd.read_csv(tables / "mcle_prior_transfer.csv")
    assert transfer["selection_ratio"].tolist() == [0.0, 0.1, 1.0] and transfer["attention_mAP"].between(0, 1).all()
    for name in ("lal_monte_carlo", "lal_predicted_vs_actual", "lal_feature_importances"):
        assert (project / "reports" / "figures" / f"{name}.png").stat().st_size > 10_000
    # 06: one knob at tiny, its three levels, MCLE paired with Random in every world.
    worlds = pd.read_csv(tables / "worlds.csv")
    assert list(worlds.columns[: len(WORLD_TABLE_COLUMNS)]) == WORLD_TABLE_COLUMNS
    assert set(worlds["knob"]) == {"confusion"} and set(worlds["level"]) == {"low", "default", "high"}
    assert set(worlds["selector"]) == {"random", "mcle"}
    assert (worlds.loc[worlds["selector"] == "random", "aulc_diff_vs_random_mean"] == 0).all()
    checks = pd.read_csv(tables / "worlds_checks.csv")
    assert len(checks) == 3 and (checks["average_mAP"] > 0).all()
    assert (project / "reports" / "figures" / "worlds.png").stat().st_size > 10_000
    assert "## Worlds" in (project / "reports" / "SUMMARY.md").read_text()
    verdicts = pd.read_csv(tables / "worlds_conclusions.csv")  # the one claim two selectors make, in three worlds
    assert verdicts["claim"].tolist() == ["mcle > random"] and verdicts.loc[0, "worlds"] == 3
    assert len(pd.read_csv(tables / "worlds_claims.csv")) == 3
    assert "## Worlds: the paper's conclusions" in (project / "reports" / "SUMMARY.md").read_text()
    assert "## Ablations and diverse batches" in summary and "## Diverse batches against batch size" in summary
    # 10: step 1 of 03's MCLE and Uncertainty runs (seed 0) replayed, as recorded, with their evidence.
    inspected = pd.read_csv(tables / "inspector_step.csv")
    assert set(inspected["selector"]) == {"mcle", "uncertainty"} and (inspected["step"] == 1).all()
    sizes = inspected.groupby("selector").size()
    assert (inspected["video_id"] == inspected["recorded_video_id"]).all() and sizes.nunique() == 1
    assert inspected["conflict"].notna().sum() == sizes["mcle"] and inspected["entropy"].notna().sum() == sizes["uncertainty"]
    assert (project / "reports" / "figures" / "inspector_step.png").stat().st_size > 10_000
    # Cost-aware variants, against seconds of video annotated.
    cost = pd.read_csv(tables / "annotation_cost.csv")
    assert set(cost["selector"]) == {"random", "uncertainty", "mcle", "lal", "random-per-second", "lal-per-second"}
    assert cost[["aulc_seconds_mean", "aulc_mean"]].notna().all().all()
    if ANET.is_file():  # the second testbed: real ActivityNet annotations under simulated features
        real_params = (project / "data" / "processed" / "dataset-activitynet" / "parameters.json").read_text()
        assert '"testbed": "activitynet"' in real_params
        second_stats = pd.read_csv(tables / "activitynet" / "dataset_stats.csv").set_index("split")
        assert second_stats.loc["all", "videos"] > 12_000 and second_stats.loc["knowledge_source", "classes"] == 50
        assert set(pd.read_csv(tables / "activitynet" / "selection_ablation.csv")["selector"]) == {
            "random", "uncertainty", "mcle", "lal"}
        assert set(pd.read_csv(tables / "activitynet" / "batch_size.csv")["batch_size"]) == {64}
        assert set(pd.read_csv(tables / "activitynet" / "noise.csv")["noise"]) == {0.2}
        for name in ("fig3_left", "fig3_center", "fig3_right"):
            assert (project / "reports" / "figures" / "activitynet" / f"{name}.png").stat().st_size > 10_000
    if KINETICS["annotations"].is_file():  # the third testbed and Table 1
        third = pd.read_csv(tables / "kinetics" / "dataset_stats.csv").set_index("split")
        assert third.loc["all", "videos"] == 5735 and third.loc["knowledge_source", "classes"] == 150
        assert set(pd.read_csv(tables / "kinetics" / "selection_ablation.csv")["selector"]) == {
            "random", "uncertainty", "mcle", "lal"}
        assert set(pd.read_csv(tables / "table1.csv")["training"]) == {"temporal", "clip-only"}
        assert "## Table 1" in summary
        ours = pd.read_csv(tables / "table1.csv")
        ours = ours[ours["source"].str.startswith("this") & (ours["model"] == "Stage-Wise")]
        assert ours["training"].tolist() == ["temporal", "clip-only"] and (ours["seeds"] == 5).all()
        assert "not reproducible offline" in (tables / "table1.md").read_text()
        table1_runs = pd.read_csv(tables / "table1_runs.csv")
        assert len(table1_runs) == 10 and (table1_runs["train_videos"] == 300).all()
        assert len(pd.read_csv(tables / "table1_clip_diagnostics.csv")) > 10
        assert (project / "reports" / "figures" / "table1.png").stat().st_size > 10_000
        # 07 (2 seeds, LAL against Random, 8 annotator hours) runs before 08, which draws the set the
        # campaign collected beside the others.
        campaign = pd.read_csv(tables / "kinetics_campaign_summary.csv").set_index("selector")
        assert list(campaign.index) == ["lal", "random"] and (campaign["runs"] == 2).all()
        curve = pd.read_csv(tables / "kinetics_campaign_curve.csv")
        assert {"labelled_videos", "annotator_hours", "average_mAP", "seconds_labelled"} <= set(curve.columns)
        assert curve.groupby("run_id")["annotator_hours"].max().min() >= 8.0
        sets = pd.read_csv(tables / "kinetics_campaign_sets.csv").set_index("set")
        assert sets.loc["pool", "classes"] == 75 and sets.loc["testing", "classes"] == 75
        folder = project / "data" / "processed" / "kinetics-campaign"
        collected = read_ground_truth(folder / "collected.json")
        assert collected.estimated_durations().all() and len(collected.videos) == sets.loc["collected", "videos"]
        sheet = json.loads((folder / "collected_datasheet.json").read_text())
        assert sheet["collection"]["bootstrapped_on"].startswith("activitynet" if ANET.is_file() else "kinetics")
        assert (project / "reports" / "figures" / "kinetics_campaign.png").stat().st_size > 10_000
        assert "## Kinetics campaign" in summary
        # 08: Figure 4 for the set 07 collected beside the full Kinetics temporal set and ActivityNet.
        stats = pd.read_csv(tables / "kinetics_localization_stats.csv")
        expected = {"collected", "Kinetics-600 temporal"} | ({"ActivityNet 1.3 train+val"} if ANET.is_file() else set())
        assert set(stats["set"]) == expected and np.allclose(stats.groupby(["set", "attribute"])["percent"].sum(), 100)
        durations = dict(stats.groupby("set")["durations"].first())
        assert durations["Kinetics-600 temporal"] == durations["collected"] == "estimated"
        assert stats.groupby("set")["instances"].first()["Kinetics-600 temporal"] == 9625
        if ANET.is_file():
            assert durations["ActivityNet 1.3 train+val"] == "given"
            assert stats.groupby("set")["instances"].first()["ActivityNet 1.3 train+val"] == 22090
        for rows, cols in PAIRS:
            pairwise = pd.read_csv(tables / f"kinetics_pairwise_{rows}_{cols}.csv")
            assert np.allclose(pairwise.groupby("set").sum(numeric_only=True).sum(axis=1), 100)
            assert (tables / f"kinetics_pairwise_{rows}_{cols}.md").is_file()
        assert {"paper", "durations"} <= set(pd.read_csv(tables / "kinetics_figure4_vs_paper.csv").columns)
        assert (project / "reports" / "figures" / "fig4.png").stat().st_size > 50_000
    # Reproducible to the bit: the executed notebooks of the default testbed, run again by nbval, give
    # back every output but the timings, dates and paths that notebooks/nbval-sanitize.cfg names, and
    # progress bars (tests/nbval_widgets.py). Finished runs and bootstraps are read back from
    # data/processed/, keyed by data, settings and code (that a run computed again gives the same
    # history is test_loop's); the real-data runs repeat the same code and would double the time.
    # 04, 05 and 06 run 03's grid with other settings (in other worlds, for 06) and 10 replays 03's
    # runs (checking them against the record itself), so they are left out too.
    executed = [str(p) for p in sorted((project / "reports" / "notebooks").glob("*.ipynb"))
                if "@" not in p.name and not p.name.startswith(("04", "05", "06", "10"))
                and not nbformat.read(p, as_version=4).metadata.get("activeloc", {}).get("needs")]
    assert len(executed) == 4  # 01, 02, 03, 03b
    rerun = subprocess.run([sys.executable, "-m", "pytest", "-p", "nbval_widgets", "--nbval", "--nbval-current-env",
                            "--nbval-sanitize-with", str(project / "notebooks" / "nbval-sanitize.cfg"),
                            "-o", "addopts=", "-p", "no:cacheprovider", "-q", *executed], cwd=project,
                           capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT / "tests")})
    assert rerun.returncode == 0, rerun.stdout[-6000:]
    cells = sum(c.cell_type == "code" for p in executed for c in nbformat.read(p, as_version=4).cells)
    assert f"{cells} passed" in rerun.stdout, rerun.stdout[-2000:]  # every code cell compared, none skipped



@pytest.mark.realdata
def test_a_variant_runs_again_with_its_values_or_is_skipped_without_its_data(project, monkeypatch):
    write_notebook(project / "notebooks" / "98-echo.ipynb", 'testbed = "simulated"\nword = "a"',
                   'from pathlib import Path\nPath(f"ran-{testbed}-{word}.txt").write_text("")')
    (project / "notebooks" / "profiles.toml").write_text(
        '[t."98-echo"]\nword = "b"\n[t."98-echo@activitynet"]\ntestbed = "activitynet"\n')
    monkeypatch.setenv("ACTIVELOC_SHARED_DATA", str(project / "no-such-folder"))
    records = run_pipeline("t", only=["98"], root=project)
    assert [r["notebook"] for r in records] == ["98-echo.ipynb", "98-echo@activitynet.ipynb"]
    assert "activity_net.v1-3.annotations.json" in records[1]["skipped"] and records[1]["output"] is None
    assert sorted(p.name for p in project.glob("ran-*")) == ["ran-simulated-b.txt"]
    if ANET.is_file():
        monkeypatch.setenv("ACTIVELOC_SHARED_DATA", str(SHARED))
        run_pipeline("t", only=["98"], root=project)
        assert sorted(p.name for p in project.glob("ran-*")) == ["ran-activitynet-b.txt", "ran-simulated-b.txt"]
        assert (project / "reports" / "notebooks" / "98-echo@activitynet.ipynb").is_file()


def test_failure_names_notebook_and_cell_and_keeps_the_copy(project, capsys):
    write_notebook(project / "notebooks" / "99-broken.ipynb", "x = 1", "raise RuntimeError('boom')")
    with pytest.raises(PipelineError, match=r"99-broken\.ipynb: cell .*RuntimeError: boom"):
        run_pipeline("tiny", only=["99"], root=project)
    assert (project / "reports" / "notebooks" / "99-broken.ipynb").is_file()


def test_cli_reproduce_unknown_profile_fails(monkeypatch, capsys):
    monkeypatch.setenv("ACTIVELOC_ROOT", str(ROOT))
    assert main(["reproduce", "--profile", "nope"]) != 0
    assert "unknown profile 'nope'" in capsys.readouterr().err
