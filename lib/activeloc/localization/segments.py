"""Segment geometry, once each: temporal IoU, ranking within groups, top-k and non-maximum suppression.

Segments are ``[t_start, t_end]`` pairs in the last axis of an array. Everything that compares
segments or ranks scores by video, class or pair (the localizer, the metric, proposal recall,
the oracles' tests) goes through these functions.
"""

from __future__ import annotations

import numpy as np


def segment_iou(a, b) -> np.ndarray:
    """Temporal IoU of segments ``a`` and ``b`` (arrays ``(..., 2)`` that broadcast), elementwise.

    A non-positive union (two empty segments) or a NaN segment (padding) gives 0.
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    inter = np.clip(np.minimum(a[..., 1], b[..., 1]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    union = (a[..., 1] - a[..., 0]) + (b[..., 1] - b[..., 0]) - inter
    out = np.zeros(np.broadcast_shapes(inter.shape, union.shape))
    np.divide(inter, union, out=out, where=union > 0)
    return out


def tiou(segments_a, segments_b) -> np.ndarray:
    """Pairwise temporal IoU between ``(n, 2)`` and ``(m, 2)`` arrays: ``(n, m)``."""
    a = np.asarray(segments_a, dtype=float).reshape(-1, 2)
    b = np.asarray(segments_b, dtype=float).reshape(-1, 2)
    return segment_iou(a[:, None, :], b[None, :, :])


def grouped_ranking(groups, scores) -> tuple[np.ndarray, np.ndarray]:
    """Rank ``scores`` within each group, best first, ties in input order.

    Returns ``order`` (indices sorted by group, then descending score, then input position) and
    ``rank`` (for each position of ``order``, its 0-based rank within its group).
    """
    groups = np.asarray(groups)
    scores = np.asarray(scores, dtype=float)
    order = np.lexsort((np.arange(len(scores)), -scores, groups))
    sorted_groups = groups[order]
    rank = np.arange(len(order)) - np.searchsorted(sorted_groups, sorted_groups, side="left")
    return order, rank


def top_k_per_group(scores, groups, k: int) -> np.ndarray:
    """Indices of the ``k`` highest scores of each group, grouped, best first (ties: first).

    The same as the first ``k`` of :func:`grouped_ranking` per group, but each group's scores are
    laid out in one row of a padded matrix and sorted row-wise: a video's hundred candidates sort
    in a fraction of the time one sort of every candidate of every video takes.
    """
    groups = np.asarray(groups)
    scores = np.asarray(scores, dtype=float)
    if len(scores) == 0:
        return np.zeros(0, dtype=np.intp)
    by_group = np.argsort(groups, kind="stable")
    grouped = groups[by_group]
    starts = np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1]])
    sizes = np.diff(np.r_[starts, len(grouped)])
    # NaN pads sort after every score (and after a real NaN, which comes earlier in its row).
    padded = np.full((len(starts), sizes.max()), np.nan)
    padded[np.repeat(np.arange(len(starts)), sizes), np.arange(len(grouped)) - np.repeat(starts, sizes)] = -scores[by_group]
    ranked = np.argsort(padded, axis=1, kind="stable")[:, :k]
    return by_group[(starts[:, None] + ranked)[ranked < sizes[:, None]]]


def grouped_nms(groups: np.ndarray, segments: np.ndarray, scores: np.ndarray, threshold: float) -> np.ndarray:
    """Greedy temporal non-maximum suppression within each group: a boolean mask of what is kept.

    Within a group, by descending score (ties in input order), a segment is dropped if its tIoU
    with a kept, higher-scored one exceeds ``threshold``. Written out because no maintained
    library offers 1-D NMS; the groups (a video and a class) hold about ``top_k`` segments, so the
    greedy pass runs over ranks, vectorised over all groups at once.
    """
    keep_mask = np.zeros(len(scores), dtype=bool)
    if len(scores) == 0:
        return keep_mask
    order, rank = grouped_ranking(groups, scores)
    group_index = np.cumsum(rank == 0) - 1
    pad = np.full((group_index[-1] + 1, rank.max() + 1, 2), np.nan)
    pad[group_index, rank] = np.asarray(segments, dtype=float)[order]
    valid = ~np.isnan(pad[..., 0])
    iou = segment_iou(pad[:, :, None, :], pad[:, None, :, :])
    keep = np.zeros(valid.shape, dtype=bool)
    for r in range(keep.shape[1]):
        suppressed = (keep[:, :r] & (iou[:, r, :r] > threshold)).any(axis=1)
        keep[:, r] = valid[:, r] & ~suppressed
    keep_mask[order] = keep[group_index, rank]
    return keep_mask
