import copy
import json
import warnings

import numpy as np
import pandas as pd
import pytest

from activeloc import AnnotationError, read_ground_truth, read_results, write_ground_truth, write_results
from activeloc.cli import main

GOOD = {
    "version": "VERSION 1.3",
    "database": {
        "vidA": {"subset": "training", "duration": 100.0, "url": "u",
                 "annotations": [{"segment": [10.0, 20.0], "label": "Run"},
                                 {"segment": [30.0, 50.5], "label": "Jump"}]},
        "vidB": {"subset": "validation", "duration": 60.0, "annotations": [{"segment": [0.0, 60.0], "label": "Run"}]},
        "vidC": {"subset": "testing", "duration": 30.0, "annotations": []},
    },
}


def write(tmp_path, data, name="gt.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def test_round_trip(tmp_path):
    gt = read_ground_truth(write(tmp_path, GOOD))
    assert gt.report.videos == 3 and gt.report.instances == 3
    assert (gt.report.clipped, gt.report.dropped, gt.report.duplicates) == (0, 0, 0)
    assert gt.labels == ["Jump", "Run"]
    out = tmp_path / "out.json"
    write_ground_truth(gt, out)
    again = read_ground_truth(out)
    pd.testing.assert_frame_equal(gt.instances, again.instances)
    pd.testing.assert_frame_equal(gt.videos, again.videos)
    assert json.loads(out.read_text())["database"]["vidA"]["url"] == "u"


def test_subset_and_select(tmp_path):
    gt = read_ground_truth(write(tmp_path, GOOD))
    assert gt.subset("validation").video_ids == ["vidB"]
    assert len(gt.select(["vidA"]).instances) == 2
    with pytest.raises(AnnotationError, match="subset"):
        gt.subset("train")


def mutate(path_keys, value):
    data = copy.deepcopy(GOOD)
    target = data
    for key in path_keys[:-1]:
        target = target[key]
    if value is KeyError:
        del target[path_keys[-1]]
    else:
        target[path_keys[-1]] = value
    return data


@pytest.mark.parametrize("keys, value, field", [
    (("database", "vidA", "duration"), KeyError, "duration"),
    (("database", "vidA", "subset"), KeyError, "subset"),
    (("database", "vidA", "annotations"), KeyError, "annotations"),
    (("database", "vidA", "duration"), "100", "duration"),
    (("database", "vidA", "duration"), -1.0, "duration"),
    (("database", "vidA", "duration"), float("nan"), "duration"),
    (("database", "vidA", "subset"), "train", "subset"),
    (("database", "vidA", "duration_estimated"), "yes", "duration_estimated"),
    (("database", "vidA", "annotations", 0, "segment"), [1.0, float("nan")], "annotations[0].segment[1]"),
    (("database", "vidA", "annotations", 0, "segment"), ["a", 2.0], "annotations[0].segment[0]"),
    (("database", "vidA", "annotations", 0, "segment"), [1.0], "annotations[0].segment"),
    (("database", "vidA", "annotations", 1, "label"), KeyError, "annotations[1].label"),
    (("database", "vidA", "annotations", 1, "label"), 3, "annotations[1].label"),
])
def test_bad_input_names_file_video_and_field(tmp_path, keys, value, field):
    path = write(tmp_path, mutate(keys, value))
    with pytest.raises(AnnotationError) as err:
        read_ground_truth(path)
    assert err.value.field == field
    message = str(err.value)
    assert str(path) in message and "'vidA'" in message and field in message


def test_unreadable_files(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(AnnotationError, match="not valid JSON"):
        read_ground_truth(bad)
    with pytest.raises(AnnotationError, match="file not found"):
        read_ground_truth(tmp_path / "missing.json")
    with pytest.raises(AnnotationError, match="database"):
        read_ground_truth(write(tmp_path, {"version": "x"}))


def test_defects_are_repaired_loudly(tmp_path):
    data = copy.deepcopy(GOOD)
    data["database"]["vidA"]["annotations"] += [
        {"segment": [90.0, 120.0], "label": "Run"},   # past the end: clipped
        {"segment": [40.0, 40.0], "label": "Run"},    # empty: dropped
        {"segment": [10.0, 20.0], "label": "Run"},    # exact duplicate: removed
    ]
    path = write(tmp_path, data)
    with pytest.warns(UserWarning, match="1 segments past the video bounds, 1 empty segments, 1 exact duplicates"):
        gt = read_ground_truth(path)
    assert (gt.report.clipped, gt.report.dropped, gt.report.duplicates) == (1, 1, 1)
    a = gt.instances[gt.instances.video_id == "vidA"]
    assert len(a) == 3 and a.t_end.max() == 100.0
    assert {r["action"] for r in gt.report.repairs} == {"clipped", "dropped", "duplicate"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        raw = read_ground_truth(path, repair=False)
    assert len(raw.instances[raw.instances.video_id == "vidA"]) == 5 and raw.report.clipped == 1


def test_results_round_trip_and_errors(tmp_path):
    det = pd.DataFrame({"video_id": ["a", "a", "b"], "t_start": [0.0, 1.0, 2.0], "t_end": [1.0, 2.0, 3.0],
                        "label": ["x", "y", "x"], "score": [0.9, 0.5, 0.1]})
    path = tmp_path / "res.json"
    write_results(det, path, video_ids=["a", "b", "c"])
    back = read_results(path)
    pd.testing.assert_frame_equal(back, det)
    assert json.loads(path.read_text())["results"]["c"] == []
    data = json.loads(path.read_text())
    data["results"]["b"][0]["score"] = None
    with pytest.raises(AnnotationError, match=r"video 'b'.*results\[0\]\.score"):
        read_results(write(tmp_path, data, "bad.json"))
    proposals = det.drop(columns="label")
    write_results(proposals, path)
    assert read_results(path, require_label=False)["label"].isna().all()
    with pytest.raises(AnnotationError, match="label"):
        read_results(path)


def test_cli_validate(tmp_path, capsys):
    assert main(["validate", str(write(tmp_path, GOOD))]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {"videos", "instances", "clipped", "dropped", "duplicates"} <= set(report)
    assert report["videos"] == 3
    bad = tmp_path / "bad.json"
    bad.write_text("[")
    assert main(["validate", str(bad)]) != 0
    assert "bad.json" in capsys.readouterr().err


def test_real_activitynet_report(anet_path, capsys):
    assert main(["validate", str(anet_path)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["clipped"] == 209 and report["dropped"] == 12
    assert 40 <= report["duplicates"] <= 60
    assert report["subsets"] == {"testing": 4851, "training": 9649, "validation": 4728}
    assert report["classes"] == 200


def test_real_activitynet_repaired_is_clean(anet):
    inst, dur = anet.instances, anet.videos["duration"]
    assert (inst.t_end > inst.t_start).all()
    assert (inst.t_end.to_numpy() <= dur.loc[inst.video_id].to_numpy()).all()
    assert not inst.duplicated(["video_id", "label", "t_start", "t_end"]).any()
    assert np.isfinite(inst[["t_start", "t_end"]].to_numpy()).all()
