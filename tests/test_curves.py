"""Paired differences to a baseline selector: per run (AULC, ratio to 80 %, censored) and along the
learning curve; the tables and the figure built from them."""

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from activeloc.evaluation.curves import (aggregate, mean_ci, paired_against, paired_difference_curve,
                                         paired_differences, summarize_runs, with_fraction_of_full)
from activeloc.experiments import SelectionStudy
from activeloc.reporting.plots import plot_fig3_left

NaN = float("nan")


def three_seeds() -> pd.DataFrame:
    """Random and "x" on seeds 0, 1, 2. Random's seed 1 and x's seed 2 never reach 80 %: their
    last labelled ratios (1.0 and 0.9) are where they are censored."""
    return pd.DataFrame({
        "run_id": [f"r{i}" for i in range(6)], "selector": ["random"] * 3 + ["x"] * 3, "seed": [0, 1, 2] * 2,
        "batch_size": 64, "noise": 0.0,
        "aulc": [0.60, 0.62, 0.55, 0.65, 0.66, 0.62],
        "ratio_to_80pct": [0.6, NaN, 0.7, 0.4, 0.5, NaN],
        "last_labelled_ratio": [1.0, 1.0, 1.0, 1.0, 1.0, 0.9],
    })


def test_paired_differences_hand_case_of_three_seeds():
    paired = paired_differences(three_seeds()).set_index("selector")
    x = paired.loc["x"]
    aulc = [0.05, 0.04, 0.07]  # x - random, seed by seed
    half = stats.t.ppf(0.975, 2) * np.std(aulc, ddof=1) / np.sqrt(3)
    assert x["aulc_diff_vs_random_mean"] == pytest.approx(0.16 / 3)
    assert (x["aulc_diff_vs_random_ci_low"], x["aulc_diff_vs_random_ci_high"]) == pytest.approx(
        (0.16 / 3 - half, 0.16 / 3 + half))
    _, low, high = mean_ci(aulc, method="bootstrap")
    assert (x["aulc_diff_vs_random_boot_ci_low"], x["aulc_diff_vs_random_boot_ci_high"]) == pytest.approx((low, high))
    assert min(aulc) <= low < high <= max(aulc)
    # Censored at the last labelled ratio: random [0.6, 1.0, 0.7], x [0.4, 0.5, 0.9].
    assert x["ratio_to_80pct_diff_vs_random_mean"] == pytest.approx((-0.2 - 0.5 + 0.2) / 3)
    assert x["pairs"] == 3
    # The baseline against itself: exactly 0, interval 0 to 0, by t and by bootstrap.
    assert (paired.loc["random"].filter(like="_diff_vs_random_") == 0).all()


def test_one_selector_against_two_partners():
    runs = pd.concat([three_seeds(), three_seeds().query("selector == 'x'").assign(
        selector="y", run_id=lambda f: f["run_id"] + "y", aulc=[0.61, 0.60, 0.58])], ignore_index=True)
    table = paired_against(runs, [("x", "random"), ("x", "y")], columns=["aulc"])
    assert table[["selector", "partner", "pairs"]].values.tolist() == [["x", "random", 3], ["x", "y", 3]]
    assert table["aulc_diff_vs_partner_mean"].tolist() == pytest.approx([0.16 / 3, (0.04 + 0.06 + 0.04) / 3])
    with pytest.raises(ValueError, match="'z'"):
        paired_against(runs, [("x", "z")])


def test_a_run_that_never_reaches_80pct_is_counted_and_censored_not_dropped():
    table = aggregate(three_seeds(), "selector", ["aulc", "ratio_to_80pct"]).set_index("selector")
    assert table["runs_never_80pct"].to_dict() == {"random": 1, "x": 1}
    assert table.loc["random", "ratio_to_80pct_mean"] == pytest.approx((0.6 + 1.0 + 0.7) / 3)
    assert table.loc["x", "ratio_to_80pct_mean"] == pytest.approx((0.4 + 0.5 + 0.9) / 3)
    assert table.loc["x", "aulc_mean"] == pytest.approx((0.65 + 0.66 + 0.62) / 3)  # AULC untouched
    with pytest.raises(ValueError, match="ratio_to_80pct: .* need column 'last_labelled_ratio'"):
        aggregate(three_seeds().drop(columns="last_labelled_ratio"), "selector", ["ratio_to_80pct"])


@settings(max_examples=20, deadline=None)
@given(st.permutations(range(6)))
def test_pairing_is_by_seed_not_by_row_order(order):
    runs = three_seeds()
    pd.testing.assert_frame_equal(paired_differences(runs.iloc[list(order)]), paired_differences(runs))


def test_a_missing_partner_is_an_error_naming_selector_and_seed():
    runs = three_seeds()
    with pytest.raises(ValueError, match=r"selector 'x' has no run for seed 2 .* to pair with 'random'"):
        paired_differences(runs[runs["run_id"] != "r5"])
    with pytest.raises(ValueError, match=r"selector 'x', seed 1 .*: no 'random' run to pair with"):
        paired_differences(runs[runs["run_id"] != "r1"])
    with pytest.raises(ValueError, match="no runs of the baseline selector 'lal'"):
        paired_differences(runs, baseline="lal")
    with pytest.raises(ValueError, match=r"selector 'x' has two runs for seed 0"):
        paired_differences(pd.concat([runs, runs.iloc[[3]]]))


def test_paired_differences_are_within_each_batch_size():
    runs = pd.concat([three_seeds().assign(batch_size=8),
                      three_seeds().assign(batch_size=64, aulc=lambda d: d["aulc"] + (d["selector"] == "x") * 0.1)])
    paired = paired_differences(runs, "batch_size").set_index(["selector", "batch_size"])
    assert paired.loc[("x", 64), "aulc_diff_vs_random_mean"] == pytest.approx(
        paired.loc[("x", 8), "aulc_diff_vs_random_mean"] + 0.1)
    assert paired["pairs"].tolist() == [3] * 4


def curves_of(selector, seed, ratios, fractions):
    return pd.DataFrame({"run_id": f"{selector}{seed}", "selector": selector, "seed": seed, "batch_size": 64,
                         "noise": 0.0, "labelled_ratio": ratios, "fraction_of_full": fractions})


def hand_curves():
    return pd.concat([curves_of("random", 0, [0.1, 0.5, 1.0], [0.2, 0.6, 1.0]),
                      curves_of("random", 1, [0.1, 0.5, 1.0], [0.3, 0.5, 0.9]),
                      curves_of("x", 0, [0.1, 0.3, 1.0], [0.2, 0.6, 1.0]),  # other steps: interpolated at 0.5
                      curves_of("x", 1, [0.1, 0.5, 1.0], [0.4, 0.7, 0.9])], ignore_index=True)


def test_paired_difference_curve_hand_case():
    curve = paired_difference_curve(hand_curves())
    assert list(curve.columns) == ["selector", "labelled_ratio", "diff_mean", "diff_ci_low", "diff_ci_high", "runs"]
    x = curve[curve["selector"] == "x"].set_index("labelled_ratio")
    at_half = 0.6 + 0.4 * (0.5 - 0.3) / 0.7 - 0.6  # seed 0, interpolated; seed 1: 0.7 - 0.5
    assert x["diff_mean"].to_numpy() == pytest.approx([0.05, (at_half + 0.2) / 2, 0.0])
    half = stats.t.ppf(0.975, 1) * np.std([0.0, 0.1], ddof=1) / np.sqrt(2)
    assert (x.loc[0.1, "diff_ci_low"], x.loc[0.1, "diff_ci_high"]) == pytest.approx((0.05 - half, 0.05 + half))
    assert (x["runs"] == 2).all()
    random = curve[curve["selector"] == "random"]
    assert (random[["diff_mean", "diff_ci_low", "diff_ci_high"]] == 0).all().all()


@settings(max_examples=10, deadline=None)
@given(st.randoms(use_true_random=False))
def test_paired_difference_curve_ignores_row_order(rnd):
    curves = hand_curves()
    shuffled = curves.sample(frac=1, random_state=rnd.randrange(2**32))
    pd.testing.assert_frame_equal(paired_difference_curve(shuffled), paired_difference_curve(curves))


def test_paired_difference_curve_refuses_a_missing_partner():
    curves = hand_curves()
    with pytest.raises(ValueError, match=r"selector 'x' has no run for seed 1"):
        paired_difference_curve(curves[curves["run_id"] != "x1"])


def hand_history():
    """Random and "x" on three seeds, the same steps; x is 0.05 of full mAP better after the start."""
    ratios = [0.1, 0.4, 0.7, 1.0]
    frames = [pd.DataFrame({"run_id": f"{s}{seed}", "selector": s, "seed": seed, "batch_size": 64, "noise": 0.0,
                            "step": range(4), "labelled_ratio": ratios, "seconds_ratio": ratios,
                            "average_mAP": 0.4 * (np.array([0.3, 0.6, 0.8, 0.95]) + 0.02 * seed
                                                  + 0.05 * (s == "x") * (np.arange(4) > 0)),
                            "convergence_warnings": 0})
              for s in ("random", "x") for seed in range(3)]
    return pd.concat(frames, ignore_index=True)


def test_selection_table_has_the_split_sizes_counts_and_paired_columns():
    history = hand_history()
    study = SelectionStudy(with_fraction_of_full(history, 0.4), summarize_runs(history, 0.4), 0.4, pd.DataFrame(),
                           pd.DataFrame(), [], selection_videos=120, testing_videos=60)
    paired = [f"{col}_diff_vs_random_{part}" for col in ("aulc", "ratio_to_80pct")
              for part in ("mean", "ci_low", "ci_high", "boot_ci_low", "boot_ci_high")]
    table = study.table()
    assert list(table.columns) == [
        "selector", "selection_videos", "testing_videos", "runs", "runs_never_80pct",
        *[f"{col}_{part}" for col in ("aulc", "ratio_to_80pct") for part in ("mean", "ci_low", "ci_high")], *paired]
    assert table[["selection_videos", "testing_videos", "runs", "runs_never_80pct"]].to_numpy().tolist() == [
        [120, 60, 3, 0]] * 2
    x = table.set_index("selector").loc["x"]
    gain = 0.3 * 0.05 / 2 + 0.6 * 0.05  # from 0 at 0.1 to 0.05 at 0.4, then 0.05 up to 1.0
    assert x["aulc_diff_vs_random_mean"] == pytest.approx(gain)
    assert x["aulc_diff_vs_random_ci_low"] == x["aulc_diff_vs_random_ci_high"] == pytest.approx(gain)  # no spread
    by_batch = study.table(["batch_size"], ["aulc"])
    assert list(by_batch.columns[:6]) == ["selector", "batch_size", "selection_videos", "testing_videos", "runs",
                                          "runs_never_80pct"]
    assert "3 seeds per selector" in study.pairing()


def test_fig3_left_plot_has_the_paired_difference_panel():
    history = hand_history()
    curves = with_fraction_of_full(history, 0.4)
    fig = plot_fig3_left(curves, summarize_runs(history, 0.4), paired=paired_difference_curve(curves))
    top, below = fig.axes
    assert top.get_shared_x_axes().joined(top, below)
    assert [line.get_label() for line in below.get_lines()][-2:] == ["random", "x"]
    assert below.get_lines()[-1].get_ydata()[1:] == pytest.approx([5.0] * 3)  # percentage points
    assert len(plot_fig3_left(curves, summarize_runs(history, 0.4)).axes) == 1  # without it, as before
