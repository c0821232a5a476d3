"""SUMMARY.md: key figures from the tables, each saying which notebook run wrote it."""

import pandas as pd

from activeloc.reporting.summary import write_summary
from activeloc.reporting.tables import readable_timings, save_table, with_intervals


def figure3(root, testbed_folder=""):
    table = pd.DataFrame({"selector": ["random", "mcle"], "aulc_mean": [0.61, 0.64], "aulc_ci_low": [0.58, 0.63],
                          "aulc_ci_high": [0.65, 0.66], "runs": [3, 3], "aulc_diff_vs_random_mean": [0.0, 0.03],
                          "aulc_diff_vs_random_ci_low": [0.0, 0.01], "aulc_diff_vs_random_ci_high": [0.0, 0.05],
                          "aulc_diff_vs_random_boot_ci_low": [0.0, 0.02], "aulc_diff_vs_random_boot_ci_high": [0.0, 0.04]})
    save_table(table, root / "reports" / "tables" / testbed_folder / "selection_ablation.csv")


def test_tables_say_which_run_wrote_them(tmp_path):
    figure3(tmp_path)
    figure3(tmp_path, "activitynet")
    cost = pd.DataFrame({"selector": ["random"], "aulc_seconds_mean": [0.7], "aulc_seconds_ci_low": [0.6],
                         "aulc_seconds_ci_high": [0.8], "seconds_to_80pct_mean": [0.5],
                         "seconds_to_80pct_ci_low": [0.4], "seconds_to_80pct_ci_high": [0.6], "runs": [3]})
    save_table(cost, tmp_path / "reports" / "tables" / "annotation_cost.csv")
    write_summary(tmp_path, "quick", [{"notebook": "03-selection-ablation.ipynb", "seconds": 200.0},
                                      {"notebook": "03-selection-ablation@activitynet.ipynb", "seconds": 0.0,
                                       "skipped": "the real annotations are absent"}])
    summary = (tmp_path / "reports" / "SUMMARY.md").read_text()
    assert "0.640 [0.630, 0.660]" in summary  # intervals folded into one column
    assert "| aulc_diff_vs_random " in summary and "0.030 [0.010, 0.050]" in summary  # the paired difference
    assert "boot_ci" not in summary  # its bootstrap interval stays in the CSV
    assert "| random     | 0.700 [0.600, 0.800] | 0.500 [0.400, 0.600] |" in summary  # the chosen columns
    assert "*simulated* (03-selection-ablation, profile `quick`," in summary
    assert "*activitynet* (03-selection-ablation@activitynet, not written by `activeloc reproduce`)" in summary
    # A later tiny run of another notebook: 03's table is no longer this run's.
    write_summary(tmp_path, "tiny", [{"notebook": "01-dataset.ipynb", "seconds": 9.0}])
    summary = (tmp_path / "reports" / "SUMMARY.md").read_text()
    assert "profile `quick`" in summary and "**not from this run**" in summary and "--profile tiny" in summary
    runs = pd.read_csv(tmp_path / "reports" / "tables" / "notebook_runs.csv", keep_default_na=False)
    assert set(zip(runs["notebook"], runs["profile"])) == {("01-dataset", "tiny"), ("03-selection-ablation", "quick"),
                                                           ("03-selection-ablation@activitynet", "quick")}


def test_with_intervals_keeps_other_columns_and_marks_missing_values():
    table = pd.DataFrame({"selector": ["a", "b"], "x_mean": [0.5, float("nan")], "x_ci_low": [0.4, float("nan")],
                          "x_ci_high": [0.6, float("nan")]})
    assert with_intervals(table).to_dict("list") == {"selector": ["a", "b"], "x": ["0.500 [0.400, 0.600]", "n/a"]}


def test_readable_timings_gives_wall_clock_columns_their_unit_only():
    table = pd.DataFrame({"stages": ["a", "b"], "fit_seconds": [1.234, float("nan")], "aulc_seconds": [0.5, 0.25],
                          "seconds": [12.0, 0.004]})
    shown = readable_timings(table)
    assert shown["fit_seconds"].tolist() == ["1.23 s", "n/a"] and shown["seconds"].tolist() == ["12.00 s", "0.00 s"]
    pd.testing.assert_series_equal(shown["aulc_seconds"], table["aulc_seconds"])  # annotation seconds: a result
    assert table["fit_seconds"].iloc[0] == 1.234  # the input is left as it was
