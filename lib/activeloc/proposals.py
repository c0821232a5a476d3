"""Candidate segments (multi-scale sliding windows or loaded proposals) and their quality (AR@AN).

Both candidate sources answer ``candidates(video_id, duration) -> (n, 2)`` seconds, ordered by
their own confidence (best first), which is the order AR@AN reads them in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .metrics import ACTIVITYNET_TIOU, tiou

# Window lengths as fractions of the video: ActivityNet instances cover anything from a few per
# cent of a video (41 % cover under a fifth) to all of it (25 % cover over four fifths).
DEFAULT_SCALES = (1.0, 0.8, 0.6, 0.45, 0.33, 0.25, 0.18, 0.12, 0.08, 0.05)


@dataclass(frozen=True)
class SlidingWindows:
    """Multi-scale sliding windows.

    ``scales``: window lengths, as fractions of the video's duration (``relative=True``, the
    default: about the same number of candidates for every video, ~100 with the defaults) or in
    seconds. ``overlap``: fraction shared by consecutive windows of one scale. A last window is
    aligned with the end of the video so that no scale leaves the end uncovered. Absolute windows
    longer than the video are replaced by the whole video. Candidates are ordered coarse to fine,
    then by start time; a video of zero duration has none.
    """

    scales: tuple[float, ...] = DEFAULT_SCALES
    overlap: float = 0.5
    relative: bool = True

    def __post_init__(self):
        if not 0 <= self.overlap < 1:
            raise ValueError(f"overlap must be in [0, 1), got {self.overlap}")
        if not self.scales or min(self.scales) <= 0:
            raise ValueError("scales must be positive")

    def candidates(self, video_id: str, duration: float) -> np.ndarray:
        if not duration > 0:
            return np.zeros((0, 2))
        out = []
        for scale in sorted(set(self.scales), reverse=True):
            length = min(scale * duration if self.relative else scale, duration)
            stride = length * (1 - self.overlap)
            n = int(np.floor((duration - length) / stride + 1e-9)) + 1
            starts = np.arange(n) * stride
            if starts[-1] + length < duration - 1e-9:
                starts = np.append(starts, duration - length)
            out.append(np.column_stack([starts, starts + length]))
        segs = np.round(np.concatenate(out), 6)
        _, first = np.unique(segs, axis=0, return_index=True)
        return segs[np.sort(first)]


class LoadedProposals:
    """Proposals from a table with ``video_id, t_start, t_end, score`` (e.g. :func:`read_results` of a
    proposals JSON with ``require_label=False``), best first, at most ``max_per_video`` per video."""

    def __init__(self, proposals: pd.DataFrame, max_per_video: int | None = 100):
        self.proposals = proposals
        self.max_per_video = max_per_video
        ordered = proposals.sort_values(["video_id", "score"], ascending=[True, False], kind="stable")
        self._by_video = {
            vid: grp[["t_start", "t_end"]].to_numpy(dtype=float)[:max_per_video]
            for vid, grp in ordered.groupby("video_id", sort=False)
        }

    def candidates(self, video_id: str, duration: float) -> np.ndarray:
        segs = self._by_video.get(video_id)
        return np.zeros((0, 2)) if segs is None else np.clip(segs, 0, duration)


def average_recall(ground_truth: pd.DataFrame, proposals: dict[str, np.ndarray], *,
                   max_avg_proposals: int = 100, tiou_thresholds=ACTIVITYNET_TIOU) -> pd.DataFrame:
    """Average recall against average number of proposals per video (the ActivityNet protocol).

    ``proposals``: ``video_id -> (n, 2)`` array, best first. As in the official evaluation, each
    video keeps the same fraction of its proposals at every point of the curve, so that AN is an
    average over videos; recall is averaged over ``tiou_thresholds``. Returns one row per point:
    ``an`` (average proposals per video) and ``ar``; 100 points up to ``max_avg_proposals``.
    """
    videos = ground_truth["video_id"].unique()
    total = sum(len(proposals.get(v, ())) for v in videos)
    if total == 0:
        raise ValueError("no proposals for the ground-truth videos")
    ratio = max_avg_proposals * len(videos) / total
    kept, best_overlaps = 0, []
    truths = ground_truth.groupby("video_id")[["t_start", "t_end"]]
    for vid in videos:
        gt = truths.get_group(vid).to_numpy(dtype=float)
        props = np.asarray(proposals.get(vid, np.zeros((0, 2))), dtype=float)
        n = min(int(len(props) * ratio), len(props))
        kept += n
        best_overlaps.append((gt, props[:n]))
    fractions = np.arange(1, 101) / 100 * (max_avg_proposals * len(videos) / kept)
    thresholds = np.asarray(tiou_thresholds, dtype=float)
    matches = np.zeros((len(thresholds), len(fractions)))
    n_truth = 0
    for gt, props in best_overlaps:
        n_truth += len(gt)
        if len(props) == 0:
            continue
        # Best tIoU of each truth among the first j proposals, for every j.
        best = np.maximum.accumulate(tiou(gt, props), axis=1)
        counts = np.minimum((len(props) * fractions).astype(int), len(props))
        reached = np.where(counts > 0, best[:, np.maximum(counts - 1, 0)], -1.0)  # (n_gt, points)
        matches += (reached[None] >= thresholds[:, None, None]).sum(axis=1)
    recall = matches / n_truth
    return pd.DataFrame({"an": fractions * kept / len(videos), "ar": recall.mean(axis=0)})


def proposal_summary(curve: pd.DataFrame) -> dict:
    """AR@1, AR@10, AR@100 (nearest points of the curve) and the area under it, normalised to [0, 1]."""
    def at(n):
        return float(curve["ar"].iloc[int(np.argmin(np.abs(curve["an"] - n)))])

    auc = float(np.trapezoid(curve["ar"], curve["an"]) / curve["an"].iloc[-1])
    return {"AR@1": at(1), "AR@10": at(10), "AR@100": at(100), "AUC": auc}
