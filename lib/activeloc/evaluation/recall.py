"""Proposal quality: average recall against the average number of proposals per video (AR@AN),
as the ActivityNet proposal evaluation computes it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..localization.segments import tiou
from .detection import ACTIVITYNET_TIOU


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
