"""Ground truth and detection results in the official ActivityNet JSON layout.

Ground truth: ``{"version", "taxonomy", "database": {id: {"subset", "duration", "annotations"}}}``.
Results: ``{"version", "results": {id: [{"label", "score", "segment"}]}, "external_data"}``.

Structural errors (missing keys, wrong types, NaN times, unknown subsets, negative durations, a
video id unsafe as a file name or given twice, the ``database``/``results`` key given twice,
nesting too deep or numbers too long to read) raise :class:`AnnotationError` naming the file, the
video and the field.

A video's optional ``duration_estimated`` field (true or false, beside ``duration``) says that its
duration was estimated rather than measured (datasets such as Kinetics give none); tools that read
the official layout ignore it, and :meth:`GroundTruth.estimated_durations` reads it. Defects that real files carry (segments past the duration, empty or
reversed segments, exact duplicates) are repaired loudly: every repair is counted in the
:class:`LoadReport` and listed in its ``repairs`` table, and a warning is issued.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import pandas as pd

from ..core.errors import InputError
from ..core.ids import among, shown_id, video_id_problem
from ..core.io import write_json_atomic

SUBSETS = ("training", "validation", "testing")
ESTIMATED_FIELD = "duration_estimated"
INSTANCE_COLUMNS = ["video_id", "t_start", "t_end", "label"]
RESULT_COLUMNS = ["video_id", "t_start", "t_end", "label", "score"]


class AnnotationError(InputError, ValueError):
    """Bad annotation or results input; names the file, the line (of a line-based file), the video and
    the field at fault."""

    def __init__(self, message: str, *, path=None, line=None, video=None, field=None):
        self.path = None if path is None else str(path)
        self.line = line
        # str(): ids read through pandas or numpy would otherwise show as np.str_('...').
        self.video = None if video is None else str(video)
        self.field = field
        where = [
            part
            for part in (
                self.path,
                None if line is None else f"line {line}",
                None if video is None else f"video {shown_id(video)}",
                None if field is None else f"field {field!r}",
            )
            if part
        ]
        super().__init__(": ".join(where + [message]))


def refuse_unsafe_id(video_id, *, path=None, line=None, field=None) -> None:
    """An :class:`AnnotationError` naming the file, the line and the field if ``video_id`` is not safe
    as a file name (:func:`~activeloc.core.ids.video_id_problem`), which ids become downstream."""
    problem = video_id_problem(video_id)
    if problem:
        raise AnnotationError(problem, path=path, line=line, video=video_id, field=field)


@dataclass
class LoadReport:
    """What loading found and repaired. ``repairs`` lists each repair (video, index, field, action).

    ``dropped`` counts empty segments (start == end, or nothing left after clipping), ``reversed``
    those whose start is after their end. Fields declared with ``repr=False`` are the listings
    (``repairs``, and a subclass's own), which :meth:`to_dict` leaves out unless asked.
    """

    path: str | None
    videos: int
    instances: int
    clipped: int
    dropped: int
    reversed: int
    duplicates: int
    repaired: bool
    repairs: list[dict] = field(default_factory=list, repr=False)

    def to_dict(self, with_repairs: bool = False) -> dict:
        out = asdict(self)
        if not with_repairs:
            for listing in fields(self):
                if not listing.repr:
                    out.pop(listing.name)
        return out


@dataclass
class GroundTruth:
    """Temporal annotations as two tidy tables.

    ``videos``: one row per video, index ``video_id``, columns ``subset`` and ``duration``
    (seconds) plus any extra fields of the file (``url``, ``resolution``...).
    ``instances``: one row per action instance, columns ``video_id, t_start, t_end, label``.
    """

    videos: pd.DataFrame
    instances: pd.DataFrame
    version: str = "VERSION 1.3"
    taxonomy: list | None = None
    report: LoadReport | None = None

    @property
    def labels(self) -> list[str]:
        return sorted(self.instances["label"].unique().tolist())

    @property
    def video_ids(self) -> list[str]:
        return self.videos.index.tolist()

    def durations(self) -> pd.Series:
        return self.videos["duration"]

    def estimated_durations(self) -> pd.Series:
        """Per video, whether its duration was estimated (the ``duration_estimated`` field) rather than
        given; False where the field is absent."""
        if ESTIMATED_FIELD not in self.videos:
            return pd.Series(False, index=self.videos.index, name=ESTIMATED_FIELD)
        return self.videos[ESTIMATED_FIELD].eq(True).rename(ESTIMATED_FIELD)

    def select(self, video_ids) -> GroundTruth:
        """The ground truth restricted to ``video_ids`` (in that order)."""
        video_ids = pd.Index(video_ids)
        missing = video_ids.difference(self.videos.index)
        if len(missing):
            raise KeyError(f"unknown video ids: {list(missing[:5])}")
        inst = self.instances[among(self.instances["video_id"], video_ids)].reset_index(drop=True)
        return GroundTruth(self.videos.loc[video_ids], inst, self.version, self.taxonomy)

    def subset(self, name: str) -> GroundTruth:
        if name not in SUBSETS:
            raise AnnotationError(f"unknown subset {name!r}; expected one of {SUBSETS}", field="subset")
        return self.select(self.videos.index[self.videos["subset"] == name])

    def require_subset(self, name: str) -> GroundTruth:
        """:meth:`subset`, for a subset the user chose to evaluate on: one without videos is an error
        naming the subsets this file has."""
        chosen = self.subset(name)
        if len(chosen.videos) == 0:
            counts = self.videos["subset"].value_counts().sort_index()
            have = ", ".join(f"{subset} ({n})" for subset, n in counts.items()) or "no videos at all"
            path = None if self.report is None else self.report.path
            raise AnnotationError(f"no videos in subset {name!r}; this file has {have}", path=path, field="subset")
        return chosen

    def to_dict(self) -> dict:
        by_video = {vid: [] for vid in self.videos.index}
        for vid, t0, t1, label in self.instances[INSTANCE_COLUMNS].itertuples(index=False):
            by_video[vid].append({"segment": [float(t0), float(t1)], "label": label})
        database = {}
        for vid, row in zip(self.videos.index, self.videos.to_dict("records")):
            entry = {k: _plain(v) for k, v in row.items() if not _is_missing(v)}
            entry["duration"] = float(row["duration"])
            entry["annotations"] = by_video[vid]
            database[vid] = entry
        out = {"version": self.version, "database": database}
        if self.taxonomy is not None:
            out["taxonomy"] = self.taxonomy
        return out


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def _is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _number(value, *, path, video, field_name) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise AnnotationError(f"expected a number, got {value!r}", path=path, video=video, field=field_name)
    try:
        value = float(value)
    except OverflowError:  # an integer past float's range
        value = math.inf
    if not math.isfinite(value):
        raise AnnotationError(f"expected a finite number, got {value!r}", path=path, video=video, field=field_name)
    return value


class _RepeatedKeys(dict):
    """A JSON object in which keys appear more than once (holding the last value, as json does);
    ``repeated`` lists those keys in the order of their second appearance."""

    def __init__(self, pairs, repeated):
        super().__init__(pairs)
        self.repeated = repeated


def _object(pairs) -> dict:
    """json's object hook: a plain dict, or, when keys repeat, one that names them."""
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    seen, repeated = set(), []
    for key, _ in pairs:
        if key in seen and key not in repeated:
            repeated.append(key)
        seen.add(key)
    return _RepeatedKeys(pairs, repeated)


def read_text(path) -> str:
    """A UTF-8 text file's content; a missing file, a folder or undecodable bytes raise an
    :class:`AnnotationError` naming the file."""
    if Path(path).exists() and not Path(path).is_file():  # a folder, a device, a pipe: nothing to read to an end
        raise AnnotationError("not a regular file", path=path)
    try:
        with open(path, encoding="utf-8", newline="") as fh:
            return fh.read()
    except FileNotFoundError:
        raise AnnotationError("file not found", path=path) from None
    except UnicodeDecodeError:
        raise AnnotationError("not UTF-8 text", path=path) from None


def _load_json(path, videos_key: str) -> dict:
    """The top-level object of a JSON file whose ``videos_key`` object maps video ids to entries."""
    text = read_text(path)
    try:
        data = json.loads(text, object_pairs_hook=_object)
    except json.JSONDecodeError as exc:
        raise AnnotationError(f"not valid JSON ({exc})", path=path) from None
    except RecursionError:
        raise AnnotationError("not readable: JSON nested too deeply", path=path) from None
    except ValueError:  # the one other ValueError of json: an integer past Python's digit limit (4,300)
        raise AnnotationError("not readable: a number with too many digits", path=path) from None
    if not isinstance(data, dict):
        raise AnnotationError("top level must be a JSON object", path=path)
    # json keeps the last of repeated keys; for the videos' object or a video id that would silently
    # lose entries.
    if isinstance(data, _RepeatedKeys) and videos_key in data.repeated:
        raise AnnotationError("key appears twice at the top level", path=path, field=videos_key)
    videos = data.get(videos_key)
    if isinstance(videos, _RepeatedKeys):
        raise AnnotationError(f"video id appears twice in the {videos_key}", path=path, video=videos.repeated[0])
    return data


def parse_ground_truth(data: dict, *, path=None, repair: bool = True) -> GroundTruth:
    """Validate an ActivityNet ground-truth dict and turn it into a :class:`GroundTruth`.

    With ``repair=True`` (the default) segments are clipped to ``[0, duration]``, empty and
    reversed segments dropped and exact duplicates removed. With ``repair=False`` defects are only
    counted, which is what the official evaluation does with them (it uses the file as written).
    """
    if "database" not in data:
        raise AnnotationError("missing key", path=path, field="database")
    database = data["database"]
    if not isinstance(database, dict):
        raise AnnotationError("expected an object mapping video ids to entries", path=path, field="database")

    video_rows, inst_rows, repairs = [], [], []
    for vid, entry in database.items():
        refuse_unsafe_id(vid, path=path)
        if not isinstance(entry, dict):
            raise AnnotationError("video entry must be an object", path=path, video=vid)
        for key in ("subset", "duration"):
            if key not in entry:
                raise AnnotationError("missing key", path=path, video=vid, field=key)
        subset = entry["subset"]
        if subset not in SUBSETS:
            raise AnnotationError(
                f"unknown subset {subset!r}; expected one of {SUBSETS}", path=path, video=vid, field="subset"
            )
        duration = _number(entry["duration"], path=path, video=vid, field_name="duration")
        if duration < 0:
            raise AnnotationError(f"negative duration {duration}", path=path, video=vid, field="duration")
        if not isinstance(entry.get(ESTIMATED_FIELD, False), bool):
            raise AnnotationError(f"expected true or false, got {entry[ESTIMATED_FIELD]!r}",
                                  path=path, video=vid, field=ESTIMATED_FIELD)
        annotations = entry.get("annotations")
        if annotations is None:
            if subset != "testing":
                raise AnnotationError("missing key", path=path, video=vid, field="annotations")
            annotations = []
        if not isinstance(annotations, list):
            raise AnnotationError("expected a list", path=path, video=vid, field="annotations")
        extra = {k: v for k, v in entry.items() if k not in ("subset", "duration", "annotations")}
        video_rows.append({"video_id": vid, "subset": subset, "duration": duration, **extra})

        seen = set()
        for i, ann in enumerate(annotations):
            where = f"annotations[{i}]"
            if not isinstance(ann, dict):
                raise AnnotationError("expected an object", path=path, video=vid, field=where)
            for key in ("segment", "label"):
                if key not in ann:
                    raise AnnotationError("missing key", path=path, video=vid, field=f"{where}.{key}")
            seg, label = ann["segment"], ann["label"]
            if not isinstance(seg, (list, tuple)) or len(seg) != 2:
                raise AnnotationError(
                    f"expected [t_start, t_end], got {seg!r}", path=path, video=vid, field=f"{where}.segment"
                )
            t0 = _number(seg[0], path=path, video=vid, field_name=f"{where}.segment[0]")
            t1 = _number(seg[1], path=path, video=vid, field_name=f"{where}.segment[1]")
            if not isinstance(label, str) or not label:
                raise AnnotationError(
                    f"expected a non-empty string, got {label!r}", path=path, video=vid, field=f"{where}.label"
                )
            if t0 > t1:
                # Dropped, not swapped: which of the two times is wrong cannot be told.
                repairs.append({"video_id": vid, "index": i, "field": f"{where}.segment",
                                "action": "reversed", "original": [t0, t1], "result": None})
                if repair:
                    continue
            else:
                c0, c1 = max(t0, 0.0), min(t1, duration)
                if (c0, c1) != (t0, t1):
                    repairs.append({"video_id": vid, "index": i, "field": f"{where}.segment",
                                    "action": "clipped", "original": [t0, t1], "result": [c0, c1]})
                    if repair:
                        t0, t1 = c0, c1
                if t1 - t0 <= 0:
                    repairs.append({"video_id": vid, "index": i, "field": f"{where}.segment",
                                    "action": "dropped", "original": [t0, t1], "result": None})
                    if repair:
                        continue
            key = (label, t0, t1)
            if key in seen:
                repairs.append({"video_id": vid, "index": i, "field": where,
                                "action": "duplicate", "original": [t0, t1], "result": None})
                if repair:
                    continue
            seen.add(key)
            inst_rows.append((vid, t0, t1, label))

    videos = pd.DataFrame(video_rows, columns=None if video_rows else ["video_id", "subset", "duration"])
    videos = videos.set_index("video_id")
    instances = pd.DataFrame(inst_rows, columns=INSTANCE_COLUMNS).astype({"t_start": float, "t_end": float})
    counts = {a: sum(r["action"] == a for r in repairs) for a in ("clipped", "dropped", "reversed", "duplicate")}
    report = LoadReport(
        path=None if path is None else str(path),
        videos=len(videos),
        instances=len(instances),
        clipped=counts["clipped"],
        dropped=counts["dropped"],
        reversed=counts["reversed"],
        duplicates=counts["duplicate"],
        repaired=repair,
        repairs=repairs,
    )
    if repairs:
        verb = "repaired" if repair else "found (not repaired)"
        warnings.warn(
            f"{path or 'ground truth'}: {verb} {report.clipped} segments past the video bounds, "
            f"{report.dropped} empty segments, {report.duplicates} exact duplicates, "
            f"{report.reversed} reversed segments (start after end{', dropped' if repair else ''}); "
            "see LoadReport.repairs",
            stacklevel=2,
        )
    return GroundTruth(videos, instances, str(data.get("version", "VERSION 1.3")), data.get("taxonomy"), report)


def read_ground_truth(path: str | os.PathLike, *, repair: bool = True) -> GroundTruth:
    """Read an ActivityNet-layout ground-truth file; see :func:`parse_ground_truth`."""
    return parse_ground_truth(_load_json(path, "database"), path=Path(path), repair=repair)


def write_ground_truth(ground_truth: GroundTruth, path: str | os.PathLike) -> None:
    """Write the official layout atomically."""
    write_json_atomic(ground_truth.to_dict(), path)


def parse_results(data: dict, *, path=None, require_label: bool = True) -> pd.DataFrame:
    """Validate an ActivityNet results dict into a DataFrame (``video_id, t_start, t_end, label, score``).

    Proposals (results without labels) are read with ``require_label=False``; their ``label`` is None.
    """
    if "results" not in data:
        raise AnnotationError("missing key", path=path, field="results")
    results = data["results"]
    if not isinstance(results, dict):
        raise AnnotationError("expected an object mapping video ids to lists", path=path, field="results")
    rows = []
    for vid, preds in results.items():
        refuse_unsafe_id(vid, path=path)
        if not isinstance(preds, list):
            raise AnnotationError("expected a list of predictions", path=path, video=vid, field="results")
        for i, pred in enumerate(preds):
            where = f"results[{i}]"
            if not isinstance(pred, dict):
                raise AnnotationError("expected an object", path=path, video=vid, field=where)
            needed = ("segment", "score", "label") if require_label else ("segment", "score")
            for key in needed:
                if key not in pred:
                    raise AnnotationError("missing key", path=path, video=vid, field=f"{where}.{key}")
            seg = pred["segment"]
            if not isinstance(seg, (list, tuple)) or len(seg) != 2:
                raise AnnotationError(
                    f"expected [t_start, t_end], got {seg!r}", path=path, video=vid, field=f"{where}.segment"
                )
            t0 = _number(seg[0], path=path, video=vid, field_name=f"{where}.segment[0]")
            t1 = _number(seg[1], path=path, video=vid, field_name=f"{where}.segment[1]")
            score = _number(pred["score"], path=path, video=vid, field_name=f"{where}.score")
            label = pred.get("label")
            if require_label and (not isinstance(label, str) or not label):
                raise AnnotationError(
                    f"expected a non-empty string, got {label!r}", path=path, video=vid, field=f"{where}.label"
                )
            rows.append((vid, t0, t1, label, score))
    return pd.DataFrame(rows, columns=RESULT_COLUMNS).astype({"t_start": float, "t_end": float, "score": float})


def read_results(path: str | os.PathLike, *, require_label: bool = True) -> pd.DataFrame:
    """Read an ActivityNet results (or, without labels, proposals) file."""
    return parse_results(_load_json(path, "results"), path=Path(path), require_label=require_label)


def results_to_dict(detections: pd.DataFrame, *, version: str = "VERSION 1.3",
                    external_data: dict | None = None, video_ids=None) -> dict:
    """The official results dict; ``video_ids`` adds empty lists for videos without detections."""
    has_label = "label" in detections and detections["label"].notna().any()
    results = {vid: [] for vid in (video_ids if video_ids is not None else [])}
    cols = ["video_id", "t_start", "t_end", "score"] + (["label"] if has_label else [])
    for row in detections[cols].itertuples(index=False):
        pred = {"segment": [float(row.t_start), float(row.t_end)], "score": float(row.score)}
        if has_label:
            pred["label"] = row.label
        results.setdefault(row.video_id, []).append(pred)
    return {
        "version": version,
        "results": results,
        "external_data": external_data or {"used": False, "details": ""},
    }


def write_results(detections: pd.DataFrame, path: str | os.PathLike, **kwargs) -> None:
    """Write detections (or proposals) in the official results layout, atomically."""
    write_json_atomic(results_to_dict(detections, **kwargs), path)
