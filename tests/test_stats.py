"""Figure 4's statistics: DETAD's bins for coverage, length and instances per video, and `activeloc stats`."""

import json
import warnings

import numpy as np
import pytest

from activeloc import AnnotationError
from activeloc.cli import main
from activeloc.data.annotations import parse_ground_truth
from activeloc.data.attributes import BINS, attribute_bins, dataset_statistics, joint_table, joint_tables


def ground_truth(videos):
    """videos: {id: (duration, [(t0, t1), ...])} or {id: (duration, segments, subset)}; one label,
    training by default."""
    database = {vid: {"subset": subset[0] if subset else "training", "duration": duration,
                      "annotations": [{"segment": list(seg), "label": "Run"} for seg in segments]}
                for vid, (duration, segments, *subset) in videos.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return parse_ground_truth({"database": database})


def bins_of(gt, attribute):
    return attribute_bins(gt)[attribute].astype(str).tolist()


def test_coverage_edges_go_to_the_lower_bin():
    cases = [((100, (0, 20)), "XS"), ((100, (10.1, 30.1)), "XS"),  # 20.000000000000004 s: float noise
             ((100, (0, 20.5)), "S"), ((100, (0, 40)), "S"), ((5, (1, 4)), "M"), ((100, (0, 60)), "M"),
             ((100, (0, 80)), "L"), ((100, (0, 80.5)), "XL"), ((100, (0, 100)), "XL"), ((100, (0, 0.5)), "XS")]
    gt = ground_truth({f"v{i}": (d, [seg]) for i, ((d, seg), _) in enumerate(cases)})
    assert bins_of(gt, "coverage") == [want for _, want in cases]


def test_length_edges_go_to_the_lower_bin():
    cases = [((0, 30), "XS"), ((100.1, 130.1), "XS"), ((0, 30.01), "S"), ((0, 60), "S"), ((0, 120), "M"),
             ((0, 180), "L"), ((0, 180.01), "XL"), ((0, 900), "XL")]
    gt = ground_truth({f"v{i}": (1000, [seg]) for i, (seg, _) in enumerate(cases)})
    assert bins_of(gt, "length") == [want for _, want in cases]


def test_instances_per_video_edges_go_to_the_lower_bin():
    expected = {1: "XS", 2: "S", 4: "S", 5: "M", 8: "M", 9: "L", 16: "L", 17: "XL", 30: "XL"}
    gt = ground_truth({f"v{n}": (100, [(i, i + 0.5) for i in range(n)]) for n in expected})
    got = dict(zip(gt.instances["video_id"], bins_of(gt, "instances_per_video")))
    assert got == {f"v{n}": want for n, want in expected.items()}


def test_statistics_counts_fractions_and_subsets():
    gt = ground_truth({"a": (100, [(0, 10), (20, 50)]), "b": (10, [(0, 10)]), "c": (200, [(0, 190)], "validation")})
    stats = dataset_statistics(gt)
    assert (stats["instances"], stats["videos"], stats["annotated_videos"]) == (4, 3, 3)
    assert [stats["coverage_bins"][b]["count"] for b in BINS] == [1, 1, 0, 0, 2]
    assert [stats["length_bins"][b]["count"] for b in BINS] == [3, 0, 0, 0, 1]
    assert [stats["instances_per_video_bins"][b]["count"] for b in BINS] == [2, 2, 0, 0, 0]
    for key in ("coverage_bins", "length_bins", "instances_per_video_bins"):
        assert sum(cell["fraction"] for cell in stats[key].values()) == pytest.approx(1)
    assert stats["coverage_bins"]["XL"]["fraction"] == 0.5 and stats["estimated_durations"] == 0
    validation = dataset_statistics(gt, ["validation"])
    assert validation["instances"] == 1 and validation["length_bins"]["XL"]["count"] == 1
    with pytest.raises(AnnotationError, match="no videos in subset 'testing'"):
        dataset_statistics(gt, ["testing"])


def test_joint_tables_are_percent_of_instances_per_cell():
    gt = ground_truth({"a": (100, [(0, 10), (20, 50)]), "b": (10, [(0, 10)]), "c": (200, [(0, 190)])})
    tables = joint_tables(gt)
    assert list(tables) == [("coverage", "length"), ("coverage", "instances_per_video"),
                            ("length", "instances_per_video")]
    for table in tables.values():
        assert table.shape == (5, 5) and list(table.index) == list(BINS) and list(table.columns) == list(BINS)
        assert table.to_numpy().sum() == pytest.approx(100)
    cov_len = tables[("coverage", "length")]
    assert cov_len.loc["XL", "XS"] == 25 and cov_len.loc["XL", "XL"] == 25 and cov_len.loc["M", "XS"] == 0
    assert cov_len.loc["XS", "XS"] == 25 and cov_len.loc["S", "XS"] == 25 and cov_len.loc["S", "S"] == 0
    with pytest.raises(ValueError, match="unknown attribute"):
        joint_table(gt, "coverage", "duration")


def write(tmp_path, database, name="gt.json"):
    path = tmp_path / name
    path.write_text(json.dumps({"version": "VERSION 1.3", "database": database}))
    return path


HAND_MADE = {
    "a": {"subset": "training", "duration": 50.0,
          "annotations": [{"segment": [40.0, 60.0], "label": "Run"},      # clipped to 50: 10 s, coverage 0.2
                          {"segment": [5.0, 5.0], "label": "Run"},        # empty: dropped
                          {"segment": [0.0, 30.0], "label": "Jump"}]},
    "b": {"subset": "validation", "duration": 100.0, "duration_estimated": True,
          "annotations": [{"segment": [0.0, 100.0], "label": "Run"}]},
    "c": {"subset": "testing", "duration": 30.0, "annotations": []},
}


def test_cli_stats_json_repairs_as_the_loader_does(tmp_path, capsys):
    path = write(tmp_path, HAND_MADE)
    assert main(["stats", str(path), "--format", "json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert {"coverage_bins", "length_bins", "instances_per_video_bins", "instances", "videos"} <= set(stats)
    assert (stats["instances"], stats["videos"], stats["estimated_durations"]) == (3, 3, 1)
    assert {b: c["count"] for b, c in stats["coverage_bins"].items()} == {"XS": 1, "S": 0, "M": 1, "L": 0, "XL": 1}
    assert {b: c["count"] for b, c in stats["length_bins"].items()} == {"XS": 2, "S": 0, "M": 1, "L": 0, "XL": 0}
    assert main(["stats", str(path), "--subset", "training", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["instances_per_video_bins"]["S"]["count"] == 2


def test_cli_stats_table(tmp_path, capsys):
    assert main(["stats", str(write(tmp_path, HAND_MADE))]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "3 instances in 2 annotated videos of 3" in lines[0]
    assert any(line.split() == ["coverage", "XS", "(0,", "0.2]", "1", "33.3"] for line in lines)
    assert any(line.split() == ["length", "M", "(60,", "120]", "1", "33.3"] for line in lines)
    assert "estimated durations (duration_estimated) for 1 of 3 videos" in lines[-1]


def test_cli_stats_errors_are_one_line(tmp_path, capsys):
    path = write(tmp_path, HAND_MADE)
    assert main(["stats", str(path), "--subset", "testing"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "no annotated instances" in err and str(path) in err
    only_training = write(tmp_path, {"a": HAND_MADE["a"]}, "training.json")
    assert main(["stats", str(only_training), "--subset", "validation"]) == 2
    assert "no videos in subset 'validation'" in capsys.readouterr().err


# -- the real files: against a slow, literal count over the raw files --------------------------------

EDGES = {"coverage": [0.2, 0.4, 0.6, 0.8], "length": [30, 60, 120, 180], "instances_per_video": [1, 4, 8, 16]}


def literal_bin(value, edges):
    for i, edge in enumerate(edges):
        if value <= edge:
            return i
    return len(edges)


def literal_fractions(instances):
    """instances: list of dicts of attribute values; per attribute, the fraction of instances per bin."""
    out = {}
    for name, edges in EDGES.items():
        counts = [0] * 5
        for inst in instances:
            if name in inst:
                counts[literal_bin(inst[name], edges)] += 1
        out[name] = [c / len(instances) for c in counts]
    return out


def assert_fractions(stats, expected, names):
    for name in names:
        got = [stats[f"{name}_bins"][b]["fraction"] for b in BINS]
        assert np.allclose(got, expected[name], atol=1e-3), (name, got, expected[name])


@pytest.mark.realdata
def test_real_activitynet_train_val_bins(anet_path, capsys):
    assert main(["stats", str(anet_path), "--subset", "training", "validation", "--format", "json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    instances = []
    for entry in json.loads(anet_path.read_text())["database"].values():
        if entry["subset"] not in ("training", "validation"):
            continue
        kept = []
        for ann in entry["annotations"]:
            t0, t1 = ann["segment"]
            if t0 > t1:
                continue
            t0, t1 = max(t0, 0.0), min(t1, entry["duration"])
            if t1 - t0 <= 0 or (ann["label"], t0, t1) in kept:
                continue
            kept.append((ann["label"], t0, t1))
        for _, t0, t1 in kept:
            instances.append({"coverage": (t1 - t0) / entry["duration"], "length": t1 - t0,
                              "instances_per_video": len(kept)})
    assert stats["instances"] == len(instances)
    assert_fractions(stats, literal_fractions(instances), EDGES)


@pytest.mark.realdata
def test_real_kinetics_length_and_instances_bins(kinetics_files, anet_path, tmp_path, capsys):
    out = tmp_path / "kinetics.json"
    assert main(["convert-kinetics", str(kinetics_files["annotations"]), str(kinetics_files["categories"]),
                 "--clips", str(kinetics_files["clips"]), "--activitynet", str(anet_path), "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["stats", str(out), "--format", "json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    rows = {}
    for line in kinetics_files["annotations"].read_text().splitlines():
        if line.strip():
            vid, t0, t1, index = line.split("\t")
            rows.setdefault(vid, set()).add((float(t0), float(t1), int(index)))  # a set: exact duplicates once
    instances = [{"length": t1 - t0, "instances_per_video": len(kept)}
                 for kept in rows.values() for t0, t1, _ in kept]
    assert stats["instances"] == len(instances) and stats["estimated_durations"] == len(rows)
    assert_fractions(stats, literal_fractions(instances), ["length", "instances_per_video"])
