"""A timeline of one video as one anywidget: every lane's segments drawn on a canvas by the
JavaScript shipped in ``static/`` (nothing fetched at run time), so a thousand candidates cost one
widget, not a thousand.

Lanes (:func:`timeline_for` fills them from the package's objects): the ground truth when known,
every candidate segment at the height of (and coloured by) its attention score, the top-k
detections with class and score, and the segments a selector's evidence rests on. Wheel zooms,
drag pans, hover shows a segment's values, a click selects it (``selected``). The script writes
the milliseconds of its last full render to ``render_ms``.
"""

from __future__ import annotations

from pathlib import Path

import anywidget
import numpy as np
import pandas as pd
import traitlets

from ..data.dataset import Dataset
from ..localization.segments import tiou

STATIC = Path(__file__).parent / "static"
LANE_KINDS = ("truth", "candidates", "detections", "evidence", "annotation")


def lane(name: str, kind: str, t0, t1, value=None, label=None, info=None) -> dict:
    """A lane as the script reads it: columns of equal length (``value`` in [0, 1] colours a
    candidate; ``info`` is extra hover text per segment)."""
    if kind not in LANE_KINDS:
        raise ValueError(f"lane {name!r}: kind must be one of {LANE_KINDS}, got {kind!r}")
    t0, t1 = np.asarray(t0, dtype=float).ravel(), np.asarray(t1, dtype=float).ravel()
    n = len(t0)
    columns = {"t0": t0, "t1": t1, "value": value, "label": label, "info": info}
    out = {"name": name, "kind": kind}
    for key, column in columns.items():
        if column is None:
            continue
        column = list(np.asarray(column).ravel().tolist())
        if len(column) != n:
            raise ValueError(f"lane {name!r}: column {key!r} has {len(column)} values for {n} segments")
        out[key] = [None if isinstance(x, float) and not np.isfinite(x) else x for x in column]
    return out


class CanvasWidget(anywidget.AnyWidget):
    """What both of the script's modes share: one video (``video_id``, ``duration``), its lanes,
    the visible ``view`` ``[t0, t1]`` (zoom and pan write it; set it to zoom from Python), the
    canvas ``width`` and the milliseconds of the last full render (``render_ms``)."""

    _esm = STATIC / "timeline.js"
    _css = STATIC / "timeline.css"
    video_id = traitlets.Unicode("").tag(sync=True)
    duration = traitlets.Float(1.0).tag(sync=True)
    lanes = traitlets.List(traitlets.Dict()).tag(sync=True)
    view = traitlets.List(traitlets.Float(), default_value=[]).tag(sync=True)
    render_ms = traitlets.Float(-1.0).tag(sync=True)
    width = traitlets.Int(900).tag(sync=True)


class TimelineWidget(CanvasWidget):
    """One video's lanes; ``selected`` is ``{"lane": name, "index": i}`` after a click (else None)."""

    mode = traitlets.Unicode("timeline").tag(sync=True)
    selected = traitlets.Dict(allow_none=True, default_value=None).tag(sync=True)

    def selected_segment(self) -> dict | None:
        """The clicked segment's columns (``t0``, ``t1``, and ``value``/``label``/``info`` where its
        lane has them), or None."""
        if not self.selected:
            return None
        for ln in self.lanes:
            if ln["name"] == self.selected.get("lane"):
                i = self.selected["index"]
                return {k: ln[k][i] for k in ("t0", "t1", "value", "label", "info") if k in ln}
        return None


def timeline_for(dataset, video_id: str, localizer=None, *, detections: int | None = None, selector=None,
                 evidence: pd.DataFrame | None = None, evidence_k: int = 10, width: int = 900) -> TimelineWidget:
    """The timeline of ``video_id`` of ``dataset`` (a Dataset shows its ground truth, a label-blind
    VideoSet none). With a fitted ``localizer``: every candidate with its attention score, and its
    ``detections`` best detections (default: its ``top_k``) with class, score and best tIoU with a
    truth of that class. Evidence: ``evidence`` (a table of ``t_start, t_end`` and optionally
    ``value, label``), or that of ``selector`` (its
    :meth:`~activeloc.active.base.Selector.segment_evidence`) for its ``evidence_k`` segments."""
    if video_id not in dataset.video_ids:
        raise KeyError(f"video {video_id!r} is not among the dataset's {len(dataset.video_ids)} videos")
    videos = dataset.subset([video_id])
    duration = float(videos.durations().iloc[0])
    truth = _truth(videos)
    lanes = []
    if truth is not None:
        lanes.append(lane("ground truth", "truth", truth["t_start"], truth["t_end"], label=truth["label"]))
    if localizer is not None:
        blind = videos.without_labels()
        segments, scores = candidate_scores(localizer, blind, video_id)
        lanes.append(lane("candidates", "candidates", segments[:, 0], segments[:, 1], value=scores,
                          info=[f"attention {s:.3f}" for s in scores]))
        if getattr(localizer, "classifier_classes_", None) is not None:
            det = localizer.predict(blind).sort_values("score", ascending=False, kind="stable")
            det = det.head(localizer.top_k if detections is None else detections)
            info = [f"score {s:.3f}" + ("" if b is None else f", tIoU {b:.2f} with its class's truth")
                    for s, b in zip(det["score"], _best_tiou(det, truth))]
            lanes.append(lane("detections", "detections", det["t_start"], det["t_end"], value=det["score"],
                              label=det["label"], info=info))
        if evidence is None and selector is not None:
            evidence = selector.segment_evidence(localizer, blind, video_id, evidence_k)
    if evidence is not None:
        ev = evidence
        value = ev["value"] if "value" in ev else None
        lanes.append(lane("evidence", "evidence", ev["t_start"], ev["t_end"], value=value,
                          label=ev["label"] if "label" in ev else None,
                          info=None if value is None else [f"{ev.attrs.get('what', 'value')} {v:.3f}" for v in value]))
    return TimelineWidget(video_id=str(video_id), duration=duration, lanes=lanes, view=[0.0, duration], width=width)


def _truth(videos) -> pd.DataFrame | None:
    """The video's instances, or None for a label-blind set (a pool shows no truth)."""
    return videos.instances.sort_values("t_start", kind="stable") if isinstance(videos, Dataset) else None


def _best_tiou(det: pd.DataFrame, truth: pd.DataFrame | None) -> list:
    """Each detection's best tIoU with a truth of its class (0 with none; None without truth)."""
    if truth is None:
        return [None] * len(det)
    if truth.empty or det.empty:
        return [0.0] * len(det)
    overlap = tiou(det[["t_start", "t_end"]].to_numpy(), truth[["t_start", "t_end"]].to_numpy())
    same = det["label"].to_numpy()[:, None] == truth["label"].to_numpy()[None, :]
    return np.where(same, overlap, 0.0).max(axis=1).tolist()


def candidate_scores(localizer, videos, video_id: str) -> tuple[np.ndarray, np.ndarray]:
    """``(segments (n, 2), attention (n,))`` of every candidate of ``video_id``, in candidate order."""
    one = videos.subset([video_id])
    return (np.asarray(localizer.candidate_segments(one)[video_id], dtype=float),
            np.asarray(localizer.attention_scores(one)[video_id], dtype=float))
