"""Confidence-score histograms of videos (the paper's X): what Uncertainty ranks by and LAL reads."""

from __future__ import annotations

import numpy as np


def score_histograms(scores: np.ndarray, owner: np.ndarray, n_videos: int, bins: int = 10) -> np.ndarray:
    """``(n_videos, bins)``: each video's histogram of ``scores`` over ``bins`` equal bins of [0, 1],
    normalised to sum to 1 (``owner`` gives each score's video), all videos at once."""
    bin_of = np.minimum((np.clip(scores, 0, 1) * bins).astype(np.int64), bins - 1)
    counts = np.bincount(owner * bins + bin_of, minlength=n_videos * bins).reshape(n_videos, bins).astype(float)
    return counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)


def video_histograms(scores_by_video: dict, video_ids, bins: int = 10) -> np.ndarray:
    """:func:`score_histograms` of per-video score arrays, rows in ``video_ids`` order."""
    per_video = [scores_by_video[v] for v in video_ids]
    owner = np.repeat(np.arange(len(per_video)), [len(x) for x in per_video])
    return score_histograms(np.concatenate(per_video) if per_video else np.zeros(0), owner, len(per_video), bins)


def video_means(scores_by_video: dict, video_ids, square: bool = False) -> np.ndarray:
    """Each video's mean score (of squared scores with ``square``), rows in ``video_ids`` order, all
    videos in one pass (a Python loop over a pool of ten thousand videos costs a step's budget).
    A video without scores gets NaN."""
    per_video = [scores_by_video[v] for v in video_ids]
    lengths = np.array([len(x) for x in per_video], dtype=np.int64)
    flat = np.concatenate(per_video).astype(np.float64) if per_video else np.zeros(0)
    if square:
        flat = flat * flat
    sums = np.zeros(len(per_video))
    filled = lengths > 0
    if filled.any():
        sums[filled] = np.add.reduceat(flat, (np.cumsum(lengths) - lengths)[filled])
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums / lengths


def entropies(p: np.ndarray) -> np.ndarray:
    """Entropy (nats) of each row of a matrix of distributions."""
    return -(p * np.log(np.where(p > 0, p, 1))).sum(axis=1)


def histogram_entropy(scores: np.ndarray, bins: int = 10) -> float:
    """Entropy (nats) of one video's score histogram."""
    scores = np.asarray(scores)
    return float(entropies(score_histograms(scores, np.zeros(len(scores), dtype=np.int64), 1, bins))[0])
