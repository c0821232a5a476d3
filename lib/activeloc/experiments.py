"""Experiments that the notebooks run: learning curves of the localizer on random subsets."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from sklearn.base import clone
from tqdm.auto import tqdm

from .dataset import Dataset
from .metrics import ACTIVITYNET_TIOU, evaluate_detections


def evaluate_localizer(localizer, test: Dataset, tiou_thresholds=ACTIVITYNET_TIOU) -> dict:
    """Predict on ``test`` and score: ``average_mAP``, ``mAP@0.5`` and predict seconds."""
    start = time.perf_counter()
    detections = localizer.predict(test)
    seconds = time.perf_counter() - start
    result = evaluate_detections(test.instances, detections, tiou_thresholds)
    at = dict(zip(np.round(result.tiou_thresholds, 2), result.mAP))
    return {"average_mAP": result.average_mAP, "mAP@0.5": at.get(0.5, np.nan), "predict_seconds": seconds}


def random_subset_curve(localizer, train: Dataset, test: Dataset, ratios, seeds) -> pd.DataFrame:
    """Fit a clone of ``localizer`` on random fractions of ``train``; one row per (ratio, seed).

    Columns: ``ratio, seed, videos, average_mAP, mAP@0.5, fit_seconds, predict_seconds`` and
    ``fraction_of_full``: average mAP over the mean average mAP at the largest ratio.
    """
    rows = []
    grid = [(r, s) for r in ratios for s in seeds]
    for ratio, seed in tqdm(grid, desc="learning curve", unit="fit"):
        ids = np.random.default_rng(seed).permutation(train.video_ids)[: max(1, round(ratio * len(train.video_ids)))]
        model = clone(localizer).set_params(random_state=seed)
        start = time.perf_counter()
        model.fit(train.subset(ids))
        fit_seconds = time.perf_counter() - start
        rows.append({"ratio": ratio, "seed": seed, "videos": len(ids), "fit_seconds": fit_seconds,
                     **evaluate_localizer(model, test)})
    curve = pd.DataFrame(rows)
    full = curve.loc[curve["ratio"] == curve["ratio"].max(), "average_mAP"].mean()
    curve["fraction_of_full"] = curve["average_mAP"] / full
    return curve
