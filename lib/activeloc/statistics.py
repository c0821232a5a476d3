"""Summaries of active-learning runs: fraction of full mAP, AULC, ratio to 80 %, confidence intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from .metrics import aulc, ratio_to_reach


def with_fraction_of_full(history: pd.DataFrame, full_map: float) -> pd.DataFrame:
    """Adds ``fraction_of_full``: average mAP over the full-data average mAP."""
    return history.assign(fraction_of_full=history["average_mAP"] / full_map)


def summarize_runs(history: pd.DataFrame, full_map: float, target: float = 0.8) -> pd.DataFrame:
    """One row per run: its settings, AULC of "fraction of full mAP vs labelled ratio" and the
    labelled ratio at which it first reaches ``target`` of the full mAP (NaN if never); and, from
    ``seconds_ratio`` (the fraction of Selection's seconds of video annotated), the same two
    measured in annotation cost: ``aulc_seconds`` and ``seconds_to_80pct``."""
    h = with_fraction_of_full(history, full_map)
    keys = ["run_id", "selector", "seed", "batch_size", "noise"]
    rows = []
    for key, run in h.sort_values("step").groupby(keys, sort=False):
        rows.append({**dict(zip(keys, key)),
                     "aulc": aulc(run["labelled_ratio"], run["fraction_of_full"]),
                     "ratio_to_80pct": ratio_to_reach(run["labelled_ratio"], run["fraction_of_full"], target),
                     "aulc_seconds": aulc(run["seconds_ratio"], run["fraction_of_full"]),
                     "seconds_to_80pct": ratio_to_reach(run["seconds_ratio"], run["fraction_of_full"], target),
                     "steps": len(run)})
    return pd.DataFrame(rows)


def mean_ci(values, level: float = 0.95) -> tuple[float, float, float]:
    """Mean and two-sided Student-t confidence interval over independent runs (NaNs dropped)."""
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if len(x) == 0:
        return (np.nan, np.nan, np.nan)
    mean = float(x.mean())
    if len(x) < 2:
        return (mean, np.nan, np.nan)
    half = stats.t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    return (mean, mean - half, mean + half)


def aggregate(per_run: pd.DataFrame, by, columns=("aulc",), level: float = 0.95) -> pd.DataFrame:
    """Mean and confidence interval of ``columns`` per group: ``<col>_mean, <col>_ci_low, <col>_ci_high``."""
    by = [by] if isinstance(by, str) else list(by)
    rows = []
    for key, grp in per_run.groupby(by, sort=True):
        row = dict(zip(by, key if isinstance(key, tuple) else (key,)))
        for col in columns:
            row[f"{col}_mean"], row[f"{col}_ci_low"], row[f"{col}_ci_high"] = mean_ci(grp[col], level)
        row["runs"] = len(grp)
        rows.append(row)
    return pd.DataFrame(rows)


def interpolate_curves(curves: pd.DataFrame, x: str, y: str = "fraction_of_full", points: int = 60) -> pd.DataFrame:
    """Each run's curve linearly interpolated onto one grid of ``x`` (``points`` values over the range
    all runs cover), so that runs whose steps fall at different ``x`` (seconds of video annotated
    differ between runs) can be averaged point by point. Tidy: ``run_id, selector, x, y``."""
    grid = np.linspace(curves.groupby("run_id")[x].min().max(), curves[x].max(), points)
    frames = []
    for (run_id, selector), run in curves.sort_values(x).groupby(["run_id", "selector"]):
        inside = (grid >= run[x].min()) & (grid <= run[x].max())
        frames.append(pd.DataFrame({"run_id": run_id, "selector": selector, x: grid[inside],
                                    y: np.interp(grid[inside], run[x], run[y])}))
    return pd.concat(frames, ignore_index=True)
