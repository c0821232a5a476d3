"""The Kinetics campaign (paper 5.1): the class rule, the pool split, the simulated annotator's noise
and time model, the collected file and its datasheet, a short campaign end to end, the live queue
mode with a pre-filled queue, and notebook 07 at tiny."""

import json

import numpy as np
import pandas as pd
import pytest

from activeloc import ActiveLearningLoop, StageWiseLocalizer, make_activitynet_like, make_selector, read_ground_truth
from activeloc.active.oracles import AnnotationQueue, AnnotationTimeModel, SimulatedAnnotator
from activeloc.data.annotations import GroundTruth
from activeloc.experiments.campaign import (campaign_classes, campaign_data, campaign_split, collected_ground_truth,
                                            datasheet, run_campaign, write_collected)


def hand_made(rows, durations=None):
    """A ground truth from ``(video, t0, t1, label)`` rows (durations default to 100 s)."""
    inst = pd.DataFrame(rows, columns=["video_id", "t_start", "t_end", "label"])
    ids = sorted(inst["video_id"].unique())
    videos = pd.DataFrame({"subset": "validation", "duration": [float((durations or {}).get(v, 100.0)) for v in ids]},
                          index=pd.Index(ids, name="video_id"))
    return GroundTruth(videos, inst)


def test_the_class_rule_takes_most_videos_with_ties_by_name():
    rows = [("a1", 0, 9, "a"), ("a2", 0, 9, "a"), ("a3", 0, 9, "a"),
            ("c1", 0, 9, "c"), ("c2", 0, 9, "c"),
            ("b1", 0, 9, "b"), ("b1", 20, 29, "b"), ("b2", 0, 9, "b"),
            ("d1", 0, 9, "d"), ("d1", 20, 29, "d"), ("d1", 40, 49, "d")]  # d: many instances, one video
    gt = hand_made(rows)
    assert campaign_classes(gt, 3) == ["a", "b", "c"]  # b and c tie at 2 videos: by name
    assert campaign_classes(gt, 4) == ["a", "b", "c", "d"]
    assert campaign_classes(hand_made(rows[::-1]), 3) == ["a", "b", "c"]  # the rule, not the file's order
    for n in (0, 5):
        with pytest.raises(ValueError, match="cannot choose"):
            campaign_classes(gt, n)


def test_the_split_holds_out_a_share_per_class_and_leaves_out_videos_with_another_class():
    rows = [(f"{c}{i}", 0, 9, c) for c in "ab" for i in range(10)] + [("x", 0, 9, "a"), ("x", 20, 29, "z")]
    split = campaign_split(hand_made(rows), ["a", "b"], test_share=0.3, random_state=0)
    assert "x" not in split.index and len(split) == 20
    held = split[split["split"] == "testing"].groupby("kinetics_class").size()
    assert held.to_dict() == {"a": 3, "b": 3}
    assert split.equals(campaign_split(hand_made(rows), ["a", "b"], test_share=0.3, random_state=0))
    assert not split.equals(campaign_split(hand_made(rows), ["a", "b"], test_share=0.3, random_state=1))


def test_the_annotators_boundaries_spread_with_the_instance_length_and_stay_in_the_video():
    n = 4000
    rows = [(f"v{i}", 400.0, 500.0, "a") for i in range(n)]  # 100 s instances in 1,000 s videos
    rows += [(f"e{i}", 0.0, 60.0, "a") for i in range(n // 4)]  # at the very start of a 60 s video
    gt = hand_made(rows, {**{f"e{i}": 60.0 for i in range(n // 4)}, **{f"v{i}": 1000.0 for i in range(n)}})
    annotator = SimulatedAnnotator(gt, boundary_std=0.1, miss_below=5.0, miss_probability=0.2)
    out = annotator.annotate(gt.video_ids, random_state=0).set_index("video_id")
    inner = out.loc[[f"v{i}" for i in range(n)]]
    for column, truth in (("t_start", 400.0), ("t_end", 500.0)):
        shift = inner[column] - truth
        assert abs(shift.mean()) < 0.6 and 9.5 < shift.std() < 10.5  # N(0, 0.1 x 100 s)
    edge = out.loc[[f"e{i}" for i in range(n // 4)]]
    assert (edge["t_start"] >= 0).all() and (edge["t_end"] <= 60).all() and (edge["t_end"] > edge["t_start"]).all()
    assert (edge["t_start"] == 0).mean() > 0.4  # about half the draws pushed the start before 0: clipped there
    assert len(out) == len(gt.instances)  # no instance is shorter than 5 s: none missed
    again = annotator.annotate(gt.video_ids, random_state=0).set_index("video_id")
    assert again.equals(out)
    assert not annotator.annotate(gt.video_ids, random_state=1).set_index("video_id").equals(out)


def test_the_annotator_misses_short_instances_at_its_rate_and_never_long_ones():
    n = 5000
    rows = [(f"s{i}", 10.0, 12.0, "a") for i in range(n)] + [(f"s{i}", 50.0, 80.0, "a") for i in range(n)]
    gt = hand_made(rows)
    out = SimulatedAnnotator(gt, miss_below=5.0, miss_probability=0.2).annotate(gt.video_ids, random_state=3)
    short = out[out["t_start"] < 30]
    long = out[out["t_start"] > 30]
    missed = 1 - len(short) / n
    assert abs(missed - 0.2) < 4 * np.sqrt(0.2 * 0.8 / n)  # binomial, four standard errors
    assert len(long) == n
    none = SimulatedAnnotator(gt, boundary_std=0.0, miss_probability=0.0).annotate(gt.video_ids, random_state=3)
    pd.testing.assert_frame_equal(none, gt.instances.reset_index(drop=True)[none.columns])


def test_a_boundary_pair_that_crosses_is_returned_as_the_truth():
    gt = hand_made([(f"v{i}", 10.0, 11.0, "a") for i in range(500)])
    out = SimulatedAnnotator(gt, boundary_std=2.0, miss_probability=0.0, min_length=0.5).annotate(gt.video_ids, 0)
    length = out["t_end"] - out["t_start"]
    assert (length >= 0.5).all() and ((out["t_start"] == 10.0) & (out["t_end"] == 11.0)).any()


def test_the_time_model_is_setup_plus_watching_plus_marking():
    durations = pd.Series([60.0, 200.0, 30.0], index=pd.Index(["a", "b", "c"], name="video_id"))
    instances = pd.DataFrame({"video_id": ["a", "a", "b"], "t_start": [0, 5, 0], "t_end": [1, 6, 1], "label": "x"})
    seconds = AnnotationTimeModel(setup_seconds=20, watch_factor=1.5, seconds_per_instance=10).seconds(durations, instances)
    assert seconds.tolist() == [20 + 90 + 20, 20 + 300 + 10, 20 + 45 + 0]


def test_a_budget_in_hours_needs_a_time_model(campaign):
    loop = ActiveLearningLoop(StageWiseLocalizer(), make_selector("random"), SimulatedOracleLike(), budget_hours=1.0)
    with pytest.raises(ValueError, match="time_model"):
        loop.run(campaign.pool, campaign.testing, progress=False)


class SimulatedOracleLike:
    """An oracle without a time model."""

    def annotate(self, video_ids, random_state=None):
        raise AssertionError("never asked")


@pytest.fixture(scope="module")
def kinetics_like():
    """A simulated stand-in for the Kinetics annotations (durations flagged estimated) and a previous
    dataset with other ids and classes."""
    gt, _ = make_activitynet_like(360, 16, feature_dim=8, random_state=0)
    gt = GroundTruth(gt.videos.assign(duration_estimated=True), gt.instances)
    previous, _ = make_activitynet_like(240, 8, feature_dim=8, random_state=1)
    previous = GroundTruth(previous.videos.rename(index=lambda v: f"p{v}"),
                           previous.instances.assign(video_id="p" + previous.instances["video_id"],
                                                     label="prev " + previous.instances["label"]))
    return gt, previous


@pytest.fixture(scope="module")
def campaign(kinetics_like):
    gt, previous = kinetics_like
    return campaign_data(gt, campaign_classes(gt, 8), knowledge=previous, knowledge_name="previous",
                         feature_params={"feature_dim": 8})


@pytest.fixture(scope="module")
def short_run(campaign):
    return run_campaign(campaign, "mcle", seeds=[0, 1], batch_size=16, budget_hours=3.0, progress=False)


def test_a_short_campaign_runs_against_random_until_the_budget(campaign, short_run):
    assert campaign.knowledge_source.startswith("previous") and len(campaign.classes) == 8
    assert set(campaign.knowledge.instances["label"]).isdisjoint(campaign.classes)
    curves = short_run.curves
    assert set(zip(curves["selector"], curves["seed"])) == {("mcle", 0), ("mcle", 1), ("random", 0), ("random", 1)}
    for _, run in curves.groupby("run_id"):
        hours = run.sort_values("step")["annotator_hours"].to_numpy()
        assert (np.diff(hours) > 0).all()
        assert hours[-1] >= 3.0 > hours[-2]  # stopped once the budget was spent, not before
    first = curves[curves["step"] == 0].groupby("seed")["labelled_videos"].nunique()
    assert (first == 1).all()  # both campaigns of a seed start from the same initial set
    summary = short_run.summary().set_index("selector")
    assert summary.loc["random", "aulc_hours_diff_vs_random_mean"] == 0 and summary.loc["mcle", "runs"] == 2
    by_seed = short_run.per_run.pivot(index="seed", columns="selector", values="aulc_hours")
    assert np.isclose(summary.loc["mcle", "aulc_hours_diff_vs_random_mean"], (by_seed["mcle"] - by_seed["random"]).mean())
    assert summary["map_at_budget_mean"].between(0, 1).all()
    runs = short_run.per_run
    assert (runs.groupby("seed")["aulc_hours_range"].nunique() == 1).all()  # one range per seed's pair
    first_to_end = runs["annotator_hours"] / short_run.pool_hours == runs["aulc_hours_range"]
    assert first_to_end.any()  # it ended where the pair's comparison ends: its mAP there is its last
    assert np.allclose(runs.loc[first_to_end, "map_at_budget"], runs.loc[first_to_end, "map_final"])
    assert curves["fraction_of_full"].notna().all() and 0 < short_run.full_map < 1
    collected = short_run.collected
    assert set(collected["video_id"]) <= set(campaign.pool.video_ids)
    mcle0 = curves[(curves["selector"] == "mcle") & (curves["seed"] == 0)]
    assert len(short_run.collected_steps) == mcle0["labelled_videos"].max()


def test_the_collected_file_loads_as_activitynet_layout_with_its_datasheet(tmp_path, kinetics_like, campaign,
                                                                           short_run):
    gt, _ = kinetics_like
    collected = collected_ground_truth(short_run, campaign, gt)
    sheet = datasheet(short_run, campaign, collected)
    paths = write_collected(collected, sheet, tmp_path / "kinetics-campaign" / "collected.json")
    assert {p.name for p in paths.values()} == {"collected.json", "collected_datasheet.json", "collected_datasheet.md"}
    back = read_ground_truth(paths["collected"])
    assert not back.report.repairs  # nothing to repair: inside the videos, no duplicates
    assert (back.videos["subset"] == "training").all() and len(back.videos) == len(short_run.collected_steps)
    assert back.estimated_durations().all()  # the estimated-duration flags are kept
    assert len(back.instances) == len(short_run.collected)
    assert set(back.videos["kinetics_class"]) <= set(campaign.classes)
    assert (back.videos["campaign_step"] == 0).sum() == round(0.1 * len(campaign.pool.video_ids))
    raw = json.loads(paths["collected"].read_text())
    assert raw["version"] and all("annotations" in v and "duration" in v for v in raw["database"].values())
    saved = json.loads(paths["datasheet"].read_text())
    assert saved["counts"]["videos"] == len(back.videos) and saved["counts"]["instances"] == len(back.instances)
    assert saved["classes"]["names"] == campaign.classes and "most annotated videos" in saved["classes"]["rule"]
    assert saved["collection"]["selector"] == "mcle" and saved["collection"]["budget"] == "3.0 annotator hours"
    assert {"duration", "annotator_seconds", "annotations", "features"} <= set(saved["estimated_fields"])
    assert saved["collection"]["annotator_model"]["boundary_std"] == 0.1
    assert saved["videos_with_estimated_duration"] == len(back.videos)
    assert "Estimated fields" in paths["datasheet_md"].read_text()


def test_a_video_whose_instances_were_all_missed_is_collected_as_background(tmp_path, kinetics_like, campaign):
    gt, _ = kinetics_like
    result = run_campaign(campaign, "random", seeds=[0], baseline=None, batch_size=16, budget_videos=60,
                          annotator={"miss_below": 30.0, "miss_probability": 1.0}, progress=False)
    collected = collected_ground_truth(result, campaign, gt)
    truth = campaign.pool.instances
    short_only = truth.assign(short=truth["t_end"] - truth["t_start"] < 30).groupby("video_id")["short"].all()
    empty = set(collected.videos.index) - set(collected.instances["video_id"])
    assert len(collected.videos) == 60 and empty == {v for v in collected.videos.index if short_only[v]} != set()
    sheet = datasheet(result, campaign, collected)
    assert sheet["counts"]["videos_without_instances"] == len(empty)
    back = read_ground_truth(write_collected(collected, sheet, tmp_path / "c.json")["collected"])
    assert len(back.videos) == 60


def test_the_live_mode_reads_a_prefilled_queue_and_resumes_when_videos_are_pending(tmp_path, campaign):
    queue_path = tmp_path / "queue.jsonl"
    queue = AnnotationQueue(queue_path)
    truth = campaign.pool.instances
    pool = campaign.pool.video_ids
    first_half = pool[: len(pool) // 2]
    for video in first_half:
        rows = truth[truth["video_id"] == video]
        queue.submit(video, [{"segment": [a, b], "label": c} for a, b, c in
                             zip(rows["t_start"], rows["t_end"], rows["label"])], annotator="tester")
    settings = dict(seeds=[0], batch_size=16, budget_videos=60, oracle="queue", queue_path=queue_path,
                    checkpoint_dir=tmp_path / "checkpoints", progress=False)
    waiting = run_campaign(campaign, "random", **settings)
    assert waiting.pending and set(waiting.pending) <= set(pool) - set(first_half)
    for video in pool[len(pool) // 2:]:  # the people finish the pool
        rows = truth[truth["video_id"] == video]
        queue.submit(video, [{"segment": [a, b], "label": c} for a, b, c in
                             zip(rows["t_start"], rows["t_end"], rows["label"])], annotator="tester")
    done = run_campaign(campaign, "random", **settings)
    assert not done.pending and done.per_run["videos"].tolist() == [60]
    assert done.curves["selector"].unique().tolist() == ["random"]  # no baseline campaign in a live session
    got = done.collected.sort_values(["video_id", "t_start"]).reset_index(drop=True)
    want = truth[truth["video_id"].isin(got["video_id"])].sort_values(["video_id", "t_start"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got[["video_id", "t_start", "t_end", "label"]], want[["video_id", "t_start", "t_end",
                                                                                        "label"]])
    assert done.settings["oracle"] == "queue" and done.settings["baseline"] is None
    assert np.isnan(done.full_map) and done.curves["average_mAP"].between(0, 1).all()  # the pool's truth unused
    with pytest.raises(ValueError, match="checkpoint_dir"):
        run_campaign(campaign, "random", **{**settings, "checkpoint_dir": None})
