"""Which of the paper's conclusions hold in every simulated world (notebook 06), and which depend on it.

The paper ranks its selectors LAL, MCLE, Uncertainty, Random (section 4.2, Figure 3 left: 35 %, 38 %,
42 % and 65 % of Selection labelled to reach 80 % of full mAP). Each ordered pair of that ranking is a
claim, "a beats b": a's AULC above b's. In each world a claim gets the paired difference a - b (runs
on the same seed, hence the same initial labelled set) with its Student-t interval over seeds; across
the worlds, a verdict read from those intervals alone (a difference the same on every seed has an
interval of width 0: :func:`~activeloc.evaluation.curves.mean_ci`).
"""

from __future__ import annotations

import pandas as pd

from ..evaluation.curves import PAIR_KEYS, paired_against

PAPER_RANKING = ("lal", "mcle", "uncertainty", "random")
CLAIM_COLUMNS = ["claim", "better", "worse", "world", "diff_mean", "diff_ci_low", "diff_ci_high", "pairs"]
CONCLUSION_COLUMNS = ["claim", "better", "worse", "worlds", "holds", "reversed", "undecided", "no_interval",
                      "mean_positive", "diff_min", "diff_max", "verdict", "not_holding_in"]


def claims_per_world(per_run: pd.DataFrame, ranking=PAPER_RANKING, level: float = 0.95) -> pd.DataFrame:
    """Per claim ``"<better> > <worse>"`` (every ordered pair of ``ranking`` whose selectors both ran)
    and world: the mean AULC difference better - worse over seeds with its paired Student-t interval.

    ``per_run``: one row per run with ``world``, ``run_id``, ``selector``, ``aulc`` and the pair keys
    (06's ``worlds_runs.csv``; the default world, listed once under every knob, counts once)."""
    runs = per_run.drop_duplicates(["world", "run_id"])
    present = [s for s in ranking if s in set(runs["selector"])]
    pairs = [(better, worse) for i, better in enumerate(present) for worse in present[i + 1:]]
    if not pairs:
        return pd.DataFrame(columns=CLAIM_COLUMNS)
    claims = paired_against(runs, pairs, by="world", columns=["aulc"], level=level, keys=(*PAIR_KEYS, "world"))
    claims = claims.rename(columns={"selector": "better", "partner": "worse", "aulc_diff_vs_partner_mean": "diff_mean",
                                    "aulc_diff_vs_partner_ci_low": "diff_ci_low",
                                    "aulc_diff_vs_partner_ci_high": "diff_ci_high"})
    claims["claim"] = claims["better"] + " > " + claims["worse"]
    # The ranking's order of claims; within each, the runs' order of worlds (paired_against sorts by name).
    order = {"claim": [f"{better} > {worse}" for better, worse in pairs], "world": list(dict.fromkeys(runs["world"]))}
    claims = claims.sort_values(["claim", "world"], key=lambda column: column.map(order[column.name].index))
    return claims[CLAIM_COLUMNS].reset_index(drop=True)


def _verdict(n: int, above: int, below: int, without: int) -> str:
    if without == n:
        return "no interval (one seed per world)"
    if above == n:
        return "holds in every world"
    if below == n:
        return "reversed in every world"
    if above and below:
        return f"depends on the world: holds in {above}, reversed in {below} of {n}"
    if above:
        return f"never reversed; holds in {above} of {n}"
    if below:
        return f"never holds; reversed in {below} of {n}"
    return "undecided in every world"


def conclusions(claims: pd.DataFrame) -> pd.DataFrame:
    """One row per claim of :func:`claims_per_world`, read from its intervals alone: in how many worlds
    the interval lies above 0 (``holds``), below 0 (``reversed``) or covers 0 (``undecided``); worlds
    with one seed have none (``no_interval``). Beside them, in how many worlds the mean difference is
    positive, its smallest and largest mean, the worlds where the claim does not hold, and a verdict:
    "holds in every world", "reversed in every world", "depends on the world" (holds in some, reversed
    in others), "never reversed", "never holds", or "undecided in every world"."""
    rows = []
    for claim, grp in claims.groupby("claim", sort=False):
        n, above, below = len(grp), int((grp["diff_ci_low"] > 0).sum()), int((grp["diff_ci_high"] < 0).sum())
        without = int(grp["diff_ci_low"].isna().sum())
        rows.append({"claim": claim, "better": grp["better"].iloc[0], "worse": grp["worse"].iloc[0], "worlds": n,
                     "holds": above, "reversed": below, "undecided": n - above - below - without,
                     "no_interval": without, "mean_positive": int((grp["diff_mean"] > 0).sum()),
                     "diff_min": grp["diff_mean"].min(), "diff_max": grp["diff_mean"].max(),
                     "verdict": _verdict(n, above, below, without),
                     "not_holding_in": ", ".join(grp.loc[~(grp["diff_ci_low"] > 0), "world"]) or "none"})
    return pd.DataFrame(rows, columns=CONCLUSION_COLUMNS)
