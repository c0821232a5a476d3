"""Kinetics temporal annotations as an ActivityNet-layout ground truth, with a load report.

Inputs: the annotations (tab-separated ``youtube_id start_s end_s class_index``, seconds of the
untrimmed video), the categories (one name a line, underscores for spaces; ``class_index`` counts
from 0) and, optionally, the Kinetics clip list (CSV ``label,youtube_id,time_start,time_end,split``:
the 10 s clip that Kinetics labelled in each video).

Malformed input (a wrong column count, a time that is not a finite number or is negative, a class
index out of range, an end not after its start, a missing CSV column) raises
:class:`~activeloc.data.annotations.AnnotationError` naming the file, the line and the field.
Defects of well-formed input are counted and listed in a :class:`KineticsReport`, and one warning
says so:

- exact duplicate rows are removed (by the project's loader, :func:`parse_ground_truth`);
- overlapping instances of a video are kept as annotated; pairs that overlap by more than
  ``overlap_tolerance`` (0.5 s) are counted as overlapping, the others as slight overlaps (adjacent
  instances whose boundaries were marked loosely);
- videos annotated with several classes; clip ids listed twice in the clip list; (clip, instance)
  pairs of a video whose labels differ; ids that are also ActivityNet videos (leakage between
  datasets): counted and listed.

Durations are not given: a :class:`~activeloc.data.durations.DurationModel` estimates them from the
last annotated end, never below it nor below the end of the video's clip (rounded up to 0.01 s), and
every video is written with ``"duration_estimated": true`` beside its ``duration``. Each video also keeps its ``url`` and,
with a clip list, its ``clips`` (``[{"segment": [start, end], "label": ...}]``).
"""

from __future__ import annotations

import csv
import math
import os
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .annotations import (ESTIMATED_FIELD, AnnotationError, GroundTruth, LoadReport, refuse_unsafe_id,
                          parse_ground_truth, read_text)
from .durations import DurationModel, calibrate_duration_model

ANNOTATION_COLUMNS = ("youtube_id", "start_s", "end_s", "class_index")
CLIP_COLUMNS = ("label", "youtube_id", "time_start", "time_end")
OVERLAP_TOLERANCE = 0.5  # seconds; annotations are given to 0.01 s, loosely marked boundaries by tenths
SHOWN = 5  # ids a summary line names before "..."


@dataclass
class KineticsReport(LoadReport):
    """What loading Kinetics annotations found. Counts, then listings (left out of ``to_dict()``
    unless ``with_repairs``); ``duplicates`` (from :class:`LoadReport`) counts the exact duplicate rows
    removed, and ``repairs`` lists them with their ``line``. Clip fields are None without a clip
    list, ``shared_with_activitynet`` without an ActivityNet file."""

    rows: int = 0
    classes: int = 0
    overlap_tolerance: float = OVERLAP_TOLERANCE
    overlapping_pairs: int = 0
    slight_overlaps: int = 0
    multi_class_videos: int = 0
    clip_rows: int | None = None
    videos_with_clip: int | None = None
    duplicate_clip_ids: int | None = None
    clip_label_mismatches: int | None = None
    clip_end_after_last_end: int | None = None
    activitynet_shared: int | None = None
    estimated_durations: int = 0
    duration_model: dict = field(default_factory=dict)
    overlaps: list[dict] = field(default_factory=list, repr=False)
    multi_class: list[dict] = field(default_factory=list, repr=False)
    duplicate_clips: list[dict] = field(default_factory=list, repr=False)
    mismatched_clips: list[dict] = field(default_factory=list, repr=False)
    shared_with_activitynet: list[dict] = field(default_factory=list, repr=False)

    def summary(self) -> str:
        """A few lines for a person: what was read, each defect with the first ids, the duration model."""
        dup_lines = [r["line"] for r in self.repairs if r["action"] == "duplicate"]
        lines = [f"{self.path}: {self.rows:,} rows -> {self.instances:,} instances in {self.videos:,} videos, "
                 f"{self.classes} classes",
                 f"  exact duplicate rows removed: {self.duplicates}{_named('lines', dup_lines)}",
                 f"  pairs of instances overlapping by more than {self.overlap_tolerance:g} s, kept as annotated: "
                 f"{self.overlapping_pairs} ({self.slight_overlaps} more overlap by less)",
                 f"  videos with several classes: {self.multi_class_videos}"
                 + _named("", [f"{m['video_id']}: {', '.join(m['labels'])}" for m in self.multi_class])]
        if self.clip_rows is not None:
            unannotated = {m["clip_line"] for m in self.mismatched_clips if not m["clip_label_annotated"]}
            mismatched = sorted({m["video_id"] for m in self.mismatched_clips})
            lines += [f"  clips: {self.clip_rows:,} rows for {self.videos_with_clip:,} annotated videos; "
                      f"ids listed twice in the clip list: {self.duplicate_clip_ids}"
                      + _named("", [d["youtube_id"] for d in self.duplicate_clips]),
                      f"  (clip, instance) pairs of a video with different labels: {self.clip_label_mismatches}, in "
                      f"{len(mismatched)} videos{_named('', mismatched)}; clips labelled with none of their "
                      f"video's classes: {len(unannotated)}"]
        if self.activitynet_shared is not None:
            lines.append(f"  ids that are also ActivityNet videos: {self.activitynet_shared}"
                         + _named("", [s["video_id"] for s in self.shared_with_activitynet]))
        model = self.duration_model
        floor = "" if self.clip_end_after_last_end is None else (
            f"; raised to the clip's end for {self.clip_end_after_last_end:,}")
        lines.append(f"  durations estimated for {self.estimated_durations:,} videos by the {model['kind']} model "
                     f"{model['params']} of the last annotated end (held-out mean |log error| "
                     f"{model['heldout_error']}; {model['calibrated_on']}){floor}")
        return "\n".join(lines)


def _named(what: str, items: list) -> str:
    if not items:
        return ""
    shown = ", ".join(str(i) for i in items[:SHOWN]) + (", ..." if len(items) > SHOWN else "")
    return f" ({what + ' ' if what else ''}{shown})"


def _seconds(text: str, *, path, line, field_name) -> float:
    try:
        value = float(text)
    except ValueError:
        raise AnnotationError(f"expected a number of seconds, got {text!r}", path=path, line=line,
                              field=field_name) from None
    if not math.isfinite(value) or value < 0:
        raise AnnotationError(f"expected a finite, non-negative number of seconds, got {text!r}", path=path,
                              line=line, field=field_name)
    return value


def read_categories(path: str | os.PathLike) -> list[str]:
    """Class names by index, underscores turned into spaces (Kinetics' own spelling)."""
    names, first = [], {}
    for number, text in enumerate(read_text(path).splitlines(), 1):
        name = text.strip().replace("_", " ")
        if not name:
            raise AnnotationError("empty class name", path=path, line=number, field="name")
        if name in first:
            raise AnnotationError(f"class {name!r} already on line {first[name]}", path=path, line=number,
                                  field="name")
        first[name] = number
        names.append(name)
    if not names:
        raise AnnotationError("no class names", path=path)
    return names


def read_annotation_rows(path: str | os.PathLike, categories: list[str]) -> pd.DataFrame:
    """The annotation rows as a table: ``line, video_id, t_start, t_end, label`` (blank lines skipped)."""
    rows = []
    for number, text in enumerate(read_text(path).splitlines(), 1):
        if not text.strip():
            continue
        parts = text.split("\t")
        if len(parts) != len(ANNOTATION_COLUMNS):
            raise AnnotationError(f"expected {len(ANNOTATION_COLUMNS)} tab-separated columns "
                                  f"({' '.join(ANNOTATION_COLUMNS)}), got {len(parts)}", path=path, line=number)
        video, start, end, index = (part.strip() for part in parts)
        refuse_unsafe_id(video, path=path, line=number, field="youtube_id")
        t0 = _seconds(start, path=path, line=number, field_name="start_s")
        t1 = _seconds(end, path=path, line=number, field_name="end_s")
        if t1 <= t0:
            raise AnnotationError(f"end {end} is not after start {start}", path=path, line=number, field="end_s")
        if not index.isdigit() or int(index) >= len(categories):
            raise AnnotationError(f"expected a class index from 0 to {len(categories) - 1}, got {index!r}",
                                  path=path, line=number, field="class_index")
        rows.append((number, video, t0, t1, categories[int(index)]))
    if not rows:
        raise AnnotationError("no annotation rows", path=path)
    return pd.DataFrame(rows, columns=["line", "video_id", "t_start", "t_end", "label"])


def read_clips(path: str | os.PathLike) -> pd.DataFrame:
    """The clip list as a table: ``line, youtube_id, label, t_start, t_end`` (other columns ignored)."""
    reader = csv.reader(read_text(path).splitlines())  # one list item a line, so line_num is the file's line
    header = [name.strip() for name in next(reader, [])]
    for name in CLIP_COLUMNS:
        if name not in header:
            raise AnnotationError(f"missing column (the header has {header})", path=path, line=1, field=name)
    where = {name: header.index(name) for name in CLIP_COLUMNS}
    rows = []
    for row in reader:
        number = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise AnnotationError(f"expected {len(header)} comma-separated columns, got {len(row)}",
                                  path=path, line=number)
        t0 = _seconds(row[where["time_start"]], path=path, line=number, field_name="time_start")
        t1 = _seconds(row[where["time_end"]], path=path, line=number, field_name="time_end")
        if t1 <= t0:
            raise AnnotationError(f"end {t1:g} is not after start {t0:g}", path=path, line=number, field="time_end")
        rows.append((number, row[where["youtube_id"]].strip(), row[where["label"]].strip(), t0, t1))
    return pd.DataFrame(rows, columns=["line", "youtube_id", "label", "t_start", "t_end"])


def _overlaps(instances: pd.DataFrame) -> pd.DataFrame:
    """Every pair of instances of a video whose times overlap, with the overlap in seconds."""
    pairs = instances.merge(instances, on="video_id", suffixes=("_a", "_b"))
    pairs = pairs[pairs["line_a"] < pairs["line_b"]]
    overlap = pairs[["t_end_a", "t_end_b"]].min(axis=1) - pairs[["t_start_a", "t_start_b"]].max(axis=1)
    return pairs.assign(overlap_s=overlap.round(6))[overlap > 0]


def read_kinetics(annotations: str | os.PathLike, categories: str | os.PathLike, *,
                  clips: str | os.PathLike | None = None, activitynet: GroundTruth | None = None,
                  duration_model: DurationModel | None = None) -> GroundTruth:
    """Kinetics temporal annotations as a :class:`GroundTruth` whose ``report`` is a :class:`KineticsReport`.

    ``activitynet``: its ids are checked for overlap with Kinetics', and, unless ``duration_model``
    (a fitted :class:`DurationModel`) is given, the duration model is calibrated on it
    (:func:`~activeloc.data.durations.calibrate_duration_model`); with neither, the model's documented
    constants (:meth:`DurationModel.fallback`). Every video is in subset ``validation`` (the annotated
    videos are Kinetics-600 validation videos).
    """
    names = read_categories(categories)
    rows = read_annotation_rows(annotations, names)
    clip_rows = None if clips is None else read_clips(clips)
    if duration_model is not None:
        model = duration_model
    elif activitynet is not None:
        path = getattr(activitynet.report, "path", None)
        name = str(path) if path else "the given ActivityNet annotations"
        model = calibrate_duration_model(activitynet, name=name)[0]
    else:
        model = DurationModel.fallback()

    last_end = rows.groupby("video_id", sort=False)["t_end"].max()
    clip_end = None
    if clip_rows is not None:
        clip_end = clip_rows.groupby("youtube_id")["t_end"].max().reindex(last_end.index)  # NaN: no clip
    estimate = model.predict(last_end, clip_end)
    # Rounded up to the annotations' 0.01 s, readable in the file; the maximum guards against float rounding.
    durations = pd.Series(np.maximum(np.ceil(estimate * 100) / 100, estimate), index=last_end.index)

    database = {vid: {"subset": "validation", "duration": float(durations[vid]), ESTIMATED_FIELD: True,
                      "url": f"https://www.youtube.com/watch?v={vid}", "annotations": []} for vid in last_end.index}
    line_of = {vid: [] for vid in last_end.index}  # line of each annotation, in the order written
    for line, vid, t0, t1, label in rows.itertuples(index=False):
        database[vid]["annotations"].append({"segment": [t0, t1], "label": label})
        line_of[vid].append(line)
    if clip_rows is not None:
        for _, vid, label, t0, t1 in clip_rows[clip_rows["youtube_id"].isin(database)].itertuples(index=False):
            database[vid].setdefault("clips", []).append({"segment": [t0, t1], "label": label})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the Kinetics warning below says it with line numbers
        gt = parse_ground_truth({"version": "VERSION 1.3", "database": database}, path=Path(annotations))

    removed = set()
    for repair in gt.report.repairs:  # only duplicates: times are checked above, durations cover them
        repair["line"] = line_of[repair["video_id"]][repair["index"]]
        removed.add(repair["line"])
    # gt.instances holds the annotations video by video, in the order written, without the removed ones
    kept = gt.instances.assign(line=[line for lines in line_of.values() for line in lines if line not in removed])
    report = KineticsReport(**asdict(gt.report), rows=len(rows), classes=kept["label"].nunique(),
                            overlap_tolerance=OVERLAP_TOLERANCE, estimated_durations=len(durations),
                            duration_model=model.describe())
    _check_overlaps(report, kept)
    labels = kept.groupby("video_id", sort=False)["label"].unique()
    report.multi_class = [{"video_id": vid, "labels": sorted(found)} for vid, found in labels.items() if len(found) > 1]
    report.multi_class_videos = len(report.multi_class)
    if clip_rows is not None:
        _check_clips(report, clip_rows, kept)
        report.clip_end_after_last_end = int((clip_end > last_end).sum())
    if activitynet is not None:
        shared = activitynet.videos.index.intersection(last_end.index)
        report.shared_with_activitynet = [{"video_id": vid, "activitynet_subset": activitynet.videos.at[vid, "subset"]}
                                          for vid in sorted(shared)]
        report.activitynet_shared = len(shared)
    gt.report = report
    warnings.warn(f"{annotations}: {report.duplicates} exact duplicate rows removed, "
                  f"{report.overlapping_pairs} overlapping pairs and {report.multi_class_videos} videos with several "
                  "classes kept, durations estimated; see the load report (KineticsReport.summary())", stacklevel=2)
    return gt


def _check_overlaps(report: KineticsReport, kept: pd.DataFrame) -> None:
    pairs = _overlaps(kept)
    report.overlaps = [{"video_id": p.video_id, "lines": [p.line_a, p.line_b], "labels": [p.label_a, p.label_b],
                        "segments": [[p.t_start_a, p.t_end_a], [p.t_start_b, p.t_end_b]], "overlap_s": p.overlap_s}
                       for p in pairs.itertuples(index=False)]
    report.overlapping_pairs = int((pairs["overlap_s"] > report.overlap_tolerance).sum())
    report.slight_overlaps = len(pairs) - report.overlapping_pairs


def _check_clips(report: KineticsReport, clip_rows: pd.DataFrame, kept: pd.DataFrame) -> None:
    classes = kept.groupby("video_id")["label"].agg(set)
    twice = clip_rows[clip_rows["youtube_id"].duplicated(keep=False)].groupby("youtube_id", sort=False)
    report.duplicate_clips = [{"youtube_id": vid, "lines": g["line"].tolist(), "labels": g["label"].tolist(),
                               "annotated": vid in classes.index} for vid, g in twice]
    report.duplicate_clip_ids = len(report.duplicate_clips)
    annotated = clip_rows[clip_rows["youtube_id"].isin(classes.index)]
    report.clip_rows = len(annotated)
    report.videos_with_clip = annotated["youtube_id"].nunique()
    pairs = annotated.merge(kept, left_on="youtube_id", right_on="video_id", suffixes=("_clip", ""))
    pairs = pairs[pairs["label_clip"] != pairs["label"]]
    report.mismatched_clips = [{"video_id": p.video_id, "clip_line": p.line_clip, "clip_label": p.label_clip,
                                "instance_line": p.line, "instance_label": p.label,
                                "clip_label_annotated": p.label_clip in classes[p.video_id]}
                               for p in pairs.itertuples(index=False)]
    report.clip_label_mismatches = len(report.mismatched_clips)


def clip_segments(ground_truth: GroundTruth) -> pd.DataFrame:
    """The labelled 10 s clips that a converted ground truth keeps per video (its ``clips`` field,
    written by :func:`read_kinetics` with a clip list): ``video_id, t_start, t_end, label``, one row
    per clip, in the videos' order. Empty where no video has one."""
    rows = []
    if "clips" in ground_truth.videos:
        for vid, clips in ground_truth.videos["clips"].items():
            if isinstance(clips, list):
                rows += [(vid, float(c["segment"][0]), float(c["segment"][1]), c["label"]) for c in clips]
    return pd.DataFrame(rows, columns=["video_id", "t_start", "t_end", "label"])


def clip_only_ground_truth(ground_truth: GroundTruth, video_ids=None) -> GroundTruth:
    """What plain Kinetics says of its videos, as a ground truth to train on: each video's labelled
    clip is its only instance (with the clip's label), and everything else in the video is, by
    omission, background, as the paper assumes for Table 1 (5.3). Only videos with a clip are kept
    (of ``video_ids``, by default all); asking for a video without one is an error."""
    clips = clip_segments(ground_truth)
    if video_ids is None:
        video_ids = clips["video_id"].unique()
    video_ids = pd.Index(video_ids)
    missing = video_ids.difference(clips["video_id"])
    if len(missing):
        raise ValueError(f"{len(missing)} videos have no labelled clip (e.g. {list(missing[:3])}): clip-only labels "
                         "need the Kinetics clip list")
    videos = ground_truth.videos.loc[video_ids]
    instances = clips[clips["video_id"].isin(video_ids)].reset_index(drop=True)
    return GroundTruth(videos, instances, ground_truth.version + " (clip-only labels)", ground_truth.taxonomy)
