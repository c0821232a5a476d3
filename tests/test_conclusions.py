"""Which of the paper's conclusions hold in every world: claims paired by seed per world, verdicts across worlds."""

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from activeloc.reporting.conclusions import PAPER_RANKING, claims_per_world, conclusions

SEEDS = [0, 1, 2]


def runs(aulc: dict) -> pd.DataFrame:
    """worlds_runs.csv's shape: ``aulc[(knob, level)][selector]`` = AULC per seed; the default world under
    every knob, with the same run ids, as 06 writes it."""
    rows = []
    for (knob, level), by_selector in aulc.items():
        world = "default" if level == "default" else f"{knob}-{level}"
        for selector, values in by_selector.items():
            for seed, value in zip(SEEDS, values):
                rows.append({"run_id": f"{world}/{selector}/{seed}", "selector": selector, "seed": seed,
                             "batch_size": 64, "noise": 0.0, "aulc": value, "knob": knob, "level": level,
                             "world": world})
    return pd.DataFrame(rows)


def t_interval(diffs):
    d = np.asarray(diffs, float)
    half = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))
    return d.mean(), d.mean() - half, d.mean() + half


DEFAULT = {"random": [0.70, 0.71, 0.72], "uncertainty": [0.72, 0.735, 0.75], "mcle": [0.80, 0.79, 0.82]}
PER_RUN = runs({
    ("confusion", "default"): DEFAULT,
    ("confusion", "high"): {"random": [0.70, 0.70, 0.70], "uncertainty": [0.60, 0.61, 0.62],
                            "mcle": [0.75, 0.74, 0.78]},
    ("submodes", "default"): DEFAULT,  # the same world again, under another knob: counted once
    ("submodes", "high"): {"random": [0.70, 0.72, 0.71], "uncertainty": [0.75, 0.69, 0.72],
                           "mcle": [0.71, 0.73, 0.74]},
})


def test_each_claim_is_the_paired_difference_per_world_with_its_t_interval():
    claims = claims_per_world(PER_RUN)
    # The paper's order, every pair of the selectors that ran (LAL did not).
    assert list(dict.fromkeys(claims["claim"])) == ["mcle > uncertainty", "mcle > random", "uncertainty > random"]
    assert claims.groupby("claim", sort=False)["world"].apply(list).tolist() == [
        ["default", "confusion-high", "submodes-high"]] * 3
    assert (claims["pairs"] == 3).all()
    by_world = {w: PER_RUN[PER_RUN["world"] == w].drop_duplicates("run_id")
                for w in ("default", "confusion-high", "submodes-high")}
    for row in claims.itertuples():
        runs_here = by_world[row.world].set_index(["selector", "seed"])["aulc"]
        diffs = [runs_here[row.better, s] - runs_here[row.worse, s] for s in SEEDS]
        assert (row.diff_mean, row.diff_ci_low, row.diff_ci_high) == pytest.approx(t_interval(diffs))


def test_verdicts_read_the_intervals_of_every_world():
    verdicts = conclusions(claims_per_world(PER_RUN)).set_index("claim")
    # MCLE over Random: +0.093, +0.057 and +0.017 on average, each interval above 0 but the last
    # (diffs 0.01, 0.01, 0.03).
    mcle = verdicts.loc["mcle > random"]
    assert (mcle["worlds"], mcle["holds"], mcle["reversed"], mcle["undecided"], mcle["mean_positive"]) == (3, 2, 0, 1, 3)
    assert mcle["verdict"] == "never reversed; holds in 2 of 3"
    assert mcle["not_holding_in"] == "submodes-high"
    # Uncertainty over Random: above in the default world, below in confusion-high, undecided in submodes-high.
    unc = verdicts.loc["uncertainty > random"]
    assert (unc["holds"], unc["reversed"], unc["undecided"]) == (1, 1, 1)
    assert unc["verdict"] == "depends on the world: holds in 1, reversed in 1 of 3"
    assert unc["diff_min"] == pytest.approx(-0.09) and unc["diff_max"] == pytest.approx(0.025)
    # MCLE over Uncertainty: +0.068, +0.147, +0.007 on average; the last interval covers 0.
    assert verdicts.loc["mcle > uncertainty", "verdict"] == "never reversed; holds in 2 of 3"


@pytest.mark.parametrize("shift, verdict", [(0.05, "holds in every world"), (-0.05, "reversed in every world")])
def test_a_claim_that_holds_or_fails_everywhere(shift, verdict):
    base = [0.70, 0.72, 0.71]
    per_run = runs({("confusion", level): {"random": base, "mcle": [b + shift + 0.001 * s for s, b in enumerate(base)]}
                    for level in ("low", "default", "high")})
    row = conclusions(claims_per_world(per_run)).iloc[0]
    assert row["claim"] == "mcle > random" and row["worlds"] == 3 and row["verdict"] == verdict
    assert row["not_holding_in"] == ("none" if shift > 0 else "confusion-low, default, confusion-high")


def test_a_claim_reversed_in_one_world_and_undecided_in_the_other_never_holds():
    base = [0.70, 0.72, 0.71]
    # The same difference on every seed: an interval of width 0, below 0.
    per_run = runs({("confusion", "low"): {"random": base, "lal": [b - 0.05 for b in base]},
                    ("confusion", "high"): {"random": base, "lal": [b - d for b, d in zip(base, [0.05, -0.01, 0.02])]}})
    row = conclusions(claims_per_world(per_run)).iloc[0]
    assert (row["holds"], row["reversed"], row["undecided"], row["mean_positive"]) == (0, 1, 1, 0)
    assert row["verdict"] == "never holds; reversed in 1 of 2"


def test_the_paper_ranking_orders_every_pair_and_a_missing_partner_is_an_error():
    assert PAPER_RANKING == ("lal", "mcle", "uncertainty", "random")
    everyone = runs({("confusion", "high"): {s: [0.7, 0.71, 0.72] for s in PAPER_RANKING}})
    claims = claims_per_world(everyone)
    assert list(claims["claim"]) == [f"{a} > {b}" for a, b in itertools.combinations(PAPER_RANKING, 2)]
    # Identical runs: a difference of exactly 0, in no direction.
    verdicts = conclusions(claims)
    assert verdicts["undecided"].eq(1).all() and verdicts["mean_positive"].eq(0).all()
    assert verdicts["verdict"].eq("undecided in every world").all()
    with pytest.raises(ValueError, match="seed 2"):
        claims_per_world(everyone[~((everyone["selector"] == "mcle") & (everyone["seed"] == 2))])


def test_one_seed_gives_no_interval_and_one_selector_no_claim():
    per_run = runs({("confusion", level): {"random": [0.70], "mcle": [0.75]} for level in ("low", "high")})
    row = conclusions(claims_per_world(per_run)).iloc[0]
    assert (row["no_interval"], row["undecided"], row["mean_positive"]) == (2, 0, 2)
    assert row["verdict"] == "no interval (one seed per world)"
    alone = runs({("confusion", "low"): {"random": [0.70, 0.71, 0.72]}})
    assert claims_per_world(alone).empty and conclusions(claims_per_world(alone)).columns[0] == "claim"
