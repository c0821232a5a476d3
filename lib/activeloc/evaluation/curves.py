"""Learning curves and their summaries: AULC, the labelled ratio to reach a fraction of full mAP,
per-run summaries, and means with confidence intervals over runs."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

# Ratios of Selection needed to reach a target: bounded to [0, 1], so their intervals are bootstrap
# percentiles of the mean (inside the range of the runs) rather than Student-t (which can pass 1).
BOUNDED_COLUMNS = ("ratio_to_80pct", "seconds_to_80pct")


def _curve(ratios, values):
    x = np.asarray(ratios, dtype=float)
    y = np.asarray(values, dtype=float)
    if x.shape != y.shape or x.ndim != 1 or len(x) == 0:
        raise ValueError("ratios and values must be 1-d arrays of the same non-zero length")
    order = np.argsort(x, kind="stable")
    return x[order], y[order]


def aulc(ratios, fraction_of_full) -> float:
    """Area under the learning curve "fraction of full mAP vs ratio of labelled videos".

    Trapezoidal area over the observed range of ratios (e.g. 0.1 to 1.0 in the paper's protocol),
    not rescaled, so a curve at 1.0 from 10 % to 100 % scores 0.9, as in the paper's figure.
    """
    x, y = _curve(ratios, fraction_of_full)
    return float(np.trapezoid(y, x)) if len(x) > 1 else 0.0


def ratio_to_reach(ratios, fraction_of_full, target: float = 0.8) -> float:
    """Smallest labelled ratio at which the curve reaches ``target`` (linear interpolation); NaN if never."""
    x, y = _curve(ratios, fraction_of_full)
    above = np.flatnonzero(y >= target)
    if len(above) == 0:
        return float("nan")
    i = above[0]
    if i == 0:
        return float(x[0])
    x0, x1, y0, y1 = x[i - 1], x[i], y[i - 1], y[i]
    return float(x0 + (target - y0) * (x1 - x0) / (y1 - y0))


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


def mean_ci(values, level: float = 0.95, method: str = "t") -> tuple[float, float, float]:
    """Mean and two-sided confidence interval over independent runs (NaNs dropped).

    ``method="t"``: Student-t. ``method="bootstrap"``: percentile bootstrap of the mean
    (:func:`scipy.stats.bootstrap`, 9,999 resamples, seed 0), which stays inside the range of the
    values: the right interval for a bounded quantity measured on few runs.
    """
    x = np.asarray(values, dtype=float)
    x = x[~np.isnan(x)]
    if len(x) == 0:
        return (np.nan, np.nan, np.nan)
    mean = float(x.mean())
    if len(x) < 2:
        return (mean, np.nan, np.nan)
    if np.ptp(x) == 0:
        return (mean, mean, mean)
    if method == "bootstrap":
        ci = stats.bootstrap((x,), np.mean, confidence_level=level, method="percentile", n_resamples=9999,
                             random_state=0).confidence_interval
        return (mean, float(ci.low), float(ci.high))
    if method != "t":
        raise ValueError(f"method must be 't' or 'bootstrap', got {method!r}")
    half = stats.t.ppf(0.5 + level / 2, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    return (mean, mean - half, mean + half)


def aggregate(per_run: pd.DataFrame, by, columns=("aulc",), level: float = 0.95) -> pd.DataFrame:
    """Mean and confidence interval of ``columns`` per group: ``<col>_mean, <col>_ci_low, <col>_ci_high``
    (bootstrap percentiles for :data:`BOUNDED_COLUMNS`, Student-t otherwise) and ``runs``."""
    by = [by] if isinstance(by, str) else list(by)
    rows = []
    for key, grp in per_run.groupby(by, sort=True):
        row = dict(zip(by, key if isinstance(key, tuple) else (key,)))
        for col in columns:
            method = "bootstrap" if col in BOUNDED_COLUMNS else "t"
            row[f"{col}_mean"], row[f"{col}_ci_low"], row[f"{col}_ci_high"] = mean_ci(grp[col], level, method)
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
