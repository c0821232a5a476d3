"""The Kinetics testbed and Table 1: clip-only labels, their diagnostics, the benchmark, the notebook."""

import numpy as np
import pandas as pd
import pytest

from activeloc.data import GroundTruth, make_splits
from activeloc.data.kinetics import clip_only_ground_truth, clip_segments
from activeloc.data.simulator import world_params
from activeloc.data.testbeds import get_testbed, missing_testbed_data
from activeloc.experiments.kinetics import (NOT_REPRODUCIBLE, PAPER_TABLE1, TABLE1_COLUMNS, benchmark_videos,
                                            clip_diagnostics, kinetics_benchmark)
from activeloc.localization import SlidingWindows
from activeloc.reporting.pipeline import run_pipeline
from conftest import write_notebook

CLIP = [10.0, 20.0]


def hand_made() -> GroundTruth:
    """Five 80 s videos, each but the last with the clip [10, 20] s labelled "a": an instance inside
    the clip, one outside it, one partly overlapping it, a video with two instances (one partly
    inside, one outside), and a video without a clip."""
    truth = {"inside": [(12, 18)], "outside": [(40, 50)], "partly": [(15, 45)], "two": [(5, 12), (50, 70)],
             "noclip": [(30, 40)]}
    videos = pd.DataFrame({"subset": "validation", "duration": 80.0,
                           "clips": [[{"segment": CLIP, "label": "a"}] if v != "noclip" else np.nan for v in truth]},
                          index=pd.Index(list(truth), name="video_id"))
    instances = pd.DataFrame([(v, float(t0), float(t1), "a") for v, segs in truth.items() for t0, t1 in segs],
                             columns=["video_id", "t_start", "t_end", "label"])
    return GroundTruth(videos, instances)


def test_clip_only_labels_keep_the_clip_as_the_only_instance():
    gt = hand_made()
    clip_gt = clip_only_ground_truth(gt)
    assert clip_gt.videos.index.tolist() == ["inside", "outside", "partly", "two"]  # no clip, no clip-only labels
    assert clip_gt.instances[["t_start", "t_end"]].to_numpy().tolist() == [CLIP] * 4  # one instance per video
    assert set(clip_gt.instances["label"]) == {"a"}
    assert clip_only_ground_truth(gt, ["two"]).instances["video_id"].tolist() == ["two"]
    with pytest.raises(ValueError, match="no labelled clip"):
        clip_only_ground_truth(gt, ["two", "noclip"])
    assert clip_segments(gt)["video_id"].tolist() == ["inside", "outside", "partly", "two"]
    assert benchmark_videos(gt) == (["inside", "outside", "partly", "two"], ["noclip"])


def test_clip_diagnostics_on_hand_made_cases():
    d = clip_diagnostics(hand_made(), proposals=SlidingWindows(scales=(10.0,), relative=False))
    inst = d.instances.set_index(["video_id", "t_start"])
    assert inst.loc[("inside", 12), "status"] == "inside the clip" and inst.loc[("inside", 12), "outside_fraction"] == 0
    assert inst.loc[("outside", 40), "status"] == "outside the clip" and inst.loc[("outside", 40), "inside_s"] == 0
    assert inst.loc[("partly", 15), "status"] == "partly outside"
    assert inst.loc[("partly", 15), "outside_fraction"] == pytest.approx(25 / 30)
    assert inst.loc[("two", 5), "inside_s"] == pytest.approx(2) and inst.loc[("two", 50), "status"] == "outside the clip"
    assert "noclip" not in d.instances["video_id"].tolist()
    best = d.clips.set_index("video_id")["best_tiou"]
    assert best.to_dict() == pytest.approx({"inside": 0.6, "outside": 0.0, "partly": 5 / 35, "two": 2 / 15})
    summary = d.summary().set_index("measure")["value"]
    assert summary["share of instances outside the clip (labelled background)"] == pytest.approx(2 / 5)
    assert summary["share of instances partly outside the clip"] == pytest.approx(2 / 5)
    # Seconds: 6 + 10 + 30 + 7 + 20 = 73 of instances, 6 + 0 + 5 + 2 + 0 = 13 of them inside the clip.
    assert summary["share of instance time outside the clip (labelled background)"] == pytest.approx(60 / 73)
    assert summary["share of clips overlapping no instance (best tIoU 0)"] == pytest.approx(1 / 4)
    # 10 s windows every 5 s over 80 s: 15 per video. [10, 20] is every video's clip-only positive (and
    # ambiguous for the truth [12, 18]); [40, 50] in "outside" is the only true positive (tIoU > 0.7), and
    # clip-only calls it background.
    assert d.candidates.to_numpy().sum() == 4 * 15
    assert d.candidates["positive"].sum() == 4 and d.candidates.at["ambiguous", "positive"] == 1
    assert d.candidates.loc["positive"].sum() == 1 and d.candidates.at["positive", "negative"] == 1


def constructed(n_videos=160, seed=0) -> GroundTruth:
    """Videos of 60 s with one action of 25 s at 30-55 s (3 classes); the first half have a 10 s
    clip at 5-15 s, in the background: clip-only labels call the action background and the
    background action, so temporal training must win."""
    ids = [f"v{i:03d}" for i in range(n_videos)]
    labels = [f"c{i % 3}" for i in range(n_videos)]
    videos = pd.DataFrame({"subset": "validation", "duration": 60.0,
                           "clips": [[{"segment": [5.0, 15.0], "label": lab}] if i < n_videos // 2 else np.nan
                                     for i, lab in enumerate(labels)]}, index=pd.Index(ids, name="video_id"))
    instances = pd.DataFrame({"video_id": ids, "t_start": 30.0, "t_end": 55.0, "label": labels})
    return GroundTruth(videos, instances)


def test_table1_on_a_constructed_case():
    seeds = [0, 1, 2, 3, 4]
    # The world before the simulator's heterogeneity knobs: this checks the benchmark, not a world.
    bench = kinetics_benchmark(constructed(), seeds, feature_params={"feature_dim": 8, **world_params("all", "off")},
                               progress=False)
    runs = bench.runs
    assert len(runs) == 10 and set(runs["training"]) == {"temporal", "clip-only"}
    assert (runs["train_videos"] == 80).all() and (runs["test_videos"] == 80).all()
    wide = runs.pivot(index="seed", columns="training", values="average")
    assert (wide["temporal"] > wide["clip-only"] + 10).all()  # every seed, by a wide margin
    table = bench.table()
    assert table.columns[:3].tolist() == ["source", "model", "training"]
    assert set(TABLE1_COLUMNS) <= set(table.columns) and TABLE1_COLUMNS[0] == "0.1" and TABLE1_COLUMNS[-1] == "average"
    ours = table[(table["source"].str.startswith("this")) & (table["model"] == "Stage-Wise")].set_index("training")
    assert ours.loc[:, "seeds"].tolist() == [5, 5]
    for col in TABLE1_COLUMNS:
        assert (ours[f"{col}_ci_low"] <= ours[col] + 1e-9).all() and (ours[col] <= ours[f"{col}_ci_high"] + 1e-9).all()
        assert ours.at["temporal", col] == pytest.approx(runs.loc[runs["training"] == "temporal", col].mean())
    assert ours.at["temporal", "average"] > ours.at["clip-only", "average"]
    ssn = table[table["model"].str.startswith("End-to-End") & table["source"].str.startswith("this")]
    assert len(ssn) == 2 and (ssn["note"] == NOT_REPRODUCIBLE).all() and ssn[TABLE1_COLUMNS].isna().all().all()
    paper = table[table["source"].str.startswith("paper")].set_index(["model", "training"])
    assert paper.loc[("Stage-Wise", "temporal"), "0.5"] == 45.1 and paper.loc[("Stage-Wise", "clip-only"), "average"] == 8.2
    assert len(paper) == len(PAPER_TABLE1)
    paired = bench.paired().set_index("tiou")
    assert paired.at["average", "diff_ci_low"] > 0 and (paired["seeds"] == 5).all()
    shown = bench.display()
    assert shown.loc[0, "average"].count("[") == 1 and shown.loc[4, "0.5"] == "45.1"
    # Subsamples are drawn per seed; the split stays: clip videos train, the others are held out.
    small = kinetics_benchmark(constructed(), [0], feature_params={"feature_dim": 8}, train_videos=30,
                               test_videos=20, progress=False)
    assert small.runs["train_videos"].tolist() == [30, 30] and small.runs["test_videos"].tolist() == [20, 20]


def test_the_kinetics_testbed_says_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setenv("ACTIVELOC_SHARED_DATA", str(tmp_path / "absent"))
    reason = missing_testbed_data("kinetics", tmp_path)
    for name in ("k600_val_temporal_annotations.txt", "k600_categories.txt", "kinetics-600_val_clips.csv"):
        assert name in reason
    with pytest.raises(FileNotFoundError, match="testbed 'kinetics': the real annotations are absent"):
        get_testbed("kinetics").build(n_videos=0, n_classes=0, random_state=0)


def test_a_notebook_that_needs_kinetics_is_skipped_without_it(project, monkeypatch):
    write_notebook(project / "notebooks" / "97-needs.ipynb", 'testbed = "simulated"', "raise RuntimeError('ran')",
                   needs=["kinetics"])
    (project / "notebooks" / "profiles.toml").write_text('[t."97-needs"]\n[t."97-needs@kinetics"]\ntestbed = "kinetics"\n')
    monkeypatch.setenv("ACTIVELOC_SHARED_DATA", str(project / "no-such-folder"))
    records = run_pipeline("t", only=["97"], root=project)
    assert [r["notebook"] for r in records] == ["97-needs.ipynb", "97-needs@kinetics.ipynb"]
    assert all("k600_val_temporal_annotations.txt" in r["skipped"] for r in records)
    assert records[0]["skipped"].startswith("kinetics data: the real annotations are absent")


def test_the_kinetics_testbed_builds_with_the_papers_splits(kinetics_files):
    gt, features, messages = get_testbed("kinetics").build(n_videos=0, n_classes=0, random_state=0, feature_dim=4)
    assert (len(gt.videos), len(gt.instances), len(gt.labels)) == (6461, 9625, 600)
    assert gt.estimated_durations().all() and messages[0].endswith("6,461 videos, 600 classes")
    assert sorted(features.video_ids) == sorted(gt.videos.index)
    assert clip_segments(gt)["video_id"].nunique() == 3086
    splits = make_splits(gt, random_state=0)
    assert splits["split"].value_counts().to_dict() == {"selection": 3621, "testing": 1209, "knowledge_source": 905}
    classes = splits.groupby("split")["label"].nunique().to_dict()
    assert classes == {"knowledge_source": 150, "selection": 450, "testing": 450}
    train, held_out = benchmark_videos(gt)
    assert (len(train), len(held_out)) == (3086, 3375)
