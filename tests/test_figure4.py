"""Figure 4 for several sets side by side: the statistics tables, the figure, the notebook (08)."""

import warnings

import numpy as np
import pandas as pd
import pytest

from activeloc.data.annotations import parse_ground_truth
from activeloc.data.attributes import (BINS, PAIRS, class_counts, joint_table, joint_tables_by_set, key_figures,
                                       percent_table, statistics_by_set)
from activeloc.reporting.pipeline import missing_needs, run_pipeline
from activeloc.reporting.plots import plot_fig4

NOTEBOOK = "08-kinetics-statistics"


def ground_truth(videos, estimated=False):
    """videos: {id: (duration, [(t0, t1, label), ...])}."""
    database = {vid: {"subset": "validation", "duration": duration, "duration_estimated": estimated,
                      "annotations": [{"segment": [t0, t1], "label": label} for t0, t1, label in segments]}
                for vid, (duration, segments) in videos.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return parse_ground_truth({"database": database})


@pytest.fixture
def sets():
    kinetics = ground_truth({"a": (100, [(0, 10, "Run"), (20, 50, "Run")]), "b": (10, [(0, 10, "Jump")]),
                             "c": (200, [(0, 190, "Run")])}, estimated=True)
    activitynet = ground_truth({"x": (60, [(0, 5, "Swim"), (10, 15, "Swim"), (20, 25, "Swim"), (30, 35, "Swim"),
                                           (40, 45, "Swim")]), "y": (300, [(0, 250, "Dive")])})
    return {"Kinetics": kinetics, "ActivityNet": activitynet}


def test_statistics_by_set_counts_and_percents(sets):
    stats = statistics_by_set(sets)
    assert list(stats.columns) == ["set", "videos", "annotated_videos", "instances", "classes", "durations",
                                   "attribute", "bin", "range", "count", "percent", "depends_on_durations"]
    assert len(stats) == 2 * 3 * 5
    for (name, _), group in stats.groupby(["set", "attribute"]):
        assert group["percent"].sum() == pytest.approx(100) and group["count"].sum() == len(sets[name].instances)
        assert list(group["bin"]) == list(BINS)
    first = stats.groupby("set").first()
    assert first.loc["Kinetics", "durations"] == "estimated" and first.loc["ActivityNet", "durations"] == "given"
    assert (first["instances"].to_dict(), first["classes"].to_dict()) == (
        {"ActivityNet": 6, "Kinetics": 4}, {"ActivityNet": 2, "Kinetics": 2})
    assert stats["depends_on_durations"].eq(stats["attribute"].eq("coverage")).all()
    cov = stats[(stats["set"] == "Kinetics") & (stats["attribute"] == "coverage")].set_index("bin")["count"]
    assert cov.tolist() == [1, 1, 0, 0, 2]  # 0.1, 0.3, 1.0, 0.95
    ipv = stats[(stats["set"] == "ActivityNet") & (stats["attribute"] == "instances_per_video")]
    assert ipv.set_index("bin")["count"].tolist() == [1, 0, 5, 0, 0]
    wide = percent_table(stats)
    assert list(wide.columns) == ["set", "attribute", "durations", "instances", *BINS] and len(wide) == 6
    assert np.allclose(wide[list(BINS)].sum(axis=1), 100)


def test_statistics_say_when_only_some_durations_are_estimated():
    database = {"a": {"subset": "training", "duration": 50.0, "duration_estimated": True,
                      "annotations": [{"segment": [0, 10], "label": "Run"}]},
                "b": {"subset": "training", "duration": 50.0, "annotations": [{"segment": [0, 10], "label": "Run"}]}}
    gt = parse_ground_truth({"database": database})
    assert statistics_by_set({"mixed": gt})["durations"].iloc[0] == "estimated for 1 of 2 videos"


def test_pairwise_tables_by_set_are_the_joint_tables(sets):
    tables = joint_tables_by_set(sets)
    assert list(tables) == list(PAIRS)
    for (rows, cols), table in tables.items():
        assert list(table.columns) == ["set", "durations", rows, *[f"{cols}_{b}" for b in BINS]]
        for name, gt in sets.items():
            block = table[table["set"] == name]
            assert block[rows].tolist() == list(BINS)
            assert np.allclose(block.iloc[:, 3:].to_numpy(), joint_table(gt, rows, cols).to_numpy())
            assert block.iloc[:, 3:].to_numpy().sum() == pytest.approx(100)


def test_class_counts_and_key_figures(sets):
    counts = class_counts(sets["Kinetics"])
    assert counts.to_dict("list") == {"label": ["Run", "Jump"], "videos": [2, 1], "instances": [3, 1]}
    figures = key_figures(sets["ActivityNet"])
    assert figures["instances per video"] == 3 and figures["classes"] == 2
    assert figures["% instances with coverage XS and length XS"] == pytest.approx(500 / 6)
    assert figures["% of coverage-XL instances alone in their video"] == 100  # y: 250 of 300 s, alone


def test_plot_fig4_panels_and_heatmaps(sets):
    import matplotlib.pyplot as plt

    fig = plot_fig4(sets)
    labels = [ax.get_label() for ax in fig.axes]
    assert len(fig.axes) == 2 + 3 + 2 * 3  # classes per set, one per attribute, the pairs per set
    assert {f"fig4:classes:{n}" for n in sets} | {f"fig4:bins:{a}" for a in ("coverage", "length",
                                                                          "instances_per_video")} <= set(labels)
    for name, gt in sets.items():
        for rows, cols in PAIRS:
            ax = fig.axes[labels.index(f"fig4:joint:{name}:{rows}:{cols}")]
            assert np.allclose(ax.images[0].get_array(), joint_table(gt, rows, cols).to_numpy())
            shown = [float(t.get_text()) for t in ax.texts]
            assert np.allclose(shown, joint_table(gt, rows, cols).to_numpy().round(1).ravel())
            assert ("estimated durations" in ax.get_title()) == (name == "Kinetics" and "coverage" in (rows, cols))
    bars = fig.axes[labels.index("fig4:bins:length")]
    heights = sorted(round(p.get_height(), 6) for p in bars.patches if p.get_height() > 0)
    stats = statistics_by_set(sets)
    expected = stats[(stats["attribute"] == "length") & (stats["percent"] > 0)]["percent"].round(6)
    assert heights == sorted(expected)
    classes = fig.axes[labels.index("fig4:classes:Kinetics")]
    assert [t.get_text() for t in classes.get_xticklabels()] == ["Run", "Jump"]
    assert "Kinetics: durations estimated" in fig._suptitle.get_text()
    assert "estimated durations: Kinetics" in fig.axes[labels.index("fig4:bins:coverage")].get_title()
    plt.close(fig)


def test_plot_fig4_draws_many_classes_by_rank():
    import matplotlib.pyplot as plt

    gt = ground_truth({f"v{i}": (100, [(0, 10, f"class {i}")]) for i in range(120)})
    fig = plot_fig4({"many": gt})
    ax = next(a for a in fig.axes if a.get_label() == "fig4:classes:many")
    assert "rank" in ax.get_xlabel() and len(fig.axes) == 1 + 3 + 3
    assert "All durations as given" in fig._suptitle.get_text()
    plt.close(fig)


def test_notebook_is_skipped_without_the_kinetics_files(project, monkeypatch):
    monkeypatch.setenv("ACTIVELOC_SHARED_DATA", str(project / "no-such-folder"))
    reason = missing_needs(project / "notebooks" / f"{NOTEBOOK}.ipynb", project)
    assert "k600_val_temporal_annotations.txt" in reason and "k600_categories.txt" in reason
    records = run_pipeline("tiny", only=["08"], root=project)
    assert [r["notebook"] for r in records] == [f"{NOTEBOOK}.ipynb"] and records[0]["output"] is None
    assert "the real annotations are absent" in records[0]["skipped"]
    assert not (project / "reports" / "figures" / "fig4.png").exists()


@pytest.mark.notebook
def test_notebook_draws_the_collected_set_when_it_exists(project, kinetics_files, tmp_path):
    """The campaign's output, wherever it is, is the first set; here a hand-made one beside the real Kinetics."""
    import json

    import papermill as pm

    collected = project / "collected.json"
    collected.write_text(json.dumps({"database": {"v1": {"subset": "training", "duration": 40.0,
                                                         "duration_estimated": True, "annotations": [
                                                             {"segment": [0, 8], "label": "Run"}]}}}))
    pm.execute_notebook(project / "notebooks" / f"{NOTEBOOK}.ipynb", project / "out.ipynb",
                        parameters={"profile": "tiny", "collected_path": "collected.json",
                                    "activitynet_path": str(tmp_path / "absent.json")},
                        cwd=str(project), kernel_name="python3", progress_bar=False)
    stats = pd.read_csv(project / "reports" / "tables" / "kinetics_localization_stats.csv")
    assert stats["set"].unique().tolist() == ["collected", "Kinetics-600 temporal"]
    assert stats.loc[stats["set"] == "collected", "instances"].eq(1).all()
