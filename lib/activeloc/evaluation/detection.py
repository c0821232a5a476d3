"""ActivityNet detection mAP, exactly as the official evaluation computes it.

The detection metric reproduces the official ActivityNet evaluation (``eval_detection.py``):

* ground-truth classes define the class list; a predicted label unknown to the ground truth is an
  error unless ``ignore_unknown_labels=True`` (then those predictions are dropped);
* predictions for videos outside the ground truth are false positives, as in the official code;
  so are reversed predictions (start after end), whose tIoU is 0; both are counted, with a warning;
* per class, predictions are visited by descending score; at each tIoU threshold a prediction is
  a true positive if some not-yet-matched ground-truth instance of its class in its video has
  tIoU >= threshold, and it takes the one with the highest tIoU; otherwise it is a false positive
  (so is any prediction in a video with no truth of its class);
* AP is VOC-2011 all-point interpolated AP; mAP is the mean over ground-truth classes, a class
  without predictions scoring 0; "average mAP" is the mean over the thresholds.

Tie-breaking, which the official code leaves to an unstable sort, is fixed here: predictions of
equal score keep their input order (earlier first), and ground-truth instances of equal tIoU are
taken in input order. With no ties the two agree exactly.

Segments with a non-positive union (two empty segments, or a reversed one exactly as long as the
truth is) have tIoU 0; the official code divides by zero there, and counts the NaN as a hit.

The greedy matching is sequential within a (class, video) pair but independent across pairs, so
it runs in rounds: round r matches the r-th best prediction of every pair at once, vectorised over
pairs and thresholds. The number of rounds is the largest number of predictions of one class in
one video, not the number of predictions.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..core.errors import InputError
from ..core.ids import among
from ..data.annotations import AnnotationError
from ..localization.segments import grouped_ranking, segment_iou

ACTIVITYNET_TIOU = np.round(np.linspace(0.5, 0.95, 10), 2)
MAX_THRESHOLDS = 1000  # far more than any benchmark uses; a step like 1e-12 would exhaust memory


class ThresholdError(InputError, ValueError):
    """tIoU thresholds that are not numbers in (0, 1], or too many of them."""


def parse_thresholds(spec: str) -> np.ndarray:
    """``"0.5:0.95:0.05"`` (start:stop:step, inclusive), or a comma-separated list, or one number;
    every threshold in (0, 1], at most :data:`MAX_THRESHOLDS` of them. Anything else is an
    :class:`ThresholdError` saying what would do."""
    expected = f"at most {MAX_THRESHOLDS} distinct tIoU thresholds in (0, 1] as start:stop:step (e.g. 0.5:0.95:0.05), a comma list or one number"
    try:
        if ":" in spec:
            start, stop, step = (float(x) for x in spec.split(":"))
            if not step > 0 or not stop >= start or (stop - start) / step > MAX_THRESHOLDS:
                raise ValueError
            thresholds = np.round(start + step * np.arange(round((stop - start) / step) + 1), 10)
        else:
            thresholds = np.array([float(x) for x in spec.split(",")])
    except ValueError:
        raise ThresholdError(f"{spec!r}: expected {expected}") from None
    if (not ((thresholds > 0) & (thresholds <= 1)).all() or len(thresholds) > MAX_THRESHOLDS  # NaN fails too
            or len(np.unique(thresholds)) < len(thresholds)):  # a repeated threshold would weigh twice
        raise ThresholdError(f"{spec!r}: expected {expected}")
    return thresholds


@dataclass
class DetectionEvaluation:
    """Per-class AP (``ap``: rows = classes, columns = thresholds), mAP per threshold and its mean,
    and how many predictions were reversed or for videos outside the ground truth (scored all the same)."""

    tiou_thresholds: np.ndarray
    ap: pd.DataFrame
    mAP: np.ndarray
    average_mAP: float
    reversed_predictions: int
    predictions_outside_ground_truth: int

    def to_dict(self) -> dict:
        return {
            "tiou_thresholds": [float(t) for t in self.tiou_thresholds],
            "mAP": [float(m) for m in self.mAP],
            "average_mAP": float(self.average_mAP),
            "reversed_predictions": self.reversed_predictions,
            "predictions_outside_ground_truth": self.predictions_outside_ground_truth,
        }

    def to_frame(self) -> pd.DataFrame:
        """Tidy table, one row per threshold: ``tiou, mAP``."""
        return pd.DataFrame({"tiou": self.tiou_thresholds, "mAP": self.mAP})


def _match(pred_seg, pred_pair, pred_rank, gt_seg, gt_pair, n_pairs, thresholds) -> np.ndarray:
    """Greedy matching; returns ``tp`` of shape ``(n_pred, n_thresholds)`` (bool).

    ``pred_pair``/``gt_pair`` give each row's (class, video) pair id (-1: the pair has no truth);
    ``pred_rank`` is the prediction's position within its pair by descending score.
    """
    n_thr = len(thresholds)
    tp = np.zeros((len(pred_seg), n_thr), dtype=bool)
    has_gt = pred_pair >= 0
    if not has_gt.any() or len(gt_seg) == 0:
        return tp
    # Pad each pair's truths into a (n_pairs, g_max) table; column j is the pair's j-th truth.
    order = np.argsort(gt_pair, kind="stable")
    gt_pair_sorted = gt_pair[order]
    starts = np.searchsorted(gt_pair_sorted, np.arange(n_pairs))
    col = np.arange(len(order)) - starts[gt_pair_sorted]
    g_max = int(col.max()) + 1
    pad = np.full((n_pairs, g_max, 2), np.nan)
    pad[gt_pair_sorted, col] = gt_seg[order]
    valid = ~np.isnan(pad[..., 0])

    idx = np.flatnonzero(has_gt)
    pairs = pred_pair[idx]
    seg = pred_seg[idx]
    iou = segment_iou(seg[:, None, :], pad[pairs])
    iou[~valid[pairs]] = -np.inf
    reach = iou[:, None, :] >= thresholds[None, :, None]  # (n, T, G)

    locked = np.zeros((n_pairs, n_thr, g_max), dtype=bool)
    ranks = pred_rank[idx]
    by_rank = np.argsort(ranks, kind="stable")
    bounds = np.searchsorted(ranks[by_rank], np.arange(ranks.max() + 2))
    for r in range(ranks.max() + 1):
        rows = by_rank[bounds[r]:bounds[r + 1]]
        p = pairs[rows]
        eligible = reach[rows] & ~locked[p]
        # Highest tIoU among eligible truths; argmax keeps the first (input order) on ties.
        best = np.argmax(np.where(eligible, iou[rows][:, None, :], -np.inf), axis=2)
        hit = np.take_along_axis(eligible, best[..., None], axis=2)[..., 0]
        hit_rows, hit_thr = np.nonzero(hit)
        locked[p[hit_rows], hit_thr, best[hit_rows, hit_thr]] = True
        tp[idx[rows]] = hit
    return tp


def evaluate_detections(
    ground_truth: pd.DataFrame,
    predictions: pd.DataFrame,
    tiou_thresholds=ACTIVITYNET_TIOU,
    *,
    ignore_unknown_labels: bool = False,
    video_ids=None,
) -> DetectionEvaluation:
    """ActivityNet detection mAP.

    ``ground_truth``: instances with ``video_id, t_start, t_end, label`` (one subset's).
    ``predictions``: ``video_id, t_start, t_end, label, score``.
    ``video_ids``: the videos evaluated (default: those with instances); only used to count the
    predictions for other videos, which are scored as false positives either way.
    """
    thresholds = np.asarray(tiou_thresholds, dtype=float).reshape(-1)
    labels = pd.Index(sorted(ground_truth["label"].unique()))
    if len(labels) == 0:
        raise AnnotationError("the ground truth has no instances to evaluate against")
    pred_class = labels.get_indexer(predictions["label"])
    unknown = pred_class < 0
    if unknown.any():
        if not ignore_unknown_labels:
            first = np.flatnonzero(unknown)[0]
            raise AnnotationError(
                f"label {str(predictions['label'].iloc[first])!r} is not a ground-truth class "
                f"({int(unknown.sum())} predictions in {predictions['video_id'][unknown].nunique()} videos have "
                "such labels; pass ignore_unknown_labels=True (--ignore-unknown-labels on the command line) "
                "to drop them)",
                video=predictions["video_id"].iloc[first],
            )
        predictions = predictions[~unknown]
        pred_class = pred_class[~unknown]
    reversed_count = _count_with_warning(
        predictions["t_start"].to_numpy(dtype=float) > predictions["t_end"].to_numpy(dtype=float),
        predictions["video_id"], "reversed predictions (start after end)",
    )
    evaluated = ground_truth["video_id"] if video_ids is None else video_ids
    outside_count = _count_with_warning(
        ~among(predictions["video_id"], evaluated),
        predictions["video_id"], "predictions for videos outside the ground truth evaluated",
    )

    gt_class = labels.get_indexer(ground_truth["label"])
    n_classes = len(labels)
    npos = np.bincount(gt_class, minlength=n_classes)

    # Visit predictions by class, then descending score, ties in input order.
    scores = predictions["score"].to_numpy(dtype=float)
    order, _ = grouped_ranking(pred_class, scores)
    pred_class = pred_class[order]
    pred_seg = predictions[["t_start", "t_end"]].to_numpy(dtype=float)[order]
    pred_video = predictions["video_id"].to_numpy()[order]

    # (class, video) pair ids shared by truth and predictions.
    gt_keys = pd.MultiIndex.from_arrays([gt_class, ground_truth["video_id"].to_numpy()])
    pair_index = gt_keys.unique()
    gt_pair = pair_index.get_indexer(gt_keys)
    pred_pair = pair_index.get_indexer(pd.MultiIndex.from_arrays([pred_class, pred_video]))
    # Each prediction's rank within its pair (the order above is already by descending score).
    pair_order, pair_rank = grouped_ranking(pred_pair, scores[order])
    rank = np.empty(len(pred_pair), dtype=np.int64)
    rank[pair_order] = pair_rank

    tp = _match(
        pred_seg, pred_pair, rank,
        ground_truth[["t_start", "t_end"]].to_numpy(dtype=float), gt_pair, len(pair_index), thresholds,
    )

    ap = np.zeros((n_classes, len(thresholds)))
    class_starts = np.searchsorted(pred_class, np.arange(n_classes + 1))
    for c in range(n_classes):
        lo, hi = class_starts[c], class_starts[c + 1]
        if hi == lo:
            continue
        hits = tp[lo:hi]
        precision = np.cumsum(hits, axis=0) / np.arange(1, hi - lo + 1)[:, None]
        # VOC-2011: precision made monotone from the right, summed at each recall step (each hit).
        envelope = np.maximum.accumulate(precision[::-1], axis=0)[::-1]
        ap[c] = (envelope * hits).sum(axis=0) / npos[c]

    mAP = ap.mean(axis=0)
    return DetectionEvaluation(
        tiou_thresholds=thresholds,
        ap=pd.DataFrame(ap, index=labels, columns=thresholds),
        mAP=mAP,
        average_mAP=float(mAP.mean()),
        reversed_predictions=reversed_count,
        predictions_outside_ground_truth=outside_count,
    )


def _count_with_warning(flagged: np.ndarray, video_ids: pd.Series, what: str) -> int:
    """How many predictions are ``flagged``; when any are, one warning with a few of their videos."""
    count = int(flagged.sum())
    if count:
        examples = [str(v) for v in pd.unique(video_ids[flagged])[:3]]
        warnings.warn(f"{count} {what}, scored as false positives as the official evaluation does; "
                      f"e.g. videos {examples}", stacklevel=3)
    return count


def average_precision(ground_truth: pd.DataFrame, predictions: pd.DataFrame, tiou_threshold: float) -> float:
    """AP of one class at one threshold (all rows are taken to be of the same class)."""
    gt = ground_truth.assign(label="_")
    pred = predictions.assign(label="_")
    return float(evaluate_detections(gt, pred, [tiou_threshold]).mAP[0])


def evaluate_localizer(localizer, testing, tiou_thresholds=ACTIVITYNET_TIOU) -> DetectionEvaluation:
    """Predict on ``testing`` and score the detections against its annotations. Detections of
    classes absent from ``testing`` (possible when it is a subsample) are dropped: they cannot be
    scored, and the official metric averages over the ground truth's classes anyway."""
    return evaluate_detections(testing.instances, localizer.predict(testing), tiou_thresholds,
                               ignore_unknown_labels=True, video_ids=testing.video_ids)


def attention_map(localizer, dataset) -> float:
    """Class-agnostic average mAP (tIoU 0.5:0.95) of the attention module's top-k segments: how
    well it finds actions whatever their class (what LAL's targets and MCLE's prior are measured by)."""
    truth = dataset.instances.assign(label="action")
    return evaluate_detections(truth, localizer.attention_detections(dataset), video_ids=dataset.video_ids).average_mAP
