"""Kinetics temporal annotations: the loader, its load report, the duration model and convert-kinetics."""

import csv
import json
import warnings

import numpy as np
import pytest

from activeloc import AnnotationError, read_ground_truth, write_ground_truth
from activeloc.cli import main
from activeloc.data.annotations import parse_ground_truth
from activeloc.data.durations import FALLBACK, DurationModel, calibrate_duration_model
from activeloc.data.kinetics import read_kinetics

CATEGORIES = "abseiling\nacting_in_play\nadjusting_glasses\n"
ANNOTATIONS = (
    "vidAAAAAAAA\t10.00\t20.00\t0\n"    # 1
    "vidAAAAAAAA\t15.00\t30.00\t0\n"    # 2: overlaps line 1 by 5 s
    "vidAAAAAAAA\t10.00\t20.00\t0\n"    # 3: exact duplicate of line 1
    "vidBBBBBBBB\t5.00\t12.00\t1\n"     # 4
    "vidBBBBBBBB\t11.80\t20.00\t2\n"    # 5: overlaps line 4 by 0.2 s; a second class in the video
    "vidCCCCCCCC\t0.00\t4.00\t2\n"      # 6
    "\n"
)
CLIPS = (
    "label,youtube_id,time_start,time_end,split\n"
    "abseiling,vidAAAAAAAA,12,22,val\n"          # 2
    "acting in play,vidBBBBBBBB,5,15,val\n"      # 3: differs from line 5's class, but B has its label
    "adjusting glasses,vidCCCCCCCC,30,40,val\n"  # 4: ends after C's last instance
    "abseiling,vidCCCCCCCC,0,10,val\n"           # 5: C listed twice; a label C was not annotated with
    "abseiling,notannotated,0,10,val\n"          # 6
    "abseiling,notannotated,5,15,val\n"          # 7: listed twice, not annotated
)


def activitynet_like(ratio=2.0, shared="vidAAAAAAAA"):
    """Training and validation videos whose duration is ``ratio`` times their last end; ``shared`` among them."""
    database = {}
    for i, (subset, end) in enumerate([("training", 10), ("training", 20), ("training", 35),
                                       ("validation", 15), ("validation", 50)]):
        vid = shared if i == 0 else f"anet{i}"
        database[vid] = {"subset": subset, "duration": ratio * end,
                         "annotations": [{"segment": [end / 2, end], "label": "Run"}]}
    return parse_ground_truth({"database": database})


@pytest.fixture
def files(tmp_path):
    paths = {"annotations": tmp_path / "ann.txt", "categories": tmp_path / "cats.txt", "clips": tmp_path / "clips.csv"}
    paths["annotations"].write_text(ANNOTATIONS)
    paths["categories"].write_text(CATEGORIES)
    paths["clips"].write_text(CLIPS)
    return paths


def load(files, **kwargs):
    with pytest.warns(UserWarning, match="1 exact duplicate rows removed"):
        return read_kinetics(files["annotations"], files["categories"], **kwargs)


def test_hand_made_load_report(files):
    model, _ = calibrate_duration_model(activitynet_like())
    gt = load(files, clips=files["clips"], activitynet=activitynet_like())  # calibrated on it by default
    r = gt.report
    assert r.duration_model["params"] == model.describe()["params"]
    assert load(files, clips=files["clips"], duration_model=model).videos["duration"].equals(gt.videos["duration"])
    assert load(files).report.duration_model == DurationModel.fallback().describe()
    assert (r.rows, r.instances, r.videos, r.classes) == (6, 5, 3, 3)
    assert r.duplicates == 1 and [x["line"] for x in r.repairs] == [3]
    assert (r.overlapping_pairs, r.slight_overlaps) == (1, 1)
    assert sorted(o["lines"] for o in r.overlaps) == [[1, 2], [4, 5]]
    assert r.multi_class == [{"video_id": "vidBBBBBBBB", "labels": ["acting in play", "adjusting glasses"]}]
    assert (r.clip_rows, r.videos_with_clip, r.duplicate_clip_ids) == (4, 3, 2)
    assert {d["youtube_id"]: d["annotated"] for d in r.duplicate_clips} == {"vidCCCCCCCC": True, "notannotated": False}
    assert [(m["clip_line"], m["instance_line"], m["clip_label_annotated"]) for m in r.mismatched_clips] == [
        (3, 5, True), (5, 6, False)]
    assert r.clip_label_mismatches == 2 and r.clip_end_after_last_end == 1
    assert r.shared_with_activitynet == [{"video_id": "vidAAAAAAAA", "activitynet_subset": "training"}]
    assert set(gt.labels) == {"abseiling", "acting in play", "adjusting glasses"}  # underscores become spaces
    # Calibrated on durations twice the last end: A lasts about 60 s; C at least until its clip ends (40 s).
    durations = gt.durations()
    assert durations["vidAAAAAAAA"] == pytest.approx(60, rel=1e-3)
    assert durations["vidCCCCCCCC"] == 40.0
    assert gt.estimated_durations().all()
    summary = r.summary()
    for text in ("exact duplicate rows removed: 1 (lines 3)", "kept as annotated: 1 (1 more overlap by less)",
                 "vidBBBBBBBB: acting in play, adjusting glasses", "ids that are also ActivityNet videos: 1",
                 "clips labelled with none of their video's classes: 1"):
        assert text in summary
    assert "overlaps" not in r.to_dict() and len(r.to_dict(with_repairs=True)["overlaps"]) == 2


def test_without_clips_or_activitynet_the_fallback_model_applies(files):
    gt = load(files)
    r = gt.report
    assert r.clip_rows is None and r.activitynet_shared is None and r.duration_model["kind"] == FALLBACK["kind"]
    a, b = FALLBACK["params"]
    assert gt.durations()["vidAAAAAAAA"] == pytest.approx(a + b * 30, abs=0.01)
    assert "clips" not in gt.videos and "also ActivityNet videos" not in r.summary()


def test_estimated_durations_survive_a_round_trip(files, tmp_path):
    gt = load(files, clips=files["clips"])
    out = tmp_path / "k.json"
    write_ground_truth(gt, out)
    entry = json.loads(out.read_text())["database"]["vidCCCCCCCC"]
    assert entry["duration_estimated"] is True and entry["clips"][0] == {"segment": [30.0, 40.0],
                                                                          "label": "adjusting glasses"}
    again = read_ground_truth(out)
    assert again.estimated_durations().all() and len(again.instances) == 5
    assert not activitynet_like().estimated_durations().any()


@pytest.mark.parametrize("text, line, field, message", [
    ("vidA\t1\t2\n", 1, None, "expected 4 tab-separated columns"),
    ("vidA\t1\t2\t0\nvidB\tabc\t2\t0\n", 2, "start_s", "expected a number of seconds"),
    ("vidA\t1\tnan\t0\n", 1, "end_s", "finite"),
    ("vidA\t-1\t2\t0\n", 1, "start_s", "non-negative"),
    ("vidA\t3\t2\t0\n", 1, "end_s", "not after start"),
    ("vidA\t2\t2\t0\n", 1, "end_s", "not after start"),
    ("\nvidA\t1\t2\t3\n", 2, "class_index", "from 0 to 2"),
    ("vidA\t1\t2\t1.5\n", 1, "class_index", "from 0 to 2"),
    ("vidA\t1\t2\t-1\n", 1, "class_index", "from 0 to 2"),
    ("\t1\t2\t0\n", 1, "youtube_id", "empty video id"),
    ("vidA\t1\t2\t0\n../x\t1\t2\t0\n", 2, "youtube_id", "path separator"),
])
def test_malformed_annotations_name_file_line_and_field(files, text, line, field, message):
    files["annotations"].write_text(text)
    with pytest.raises(AnnotationError, match=message) as err:
        read_kinetics(files["annotations"], files["categories"])
    assert (err.value.line, err.value.field) == (line, field)
    text = str(err.value)
    assert str(files["annotations"]) in text and f"line {line}" in text and (field is None or field in text)
    assert "\n" not in text


@pytest.mark.parametrize("which, text, line, field", [
    ("categories", "a\n\nb\n", 2, "name"),
    ("categories", "a_b\nc\na b\n", 3, "name"),
    ("clips", "label,youtube_id,time_start,split\n", 1, "time_end"),
    ("clips", "label,youtube_id,time_start,time_end,split\nabseiling,vidA,x,10,val\n", 2, "time_start"),
    ("clips", "label,youtube_id,time_start,time_end,split\nabseiling,vidA,0,10\n", 2, None),
    ("clips", "label,youtube_id,time_start,time_end,split\n\nabseiling,vidA,10,10,val\n", 3, "time_end"),
])
def test_malformed_categories_and_clips(files, which, text, line, field):
    files[which].write_text(text)
    with pytest.raises(AnnotationError) as err:
        read_kinetics(files["annotations"], files["categories"], clips=files["clips"])
    assert (err.value.line, err.value.field) == (line, field) and str(files[which]) in str(err.value)


def test_missing_file(files, tmp_path):
    with pytest.raises(AnnotationError, match="file not found"):
        read_kinetics(tmp_path / "absent.txt", files["categories"])


def test_duration_model_fits_and_never_undercuts():
    end = np.array([5.0, 20.0, 60.0, 150.0])
    model = DurationModel("linear").fit(end, 4.0 + 1.1 * end)
    assert model.params_ == pytest.approx((4.0, 1.1), abs=1e-3) and model.error(end, 4.0 + 1.1 * end) < 1e-4
    model.params_ = (-10.0, 0.5)  # a form that would undercut: the last end and the floor win
    assert model.predict([10.0, 100.0]).tolist() == [10.0, 100.0]
    assert model.predict([10.0, 100.0], floor=[50.0, np.nan]).tolist() == [50.0, 100.0]
    with pytest.raises(ValueError, match="unknown duration model"):
        DurationModel("cubic").fit(end, end)


def test_calibration_keeps_the_lowest_held_out_error():
    model, table = calibrate_duration_model(activitynet_like(ratio=2.0), kinds=("identity", "gap", "ratio"))
    assert model.kind == "ratio" and model.params_[0] == pytest.approx(2.0, rel=1e-4)
    assert table["kind"].tolist() == ["identity", "gap", "ratio"]
    assert model.heldout_error_ == table["heldout_error"].min() < table["heldout_error"].max()
    training_only = activitynet_like()
    with pytest.raises(AnnotationError, match="no annotated validation videos"):
        calibrate_duration_model(training_only.select(training_only.videos.index[:3]))


def test_cli_convert_kinetics(files, tmp_path, capsys):
    anet = tmp_path / "anet.json"
    write_ground_truth(activitynet_like(), anet)
    out, report = tmp_path / "out" / "k.json", tmp_path / "report.json"
    assert main(["convert-kinetics", str(files["annotations"]), str(files["categories"]), "--clips",
                 str(files["clips"]), "--activitynet", str(anet), "--out", str(out), "--report", str(report)]) == 0
    printed = capsys.readouterr().out
    assert "exact duplicate rows removed: 1" in printed and "ids that are also ActivityNet videos: 1" in printed
    assert str(anet) in printed  # the calibration names its file
    gt = read_ground_truth(out)
    assert gt.estimated_durations().all() and gt.durations()["vidAAAAAAAA"] == pytest.approx(60, rel=1e-3)
    assert len(json.loads(report.read_text())["mismatched_clips"]) == 2


def test_cli_convert_kinetics_without_activitynet(files, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ACTIVELOC_SHARED_DATA", str(tmp_path / "no-shared-data"))
    assert main(["convert-kinetics", str(files["annotations"]), str(files["categories"]),
                 "--out", str(tmp_path / "k.json")]) == 0
    printed = capsys.readouterr().out
    assert "fallback constants" in printed and "not checked" in printed


def test_cli_convert_kinetics_error_is_one_line(files, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ACTIVELOC_SHARED_DATA", str(tmp_path / "no-shared-data"))
    files["annotations"].write_text("vidA\t1\t2\t0\nvidA\t1\tx\t0\n")
    out = tmp_path / "k.json"
    assert main(["convert-kinetics", str(files["annotations"]), str(files["categories"]), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and str(files["annotations"]) in err and "line 2" in err and "end_s" in err
    assert not out.exists()


# -- the real files ---------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def real_kinetics(kinetics_files, anet):
    model, table = calibrate_duration_model(anet)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        gt = read_kinetics(kinetics_files["annotations"], kinetics_files["categories"],
                           clips=kinetics_files["clips"], activitynet=anet, duration_model=model)
    return gt, table


@pytest.mark.realdata
def test_real_kinetics_defects(real_kinetics):
    r = real_kinetics[0].report
    # The counts documented in the issue and data/README.
    assert (r.rows, r.videos, r.classes) == (9638, 6461, 600)
    assert r.duplicates == 13 and r.instances == 9638 - 13
    assert r.overlapping_pairs == 123
    assert r.multi_class_videos == 1 and r.multi_class[0]["video_id"] == "xnC3nngvLCo"
    assert r.duplicate_clip_ids == 6 and r.clip_label_mismatches == 7
    assert r.videos_with_clip == 3086
    assert r.activitynet_shared == 30 and len(r.shared_with_activitynet) == 30


@pytest.mark.realdata
def test_real_durations_never_below_last_or_clip_end(real_kinetics, kinetics_files):
    gt = real_kinetics[0]
    floor = {}
    with open(kinetics_files["annotations"]) as fh:
        for line in fh:
            if line.strip():
                vid, _, end, _ = line.split("\t")
                floor[vid] = max(floor.get(vid, 0.0), float(end))
    with open(kinetics_files["clips"], newline="") as fh:
        for row in csv.DictReader(fh):
            if row["youtube_id"] in floor:
                floor[row["youtube_id"]] = max(floor[row["youtube_id"]], float(row["time_end"]))
    durations = gt.durations()
    assert sorted(durations.index) == sorted(floor)
    assert all(durations[vid] >= bound for vid, bound in floor.items())
    assert gt.estimated_durations().all()


@pytest.mark.realdata
def test_real_calibration_gives_the_documented_fallback(real_kinetics):
    table = real_kinetics[1].set_index("kind")
    chosen = table["heldout_error"].idxmin()
    assert chosen == FALLBACK["kind"]
    assert table.at[chosen, "params"] == pytest.approx(FALLBACK["params"], abs=0.005)
    assert table.at[chosen, "heldout_error"] == pytest.approx(FALLBACK["heldout_error"], abs=1e-3)
    assert table.at[chosen, "heldout_error"] < table.at["identity", "heldout_error"]
