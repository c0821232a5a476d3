"""Learning curves and their summaries: AULC, the labelled ratio to reach a fraction of full mAP,
per-run summaries, means with confidence intervals over runs, and differences to a baseline selector
paired by seed."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

# Ratios of Selection needed to reach a target: bounded to [0, 1], so their intervals are bootstrap
# percentiles of the mean (inside the range of the runs) rather than Student-t (which can pass 1).
BOUNDED_COLUMNS = ("ratio_to_80pct", "seconds_to_80pct")
# A run that never reaches 80 % has no ratio to reach it: it is censored at the last ratio it was
# measured at (a lower bound of the ratio it needs), so that it weighs in every mean instead of dropping out.
CENSORED_AT = {"ratio_to_80pct": "last_labelled_ratio", "seconds_to_80pct": "last_seconds_ratio"}
# What makes two runs of different selectors start alike: the loop draws the initial 10 % from the seed
# alone, and batch size and noise are the rest of the protocol.
PAIR_KEYS = ("seed", "batch_size", "noise")
PAIRED_COLUMNS = ("aulc", "ratio_to_80pct", "aulc_seconds", "seconds_to_80pct")


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
    measured in annotation cost: ``aulc_seconds`` and ``seconds_to_80pct``. ``last_labelled_ratio``
    and ``last_seconds_ratio``, where the run ended, are what a run that never reaches the target is
    censored at (:func:`censor_unreached`)."""
    h = with_fraction_of_full(history, full_map)
    keys = ["run_id", "selector", "seed", "batch_size", "noise"]
    rows = []
    for key, run in h.sort_values("step").groupby(keys, sort=False):
        rows.append({**dict(zip(keys, key)),
                     "aulc": aulc(run["labelled_ratio"], run["fraction_of_full"]),
                     "ratio_to_80pct": ratio_to_reach(run["labelled_ratio"], run["fraction_of_full"], target),
                     "aulc_seconds": aulc(run["seconds_ratio"], run["fraction_of_full"]),
                     "seconds_to_80pct": ratio_to_reach(run["seconds_ratio"], run["fraction_of_full"], target),
                     "last_labelled_ratio": run["labelled_ratio"].max(), "last_seconds_ratio": run["seconds_ratio"].max(),
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


def censor_unreached(per_run: pd.DataFrame) -> pd.DataFrame:
    """``per_run`` with the ratio (and fraction of seconds) to reach 80 % of a run that never reaches
    it set to the last ratio the run was measured at (:data:`CENSORED_AT`): a lower bound of what it
    would need, so that such runs count in means and differences, against their selector."""
    out = per_run.copy()
    for col, last in CENSORED_AT.items():
        if col in out and out[col].isna().any():
            if last not in out:
                raise ValueError(f"{col}: runs that never reach 80 % need column {last!r} to be censored at")
            out[col] = out[col].fillna(out[last])
    return out


def aggregate(per_run: pd.DataFrame, by, columns=("aulc",), level: float = 0.95) -> pd.DataFrame:
    """Mean and confidence interval of ``columns`` per group: ``<col>_mean, <col>_ci_low, <col>_ci_high``
    (bootstrap percentiles for :data:`BOUNDED_COLUMNS`, Student-t otherwise) and ``runs``; where
    ``per_run`` has ``ratio_to_80pct``, ``runs_never_80pct`` counts the runs that never reach 80 %,
    which are censored at their last labelled ratio (:func:`censor_unreached`), never left out."""
    by = [by] if isinstance(by, str) else list(by)
    per_run = per_run.reset_index(drop=True)
    rows = []
    for key, grp in censor_unreached(per_run).groupby(by, sort=True):
        row = dict(zip(by, key if isinstance(key, tuple) else (key,)))
        for col in columns:
            method = "bootstrap" if col in BOUNDED_COLUMNS else "t"
            row[f"{col}_mean"], row[f"{col}_ci_low"], row[f"{col}_ci_high"] = mean_ci(grp[col], level, method)
        row["runs"] = len(grp)
        if "ratio_to_80pct" in per_run:
            row["runs_never_80pct"] = int(per_run.loc[grp.index, "ratio_to_80pct"].isna().sum())
        rows.append(row)
    return pd.DataFrame(rows)


def _describe(keys, values) -> str:
    """``seed 3 (batch size 8, noise 0.1)`` for the pair keys' values of a run."""
    named = [f"{k.replace('_', ' ')} {v}" for k, v in zip(keys, values)]
    return named[0] + (f" ({', '.join(named[1:])})" if len(named) > 1 else "")


def _check_partners(runs: pd.DataFrame, baseline: str, keys=PAIR_KEYS) -> None:
    """Each selector's runs (one row per run) and the baseline's must match one to one on ``keys``."""
    keys = list(keys)
    twice = runs.duplicated(["selector", *keys])
    if twice.any():
        run = runs[twice].iloc[0]
        raise ValueError(f"selector {run['selector']!r} has two runs for {_describe(keys, run[keys])}: cannot pair them")
    base = pd.MultiIndex.from_frame(runs.loc[runs["selector"] == baseline, keys])
    if base.empty:
        raise ValueError(f"no runs of the baseline selector {baseline!r} to pair with")
    for selector, grp in runs.groupby("selector", sort=True):
        own = pd.MultiIndex.from_frame(grp[keys])
        if len(alone := own.difference(base)):
            raise ValueError(f"selector {selector!r}, {_describe(keys, alone[0])}: no {baseline!r} run to pair with")
        if len(missing := base.difference(own)):
            raise ValueError(f"selector {selector!r} has no run for {_describe(keys, missing[0])} to pair with "
                             f"{baseline!r}'s")


def _interval(diffs, is_baseline: bool, level: float, method: str) -> tuple[float, float, float]:
    # The baseline against itself is 0 by definition, with one seed as with many.
    return (0.0, 0.0, 0.0) if is_baseline else mean_ci(diffs, level, method)


def paired_differences(per_run: pd.DataFrame, by=(), *, baseline: str = "random", columns=None,
                       level: float = 0.95, keys=PAIR_KEYS) -> pd.DataFrame:
    """Differences ``selector - baseline`` between runs paired on ``keys`` (by default
    :data:`PAIR_KEYS`: the same seed, hence the same initial labelled set, batch size and noise),
    summarised per selector and ``by``.

    ``columns``: the per-run measures to difference (default: those of :data:`PAIRED_COLUMNS` in
    ``per_run``). A run that never reaches 80 % is censored at its last labelled ratio
    (:func:`censor_unreached`) before differencing; AULC needs no such care. Per group and column:
    ``<col>_diff_vs_<baseline>_mean``, ``_ci_low``/``_ci_high`` (paired Student-t) and
    ``_boot_ci_low``/``_boot_ci_high`` (percentile bootstrap of the mean difference), and ``pairs``.
    The baseline's own row is 0 with interval 0 to 0. A run without its partner is an error.
    """
    by = [by] if isinstance(by, str) else list(by)
    columns = [c for c in PAIRED_COLUMNS if c in per_run] if columns is None else list(columns)
    keys = list(keys)
    _check_partners(per_run, baseline, keys)
    runs = censor_unreached(per_run)
    base = runs.loc[runs["selector"] == baseline, [*keys, *columns]]
    partners = runs[keys].merge(base, on=keys, how="left")[columns].to_numpy()  # a left merge keeps the rows' order
    diffs = runs.assign(**dict(zip(columns, (runs[columns].to_numpy() - partners).T)))
    rows = []
    for key, grp in diffs.groupby(["selector", *by], sort=True):
        row = dict(zip(["selector", *by], key))
        is_baseline = key[0] == baseline
        for col in columns:
            name = f"{col}_diff_vs_{baseline}"
            row[f"{name}_mean"], row[f"{name}_ci_low"], row[f"{name}_ci_high"] = _interval(
                grp[col], is_baseline, level, "t")
            _, row[f"{name}_boot_ci_low"], row[f"{name}_boot_ci_high"] = _interval(
                grp[col], is_baseline, level, "bootstrap")
        row["pairs"] = len(grp)
        rows.append(row)
    return pd.DataFrame(rows)


def paired_against(per_run: pd.DataFrame, pairs, by=(), columns=("aulc", "ratio_to_80pct"), level: float = 0.95,
                   keys=PAIR_KEYS) -> pd.DataFrame:
    """Each ``(selector, partner)`` of ``pairs`` as the difference selector - partner between runs
    paired on ``keys`` within each ``by`` group (:func:`paired_differences`): one row per pair and
    group, with ``selector``, ``partner``, ``by``, ``pairs`` and ``<col>_diff_vs_partner_*``."""
    by = [by] if isinstance(by, str) else list(by)
    rows = []
    for selector, partner in pairs:
        runs = per_run[per_run["selector"].isin([selector, partner])]
        diff = paired_differences(runs, by, baseline=partner, columns=list(columns), level=level, keys=keys)
        diff = diff[diff["selector"] == selector].rename(
            columns=lambda c: c.replace(f"_diff_vs_{partner}_", "_diff_vs_partner_"))
        rows.append(diff.assign(partner=partner))
    table = pd.concat(rows, ignore_index=True)
    first = ["selector", "partner", *by, "pairs"]
    return table[first + [c for c in table if c not in first]]


def paired_difference_curve(curves: pd.DataFrame, *, baseline: str = "random", level: float = 0.95) -> pd.DataFrame:
    """Each selector's ``fraction_of_full`` minus the baseline's of the same seed (paired on
    :data:`PAIR_KEYS`) at the baseline's labelled ratios (linearly interpolated where a run's steps
    fall elsewhere, and only inside the ratios it covers), then per ratio the mean and Student-t
    interval over seeds. Tidy: ``selector, labelled_ratio, diff_mean, diff_ci_low, diff_ci_high,
    runs``; the baseline's rows are 0 with interval 0 to 0. A run without its partner is an error."""
    keys = list(PAIR_KEYS)
    _check_partners(curves.drop_duplicates("run_id"), baseline)
    ordered = curves.sort_values("labelled_ratio")
    base = {key: run for key, run in ordered[ordered["selector"] == baseline].groupby(keys)}
    frames = []
    for (selector, *key), run in ordered.groupby(["selector", *keys]):
        at = base[tuple(key)]["labelled_ratio"].to_numpy()
        inside = (at >= run["labelled_ratio"].min()) & (at <= run["labelled_ratio"].max())
        diff = (np.interp(at[inside], run["labelled_ratio"], run["fraction_of_full"])
                - base[tuple(key)]["fraction_of_full"].to_numpy()[inside])
        frames.append(pd.DataFrame({"selector": selector, "labelled_ratio": at[inside], "diff": diff}))
    rows = [{"selector": selector, "labelled_ratio": ratio,
             **dict(zip(("diff_mean", "diff_ci_low", "diff_ci_high"),
                        _interval(grp["diff"], selector == baseline, level, "t"))), "runs": len(grp)}
            for (selector, ratio), grp in pd.concat(frames).groupby(["selector", "labelled_ratio"], sort=True)]
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
