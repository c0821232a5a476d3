"""A slow, literal re-statement of the official ActivityNet detection evaluation, for cross-checks.

One prediction at a time, one threshold at a time, exactly the steps the official
``eval_detection.py`` takes (Python 3, no blocked-video list). Kept in the tests only, as the
oracle that the vectorised :func:`activeloc.metrics.evaluate_detections` must agree with.
"""

import numpy as np


def _segment_iou(target, candidates):
    tt1 = np.maximum(target[0], candidates[:, 0])
    tt2 = np.minimum(target[1], candidates[:, 1])
    inter = (tt2 - tt1).clip(0)
    union = (candidates[:, 1] - candidates[:, 0]) + (target[1] - target[0]) - inter
    return inter.astype(float) / union


def _interpolated_ap(prec, rec):
    mprec = np.hstack([[0], prec, [0]])
    mrec = np.hstack([[0], rec, [1]])
    for i in range(len(mprec) - 1)[::-1]:
        mprec[i] = max(mprec[i], mprec[i + 1])
    idx = np.where(mrec[1::] != mrec[0:-1])[0] + 1
    return np.sum((mrec[idx] - mrec[idx - 1]) * mprec[idx])


def _class_ap(gt, pred, thresholds):
    """gt: list of (video, t0, t1); pred: list of (video, t0, t1, score)."""
    ap = np.zeros(len(thresholds))
    if not pred:
        return ap
    npos = float(len(gt))
    lock = -np.ones((len(thresholds), len(gt)))
    order = np.argsort([-p[3] for p in pred], kind="stable")
    tp = np.zeros((len(thresholds), len(pred)))
    fp = np.zeros((len(thresholds), len(pred)))
    by_video = {}
    for j, (v, t0, t1) in enumerate(gt):
        by_video.setdefault(v, []).append((j, t0, t1))
    for idx, k in enumerate(order):
        v, t0, t1, _ = pred[k]
        if v not in by_video:
            fp[:, idx] = 1
            continue
        rows = by_video[v]
        ious = _segment_iou(np.array([t0, t1]), np.array([[a, b] for _, a, b in rows]))
        ranked = np.argsort(-ious, kind="stable")
        for tidx, thr in enumerate(thresholds):
            for jdx in ranked:
                if ious[jdx] < thr:
                    fp[tidx, idx] = 1
                    break
                if lock[tidx, rows[jdx][0]] >= 0:
                    continue
                tp[tidx, idx] = 1
                lock[tidx, rows[jdx][0]] = idx
                break
            if fp[tidx, idx] == 0 and tp[tidx, idx] == 0:
                fp[tidx, idx] = 1
    tp_c = np.cumsum(tp, axis=1)
    fp_c = np.cumsum(fp, axis=1)
    rec = tp_c / npos
    prec = tp_c / (tp_c + fp_c)
    for tidx in range(len(thresholds)):
        ap[tidx] = _interpolated_ap(prec[tidx], rec[tidx])
    return ap


def reference_map(gt_rows, pred_rows, thresholds):
    """gt_rows: (video, t0, t1, label); pred_rows: (video, t0, t1, label, score). Returns mAP per threshold."""
    labels = sorted({r[3] for r in gt_rows})
    aps = []
    for label in labels:
        gt = [(v, a, b) for v, a, b, lab in gt_rows if lab == label]
        pred = [(v, a, b, s) for v, a, b, lab, s in pred_rows if lab == label]
        aps.append(_class_ap(gt, pred, np.asarray(thresholds)))
    return np.mean(aps, axis=0)
